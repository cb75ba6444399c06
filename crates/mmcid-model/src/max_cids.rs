//! Mode bookkeeping: kernel/sched/core.c `mm_update_max_cids()`, `__mm_update_max_cids()`,
//! `mm_cid_calc_pcpu_thrs()`, `mm_cid_complete_transit()`, `sched_mm_cid_add_user()` and
//! `sched_mm_cid_remove_user()`, as of v7.1 (B5); older variants by [`Fix`]. All of them run
//! inside the caller's `mm_cid.lock` section (one atomic step).

use crate::cid::*;
use crate::config::Fix;
use crate::exec::Exec;
use crate::labels::Label;
use crate::state::{Kernel, TaskId};

impl Kernel {
    /// `opt = min(nr_cpus_allowed, users)`.
    fn opt_cids(&self) -> u32 {
        self.mm.nr_cpus_allowed.min(self.mm.users)
    }

    /// `mm_cid_calc_pcpu_thrs()`: `min(opt - opt/4, N/2)`, clamped to at least 1 by F1.
    pub fn mm_cid_calc_pcpu_thrs(&self, f1: bool) -> u32 {
        let opt = self.opt_cids();
        let thrs = (opt - opt / 4).min(self.nr_cpus() as u32 / 2);
        if f1 {
            thrs.max(1)
        } else {
            thrs
        }
    }
}

impl Exec<'_> {
    /// `__mm_update_max_cids()`: `max_cids = min(opt + opt/4, N)`.
    #[doc(alias = "__mm_update_max_cids")]
    pub fn mm_update_max_cids_raw(&mut self) {
        let opt = self.k.opt_cids();
        self.k.mm.max_cids = (opt + opt / 4).min(self.k.nr_cpus() as u32);
    }

    /// `mm_update_max_cids()`: recomputes `max_cids`, decides whether the ownership mode must
    /// change, and flips it; returns whether it did. Caller holds `mm_cid.lock`.
    pub fn mm_update_max_cids(&mut self) -> bool {
        self.k.mm.update_deferred = false;
        self.mm_update_max_cids_raw();
        let percpu = cid_on_cpu(self.k.mm.mode);
        if !percpu {
            if self.k.mm.users > self.k.mm.max_cids {
                self.k.mm.pcpu_thrs = self.k.mm_cid_calc_pcpu_thrs(self.has(Fix::F1));
            }
        } else if self.k.mm.users < self.k.mm.pcpu_thrs {
            self.k.mm.pcpu_thrs = 0;
        }
        if percpu == (self.k.mm.pcpu_thrs != 0) {
            return false;
        }
        let to_percpu = !percpu;
        self.k.mm.mode = if self.has(Fix::F4b) {
            // WRITE_ONCE(mode, mode ^ (ONCPU | TRANSIT)); smp_mb(). The XOR keeps a stale
            // TRANSIT (spec §7.3) in the other position.
            let mut new = self.k.mm.mode ^ (MM_CID_ONCPU | MM_CID_TRANSIT);
            if to_percpu && !self.has(Fix::F4a) {
                // model: F4b without F4a never shipped; we keep F4a's meaning (no TRANSIT
                // for the task→CPU direction).
                new &= !MM_CID_TRANSIT;
            }
            new
        } else {
            // B0–B1: WRITE_ONCE(transit, TRANSIT) when going per-task (F4a's first posting:
            // in both directions), then WRITE_ONCE(percpu, ...).
            let mut mode = self.k.mm.mode;
            if (!to_percpu || self.has(Fix::F4a)) && self.v.has_transit() {
                mode |= MM_CID_TRANSIT;
            }
            if to_percpu {
                mode | MM_CID_ONCPU
            } else {
                mode & !MM_CID_ONCPU
            }
        };
        self.wrote_transit();
        self.hit(if to_percpu {
            Label::ModeToPerCpu
        } else {
            Label::ModeToPerTask
        });
        true
    }

    /// `mm_cid_complete_transit(mm, mode)` (B2+): `smp_mb(); WRITE_ONCE(mode, mode)`. B0–B1:
    /// `WRITE_ONCE(transit, 0)`.
    pub fn mm_cid_complete_transit(&mut self, mode: u32) {
        if self.has(Fix::F4b) {
            self.k.mm.mode = mode;
        } else {
            self.k.mm.mode &= !MM_CID_TRANSIT;
            self.wrote_transit();
        }
    }

    /// `sched_mm_cid_add_user()`: `t` becomes a CID user. Caller holds mutex and lock.
    pub fn sched_mm_cid_add_user(&mut self, t: TaskId) -> bool {
        self.k.task_mut(t).mm_cid.active = true;
        if self.has(Fix::F6d) {
            self.k.mm.user_list.insert(0, t);
        }
        self.k.mm.users += 1;
        self.mm_update_max_cids()
    }

    /// `sched_mm_cid_remove_user()`: `t` stops being a CID user and gives up a task-owned or
    /// TRANSIT CID. Caller holds mutex and lock.
    pub fn sched_mm_cid_remove_user(&mut self, t: TaskId) -> bool {
        let task = self.k.task_mut(t);
        task.mm_cid.active = false;
        task.mm_cid.cid = cid_from_transit_cid(task.mm_cid.cid);
        self.mm_unset_cid_on_task(t);
        if self.has(Fix::F6d) {
            self.k.mm.user_list.retain(|&u| u != t);
        }
        self.k.mm.users -= 1;
        self.mm_update_max_cids()
    }
}
