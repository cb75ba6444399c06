//! Branch labels for the "never reached" report: each names the kernel function and the branch
//! of its C control flow, and is recorded by the step that takes the branch.

macro_rules! labels {
    ($($(#[$doc:meta])* $name:ident => $text:literal,)*) => {
        /// A branch of a modelled kernel function.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum Label {
            $($(#[$doc])* $name,)*
        }

        /// The label names, index = `Label as usize`.
        pub const LABELS: &[&str] = &[$($text,)*];
    };
}

labels! {
    /// `mm_drop_cid()` with a number `>= N`.
    DropOutOfRange => "mm_drop_cid:out-of-range",
    /// `mm_drop_cid_on_cpu()` finds no ONCPU (F5).
    DropOnCpuNotOwned => "mm_drop_cid_on_cpu:not-cpu-owned",
    /// Schedule-out keeps a TRANSIT CID (F4d).
    SchedoutRehome => "mm_cid_schedout:rehome-transit",
    /// Schedule-out drops a TRANSIT CID.
    SchedoutDropTransit => "mm_cid_schedout:drop-transit",
    /// `mm_cid_from_task()` fast path.
    FromTaskFast => "mm_cid_from_task:fast",
    /// `mm_cid_from_task()` converges a CID `>= max_cids`.
    FromTaskConverge => "mm_cid_from_task:converge",
    /// `mm_cid_from_task()` frees the CPU's CID, keeps the task's.
    FromTaskDropCpuCid => "mm_cid_from_task:drop-cpu-cid",
    /// `mm_cid_from_task()` takes over the CPU's CID.
    FromTaskTakeCpuCid => "mm_cid_from_task:take-cpu-cid",
    /// `mm_cid_from_task()` allocates.
    FromTaskGetCid => "mm_cid_from_task:get-cid",
    /// `mm_cid_from_task()` hands out a TRANSIT CID after allocating.
    FromTaskTransit => "mm_cid_from_task:transit",
    /// `mm_cid_from_cpu()` fast path.
    FromCpuFast => "mm_cid_from_cpu:fast",
    /// `mm_cid_from_cpu()` converges.
    FromCpuConverge => "mm_cid_from_cpu:converge",
    /// `mm_cid_from_cpu()` frees the task's CID, uses the CPU's.
    FromCpuDropTaskCid => "mm_cid_from_cpu:drop-task-cid",
    /// `mm_cid_from_cpu()` hands the task's CID to the CPU.
    FromCpuTakeTaskCid => "mm_cid_from_cpu:take-task-cid",
    /// `mm_cid_from_cpu()` allocates.
    FromCpuGetCid => "mm_cid_from_cpu:get-cid",
    /// `mm_cid_from_cpu()` marks the CID TRANSIT (F4a).
    FromCpuTransit => "mm_cid_from_cpu:transit",
    /// `mm_cid_converge()` keeps the large CID (pool full below max).
    ConvergeKeep => "mm_cid_converge:keep",
    /// `mm_cid_converge()` trades for a smaller CID.
    ConvergeSwap => "mm_cid_converge:swap",
    /// `mm_get_cid()` first attempt failed: the spin loop starts.
    GetCidSpin => "mm_get_cid:spin",
    /// `mm_get_cid()` got a CID after spinning.
    GetCidAfterSpin => "mm_get_cid:got-after-spin",
    /// `mm_update_max_cids()` switches to per-CPU mode.
    ModeToPerCpu => "mm_update_max_cids:to-per-cpu",
    /// `mm_update_max_cids()` switches to per-task mode.
    ModeToPerTask => "mm_update_max_cids:to-per-task",
    /// Fork of the first user.
    ForkFirstUser => "sched_mm_cid_fork:first-user",
    /// Fork in per-task mode without a mode change: the child gets a CID.
    ForkPerTaskGetCid => "sched_mm_cid_fork:per-task-get-cid",
    /// Fork in per-CPU mode without a mode change: the child gets none.
    ForkPerCpuNoCid => "sched_mm_cid_fork:per-cpu-no-cid",
    /// Fork switches to per-CPU mode.
    ForkSwitchToPerCpu => "sched_mm_cid_fork:switch-to-per-cpu",
    /// Fork switches to per-task mode.
    ForkSwitchToPerTask => "sched_mm_cid_fork:switch-to-per-task",
    /// Fork hook for a task without mm (B0).
    ForkNullMm => "sched_mm_cid_fork:null-mm",
    /// The failed-fork cleanup freed the child.
    BadForkCleanup => "copy_process:bad-fork-cleanup-mm",
    /// Before F6a: nothing to walk (`users - 2 == 0`).
    FixupTasksNothingToDo => "mm_cid_do_fixup_tasks_to_cpus:nothing-to-do",
    /// Before F6d: the full task-list walk runs.
    FixupTasksFullWalk => "mm_cid_do_fixup_tasks_to_cpus:full-walk",
    /// Before F6b: the full walk stops when the count reaches 0.
    FixupTasksStopEarly => "mm_cid_do_fixup_tasks_to_cpus:stop-early",
    /// A task walk skipped a thread that left the list before its visit.
    WalkSkipsUnlinked => "mm_cid_do_fixup_tasks_to_cpus:skip-unlinked",
    /// `mm_cid_fixup_task_to_cpu()`: inactive task, not counted (before F6d).
    FixupTaskInactive => "mm_cid_fixup_task_to_cpu:inactive",
    /// `mm_cid_fixup_task_to_cpu()`: running task's CID to its CPU.
    FixupTaskRunning => "mm_cid_fixup_task_to_cpu:running",
    /// `mm_cid_fixup_task_to_cpu()`: task not running gives its CID back.
    FixupTaskNotRunning => "mm_cid_fixup_task_to_cpu:not-running",
    /// `mm_cid_fixup_cpus_to_tasks()`: CPU CID goes to the running task (TRANSIT).
    FixupCpuToRunningTask => "mm_cid_fixup_cpus_to_tasks:to-running-task",
    /// `mm_cid_fixup_cpus_to_tasks()`: CPU CID back to the pool.
    FixupCpuDrop => "mm_cid_fixup_cpus_to_tasks:drop",
    /// `mm_cid_fixup_cpus_to_tasks()`: the running task's own CID marked TRANSIT.
    FixupCpuMarkTransit => "mm_cid_fixup_cpus_to_tasks:mark-transit",
    /// `mm_cid_fixup_cpus_to_tasks()`: UNSET left alone (F7).
    FixupCpuSkipUnset => "mm_cid_fixup_cpus_to_tasks:skip-unset",
    /// Exit without a mode change.
    ExitNoModeChange => "sched_mm_cid_exit:no-mode-change",
    /// Exit switches to per-task mode.
    ExitSwitchToPerTask => "sched_mm_cid_exit:switch-to-per-task",
    /// Exit of the last user.
    ExitLastUser => "sched_mm_cid_exit:last-user",
    /// The last user's exit changed the mode; the change is ignored.
    ExitLastUserModeChangeIgnored => "sched_mm_cid_exit:last-user-mode-change-ignored",
    /// The last user's exit waited for the irq_work and cancelled the work.
    ExitCancelWork => "sched_mm_cid_exit:cancel-work",
    /// `sched_exec()` migrated the exec'ing task.
    ExecMigrate => "bprm_execve:sched-exec-migrate",
    /// The exec succeeded (the task left the mm).
    ExecSucceeded => "bprm_execve:success",
    /// The exec failed after the hooks: `sched_mm_cid_after_execve()` re-adds the task.
    ExecFailed => "sched_mm_cid_after_execve:failed-exec",
    /// Affinity change without a new CPU for the mm.
    AffinityNoChange => "mm_update_cpus_allowed:no-change",
    /// Affinity change in per-task mode (only `max_cids` widens).
    AffinityPerTask => "mm_update_cpus_allowed:per-task",
    /// Affinity change in per-CPU mode with `users >= pcpu_thrs`.
    AffinityThresholdMet => "mm_update_cpus_allowed:threshold-met",
    /// Affinity change queues the deferred switch back.
    AffinityQueueWork => "mm_update_cpus_allowed:queue-work",
    /// The work found no deferred update.
    WorkNotDeferred => "mm_cid_work_fn:not-deferred",
    /// The work switches to per-task mode.
    WorkSwitchToPerTask => "mm_cid_work_fn:switch-to-per-task",
    /// `--relaxed` before F4b: a schedule-in read a stale `transit` (spec §6.3).
    StaleTransitRead => "mm_cid_schedin:stale-transit-read",
}
