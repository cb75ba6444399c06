//! The invariants of spec §5.2 as named predicates (I7, liveness, is the checker's `livelock`,
//! `stall` and `deadlock`). Names are stable: reports, JSON and tests use them.

use mmcid_checker::Property;

use crate::cid::*;
use crate::config::Fix;
use crate::model::MmCidModel;
use crate::state::{Kernel, TaskState};

/// The invariants' names, in report order.
pub const NAMES: [&str; 8] = [
    "unique-cid",
    "cid-range",
    "ownership",
    "exclusive",
    "steady-state",
    "users-count",
    "warn",
    "bounds",
];

/// All invariants, in report order (named as in [`NAMES`]).
pub fn properties() -> Vec<Property<MmCidModel>> {
    vec![
        Property::always("unique-cid", |_, k| unique_cid(k)),
        Property::always("cid-range", |_, k| cid_range(k)),
        Property::always("ownership", |_, k| ownership(k)),
        Property::always("exclusive", |_, k| exclusive(k)),
        Property::always("steady-state", |_, k| steady_state(k)),
        Property::always("users-count", |m, k| {
            users_count(k, m.scenario().kernel.has(Fix::F6d))
        }),
        Property::always("warn", |_, k: &Kernel| {
            k.faults.warn.is_none() && !k.faults.null_deref
        }),
        Property::always("bounds", |_, k| bounds(k)),
    ]
}

/// I1 `unique-cid`: no two CPUs run active users of the mm whose user-visible CIDs are equal
/// (UNSET excepted).
///
/// Decision: a CPU with a context switch in flight (its `curr` is still in `mm_get_cid()` and
/// has not reached user space) is not counted; ABI-1 concerns tasks in user space, and such a
/// task still carries the stale word it had.
pub fn unique_cid(k: &Kernel) -> bool {
    let mut seen = Mask256::EMPTY;
    let mut big = Vec::new();
    for rq in &k.rq {
        let Some(t) = rq.curr else { continue };
        if !rq.thread.is_idle() {
            continue;
        }
        let task = k.task(t);
        if !task.has_mm || !task.mm_cid.active || task.state != TaskState::Running {
            continue;
        }
        let cid = task_cid(task.mm_cid.cid);
        if cid == MM_CID_UNSET {
            continue;
        }
        if (cid as usize) < 256 {
            if seen.test(cid as usize) {
                return false;
            }
            seen.set(cid as usize);
        } else if big.contains(&cid) {
            return false;
        } else {
            big.push(cid);
        }
    }
    true
}

/// The owned numbers (spec I3): active tasks with a plain CID, slots with ONCPU, tasks with
/// TRANSIT; as (number, is CPU-owned).
fn owned(k: &Kernel) -> impl Iterator<Item = (u32, bool)> + '_ {
    let tasks = k.live_tasks().filter_map(|(_, t)| {
        let cid = t.mm_cid.cid;
        let owner = (t.mm_cid.active && cid_on_task(cid))
            || (cid_in_transit(cid) && cid & MM_CID_UNSET == 0);
        owner.then_some((cid_from_transit_cid(cid), false))
    });
    let cpus =
        k.mm.pcpu
            .iter()
            .filter(|&&s| cid_on_cpu(s) && s & MM_CID_UNSET == 0)
            .map(|&s| (cpu_cid_to_cid(s), true));
    tasks.chain(cpus)
}

/// I2 `cid-range`: every owned number is `< N`, and no `mm_drop_cid()` went out of range.
pub fn cid_range(k: &Kernel) -> bool {
    let n = k.nr_cpus() as u32;
    k.faults.oob_drop.is_none() && owned(k).all(|(c, _)| c < n)
}

/// I3 `ownership`: every set bit has an owner (no leak), every owned number's bit is set, no
/// number has two owners of the same kind, and no bit was freed twice.
///
/// Decision: a number owned by both a CPU and a task is reported by `exclusive` (I4), so the
/// two properties name different failures.
pub fn ownership(k: &Kernel) -> bool {
    if k.faults.double_drop.is_some() {
        return false;
    }
    let mut task_owned = Mask256::EMPTY;
    let mut cpu_owned = Mask256::EMPTY;
    for (c, on_cpu) in owned(k) {
        if c as usize >= k.nr_cpus() {
            continue; // cid-range
        }
        let set = if on_cpu {
            &mut cpu_owned
        } else {
            &mut task_owned
        };
        if set.test(c as usize) {
            return false;
        }
        set.set(c as usize);
    }
    let owned = task_owned.or(&cpu_owned);
    owned == k.mm.bitmap
}

/// I4 `exclusive`: no number is CPU-owned and task- or transit-owned at once.
pub fn exclusive(k: &Kernel) -> bool {
    let mut task_owned = Mask256::EMPTY;
    let mut cpu_owned = Mask256::EMPTY;
    for (c, on_cpu) in owned(k) {
        if (c as usize) < 256 {
            if on_cpu {
                cpu_owned.set(c as usize);
            } else {
                task_owned.set(c as usize);
            }
        }
    }
    let clash = task_owned.iter().any(|c| cpu_owned.test(c));
    !clash
}

/// I5 `steady-state`: with the mutex free, the mode carries no TRANSIT; per-task mode has no
/// ONCPU slot, per-CPU mode no active task with a plain CID. (Spec §7.3 and §7.4 describe ways
/// the kernel breaks this; they are findings, not model errors.)
pub fn steady_state(k: &Kernel) -> bool {
    if k.mm.mutex.is_some() {
        return true;
    }
    if cid_in_transit(k.mm.mode) {
        return false;
    }
    if cid_on_cpu(k.mm.mode) {
        k.live_tasks()
            .all(|(_, t)| !(t.mm_cid.active && cid_on_task(t.mm_cid.cid)))
    } else {
        k.mm.pcpu.iter().all(|&s| !cid_on_cpu(s))
    }
}

/// I6 `users-count`: `users` equals the number of active tasks (and, from F6d, the length of
/// `user_list`); with no users left, no deferred work is pending once the last exit is done.
pub fn users_count(k: &Kernel, user_list: bool) -> bool {
    let active = k.live_tasks().filter(|(_, t)| t.mm_cid.active).count() as u32;
    if active != k.mm.users {
        return false;
    }
    if user_list && k.mm.user_list.len() as u32 != k.mm.users {
        return false;
    }
    let exiting = k.live_tasks().any(|(_, t)| !t.thread.is_idle());
    k.mm.users > 0 || exiting || (k.mm.irq_work.is_none() && !k.mm.work_pending)
}

/// I9 `bounds`: `max_cids <= N`; in per-CPU mode `1 <= pcpu_thrs <= max(1, N/2)`.
pub fn bounds(k: &Kernel) -> bool {
    let n = k.nr_cpus() as u32;
    if k.mm.max_cids > n {
        return false;
    }
    if cid_on_cpu(k.mm.mode) && !cid_in_transit(k.mm.mode) && k.mm.mutex.is_none() {
        return (1..=(n / 2).max(1)).contains(&k.mm.pcpu_thrs);
    }
    true
}
