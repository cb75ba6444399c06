//! The mm_cid model.
#![warn(missing_docs)]
