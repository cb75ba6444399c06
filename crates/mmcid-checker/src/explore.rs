//! The exploration core shared by the search strategies: configuration, the checks done on every
//! state, limits, and turning the search's findings into a [`Report`].
//!
//! A search strategy ([`crate::bfs`]) decides in which order states are visited and keeps the
//! parent links; for every state it visits it calls [`Context::visit`], which checks the
//! properties, `deadlock`, and (through [`crate::liveness`]) `livelock` and `stall`. Each check
//! is a *slot*: the model's properties in declaration order, then the three built-in ones. A
//! slot is decided once it has a discovery and is not checked again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fingerprint::{fingerprint, Fingerprint};
use crate::liveness::{Memo, Searcher, Verdict};
use crate::model::{AgentId, Coverage, Expectation, Model, Property};
use crate::report::{
    collision_probability, Discovery, DiscoveryKind, Outcome, Report, Stats, StopReason,
};
use crate::trace::Trace;

/// How to run [`crate::check`].
#[derive(Clone)]
pub struct CheckConfig {
    /// Worker threads. Results do not depend on it. Default: the available parallelism.
    pub workers: usize,
    /// Deduplicate states on [`Model::representative`]. Default: off.
    pub symmetry: bool,
    /// Check the built-in `livelock` and `stall` properties (`deadlock` is always checked; a
    /// model opts out of it with [`Model::is_done`]). Default: on.
    pub liveness: bool,
    /// Stop after this many unique states.
    pub max_states: Option<u64>,
    /// Stop when the checker's own estimated memory use (seen-set, frontier, searches) reaches
    /// this many bytes.
    pub max_memory_bytes: Option<u64>,
    /// Do not explore states deeper than this many steps from an initial state.
    pub max_depth: Option<usize>,
    /// Set to `true` (for example on Ctrl-C) to end the run early; the report keeps everything
    /// found so far.
    pub stop: Arc<AtomicBool>,
    /// Called about every 250 ms, always from the same thread, while the run lasts.
    pub progress: Option<Arc<dyn Fn(&Progress) + Send + Sync>>,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            symmetry: false,
            liveness: true,
            max_states: None,
            max_memory_bytes: None,
            max_depth: None,
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
        }
    }
}

impl std::fmt::Debug for CheckConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckConfig")
            .field("workers", &self.workers)
            .field("symmetry", &self.symmetry)
            .field("liveness", &self.liveness)
            .field("max_states", &self.max_states)
            .field("max_memory_bytes", &self.max_memory_bytes)
            .field("max_depth", &self.max_depth)
            .field("stop", &self.stop.load(Ordering::Relaxed))
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// A snapshot of a running check, passed to [`CheckConfig::progress`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Unique states found so far.
    pub unique_states: u64,
    /// Transitions explored so far.
    pub transitions: u64,
    /// Unique states per second since the start.
    pub states_per_second: f64,
    /// States waiting to be explored at the current depth.
    pub queue: usize,
    /// The depth being explored.
    pub depth: usize,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Explores every state reachable from the model's initial states and checks its properties.
pub fn check<M: Model>(model: &M, config: &CheckConfig) -> Report<M> {
    let ctx = Context::new(model, config);
    let end = crate::bfs::run(&ctx);
    ctx.report(end)
}

/// What one finding says, before its path is rebuilt.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub(crate) kind: DiscoveryKind,
    pub(crate) agent: Option<AgentId>,
    pub(crate) rescue: Vec<String>,
}

/// The best finding of one slot among the states a worker visited at one depth.
pub(crate) type SlotFindings = Vec<Option<(usize, Finding)>>;

/// A slot's discovery: the finding, the key of its state and the stored path to it.
pub(crate) struct Decided {
    pub(crate) finding: Finding,
    pub(crate) key: Fingerprint,
    pub(crate) init: usize,
    pub(crate) path: Vec<usize>,
}

/// How a search strategy ended, for [`Context::report`].
pub(crate) struct SearchEnd {
    pub(crate) outcome: Outcome,
    pub(crate) initial_states: u64,
    pub(crate) unique_states: u64,
    pub(crate) transitions: u64,
    pub(crate) max_depth: usize,
    /// Per slot: the decided finding and the path to its state.
    pub(crate) discoveries: Vec<Option<Decided>>,
    pub(crate) coverage: Coverage,
}

/// Everything the workers share for one run.
pub(crate) struct Context<'a, M: Model> {
    pub(crate) model: &'a M,
    pub(crate) config: &'a CheckConfig,
    pub(crate) workers: usize,
    pub(crate) properties: Vec<Property<M>>,
    pub(crate) start: Instant,
    pub(crate) memo: Memo,
    // invariant: set once, together with `abort_reason`; workers poll it.
    abort: AtomicBool,
    abort_reason: Mutex<Option<StopReason>>,
    /// Estimated heap bytes per state, from a sample (updated at every depth).
    pub(crate) state_heap_bytes: AtomicU64,
}

/// Slot numbers of the built-in properties, after the model's.
pub(crate) const DEADLOCK: &str = "deadlock";
pub(crate) const LIVELOCK: &str = "livelock";
pub(crate) const STALL: &str = "stall";

impl<'a, M: Model> Context<'a, M> {
    pub(crate) fn new(model: &'a M, config: &'a CheckConfig) -> Self {
        Context {
            model,
            config,
            workers: config.workers.max(1),
            properties: model.properties(),
            start: Instant::now(),
            memo: Memo::default(),
            abort: AtomicBool::new(false),
            abort_reason: Mutex::new(None),
            state_heap_bytes: AtomicU64::new(0),
        }
    }

    /// Number of slots: the model's properties, then deadlock, livelock and stall.
    pub(crate) fn slots(&self) -> usize {
        self.properties.len() + 3
    }

    pub(crate) fn deadlock_slot(&self) -> usize {
        self.properties.len()
    }

    pub(crate) fn livelock_slot(&self) -> usize {
        self.properties.len() + 1
    }

    pub(crate) fn stall_slot(&self) -> usize {
        self.properties.len() + 2
    }

    /// Whether a run with these decided slots can learn nothing more.
    pub(crate) fn all_decided(&self, decided: &[bool]) -> bool {
        (0..self.slots()).all(|slot| {
            decided[slot]
                || (!self.config.liveness
                    && (slot == self.livelock_slot() || slot == self.stall_slot()))
        })
    }

    /// The seen-set key of `state`: the fingerprint of its representative with symmetry on.
    pub(crate) fn key(&self, state: &M::State) -> Fingerprint {
        if self.config.symmetry {
            fingerprint(&self.model.representative(state))
        } else {
            fingerprint(state)
        }
    }

    /// Ends the run as soon as the workers notice; the first reason given wins.
    pub(crate) fn abort(&self, reason: StopReason) {
        let mut slot = self.abort_reason.lock().expect("abort lock");
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.abort.store(true, Ordering::Release);
    }

    /// Whether the run must end (a limit was reached or the stop flag is set).
    pub(crate) fn aborted(&self) -> bool {
        if self.abort.load(Ordering::Acquire) {
            return true;
        }
        if self.config.stop.load(Ordering::Relaxed) {
            self.abort(StopReason::Stopped);
            return true;
        }
        false
    }

    pub(crate) fn abort_reason(&self) -> Option<StopReason> {
        *self.abort_reason.lock().expect("abort lock")
    }

    /// The largest number of states a progress search may hold, given the limits and the memory
    /// already in use; and the reason to give if a search needs more.
    pub(crate) fn search_budget(&self, used_bytes: u64) -> (usize, StopReason) {
        let mut budget = (usize::MAX, StopReason::MaxStates);
        if let Some(max) = self.config.max_states {
            budget.0 = usize::try_from(max).unwrap_or(usize::MAX);
        }
        if let Some(max) = self.config.max_memory_bytes {
            let per_state = std::mem::size_of::<M::State>() as u64
                + self.state_heap_bytes.load(Ordering::Relaxed)
                + 32;
            let states = max.saturating_sub(used_bytes) / per_state;
            let states = usize::try_from(states).unwrap_or(usize::MAX);
            if states < budget.0 {
                budget = (states, StopReason::MaxMemory);
            }
        }
        budget
    }

    /// Checks every undecided slot on `state`, found at position `pos` of the current depth,
    /// whose successors `successors` were just computed. `better` says whether a finding at
    /// `pos` could still win a slot (no smaller position has one at this depth).
    pub(crate) fn visit(
        &self,
        state: &M::State,
        pos: usize,
        has_successor: bool,
        better: &dyn Fn(usize) -> bool,
        used_bytes: u64,
        coverage: &mut Coverage,
        findings: &mut SlotFindings,
    ) {
        let model = self.model;
        for (slot, property) in self.properties.iter().enumerate() {
            if !better(slot) {
                continue;
            }
            let holds = (property.condition)(model, state);
            let kind = match (property.expectation, holds) {
                (Expectation::Always, false) => DiscoveryKind::Counterexample,
                (Expectation::Sometimes, true) => DiscoveryKind::Example,
                _ => continue,
            };
            record(findings, slot, pos, kind, None, Vec::new());
        }
        let slot = self.deadlock_slot();
        if !has_successor && better(slot) && !model.is_done(state) {
            record(
                findings,
                slot,
                pos,
                DiscoveryKind::Deadlock,
                None,
                Vec::new(),
            );
        }
        if !self.config.liveness {
            return;
        }
        let (livelock, stall) = (self.livelock_slot(), self.stall_slot());
        let mut agents = Vec::new();
        model.waiting(state, &mut agents);
        agents.sort_unstable();
        agents.dedup();
        let aborted = || self.aborted();
        let mut searcher: Option<Searcher<'_, M>> = None;
        for agent in agents {
            let need_livelock = better(livelock) && !has_finding_at(findings, livelock, pos);
            let need_stall = better(stall) && !has_finding_at(findings, stall, pos);
            if !need_livelock && !need_stall {
                break;
            }
            let searcher = searcher.get_or_insert_with(|| {
                let (budget, reason) = self.search_budget(used_bytes);
                Searcher::new(model, &self.memo, budget, reason, &aborted)
            });
            match searcher.check_agent(state, agent, need_livelock, need_stall, coverage) {
                Verdict::Proceeds => {}
                Verdict::Livelock { rescue } => {
                    let kind = DiscoveryKind::Livelock;
                    record(findings, livelock, pos, kind, Some(agent), rescue);
                }
                Verdict::Stall => {
                    record(
                        findings,
                        stall,
                        pos,
                        DiscoveryKind::Stall,
                        Some(agent),
                        vec![],
                    );
                }
                Verdict::Unknown(reason) => {
                    if let Some(reason) = reason {
                        self.abort(reason);
                    }
                    return;
                }
            }
        }
    }

    /// Builds the report: rebuilds every discovery's trace by replaying the model.
    pub(crate) fn report(&self, end: SearchEnd) -> Report<M> {
        let model = self.model;
        let mut discoveries = Vec::new();
        let names = self
            .properties
            .iter()
            .map(|p| p.name)
            .chain([DEADLOCK, LIVELOCK, STALL]);
        for (slot, (name, found)) in names.zip(&end.discoveries).enumerate() {
            let Some(decided) = found else {
                let never = slot < self.properties.len()
                    && self.properties[slot].expectation == Expectation::Sometimes
                    && end.outcome.is_complete();
                if never {
                    discoveries.push(Discovery {
                        property: name,
                        kind: DiscoveryKind::NeverSatisfied,
                        trace: None,
                        agent: None,
                        rescue: Vec::new(),
                        explanation: format!("`{name}` holds in no reachable state"),
                    });
                }
                continue;
            };
            let finding = &decided.finding;
            let trace = self.rebuild(decided);
            let explanation = match (finding.kind, finding.agent) {
                (_, Some(agent)) => model.explain_wait(trace.final_state(), agent),
                (DiscoveryKind::Counterexample, _) => {
                    format!("`{name}` is false in the final state")
                }
                (DiscoveryKind::Example, _) => format!("`{name}` holds in the final state"),
                _ => "no action is enabled and the model is not done".to_string(),
            };
            discoveries.push(Discovery {
                property: name,
                kind: finding.kind,
                trace: Some(trace),
                agent: finding.agent,
                rescue: finding.rescue.clone(),
                explanation,
            });
        }
        let unreached_labels = model
            .labels()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !end.coverage.contains(*i))
            .map(|(_, label)| label)
            .collect();
        let seconds = self.start.elapsed().as_secs_f64();
        Report {
            outcome: end.outcome,
            stats: Stats {
                initial_states: end.initial_states,
                states: end.initial_states + end.transitions,
                unique_states: end.unique_states,
                transitions: end.transitions,
                max_depth: end.max_depth,
                seconds,
                states_per_second: end.unique_states as f64 / seconds.max(1e-9),
            },
            discoveries,
            unreached_labels,
            collision_probability: collision_probability(end.unique_states),
        }
    }

    /// Replays a stored path. A path the search itself produced always replays unless the model
    /// breaks the determinism contract, which is a bug in the model: panic and say so.
    fn rebuild(&self, decided: &Decided) -> Trace<M> {
        const CAUSE: &str = "the model is not deterministic (see the determinism contract on \
                             `Model`): do `actions` or `next_state` depend on HashMap order, \
                             a clock or randomness?";
        let trace = match Trace::replay(self.model, decided.init, &decided.path) {
            Ok(trace) => trace,
            Err(e) => panic!("replaying a path found by the checker failed ({e}): {CAUSE}"),
        };
        assert_eq!(
            self.key(trace.final_state()),
            decided.key,
            "replaying the path {} reached another state than the search did: {CAUSE}",
            trace.to_token()
        );
        trace
    }
}

fn has_finding_at(findings: &SlotFindings, slot: usize, pos: usize) -> bool {
    findings[slot].as_ref().is_some_and(|(p, _)| *p <= pos)
}

/// Keeps the finding at the smallest position for `slot`.
fn record(
    findings: &mut SlotFindings,
    slot: usize,
    pos: usize,
    kind: DiscoveryKind,
    agent: Option<AgentId>,
    rescue: Vec<String>,
) {
    if findings[slot].as_ref().is_some_and(|(p, _)| *p <= pos) {
        return;
    }
    findings[slot] = Some((
        pos,
        Finding {
            kind,
            agent,
            rescue,
        },
    ));
}

/// Keeps, for each slot, the finding at the smaller position.
pub(crate) fn merge_findings(into: &mut SlotFindings, from: SlotFindings) {
    for (mine, theirs) in into.iter_mut().zip(from) {
        if let Some((pos, finding)) = theirs {
            if mine.as_ref().is_none_or(|(p, _)| pos < *p) {
                *mine = Some((pos, finding));
            }
        }
    }
}
