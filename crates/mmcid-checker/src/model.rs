//! The [`Model`] trait: what the checker needs to know about a system to explore it.
//!
//! The shape follows stateright's `Model` (initial states, enabled actions, next state, named
//! properties), with the hooks stateright lacks: terminal states ([`Model::is_done`]), waiting
//! agents and internal/external actions for stall detection ([`Model::waiting`],
//! [`Model::action_meta`]), a representative state for symmetry reduction
//! ([`Model::representative`]) and step labels for the "never reached" report
//! ([`Model::labels`], [`Coverage`]).
//!
//! # Determinism contract
//!
//! The checker assumes that a model is a pure function of its inputs: the same state always
//! yields the same actions in the same order, and the same state and action always yield the same
//! next state. Counterexamples are stored as action indices and rebuilt by replaying the model,
//! so a model that breaks this contract produces traces that do not replay. Use `BTreeMap`,
//! vectors and arrays, never `HashMap` iteration order, clocks or unseeded randomness.

use std::fmt::Debug;
use std::hash::Hash;

use crate::fingerprint::Fingerprint;

/// An agent of the modelled system: something that can wait and make progress (a CPU, a task).
///
/// The number is the model's own; [`Model::format_agent`] turns it into a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u32);

/// What the checker needs to know about one enabled action for progress checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActionMeta {
    /// The agent this action advances (for example the CPU that executes it).
    pub agent: AgentId,
    /// `true` if the system does this by itself (an operation in flight continues, a runnable
    /// task is scheduled, queued work runs); `false` if only the outside world causes it (a
    /// system call, a wake-up of a blocked task).
    pub internal: bool,
}

/// Whether a property must hold in every reachable state or in at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expectation {
    /// The condition holds in every reachable state; a state where it fails is a counterexample.
    Always,
    /// The condition holds in some reachable state; such a state is an example (reachability).
    Sometimes,
}

/// A named state predicate.
pub struct Property<M: Model + ?Sized> {
    /// Always or sometimes.
    pub expectation: Expectation,
    /// Stable name used in reports, JSON and tests (for example `unique-cid`).
    pub name: &'static str,
    /// The predicate.
    pub condition: fn(&M, &M::State) -> bool,
}

impl<M: Model + ?Sized> Property<M> {
    /// A property that must hold in every reachable state.
    pub fn always(name: &'static str, condition: fn(&M, &M::State) -> bool) -> Self {
        Property {
            expectation: Expectation::Always,
            name,
            condition,
        }
    }

    /// A property that must hold in at least one reachable state.
    pub fn sometimes(name: &'static str, condition: fn(&M, &M::State) -> bool) -> Self {
        Property {
            expectation: Expectation::Sometimes,
            name,
            condition,
        }
    }
}

impl<M: Model + ?Sized> Clone for Property<M> {
    fn clone(&self) -> Self {
        Property {
            expectation: self.expectation,
            name: self.name,
            condition: self.condition,
        }
    }
}

impl<M: Model + ?Sized> Debug for Property<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Property")
            .field("expectation", &self.expectation)
            .field("name", &self.name)
            .finish()
    }
}

/// A set of step labels hit while computing next states (for the "never reached" report).
///
/// Label `i` is `Model::labels()[i]`. Models call [`Coverage::hit`] from
/// [`Model::next_state`]; the checker merges the sets of all workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    words: Vec<u64>,
}

impl Coverage {
    /// An empty set.
    pub fn new() -> Self {
        Coverage::default()
    }

    /// Marks label `index` as reached.
    #[inline]
    pub fn hit(&mut self, index: usize) {
        let word = index / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (index % 64);
    }

    /// Whether label `index` was reached.
    pub fn contains(&self, index: usize) -> bool {
        self.words
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    /// Adds every label of `other`.
    pub fn merge(&mut self, other: &Coverage) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    /// Number of labels reached.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// A system to explore.
///
/// See the module docs for the determinism contract.
pub trait Model: Sync + Send {
    /// One state of the system. `Hash` must be stable across runs (no pointers, no `HashMap`).
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// One atomic step of the system.
    type Action: Clone + Eq + Hash + Debug + Send + Sync;

    /// The initial states.
    fn init_states(&self) -> Vec<Self::State>;

    /// Appends the actions enabled in `state` to `actions` (which the caller has cleared). The
    /// order must be deterministic: traces store indices into this list.
    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>);

    /// The state after `action`, or `None` if the action turns out to be a no-op that should not
    /// count as a transition. Labels of the branches taken are recorded in `coverage`.
    fn next_state(
        &self,
        state: &Self::State,
        action: &Self::Action,
        coverage: &mut Coverage,
    ) -> Option<Self::State>;

    /// [`Model::next_state`], given a `spare` state the result may be built in (a successor
    /// the checker no longer needs), so that a model whose states own heap memory can reuse it
    /// (with [`Clone::clone_from`]) instead of allocating. The result must be the same as
    /// `next_state`'s. The default ignores `spare`.
    fn next_state_reusing(
        &self,
        state: &Self::State,
        action: &Self::Action,
        coverage: &mut Coverage,
        spare: Option<Self::State>,
    ) -> Option<Self::State> {
        drop(spare);
        self.next_state(state, action, coverage)
    }

    /// The named state predicates to check.
    fn properties(&self) -> Vec<Property<Self>>;

    /// A terminal state that is not a deadlock (the system has finished its work). A state with
    /// no enabled action that is not done is a `deadlock`.
    fn is_done(&self, _state: &Self::State) -> bool {
        false
    }

    /// Appends the agents that wait in `state` (spin on a lock, sleep on a mutex, loop for a
    /// resource). An agent that waits must, by some continuation, reach a state where it no
    /// longer waits; otherwise the checker reports `livelock` (no continuation made of internal
    /// actions only) or `stall` (no continuation at all).
    fn waiting(&self, _state: &Self::State, _agents: &mut Vec<AgentId>) {}

    /// Which agent `action` advances, and whether it is internal or external.
    fn action_meta(&self, _state: &Self::State, _action: &Self::Action) -> ActionMeta {
        ActionMeta {
            agent: AgentId(0),
            internal: true,
        }
    }

    /// A canonical representative of the symmetry class of `state`. Two states with equal
    /// representatives must be interchangeable for every property. The checker deduplicates on
    /// the representative but continues paths from the original state. The default is no
    /// symmetry.
    fn representative(&self, state: &Self::State) -> Self::State {
        state.clone()
    }

    /// `fingerprint(&self.representative(state))`, the seen-set key with symmetry on. A model
    /// may override it to avoid building a new representative per call; it must return exactly
    /// that value.
    fn representative_fingerprint(&self, state: &Self::State) -> Fingerprint {
        crate::fingerprint::fingerprint(&self.representative(state))
    }

    /// The number of 64-bit words of a packed state, or 0 (the default) if the model does not
    /// pack its states. A model that packs keeps the states waiting to be explored in this
    /// compact form, which saves memory and copying for large frontiers.
    fn packed_words(&self) -> usize {
        0
    }

    /// Writes `state` into `words` (exactly [`Model::packed_words`] long). Only called if
    /// `packed_words` is not 0; [`Model::unpack`] must give back an equal state.
    fn pack(&self, _state: &Self::State, _words: &mut [u64]) {
        unreachable!("`pack` is only called when `packed_words` is not 0")
    }

    /// The state that [`Model::pack`] wrote into `words`.
    fn unpack(&self, _words: &[u64]) -> Self::State {
        unreachable!("`unpack` is only called when `packed_words` is not 0")
    }

    /// [`Model::unpack`] into `state`, an unpacked state the checker no longer needs, so that
    /// a model whose states own heap memory can reuse it. The result must equal `unpack`'s.
    /// The default replaces `state` with `unpack`'s result.
    fn unpack_into(&self, words: &[u64], state: &mut Self::State) {
        *state = self.unpack(words);
    }

    /// For a model that packs: whether the search rebuilds each depth's new states after the
    /// depth from their (parent, action) pairs (the default), or keeps each new state packed as
    /// it is found. Rebuilding holds only 16 bytes per new state while a depth is explored, at
    /// the cost of a second [`Model::next_state`] per new state (and an unpacking per parent);
    /// keeping costs the packed words plus 16 bytes per new state, and no second step. A model
    /// whose steps are expensive next to its packed size says false; results are the same
    /// either way.
    fn rebuild_frontier(&self) -> bool {
        true
    }

    /// Bytes the model holds for its packed states besides the packed words (for example
    /// tables of parts that packed states refer to). The memory limit counts them.
    fn side_bytes(&self) -> u64 {
        0
    }

    /// Names of the step labels this model can record in [`Coverage`] (index = label number).
    fn labels(&self) -> Vec<String> {
        Vec::new()
    }

    /// One line naming `action` in `state` (for traces).
    fn format_action(&self, _state: &Self::State, action: &Self::Action) -> String {
        format!("{action:?}")
    }

    /// What `action` changed between `last` and `next`, one item per changed field; `None` to
    /// print nothing.
    fn format_step(
        &self,
        _last: &Self::State,
        _action: &Self::Action,
        _next: &Self::State,
    ) -> Option<String> {
        None
    }

    /// The name of an agent (for example `CPU2` or `T3`).
    fn format_agent(&self, agent: AgentId) -> String {
        format!("agent{}", agent.0)
    }

    /// Why `agent` waits in `state` (which lock, held by whom; which resource is exhausted).
    fn explain_wait(&self, _state: &Self::State, agent: AgentId) -> String {
        format!("{} waits", self.format_agent(agent))
    }
}
