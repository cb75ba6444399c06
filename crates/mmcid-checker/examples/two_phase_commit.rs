//! Two-phase commit, after Lamport's TLA+ `TwoPhase` specification and stateright's
//! `examples/2pc.rs`: a transaction manager (TM) and `R` resource managers (RMs) that exchange
//! messages, kept as a set (a message once sent can be received any number of times).
//!
//! The unique-state counts without symmetry are the ones stateright pins: 288 for three RMs and
//! 8 832 for five. With symmetry (RMs are interchangeable) five RMs give 314 states, the number
//! of symmetry classes among the 8 832 (a test checks this). Stateright pins 665 there because
//! its representative sorts RMs by their state only, which is not canonical (two states of one
//! class can have different representatives), so its count also depends on the search order.
//!
//! Run with `cargo run --release -p mmcid-checker --example two_phase_commit -- 5 [symmetry]`.

use std::collections::BTreeSet;

use mmcid_checker::{check, CheckConfig, Coverage, Model, Property};

/// The system: how many resource managers take part.
pub struct TwoPhaseSys {
    /// Number of resource managers.
    pub rms: usize,
}

/// A resource manager's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RmState {
    /// Working on the transaction.
    Working,
    /// Prepared to commit.
    Prepared,
    /// Committed.
    Committed,
    /// Aborted.
    Aborted,
}

/// The transaction manager's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TmState {
    /// Collecting "prepared" messages.
    Init,
    /// Decided to commit.
    Committed,
    /// Decided to abort.
    Aborted,
}

/// A message in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Message {
    /// An RM tells the TM it is prepared.
    Prepared {
        /// The RM.
        rm: usize,
    },
    /// The TM tells every RM to commit.
    Commit,
    /// The TM tells every RM to abort.
    Abort,
}

/// The state of the whole system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TwoPhaseState {
    rm_state: Vec<RmState>,
    tm_state: TmState,
    tm_prepared: Vec<bool>,
    msgs: BTreeSet<Message>,
}

/// One step of the TM or of an RM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The TM receives an RM's "prepared".
    TmRcvPrepared(usize),
    /// The TM decides to commit (every RM is prepared).
    TmCommit,
    /// The TM decides to abort.
    TmAbort,
    /// An RM prepares.
    RmPrepare(usize),
    /// An RM decides to abort on its own.
    RmChooseToAbort(usize),
    /// An RM receives "commit".
    RmRcvCommitMsg(usize),
    /// An RM receives "abort".
    RmRcvAbortMsg(usize),
}

impl Model for TwoPhaseSys {
    type State = TwoPhaseState;
    type Action = Action;

    fn init_states(&self) -> Vec<TwoPhaseState> {
        vec![TwoPhaseState {
            rm_state: vec![RmState::Working; self.rms],
            tm_state: TmState::Init,
            tm_prepared: vec![false; self.rms],
            msgs: BTreeSet::new(),
        }]
    }

    fn actions(&self, state: &TwoPhaseState, actions: &mut Vec<Action>) {
        if state.tm_state == TmState::Init && state.tm_prepared.iter().all(|p| *p) {
            actions.push(Action::TmCommit);
        }
        if state.tm_state == TmState::Init {
            actions.push(Action::TmAbort);
        }
        for rm in 0..self.rms {
            if state.tm_state == TmState::Init && state.msgs.contains(&Message::Prepared { rm }) {
                actions.push(Action::TmRcvPrepared(rm));
            }
            if state.rm_state[rm] == RmState::Working {
                actions.push(Action::RmPrepare(rm));
                actions.push(Action::RmChooseToAbort(rm));
            }
            if state.msgs.contains(&Message::Commit) {
                actions.push(Action::RmRcvCommitMsg(rm));
            }
            if state.msgs.contains(&Message::Abort) {
                actions.push(Action::RmRcvAbortMsg(rm));
            }
        }
    }

    fn next_state(
        &self,
        last: &TwoPhaseState,
        action: &Action,
        _: &mut Coverage,
    ) -> Option<TwoPhaseState> {
        let mut state = last.clone();
        match *action {
            Action::TmRcvPrepared(rm) => state.tm_prepared[rm] = true,
            Action::TmCommit => {
                state.tm_state = TmState::Committed;
                state.msgs.insert(Message::Commit);
            }
            Action::TmAbort => {
                state.tm_state = TmState::Aborted;
                state.msgs.insert(Message::Abort);
            }
            Action::RmPrepare(rm) => {
                state.rm_state[rm] = RmState::Prepared;
                state.msgs.insert(Message::Prepared { rm });
            }
            Action::RmChooseToAbort(rm) => state.rm_state[rm] = RmState::Aborted,
            Action::RmRcvCommitMsg(rm) => state.rm_state[rm] = RmState::Committed,
            Action::RmRcvAbortMsg(rm) => state.rm_state[rm] = RmState::Aborted,
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::sometimes("abort agreement", |_, s: &TwoPhaseState| {
                s.rm_state.iter().all(|r| *r == RmState::Aborted)
            }),
            Property::sometimes("commit agreement", |_, s: &TwoPhaseState| {
                s.rm_state.iter().all(|r| *r == RmState::Committed)
            }),
            Property::always("consistent", |_, s: &TwoPhaseState| {
                !(s.rm_state.contains(&RmState::Aborted)
                    && s.rm_state.contains(&RmState::Committed))
            }),
        ]
    }

    /// RMs are interchangeable: sort them by (state, prepared at the TM, "prepared" sent) and
    /// renumber the "prepared" messages accordingly.
    fn representative(&self, s: &TwoPhaseState) -> TwoPhaseState {
        let mut rms: Vec<(RmState, bool, bool)> = (0..self.rms)
            .map(|rm| {
                let sent = s.msgs.contains(&Message::Prepared { rm });
                (s.rm_state[rm], s.tm_prepared[rm], sent)
            })
            .collect();
        rms.sort_unstable();
        let mut msgs: BTreeSet<Message> = s
            .msgs
            .iter()
            .copied()
            .filter(|m| !matches!(m, Message::Prepared { .. }))
            .collect();
        msgs.extend(
            rms.iter()
                .enumerate()
                .filter(|(_, r)| r.2)
                .map(|(rm, _)| Message::Prepared { rm }),
        );
        TwoPhaseState {
            rm_state: rms.iter().map(|r| r.0).collect(),
            tm_state: s.tm_state,
            tm_prepared: rms.iter().map(|r| r.1).collect(),
            msgs,
        }
    }
}

fn main() {
    let rms = std::env::args()
        .nth(1)
        .map_or(3, |n| n.parse().expect("the number of resource managers"));
    let config = CheckConfig {
        symmetry: std::env::args().nth(2).as_deref() == Some("symmetry"),
        ..CheckConfig::default()
    };
    let report = check(&TwoPhaseSys { rms }, &config);
    println!("{report}");
    for d in &report.discoveries {
        println!("{}: {}", d.property, d.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmcid_checker::{DiscoveryKind, Outcome};

    fn run(rms: usize, symmetry: bool, workers: usize) -> mmcid_checker::Report<TwoPhaseSys> {
        let config = CheckConfig {
            symmetry,
            workers,
            ..CheckConfig::default()
        };
        check(&TwoPhaseSys { rms }, &config)
    }

    #[test]
    fn three_resource_managers() {
        let report = run(3, false, 2);
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.stats.unique_states, 288);
        assert!(report.is_ok(), "{:?}", report.discoveries);
        // Both agreements are reachable; consistency holds.
        assert_eq!(report.discoveries.len(), 2);
        for d in &report.discoveries {
            assert_eq!(d.kind, DiscoveryKind::Example);
        }
        let commit = report.discovery("commit agreement").unwrap();
        // 3 prepares, 3 receptions, the commit, 3 commit receptions.
        assert_eq!(commit.trace.as_ref().unwrap().len(), 10);
    }

    #[test]
    fn five_resource_managers() {
        for workers in [1, 2] {
            let report = run(5, false, workers);
            assert_eq!(report.stats.unique_states, 8_832);
            assert!(report.is_ok());
        }
    }

    #[test]
    fn five_resource_managers_with_symmetry() {
        let report = run(5, true, 2);
        assert_eq!(report.stats.unique_states, 314);
        assert!(report.is_ok());
    }

    /// The symmetric count is the number of classes: distinct representatives of all reachable
    /// states, found by a plain search over whole states.
    #[test]
    fn the_symmetric_count_is_the_number_of_classes() {
        let model = TwoPhaseSys { rms: 5 };
        let mut seen: std::collections::HashSet<TwoPhaseState> =
            model.init_states().into_iter().collect();
        let mut todo: Vec<TwoPhaseState> = seen.iter().cloned().collect();
        let mut actions = Vec::new();
        while let Some(s) = todo.pop() {
            actions.clear();
            model.actions(&s, &mut actions);
            for a in &actions {
                let next = model.next_state(&s, a, &mut Coverage::new()).unwrap();
                if seen.insert(next.clone()) {
                    todo.push(next);
                }
            }
        }
        assert_eq!(seen.len(), 8_832);
        let classes: std::collections::HashSet<_> =
            seen.iter().map(|s| model.representative(s)).collect();
        assert_eq!(classes.len(), 314);
    }
}
