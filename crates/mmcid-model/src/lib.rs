//! The Linux scheduler's mm_cid ("MM concurrency ID") management as an executable model for
//! [`mmcid_checker`].
//!
//! The model follows `shared/spec/mmcid-protocol.md` (the project's specification): the state of
//! its §2 ([`state`]), every function of its §3 as a resumable step machine named after the
//! kernel function ([`switch`], [`fork`], [`exit`], [`max_cids`], [`affinity`], [`pool`]), the
//! environment of §4.4 ([`env`]) and the invariants of §5.2 ([`properties`]). The default is
//! the latest kernel (B5, all fixes); every stage B0–B5 and V1 and every fix can be selected
//! ([`config`]).
//!
//! # What is abstracted
//!
//! - One mm (one process, plus its threads); a successful `execve()` moves a task to an mm the
//!   model does not track, so for this mm it leaves like an exiting task.
//! - Memory is sequentially consistent. Racy `READ_ONCE` snapshots happen inside the atomic
//!   steps of spec §4.4.
//! - `__mm_get_cid()`'s scan and test-and-set are one step; a retry that would fail is not a
//!   step (the spinning CPU waits until a bit is free).
//! - The scheduler is abstract: any runnable task may be picked, preemption happens at any
//!   point where the kernel allows it, the load balancer may move any queued task.
//! - `pi_lock`, RCU, rseq user-space updates and the `mm_users` refcount are not modelled.
//! - The per-CPU workqueue is one unbound kworker woken on the CPU that queued the irq_work.
#![warn(missing_docs)]

pub mod affinity;
pub mod cid;
pub mod config;
pub mod env;
mod exec;
pub mod exit;
pub mod fork;
pub mod format;
pub mod labels;
pub mod max_cids;
pub mod model;
pub mod pack;
pub mod pool;
pub mod properties;
pub mod sim;
pub mod state;
pub mod switch;
pub mod symmetry;
pub mod thread;
pub mod timeline;

pub use config::{ConfigError, Fix, Fixes, KernelVersion, Scenario, Stage};
pub use env::Action;
pub use model::MmCidModel;
pub use state::Kernel;
