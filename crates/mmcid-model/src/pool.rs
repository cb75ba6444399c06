//! The CID pool and the ownership transfer helpers (kernel/sched/sched.h and core.c:
//! `__mm_get_cid`, `mm_drop_cid`, `mm_unset_cid_on_task`, `mm_drop_cid_on_cpu`,
//! `mm_cid_transit_to_task`, `mm_cid_transit_to_cpu`, `mm_cid_transfer_to_cpu`,
//! `mm_cid_set`), as of v7.1 with the older variants selected by [`Fix`]. Each of these runs
//! inside the caller's atomic section: bit operations are atomic, and the other fields are
//! protected by the locks the caller holds.

use crate::cid::*;
use crate::config::Fix;
use crate::exec::Exec;
use crate::labels::Label;
use crate::state::{CpuId, TaskId};

impl Exec<'_> {
    /// `__mm_get_cid(mm, max_cids)`: the first clear bit below `bound` (and below `N`), set
    /// atomically; `MM_CID_UNSET` if there is none.
    ///
    /// model: the scan and the test-and-set are one atomic step, so the "lost the race" failure
    /// of the kernel's test-and-set cannot happen; a caller that retries sees the same outcome.
    #[doc(alias = "__mm_get_cid")]
    pub fn mm_get_cid_raw(&mut self, bound: u32) -> u32 {
        let n = self.k.nr_cpus().min(bound as usize);
        match self.k.mm.bitmap.first_zero_below(n) {
            Some(k) => {
                self.k.mm.bitmap.set(k);
                k as u32
            }
            None => MM_CID_UNSET,
        }
    }

    /// `mm_drop_cid(mm, cid)`: atomically clears bit `cid`. The kernel has no range check; the
    /// model records a number `>= N` as an out-of-bounds write and a clear bit as a double free.
    pub fn mm_drop_cid(&mut self, cid: u32) {
        if cid as usize >= self.k.nr_cpus() {
            self.hit(Label::DropOutOfRange);
            self.k.faults.oob_drop.get_or_insert(cid);
            return;
        }
        if !self.k.mm.bitmap.test(cid as usize) {
            self.k.faults.double_drop.get_or_insert(cid);
        }
        self.k.mm.bitmap.clear(cid as usize);
    }

    /// `mm_unset_cid_on_task(t)`: `t` gives up its CID; a plain (task-owned) number is freed,
    /// borrowed ONCPU copies and TRANSIT values are not.
    pub fn mm_unset_cid_on_task(&mut self, t: TaskId) {
        let old = self.k.task(t).mm_cid.cid;
        self.k.task_mut(t).mm_cid.cid = MM_CID_UNSET;
        if cid_on_task(old) {
            self.mm_drop_cid(old);
        }
    }

    /// `mm_drop_cid_on_cpu(mm, pcp)`: frees the CPU's CID. Before F5 it assumes ONCPU is set and
    /// drops whatever number the slot holds; the slot keeps the stripped number.
    pub fn mm_drop_cid_on_cpu(&mut self, cpu: CpuId) {
        let slot = self.k.mm.pcpu[cpu as usize];
        if self.has(Fix::F5) && !cid_on_cpu(slot) {
            self.hit(Label::DropOnCpuNotOwned);
            return;
        }
        let cid = cpu_cid_to_cid(slot);
        self.k.mm.pcpu[cpu as usize] = cid;
        self.mm_drop_cid(cid);
    }

    /// `mm_cid_transit_to_task(t, pcp)`: the CPU-owned CID the running task `t` borrows becomes
    /// `t`'s temporary (TRANSIT) CID. It tests the task's word, not the slot.
    ///
    /// V1 had no TRANSIT: the task took the number over for good (a plain, task-owned CID).
    pub fn mm_cid_transit_to_task(&mut self, t: TaskId, cpu: CpuId) {
        let cid = self.k.task(t).mm_cid.cid;
        if cid_on_cpu(cid) {
            let new = if self.v.has_transit() {
                cid_to_transit_cid(cpu_cid_to_cid(cid))
            } else {
                cpu_cid_to_cid(cid)
            };
            self.k.task_mut(t).mm_cid.cid = new;
            self.k.mm.pcpu[cpu as usize] = new;
        }
    }

    /// `mm_cid_transit_to_cpu(t, pcp)` (F4a) or, before it, `mm_cid_transfer_to_cpu(t, pcp)`:
    /// the running task's own CID becomes TRANSIT (F4a) or is handed to the CPU directly.
    #[doc(alias = "mm_cid_transfer_to_cpu")]
    pub fn mm_cid_transit_to_cpu(&mut self, t: TaskId, cpu: CpuId) {
        let cid = self.k.task(t).mm_cid.cid;
        if cid_on_task(cid) {
            let new = if self.has(Fix::F4a) {
                cid_to_transit_cid(cid)
            } else {
                cid_to_cpu_cid(cid)
            };
            self.k.task_mut(t).mm_cid.cid = new;
            self.k.mm.pcpu[cpu as usize] = new;
        }
    }

    /// `mm_cid_update_task_cid()`: stores the task's new CID word (the rseq "ids changed"
    /// notification that goes with it is not modelled: it does not affect ownership).
    #[doc(alias = "mm_cid_update_task_cid")]
    pub fn set_task_cid(&mut self, t: TaskId, cid: u32) {
        self.k.task_mut(t).mm_cid.cid = cid;
    }

    /// The racy snapshot `READ_ONCE(mm->mm_cid.mode)` (B0–B1: `percpu` and `transit`).
    pub fn read_mode(&self) -> u32 {
        self.k.mm.mode
    }

    /// B0–B1 `READ_ONCE(mm->mm_cid.transit)` on this CPU: with `--relaxed`, this CPU's
    /// possibly stale view (spec §6.3); otherwise the current TRANSIT bit.
    pub fn read_transit(&mut self) -> u32 {
        let c = self.this_cpu() as usize;
        match self.k.mm.transit_seen.get(c) {
            Some(&seen) => {
                if seen != self.k.mm.mode & MM_CID_TRANSIT {
                    self.hit(Label::StaleTransitRead);
                }
                seen
            }
            None => self.k.mm.mode & MM_CID_TRANSIT,
        }
    }

    /// A write of the B0–B1 `transit` word by this CPU: it sees its own store at once; the
    /// other CPUs' views catch up by [`crate::env::Action::Propagate`].
    pub fn wrote_transit(&mut self) {
        let c = self.this_cpu() as usize;
        let now = self.k.mm.mode & MM_CID_TRANSIT;
        if let Some(seen) = self.k.mm.transit_seen.get_mut(c) {
            *seen = now;
        }
    }
}
