//! What to model: the kernel stage, the fixes switched on, and the environment's size and
//! budgets (spec §1.3 and §4.4).

use std::fmt;

/// One upstream fix of the mm_cid rewrite (spec §1.3). Each can be switched on or off on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fix {
    /// F1 (14b2b17cca54): `mm_cid_calc_pcpu_thrs()` clamps the switch-back threshold to ≥ 1.
    F1,
    /// F3 (2bdf777410dc): `sched_mm_cid_after_execve()` skips the fork hook without an mm.
    F3,
    /// F4a (4327fb13fa47): TRANSIT also for the per-task → per-CPU switch.
    F4a,
    /// F4b (47ee94efccf6): one `mode` word flipped by XOR instead of `percpu` + `transit`.
    F4b,
    /// F4c (007d84287c74): exit drops the local per-CPU CID when it switches to per-task.
    F4c,
    /// F4d (4463c7aa11a6): schedule-out re-homes a TRANSIT CID once the transition is over.
    F4d,
    /// F5 (1e83ccd5921a): `mm_drop_cid_on_cpu()` only drops a slot that carries ONCPU.
    F5,
    /// F6a (b2e48c429ec5): the fork hook runs in `sched_post_fork()`, count `users - 1`.
    F6a,
    /// F6b (28b5a1395036): the full task walk never stops early.
    F6b,
    /// F6c (7574ac6e4978): no preempt guard in `sched_mm_cid_remove_user()` (no behaviour change).
    F6c,
    /// F6d (192d852129b1): the per-mm `user_list` replaces the thread and task walks.
    F6d,
    /// F7 (de3ab9bd3133): the CPU → task fixup does not mark an UNSET CID as TRANSIT.
    F7,
}

impl Fix {
    /// Every fix, in order.
    pub const ALL: [Fix; 12] = [
        Fix::F1,
        Fix::F3,
        Fix::F4a,
        Fix::F4b,
        Fix::F4c,
        Fix::F4d,
        Fix::F5,
        Fix::F6a,
        Fix::F6b,
        Fix::F6c,
        Fix::F6d,
        Fix::F7,
    ];

    /// The name used on the command line (`F4a`).
    pub fn name(self) -> &'static str {
        match self {
            Fix::F1 => "F1",
            Fix::F3 => "F3",
            Fix::F4a => "F4a",
            Fix::F4b => "F4b",
            Fix::F4c => "F4c",
            Fix::F4d => "F4d",
            Fix::F5 => "F5",
            Fix::F6a => "F6a",
            Fix::F6b => "F6b",
            Fix::F6c => "F6c",
            Fix::F6d => "F6d",
            Fix::F7 => "F7",
        }
    }

    /// One line on what the fix changes.
    pub fn summary(self) -> &'static str {
        match self {
            Fix::F1 => "mm_cid_calc_pcpu_thrs(): switch-back threshold clamped to at least 1 (N=1 never entered per-CPU mode)",
            Fix::F3 => "sched_mm_cid_after_execve(): no fork hook for a task without mm (failed first exec of init)",
            Fix::F4a => "TRANSIT for the task->CPU switch too: from_cpu marks taken CIDs TRANSIT, walk completes the transit",
            Fix::F4b => "one mode word flipped by XOR with full barriers instead of the percpu and transit words",
            Fix::F4c => "exit-triggered switch to per-task drops the local CPU's CID at once",
            Fix::F4d => "schedule-out keeps a TRANSIT CID (task- or CPU-owned) when the transition is over and it is below max_cids",
            Fix::F5 => "mm_drop_cid_on_cpu() drops only a slot that carries ONCPU",
            Fix::F6a => "sched_mm_cid_fork() moves to sched_post_fork() (child visible to the walks); count users-1",
            Fix::F6b => "the full task walk of the task->CPU fixup never stops early (vfork double count)",
            Fix::F6c => "remove_user() loses its preempt guard (no modelled behaviour change)",
            Fix::F6d => "per-mm user_list replaces the thread-group and task-list walks",
            Fix::F7 => "CPU->task fixup does not mark an UNSET CID of the running task TRANSIT",
        }
    }

    /// Parses `F4a` (case-insensitive).
    pub fn parse(s: &str) -> Option<Fix> {
        Fix::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of fixes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fixes(u16);

impl Fixes {
    /// No fix.
    pub const NONE: Fixes = Fixes(0);

    /// Whether `fix` is switched on.
    #[inline]
    pub fn has(self, fix: Fix) -> bool {
        self.0 & fix.bit() != 0
    }

    /// With `fix` switched on.
    pub fn with(self, fix: Fix) -> Fixes {
        Fixes(self.0 | fix.bit())
    }

    /// With `fix` switched off.
    pub fn without(self, fix: Fix) -> Fixes {
        Fixes(self.0 & !fix.bit())
    }

    /// The fixes switched on, in order.
    pub fn iter(self) -> impl Iterator<Item = Fix> {
        Fix::ALL.into_iter().filter(move |f| self.has(*f))
    }
}

impl fmt::Debug for Fixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Fix::name)).finish()
    }
}

/// A kernel stage (spec §1.3): which code is modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The posted V1 series: no TRANSIT state at all (and no F1 threshold clamp).
    V1,
    /// B0: the series as merged (V5 + threshold clamp F1), v6.19-rc1.
    B0,
    /// B1: B0 + F3.
    B1,
    /// B2: B1 + F4a–F4d, v6.19.
    B2,
    /// B3: B2 + F5.
    B3,
    /// B4: B3 + F6a–F6d, v7.0-rc4.
    B4,
    /// B5: B4 + F7, the latest.
    B5,
}

impl Stage {
    /// Every stage, oldest first.
    pub const ALL: [Stage; 7] = [
        Stage::V1,
        Stage::B0,
        Stage::B1,
        Stage::B2,
        Stage::B3,
        Stage::B4,
        Stage::B5,
    ];

    /// The fixes a stage contains.
    pub fn fixes(self) -> Fixes {
        let b0 = Fixes::NONE.with(Fix::F1);
        let b1 = b0.with(Fix::F3);
        let b2 = b1
            .with(Fix::F4a)
            .with(Fix::F4b)
            .with(Fix::F4c)
            .with(Fix::F4d);
        let b3 = b2.with(Fix::F5);
        let b4 = b3
            .with(Fix::F6a)
            .with(Fix::F6b)
            .with(Fix::F6c)
            .with(Fix::F6d);
        match self {
            Stage::V1 => Fixes::NONE,
            Stage::B0 => b0,
            Stage::B1 => b1,
            Stage::B2 => b2,
            Stage::B3 => b3,
            Stage::B4 => b4,
            Stage::B5 => b4.with(Fix::F7),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Stage::V1 => "v1",
            Stage::B0 => "B0",
            Stage::B1 => "B1",
            Stage::B2 => "B2",
            Stage::B3 => "B3",
            Stage::B4 => "B4",
            Stage::B5 => "B5",
        }
    }

    /// Kernel release aliases of the stage.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Stage::V1 => &[],
            Stage::B0 => &["v6.19-rc1"],
            Stage::B1 => &[],
            Stage::B2 => &["v6.19"],
            Stage::B3 => &[],
            Stage::B4 => &["v7.0-rc4"],
            Stage::B5 => &["latest"],
        }
    }

    /// One line on what the stage is.
    pub fn summary(self) -> &'static str {
        match self {
            Stage::V1 => "posted V1 (15 Oct 2025): no TRANSIT state at all, direct ownership transfer both ways",
            Stage::B0 => "series as merged in v6.19-rc1 (V5 + F1); TRANSIT only for the CPU->task switch",
            Stage::B1 => "B0 + F3",
            Stage::B2 => "B1 + F4a-F4d (Cure mode transition woes), v6.19",
            Stage::B3 => "B2 + F5",
            Stage::B4 => "B3 + F6a-F6d (March 2026 series), v7.0-rc4",
            Stage::B5 => "B4 + F7 (UNSET guard in the CPU->task fixup), latest",
        }
    }

    /// Parses a stage name or alias (case-insensitive).
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| {
            st.name().eq_ignore_ascii_case(s)
                || st.aliases().iter().any(|a| a.eq_ignore_ascii_case(s))
        })
    }
}

/// The modelled kernel: a stage with fixes added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelVersion {
    /// The stage the fixes started from.
    pub stage: Stage,
    /// The fixes in effect.
    pub fixes: Fixes,
}

impl KernelVersion {
    /// A stage with exactly its own fixes.
    pub fn new(stage: Stage) -> Self {
        KernelVersion {
            stage,
            fixes: stage.fixes(),
        }
    }

    /// Whether `fix` is in effect.
    #[inline]
    pub fn has(&self, fix: Fix) -> bool {
        self.fixes.has(fix)
    }

    /// V1 had no TRANSIT state at all.
    #[inline]
    pub fn has_transit(&self) -> bool {
        self.stage != Stage::V1
    }
}

/// The environment the model explores (spec §4.4): sizes and budgets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The kernel.
    pub kernel: KernelVersion,
    /// `N = num_possible_cpus()`, 1 to 256.
    pub cpus: usize,
    /// Most threads of the process alive at once (task slots), at least 1.
    pub threads: usize,
    /// Threads the process starts with (all CIDs handed out, per-task mode unless they exceed
    /// `max_cids`); at least 1 and at most `threads`.
    pub initial_threads: usize,
    /// CPUs the first thread may run on (`nr_cpus_allowed` at mm creation), 1 to `cpus`.
    pub initial_allowed: usize,
    /// How many `clone(CLONE_THREAD)` calls may happen.
    pub forks: u32,
    /// How many of the forks may fail after the CID hook ran (only meaningful before F6a).
    pub fork_failures: u32,
    /// How many thread exits may happen.
    pub exits: u32,
    /// How many `execve` calls may happen (each may succeed or fail).
    pub execs: u32,
    /// How many affinity widenings may happen.
    pub affinity: u32,
    /// How many `clone(CLONE_VM)` calls without `CLONE_THREAD` (vfork-like: a new process
    /// sharing the mm) may happen.
    pub vforks: u32,
    /// Tasks without an mm that may `execve()` (like the init task before its first exec);
    /// they use the `execs` budget.
    pub mmless_tasks: usize,
    /// Let a reader see a stale value of the second mode word (`transit`) before F4b
    /// (weakly ordered memory, spec §6.3). Without F4b's single `mode` word this is the
    /// PowerPC reordering F4b fixed; with F4b it changes nothing.
    pub relaxed: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            kernel: KernelVersion::new(Stage::B5),
            cpus: 2,
            threads: 3,
            initial_threads: 1,
            initial_allowed: 2,
            forks: 2,
            fork_failures: 0,
            exits: 1,
            execs: 0,
            affinity: 0,
            vforks: 0,
            mmless_tasks: 0,
            relaxed: false,
        }
    }
}

/// Largest `N` the model supports (the width of [`crate::cid::Mask256`]).
pub const MAX_CPUS: usize = 256;
/// Most task slots the model supports.
pub const MAX_THREADS: usize = 10_000;

/// A configuration the model cannot represent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Scenario {
    /// Checks that the scenario is possible.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        if self.cpus == 0 || self.cpus > MAX_CPUS {
            return err(format!(
                "--cpus must be between 1 and {MAX_CPUS}, got {}",
                self.cpus
            ));
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return err(format!(
                "--threads must be between 1 and {MAX_THREADS}, got {}",
                self.threads
            ));
        }
        if self.initial_threads == 0 || self.initial_threads > self.threads {
            return err(format!(
                "the process must start with 1 to --threads ({}) threads, got {}",
                self.threads, self.initial_threads
            ));
        }
        if self.initial_allowed == 0 || self.initial_allowed > self.cpus {
            return err(format!(
                "the first thread must be allowed on 1 to --cpus ({}) CPUs, got {}",
                self.cpus, self.initial_allowed
            ));
        }
        if self.mmless_tasks > 4 {
            return err(format!(
                "--mmless-tasks must be at most 4, got {}",
                self.mmless_tasks
            ));
        }
        if self.mmless_tasks > 0 && self.execs == 0 {
            return err(
                "--mmless-tasks needs --execs: a task without an mm only takes part by exec'ing"
                    .into(),
            );
        }
        if self.fork_failures > self.forks {
            return err(format!(
                "--fork-failures ({}) cannot exceed --forks ({})",
                self.fork_failures, self.forks
            ));
        }
        if self.affinity > 0 && self.initial_allowed == self.cpus {
            return err(format!(
                "--affinity {} needs a narrower start (--allowed below --cpus {}): an affinity change only widens",
                self.affinity, self.cpus
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_accumulate_fixes() {
        assert!(!Stage::B0.fixes().has(Fix::F3));
        assert!(Stage::B1.fixes().has(Fix::F3));
        assert!(Stage::B2.fixes().has(Fix::F4d) && !Stage::B2.fixes().has(Fix::F5));
        assert!(Stage::B5.fixes().iter().eq(Fix::ALL.into_iter()));
        assert_eq!(Stage::parse("latest"), Some(Stage::B5));
        assert_eq!(Stage::parse("v6.19"), Some(Stage::B2));
        assert_eq!(Stage::parse("b3"), Some(Stage::B3));
        assert_eq!(Stage::parse("B9"), None);
        assert_eq!(Fix::parse("f6a"), Some(Fix::F6a));
    }

    #[test]
    fn impossible_scenarios_are_refused() {
        let ok = Scenario::default();
        assert!(ok.validate().is_ok());
        assert!(Scenario {
            cpus: 0,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(Scenario {
            cpus: 257,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(Scenario {
            initial_threads: 4,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(Scenario {
            affinity: 1,
            ..ok.clone()
        }
        .validate()
        .is_err());
    }
}
