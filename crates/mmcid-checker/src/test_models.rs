//! Toy models for the checker's own tests, with pinned state counts.
//!
//! Each count is also checked against [`naive_unique`], a deliberately simple sequential search
//! with a `HashSet` of whole states, so a pinned number is not just whatever the engine said.

use std::collections::{HashSet, VecDeque};

use crate::model::{ActionMeta, AgentId, Coverage, Model, Property};

/// What [`naive`] counts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NaiveCounts {
    pub(crate) unique: u64,
    pub(crate) transitions: u64,
    pub(crate) depth: usize,
}

/// Unique states, transitions and depth by a plain sequential breadth-first search over whole
/// states (no fingerprints, no threads).
pub(crate) fn naive<M: Model>(model: &M, symmetry: bool) -> NaiveCounts {
    let canon = |s: &M::State| {
        if symmetry {
            model.representative(s)
        } else {
            s.clone()
        }
    };
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        if seen.insert(canon(&s)) {
            queue.push_back((s, 0));
        }
    }
    let (mut transitions, mut depth) = (0, 0);
    let mut actions = Vec::new();
    while let Some((s, d)) = queue.pop_front() {
        depth = d;
        actions.clear();
        model.actions(&s, &mut actions);
        for a in &actions {
            if let Some(next) = model.next_state(&s, a, &mut Coverage::new()) {
                transitions += 1;
                if seen.insert(canon(&next)) {
                    queue.push_back((next, d + 1));
                }
            }
        }
    }
    NaiveCounts {
        unique: seen.len() as u64,
        transitions,
        depth,
    }
}

/// Unique states by [`naive`].
pub(crate) fn naive_unique<M: Model>(model: &M, symmetry: bool) -> u64 {
    naive(model, symmetry).unique
}

/// A model that sleeps in every `next_state`, to make runs slow enough for progress reports.
pub(crate) struct Slow<M>(pub(crate) M, pub(crate) std::time::Duration);

impl<M: Model> Model for Slow<M> {
    type State = M::State;
    type Action = M::Action;

    fn init_states(&self) -> Vec<M::State> {
        self.0.init_states()
    }

    fn actions(&self, s: &M::State, actions: &mut Vec<M::Action>) {
        self.0.actions(s, actions);
    }

    fn next_state(&self, s: &M::State, a: &M::Action, cov: &mut Coverage) -> Option<M::State> {
        std::thread::sleep(self.1);
        self.0.next_state(s, a, cov)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        Vec::new()
    }
}

/// Threads that each increment a shared counter by a read and a separate write.
pub(crate) struct RacyCounter {
    pub(crate) threads: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RacyPc {
    Read,
    Write,
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RacyState {
    pub(crate) counter: u8,
    /// Per thread: where it is and what it read.
    pub(crate) threads: Vec<(RacyPc, u8)>,
}

impl Model for RacyCounter {
    type State = RacyState;
    type Action = usize;

    fn init_states(&self) -> Vec<RacyState> {
        vec![RacyState {
            counter: 0,
            threads: vec![(RacyPc::Read, 0); self.threads],
        }]
    }

    fn actions(&self, state: &RacyState, actions: &mut Vec<usize>) {
        actions.extend((0..self.threads).filter(|&t| state.threads[t].0 != RacyPc::Done));
    }

    fn next_state(&self, state: &RacyState, &t: &usize, cov: &mut Coverage) -> Option<RacyState> {
        let mut next = state.clone();
        match state.threads[t].0 {
            RacyPc::Read => {
                cov.hit(0);
                next.threads[t] = (RacyPc::Write, state.counter);
            }
            RacyPc::Write => {
                cov.hit(1);
                next.counter = state.threads[t].1 + 1;
                next.threads[t] = (RacyPc::Done, 0);
            }
            RacyPc::Done => return None,
        }
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("final-count", |m, s: &RacyState| {
                s.threads.iter().any(|t| t.0 != RacyPc::Done) || s.counter as usize == m.threads
            }),
            Property::sometimes("all-done", |_, s: &RacyState| {
                s.threads.iter().all(|t| t.0 == RacyPc::Done)
            }),
        ]
    }

    fn is_done(&self, state: &RacyState) -> bool {
        state.threads.iter().all(|t| t.0 == RacyPc::Done)
    }

    fn labels(&self) -> Vec<String> {
        ["read", "write", "overflow"].map(String::from).to_vec()
    }

    fn format_action(&self, state: &RacyState, &t: &usize) -> String {
        let what = if state.threads[t].0 == RacyPc::Read {
            "read"
        } else {
            "write"
        };
        format!("T{t} {what}")
    }

    fn format_step(&self, last: &RacyState, &t: &usize, next: &RacyState) -> Option<String> {
        Some(if last.counter != next.counter {
            format!("counter: {} → {}", last.counter, next.counter)
        } else {
            format!("T{t}.local = {}", next.threads[t].1)
        })
    }
}

/// [`RacyCounter`] with packed states (one word for the counter, one per thread), and the
/// choice of [`Model::rebuild_frontier`]: the same state graph, for testing that both ways of
/// building a packed frontier give the unpacked search's results.
pub(crate) struct PackedRacy {
    pub(crate) inner: RacyCounter,
    pub(crate) rebuild: bool,
}

impl Model for PackedRacy {
    type State = RacyState;
    type Action = usize;

    fn init_states(&self) -> Vec<RacyState> {
        self.inner.init_states()
    }

    fn actions(&self, state: &RacyState, actions: &mut Vec<usize>) {
        self.inner.actions(state, actions);
    }

    fn next_state(&self, state: &RacyState, t: &usize, cov: &mut Coverage) -> Option<RacyState> {
        self.inner.next_state(state, t, cov)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        // RacyCounter's properties, for this model's type.
        vec![
            Property::always("final-count", |m: &Self, s: &RacyState| {
                s.threads.iter().any(|t| t.0 != RacyPc::Done)
                    || s.counter as usize == m.inner.threads
            }),
            Property::sometimes("all-done", |_, s: &RacyState| {
                s.threads.iter().all(|t| t.0 == RacyPc::Done)
            }),
        ]
    }

    fn is_done(&self, state: &RacyState) -> bool {
        self.inner.is_done(state)
    }

    fn labels(&self) -> Vec<String> {
        self.inner.labels()
    }

    fn packed_words(&self) -> usize {
        1 + self.inner.threads
    }

    fn pack(&self, state: &RacyState, words: &mut [u64]) {
        words[0] = u64::from(state.counter);
        for (w, &(pc, local)) in words[1..].iter_mut().zip(&state.threads) {
            *w = (pc as u64) << 8 | u64::from(local);
        }
    }

    fn unpack(&self, words: &[u64]) -> RacyState {
        let pc = |w: u64| match w >> 8 {
            0 => RacyPc::Read,
            1 => RacyPc::Write,
            _ => RacyPc::Done,
        };
        RacyState {
            counter: words[0] as u8,
            threads: words[1..].iter().map(|&w| (pc(w), w as u8)).collect(),
        }
    }

    fn rebuild_frontier(&self) -> bool {
        self.rebuild
    }
}

/// Two threads take two locks in opposite order, then release both.
pub(crate) struct LockOrder;

/// Per thread: how many steps it took (0 = wants its first lock, 1 = wants its second, 2 =
/// holds both, 3 = done); and which thread holds each lock.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LockState {
    pub(crate) pc: [u8; 2],
    pub(crate) owner: [Option<u8>; 2],
}

impl LockOrder {
    /// The lock thread `t` takes at step `pc` (thread 0: A then B; thread 1: B then A).
    fn lock(t: usize, pc: u8) -> usize {
        (t + pc as usize) % 2
    }
}

impl Model for LockOrder {
    type State = LockState;
    type Action = usize;

    fn init_states(&self) -> Vec<LockState> {
        vec![LockState {
            pc: [0, 0],
            owner: [None, None],
        }]
    }

    fn actions(&self, s: &LockState, actions: &mut Vec<usize>) {
        for t in 0..2 {
            let enabled = match s.pc[t] {
                0 | 1 => s.owner[Self::lock(t, s.pc[t])].is_none(),
                2 => true,
                _ => false,
            };
            if enabled {
                actions.push(t);
            }
        }
    }

    fn next_state(&self, s: &LockState, &t: &usize, _: &mut Coverage) -> Option<LockState> {
        let mut next = s.clone();
        match s.pc[t] {
            0 | 1 => next.owner[Self::lock(t, s.pc[t])] = Some(t as u8),
            _ => next.owner = [None, None],
        }
        next.pc[t] += 1;
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        Vec::new()
    }

    fn is_done(&self, s: &LockState) -> bool {
        s.pc == [3, 3]
    }
}

/// How the spinner's flag gets set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// T1 sets it by itself after its work.
    Internal,
    /// Only an external wake-up by T1 sets it.
    External,
    /// Only an external wake-up sets it, and only after an external knock.
    AfterKnock,
    /// Nothing sets it.
    Never,
}

/// T0 spins until a flag is set; T1 does two steps of work and then may set the flag. T1 can
/// also make external "noise" that does not help T0.
pub(crate) struct Spinner {
    pub(crate) release: Release,
}

impl Spinner {
    pub(crate) fn new(release: Release) -> Self {
        Spinner { release }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SpinState {
    pub(crate) flag: bool,
    pub(crate) t0_done: bool,
    pub(crate) work: u8,
    pub(crate) noise: bool,
    pub(crate) knocked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SpinAction {
    Spin,
    Proceed,
    Work,
    Wake,
    Noise,
    Knock,
}

impl Model for Spinner {
    type State = SpinState;
    type Action = SpinAction;

    fn init_states(&self) -> Vec<SpinState> {
        vec![SpinState {
            flag: false,
            t0_done: false,
            work: 0,
            noise: false,
            knocked: false,
        }]
    }

    fn actions(&self, s: &SpinState, actions: &mut Vec<SpinAction>) {
        if !s.t0_done {
            actions.push(if s.flag {
                SpinAction::Proceed
            } else {
                SpinAction::Spin
            });
            actions.push(SpinAction::Noise);
        }
        if s.work < 2 {
            actions.push(SpinAction::Work);
        } else if !s.flag {
            match self.release {
                Release::Internal | Release::External => actions.push(SpinAction::Wake),
                Release::AfterKnock if s.knocked => actions.push(SpinAction::Wake),
                Release::AfterKnock => actions.push(SpinAction::Knock),
                Release::Never => {}
            }
        }
    }

    fn next_state(&self, s: &SpinState, a: &SpinAction, _: &mut Coverage) -> Option<SpinState> {
        let mut next = s.clone();
        match a {
            SpinAction::Spin => {}
            SpinAction::Proceed => next.t0_done = true,
            SpinAction::Work => next.work += 1,
            SpinAction::Wake => next.flag = true,
            SpinAction::Noise => next.noise = !s.noise,
            SpinAction::Knock => next.knocked = true,
        }
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        Vec::new()
    }

    fn is_done(&self, s: &SpinState) -> bool {
        s.t0_done && s.work == 2
    }

    fn waiting(&self, s: &SpinState, agents: &mut Vec<AgentId>) {
        if !s.flag && !s.t0_done {
            agents.push(AgentId(0));
        }
    }

    fn action_meta(&self, _: &SpinState, a: &SpinAction) -> ActionMeta {
        let (agent, internal) = match a {
            SpinAction::Spin | SpinAction::Proceed => (0, true),
            SpinAction::Work => (1, true),
            SpinAction::Wake => (1, self.release == Release::Internal),
            SpinAction::Noise | SpinAction::Knock => (1, false),
        };
        ActionMeta {
            agent: AgentId(agent),
            internal,
        }
    }

    fn format_action(&self, _: &SpinState, a: &SpinAction) -> String {
        match a {
            SpinAction::Spin => "T0 spin",
            SpinAction::Proceed => "T0 proceed",
            SpinAction::Work => "T1 work",
            SpinAction::Wake => "T1 wake T0",
            SpinAction::Noise => "T1 noise",
            SpinAction::Knock => "T1 knock",
        }
        .to_string()
    }

    fn format_agent(&self, agent: AgentId) -> String {
        format!("T{}", agent.0)
    }

    fn explain_wait(&self, _: &SpinState, agent: AgentId) -> String {
        format!("T{} spins until the flag is set", agent.0)
    }
}

/// Interchangeable processes that each take a shared lock `rounds` times.
pub(crate) struct Mutexes {
    pub(crate) procs: usize,
    pub(crate) rounds: u8,
    /// Acquire without checking that the lock is free.
    pub(crate) buggy: bool,
}

/// Per process: (in the critical section, rounds completed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MutexState {
    pub(crate) procs: Vec<(bool, u8)>,
    pub(crate) locked: bool,
}

impl Model for Mutexes {
    type State = MutexState;
    type Action = usize;

    fn init_states(&self) -> Vec<MutexState> {
        vec![MutexState {
            procs: vec![(false, 0); self.procs],
            locked: false,
        }]
    }

    fn actions(&self, s: &MutexState, actions: &mut Vec<usize>) {
        for (i, &(critical, rounds)) in s.procs.iter().enumerate() {
            if critical || (rounds < self.rounds && (self.buggy || !s.locked)) {
                actions.push(i);
            }
        }
    }

    fn next_state(&self, s: &MutexState, &i: &usize, _: &mut Coverage) -> Option<MutexState> {
        let mut next = s.clone();
        let (critical, rounds) = s.procs[i];
        next.procs[i] = (!critical, rounds + u8::from(critical));
        next.locked = !critical;
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("mutual-exclusion", |_, s: &MutexState| {
                s.procs.iter().filter(|p| p.0).count() <= 1
            }),
            Property::sometimes("all-done", |m, s: &MutexState| {
                s.procs.iter().all(|p| p.1 == m.rounds)
            }),
            Property::sometimes("two-critical", |_, s: &MutexState| {
                s.procs.iter().filter(|p| p.0).count() >= 2
            }),
        ]
    }

    fn is_done(&self, s: &MutexState) -> bool {
        s.procs.iter().all(|p| p.1 == self.rounds)
    }

    fn representative(&self, s: &MutexState) -> MutexState {
        let mut rep = s.clone();
        rep.procs.sort_unstable();
        rep
    }
}

/// Two counters that start at `[0, 0]`; symmetric under swapping them, the representative being
/// the sorted pair. The first step reaches `[1, 0]`, whose representative is `[0, 1]`, and action
/// `k` increments counter `k` of whichever state it is applied to: a search that continued from
/// representatives would store paths that replay to other states.
pub(crate) struct Swapped;

impl Model for Swapped {
    type State = [u8; 2];
    type Action = usize;

    fn init_states(&self) -> Vec<[u8; 2]> {
        vec![[0, 0]]
    }

    fn actions(&self, s: &[u8; 2], actions: &mut Vec<usize>) {
        actions.extend((0..2).filter(|&k| s[k] < 2));
    }

    fn next_state(&self, s: &[u8; 2], &k: &usize, _: &mut Coverage) -> Option<[u8; 2]> {
        let mut next = *s;
        next[k] += 1;
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::always("not-one-one", |_, s| *s != [1, 1])]
    }

    fn is_done(&self, s: &[u8; 2]) -> bool {
        *s == [2, 2]
    }

    fn representative(&self, s: &[u8; 2]) -> [u8; 2] {
        let mut rep = *s;
        rep.sort_unstable();
        rep
    }
}

/// A discovery reduced to what must not depend on the worker count.
pub(crate) type Summary = (
    &'static str,
    crate::DiscoveryKind,
    Option<String>,
    Option<AgentId>,
    Vec<String>,
);

/// The discoveries of a report, for comparing runs.
pub(crate) fn summary<M: Model>(report: &crate::Report<M>) -> Vec<Summary> {
    report
        .discoveries
        .iter()
        .map(|d| {
            let token = d.trace.as_ref().map(|t| t.to_token());
            (d.property, d.kind, token, d.agent, d.rescue.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_counts_are_pinned() {
        assert_eq!(naive_unique(&RacyCounter { threads: 2 }, false), 12);
        assert_eq!(naive_unique(&LockOrder, false), 13);
        assert_eq!(naive_unique(&Spinner::new(Release::Never), false), 6);
        assert_eq!(naive_unique(&Spinner::new(Release::Internal), false), 10);
        assert_eq!(naive_unique(&Spinner::new(Release::External), false), 10);
        let mutexes = Mutexes {
            procs: 3,
            rounds: 2,
            buggy: false,
        };
        // Per process 5 local states, at most one critical: 3^3 + 3 * 2 * 3^2.
        assert_eq!(naive_unique(&mutexes, false), 81);
        // Multisets: C(5, 3) + 2 * C(4, 2).
        assert_eq!(naive_unique(&mutexes, true), 22);
        assert_eq!(naive_unique(&Swapped, false), 9);
        assert_eq!(naive_unique(&Swapped, true), 6);
    }
}
