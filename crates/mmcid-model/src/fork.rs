//! Fork: kernel/fork.c `copy_process()` as far as the CID hooks go, and kernel/sched/core.c
//! `sched_mm_cid_fork()`, `mm_cid_fixup_tasks_to_cpus()`, `mm_cid_do_fixup_tasks_to_cpus()`
//! and `mm_cid_fixup_task_to_cpu()`, as of v7.1 (B5). The hook placement before F6a (in
//! `copy_mm()`, before the child is visible) and the walks before F6d are selected by [`Fix`].

use crate::cid::*;
use crate::config::Fix;
use crate::exec::Exec;
use crate::exit::ExitPc;
use crate::labels::Label;
use crate::state::{Kernel, Task, TaskId, TaskState};
use crate::switch::GetCidPc;
use crate::thread::{Flow, Frame, Lock, VOID};

/// Program counter of `copy_process()` (a `clone(CLONE_THREAD)` by the current task).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CopyProcessPc {
    /// `dup_task_struct()` (the child's CID is UNSET) and `copy_mm()`; before F6a `copy_mm()`
    /// calls `sched_mm_cid_fork()`; from F6a on the child is linked here at once.
    DupTaskStruct {
        /// `clone(CLONE_VM)` without `CLONE_THREAD` (vfork-like): the child leads a new
        /// process that shares the mm; otherwise a thread of the parent's process.
        new_process: bool,
    },
    /// Back from the hook in `copy_mm()` (before F6a): the mutex is free again and the rest of
    /// `copy_process()` runs before the child becomes visible (the seed-000 window).
    AfterCopyMm {
        /// The child.
        child: TaskId,
    },
    /// Before F6a: the child is linked into the thread list and the task list, then
    /// `wake_up_new_task()`. The failure path (`bad_fork_cleanup_mm`) is the external
    /// `ForkFail` event at this point.
    LinkChild {
        /// The child.
        child: TaskId,
    },
    /// Back from `sched_post_fork()` → `sched_mm_cid_fork()` (F6a): `wake_up_new_task()`.
    AfterPostFork {
        /// The child.
        child: TaskId,
    },
    /// Back from `sched_mm_cid_exit(child)` on the failure path: the child is freed.
    BadForkFree {
        /// The child.
        child: TaskId,
    },
}

/// Program counter of `sched_mm_cid_fork(t)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ForkPc {
    /// Entry: the WARN checks, `guard(mutex)`, then the `scoped_guard(raw_spinlock_irq, lock)`
    /// section up to the first `mm_get_cid()` or fixup.
    Enter {
        /// The new CID user (the child, or `current` after a failed exec).
        t: TaskId,
    },
    /// Back from `mm_get_cid()` for the first user: store it in the task and the local slot.
    FirstUserGotCid {
        /// The new CID user.
        t: TaskId,
    },
    /// Back from `mm_get_cid()` in per-task mode without a mode change.
    PerTaskGotCid {
        /// The new CID user.
        t: TaskId,
    },
    /// Back from the fixup walk after a mode change (lock released, mutex held).
    AfterFixup {
        /// The new CID user.
        t: TaskId,
        /// The new mode is per-CPU.
        percpu: bool,
    },
    /// Back from the final `mm_get_cid()` after the CPU→task fixup (mutex held, preemptible).
    FinalGotCid {
        /// The new CID user.
        t: TaskId,
    },
}

/// Program counter of `mm_cid_fixup_tasks_to_cpus()`.
///
/// Walk cursors hold the next task to visit, read from the list right after the previous
/// element (the loop increment), so a walk sees threads linked at the tail while it runs. A
/// thread that leaves the list before its visit (an exited or exec'd task, never a CID user)
/// is skipped: in the kernel the visit finds it inactive and does nothing (see
/// `Exec::unlink_thread`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FixupTasksToCpusPc {
    /// Before F6d: `users - 2` (F6a: `users - 1`) tasks to find; the early return.
    Begin,
    /// F6d: `hlist_for_each_entry(t, &mm->mm_cid.user_list, ...)`, one element per step.
    ForEachUser {
        /// The element to visit next.
        next: TaskId,
    },
    /// Before F6d: `for_other_threads(current, t)`, one `mm_cid_fixup_task_to_cpu()` per step.
    ForOtherThreads {
        /// The element to visit next; `None` if it left the list before the visit (the walk
        /// then ends).
        next: Option<TaskId>,
        /// Tasks still to find.
        cnt: u32,
    },
    /// Before F6d: `for_each_process_thread(p, t)` ("only for CLONE_VM processes").
    ForEachProcessThread {
        /// The element to visit next; `None` if it left the list before the visit.
        next: Option<TaskId>,
        /// Tasks still to find.
        cnt: u32,
    },
    /// F4a: `mm_cid_complete_transit(mm, MM_CID_ONCPU)`.
    CompleteTransit,
}

impl Kernel {
    /// The first task after position `after` in `list` (from the head for `None`) that passes
    /// `keep`.
    pub(crate) fn list_next(
        list: &[TaskId],
        after: Option<TaskId>,
        keep: impl Fn(TaskId) -> bool,
    ) -> Option<TaskId> {
        let start = match after {
            None => 0,
            Some(a) => list.iter().position(|&x| x == a)? + 1,
        };
        list[start..].iter().copied().find(|&x| keep(x))
    }

    /// Allocates a task slot for a new thread of `parent` (`dup_task_struct()`).
    pub(crate) fn dup_task_struct(&mut self, parent: TaskId, new_process: bool) -> TaskId {
        let p = self.task(parent);
        let mut child = Task::new(TaskState::New, p.cpu, p.cpus_allowed, true, false);
        let slot = self
            .tasks
            .iter()
            .position(|t| t.is_none())
            .expect("model bug: fork offered without a free task slot");
        child.process = if new_process {
            1 + self
                .live_tasks()
                .filter(|(_, t)| t.has_mm)
                .map(|(_, t)| t.process)
                .max()
                .unwrap_or(0)
        } else {
            p.process
        };
        *self.tasks[slot] = Some(child);
        slot as TaskId
    }

    /// Links `t` into the thread list (`list_add_tail_rcu` on the thread group and, for a new
    /// process, on the task list). The list is kept in `for_each_process_thread()` order:
    /// processes by creation, then each process's threads by creation. So a new thread goes
    /// after the last thread of its group and a new process at the end.
    pub(crate) fn link_task(&mut self, t: TaskId) {
        let process = self.task(t).process;
        let list = &self.mm.thread_list;
        let at = list
            .iter()
            .rposition(|&x| self.task(x).process == process)
            .map_or(list.len(), |p| p + 1);
        self.mm.thread_list.insert(at, t);
    }
}

impl Exec<'_> {
    /// `copy_process()` for `clone(CLONE_THREAD)`, run by the parent.
    pub(crate) fn copy_process(&mut self, pc: CopyProcessPc) -> Flow<CopyProcessPc> {
        use CopyProcessPc::*;
        let parent = self.current();
        match pc {
            DupTaskStruct { new_process } => {
                let child = self.k.dup_task_struct(parent, new_process);
                let hook = Frame::SchedMmCidFork(ForkPc::Enter { t: child });
                if self.has(Fix::F6a) {
                    self.k.link_task(child);
                    Flow::Call(AfterPostFork { child }, hook)
                } else {
                    Flow::Call(AfterCopyMm { child }, hook)
                }
            }
            AfterCopyMm { child } => Flow::Next(LinkChild { child }),
            LinkChild { child } => {
                self.k.link_task(child);
                self.wake_up_new_task(child);
                Flow::Return(VOID)
            }
            AfterPostFork { child } => {
                self.wake_up_new_task(child);
                Flow::Return(VOID)
            }
            BadForkFree { child } => {
                self.hit(Label::BadForkCleanup);
                *self.k.tasks[child as usize] = None;
                Flow::Return(VOID)
            }
        }
    }

    /// The failure path of `copy_process()` after `copy_mm()` (before F6a):
    /// `bad_fork_cleanup_mm` calls `sched_mm_cid_exit(child)`.
    pub(crate) fn bad_fork_cleanup_mm(&mut self, child: TaskId) {
        let thread = self.k.thread_mut(self.who);
        *thread.stack.last_mut().unwrap() =
            Frame::CopyProcess(CopyProcessPc::BadForkFree { child });
        thread
            .stack
            .push(Frame::SchedMmCidExit(ExitPc::Enter { t: child }));
    }

    /// `wake_up_new_task()`: the child becomes runnable on the parent's CPU.
    ///
    /// model: the kernel may pick another allowed CPU; migration (a free event) covers that.
    fn wake_up_new_task(&mut self, child: TaskId) {
        let cpu = self.this_cpu();
        let task = self.k.task_mut(child);
        task.cpu = cpu;
        task.state = TaskState::Runnable;
    }

    /// `sched_mm_cid_fork(t)`.
    pub(crate) fn sched_mm_cid_fork(&mut self, pc: ForkPc, ret: u32) -> Flow<ForkPc> {
        use ForkPc::*;
        match pc {
            Enter { t } => {
                let task = self.k.task(t);
                let (has_mm, cid) = (task.has_mm, task.mm_cid.cid);
                if !has_mm {
                    if self.has(Fix::F6a) {
                        return Flow::Return(VOID);
                    }
                    // WARN_ON_ONCE(!mm), then the mutex of a NULL mm is dereferenced.
                    self.hit(Label::ForkNullMm);
                    self.k
                        .faults
                        .warn
                        .get_or_insert(crate::state::WarnSite::ForkNullMm);
                    self.k.faults.null_deref = true;
                    return Flow::Return(VOID);
                }
                if cid != MM_CID_UNSET {
                    self.k
                        .faults
                        .warn
                        .get_or_insert(crate::state::WarnSite::ForkCidSet);
                }
                self.mutex_lock();
                // scoped_guard(raw_spinlock_irq, &mm->mm_cid.lock): nothing else holds it
                // across a step while we hold the mutex (only fork's own get() does).
                self.spin_lock(Lock::MmCid);
                let cpu = self.this_cpu();
                let current = self.current();
                if self.k.mm.users == 0 {
                    self.hit(Label::ForkFirstUser);
                    self.sched_mm_cid_add_user(t);
                    return Flow::Call(FirstUserGotCid { t }, Frame::MmGetCid(GetCidPc::First));
                }
                if !self.sched_mm_cid_add_user(t) {
                    if !cid_on_cpu(self.k.mm.mode) {
                        self.hit(Label::ForkPerTaskGetCid);
                        return Flow::Call(PerTaskGotCid { t }, Frame::MmGetCid(GetCidPc::First));
                    }
                    self.hit(Label::ForkPerCpuNoCid);
                    self.spin_unlock(Lock::MmCid);
                    self.mutex_unlock();
                    return Flow::Return(VOID);
                }
                let percpu = cid_on_cpu(self.k.mm.mode);
                if percpu {
                    self.hit(Label::ForkSwitchToPerCpu);
                    self.mm_cid_transit_to_cpu(current, cpu);
                } else {
                    self.hit(Label::ForkSwitchToPerTask);
                    self.mm_cid_transit_to_task(current, cpu);
                }
                self.spin_unlock(Lock::MmCid);
                let walk = if percpu {
                    Frame::FixupTasksToCpus(FixupTasksToCpusPc::Begin)
                } else {
                    Frame::FixupCpusToTasks(crate::exit::FixupCpusToTasksPc::ForEachPossibleCpu {
                        cpu: 0,
                    })
                };
                Flow::Call(AfterFixup { t, percpu }, walk)
            }
            FirstUserGotCid { t } => {
                // The local slot mirrors it ("required for execve").
                let cpu = self.this_cpu();
                self.k.task_mut(t).mm_cid.cid = ret;
                self.k.mm.pcpu[cpu as usize] = ret;
                self.spin_unlock(Lock::MmCid);
                self.mutex_unlock();
                Flow::Return(VOID)
            }
            PerTaskGotCid { t } => {
                self.k.task_mut(t).mm_cid.cid = ret;
                self.spin_unlock(Lock::MmCid);
                self.mutex_unlock();
                Flow::Return(VOID)
            }
            AfterFixup { t, percpu } => {
                if percpu {
                    self.mutex_unlock();
                    return Flow::Return(VOID);
                }
                // The child gets its CID only now that the fixup has freed per-CPU CIDs;
                // mm_get_cid() may spin with only the mutex held.
                Flow::Call(FinalGotCid { t }, Frame::MmGetCid(GetCidPc::First))
            }
            FinalGotCid { t } => {
                self.k.task_mut(t).mm_cid.cid = ret;
                self.mutex_unlock();
                Flow::Return(VOID)
            }
        }
    }

    /// The task walks may visit `t` (another task of the mm than `current`).
    pub(crate) fn walk_keep(k: &Kernel, current: TaskId, t: TaskId) -> bool {
        t != current && k.tasks[t as usize].as_ref().is_some_and(|x| x.has_mm)
    }

    /// `for_other_threads(current, t)` may visit `t`: another task of the mm in `current`'s
    /// thread group.
    pub(crate) fn group_walk_keep(k: &Kernel, current: TaskId, t: TaskId) -> bool {
        Self::walk_keep(k, current, t)
            && k.tasks[t as usize]
                .as_ref()
                .is_some_and(|x| x.process == k.task(current).process)
    }

    /// The end of the walk: F4a completes the transit in a step of its own (a racy store).
    fn fixup_tasks_end(&mut self) -> Flow<FixupTasksToCpusPc> {
        if self.has(Fix::F4a) {
            Flow::Next(FixupTasksToCpusPc::CompleteTransit)
        } else {
            Flow::Return(VOID)
        }
    }

    /// `mm_cid_fixup_tasks_to_cpus()` and, before F6d, `mm_cid_do_fixup_tasks_to_cpus()`.
    #[doc(alias = "mm_cid_do_fixup_tasks_to_cpus")]
    pub(crate) fn mm_cid_fixup_tasks_to_cpus(
        &mut self,
        pc: FixupTasksToCpusPc,
    ) -> Flow<FixupTasksToCpusPc> {
        use FixupTasksToCpusPc::*;
        let current = self.current();
        match pc {
            Begin => {
                if self.has(Fix::F6d) {
                    let first = Kernel::list_next(&self.k.mm.user_list, None, |t| t != current);
                    return match first {
                        Some(next) => Flow::Next(ForEachUser { next }),
                        None => self.fixup_tasks_end(),
                    };
                }
                // "Minus current, minus the new child that is not yet visible" (F6a: the child
                // is visible, so only minus current, and no early return).
                let cnt = if self.has(Fix::F6a) {
                    self.k.mm.users.saturating_sub(1)
                } else {
                    let cnt = self.k.mm.users.saturating_sub(2);
                    if cnt == 0 {
                        self.hit(Label::FixupTasksNothingToDo);
                        return self.fixup_tasks_end();
                    }
                    cnt
                };
                let k = &*self.k;
                match Kernel::list_next(&k.mm.thread_list, None, |t| {
                    Self::group_walk_keep(k, current, t)
                }) {
                    Some(next) => Flow::Next(ForOtherThreads {
                        next: Some(next),
                        cnt,
                    }),
                    None => self.fixup_tasks_process_walk(cnt),
                }
            }
            ForEachUser { next } => {
                self.mm_cid_fixup_task_to_cpu(next);
                match Kernel::list_next(&self.k.mm.user_list, Some(next), |t| t != current) {
                    Some(next) => Flow::Next(ForEachUser { next }),
                    None => self.fixup_tasks_end(),
                }
            }
            ForOtherThreads { next: None, cnt } => self.fixup_tasks_process_walk(cnt),
            ForOtherThreads {
                next: Some(next),
                mut cnt,
            } => {
                if self.mm_cid_fixup_task_to_cpu(next) {
                    cnt = cnt.saturating_sub(1);
                }
                let k = &*self.k;
                match Kernel::list_next(&k.mm.thread_list, Some(next), |t| {
                    Self::group_walk_keep(k, current, t)
                }) {
                    Some(next) => Flow::Next(ForOtherThreads {
                        next: Some(next),
                        cnt,
                    }),
                    None => self.fixup_tasks_process_walk(cnt),
                }
            }
            ForEachProcessThread { next: None, .. } => self.fixup_tasks_end(),
            ForEachProcessThread {
                next: Some(next),
                mut cnt,
            } => {
                if self.mm_cid_fixup_task_to_cpu(next) {
                    cnt = cnt.saturating_sub(1);
                    if cnt == 0 && !self.has(Fix::F6b) {
                        self.hit(Label::FixupTasksStopEarly);
                        return self.fixup_tasks_end();
                    }
                }
                let k = &*self.k;
                match Kernel::list_next(&k.mm.thread_list, Some(next), |t| {
                    Self::walk_keep(k, current, t)
                }) {
                    Some(next) => Flow::Next(ForEachProcessThread {
                        next: Some(next),
                        cnt,
                    }),
                    None => self.fixup_tasks_end(),
                }
            }
            CompleteTransit => {
                self.mm_cid_complete_transit(MM_CID_ONCPU);
                Flow::Return(VOID)
            }
        }
    }

    /// After the thread-group walk (before F6d): if tasks are still unaccounted, walk every
    /// process's threads ("only for CLONE_VM processes").
    ///
    /// model: the thread list holds every task of the mm in `for_each_process_thread()` order
    /// (see [`Kernel::link_task`]); tasks of other mms are skipped by the kernel's walk anyway.
    fn fixup_tasks_process_walk(&mut self, cnt: u32) -> Flow<FixupTasksToCpusPc> {
        if cnt == 0 {
            return self.fixup_tasks_end();
        }
        self.hit(Label::FixupTasksFullWalk);
        let current = self.current();
        let k = &*self.k;
        match Kernel::list_next(&k.mm.thread_list, None, |t| Self::walk_keep(k, current, t)) {
            Some(next) => Flow::Next(FixupTasksToCpusPc::ForEachProcessThread {
                next: Some(next),
                cnt,
            }),
            None => self.fixup_tasks_end(),
        }
    }

    /// `mm_cid_fixup_task_to_cpu(t, mm)` under `task_rq_lock(t)`: a running task's CID is
    /// handed to its CPU (TRANSIT from F4a), a task that is not running gives it up. Returns
    /// whether the task was counted (before F6d, inactive tasks are not).
    pub(crate) fn mm_cid_fixup_task_to_cpu(&mut self, t: TaskId) -> bool {
        let cpu = self.k.task(t).cpu;
        // task_rq_lock(t): one atomic step, checked free by Want::Lock.
        self.spin_lock(Lock::Rq(cpu));
        let task = self.k.task(t);
        let counted = if !self.has(Fix::F6d) && !task.mm_cid.active {
            self.hit(Label::FixupTaskInactive);
            false
        } else {
            if cid_on_task(task.mm_cid.cid) {
                if self.k.task_curr(t) {
                    self.hit(Label::FixupTaskRunning);
                    self.mm_cid_transit_to_cpu(t, cpu);
                } else {
                    self.hit(Label::FixupTaskNotRunning);
                    self.mm_unset_cid_on_task(t);
                }
            }
            true
        };
        self.spin_unlock(Lock::Rq(cpu));
        counted
    }
}
