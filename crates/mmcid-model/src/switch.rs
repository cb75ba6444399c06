//! The context-switch hook: kernel/sched/core.c and sched.h `mm_cid_switch_to()` (renamed
//! `switch_mm_cid()` later), `mm_cid_schedout()`, `mm_cid_schedin()`, `mm_cid_from_task()`,
//! `mm_cid_from_cpu()`, `mm_cid_converge()` and `mm_get_cid()`, as of v7.1 (B5); the B0–B1
//! variants are selected by F4a, F4b and F4d.
//!
//! Atomicity (spec §4.4): the whole of `mm_cid_switch_to()` runs with `rq(c).lock` held and
//! interrupts off, so it is one step, except that every `__mm_get_cid()` attempt (in
//! `mm_get_cid()` and in `mm_cid_converge()`) is a step of its own: other CPUs interleave
//! between attempts while this CPU keeps its rq lock.

use crate::cid::*;
use crate::config::Fix;
use crate::exec::Exec;
use crate::labels::Label;
use crate::state::{TaskId, TaskState};
use crate::thread::{Flow, Frame, Lock, VOID};

/// Program counter of the context switch on a CPU.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ContextSwitchPc {
    /// `__schedule()` has taken `rq(c).lock` and set `rq->curr = next`; `context_switch()` calls
    /// `mm_cid_switch_to(prev, next)`: `mm_cid_schedout(prev)` then `mm_cid_schedin(next)`.
    SwitchTo {
        /// The task switched out (`None`: idle).
        prev: Option<TaskId>,
        /// The task switched in (`None`: idle).
        next: Option<TaskId>,
    },
    /// Back from `mm_cid_schedin()`: the switch completes and `rq(c).lock` is released
    /// (`finish_task_switch()`).
    FinishTaskSwitch,
}

/// Program counter of `mm_get_cid()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum GetCidPc {
    /// `__mm_get_cid(mm, READ_ONCE(max_cids))`: the first attempt.
    First,
    /// The `while (cid == MM_CID_UNSET) { cpu_relax(); cid = __mm_get_cid(mm, N); }` loop.
    ///
    /// model: an attempt that would fail is not offered (it would not change the state), so the
    /// spinning thread waits until a bit is free; `Want::FreeCid` reports it as waiting.
    Retry,
}

/// Program counter of `mm_cid_converge()`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConvergePc {
    /// The single `__mm_get_cid(mm, max)` attempt for a CID `orig >= max`.
    TryGet {
        /// The CID word to replace (possibly with ONCPU).
        orig: u32,
        /// `max_cids` as read by the caller.
        max: u32,
    },
}

/// Program counter of `mm_cid_from_task()` (per-task mode, possibly in transition CPU→task).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FromTaskPc {
    /// Entry with the slot value `cpu_cid` and the mode snapshot `mode`.
    Enter {
        /// The task being switched in.
        t: TaskId,
        /// `pcp->cid` as read by `mm_cid_schedin()`.
        cpu_cid: u32,
        /// The mode snapshot (B2+).
        mode: u32,
    },
    /// Back from `mm_cid_converge()`: store the result.
    AfterConverge {
        /// The task being switched in.
        t: TaskId,
    },
    /// Back from `mm_get_cid()`: add the transit flag and store.
    AfterGetCid {
        /// The task being switched in.
        t: TaskId,
        /// The mode snapshot (B2+).
        mode: u32,
    },
}

/// Program counter of `mm_cid_from_cpu()` (per-CPU mode, possibly in transition task→CPU).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FromCpuPc {
    /// Entry with the slot value `cpu_cid` and the mode snapshot `mode`.
    Enter {
        /// The task being switched in.
        t: TaskId,
        /// `pcp->cid` as read by `mm_cid_schedin()`.
        cpu_cid: u32,
        /// The mode snapshot (B2+).
        mode: u32,
    },
    /// Back from `mm_cid_converge()`: store the result.
    AfterConverge {
        /// The task being switched in.
        t: TaskId,
    },
    /// Back from `mm_get_cid()`: mark it CPU-owned (and TRANSIT during a transition) and store.
    AfterGetCid {
        /// The task being switched in.
        t: TaskId,
        /// The mode snapshot (B2+).
        mode: u32,
    },
}

impl Exec<'_> {
    /// The context switch on this CPU (`__schedule()` → `context_switch()` →
    /// `mm_cid_switch_to()` → `finish_task_switch()`), entered with `rq(c).lock` held.
    #[doc(alias = "mm_cid_switch_to")]
    #[doc(alias = "switch_mm_cid")]
    pub(crate) fn context_switch(&mut self, pc: ContextSwitchPc) -> Flow<ContextSwitchPc> {
        use ContextSwitchPc::*;
        match pc {
            SwitchTo { prev, next } => {
                if let Some(p) = prev {
                    self.mm_cid_schedout(p);
                    if self.k.task(p).state == TaskState::Dead {
                        // finish_task_switch() → put_task_struct(): the exited task is gone.
                        *self.k.tasks[p as usize] = None;
                    }
                }
                match next {
                    Some(n) => match self.mm_cid_schedin(n) {
                        Some(callee) => Flow::Enter(FinishTaskSwitch, callee),
                        None => self.context_switch(FinishTaskSwitch),
                    },
                    None => self.context_switch(FinishTaskSwitch),
                }
            }
            FinishTaskSwitch => {
                let c = self.this_cpu();
                self.spin_unlock(Lock::Rq(c));
                Flow::Return(VOID)
            }
        }
    }

    /// `mm_cid_schedout(prev)`: a task holding a TRANSIT CID gives it up (B0–B1), or, from F4d
    /// on, keeps it as a task- or CPU-owned CID if the transition is over and it is below
    /// `max_cids`. It does not look at `active` or the mm.
    pub fn mm_cid_schedout(&mut self, prev: TaskId) {
        let cid = self.k.task(prev).mm_cid.cid;
        if !cid_in_transit(cid) {
            return;
        }
        let k = cid_from_transit_cid(cid);
        if self.has(Fix::F4d) {
            let mode = self.read_mode();
            if !cid_in_transit(mode) && k < self.k.mm.max_cids {
                self.hit(Label::SchedoutRehome);
                let k = if cid_on_cpu(mode) {
                    cid_to_cpu_cid(k)
                } else {
                    k
                };
                let c = self.this_cpu();
                self.k.mm.pcpu[c as usize] = k;
                self.k.task_mut(prev).mm_cid.cid = k;
                return;
            }
        }
        self.hit(Label::SchedoutDropTransit);
        self.mm_drop_cid(k);
        self.k.task_mut(prev).mm_cid.cid = MM_CID_UNSET;
    }

    /// `mm_cid_schedin(next)`: an active task gets a CID for this CPU; returns the frame of
    /// `mm_cid_from_task()` or `mm_cid_from_cpu()` to enter, or `None` for inactive tasks.
    pub fn mm_cid_schedin(&mut self, next: TaskId) -> Option<Frame> {
        let task = self.k.task(next);
        if !task.mm_cid.active {
            return None;
        }
        let cpu_cid = self.k.mm.pcpu[self.this_cpu() as usize];
        let mode = self.read_mode();
        Some(if !cid_on_cpu(mode) {
            Frame::MmCidFromTask(FromTaskPc::Enter {
                t: next,
                cpu_cid,
                mode,
            })
        } else {
            Frame::MmCidFromCpu(FromCpuPc::Enter {
                t: next,
                cpu_cid,
                mode,
            })
        })
    }

    /// The TRANSIT bit to add in `mm_cid_from_task()`'s slow path: B2+ from the mode snapshot,
    /// B0–B1 a fresh `READ_ONCE(mm->mm_cid.transit)`.
    fn transit_bit(&mut self, mode: u32) -> u32 {
        if self.has(Fix::F4b) {
            mode & MM_CID_TRANSIT
        } else {
            self.read_transit()
        }
    }

    /// `mm_cid_from_task()`.
    pub(crate) fn mm_cid_from_task(&mut self, pc: FromTaskPc, ret: u32) -> Flow<FromTaskPc> {
        use FromTaskPc::*;
        let c = self.this_cpu() as usize;
        match pc {
            Enter { t, cpu_cid, mode } => {
                let max = self.k.mm.max_cids;
                let mut tc = self.k.task(t).mm_cid.cid;
                // Fast path: both the task's and the CPU's word are plain numbers.
                if cid_on_task(tc | cpu_cid) {
                    if tc < max {
                        self.hit(Label::FromTaskFast);
                        self.k.mm.pcpu[c] = tc;
                        return Flow::Return(VOID);
                    }
                    self.hit(Label::FromTaskConverge);
                    let callee = Frame::MmCidConverge(ConvergePc::TryGet { orig: tc, max });
                    return Flow::Call(AfterConverge { t }, callee);
                }
                // Slow path: a flag or UNSET on either side.
                if cid_on_cpu(cpu_cid) {
                    if cid_on_task(tc) {
                        self.hit(Label::FromTaskDropCpuCid);
                        self.mm_drop_cid_on_cpu(c as u16);
                    } else {
                        self.hit(Label::FromTaskTakeCpuCid);
                        tc = cpu_cid_to_cid(cpu_cid);
                    }
                }
                if !cid_on_task(tc) {
                    self.hit(Label::FromTaskGetCid);
                    return Flow::Call(AfterGetCid { t, mode }, Frame::MmGetCid(GetCidPc::First));
                }
                let tc = tc | self.transit_bit(mode);
                self.k.mm.pcpu[c] = tc;
                self.set_task_cid(t, tc);
                Flow::Return(VOID)
            }
            AfterConverge { t } => {
                self.k.mm.pcpu[c] = ret;
                self.set_task_cid(t, ret);
                Flow::Return(VOID)
            }
            AfterGetCid { t, mode } => {
                let tc = ret | self.transit_bit(mode);
                if cid_in_transit(tc) {
                    self.hit(Label::FromTaskTransit);
                }
                self.k.mm.pcpu[c] = tc;
                self.set_task_cid(t, tc);
                Flow::Return(VOID)
            }
        }
    }

    /// Whether `mm_cid_from_cpu()` marks the CID TRANSIT (F4a: a task→CPU transition is in
    /// progress; with the two-word encoding, `READ_ONCE(transit)`).
    fn cpu_cid_needs_transit(&mut self, mode: u32) -> bool {
        self.has(Fix::F4a)
            && cid_in_transit(if self.has(Fix::F4b) {
                mode
            } else {
                self.read_transit()
            })
    }

    /// `mm_cid_from_cpu()`.
    pub(crate) fn mm_cid_from_cpu(&mut self, pc: FromCpuPc, ret: u32) -> Flow<FromCpuPc> {
        use FromCpuPc::*;
        let c = self.this_cpu() as usize;
        match pc {
            Enter {
                t,
                mut cpu_cid,
                mode,
            } => {
                let max = self.k.mm.max_cids;
                let tc = self.k.task(t).mm_cid.cid;
                // Fast path: the CPU owns a CID and the task borrows a CPU CID.
                if cid_on_cpu(cpu_cid) && cid_on_cpu(tc) {
                    if cpu_cid_to_cid(cpu_cid) < max {
                        self.hit(Label::FromCpuFast);
                        self.set_task_cid(t, cpu_cid);
                        return Flow::Return(VOID);
                    }
                    self.hit(Label::FromCpuConverge);
                    let callee = Frame::MmCidConverge(ConvergePc::TryGet { orig: cpu_cid, max });
                    return Flow::Call(AfterConverge { t }, callee);
                }
                // Slow path.
                if cid_on_task(tc) {
                    if cid_on_cpu(cpu_cid) {
                        self.hit(Label::FromCpuDropTaskCid);
                        self.mm_unset_cid_on_task(t);
                    } else {
                        self.hit(Label::FromCpuTakeTaskCid);
                        cpu_cid = cid_to_cpu_cid(tc);
                    }
                }
                if !cid_on_cpu(cpu_cid) {
                    self.hit(Label::FromCpuGetCid);
                    return Flow::Call(AfterGetCid { t, mode }, Frame::MmGetCid(GetCidPc::First));
                }
                self.store_cpu_cid(t, cpu_cid, mode);
                Flow::Return(VOID)
            }
            AfterConverge { t } => {
                self.k.mm.pcpu[c] = ret;
                self.set_task_cid(t, ret);
                Flow::Return(VOID)
            }
            AfterGetCid { t, mode } => {
                self.store_cpu_cid(t, cid_to_cpu_cid(ret), mode);
                Flow::Return(VOID)
            }
        }
    }

    /// The tail of `mm_cid_from_cpu()`'s slow path: during a transition (F4a) the CID becomes
    /// TRANSIT instead of CPU-owned; then slot and task get it.
    fn store_cpu_cid(&mut self, t: TaskId, mut cpu_cid: u32, mode: u32) {
        if self.cpu_cid_needs_transit(mode) {
            self.hit(Label::FromCpuTransit);
            cpu_cid = cid_to_transit_cid(cpu_cid_to_cid(cpu_cid));
        }
        let c = self.this_cpu() as usize;
        self.k.mm.pcpu[c] = cpu_cid;
        self.set_task_cid(t, cpu_cid);
    }

    /// `mm_cid_converge()`: one attempt to trade a CID `>= max` for a smaller one; the result
    /// keeps `orig`'s ONCPU bit (not TRANSIT).
    pub(crate) fn mm_cid_converge(&mut self, pc: ConvergePc) -> Flow<ConvergePc> {
        let ConvergePc::TryGet { orig, max } = pc;
        let k = cpu_cid_to_cid(orig);
        if k < max {
            return Flow::Return(orig);
        }
        let new = self.mm_get_cid_raw(max);
        if new == MM_CID_UNSET {
            self.hit(Label::ConvergeKeep);
            return Flow::Return(orig);
        }
        self.hit(Label::ConvergeSwap);
        self.mm_drop_cid(k);
        Flow::Return(new | (orig & MM_CID_ONCPU))
    }

    /// `mm_get_cid()`: allocate a CID, spinning until one is free. The caller holds an rq lock
    /// or `mm_cid.lock` with interrupts off, or only the mutex (fork after a fixup).
    pub(crate) fn mm_get_cid(&mut self, pc: GetCidPc) -> Flow<GetCidPc> {
        match pc {
            GetCidPc::First => {
                let max = self.k.mm.max_cids;
                let cid = self.mm_get_cid_raw(max);
                if cid == MM_CID_UNSET {
                    self.hit(Label::GetCidSpin);
                    return Flow::Next(GetCidPc::Retry);
                }
                Flow::Return(cid)
            }
            GetCidPc::Retry => {
                let n = self.k.nr_cpus() as u32;
                let cid = self.mm_get_cid_raw(n);
                assert_ne!(
                    cid, MM_CID_UNSET,
                    "model bug: Retry offered with a full pool"
                );
                self.hit(Label::GetCidAfterSpin);
                Flow::Return(cid)
            }
        }
    }
}
