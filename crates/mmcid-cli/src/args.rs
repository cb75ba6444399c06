//! Command-line flags: parsed by clap into raw structs, then validated into a [`Scenario`] and a
//! [`CheckConfig`] (ripgrep's low-level / high-level split). Every error here is a usage error
//! (exit code 2).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mmcid_model::{Fix, KernelVersion, Scenario, Stage};

/// Model checker for the Linux scheduler's mm_cid (MM concurrency ID) management.
#[derive(Parser, Debug)]
#[command(name = "mmcid", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Explore every interleaving of a configuration and report violated properties.
    Check(Box<CheckArgs>),
    /// Re-execute a counterexample written by `check --trace-out` and print it.
    Replay(ReplayArgs),
    /// List the kernel stages and fixes that can be selected.
    Stages,
    /// Random runs of large configurations: stall watchdog and the protocol's cost.
    Simulate(crate::simulate::SimulateArgs),
}

/// The modelled kernel and environment.
#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Kernel stage: v1, B0..B5, or an alias (v6.19-rc1, v6.19, v7.0-rc4, latest).
    #[arg(long, default_value = "latest")]
    pub kernel: String,
    /// Add a fix to the stage (repeatable), e.g. --with F4a.
    #[arg(long = "with", value_name = "FIX")]
    pub with: Vec<String>,
    /// Remove a fix from the stage (repeatable), e.g. --without F6a.
    #[arg(long = "without", value_name = "FIX")]
    pub without: Vec<String>,
    /// Number of possible CPUs N (1 to 256).
    #[arg(long, default_value_t = 2)]
    pub cpus: usize,
    /// Most threads of the process alive at once.
    #[arg(long, default_value_t = 3)]
    pub threads: usize,
    /// Threads the process starts with (created one after the other before exploring).
    #[arg(long, default_value_t = 1)]
    pub initial_threads: usize,
    /// CPUs the process may run on at the start (default: all).
    #[arg(long)]
    pub allowed: Option<usize>,
    /// clone(CLONE_THREAD) events allowed.
    #[arg(long, default_value_t = 2)]
    pub forks: u32,
    /// Of the forks, how many may fail after the CID hook (before F6a only).
    #[arg(long, default_value_t = 0)]
    pub fork_failures: u32,
    /// Thread exits allowed.
    #[arg(long, default_value_t = 1)]
    pub exits: u32,
    /// execve() calls allowed (each may succeed or fail).
    #[arg(long, default_value_t = 0)]
    pub execs: u32,
    /// Affinity widenings allowed (needs --allowed below --cpus).
    #[arg(long, default_value_t = 0)]
    pub affinity: u32,
    /// clone(CLONE_VM) events without CLONE_THREAD allowed (vfork-like: a new process that
    /// shares the mm).
    #[arg(long, default_value_t = 0)]
    pub vforks: u32,
    /// Tasks without an mm (like init before its first execve) that may exec; they use the
    /// --execs budget.
    #[arg(long, default_value_t = 0)]
    pub mmless_tasks: usize,
    /// Weakly ordered memory: a reader may see a stale value of the second mode word
    /// (`transit`) before F4b.
    #[arg(long)]
    pub relaxed: bool,
}

/// Flags of `mmcid check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    /// The configuration.
    pub scenario: ScenarioArgs,
    /// Merge states that differ only by task numbering (default on).
    #[arg(long, overrides_with = "no_symmetry")]
    pub symmetry: bool,
    /// Do not merge symmetric states.
    #[arg(long)]
    pub no_symmetry: bool,
    /// Skip the livelock / stall / deadlock checks.
    #[arg(long)]
    pub no_liveness: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Stop after this many unique states (exit 3 with a partial report).
    #[arg(long)]
    pub max_states: Option<u64>,
    /// Stop when the checker's memory estimate exceeds this many MiB (exit 3 with a partial
    /// report; default: half the memory of the machine or of its control group, so that a run
    /// that outgrows the machine stops with its result instead of being killed; the process's
    /// resident size runs up to about 1.7 times the estimate; 0: no limit).
    #[arg(long)]
    pub max_memory_mib: Option<u64>,
    /// Do not explore deeper than this many steps.
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// Go on after the first violation (default: stop once the depth of the first, shortest,
    /// violation is fully explored).
    #[arg(long)]
    pub keep_going: bool,
    /// Do not check this invariant (repeatable), e.g. --ignore steady-state to look past a
    /// leaked CID to the stall it causes.
    #[arg(long, value_name = "PROPERTY")]
    pub ignore: Vec<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the first counterexample as a replayable JSON trace.
    #[arg(long, value_name = "FILE")]
    pub trace_out: Option<PathBuf>,
    /// Print whole states in traces, not only what changed.
    #[arg(long)]
    pub full_states: bool,
    /// Write the first counterexample as a self-contained HTML page that steps through it.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Width of the CPU-column trace (default: $COLUMNS, the terminal's width, or 100).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Print traces as a numbered step list instead of CPU columns.
    #[arg(long)]
    pub steps: bool,
}

/// Flags of `mmcid replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A trace written by `mmcid check --trace-out`.
    pub file: PathBuf,
    /// Print whole states, not only what changed.
    #[arg(long)]
    pub full_states: bool,
    /// Also write the trace as a self-contained HTML page that steps through it.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Width of the CPU-column trace (default: $COLUMNS, the terminal's width, or 100).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    /// Print the trace as a numbered step list instead of CPU columns.
    #[arg(long)]
    pub steps: bool,
}

/// A usage error (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn parse_fix(s: &str) -> Result<Fix, UsageError> {
    Fix::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Fix::ALL.iter().map(|f| f.name()).collect();
        UsageError(format!("unknown fix '{s}' (known: {})", names.join(", ")))
    })
}

impl ScenarioArgs {
    /// Validates the flags into a scenario.
    pub fn to_scenario(&self) -> Result<Scenario, UsageError> {
        let stage = Stage::parse(&self.kernel).ok_or_else(|| {
            UsageError(format!(
                "unknown kernel stage '{}' (known: v1, B0..B5, v6.19-rc1, v6.19, v7.0-rc4, latest; see `mmcid stages`)",
                self.kernel
            ))
        })?;
        let mut kernel = KernelVersion::new(stage);
        for f in &self.with {
            kernel.fixes = kernel.fixes.with(parse_fix(f)?);
        }
        for f in &self.without {
            kernel.fixes = kernel.fixes.without(parse_fix(f)?);
        }
        let scenario = Scenario {
            kernel,
            cpus: self.cpus,
            threads: self.threads,
            initial_threads: self.initial_threads,
            initial_allowed: self.allowed.unwrap_or(self.cpus),
            forks: self.forks,
            fork_failures: self.fork_failures,
            exits: self.exits,
            execs: self.execs,
            affinity: self.affinity,
            vforks: self.vforks,
            mmless_tasks: self.mmless_tasks,
            relaxed: self.relaxed,
        };
        scenario.validate().map_err(|e| UsageError(e.0))?;
        Ok(scenario)
    }
}
