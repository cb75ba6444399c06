//! Affinity and the deferred mode change: kernel/sched/core.c `set_cpus_allowed_common()` →
//! `mm_update_cpus_allowed()`, the irq_work handler and `mm_cid_work_fn()`, as of v7.1 (B5).
//!
//! model: the task widens its own affinity (`sched_setaffinity(0, ...)`), one CPU at a time;
//! `pi_lock` is not modelled because every path that takes it here also takes the same rq lock.
//! The work runs on one kworker task (no mm) that the irq_work wakes on its CPU.

use crate::cid::*;
use crate::exec::Exec;
use crate::labels::Label;
use crate::state::{CpuId, TaskState, WarnSite};
use crate::thread::{Flow, Frame, Lock, VOID};

/// Program counter of `__set_cpus_allowed_ptr()` on the current task.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SetCpusAllowedPc {
    /// `task_rq_lock(p)` (interrupts off from here on).
    TaskRqLock {
        /// The CPU added to the mask.
        add: CpuId,
    },
    /// `set_cpus_allowed_common()`: the new mask, then `mm_update_cpus_allowed()` under
    /// `mm_cid.lock` (the task's rq lock still held).
    MmCidLock {
        /// The CPU added to the mask.
        add: CpuId,
    },
}

/// Program counter of `mm_cid_work_fn()` (on the kworker).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WorkFnPc {
    /// `guard(mutex)`, then the `scoped_guard(raw_spinlock_irq, lock)` section.
    Enter,
    /// Back from `mm_cid_fixup_cpus_to_tasks()`.
    AfterFixup,
}

impl Exec<'_> {
    /// `__set_cpus_allowed_ptr()` → `set_cpus_allowed_common()` for the current task.
    pub(crate) fn set_cpus_allowed(&mut self, pc: SetCpusAllowedPc) -> Flow<SetCpusAllowedPc> {
        use SetCpusAllowedPc::*;
        let t = self.current();
        let cpu = self.this_cpu();
        match pc {
            TaskRqLock { add } => {
                self.spin_lock(Lock::Rq(cpu));
                Flow::Next(MmCidLock { add })
            }
            MmCidLock { add } => {
                self.k.task_mut(t).cpus_allowed.set(add as usize);
                let mask = self.k.task(t).cpus_allowed;
                self.mm_update_cpus_allowed(mask);
                self.spin_unlock(Lock::Rq(cpu));
                Flow::Return(VOID)
            }
        }
    }

    /// `mm_update_cpus_allowed(mm, affmsk)`: widens the mm's CPU set and `max_cids`; in per-CPU
    /// mode it lowers the switch-back threshold and may queue the deferred switch back.
    pub fn mm_update_cpus_allowed(&mut self, mask: crate::cid::Mask256) {
        let t = self.current();
        if !self.k.task(t).has_mm || self.k.mm.users == 0 {
            return;
        }
        self.spin_lock(Lock::MmCid);
        self.mm_update_cpus_allowed_locked(mask);
        self.spin_unlock(Lock::MmCid);
    }

    fn mm_update_cpus_allowed_locked(&mut self, mask: crate::cid::Mask256) {
        self.k.mm.cpus_allowed = self.k.mm.cpus_allowed.or(&mask);
        let weight = self.k.mm.cpus_allowed.weight();
        if weight == self.k.mm.nr_cpus_allowed {
            self.hit(Label::AffinityNoChange);
            return;
        }
        self.k.mm.nr_cpus_allowed = weight;
        self.mm_update_max_cids_raw();
        if !cid_on_cpu(self.k.mm.mode) {
            self.hit(Label::AffinityPerTask);
            return;
        }
        self.k.mm.pcpu_thrs = self
            .k
            .mm_cid_calc_pcpu_thrs(self.has(crate::config::Fix::F1));
        if self.k.mm.users >= self.k.mm.pcpu_thrs {
            self.hit(Label::AffinityThresholdMet);
            return;
        }
        if self.k.mm.update_deferred {
            return;
        }
        self.hit(Label::AffinityQueueWork);
        self.k.mm.update_deferred = true;
        self.k.mm.irq_work = Some(self.this_cpu());
    }

    /// `mm_cid_work_fn()`: the deferred switch back to per-task mode.
    pub(crate) fn mm_cid_work_fn(&mut self, pc: WorkFnPc) -> Flow<WorkFnPc> {
        match pc {
            WorkFnPc::Enter => {
                self.mutex_lock();
                if self.k.mm.users == 0 {
                    self.mutex_unlock();
                    return self.work_done();
                }
                self.spin_lock(Lock::MmCid);
                if !self.k.mm.update_deferred {
                    self.hit(Label::WorkNotDeferred);
                    self.spin_unlock(Lock::MmCid);
                    self.mutex_unlock();
                    return self.work_done();
                }
                if !self.mm_update_max_cids() {
                    self.spin_unlock(Lock::MmCid);
                    self.mutex_unlock();
                    return self.work_done();
                }
                if cid_on_cpu(self.k.mm.mode) {
                    self.k.faults.warn.get_or_insert(WarnSite::WorkStillPerCpu);
                    self.spin_unlock(Lock::MmCid);
                    self.mutex_unlock();
                    return self.work_done();
                }
                self.hit(Label::WorkSwitchToPerTask);
                self.spin_unlock(Lock::MmCid);
                Flow::Call(
                    WorkFnPc::AfterFixup,
                    Frame::FixupCpusToTasks(crate::exit::FixupCpusToTasksPc::ForEachPossibleCpu {
                        cpu: 0,
                    }),
                )
            }
            WorkFnPc::AfterFixup => {
                self.mutex_unlock();
                self.work_done()
            }
        }
    }

    /// The work function returns; the kworker sleeps unless the work was queued again.
    fn work_done<P>(&mut self) -> Flow<P> {
        self.k.mm.work_running = false;
        if !self.k.mm.work_pending {
            let t = self.current();
            self.k.task_mut(t).state = TaskState::Sleeping;
        }
        Flow::Return(VOID)
    }
}
