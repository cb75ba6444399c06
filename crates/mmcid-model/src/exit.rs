//! Exit and exec: kernel/exit.c `do_exit()` and fs/exec.c `bprm_execve()` as far as the CID
//! hooks go, and kernel/sched/core.c `sched_mm_cid_exit()`,
//! `sched_mm_cid_before_execve()`, `sched_mm_cid_after_execve()` and
//! `mm_cid_fixup_cpus_to_tasks()`, as of v7.1 (B5); older variants by [`Fix`].

use crate::cid::*;
use crate::config::Fix;
use crate::exec::Exec;
use crate::fork::{FixupTasksToCpusPc, ForkPc};
use crate::labels::Label;
use crate::state::{CpuId, Kernel, TaskId, TaskState, WarnSite};
use crate::thread::{Flow, Frame, Lock, VOID};

/// Program counter of `do_exit()` (the current task exits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DoExitPc {
    /// Entry: `sched_mm_cid_exit(current)`, just before `exit_signals()`.
    Enter,
    /// `exit_notify()` → `release_task()`: the thread leaves the thread list; its final
    /// `schedule()` follows.
    ReleaseTask,
}

/// Program counter of `bprm_execve()` (the current task calls `execve()`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExecvePc {
    /// `sched_mm_cid_before_execve(current)`, which is `sched_mm_cid_exit(current)`.
    Enter {
        /// The exec will fail after the hooks ran.
        fail: bool,
        /// Where `sched_exec()` moves the task.
        to: CpuId,
    },
    /// `sched_exec()`: the task may migrate to another allowed CPU.
    SchedExec {
        /// The exec will fail.
        fail: bool,
        /// Where `sched_exec()` moves the task.
        to: CpuId,
    },
    /// The exec succeeded (the task now uses a new mm) or failed:
    /// `sched_mm_cid_after_execve(current)` re-adds it to the old mm.
    AfterExecve {
        /// The exec failed.
        fail: bool,
    },
    /// Back from `sched_mm_cid_fork(current)` on the failure path.
    Done,
}

/// Program counter of `sched_mm_cid_exit(t)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExitPc {
    /// Entry: the early return for inactive tasks, `guard(mutex)`, the lock section.
    Enter {
        /// The task that stops being a CID user.
        t: TaskId,
    },
    /// Back from `mm_cid_fixup_cpus_to_tasks()`: the mutex is released.
    AfterFixup,
    /// The last user is gone: `irq_work_sync()` and `cancel_work_sync()`.
    SyncWork,
}

/// Program counter of `mm_cid_fixup_cpus_to_tasks()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FixupCpusToTasksPc {
    /// `for_each_possible_cpu(cpu) { guard(rq_lock_irq)(rq); ... }`: one step per CPU, since
    /// every access to `pcp->cid` and `rq->curr` of that CPU holds its rq lock.
    ForEachPossibleCpu {
        /// The CPU to visit.
        cpu: CpuId,
    },
    /// `mm_cid_complete_transit(mm, 0)` (B0–B1: `WRITE_ONCE(transit, 0)`): a racy store, so a
    /// step of its own.
    CompleteTransit,
}

impl Exec<'_> {
    /// `do_exit()` as far as the CID hooks go.
    pub(crate) fn do_exit(&mut self, pc: DoExitPc) -> Flow<DoExitPc> {
        let t = self.current();
        match pc {
            DoExitPc::Enter => Flow::Call(
                DoExitPc::ReleaseTask,
                Frame::SchedMmCidExit(ExitPc::Enter { t }),
            ),
            DoExitPc::ReleaseTask => {
                self.unlink_thread(t);
                self.k.task_mut(t).state = TaskState::Dead;
                Flow::Return(VOID)
            }
        }
    }

    /// `bprm_execve()` as far as the CID hooks go.
    ///
    /// model: a successful exec moves the task to a new mm this model does not track; for this
    /// mm the task is gone, like an exited one. (A multi-threaded exec also kills the other
    /// threads; their exits are ordinary exit events here.)
    pub(crate) fn bprm_execve(&mut self, pc: ExecvePc) -> Flow<ExecvePc> {
        use ExecvePc::*;
        let t = self.current();
        match pc {
            Enter { fail, to } => Flow::Call(
                SchedExec { fail, to },
                Frame::SchedMmCidExit(ExitPc::Enter { t }),
            ),
            SchedExec { fail, to } => {
                if to == self.k.task(t).cpu {
                    return self.bprm_execve(AfterExecve { fail });
                }
                // sched_exec() → stop_one_cpu(migration_cpu_stop): the task moves and runs
                // again when the target CPU schedules it.
                self.hit(Label::ExecMigrate);
                self.spin_lock(Lock::Rq(to));
                self.spin_unlock(Lock::Rq(to));
                let task = self.k.task_mut(t);
                task.cpu = to;
                task.state = TaskState::Runnable;
                Flow::Next(AfterExecve { fail })
            }
            AfterExecve { fail: false } => {
                self.hit(Label::ExecSucceeded);
                self.unlink_thread(t);
                self.k.task_mut(t).state = TaskState::Dead;
                Flow::Return(VOID)
            }
            AfterExecve { fail: true } => {
                // sched_mm_cid_after_execve(): F3 skips the fork hook without an mm.
                if self.has(Fix::F3) && !self.k.task(t).has_mm {
                    return Flow::Return(VOID);
                }
                self.hit(Label::ExecFailed);
                Flow::Call(Done, Frame::SchedMmCidFork(ForkPc::Enter { t }))
            }
            Done => Flow::Return(VOID),
        }
    }

    /// `t` leaves the thread list (`__unhash_process()`); a task walk about to visit it moves
    /// on to its successor (an RCU walk that visited it would find it inactive and do nothing).
    pub(crate) fn unlink_thread(&mut self, t: TaskId) {
        let walkers: Vec<TaskId> = self.k.live_tasks().map(|(i, _)| i).collect();
        for w in walkers {
            let k = &*self.k;
            let fix = |next: &mut Option<TaskId>, group: bool| {
                if *next == Some(t) {
                    *next = Kernel::list_next(&k.mm.thread_list, Some(t), |x| {
                        if group {
                            Exec::group_walk_keep(k, w, x)
                        } else {
                            Exec::walk_keep(k, w, x)
                        }
                    });
                }
            };
            let mut stack = k.task(w).thread.stack.clone();
            let mut changed = false;
            for frame in &mut stack {
                let (next, group) = match frame {
                    Frame::FixupTasksToCpus(FixupTasksToCpusPc::ForOtherThreads {
                        next, ..
                    }) => (next, true),
                    Frame::FixupTasksToCpus(FixupTasksToCpusPc::ForEachProcessThread {
                        next,
                        ..
                    }) => (next, false),
                    _ => continue,
                };
                let before = *next;
                fix(next, group);
                changed |= before != *next;
            }
            if changed {
                self.hit(Label::WalkSkipsUnlinked);
                self.k.task_mut(w).thread.stack = stack;
            }
        }
        self.k.mm.thread_list.retain(|&x| x != t);
    }

    /// `sched_mm_cid_exit(t)`: `t` stops being a CID user (exit, exec, failed fork).
    #[doc(alias = "sched_mm_cid_before_execve")]
    pub(crate) fn sched_mm_cid_exit(&mut self, pc: ExitPc) -> Flow<ExitPc> {
        use ExitPc::*;
        match pc {
            Enter { t } => {
                let task = self.k.task(t);
                if !task.has_mm || !task.mm_cid.active {
                    return Flow::Return(VOID);
                }
                self.mutex_lock();
                let current = self.current();
                let cpu = self.this_cpu();
                // scoped_guard(raw_spinlock_irq, &mm->mm_cid.lock): free, as in fork.
                self.spin_lock(Lock::MmCid);
                if self.k.mm.users > 1 {
                    if !self.sched_mm_cid_remove_user(t) {
                        self.hit(Label::ExitNoModeChange);
                        self.spin_unlock(Lock::MmCid);
                        self.mutex_unlock();
                        return Flow::Return(VOID);
                    }
                    if cid_on_cpu(self.k.mm.mode) {
                        self.k.faults.warn.get_or_insert(WarnSite::ExitStillPerCpu);
                        self.spin_unlock(Lock::MmCid);
                        self.mutex_unlock();
                        return Flow::Return(VOID);
                    }
                    if !self.k.task(current).has_mm {
                        self.k
                            .faults
                            .warn
                            .get_or_insert(WarnSite::ExitForeignCurrent);
                        self.spin_unlock(Lock::MmCid);
                        self.mutex_unlock();
                        return Flow::Return(VOID);
                    }
                    self.hit(Label::ExitSwitchToPerTask);
                    if self.has(Fix::F4c) {
                        self.mm_drop_cid_on_cpu(cpu);
                    } else {
                        self.mm_cid_transit_to_task(current, cpu);
                    }
                    self.spin_unlock(Lock::MmCid);
                    return Flow::Call(
                        AfterFixup,
                        Frame::FixupCpusToTasks(FixupCpusToTasksPc::ForEachPossibleCpu { cpu: 0 }),
                    );
                }
                // The last user: "required across execve" when t is current.
                self.hit(Label::ExitLastUser);
                if t == current {
                    self.mm_cid_transit_to_task(t, cpu);
                }
                // The mode change, if any, is ignored (spec §7.3).
                if self.sched_mm_cid_remove_user(t) {
                    self.hit(Label::ExitLastUserModeChangeIgnored);
                }
                self.spin_unlock(Lock::MmCid);
                self.mutex_unlock();
                if self.k.mm.irq_work.is_some() || self.k.mm.work_pending || self.k.mm.work_running
                {
                    return Flow::Next(SyncWork);
                }
                Flow::Return(VOID)
            }
            AfterFixup => {
                self.mutex_unlock();
                Flow::Return(VOID)
            }
            SyncWork => {
                self.hit(Label::ExitCancelWork);
                self.k.mm.work_pending = false;
                Flow::Return(VOID)
            }
        }
    }

    /// `mm_cid_fixup_cpus_to_tasks(mm)`: every CPU-owned CID goes to the task running there
    /// (TRANSIT) or back to the pool; the running task's own CID is marked TRANSIT.
    pub(crate) fn mm_cid_fixup_cpus_to_tasks(
        &mut self,
        pc: FixupCpusToTasksPc,
    ) -> Flow<FixupCpusToTasksPc> {
        use FixupCpusToTasksPc::*;
        match pc {
            ForEachPossibleCpu { cpu } => {
                self.spin_lock(Lock::Rq(cpu));
                let c = cpu as usize;
                let user = self.k.rq[c].curr.filter(|&t| {
                    let task = self.k.task(t);
                    task.has_mm && task.mm_cid.active
                });
                if cid_on_cpu(self.k.mm.pcpu[c]) {
                    match user {
                        Some(t) => {
                            self.hit(Label::FixupCpuToRunningTask);
                            self.mm_cid_transit_to_task(t, cpu);
                        }
                        None => {
                            self.hit(Label::FixupCpuDrop);
                            self.mm_drop_cid_on_cpu(cpu);
                        }
                    }
                } else if let Some(t) = user {
                    let cid = self.k.task(t).mm_cid.cid;
                    if self.has(Fix::F7) && cid == MM_CID_UNSET {
                        self.hit(Label::FixupCpuSkipUnset);
                    } else if !cid_in_transit(cid) && self.v.has_transit() {
                        self.hit(Label::FixupCpuMarkTransit);
                        let cid = cid_to_transit_cid(cid);
                        self.k.task_mut(t).mm_cid.cid = cid;
                        self.k.mm.pcpu[c] = cid;
                    }
                }
                self.spin_unlock(Lock::Rq(cpu));
                if c + 1 < self.k.nr_cpus() {
                    Flow::Next(ForEachPossibleCpu { cpu: cpu + 1 })
                } else {
                    Flow::Next(CompleteTransit)
                }
            }
            CompleteTransit => {
                self.mm_cid_complete_transit(0);
                Flow::Return(VOID)
            }
        }
    }
}
