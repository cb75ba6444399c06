//! A generic explicit-state model checker.
//!
//! Describe a system as a [`Model`]: its initial states, the actions enabled in a state, the
//! state each action leads to, and named [`Property`]s. [`check`] then explores every reachable
//! state breadth-first, in parallel, and returns a [`Report`] with, per property, a shortest
//! counterexample (or example) as a replayable [`Trace`].
//!
//! Besides the model's own properties, three progress properties are built in:
//!
//! - `deadlock`: a state with no enabled action that the model does not call done
//!   ([`Model::is_done`]);
//! - `livelock`: an agent waits ([`Model::waiting`]) and no continuation made of internal
//!   actions ([`ActionMeta::internal`]) gets it going, though some external action would; the
//!   report names those rescue actions;
//! - `stall`: an agent waits and no continuation at all gets it going.
//!
//! # Example
//!
//! Two threads increment a counter with a separate read and write, so an increment can be lost:
//!
//! ```
//! use mmcid_checker::{check, CheckConfig, Coverage, DiscoveryKind, Model, Property};
//!
//! struct Racy;
//!
//! /// (counter, per thread: 0 = will read, 1 = will write, 2 = done, and the value read).
//! type State = (u8, [(u8, u8); 2]);
//!
//! impl Model for Racy {
//!     type State = State;
//!     type Action = usize; // the thread that steps
//!
//!     fn init_states(&self) -> Vec<State> {
//!         vec![(0, [(0, 0); 2])]
//!     }
//!
//!     fn actions(&self, s: &State, actions: &mut Vec<usize>) {
//!         actions.extend((0..2).filter(|&t| s.1[t].0 < 2));
//!     }
//!
//!     fn next_state(&self, s: &State, &t: &usize, _: &mut Coverage) -> Option<State> {
//!         let mut next = *s;
//!         match s.1[t].0 {
//!             0 => next.1[t] = (1, s.0),    // read the counter
//!             _ => {
//!                 next.0 = s.1[t].1 + 1;    // write what was read, plus one
//!                 next.1[t].0 = 2;
//!             }
//!         }
//!         Some(next)
//!     }
//!
//!     fn properties(&self) -> Vec<Property<Self>> {
//!         vec![Property::always("final-count", |_, s: &State| {
//!             s.1.iter().any(|t| t.0 < 2) || s.0 == 2
//!         })]
//!     }
//!
//!     fn is_done(&self, s: &State) -> bool {
//!         s.1.iter().all(|t| t.0 == 2)
//!     }
//! }
//!
//! let report = check(&Racy, &CheckConfig::default());
//! assert!(report.outcome.is_complete());
//! assert!(!report.is_ok());
//! let found = report.discovery("final-count").unwrap();
//! assert_eq!(found.kind, DiscoveryKind::Counterexample);
//! // Both threads read 0 before either writes: four steps, the shortest way to lose an update.
//! let trace = found.trace.as_ref().unwrap();
//! assert_eq!(trace.to_token(), "0/0/1/0/0");
//! assert_eq!(trace.final_state().0, 1);
//! println!("{report}\n{}", trace.display(&Racy));
//! ```
//!
//! A token such as `0/0/1/0/0` (initial state 0, then the enabled actions number 0, 1, 0, 0)
//! reprints the trace later: [`Trace::from_token`].
//!
//! # Determinism
//!
//! For a deterministic model (see [`Model`]'s determinism contract), the verdicts, the state
//! counts, the depth and the traces of a complete run do not depend on the number of workers or
//! on timing: each discovery is the lexicographically smallest shortest path (initial-state
//! index, then action indices) to a state with that finding. The docs of the private `bfs`
//! module explain why.
//!
//! # Limitations
//!
//! - States are stored as 64-bit fingerprints. Two distinct states with the same fingerprint
//!   make the checker skip the second and everything only reachable through it. The report
//!   estimates the probability ([`Report::collision_probability`]); it is tiny below a few
//!   hundred million states.
//! - Symmetry reduction is only sound if [`Model::representative`] maps states that are
//!   interchangeable for every property, waiting agent and action kind; the checker cannot
//!   verify that. Only one member of each class is explored and checked.
//! - `livelock` and `stall` are about one waiting agent in one state: "from here, internal
//!   actions (or any actions) never let it stop waiting". There is no fairness and no general
//!   `eventually` (temporal) property. An agent that may wait forever on one path but is
//!   always able to proceed is not reported.
//! - A state whose only actions return `None` from [`Model::next_state`] counts as having no
//!   enabled action (so it may be a `deadlock`).
//! - An incomplete run (a limit, the stop flag, or every property already decided) proves
//!   nothing about properties without a discovery, and its unreached labels are not final. When
//!   a limit cuts a depth in the middle, which discoveries of that last depth are found may
//!   depend on the number of workers.
//! - Progress searches run once per waiting agent per state. They are memoised, but a model
//!   where many states wait and escapes are far away can make them dominate the run time;
//!   [`CheckConfig::liveness`] turns them off (with `deadlock`).
//! - Memory is an estimate (seen-set, frontier, candidate states, memo, and what a packing
//!   model reports with [`Model::side_bytes`]), not a measurement, and the heap part of an
//!   unpacked state is estimated from the bytes its `Hash` feeds.
#![warn(missing_docs)]

mod bfs;
mod explore;
mod fingerprint;
mod liveness;
mod mapped;
mod model;
mod report;
mod simulate;
#[cfg(test)]
mod test_models;
mod trace;

pub use explore::{check, CheckConfig, Progress, ProgressFn};
pub use fingerprint::{fingerprint, Fingerprint, StableHasher};
pub use model::{ActionMeta, AgentId, Coverage, Expectation, Model, Property};
pub use report::{Discovery, DiscoveryKind, Outcome, Report, Stats, StopReason};
pub use simulate::{
    simulate, NoHooks, Scheduler, SimConfig, SimFinding, SimHooks, SimOutcome, SimReport, SimRng,
};
pub use trace::{ReplayError, Trace, TraceDisplay};
