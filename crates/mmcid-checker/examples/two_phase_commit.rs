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
//! Run with `cargo run --release -p mmcid-checker --example two_phase_commit -- 5 [symmetry]
//! [workers=N]`. The state is packed into one 64-bit word, so successors cost no allocation.

use mmcid_checker::{check, CheckConfig, Coverage, Model, Property};

/// The largest number of resource managers the packed state has room for.
pub const MAX_RMS: usize = 14;

/// The system: how many resource managers take part.
pub struct TwoPhaseSys {
    /// Number of resource managers (at most [`MAX_RMS`]).
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

// Bit layout of a state: 2 bits per RM state, one bit per RM for "the TM received its
// prepared", one bit per RM for "its prepared message was sent", 2 bits of TM state, and the
// commit and abort messages.
const RM_BITS: u32 = 0;
const TM_PREPARED: u32 = 2 * MAX_RMS as u32;
const SENT: u32 = TM_PREPARED + MAX_RMS as u32;
const TM_BITS: u32 = SENT + MAX_RMS as u32;
const COMMIT_MSG: u32 = TM_BITS + 2;
const ABORT_MSG: u32 = COMMIT_MSG + 1;

/// The state of the whole system, packed into one word: no allocation to copy or hash it.
/// The message set is a set of bits, as in the TLA+ spec (a message once sent stays).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TwoPhaseState(u64);

impl TwoPhaseState {
    /// RM `rm`'s state.
    pub fn rm_state(self, rm: usize) -> RmState {
        match (self.0 >> (RM_BITS + 2 * rm as u32)) & 3 {
            0 => RmState::Working,
            1 => RmState::Prepared,
            2 => RmState::Committed,
            _ => RmState::Aborted,
        }
    }

    fn set_rm_state(&mut self, rm: usize, state: RmState) {
        let shift = RM_BITS + 2 * rm as u32;
        self.0 = (self.0 & !(3 << shift)) | ((state as u64) << shift);
    }

    /// The TM's state.
    pub fn tm_state(self) -> TmState {
        match (self.0 >> TM_BITS) & 3 {
            0 => TmState::Init,
            1 => TmState::Committed,
            _ => TmState::Aborted,
        }
    }

    fn set_tm_state(&mut self, state: TmState) {
        self.0 = (self.0 & !(3 << TM_BITS)) | ((state as u64) << TM_BITS);
    }

    fn bit(self, at: u32) -> bool {
        self.0 & (1 << at) != 0
    }

    /// Whether the TM has received RM `rm`'s "prepared".
    pub fn tm_prepared(self, rm: usize) -> bool {
        self.bit(TM_PREPARED + rm as u32)
    }

    /// Whether `message` has been sent.
    pub fn has(self, message: Message) -> bool {
        match message {
            Message::Prepared { rm } => self.bit(SENT + rm as u32),
            Message::Commit => self.bit(COMMIT_MSG),
            Message::Abort => self.bit(ABORT_MSG),
        }
    }

    fn send(&mut self, message: Message) {
        self.0 |= 1
            << match message {
                Message::Prepared { rm } => SENT + rm as u32,
                Message::Commit => COMMIT_MSG,
                Message::Abort => ABORT_MSG,
            };
    }

    fn all_rms(self, rms: usize, state: RmState) -> bool {
        (0..rms).all(|rm| self.rm_state(rm) == state)
    }

    fn any_rm(self, rms: usize, state: RmState) -> bool {
        (0..rms).any(|rm| self.rm_state(rm) == state)
    }
}

impl std::fmt::Debug for TwoPhaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rms = (0..MAX_RMS)
            .rev()
            .find(|&rm| {
                self.rm_state(rm) != RmState::Working
                    || self.0 & (0x4001 << (TM_PREPARED as usize + rm)) != 0
            })
            .map_or(0, |rm| rm + 1);
        let msgs: Vec<Message> = (0..MAX_RMS)
            .map(|rm| Message::Prepared { rm })
            .chain([Message::Commit, Message::Abort])
            .filter(|m| self.has(*m))
            .collect();
        f.debug_struct("TwoPhaseState")
            .field(
                "rm_state",
                &(0..rms).map(|rm| self.rm_state(rm)).collect::<Vec<_>>(),
            )
            .field("tm_state", &self.tm_state())
            .field(
                "tm_prepared",
                &(0..rms).map(|rm| self.tm_prepared(rm)).collect::<Vec<_>>(),
            )
            .field("msgs", &msgs)
            .finish()
    }
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
        assert!(
            self.rms <= MAX_RMS,
            "at most {MAX_RMS} resource managers fit in the packed state"
        );
        vec![TwoPhaseState(0)]
    }

    fn actions(&self, state: &TwoPhaseState, actions: &mut Vec<Action>) {
        let state = *state;
        let init = state.tm_state() == TmState::Init;
        if init && (0..self.rms).all(|rm| state.tm_prepared(rm)) {
            actions.push(Action::TmCommit);
        }
        if init {
            actions.push(Action::TmAbort);
        }
        let commit = state.has(Message::Commit);
        let abort = state.has(Message::Abort);
        for rm in 0..self.rms {
            if init && state.has(Message::Prepared { rm }) {
                actions.push(Action::TmRcvPrepared(rm));
            }
            if state.rm_state(rm) == RmState::Working {
                actions.push(Action::RmPrepare(rm));
                actions.push(Action::RmChooseToAbort(rm));
            }
            if commit {
                actions.push(Action::RmRcvCommitMsg(rm));
            }
            if abort {
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
        let mut state = *last;
        match *action {
            Action::TmRcvPrepared(rm) => state.0 |= 1 << (TM_PREPARED + rm as u32),
            Action::TmCommit => {
                state.set_tm_state(TmState::Committed);
                state.send(Message::Commit);
            }
            Action::TmAbort => {
                state.set_tm_state(TmState::Aborted);
                state.send(Message::Abort);
            }
            Action::RmPrepare(rm) => {
                state.set_rm_state(rm, RmState::Prepared);
                state.send(Message::Prepared { rm });
            }
            Action::RmChooseToAbort(rm) => state.set_rm_state(rm, RmState::Aborted),
            Action::RmRcvCommitMsg(rm) => state.set_rm_state(rm, RmState::Committed),
            Action::RmRcvAbortMsg(rm) => state.set_rm_state(rm, RmState::Aborted),
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::sometimes("abort agreement", |m: &Self, s: &TwoPhaseState| {
                s.all_rms(m.rms, RmState::Aborted)
            }),
            Property::sometimes("commit agreement", |m: &Self, s: &TwoPhaseState| {
                s.all_rms(m.rms, RmState::Committed)
            }),
            Property::always("consistent", |m: &Self, s: &TwoPhaseState| {
                !(s.any_rm(m.rms, RmState::Aborted) && s.any_rm(m.rms, RmState::Committed))
            }),
        ]
    }

    /// RMs are interchangeable: sort them by (state, prepared at the TM, "prepared" sent) and
    /// renumber them accordingly.
    fn representative(&self, s: &TwoPhaseState) -> TwoPhaseState {
        let mut rms = [(RmState::Working, false, false); MAX_RMS];
        for (rm, r) in rms.iter_mut().enumerate().take(self.rms) {
            *r = (
                s.rm_state(rm),
                s.tm_prepared(rm),
                s.has(Message::Prepared { rm }),
            );
        }
        rms[..self.rms].sort_unstable();
        let mut out = TwoPhaseState(s.0 & (0xf << TM_BITS));
        for (rm, &(state, prepared, sent)) in rms.iter().enumerate().take(self.rms) {
            out.set_rm_state(rm, state);
            if prepared {
                out.0 |= 1 << (TM_PREPARED + rm as u32);
            }
            if sent {
                out.send(Message::Prepared { rm });
            }
        }
        out
    }

    fn packed_words(&self) -> usize {
        1
    }

    fn pack(&self, state: &TwoPhaseState, words: &mut [u64]) {
        words[0] = state.0;
    }

    fn unpack(&self, words: &[u64]) -> TwoPhaseState {
        TwoPhaseState(words[0])
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rms = match args.first().map(|n| n.parse::<usize>()) {
        None => 3,
        Some(Ok(n)) if (1..=MAX_RMS).contains(&n) => n,
        Some(_) => {
            eprintln!("usage: two_phase_commit [RMS (1..={MAX_RMS})] [symmetry] [workers=N]");
            std::process::exit(2);
        }
    };
    let mut config = CheckConfig::default();
    for arg in &args[1.min(args.len())..] {
        if arg == "symmetry" {
            config.symmetry = true;
        } else if let Some(Ok(n)) = arg.strip_prefix("workers=").map(str::parse) {
            config.workers = n;
        } else {
            eprintln!("unknown argument `{arg}`");
            std::process::exit(2);
        }
    }
    let report = check(&TwoPhaseSys { rms }, &config);
    println!("{report}");
    println!(
        "fingerprint collision probability (TLC's estimate): {:.1e}",
        report.collision_probability
    );
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
    fn seven_resource_managers() {
        let report = run(7, false, 2);
        assert_eq!(report.outcome, Outcome::Complete);
        assert_eq!(report.stats.unique_states, 296_448);
        assert!(report.is_ok());
    }

    /// The same model without packing: the frontier keeps whole states.
    struct Unpacked(TwoPhaseSys);

    impl Model for Unpacked {
        type State = TwoPhaseState;
        type Action = Action;
        fn init_states(&self) -> Vec<TwoPhaseState> {
            self.0.init_states()
        }
        fn actions(&self, s: &TwoPhaseState, actions: &mut Vec<Action>) {
            self.0.actions(s, actions);
        }
        fn next_state(
            &self,
            s: &TwoPhaseState,
            a: &Action,
            c: &mut Coverage,
        ) -> Option<TwoPhaseState> {
            self.0.next_state(s, a, c)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::sometimes(
                "commit agreement",
                |m: &Self, s: &TwoPhaseState| s.all_rms(m.0.rms, RmState::Committed),
            )]
        }
    }

    #[test]
    fn packing_changes_nothing_but_memory() {
        let packed = run(5, false, 2);
        let unpacked = check(
            &Unpacked(TwoPhaseSys { rms: 5 }),
            &CheckConfig {
                workers: 2,
                ..CheckConfig::default()
            },
        );
        assert_eq!(packed.stats.unique_states, unpacked.stats.unique_states);
        assert_eq!(packed.stats.transitions, unpacked.stats.transitions);
        assert_eq!(packed.stats.max_depth, unpacked.stats.max_depth);
        let p = packed.discovery("commit agreement").unwrap().trace.as_ref();
        let u = unpacked
            .discovery("commit agreement")
            .unwrap()
            .trace
            .as_ref();
        assert_eq!(p.unwrap().to_token(), u.unwrap().to_token());
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
                if seen.insert(next) {
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
