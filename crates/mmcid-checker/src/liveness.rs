//! Progress checks: `livelock` and `stall` (`deadlock` is a plain per-state check in
//! [`crate::explore`]).
//!
//! # What is checked
//!
//! A model says which agents wait in a state ([`Model::waiting`]) and which actions are
//! internal, that is, happen without the outside world ([`Model::action_meta`]). For every
//! reachable state `s` and every agent `a` waiting in `s`:
//!
//! - If some path of internal actions leads from `s` to a state where `a` no longer waits, `a`
//!   can proceed: fine.
//! - Otherwise, if some path of any actions does, `a` is in a *livelock*: the system cannot get
//!   it going by itself, only the outside world can. The report names the *rescue* actions:
//!   the external actions, enabled somewhere in the internal closure of `s`, after which the
//!   system gets `a` going by itself; if no single external action does, the first external
//!   action of every escape path.
//! - Otherwise `a` is *stalled*: nothing at all gets it going. A state gets one verdict per
//!   agent, and stall is the stronger one.
//!
//! # Why checking each state on its own is sound and complete
//!
//! The definitions above are about single states, and the main search visits every reachable
//! state (in a complete run), calling [`Searcher::check_agent`] for every agent waiting there.
//! So every livelocked or stalled state is checked, and since the main search is breadth-first,
//! the first one reported has a shortest path. Each check is an exhaustive breadth-first search
//! of the states reachable from `s` (by internal actions, or by all), with its own seen-set, so
//! "no path" is proven, not guessed. Unlike a search for cycles, this needs no fairness
//! assumption and no lasso: "a waits in every state reachable from s" is a property of the
//! reachable set, whatever the cycles in it.
//!
//! # What is memoised
//!
//! Only successes, which stay true: a concurrent set of `(fingerprint, agent)` pairs known to be
//! able to proceed by internal actions, and another for "by some actions". When a search finds an
//! escape, every state on the path it found is added (each of them escapes along the rest of the
//! path), and later searches stop as soon as they reach a memoised state. Failures are not
//! memoised: after the first livelock and the first stall are reported, the checker stops
//! looking for more. The searches honour the run's limits: each holds at most as many states as
//! `max_states` and the memory left under `max_memory_bytes` allow, and polls the stop flag; a
//! search cut short decides nothing and ends the run as incomplete.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::fingerprint::{fingerprint, Fingerprint, IdentityBuild};
use crate::model::{AgentId, Coverage, Model};
use crate::report::StopReason;

/// How many rescue actions a discovery lists before summing up the rest.
const MAX_RESCUES: usize = 8;

const SHARDS: usize = 64;

/// A concurrent set of `(fingerprint, agent)` pairs.
struct PairSet {
    shards: Vec<Mutex<HashSet<(Fingerprint, u32), IdentityBuild>>>,
    len: AtomicU64,
}

impl Default for PairSet {
    fn default() -> Self {
        PairSet {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            len: AtomicU64::new(0),
        }
    }
}

impl PairSet {
    fn shard(&self, fp: Fingerprint) -> &Mutex<HashSet<(Fingerprint, u32), IdentityBuild>> {
        &self.shards[(fp >> 40) as usize % SHARDS]
    }

    fn contains(&self, fp: Fingerprint, agent: AgentId) -> bool {
        self.shard(fp)
            .lock()
            .expect("memo lock")
            .contains(&(fp, agent.0))
    }

    fn insert(&self, fp: Fingerprint, agent: AgentId) {
        if self
            .shard(fp)
            .lock()
            .expect("memo lock")
            .insert((fp, agent.0))
        {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// States known to let an agent proceed (see the module docs).
#[derive(Default)]
pub(crate) struct Memo {
    // invariant: (s, a) is here only if a path of internal actions leads from s to a state where
    // a does not wait.
    internal: PairSet,
    // invariant: (s, a) is here only if some path leads from s to a state where a does not wait.
    any: PairSet,
}

impl Memo {
    /// Estimated bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        (self.internal.len.load(Ordering::Relaxed) + self.any.len.load(Ordering::Relaxed)) * 24
    }

    fn proceeds(&self, fp: Fingerprint, agent: AgentId, internal_only: bool) -> bool {
        self.internal.contains(fp, agent) || (!internal_only && self.any.contains(fp, agent))
    }
}

/// The verdict on one waiting agent in one state.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Internal actions can get the agent going (or, when only stalls were asked about, some
    /// actions can).
    Proceeds,
    /// Only external actions can get the agent going; these ones do.
    Livelock { rescue: Vec<String> },
    /// Nothing gets the agent going.
    Stall,
    /// A search was cut short; the limit that cut it, if it was not the stop flag.
    Unknown(Option<StopReason>),
}

enum Search<S> {
    Escape,
    Exhausted(Vec<S>),
    Aborted,
}

/// Runs the forward searches of one worker.
pub(crate) struct Searcher<'a, M: Model> {
    model: &'a M,
    memo: &'a Memo,
    // invariant: no search holds more than `budget` states; one that would ends as `Aborted`
    // with `over_budget` set.
    budget: usize,
    reason: StopReason,
    over_budget: bool,
    stop: &'a dyn Fn() -> bool,
    actions: Vec<M::Action>,
    agents: Vec<AgentId>,
    /// A search's buffers, kept from one search to the next.
    bufs: Buffers<M::State>,
}

/// The buffers of [`Searcher::search`]: its parent links and queue, the successors of the
/// state being expanded, and states no longer needed that the model may build successors in
/// ([`Model::next_state_reusing`]).
struct Buffers<S> {
    parents: HashMap<Fingerprint, Fingerprint, IdentityBuild>,
    queue: VecDeque<(Fingerprint, S)>,
    successors: Vec<S>,
    spare: Vec<S>,
}

impl<S> Default for Buffers<S> {
    fn default() -> Self {
        Buffers {
            parents: HashMap::default(),
            queue: VecDeque::new(),
            successors: Vec::new(),
            spare: Vec::new(),
        }
    }
}

/// Most spare states a searcher keeps.
const SPARE_STATES: usize = 64;

impl<'a, M: Model> Searcher<'a, M> {
    pub(crate) fn new(
        model: &'a M,
        memo: &'a Memo,
        budget: usize,
        reason: StopReason,
        stop: &'a dyn Fn() -> bool,
    ) -> Self {
        Searcher {
            model,
            memo,
            budget,
            reason,
            over_budget: false,
            stop,
            actions: Vec::new(),
            agents: Vec::new(),
            bufs: Buffers::default(),
        }
    }

    /// Decides whether `agent`, which waits in `state`, can proceed. With `need_livelock` false
    /// only the stall question is answered (a livelocked agent then counts as proceeding).
    pub(crate) fn check_agent(
        &mut self,
        state: &M::State,
        agent: AgentId,
        need_livelock: bool,
        need_stall: bool,
        coverage: &mut Coverage,
    ) -> Verdict {
        let fp = fingerprint(state);
        if !need_livelock {
            if !need_stall {
                return Verdict::Proceeds;
            }
            return match self.search(state, fp, agent, false, false, coverage) {
                Search::Escape => Verdict::Proceeds,
                Search::Exhausted(_) => Verdict::Stall,
                Search::Aborted => self.unknown(),
            };
        }
        let closure = match self.search(state, fp, agent, true, true, coverage) {
            Search::Escape => return Verdict::Proceeds,
            Search::Aborted => return self.unknown(),
            Search::Exhausted(closure) => closure,
        };
        match self.rescue(&closure, agent, coverage) {
            None => self.unknown(),
            Some(rescue) if rescue.is_empty() => Verdict::Stall,
            Some(rescue) => Verdict::Livelock { rescue },
        }
    }

    fn unknown(&self) -> Verdict {
        Verdict::Unknown(self.over_budget.then_some(self.reason))
    }

    fn waits(&mut self, state: &M::State, agent: AgentId) -> bool {
        self.agents.clear();
        self.model.waiting(state, &mut self.agents);
        self.agents.contains(&agent)
    }

    /// The rescue actions of an agent that internal actions cannot get going from any state of
    /// `closure` (an internal closure); empty if nothing rescues it; `None` if cut short.
    fn rescue(
        &mut self,
        closure: &[M::State],
        agent: AgentId,
        coverage: &mut Coverage,
    ) -> Option<Vec<String>> {
        // Single external actions after which internal actions suffice; failing that, the first
        // external action of any escape path.
        for internal_only in [true, false] {
            let mut found = BTreeSet::new();
            let mut actions = Vec::new();
            for u in closure {
                actions.clear();
                self.model.actions(u, &mut actions);
                for action in &actions {
                    if self.model.action_meta(u, action).internal {
                        continue;
                    }
                    let label = self.model.format_action(u, action);
                    if found.contains(&label) {
                        continue;
                    }
                    let Some(v) = self.model.next_state(u, action, coverage) else {
                        continue;
                    };
                    let fp = fingerprint(&v);
                    match self.search(&v, fp, agent, internal_only, false, coverage) {
                        Search::Escape => {
                            found.insert(label);
                        }
                        Search::Exhausted(_) => {}
                        Search::Aborted => return None,
                    }
                }
            }
            if !found.is_empty() {
                let more = found.len().saturating_sub(MAX_RESCUES);
                let mut rescue: Vec<String> = found.into_iter().take(MAX_RESCUES).collect();
                if more > 0 {
                    rescue.push(format!("… and {more} more"));
                }
                return Some(rescue);
            }
        }
        Some(Vec::new())
    }

    /// Breadth-first search from `start` for a state where `agent` does not wait, using internal
    /// actions only or all actions. On success, marks the path found in the memo. With
    /// `keep_closure`, an exhausted search returns every state it reached.
    fn search(
        &mut self,
        start: &M::State,
        start_fp: Fingerprint,
        agent: AgentId,
        internal_only: bool,
        keep_closure: bool,
        coverage: &mut Coverage,
    ) -> Search<M::State> {
        if !self.waits(start, agent) || self.memo.proceeds(start_fp, agent, internal_only) {
            return Search::Escape;
        }
        let mut bufs = std::mem::take(&mut self.bufs);
        let result = self.search_in(
            &mut bufs,
            start,
            start_fp,
            agent,
            internal_only,
            keep_closure,
            coverage,
        );
        // What the search left behind becomes spare states for the next one.
        for (_, state) in bufs.queue.drain(..) {
            if bufs.spare.len() < SPARE_STATES {
                bufs.spare.push(state);
            }
        }
        bufs.parents.clear();
        self.bufs = bufs;
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn search_in(
        &mut self,
        bufs: &mut Buffers<M::State>,
        start: &M::State,
        start_fp: Fingerprint,
        agent: AgentId,
        internal_only: bool,
        keep_closure: bool,
        coverage: &mut Coverage,
    ) -> Search<M::State> {
        let model = self.model;
        // Parent links of the states reached, for marking the escape path.
        let parents = &mut bufs.parents;
        parents.clear();
        parents.insert(start_fp, start_fp);
        let first = match bufs.spare.pop() {
            Some(mut spare) => {
                spare.clone_from(start);
                spare
            }
            None => start.clone(),
        };
        bufs.queue.push_back((start_fp, first));
        let mut closure = Vec::new();
        let mut popped = 0usize;
        while let Some((u_fp, u)) = bufs.queue.pop_front() {
            popped += 1;
            if popped.is_multiple_of(256) && (self.stop)() {
                return Search::Aborted;
            }
            self.actions.clear();
            model.actions(&u, &mut self.actions);
            for action in &self.actions {
                if internal_only && !model.action_meta(&u, action).internal {
                    continue;
                }
                if let Some(v) = model.next_state_reusing(&u, action, coverage, bufs.spare.pop()) {
                    bufs.successors.push(v);
                }
            }
            let mut escaped = false;
            let mut successors = std::mem::take(&mut bufs.successors);
            for v in successors.drain(..) {
                if escaped {
                    bufs.spare.push(v);
                    continue;
                }
                let v_fp = fingerprint(&v);
                if parents.contains_key(&v_fp) {
                    if bufs.spare.len() < SPARE_STATES {
                        bufs.spare.push(v);
                    }
                    continue;
                }
                parents.insert(v_fp, u_fp);
                if !self.waits(&v, agent) || self.memo.proceeds(v_fp, agent, internal_only) {
                    self.mark(parents, u_fp, agent, internal_only);
                    escaped = true;
                    bufs.spare.push(v);
                    continue;
                }
                if parents.len() > self.budget {
                    self.over_budget = true;
                    return Search::Aborted;
                }
                bufs.queue.push_back((v_fp, v));
            }
            bufs.successors = successors;
            if escaped {
                bufs.spare.truncate(SPARE_STATES);
                return Search::Escape;
            }
            if keep_closure {
                closure.push(u);
            } else if bufs.spare.len() < SPARE_STATES {
                bufs.spare.push(u);
            }
        }
        Search::Exhausted(closure)
    }

    /// Adds every state on the path from the search's start to `last` to the memo.
    fn mark(
        &self,
        parents: &HashMap<Fingerprint, Fingerprint, IdentityBuild>,
        mut last: Fingerprint,
        agent: AgentId,
        internal_only: bool,
    ) {
        let set = if internal_only {
            &self.memo.internal
        } else {
            &self.memo.any
        };
        loop {
            set.insert(last, agent);
            let parent = parents[&last];
            if parent == last {
                return;
            }
            last = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::{Release, Spinner};

    fn verdict(model: &Spinner, budget: usize) -> (Verdict, Memo) {
        let memo = Memo::default();
        let stop = || false;
        let state = model.init_states().remove(0);
        let mut searcher = Searcher::new(model, &memo, budget, StopReason::MaxStates, &stop);
        let v = searcher.check_agent(&state, AgentId(0), true, true, &mut Coverage::new());
        (v, memo)
    }

    #[test]
    fn internal_release_proceeds_and_memoises_the_path() {
        let (v, memo) = verdict(&Spinner::new(Release::Internal), usize::MAX);
        assert_eq!(v, Verdict::Proceeds);
        // The start state and the states up to the release are memoised.
        assert!(memo.internal.len.load(Ordering::Relaxed) >= 1);
        assert_eq!(memo.any.len.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn external_release_is_a_livelock_naming_the_rescue() {
        let (v, _) = verdict(&Spinner::new(Release::External), usize::MAX);
        assert_eq!(
            v,
            Verdict::Livelock {
                rescue: vec!["T1 wake T0".to_string()]
            }
        );
    }

    #[test]
    fn no_release_is_a_stall() {
        let (v, _) = verdict(&Spinner::new(Release::Never), usize::MAX);
        assert_eq!(v, Verdict::Stall);
    }

    #[test]
    fn a_search_over_budget_decides_nothing() {
        let (v, _) = verdict(&Spinner::new(Release::Never), 1);
        assert_eq!(v, Verdict::Unknown(Some(StopReason::MaxStates)));
    }
}
