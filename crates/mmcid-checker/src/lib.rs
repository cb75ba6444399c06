//! A generic explicit-state model checker (work in progress: the engine lands with issue 3).
#![warn(missing_docs)]

mod model;

pub use model::{ActionMeta, AgentId, Coverage, Expectation, Model, Property};
