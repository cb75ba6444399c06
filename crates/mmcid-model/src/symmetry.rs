//! Symmetry reduction: states that differ only in how task slots are numbered behave the same,
//! so the checker may keep one representative per class.
//!
//! Tasks are interchangeable: no kernel decision depends on a task's number (walks follow the
//! list order, which renumbering keeps; fork takes any free slot). CPUs and CID numbers are not
//! permuted: `for_each_possible_cpu()` walks CPUs in number order and `__mm_get_cid()` takes the
//! lowest free number, so renumbering them would merge states whose futures differ.

use std::cell::RefCell;

use mmcid_checker::fingerprint;

use crate::affinity::{SetCpusAllowedPc, WorkFnPc};
use crate::exit::{DoExitPc, ExecvePc, ExitPc, FixupCpusToTasksPc};
use crate::fork::{CopyProcessPc, FixupTasksToCpusPc, ForkPc};
use crate::state::{Kernel, Part, TaskId};
use crate::switch::{ContextSwitchPc, ConvergePc, FromCpuPc, FromTaskPc, GetCidPc};
use crate::thread::{Frame, Holder, Thread};

/// The representative of `k`'s class: live tasks sorted by their contents (list positions
/// included), renumbered 0, 1, …; free slots last.
pub fn representative(k: &Kernel) -> Kernel {
    let mut order = Vec::new();
    if canonical_order(k, &mut order) {
        return k.clone();
    }
    let mut map = Vec::new();
    slot_map(k, &order, &mut map);
    let mut out = k.clone();
    renumber_into(k, &order, &map, &mut out);
    out
}

/// `fingerprint(&representative(k))`, without allocating: the order, the slot map and the
/// renumbered state are built in per-thread buffers that are reused from call to call. The
/// checker asks for this once per transition.
pub fn representative_fingerprint(k: &Kernel) -> u64 {
    thread_local! {
        static SCRATCH: RefCell<(Vec<TaskId>, Vec<TaskId>, Option<Kernel>)> =
            const { RefCell::new((Vec::new(), Vec::new(), None)) };
    }
    SCRATCH.with(|scratch| {
        let (order, map, out) = &mut *scratch.borrow_mut();
        if canonical_order(k, order) {
            return fingerprint(k);
        }
        slot_map(k, order, map);
        let out = out.get_or_insert_with(|| k.clone());
        renumber_into(k, order, map, out);
        fingerprint(out)
    })
}

/// Fills `order` with the live tasks in the representative's order; true if that is already
/// the numbering of `k` (live tasks in slots 0, 1, … in that order, free slots last).
fn canonical_order(k: &Kernel, order: &mut Vec<TaskId>) -> bool {
    let pos = |list: &[TaskId], t: TaskId| list.iter().position(|&x| x == t).unwrap_or(usize::MAX);
    order.clear();
    order.extend(k.live_tasks().map(|(t, _)| t));
    // The order is the lexicographic one of (list positions, kworker, state, CPU, affinity,
    // CID, has_mm, the thread's printed stack, old number). The printed stack allocates, so it
    // is only made for tasks that tie on everything before it.
    let cheap = |t: TaskId| {
        let task = k.task(t);
        (
            pos(&k.mm.thread_list, t),
            pos(&k.mm.user_list, t),
            task.kworker,
            task.state,
            task.cpu,
            task.cpus_allowed,
            task.mm_cid,
            task.has_mm,
        )
    };
    order.sort_by(|&a, &b| {
        cheap(a)
            .cmp(&cheap(b))
            .then_with(|| {
                let print = |t: TaskId| format!("{:?}", k.task(t).thread);
                print(a).cmp(&print(b))
            })
            .then(a.cmp(&b))
    });
    order
        .iter()
        .enumerate()
        .all(|(new, &old)| new as TaskId == old)
        && k.tasks[order.len()..].iter().all(|t| t.is_none())
}

/// Fills `map` with old slot → new slot for the live tasks of `order` (`TaskId::MAX` for free
/// slots).
fn slot_map(k: &Kernel, order: &[TaskId], map: &mut Vec<TaskId>) {
    map.clear();
    map.resize(k.tasks.len(), TaskId::MAX);
    for (new, &old) in order.iter().enumerate() {
        map[old as usize] = new as TaskId;
    }
}

/// Writes into `out` the state `k` with its live tasks moved to the slots `map` gives them (in
/// `order`'s order) and every task number inside renumbered; reuses `out`'s buffers.
fn renumber_into(k: &Kernel, order: &[TaskId], map: &[TaskId], out: &mut Kernel) {
    let f = |t: TaskId| map[t as usize];
    out.mm.clone_from(&k.mm);
    out.rq.clone_from(&k.rq);
    out.budget.clone_from(&k.budget);
    out.faults.clone_from(&k.faults);
    out.tasks.truncate(k.tasks.len());
    out.tasks.resize(k.tasks.len(), Part::new(None));
    // Parts are written (through `DerefMut`, which forgets their remembered fingerprint) only
    // where renumbering changes them, so the unchanged ones keep it.
    for (new, &old) in order.iter().enumerate() {
        let slot = &mut out.tasks[new];
        slot.clone_from(&k.tasks[old as usize]);
        if slot.as_ref().is_some_and(|t| thread_changes(&t.thread, &f)) {
            if let Some(task) = &mut **slot {
                map_thread(&mut task.thread, &f);
            }
        }
    }
    for slot in &mut out.tasks[order.len()..] {
        if slot.is_some() {
            **slot = None;
        }
    }
    for rq in &mut out.rq {
        let curr = rq.curr.map(f);
        let lock = rq.lock.map(|h| map_holder(h, &f));
        if curr != rq.curr || lock != rq.lock || thread_changes(&rq.thread, &f) {
            rq.curr = curr;
            rq.lock = lock;
            map_thread(&mut rq.thread, &f);
        }
    }
    let lock = out.mm.lock.map(|h| map_holder(h, &f));
    let mutex = out.mm.mutex.map(f);
    let moved = |list: &[TaskId]| list.iter().any(|&t| f(t) != t);
    if lock != out.mm.lock
        || mutex != out.mm.mutex
        || moved(&out.mm.user_list)
        || moved(&out.mm.thread_list)
    {
        out.mm.lock = lock;
        out.mm.mutex = mutex;
        out.mm.user_list.iter_mut().for_each(|t| *t = f(*t));
        out.mm.thread_list.iter_mut().for_each(|t| *t = f(*t));
    }
}

/// Whether renumbering by `f` changes a frame of `thread`.
fn thread_changes(thread: &Thread, f: &impl Fn(TaskId) -> TaskId) -> bool {
    thread
        .stack
        .iter()
        .any(|frame| map_frame(frame, f) != *frame)
}

fn map_holder(h: Holder, f: &impl Fn(TaskId) -> TaskId) -> Holder {
    match h {
        Holder::Task(t) => Holder::Task(f(t)),
        cpu => cpu,
    }
}

fn map_thread(thread: &mut Thread, f: &impl Fn(TaskId) -> TaskId) {
    for frame in &mut thread.stack {
        *frame = map_frame(frame, f);
    }
}

/// `frame` with every task number renumbered by `f`.
fn map_frame(frame: &Frame, f: &impl Fn(TaskId) -> TaskId) -> Frame {
    let o = |t: Option<TaskId>| t.map(f);
    match *frame {
        Frame::ContextSwitch(ContextSwitchPc::SwitchTo { prev, next }) => {
            Frame::ContextSwitch(ContextSwitchPc::SwitchTo {
                prev: o(prev),
                next: o(next),
            })
        }
        Frame::ContextSwitch(pc @ ContextSwitchPc::FinishTaskSwitch) => Frame::ContextSwitch(pc),
        Frame::MmCidFromTask(pc) => Frame::MmCidFromTask(match pc {
            FromTaskPc::Enter { t, cpu_cid, mode } => FromTaskPc::Enter {
                t: f(t),
                cpu_cid,
                mode,
            },
            FromTaskPc::AfterConverge { t } => FromTaskPc::AfterConverge { t: f(t) },
            FromTaskPc::AfterGetCid { t, mode } => FromTaskPc::AfterGetCid { t: f(t), mode },
        }),
        Frame::MmCidFromCpu(pc) => Frame::MmCidFromCpu(match pc {
            FromCpuPc::Enter { t, cpu_cid, mode } => FromCpuPc::Enter {
                t: f(t),
                cpu_cid,
                mode,
            },
            FromCpuPc::AfterConverge { t } => FromCpuPc::AfterConverge { t: f(t) },
            FromCpuPc::AfterGetCid { t, mode } => FromCpuPc::AfterGetCid { t: f(t), mode },
        }),
        Frame::MmCidConverge(pc @ ConvergePc::TryGet { .. }) => Frame::MmCidConverge(pc),
        Frame::MmGetCid(pc @ (GetCidPc::First | GetCidPc::Retry)) => Frame::MmGetCid(pc),
        Frame::CopyProcess(pc) => Frame::CopyProcess(match pc {
            pc @ CopyProcessPc::DupTaskStruct { .. } => pc,
            CopyProcessPc::AfterCopyMm { child } => CopyProcessPc::AfterCopyMm { child: f(child) },
            CopyProcessPc::LinkChild { child } => CopyProcessPc::LinkChild { child: f(child) },
            CopyProcessPc::AfterPostFork { child } => {
                CopyProcessPc::AfterPostFork { child: f(child) }
            }
            CopyProcessPc::BadForkFree { child } => CopyProcessPc::BadForkFree { child: f(child) },
        }),
        Frame::SchedMmCidFork(pc) => Frame::SchedMmCidFork(match pc {
            ForkPc::Enter { t } => ForkPc::Enter { t: f(t) },
            ForkPc::FirstUserGotCid { t } => ForkPc::FirstUserGotCid { t: f(t) },
            ForkPc::PerTaskGotCid { t } => ForkPc::PerTaskGotCid { t: f(t) },
            ForkPc::AfterFixup { t, percpu } => ForkPc::AfterFixup { t: f(t), percpu },
            ForkPc::FinalGotCid { t } => ForkPc::FinalGotCid { t: f(t) },
        }),
        Frame::FixupTasksToCpus(pc) => Frame::FixupTasksToCpus(match pc {
            FixupTasksToCpusPc::Begin => FixupTasksToCpusPc::Begin,
            FixupTasksToCpusPc::ForEachUser { next } => {
                FixupTasksToCpusPc::ForEachUser { next: f(next) }
            }
            FixupTasksToCpusPc::ForOtherThreads { next, cnt } => {
                FixupTasksToCpusPc::ForOtherThreads { next: o(next), cnt }
            }
            FixupTasksToCpusPc::ForEachProcessThread { next, cnt } => {
                FixupTasksToCpusPc::ForEachProcessThread { next: o(next), cnt }
            }
            FixupTasksToCpusPc::CompleteTransit => FixupTasksToCpusPc::CompleteTransit,
        }),
        Frame::DoExit(pc @ (DoExitPc::Enter | DoExitPc::ReleaseTask)) => Frame::DoExit(pc),
        Frame::SchedMmCidExit(pc) => Frame::SchedMmCidExit(match pc {
            ExitPc::Enter { t } => ExitPc::Enter { t: f(t) },
            other => other,
        }),
        Frame::FixupCpusToTasks(
            pc @ (FixupCpusToTasksPc::ForEachPossibleCpu { .. }
            | FixupCpusToTasksPc::CompleteTransit),
        ) => Frame::FixupCpusToTasks(pc),
        Frame::BprmExecve(
            pc @ (ExecvePc::Enter { .. }
            | ExecvePc::SchedExec { .. }
            | ExecvePc::AfterExecve { .. }
            | ExecvePc::Done),
        ) => Frame::BprmExecve(pc),
        Frame::SetCpusAllowed(
            pc @ (SetCpusAllowedPc::TaskRqLock { .. } | SetCpusAllowedPc::MmCidLock { .. }),
        ) => Frame::SetCpusAllowed(pc),
        Frame::MmCidWorkFn(pc @ (WorkFnPc::Enter | WorkFnPc::AfterFixup)) => Frame::MmCidWorkFn(pc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;
    use crate::model::MmCidModel;

    /// The allocation-free key equals the fingerprint of the representative, on every state
    /// reached in the first 14 levels of a configuration with forks, exits and a kworker
    /// (states where the numbering is already canonical and states where it is not).
    #[test]
    fn representative_fingerprint_is_the_representatives_fingerprint() {
        let model = MmCidModel::new(crate::model::kworker_scenario(2)).unwrap();
        let (mut renumbered, mut checked) = (0, 0);
        let mut check = |state: &Kernel| {
            let rep = representative(state);
            assert_eq!(representative_fingerprint(state), fingerprint(&rep));
            renumbered += usize::from(rep != *state);
            checked += 1;
        };
        check(&model.initial_state());
        crate::model::each_transition(&model, 14, |_, _, state| check(state));
        assert!(
            renumbered > 100 && checked > renumbered,
            "{renumbered} of {checked}"
        );
    }

    #[test]
    fn representative_is_idempotent_and_renumbering_invariant() {
        let model = MmCidModel::new(Scenario {
            initial_threads: 3,
            threads: 3,
            ..Scenario::default()
        })
        .unwrap();
        let k = model.initial_state();
        let rep = representative(&k);
        assert_eq!(representative(&rep), rep);
        // Swap tasks 1 and 2 by hand: the representative must not change.
        let order = [0, 2, 1];
        let map = [0, 2, 1];
        let mut swapped = k.clone();
        renumber_into(&k, &order, &map, &mut swapped);
        assert_ne!(swapped, k);
        assert_eq!(representative(&swapped), rep);
    }
}
