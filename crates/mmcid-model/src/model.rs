//! `impl Model for MmCidModel`: the mm_cid protocol and its environment for the checker.

use std::sync::Arc;

use mmcid_checker::{ActionMeta, AgentId, Coverage, Model, Property};

use crate::cid::*;
use crate::config::{ConfigError, Scenario};
use crate::env::Action;
use crate::exec::{Exec, Want};
use crate::fork::{CopyProcessPc, ForkPc};
use crate::labels::LABELS;
use crate::pack::Packer;
use crate::state::*;
use crate::thread::{Frame, Thread, Who};

/// The mm_cid model for one [`Scenario`].
#[derive(Clone, Debug)]
pub struct MmCidModel {
    scenario: Scenario,
    /// Whether the checker may merge states that differ only by task numbering.
    symmetry: bool,
    /// Invariants not checked (names from [`crate::properties::NAMES`]).
    ignored: Vec<&'static str>,
    /// The part tables of packed states, if the checker is to keep its frontier packed
    /// ([`MmCidModel::with_packing`]).
    packer: Option<Arc<Packer>>,
}

impl MmCidModel {
    /// A model of `scenario`, which must be valid; symmetry and packing on, every invariant
    /// checked.
    pub fn new(scenario: Scenario) -> Result<Self, ConfigError> {
        scenario.validate()?;
        Ok(MmCidModel {
            scenario,
            symmetry: true,
            ignored: Vec::new(),
            packer: None,
        }
        .with_packing(true))
    }

    /// Leaves the named invariants unchecked, for example `steady-state` to look past a leaked
    /// CID to the stall it leads to. Unknown names are refused.
    pub fn ignoring(mut self, names: &[String]) -> Result<Self, ConfigError> {
        for name in names {
            match crate::properties::NAMES
                .iter()
                .find(|n| **n == name.as_str())
            {
                Some(n) => self.ignored.push(n),
                None => {
                    return Err(ConfigError(format!(
                        "unknown property `{name}` (known: {})",
                        crate::properties::NAMES.join(", ")
                    )))
                }
            }
        }
        Ok(self)
    }

    /// Turns packed frontier states ([`crate::pack`]) on or off: the checker then keeps the
    /// states it is about to explore as a few words each and rebuilds them when it explores
    /// them, which takes much less memory (a tenth on the benchmark's `mmcid:large`) and, since
    /// fewer bytes are copied, no more time. On by default. Turning it on starts empty tables
    /// (clones of the model share them).
    pub fn with_packing(mut self, on: bool) -> Self {
        self.packer = on.then(|| {
            let sc = &self.scenario;
            Arc::new(Packer::new(sc.cpus, task_slots(sc)))
        });
        self
    }

    /// The part tables; the checker packs and unpacks only when `packed_words` is not 0.
    fn packer(&self) -> &Packer {
        self.packer
            .as_deref()
            .expect("pack and unpack are only called when packing is on")
    }

    /// Turns symmetry reduction (task renumbering) on or off.
    pub fn with_symmetry(mut self, on: bool) -> Self {
        self.symmetry = on;
        self
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Agent number of a CPU.
    pub fn cpu_agent(&self, cpu: CpuId) -> AgentId {
        AgentId(cpu as u32)
    }

    /// Agent number of a task.
    pub fn task_agent(&self, t: TaskId) -> AgentId {
        AgentId((self.scenario.cpus + t as usize) as u32)
    }

    /// Runs `action` on `state` without coverage (for tools and tests).
    pub fn apply(&self, state: &Kernel, action: Action) -> Kernel {
        let mut cov = Coverage::new();
        self.next_state(state, &action, &mut cov)
            .expect("apply: the action produced no state")
    }

    /// The initial state: the first thread got its CID through the first-user path of
    /// `sched_mm_cid_fork()` (as after its `execve()`), and the other initial threads were forked
    /// one after the other by the first one, with no interleaving, using the model's own code.
    pub fn initial_state(&self) -> Kernel {
        let sc = &self.scenario;
        let n = sc.cpus;
        let allowed = Mask256::first(sc.initial_allowed);
        let first = Task::new(TaskState::Running, 0, allowed, true, false);
        let kworkers = usize::from(sc.affinity > 0);
        let slots = task_slots(sc);
        let mut tasks = vec![None; slots];
        tasks[0] = Some(first);
        if sc.affinity > 0 {
            let mut kworker = Task::new(TaskState::Sleeping, 0, Mask256::first(n), false, true);
            kworker.process = u8::MAX;
            tasks[sc.threads] = Some(kworker);
        }
        // Tasks without an mm (like init before its first execve): runnable, each on a CPU
        // of its own where possible, allowed everywhere.
        for i in 0..sc.mmless_tasks {
            let slot = sc.threads + kworkers + i;
            let cpu = ((i + 1) % n) as CpuId;
            let mut task = Task::new(TaskState::Runnable, cpu, Mask256::first(n), false, false);
            task.process = u8::MAX - 1 - i as u8;
            tasks[slot] = Some(task);
        }
        let mut k = Kernel {
            mm: Box::new(Part::new(MmCid {
                // model: the per-CPU area is zero-allocated and mm_init_cid() does not set the
                // slots (spec §2.2, UNSURE): they start as plain 0, which carries no ONCPU and
                // so behaves like UNSET.
                pcpu: vec![0; n],
                mode: 0,
                transit_seen: if sc.relaxed && !sc.kernel.has(crate::config::Fix::F4b) {
                    vec![0; n]
                } else {
                    Vec::new()
                },
                max_cids: 0,
                pcpu_thrs: 0,
                users: 0,
                nr_cpus_allowed: sc.initial_allowed as u32,
                update_deferred: false,
                cpus_allowed: allowed,
                bitmap: Mask256::EMPTY,
                user_list: Vec::new(),
                thread_list: vec![0],
                mutex: None,
                lock: None,
                irq_work: None,
                work_pending: false,
                work_running: false,
            })),
            rq: (0..n)
                .map(|c| {
                    Part::new(Rq {
                        curr: (c == 0).then_some(0),
                        lock: None,
                        thread: Thread::default(),
                    })
                })
                .collect(),
            tasks: tasks.into_iter().map(Part::new).collect(),
            budget: Budget {
                forks: sc.forks,
                fork_failures: sc.fork_failures,
                exits: sc.exits,
                execs: sc.execs,
                affinity: sc.affinity,
                vforks: sc.vforks,
            },
            faults: Faults::default(),
        };
        let mut cov = Coverage::new();
        self.run_to_completion(
            &mut k,
            Frame::SchedMmCidFork(ForkPc::Enter { t: 0 }),
            &mut cov,
        );
        for _ in 1..sc.initial_threads {
            self.run_to_completion(
                &mut k,
                Frame::CopyProcess(CopyProcessPc::DupTaskStruct { new_process: false }),
                &mut cov,
            );
        }
        k
    }

    /// Runs an operation of task 0 to its end with nothing else interleaved.
    fn run_to_completion(&self, k: &mut Kernel, frame: Frame, cov: &mut Coverage) {
        k.task_mut(0).thread.stack.push(frame);
        let mut steps = 0;
        while !k.task(0).thread.is_idle() {
            assert!(
                k.step_enabled(Who::Task(0)),
                "model bug: the initial threads cannot be created without interleaving (scenario {:?})",
                self.scenario
            );
            let mut exec = Exec {
                k,
                v: self.scenario.kernel,
                cov,
                who: Who::Task(0),
            };
            exec.step(Who::Task(0));
            steps += 1;
            assert!(
                steps < 1_000_000,
                "model bug: initial state construction does not end"
            );
        }
    }

    /// Why `who` waits, if it does.
    pub(crate) fn waiting_agent(&self, k: &Kernel, who: Who) -> Option<AgentId> {
        let thread = k.thread(who);
        if thread.is_idle() {
            return None;
        }
        let on_cpu = |c: CpuId| Some(self.cpu_agent(c));
        match (who, k.wants(who)) {
            (Who::Cpu(c), Want::FreeCid) if !k.cid_available() => on_cpu(c),
            (Who::Cpu(c), Want::Lock(l))
                if k.lock_holder(l).is_some() && thread.spin == Some(l) =>
            {
                on_cpu(c)
            }
            (Who::Task(t), Want::Lock(l))
                if k.lock_holder(l).is_some() && thread.spin == Some(l) =>
            {
                on_cpu(k.task(t).cpu)
            }
            (Who::Task(t), Want::FreeCid) if !k.cid_available() => {
                if k.holds_spinlock(crate::thread::Holder::Task(t)) {
                    on_cpu(k.task(t).cpu)
                } else {
                    Some(self.task_agent(t))
                }
            }
            (Who::Task(t), Want::Mutex) if k.mm.mutex.is_some_and(|m| m != t) => {
                Some(self.task_agent(t))
            }
            (Who::Task(t), Want::WorkIdle) if k.mm.irq_work.is_some() || k.mm.work_running => {
                Some(self.task_agent(t))
            }
            _ => None,
        }
    }
}

/// The number of task slots of a scenario's states: the threads, the kworker (if affinity
/// changes are on), the tasks without an mm.
fn task_slots(sc: &Scenario) -> usize {
    sc.threads + usize::from(sc.affinity > 0) + sc.mmless_tasks
}

impl Model for MmCidModel {
    type State = Kernel;
    type Action = Action;

    fn init_states(&self) -> Vec<Kernel> {
        vec![self.initial_state()]
    }

    fn actions(&self, state: &Kernel, actions: &mut Vec<Action>) {
        state.enabled_actions(self.scenario.kernel.fixes, self.scenario.threads, actions);
    }

    fn next_state(
        &self,
        state: &Kernel,
        action: &Action,
        coverage: &mut Coverage,
    ) -> Option<Kernel> {
        self.next_state_reusing(state, action, coverage, None)
    }

    fn next_state_reusing(
        &self,
        state: &Kernel,
        action: &Action,
        coverage: &mut Coverage,
        spare: Option<Kernel>,
    ) -> Option<Kernel> {
        let mut next = match spare {
            Some(mut spare) => {
                spare.clone_from(state);
                spare
            }
            None => state.clone(),
        };
        let mut exec = Exec {
            k: &mut next,
            v: self.scenario.kernel,
            cov: coverage,
            who: Who::Cpu(0),
        };
        exec.perform(*action);
        Some(next)
    }

    fn packed_words(&self) -> usize {
        self.packer.as_ref().map_or(0, |p| p.words())
    }

    fn pack(&self, state: &Kernel, words: &mut [u64]) {
        self.packer().pack(state, words);
    }

    fn unpack(&self, words: &[u64]) -> Kernel {
        self.packer().unpack(words)
    }

    fn unpack_into(&self, words: &[u64], state: &mut Kernel) {
        self.packer().unpack_into(words, state);
    }

    fn side_bytes(&self) -> u64 {
        self.packer.as_ref().map_or(0, |p| p.bytes())
    }

    /// A step runs a kernel function's section and clones the state (about as much work as
    /// exploring a tenth of a state), while a packed state is a handful of words: keeping the
    /// new states packed as they are found is faster (6–7% on `mmcid:large` and `mmcid:xl`)
    /// for a few bytes per state of the widest depth.
    fn rebuild_frontier(&self) -> bool {
        false
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut all = crate::properties::properties();
        all.retain(|p| !self.ignored.contains(&p.name));
        all
    }

    fn is_done(&self, state: &Kernel) -> bool {
        state.rq.iter().all(|rq| rq.thread.is_idle())
            && state.live_tasks().all(|(_, t)| t.thread.is_idle())
            && state.mm.irq_work.is_none()
            && !state.mm.work_pending
    }

    fn waiting(&self, state: &Kernel, agents: &mut Vec<AgentId>) {
        for c in 0..state.nr_cpus() as CpuId {
            if let Some(a) = self.waiting_agent(state, Who::Cpu(c)) {
                agents.push(a);
            }
        }
        for (t, _) in state.live_tasks() {
            if let Some(a) = self.waiting_agent(state, Who::Task(t)) {
                if !agents.contains(&a) {
                    agents.push(a);
                }
            }
        }
    }

    fn action_meta(&self, state: &Kernel, action: &Action) -> ActionMeta {
        let cpu = match *action {
            Action::Step(who) => state.cpu_of(who),
            Action::Switch { cpu, .. }
            | Action::IrqWork { cpu }
            | Action::Wake { cpu, .. }
            | Action::Propagate { cpu } => cpu,
            Action::Migrate { to, .. } => to,
            Action::RunWork { task }
            | Action::Fork { task }
            | Action::Vfork { task }
            | Action::ForkFail { task }
            | Action::Exit { task }
            | Action::Exec { task, .. }
            | Action::Affinity { task, .. }
            | Action::Block { task } => state.task(task).cpu,
        };
        ActionMeta {
            agent: self.cpu_agent(cpu),
            internal: action.is_internal(),
        }
    }

    fn representative(&self, state: &Kernel) -> Kernel {
        if self.symmetry {
            crate::symmetry::representative(state)
        } else {
            state.clone()
        }
    }

    fn representative_fingerprint(&self, state: &Kernel) -> mmcid_checker::Fingerprint {
        if self.symmetry {
            crate::symmetry::representative_fingerprint(state)
        } else {
            mmcid_checker::fingerprint(state)
        }
    }

    fn labels(&self) -> Vec<String> {
        LABELS.iter().map(|s| s.to_string()).collect()
    }

    fn format_action(&self, state: &Kernel, action: &Action) -> String {
        crate::format::format_action(state, action)
    }

    fn format_step(&self, last: &Kernel, _action: &Action, next: &Kernel) -> Option<String> {
        let diff = crate::format::diff(last, next);
        (!diff.is_empty()).then(|| diff.join("\n"))
    }

    fn format_agent(&self, agent: AgentId) -> String {
        let n = self.scenario.cpus as u32;
        if agent.0 < n {
            format!("CPU{}", agent.0)
        } else {
            format!("T{}", agent.0 - n)
        }
    }

    fn explain_wait(&self, state: &Kernel, agent: AgentId) -> String {
        crate::format::explain_wait(self, state, agent)
    }
}

/// Test support: 2 CPUs, up to 4 threads, 3 forks, `exits` exits, one affinity widening
/// from one allowed CPU (so a kworker slot too): the configuration the state-level tests walk.
#[cfg(test)]
pub(crate) fn kworker_scenario(exits: u32) -> crate::config::Scenario {
    crate::config::Scenario {
        threads: 4,
        forks: 3,
        exits,
        affinity: 1,
        initial_allowed: 1,
        ..crate::config::Scenario::default()
    }
}

/// Test support: explores `levels` levels breadth-first from the model's initial states
/// (successors by `next_state`, deduplicated on equality) and calls `visit(state, action, next)`
/// for every transition. Returns the number of transitions.
#[cfg(test)]
pub(crate) fn each_transition(
    model: &MmCidModel,
    levels: usize,
    mut visit: impl FnMut(&Kernel, &Action, &Kernel),
) -> usize {
    let mut level = model.init_states();
    let mut seen = std::collections::HashSet::new();
    let mut cov = Coverage::new();
    let mut actions = Vec::new();
    let mut transitions = 0;
    for _ in 0..levels {
        let mut next_level = Vec::new();
        for state in &level {
            actions.clear();
            model.actions(state, &mut actions);
            for action in &actions {
                let next = model
                    .next_state(state, action, &mut cov)
                    .expect("every enabled action leads somewhere");
                visit(state, action, &next);
                transitions += 1;
                if seen.insert(next.clone()) {
                    next_level.push(next);
                }
            }
        }
        level = next_level;
    }
    transitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;

    /// The same state with every part's remembered fingerprint forgotten.
    fn fresh(k: &Kernel) -> Kernel {
        Kernel {
            mm: Box::new(Part::new((**k.mm).clone())),
            rq: k.rq.iter().map(|p| Part::new((**p).clone())).collect(),
            tasks: k.tasks.iter().map(|p| Part::new((**p).clone())).collect(),
            budget: k.budget.clone(),
            faults: k.faults.clone(),
        }
    }

    /// No remembered part fingerprint or pack table number is stale: every successor (built in
    /// a spare state, as the checker does), its symmetry representative and its packed round
    /// trip fingerprint the same as a copy that computes every part afresh, and the successor
    /// packs to the same words as that copy, on all states of 16 levels of a
    /// configuration with forks, exits, affinity changes and the kworker.
    #[test]
    fn remembered_part_fingerprints_are_never_stale() {
        use mmcid_checker::fingerprint;
        let model = MmCidModel::new(kworker_scenario(2))
            .unwrap()
            .with_packing(true);
        let words = model.packed_words();
        let mut cov = Coverage::new();
        let mut spare: Option<Kernel> = None;
        let checked = each_transition(&model, 16, |state, action, _| {
            let next = model
                .next_state_reusing(state, action, &mut cov, spare.take())
                .unwrap();
            assert_eq!(fingerprint(&next), fingerprint(&fresh(&next)));
            let rep = crate::symmetry::representative(&next);
            assert_eq!(fingerprint(&rep), fingerprint(&fresh(&rep)));
            let mut w = vec![0; words];
            model.pack(&next, &mut w);
            let back = model.unpack(&w);
            assert_eq!(fingerprint(&back), fingerprint(&fresh(&next)));
            // Packing with remembered table numbers gives the words a lookup of every part
            // gives.
            let mut looked_up = vec![0; words];
            model.pack(&fresh(&next), &mut looked_up);
            assert_eq!(w, looked_up);
            spare = Some(next);
        });
        assert!(checked > 10_000, "only {checked} transitions");
    }

    /// `next_state_reusing` must give exactly `next_state`'s result whatever spare it is given:
    /// checked on every transition of the first 14 levels of the default configuration, each
    /// built in the previous successor (a state of another shape: other stacks, other lists).
    #[test]
    fn building_in_a_spare_state_gives_the_same_successor() {
        let model = MmCidModel::new(Scenario {
            threads: 4,
            forks: 3,
            ..Scenario::default()
        })
        .unwrap();
        let mut spare: Option<Kernel> = None;
        let mut cov = Coverage::new();
        let transitions = each_transition(&model, 14, |state, action, plain| {
            let reused = model.next_state_reusing(state, action, &mut cov, spare.take());
            assert_eq!(Some(plain), reused.as_ref(), "{action:?} from {state:?}");
            spare = reused;
        });
        assert!(transitions > 1000, "only {transitions} transitions");
    }

    /// A packed state unpacks to an equal state, and two states pack to the same words exactly
    /// when they are equal: checked on all states of the first 12 levels of a configuration
    /// with affinity changes (a kworker slot) and a free task slot. Unpacking into the memory
    /// of another state gives the same state.
    #[test]
    fn packing_round_trips() {
        let model = MmCidModel::new(kworker_scenario(1))
            .unwrap()
            .with_packing(true);
        let words = model.packed_words();
        // mm, 2 runqueues, 5 task slots (4 threads and the kworker), budget with faults: an
        // odd number of parts, so the last word's upper half is unused.
        assert_eq!(words, (2 + 2 + 5usize).div_ceil(2));
        let mut packed = std::collections::HashMap::new();
        // Unpacked into the memory of the state unpacked before (a different one, mostly).
        let mut reused = model.init_states().pop().unwrap();
        let mut differed = 0;
        let mut check = |next: &Kernel| {
            let mut w = vec![0; words];
            model.pack(next, &mut w);
            assert_eq!(&model.unpack(&w), next);
            differed += usize::from(reused != *next);
            model.unpack_into(&w, &mut reused);
            assert_eq!(&reused, next);
            match packed.get(&w) {
                Some(known) => assert_eq!(known, next),
                None => {
                    packed.insert(w, next.clone());
                }
            }
        };
        check(&model.initial_state());
        each_transition(&model, 12, |_, _, next| check(next));
        assert!(packed.len() > 1000, "only {} states", packed.len());
        assert!(
            differed > 500,
            "unpack_into overwrote a different state {differed} times"
        );
        assert!(model.side_bytes() > 0);
    }
}
