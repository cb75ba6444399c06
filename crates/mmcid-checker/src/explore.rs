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
    /// Check the built-in progress properties `deadlock`, `livelock` and `stall`. Default: on.
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
    pub progress: Option<Arc<ProgressFn>>,
    /// Go on after the first failure (to find one discovery per property). When `false`, the
    /// run ends with [`StopReason::FailureFound`] once the depth at which a failure was found
    /// has been explored completely, so every failure at that (shortest) depth is reported.
    pub keep_going: bool,
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
            keep_going: true,
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
            .field("keep_going", &self.keep_going)
            .finish()
    }
}

/// The type of [`CheckConfig::progress`].
pub type ProgressFn = dyn Fn(&Progress) + Send + Sync;

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

/// Where a visited state stands.
pub(crate) struct Visit<'v> {
    /// Its position in the frontier of its depth.
    pub(crate) pos: usize,
    /// Whether some action leads out of it.
    pub(crate) has_successor: bool,
    /// Whether a finding at `pos` could still win a slot: the slot is undecided and no smaller
    /// position of this depth has a finding.
    pub(crate) better: &'v dyn Fn(usize) -> bool,
    /// The checker's estimated memory use.
    pub(crate) used_bytes: u64,
}

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
        let properties = model.properties();
        let mut names: Vec<&str> = properties.iter().map(|p| p.name).collect();
        names.extend([DEADLOCK, LIVELOCK, STALL]);
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            panic!(
                "property name `{}` is used twice (`deadlock`, `livelock` and `stall` are \
                 built in): reports find discoveries by name, so names must be unique",
                pair[0]
            );
        }
        Context {
            model,
            config,
            workers: config.workers.max(1),
            properties,
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

    /// Whether a discovery in `slot` is a failure (an `always` property or a progress check;
    /// not a `sometimes` example).
    pub(crate) fn is_failure_slot(&self, slot: usize) -> bool {
        self.properties
            .get(slot)
            .is_none_or(|p| p.expectation == crate::Expectation::Always)
    }

    /// Whether a run with these decided slots can learn nothing more about properties. A run
    /// with nothing to check at all goes on (for the counts and the unreached labels).
    pub(crate) fn all_decided(&self, decided: &[bool]) -> bool {
        let active = |slot: &usize| self.config.liveness || *slot < self.properties.len();
        let mut slots = (0..self.slots()).filter(active).peekable();
        slots.peek().is_some() && slots.all(|slot| decided[slot])
    }

    /// The seen-set key of `state`: the fingerprint of its representative with symmetry on.
    pub(crate) fn key(&self, state: &M::State) -> Fingerprint {
        if self.config.symmetry {
            self.model.representative_fingerprint(state)
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

    /// Checks every undecided slot on `state`, described by `at`.
    pub(crate) fn visit(
        &self,
        state: &M::State,
        at: Visit<'_>,
        coverage: &mut Coverage,
        findings: &mut SlotFindings,
    ) {
        let Visit {
            pos,
            has_successor,
            better,
            used_bytes,
        } = at;
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
        if !self.config.liveness {
            return;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::{
        naive, summary, LockOrder, Mutexes, RacyCounter, Release, Spinner, Swapped,
    };
    use crate::{fingerprint, Outcome};

    fn config(workers: usize) -> CheckConfig {
        CheckConfig {
            workers,
            ..CheckConfig::default()
        }
    }

    /// Every discovery replays from its token to the same states (shuttle's determinism check).
    fn assert_replays<M: Model>(model: &M, report: &Report<M>) {
        for d in &report.discoveries {
            let Some(trace) = &d.trace else { continue };
            let again = Trace::from_token(model, &trace.to_token()).unwrap();
            let fps = |t: &Trace<M>| t.states().iter().map(fingerprint).collect::<Vec<_>>();
            assert_eq!(fps(trace), fps(&again), "{}", d.property);
        }
    }

    #[test]
    fn racy_counter_loses_an_update_in_four_steps() {
        let model = RacyCounter { threads: 2 };
        let report = check(&model, &config(2));
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.stats.unique_states, 12);
        assert_eq!(report.stats.max_depth, 4);
        let d = report.discovery("final-count").unwrap();
        assert_eq!(d.kind, DiscoveryKind::Counterexample);
        let trace = d.trace.as_ref().unwrap();
        // T0 reads, T1 reads, T0 writes, T1 writes: the smallest shortest path.
        assert_eq!(trace.to_token(), "0/0/1/0/0");
        assert_eq!(trace.final_state().counter, 1);
        assert_eq!(d.explanation, "`final-count` is false in the final state");
        let e = report.discovery("all-done").unwrap();
        assert_eq!(e.kind, DiscoveryKind::Example);
        assert_eq!(e.trace.as_ref().unwrap().len(), 4);
        assert!(report.discovery("deadlock").is_none());
        assert!(!report.is_ok());
        assert_replays(&model, &report);
    }

    #[test]
    fn racy_counter_with_three_threads() {
        let model = RacyCounter { threads: 3 };
        let report = check(&model, &config(2));
        assert_eq!(report.stats.unique_states, naive(&model, false).unique);
        let trace = report
            .discovery("final-count")
            .unwrap()
            .trace
            .clone()
            .unwrap();
        // Two threads read 0 and write 1, then the third increments: 6 steps.
        assert_eq!(trace.len(), 6);
        assert_replays(&model, &report);
    }

    #[test]
    fn counts_match_the_naive_search() {
        fn same<M: Model>(model: &M, symmetry: bool) {
            let c = CheckConfig {
                symmetry,
                ..config(2)
            };
            let report = check(model, &c);
            let expected = naive(model, symmetry);
            assert_eq!(report.outcome, Outcome::Complete);
            assert_eq!(report.stats.unique_states, expected.unique);
            assert_eq!(report.stats.transitions, expected.transitions);
            assert_eq!(report.stats.max_depth, expected.depth);
        }
        same(&RacyCounter { threads: 3 }, false);
        same(&LockOrder, false);
        same(&Spinner::new(Release::External), false);
        let mutexes = Mutexes {
            procs: 3,
            rounds: 2,
            buggy: false,
        };
        same(&mutexes, false);
        same(&mutexes, true);
        same(&Swapped, true);
    }

    #[test]
    fn lock_order_deadlocks_after_two_steps() {
        let report = check(&LockOrder, &config(2));
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.stats.unique_states, 13);
        assert_eq!(report.discoveries.len(), 1);
        let d = report.discovery("deadlock").unwrap();
        assert_eq!(d.kind, DiscoveryKind::Deadlock);
        // T0 takes A, T1 takes B.
        let trace = d.trace.as_ref().unwrap();
        assert_eq!(trace.to_token(), "0/0/1");
        assert_eq!(trace.final_state().owner, [Some(0), Some(1)]);
        assert_replays(&LockOrder, &report);
    }

    #[test]
    fn every_property_decided_ends_the_run_early() {
        let c = CheckConfig {
            liveness: false,
            ..config(1)
        };
        // The only property fails at depth 2 of 4.
        let report = check(&Swapped, &c);
        assert_eq!(report.outcome, Outcome::Incomplete(StopReason::AllDecided));
        assert!(report.discovery("not-one-one").is_some());
        assert_eq!(report.stats.max_depth, 2);
        // Nothing to check at all: the run still explores everything.
        let report = check(&LockOrder, &c);
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.stats.unique_states, 13);
    }

    #[test]
    fn a_spinner_nothing_releases_is_a_stall() {
        let model = Spinner::new(Release::Never);
        let report = check(&model, &config(2));
        assert_eq!(report.stats.unique_states, 6);
        assert_eq!(report.discoveries.len(), 1, "{:?}", summary(&report));
        let d = report.discovery("stall").unwrap();
        assert_eq!(d.kind, DiscoveryKind::Stall);
        assert_eq!(d.agent, Some(AgentId(0)));
        assert_eq!(d.trace.as_ref().unwrap().to_token(), "0");
        assert_eq!(d.explanation, "T0 spins until the flag is set");
        assert!(d.rescue.is_empty());
    }

    #[test]
    fn a_spinner_released_internally_is_fine() {
        let model = Spinner::new(Release::Internal);
        let report = check(&model, &config(2));
        assert_eq!(report.stats.unique_states, 10);
        assert!(report.is_ok(), "{:?}", summary(&report));
        assert!(report.discoveries.is_empty());
    }

    #[test]
    fn a_spinner_only_a_wake_up_releases_is_a_livelock() {
        let model = Spinner::new(Release::External);
        let report = check(&model, &config(2));
        assert_eq!(report.stats.unique_states, 10);
        assert_eq!(report.discoveries.len(), 1, "{:?}", summary(&report));
        let d = report.discovery("livelock").unwrap();
        assert_eq!(d.kind, DiscoveryKind::Livelock);
        assert_eq!(d.agent, Some(AgentId(0)));
        // The noise is external too but does not help: only the wake-up is named.
        assert_eq!(d.rescue, ["T1 wake T0"]);
        assert_eq!(d.trace.as_ref().unwrap().to_token(), "0");
    }

    #[test]
    fn without_a_single_rescue_the_first_external_steps_are_named() {
        // T0 needs a knock and then a wake-up: no single external action rescues it, so the
        // first external action of every escape path is listed (the noise is one: noise,
        // knock, wake-up).
        let model = Spinner::new(Release::AfterKnock);
        let report = check(&model, &config(2));
        let d = report.discovery("livelock").unwrap();
        assert_eq!(d.rescue, ["T1 knock", "T1 noise"]);
        assert!(report.discovery("stall").is_none());
    }

    #[test]
    fn properties_are_checked_on_initial_states() {
        // No rounds: everything is done at once, and nothing is enabled (not a deadlock).
        let model = Mutexes {
            procs: 2,
            rounds: 0,
            buggy: false,
        };
        let report = check(&model, &config(2));
        assert_eq!(report.stats.unique_states, 1);
        assert_eq!(report.stats.max_depth, 0);
        let d = report.discovery("all-done").unwrap();
        assert_eq!(d.kind, DiscoveryKind::Example);
        assert_eq!(d.trace.as_ref().unwrap().to_token(), "0");
        assert!(report.discovery("deadlock").is_none());
    }

    #[test]
    #[should_panic(expected = "property name `deadlock` is used twice")]
    fn property_names_must_be_unique() {
        struct Clash;
        impl Model for Clash {
            type State = u8;
            type Action = u8;
            fn init_states(&self) -> Vec<u8> {
                vec![0]
            }
            fn actions(&self, _: &u8, _: &mut Vec<u8>) {}
            fn next_state(&self, _: &u8, _: &u8, _: &mut Coverage) -> Option<u8> {
                None
            }
            fn properties(&self) -> Vec<Property<Self>> {
                vec![Property::always("deadlock", |_, _: &u8| true)]
            }
        }
        check(&Clash, &config(1));
    }

    #[test]
    fn liveness_can_be_turned_off() {
        let c = CheckConfig {
            liveness: false,
            ..config(2)
        };
        let report = check(&Spinner::new(Release::Never), &c);
        assert!(report.is_ok(), "{:?}", summary(&report));
        assert_eq!(report.stats.unique_states, 6);
        // Deadlock is a progress check too.
        let report = check(&LockOrder, &c);
        assert!(report.is_ok(), "{:?}", summary(&report));
    }

    #[test]
    fn a_sometimes_property_never_satisfied_is_a_failure() {
        let model = Mutexes {
            procs: 2,
            rounds: 1,
            buggy: false,
        };
        let report = check(&model, &config(2));
        assert_eq!(report.outcome, Outcome::Complete);
        let d = report.discovery("two-critical").unwrap();
        assert_eq!(d.kind, DiscoveryKind::NeverSatisfied);
        assert!(d.trace.is_none());
        assert!(!report.is_ok());
        assert_eq!(report.failures().count(), 1);
    }

    #[test]
    fn unreached_labels_are_reported_in_label_order() {
        let report = check(&RacyCounter { threads: 2 }, &config(2));
        assert!(report.unreached_labels_are_final());
        assert_eq!(report.unreached_labels, ["overflow"]);
    }

    #[test]
    fn symmetry_reduces_states_and_keeps_verdicts() {
        for buggy in [false, true] {
            let model = Mutexes {
                procs: 3,
                rounds: 2,
                buggy,
            };
            let plain = check(&model, &config(2));
            let sym = check(
                &model,
                &CheckConfig {
                    symmetry: true,
                    ..config(2)
                },
            );
            if !buggy {
                assert_eq!(plain.stats.unique_states, 81);
                assert_eq!(sym.stats.unique_states, 22);
            }
            let kinds = |r: &Report<Mutexes>| {
                r.discoveries
                    .iter()
                    .map(|d| (d.property, d.kind, d.trace.as_ref().map(Trace::len)))
                    .collect::<Vec<_>>()
            };
            assert_eq!(kinds(&plain), kinds(&sym));
            assert_eq!(plain.discovery("mutual-exclusion").is_some(), buggy);
            assert_replays(&model, &sym);
        }
    }

    /// Regression test for continuing a path from the representative instead of the original
    /// successor (stateright's "IMPORTANT" comment): the stored action indices would then be
    /// relative to states the replay never visits.
    #[test]
    fn symmetry_continues_from_the_original_state() {
        let c = CheckConfig {
            symmetry: true,
            ..config(2)
        };
        let report = check(&Swapped, &c);
        assert_eq!(report.stats.unique_states, 6);
        let trace = report
            .discovery("not-one-one")
            .unwrap()
            .trace
            .clone()
            .unwrap();
        // [0, 0] to [1, 0] (action 0), then action 1 (increment counter 1) to [1, 1]. From the
        // representative [0, 1] it would be action 0, which replays to [2, 0].
        assert_eq!(trace.to_token(), "0/0/1");
        assert_eq!(*trace.final_state(), [1, 1]);
        assert_replays(&Swapped, &report);
    }
}
