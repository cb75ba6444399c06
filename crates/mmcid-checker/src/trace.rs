//! Traces: a path through the state space, stored as indices and rebuilt by replaying the model.
//!
//! The checker keeps only parent links (as stateright does), so a path is an initial-state index
//! followed by action indices: index `k` at step `i` is the `k`th action that [`Model::actions`]
//! returns in the state before step `i`. [`Trace::replay`] turns such a path back into states and
//! actions, and fails with the step at fault if the path does not fit the model (a corrupt token,
//! a changed model, or a model that breaks the determinism contract).
//!
//! The compact token form `"<init>/<a1>/<a2>/..."` ([`Trace::to_token`], [`Trace::from_token`])
//! is what a user copies from a report to reprint a counterexample later.

use std::fmt;

use crate::model::{Coverage, Model};

/// A path from an initial state, with every state and action rebuilt.
pub struct Trace<M: Model> {
    init_index: usize,
    // invariant: `states.len() == actions.len() + 1 == action_indices.len() + 1`; `states[i + 1]`
    // is `next_state(states[i], actions[i])` and `actions[i]` is enabled action number
    // `action_indices[i]` of `states[i]`.
    action_indices: Vec<usize>,
    states: Vec<M::State>,
    actions: Vec<M::Action>,
}

impl<M: Model> Clone for Trace<M> {
    fn clone(&self) -> Self {
        Trace {
            init_index: self.init_index,
            action_indices: self.action_indices.clone(),
            states: self.states.clone(),
            actions: self.actions.clone(),
        }
    }
}

impl<M: Model> fmt::Debug for Trace<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("token", &self.to_token())
            .field("actions", &self.actions)
            .finish()
    }
}

impl<M: Model> PartialEq for Trace<M> {
    fn eq(&self, other: &Self) -> bool {
        self.init_index == other.init_index && self.action_indices == other.action_indices
    }
}

/// Why a path could not be replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The token is not of the form `<init>/<a1>/<a2>/...` with decimal numbers.
    BadToken {
        /// The token as given.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The initial-state index is out of range.
    NoSuchInitState {
        /// The index asked for.
        index: usize,
        /// How many initial states the model has.
        count: usize,
    },
    /// The action index at `step` (1-based) is out of range of the enabled actions.
    NoSuchAction {
        /// The step, counting from 1.
        step: usize,
        /// The index asked for.
        index: usize,
        /// How many actions are enabled in the state before the step.
        enabled: usize,
    },
    /// The action at `step` (1-based) is enabled but [`Model::next_state`] returned `None`.
    NoNextState {
        /// The step, counting from 1.
        step: usize,
        /// The action, as [`Model::format_action`] names it.
        action: String,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::BadToken { token, reason } => {
                write!(f, "bad trace token {token:?}: {reason}")
            }
            ReplayError::NoSuchInitState { index, count } => write!(
                f,
                "initial state {index} does not exist (the model has {count}); \
                 was the token made with another model configuration?"
            ),
            ReplayError::NoSuchAction {
                step,
                index,
                enabled,
            } => write!(
                f,
                "step {step}: action {index} does not exist ({enabled} enabled); the model \
                 configuration differs from the run that made this trace, or the model is \
                 not deterministic"
            ),
            ReplayError::NoNextState { step, action } => write!(
                f,
                "step {step}: action `{action}` has no next state; the model configuration \
                 differs from the run that made this trace, or the model is not deterministic"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

impl<M: Model> Trace<M> {
    /// Rebuilds the path that starts in initial state `init_index` and takes, at each step, the
    /// enabled action with the given index.
    pub fn replay(
        model: &M,
        init_index: usize,
        action_indices: &[usize],
    ) -> Result<Trace<M>, ReplayError> {
        let mut inits = model.init_states();
        let count = inits.len();
        if init_index >= count {
            return Err(ReplayError::NoSuchInitState {
                index: init_index,
                count,
            });
        }
        let mut state = inits.swap_remove(init_index);
        let mut states = Vec::with_capacity(action_indices.len() + 1);
        let mut actions = Vec::with_capacity(action_indices.len());
        let mut enabled = Vec::new();
        let mut coverage = Coverage::new();
        for (i, &index) in action_indices.iter().enumerate() {
            enabled.clear();
            model.actions(&state, &mut enabled);
            let Some(action) = enabled.get(index) else {
                return Err(ReplayError::NoSuchAction {
                    step: i + 1,
                    index,
                    enabled: enabled.len(),
                });
            };
            let Some(next) = model.next_state(&state, action, &mut coverage) else {
                return Err(ReplayError::NoNextState {
                    step: i + 1,
                    action: model.format_action(&state, action),
                });
            };
            actions.push(enabled.swap_remove(index));
            states.push(std::mem::replace(&mut state, next));
        }
        states.push(state);
        Ok(Trace {
            init_index,
            action_indices: action_indices.to_vec(),
            states,
            actions,
        })
    }

    /// Parses a token made by [`Trace::to_token`] and replays it.
    pub fn from_token(model: &M, token: &str) -> Result<Trace<M>, ReplayError> {
        let bad = |reason: String| ReplayError::BadToken {
            token: token.to_string(),
            reason,
        };
        let mut numbers = Vec::new();
        for (i, part) in token.trim().split('/').enumerate() {
            let n = part
                .parse::<usize>()
                .map_err(|e| bad(format!("part {} ({part:?}): {e}", i + 1)))?;
            numbers.push(n);
        }
        // `split` yields at least one part, so `numbers` is not empty here.
        Trace::replay(model, numbers[0], &numbers[1..])
    }

    /// The compact form `"<init>/<a1>/<a2>/..."` that [`Trace::from_token`] reads back.
    pub fn to_token(&self) -> String {
        let mut token = self.init_index.to_string();
        for index in &self.action_indices {
            token.push('/');
            token.push_str(&index.to_string());
        }
        token
    }

    /// The index of the initial state in [`Model::init_states`].
    pub fn init_index(&self) -> usize {
        self.init_index
    }

    /// The index of each step's action among the actions enabled before it.
    pub fn action_indices(&self) -> &[usize] {
        &self.action_indices
    }

    /// The states, from the initial state to the final one (one more than there are actions).
    pub fn states(&self) -> &[M::State] {
        &self.states
    }

    /// The actions, one per step.
    pub fn actions(&self) -> &[M::Action] {
        &self.actions
    }

    /// The number of steps (actions).
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the trace has no steps (it is just an initial state).
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// The last state of the trace.
    pub fn final_state(&self) -> &M::State {
        self.states.last().expect("a trace has at least one state")
    }

    /// Something that prints the trace: each step as [`Model::format_action`] followed by the
    /// indented lines of [`Model::format_step`].
    pub fn display<'a>(&'a self, model: &'a M) -> TraceDisplay<'a, M> {
        TraceDisplay {
            trace: self,
            model,
            full_states: false,
        }
    }
}

/// Prints a [`Trace`]; made by [`Trace::display`].
pub struct TraceDisplay<'a, M: Model> {
    trace: &'a Trace<M>,
    model: &'a M,
    full_states: bool,
}

impl<M: Model> TraceDisplay<'_, M> {
    /// Also prints every state in full (`{:?}`), not only what each step changed.
    pub fn full_states(mut self, yes: bool) -> Self {
        self.full_states = yes;
        self
    }
}

impl<M: Model> fmt::Display for TraceDisplay<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trace = self.trace;
        writeln!(f, "initial state {}", trace.init_index)?;
        if self.full_states {
            writeln!(f, "      {:?}", trace.states[0])?;
        }
        for (i, action) in trace.actions.iter().enumerate() {
            let (last, next) = (&trace.states[i], &trace.states[i + 1]);
            writeln!(
                f,
                "{:>4}. {}",
                i + 1,
                self.model.format_action(last, action)
            )?;
            if let Some(diff) = self.model.format_step(last, action, next) {
                for line in diff.lines() {
                    writeln!(f, "        {line}")?;
                }
            }
            if self.full_states {
                writeln!(f, "      {next:?}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::RacyCounter;

    #[test]
    fn replay_rebuilds_states_and_actions() {
        let model = RacyCounter { threads: 2 };
        // Both threads read 0, both write 1.
        let trace = Trace::replay(&model, 0, &[0, 1, 0, 0]).unwrap();
        assert_eq!(trace.len(), 4);
        assert_eq!(trace.states().len(), 5);
        assert_eq!(trace.final_state().counter, 1);
        assert_eq!(trace.to_token(), "0/0/1/0/0");
    }

    #[test]
    fn token_round_trip() {
        let model = RacyCounter { threads: 2 };
        let trace = Trace::replay(&model, 0, &[1, 0, 1]).unwrap();
        let again = Trace::from_token(&model, &trace.to_token()).unwrap();
        assert_eq!(trace, again);
        assert_eq!(again.final_state(), trace.final_state());
        assert_eq!(Trace::from_token(&model, "0").unwrap().len(), 0);
    }

    #[test]
    fn corrupt_tokens_name_the_failing_step() {
        let model = RacyCounter { threads: 2 };
        assert!(matches!(
            Trace::from_token(&model, "0/x"),
            Err(ReplayError::BadToken { .. })
        ));
        assert!(matches!(
            Trace::from_token(&model, ""),
            Err(ReplayError::BadToken { .. })
        ));
        assert_eq!(
            Trace::from_token(&model, "1/0").unwrap_err(),
            ReplayError::NoSuchInitState { index: 1, count: 1 }
        );
        // Step 3: both threads have read; the enabled actions are their two writes.
        let err = Trace::from_token(&model, "0/0/1/7").unwrap_err();
        assert_eq!(
            err,
            ReplayError::NoSuchAction {
                step: 3,
                index: 7,
                enabled: 2
            }
        );
        assert!(err.to_string().starts_with("step 3:"), "{err}");
    }

    #[test]
    fn display_prints_actions_and_diffs() {
        let model = RacyCounter { threads: 2 };
        let trace = Trace::replay(&model, 0, &[0, 0]).unwrap();
        let text = trace.display(&model).to_string();
        assert_eq!(
            text,
            "initial state 0\n   1. T0 read\n        T0.local = 0\n   \
             2. T0 write\n        counter: 0 → 1\n"
        );
        let full = trace.display(&model).full_states(true).to_string();
        assert!(full.contains("RacyState"), "{full}");
    }
}
