//! Simulation of large configurations: workloads (which environment events happen how often)
//! and the protocol's cost (context switches, bitmap operations, mode switches, transition and
//! fixup-walk lengths, the largest CID handed out), for [`mmcid_checker::simulate`].
//!
//! Nothing here is part of the hashed state: the metrics are computed by comparing the states
//! before and after each step ([`MmCidSim`] is the engine's observer).

use std::collections::BTreeMap;

use mmcid_checker::{simulate, SimConfig, SimHooks, SimReport};

use crate::cid::*;
use crate::config::{Fix, KernelVersion, Scenario};
use crate::env::Action;
use crate::model::MmCidModel;
use crate::state::Kernel;
use crate::thread::{Frame, Who};

/// Which environment events a simulation favours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// A pool of more threads than CPUs that block and wake; it grows from one thread by forks
    /// and a worker occasionally exits and is replaced.
    ThreadPool,
    /// Threads are created and exit all the time, so the number of users keeps crossing the
    /// per-CPU switch thresholds.
    ForkExitChurn,
    /// The process starts on a quarter of the CPUs and its threads widen their affinity.
    Affinity,
    /// Everything: forks (some failing before F6a), exits, execs, affinity, block and wake.
    Mixed,
}

/// Action kinds, in the order of the weight tables.
const KINDS: usize = 13;

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 4] = [
        Workload::ThreadPool,
        Workload::ForkExitChurn,
        Workload::Affinity,
        Workload::Mixed,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ThreadPool => "thread-pool",
            Workload::ForkExitChurn => "fork-exit-churn",
            Workload::Affinity => "affinity",
            Workload::Mixed => "mixed",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(s))
    }

    /// The most threads by default for `cpus` CPUs (at most the model's limit): more threads
    /// than CPUs, so that the user count can cross the switch thresholds, except for
    /// `affinity` (3/4 of the CPUs: more users than allowed CPUs while the mask is narrow).
    pub fn default_threads(self, cpus: usize) -> usize {
        let t = match self {
            Workload::ThreadPool => 4 * cpus,
            Workload::ForkExitChurn => cpus + cpus / 2 + 2,
            // Fewer threads than CPUs: per-CPU mode while the mask is narrow, per-task mode
            // possible again once it has widened.
            Workload::Affinity => (3 * cpus / 4).max(2),
            Workload::Mixed => 2 * cpus,
        };
        t.clamp(2, crate::config::MAX_THREADS)
    }

    /// The scenario of this workload: the process starts with one thread, and the event
    /// budgets are unlimited (`u32::MAX`) for the events the workload uses.
    pub fn scenario(self, kernel: KernelVersion, cpus: usize, threads: usize) -> Scenario {
        let narrow = match self {
            Workload::Affinity => (cpus / 4).max(1),
            Workload::Mixed => (cpus / 2).max(1),
            _ => cpus,
        };
        let affinity = if narrow < cpus { u32::MAX } else { 0 };
        let many = u32::MAX;
        Scenario {
            kernel,
            cpus,
            threads,
            initial_threads: 1,
            initial_allowed: narrow,
            forks: many,
            fork_failures: if self == Workload::Mixed && !kernel.has(Fix::F6a) {
                many
            } else {
                0
            },
            exits: many,
            execs: if self == Workload::Mixed { many } else { 0 },
            affinity,
            vforks: 0,
            mmless_tasks: 0,
            relaxed: false,
        }
    }

    /// Relative frequency of each action kind (see [`kind`]).
    fn table(self) -> [u64; KINDS] {
        // Step Switch Migrate IrqWork RunWork Fork ForkFail Exit Exec Affinity Block Wake other
        //
        // (The simulator found a model bug with exec in `mixed`: `sched_exec()` took a held rq
        // lock in the same step as the return from the exit hook. The interpreter now ends a
        // step at such a return, see `Exec::run`.)
        match self {
            Workload::ThreadPool => [100, 40, 5, 50, 50, 10, 0, 1, 0, 0, 20, 30, 5],
            Workload::ForkExitChurn => [100, 40, 5, 50, 50, 15, 0, 15, 0, 0, 10, 20, 5],
            Workload::Affinity => [100, 40, 5, 50, 50, 5, 0, 2, 0, 1, 10, 20, 5],
            Workload::Mixed => [100, 40, 5, 50, 50, 10, 2, 8, 2, 3, 10, 20, 5],
        }
    }
}

/// The kind of an action: its index in the weight tables.
fn kind(a: &Action) -> usize {
    match a {
        Action::Step(_) => 0,
        Action::Switch { .. } => 1,
        Action::Migrate { .. } => 2,
        Action::IrqWork { .. } => 3,
        Action::RunWork { .. } => 4,
        Action::Fork { .. } => 5,
        Action::ForkFail { .. } => 6,
        Action::Exit { .. } => 7,
        Action::Exec { .. } => 8,
        Action::Affinity { .. } => 9,
        Action::Block { .. } => 10,
        Action::Wake { .. } => 11,
        _ => 12,
    }
}

/// Count, sum and largest value of a series (transition lengths, walk lengths).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Series {
    /// How many.
    pub count: u64,
    /// Their sum.
    pub sum: u64,
    /// The largest.
    pub max: u64,
}

impl Series {
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum += v;
        self.max = self.max.max(v);
    }

    /// The mean (0 if empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }
}

/// The protocol's cost over one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimMetrics {
    /// Steps observed.
    pub steps: u64,
    /// Context switches (`__schedule()` picking a task or idle).
    pub context_switches: u64,
    /// Context switches that started while no mode transition was in progress.
    pub switches_steady: u64,
    /// Context switches that started during a mode transition.
    pub switches_transition: u64,
    /// Bits set in the CID bitmap (`__mm_get_cid()` successes), all paths.
    pub bitmap_sets: u64,
    /// Bits cleared in the CID bitmap (`mm_drop_cid()`), all paths.
    pub bitmap_clears: u64,
    /// Bitmap operations by the context-switch path in steady state.
    pub switch_ops_steady: u64,
    /// Bitmap operations by the context-switch path during transitions.
    pub switch_ops_transition: u64,
    /// Bitmap operations by fork, exit, exec, the fixup walks and the work.
    pub other_ops: u64,
    /// Mode switches per-task → per-CPU.
    pub to_percpu: u64,
    /// Mode switches per-CPU → per-task.
    pub to_pertask: u64,
    /// Transition lengths in steps (mode flip to mutex release).
    pub transitions: Series,
    /// Fixup walk lengths in steps of the walking thread.
    pub fixup_walks: Series,
    /// Largest CID number set in the bitmap.
    pub largest_cid: Option<u32>,
    /// Largest CID number set in the bitmap outside transitions.
    pub largest_cid_steady: Option<u32>,
    /// Most CID users at once.
    pub max_users: u32,
    /// Most CPUs allowed at once (`nr_cpus_allowed`).
    pub max_allowed: u32,
    /// Steps spent in transitions.
    pub transition_steps: u64,
}

impl SimMetrics {
    /// `min(most users, most allowed CPUs)`: the CID space a converged mm needs.
    pub fn cid_bound(&self) -> u32 {
        self.max_users.min(self.max_allowed)
    }

    /// All bitmap operations.
    pub fn bitmap_ops(&self) -> u64 {
        self.bitmap_sets + self.bitmap_clears
    }

    /// All bitmap operations per context switch.
    pub fn ops_per_switch(&self) -> f64 {
        ratio(self.bitmap_ops(), self.context_switches)
    }

    /// Context-switch-path bitmap operations per steady-state switch.
    pub fn steady_ops_per_switch(&self) -> f64 {
        ratio(self.switch_ops_steady, self.switches_steady)
    }

    /// Context-switch-path bitmap operations per switch during transitions.
    pub fn transition_ops_per_switch(&self) -> f64 {
        ratio(self.switch_ops_transition, self.switches_transition)
    }

    /// Adds another run's metrics (for totals over `--runs`).
    pub fn merge(&mut self, o: &SimMetrics) {
        self.steps += o.steps;
        self.context_switches += o.context_switches;
        self.switches_steady += o.switches_steady;
        self.switches_transition += o.switches_transition;
        self.bitmap_sets += o.bitmap_sets;
        self.bitmap_clears += o.bitmap_clears;
        self.switch_ops_steady += o.switch_ops_steady;
        self.switch_ops_transition += o.switch_ops_transition;
        self.other_ops += o.other_ops;
        self.to_percpu += o.to_percpu;
        self.to_pertask += o.to_pertask;
        for (a, b) in [
            (&mut self.transitions, &o.transitions),
            (&mut self.fixup_walks, &o.fixup_walks),
        ] {
            a.count += b.count;
            a.sum += b.sum;
            a.max = a.max.max(b.max);
        }
        self.largest_cid = self.largest_cid.max(o.largest_cid);
        self.largest_cid_steady = self.largest_cid_steady.max(o.largest_cid_steady);
        self.max_users = self.max_users.max(o.max_users);
        self.max_allowed = self.max_allowed.max(o.max_allowed);
        self.transition_steps += o.transition_steps;
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The engine's hooks for the mm_cid model: a workload's weights and the metrics.
pub struct MmCidSim {
    workload: Workload,
    table: [u64; KINDS],
    /// The metrics so far.
    pub metrics: SimMetrics,
    /// The step at which the current transition started.
    transition_since: Option<u64>,
    /// Steps of each walking thread in its current fixup walk.
    walks: BTreeMap<Who, u64>,
    counts: [u64; KINDS],
}

impl MmCidSim {
    /// Hooks for `workload`.
    pub fn new(workload: Workload) -> Self {
        MmCidSim {
            workload,
            table: workload.table(),
            metrics: SimMetrics::default(),
            transition_since: None,
            walks: BTreeMap::new(),
            counts: [0; KINDS],
        }
    }

    /// The workload.
    pub fn workload(&self) -> Workload {
        self.workload
    }
}

/// Threads of the process that are alive and not on their way out (no exit or exec in flight).
fn staying_threads(k: &Kernel) -> usize {
    k.live_tasks()
        .filter(|(_, t)| {
            t.has_mm
                && !t.kworker
                && t.state != crate::state::TaskState::Dead
                && !t
                    .thread
                    .stack
                    .iter()
                    .any(|f| matches!(f, Frame::DoExit(_) | Frame::BprmExecve(_)))
        })
        .count()
}

fn in_fixup(k: &Kernel, who: Who) -> bool {
    k.thread(who)
        .stack
        .iter()
        .any(|f| matches!(f, Frame::FixupTasksToCpus(_) | Frame::FixupCpusToTasks(_)))
}

impl SimHooks<MmCidModel> for MmCidSim {
    /// Each kind's weight is shared by the agent's actions of that kind, so a CPU with a
    /// thousand sleeping tasks to wake does not wake more often than one with ten. Exits (and
    /// execs) of the last user are not offered, so the process does not die out.
    fn weights(&mut self, _: &MmCidModel, k: &Kernel, actions: &[Action], weights: &mut Vec<u64>) {
        self.counts = [0; KINDS];
        for a in actions {
            self.counts[kind(a)] += 1;
        }
        const SCALE: u64 = 1 << 20;
        let last_one = (self.counts[7] + self.counts[8] > 0) && staying_threads(k) <= 1;
        for a in actions {
            let kd = kind(a);
            let w = match a {
                Action::Exit { .. } | Action::Exec { .. } if last_one => 0,
                _ => self.table[kd],
            };
            weights.push(w * SCALE / self.counts[kd]);
        }
    }

    fn observe(
        &mut self,
        _: &MmCidModel,
        step: u64,
        last: &Kernel,
        action: &Action,
        next: &Kernel,
    ) {
        let m = &mut self.metrics;
        m.steps += 1;
        // A transition runs from the mode flip to the release of the mutex that covers it.
        let flipped = cid_on_cpu(last.mm.mode) != cid_on_cpu(next.mm.mode);
        if flipped {
            if cid_on_cpu(next.mm.mode) {
                m.to_percpu += 1;
            } else {
                m.to_pertask += 1;
            }
            if self.transition_since.is_none() {
                self.transition_since = Some(step);
            }
        }
        let in_transition = self.transition_since.is_some();
        if in_transition {
            m.transition_steps += 1;
        }
        let switch_path = matches!(action, Action::Switch { .. } | Action::Step(Who::Cpu(_)));
        if let Action::Switch { .. } = action {
            m.context_switches += 1;
            if in_transition {
                m.switches_transition += 1;
            } else {
                m.switches_steady += 1;
            }
        }
        if last.mm.bitmap != next.mm.bitmap {
            let (mut sets, mut clears) = (0, 0);
            for b in next.mm.bitmap.iter() {
                if !last.mm.bitmap.test(b) {
                    sets += 1;
                    let b = b as u32;
                    m.largest_cid = m.largest_cid.max(Some(b));
                    if !in_transition {
                        m.largest_cid_steady = m.largest_cid_steady.max(Some(b));
                    }
                }
            }
            for b in last.mm.bitmap.iter() {
                if !next.mm.bitmap.test(b) {
                    clears += 1;
                }
            }
            m.bitmap_sets += sets;
            m.bitmap_clears += clears;
            let ops = sets + clears;
            if !switch_path {
                m.other_ops += ops;
            } else if in_transition {
                m.switch_ops_transition += ops;
            } else {
                m.switch_ops_steady += ops;
            }
        }
        m.max_users = m.max_users.max(next.mm.users);
        m.max_allowed = m.max_allowed.max(next.mm.nr_cpus_allowed);
        if let Action::Step(who) = *action {
            let alive = match who {
                Who::Cpu(_) => true,
                Who::Task(t) => next.tasks[t as usize].is_some(),
            };
            if in_fixup(last, who) {
                let n = self.walks.entry(who).or_insert(0);
                *n += 1;
                if !alive || !in_fixup(next, who) {
                    let n = self.walks.remove(&who).unwrap_or(0);
                    m.fixup_walks.add(n);
                }
            }
        }
        if let Some(since) = self.transition_since {
            if next.mm.mutex.is_none() {
                m.transitions.add(step + 1 - since);
                self.transition_since = None;
            }
        }
    }
}

/// Runs one simulation of `model` under `workload`; returns the engine's report and the
/// metrics.
pub fn run(
    model: &MmCidModel,
    workload: Workload,
    config: &SimConfig,
    progress: Option<&mut dyn FnMut(u64)>,
) -> (SimReport<MmCidModel>, SimMetrics) {
    let mut hooks = MmCidSim::new(workload);
    let report = simulate(model, config, &mut hooks, progress);
    (report, hooks.metrics)
}

/// The default watchdog for `cpus` CPUs: a thousand steps per CPU, at least 10 000 (with a
/// uniform choice of CPU, each CPU gets about a thousand steps in that time).
pub fn default_watchdog(cpus: usize) -> u64 {
    (1000 * cpus as u64).max(10_000)
}
