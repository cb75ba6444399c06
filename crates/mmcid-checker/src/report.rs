//! The result of a run: outcome, statistics and discoveries. No IO: `mmcid-cli` prints it.

use std::fmt;

use crate::model::{AgentId, Model};
use crate::trace::Trace;

/// Why a run ended before the reachable state space was exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// [`crate::CheckConfig::max_states`] unique states were found.
    MaxStates,
    /// The estimated memory use reached [`crate::CheckConfig::max_memory_bytes`].
    MaxMemory,
    /// States deeper than [`crate::CheckConfig::max_depth`] exist but were not explored.
    MaxDepth,
    /// The stop flag ([`crate::CheckConfig::stop`]) was set.
    Stopped,
    /// Every property already had a discovery, so nothing more could be learned.
    AllDecided,
    /// A failure was found and [`crate::CheckConfig::keep_going`] is off: the run ended after
    /// the depth of the first failure.
    FailureFound,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::MaxStates => "the maximum number of states was reached",
            StopReason::MaxMemory => "the memory limit was reached",
            StopReason::MaxDepth => "the maximum depth was reached",
            StopReason::Stopped => "the run was stopped",
            StopReason::AllDecided => "every property already has a discovery",
            StopReason::FailureFound => "stopped after the depth of the first failure",
        })
    }
}

/// Whether the whole reachable state space was explored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Every reachable state was explored: a property without a counterexample holds.
    Complete,
    /// The run ended early; properties without a discovery are unknown, not proven.
    Incomplete(StopReason),
}

impl Outcome {
    /// Whether every reachable state was explored.
    pub fn is_complete(&self) -> bool {
        matches!(self, Outcome::Complete)
    }
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Distinct initial states (after symmetry reduction, if on).
    pub initial_states: u64,
    /// States generated, duplicates included: initial states plus transitions.
    pub states: u64,
    /// Distinct states found (representatives, with symmetry on).
    pub unique_states: u64,
    /// Transitions (edges) explored by the main search.
    pub transitions: u64,
    /// The largest depth (number of steps from an initial state) of an explored state.
    pub max_depth: usize,
    /// Wall-clock time of the run.
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
}

/// What kind of finding a [`Discovery`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscoveryKind {
    /// An `always` property fails in the trace's final state.
    Counterexample,
    /// A `sometimes` property holds in the trace's final state (not a failure).
    Example,
    /// A `sometimes` property holds in no reachable state (complete runs only; no trace).
    NeverSatisfied,
    /// In the final state an agent waits and only external actions can get it going.
    Livelock,
    /// In the final state an agent waits and no continuation at all gets it going.
    Stall,
    /// The final state has no enabled action and the model is not done.
    Deadlock,
}

impl DiscoveryKind {
    /// Whether this kind means that something is wrong (everything but [`DiscoveryKind::Example`]).
    pub fn is_failure(&self) -> bool {
        !matches!(self, DiscoveryKind::Example)
    }
}

impl fmt::Display for DiscoveryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiscoveryKind::Counterexample => "counterexample",
            DiscoveryKind::Example => "example",
            DiscoveryKind::NeverSatisfied => "never satisfied",
            DiscoveryKind::Livelock => "livelock",
            DiscoveryKind::Stall => "stall",
            DiscoveryKind::Deadlock => "deadlock",
        })
    }
}

/// One finding about one property: a counterexample, an example or a progress violation.
pub struct Discovery<M: Model> {
    /// The property's name (`livelock`, `stall` and `deadlock` for the built-in ones).
    pub property: &'static str,
    /// What was found.
    pub kind: DiscoveryKind,
    /// A shortest path to the state in question; `None` for [`DiscoveryKind::NeverSatisfied`].
    pub trace: Option<Trace<M>>,
    /// The waiting agent, for livelocks and stalls.
    pub agent: Option<AgentId>,
    /// For livelocks: the external actions that get the agent going again, formatted with
    /// [`Model::format_action`], sorted, at most eight (then a last "… more" entry).
    pub rescue: Vec<String>,
    /// A sentence for people: why the agent waits ([`Model::explain_wait`]), or what failed.
    pub explanation: String,
}

impl<M: Model> Clone for Discovery<M> {
    fn clone(&self) -> Self {
        Discovery {
            property: self.property,
            kind: self.kind,
            trace: self.trace.clone(),
            agent: self.agent,
            rescue: self.rescue.clone(),
            explanation: self.explanation.clone(),
        }
    }
}

impl<M: Model> fmt::Debug for Discovery<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovery")
            .field("property", &self.property)
            .field("kind", &self.kind)
            .field("trace", &self.trace)
            .field("agent", &self.agent)
            .field("rescue", &self.rescue)
            .field("explanation", &self.explanation)
            .finish()
    }
}

/// The result of [`crate::check`].
pub struct Report<M: Model> {
    /// Whether the reachable state space was exhausted.
    pub outcome: Outcome,
    /// Counters.
    pub stats: Stats,
    /// At most one discovery per property: the model's properties in declaration order, then
    /// `deadlock`, `livelock` and `stall`.
    pub discoveries: Vec<Discovery<M>>,
    /// Labels of [`Model::labels`] that no explored transition hit, in label order. Only
    /// meaningful when the outcome is [`Outcome::Complete`]; see
    /// [`Report::unreached_labels_are_final`].
    pub unreached_labels: Vec<String>,
    /// Estimated probability that two distinct states shared a fingerprint, so that states were
    /// missed: n²/2⁶⁵ for n unique states, as TLC estimates it.
    pub collision_probability: f64,
}

impl<M: Model> Report<M> {
    /// No failure was found and the run was complete. An incomplete run is never ok, even
    /// without a discovery, since unexplored states may hold a failure.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_complete() && self.failures().next().is_none()
    }

    /// The discovery for the property named `name`, if any.
    pub fn discovery(&self, name: &str) -> Option<&Discovery<M>> {
        self.discoveries.iter().find(|d| d.property == name)
    }

    /// The discoveries that are failures (all but examples of `sometimes` properties).
    pub fn failures(&self) -> impl Iterator<Item = &Discovery<M>> {
        self.discoveries.iter().filter(|d| d.kind.is_failure())
    }

    /// Whether [`Report::unreached_labels`] is final: a label missing from an incomplete run
    /// might still be reached by the unexplored states.
    pub fn unreached_labels_are_final(&self) -> bool {
        self.outcome.is_complete()
    }
}

impl<M: Model> fmt::Debug for Report<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("outcome", &self.outcome)
            .field("stats", &self.stats)
            .field("discoveries", &self.discoveries)
            .field("unreached_labels", &self.unreached_labels)
            .field("collision_probability", &self.collision_probability)
            .finish()
    }
}

/// The summary line, as stateright prints it: `Done. states=…, unique=…, transitions=…,
/// depth=…, sec=…, states/s=…` (`Stopped.` instead of `Done.` for an incomplete run).
impl<M: Model> fmt::Display for Report<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let word = if self.outcome.is_complete() {
            "Done"
        } else {
            "Stopped"
        };
        write!(
            f,
            "{word}. states={}, unique={}, transitions={}, depth={}, sec={:.3}, states/s={:.0}",
            s.states, s.unique_states, s.transitions, s.max_depth, s.seconds, s.states_per_second
        )?;
        if let Outcome::Incomplete(reason) = self.outcome {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

/// TLC's estimate of the probability of a fingerprint collision among `unique` states.
pub(crate) fn collision_probability(unique: u64) -> f64 {
    let n = unique as f64;
    n * n / 2f64.powi(65)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::RacyCounter;

    fn report(outcome: Outcome, kinds: &[DiscoveryKind]) -> Report<RacyCounter> {
        Report {
            outcome,
            stats: Stats {
                initial_states: 1,
                states: 30,
                unique_states: 20,
                transitions: 29,
                max_depth: 6,
                seconds: 0.5,
                states_per_second: 40.0,
            },
            discoveries: kinds
                .iter()
                .map(|&kind| Discovery {
                    property: "p",
                    kind,
                    trace: None,
                    agent: None,
                    rescue: Vec::new(),
                    explanation: String::new(),
                })
                .collect(),
            unreached_labels: Vec::new(),
            collision_probability: collision_probability(20),
        }
    }

    #[test]
    fn summary_line() {
        let r = report(Outcome::Complete, &[]);
        assert_eq!(
            r.to_string(),
            "Done. states=30, unique=20, transitions=29, depth=6, sec=0.500, states/s=40"
        );
        let r = report(Outcome::Incomplete(StopReason::MaxStates), &[]);
        assert!(r.to_string().starts_with("Stopped. "));
        assert!(r
            .to_string()
            .ends_with("(the maximum number of states was reached)"));
    }

    #[test]
    fn ok_needs_a_complete_run_without_failures() {
        assert!(report(Outcome::Complete, &[DiscoveryKind::Example]).is_ok());
        assert!(!report(Outcome::Complete, &[DiscoveryKind::Stall]).is_ok());
        assert!(!report(Outcome::Incomplete(StopReason::Stopped), &[]).is_ok());
        let r = report(Outcome::Complete, &[DiscoveryKind::Deadlock]);
        assert_eq!(r.discovery("p").unwrap().kind, DiscoveryKind::Deadlock);
        assert!(r.discovery("q").is_none());
    }

    #[test]
    fn collision_probability_matches_tlc_formula() {
        assert_eq!(collision_probability(0), 0.0);
        // 2^32 states: 2^64 / 2^65 = 1/2.
        assert_eq!(collision_probability(1 << 32), 0.5);
    }
}
