//! Side-by-side benchmark support: an adapter that runs any [`mmcid_checker::Model`] on
//! stateright's checker, and the models the benchmark compares.
//!
//! The adapter delegates `init_states`, `actions` and `next_state` to the wrapped model and
//! turns its properties (`always` and `sometimes`) into stateright properties with the same
//! names, so both engines check the same invariants on the same state graph. The built-in
//! progress checks of mmcid-checker (deadlock, livelock, stall) have no stateright counterpart;
//! the benchmark turns them off in our engine too.

use std::hash::Hash;

#[path = "../../mmcid-checker/examples/two_phase_commit.rs"]
#[allow(dead_code, unused_imports)]
mod two_phase_commit;

pub use two_phase_commit::TwoPhaseSys;

/// The most properties the adapter can carry (one monomorphised function per index).
pub const MAX_PROPERTIES: usize = 24;

/// A model of ours, for stateright.
pub struct OnStateright<M: mmcid_checker::Model> {
    /// The wrapped model.
    pub inner: M,
    properties: Vec<mmcid_checker::Property<M>>,
}

impl<M: mmcid_checker::Model> OnStateright<M> {
    /// Wraps `inner`.
    ///
    /// # Panics
    ///
    /// If the model has more than [`MAX_PROPERTIES`] properties.
    pub fn new(inner: M) -> Self {
        let properties = inner.properties();
        assert!(
            properties.len() <= MAX_PROPERTIES,
            "the adapter carries at most {MAX_PROPERTIES} properties"
        );
        OnStateright { inner, properties }
    }
}

/// Property number `I` of the wrapped model (stateright wants plain function pointers).
fn condition<M: mmcid_checker::Model, const I: usize>(m: &OnStateright<M>, s: &M::State) -> bool {
    (m.properties[I].condition)(&m.inner, s)
}

macro_rules! conditions {
    ($($i:literal)*) => {
        fn conditions<M: mmcid_checker::Model>() -> Vec<fn(&OnStateright<M>, &M::State) -> bool> {
            vec![$(condition::<M, $i>),*]
        }
    };
}

conditions!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);

impl<M> stateright::Model for OnStateright<M>
where
    M: mmcid_checker::Model + 'static,
    M::State: Hash,
{
    type State = M::State;
    type Action = M::Action;

    fn init_states(&self) -> Vec<M::State> {
        self.inner.init_states()
    }

    fn actions(&self, state: &M::State, actions: &mut Vec<M::Action>) {
        self.inner.actions(state, actions);
    }

    fn next_state(&self, state: &M::State, action: M::Action) -> Option<M::State> {
        let mut coverage = mmcid_checker::Coverage::new();
        self.inner.next_state(state, &action, &mut coverage)
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        let conditions = conditions::<M>();
        self.properties
            .iter()
            .zip(conditions)
            .map(|(p, condition)| match p.expectation {
                mmcid_checker::Expectation::Always => {
                    stateright::Property::always(p.name, condition)
                }
                mmcid_checker::Expectation::Sometimes => {
                    stateright::Property::sometimes(p.name, condition)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::{Checker, Model as _};

    fn ours<M: mmcid_checker::Model>(model: &M) -> mmcid_checker::Report<M> {
        let config = mmcid_checker::CheckConfig {
            workers: 2,
            liveness: false,
            ..mmcid_checker::CheckConfig::default()
        };
        mmcid_checker::check(model, &config)
    }

    #[test]
    fn both_engines_count_the_same_2pc_states() {
        let report = ours(&TwoPhaseSys { rms: 5 });
        assert_eq!(report.stats.unique_states, 8_832);
        let checker = OnStateright::new(TwoPhaseSys { rms: 5 })
            .checker()
            .spawn_bfs()
            .join();
        assert!(checker.is_done());
        assert_eq!(checker.unique_state_count(), 8_832);
        // Same verdicts: both agreements reachable, consistency never violated.
        for name in ["abort agreement", "commit agreement"] {
            assert!(checker.discovery(name).is_some(), "{name}");
        }
        assert!(checker.discovery("consistent").is_none());
    }

    #[test]
    fn both_engines_count_the_same_mmcid_states() {
        let scenario = mmcid_model::Scenario {
            forks: 1,
            exits: 0,
            ..mmcid_model::Scenario::default()
        };
        let model = mmcid_model::MmCidModel::new(scenario.clone())
            .unwrap()
            .with_symmetry(false);
        let report = ours(&model);
        assert!(report.outcome.is_complete());
        let model = mmcid_model::MmCidModel::new(scenario)
            .unwrap()
            .with_symmetry(false);
        let checker = OnStateright::new(model).checker().spawn_dfs().join();
        assert!(checker.is_done());
        assert_eq!(
            checker.unique_state_count() as u64,
            report.stats.unique_states
        );
    }
}
