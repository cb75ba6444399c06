//! The whole-system state: the mm's CID state (`struct mm_mm_cid`), the tasks (`task_struct`
//! subset: `struct sched_mm_cid`, state, CPU, affinity) and the runqueues (`struct rq` subset),
//! as of v7.1 (B5). Each field says which kernel field it models and what protects it.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cid::Mask256;
use crate::thread::{Holder, Thread};

/// A CPU number, `0 .. N`.
pub type CpuId = u16;
/// A task slot number. The model reuses the slots of exited tasks.
pub type TaskId = u16;

/// A part of a state (the mm, a runqueue, a task slot) with its fingerprint remembered.
///
/// A successor is built as a copy of its parent with a step applied, and a step writes one to
/// three parts; the fingerprint of a state is made of its parts' fingerprints (see `Hash`
/// below), so only the parts written since the copy are hashed again. Every write goes
/// through [`std::ops::DerefMut`], which forgets the remembered fingerprint: the value is
/// private, so no write can keep a stale one. Reads go through [`std::ops::Deref`], so code
/// uses a part as the value it holds. Equality and `Debug` are the value's.
pub struct Part<T> {
    value: T,
    // The value's fingerprint, or 0 if not computed since the last write (a fingerprint that
    // is 0 is merely computed again each time). Atomic so that states stay `Sync`; threads
    // that race to fill it store the same number.
    fp: AtomicU64,
    // The value's number in a pack table (`pack.rs`), with that table's tag in the upper half,
    // or 0 if not known since the last write. Same rules as `fp`.
    packed: AtomicU64,
}

impl<T> Part<T> {
    /// `value`, its fingerprint not yet computed.
    pub fn new(value: T) -> Self {
        Part {
            value,
            fp: AtomicU64::new(0),
            packed: AtomicU64::new(0),
        }
    }

    /// The value's number in the pack table tagged `tag`, if known since the last write.
    #[inline]
    pub(crate) fn packed_id(&self, tag: u32) -> Option<u32> {
        let packed = self.packed.load(Ordering::Relaxed);
        ((packed >> 32) as u32 == tag).then_some(packed as u32)
    }

    /// Remembers the value's number `id` in the pack table tagged `tag` (not 0).
    #[inline]
    pub(crate) fn set_packed_id(&self, tag: u32, id: u32) {
        self.packed
            .store((u64::from(tag) << 32) | u64::from(id), Ordering::Relaxed);
    }
}

impl<T: Hash> Part<T> {
    /// The value's fingerprint (`mmcid_checker::fingerprint` of it), remembered until the next
    /// write.
    #[inline]
    pub fn fingerprint(&self) -> u64 {
        let fp = self.fp.load(Ordering::Relaxed);
        if fp != 0 {
            return fp;
        }
        let fp = mmcid_checker::fingerprint(&self.value);
        self.fp.store(fp, Ordering::Relaxed);
        fp
    }
}

impl<T> std::ops::Deref for Part<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Part<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        *self.fp.get_mut() = 0;
        *self.packed.get_mut() = 0;
        &mut self.value
    }
}

impl<T: Clone> Clone for Part<T> {
    fn clone(&self) -> Self {
        Part {
            value: self.value.clone(),
            fp: AtomicU64::new(self.fp.load(Ordering::Relaxed)),
            packed: AtomicU64::new(self.packed.load(Ordering::Relaxed)),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.value.clone_from(&source.value);
        *self.fp.get_mut() = source.fp.load(Ordering::Relaxed);
        *self.packed.get_mut() = source.packed.load(Ordering::Relaxed);
    }
}

impl<T: PartialEq> PartialEq for Part<T> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Part<T> {}

// A part hashes as its fingerprint: equal values, equal fingerprints.
impl<T: Hash> Hash for Part<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.fingerprint());
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Part<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// The modelled system: one mm, its threads, the CPUs.
// `Clone` is written out (here and for the parts with heap memory) for `clone_from`, which
// reuses the target's vectors: the checker builds successors in states it no longer needs.
#[derive(PartialEq, Eq, Debug)]
pub struct Kernel {
    /// The mm's CID state (`mm->mm_cid`).
    // Boxed to keep `Kernel` small: the checker moves states around by value, and a move of the
    // boxed form copies about a third of the bytes.
    pub mm: Box<Part<MmCid>>,
    /// Per-CPU runqueues, index = CPU number.
    pub rq: Vec<Part<Rq>>,
    /// Task slots; `None` is a free slot.
    pub tasks: Vec<Part<Option<Task>>>,
    /// Events the environment may still cause.
    pub budget: Budget,
    /// What went wrong so far (kernel WARNs, out-of-range bit operations).
    pub faults: Faults,
}

/// `struct mm_mm_cid` (include/linux/rseq_types.h) plus the mm's thread list.
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct MmCid {
    /// `pcpu[c].cid`: per-CPU CID storage (`struct mm_cid_pcpu`).
    // invariant: slot c is written only with rq(c).lock held, or by fork/exit on the local CPU
    // with mm_cid.lock held and IRQs off (spec §4.1).
    pub pcpu: Vec<u32>,
    /// `mode` (B2+), or `percpu` (ONCPU bit) + `transit` (TRANSIT bit) before F4b.
    // invariant: flipped under mutex + lock; TRANSIT cleared under the mutex only.
    pub mode: u32,
    /// `--relaxed` before F4b (weakly ordered memory, spec §6.3): each CPU's view of the
    /// `transit` word (its TRANSIT bit), which may lag behind the last write until an
    /// [`crate::env::Action::Propagate`] brings it up to date. Empty otherwise.
    ///
    /// model: a view may lag for as long as the environment likes (no acquire of a lock the
    /// writer released forces it); this allows more than the hardware does, which is fine
    /// for showing that F4b's reordering is reachable but may report stalls a real machine
    /// would not produce. The `percpu` word is always read fresh: the reported reordering is
    /// "new percpu, old transit".
    pub transit_seen: Vec<u32>,
    /// `max_cids`: exclusive bound for first allocation attempts and convergence.
    pub max_cids: u32,
    /// `pcpu_thrs`: 0 ⇔ per-task mode wanted; otherwise the switch-back threshold.
    pub pcpu_thrs: u32,
    /// `users`: number of tasks with `active == 1`. Written with mutex and lock held.
    pub users: u32,
    /// `nr_cpus_allowed`: weight of `cpus_allowed`; only grows.
    pub nr_cpus_allowed: u32,
    /// `update_deferred`: the affinity path has queued the deferred switch back.
    pub update_deferred: bool,
    /// `mm_cpus_allowed(mm)`: union of the users' affinity masks.
    pub cpus_allowed: Mask256,
    /// `mm_cidmask(mm)`: the CID pool, `N` bits, atomic bit operations only.
    pub bitmap: Mask256,
    /// `user_list` (B4+, F6d): every active task, newest first (hlist head insertion).
    pub user_list: Vec<TaskId>,
    /// The process's thread list (`signal->thread_head`), creation order; the task list walk
    /// of the B0–B3 fixup visits the same tasks in the same order.
    pub thread_list: Vec<TaskId>,
    /// `mutex`: owner, if held.
    pub mutex: Option<TaskId>,
    /// `lock` (raw spinlock): owner, if held.
    pub lock: Option<Holder>,
    /// `irq_work` queued, with the CPU it was queued on.
    pub irq_work: Option<CpuId>,
    /// `work` queued and not yet started.
    pub work_pending: bool,
    /// `mm_cid_work_fn()` is running.
    pub work_running: bool,
}

/// `struct rq` subset.
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Rq {
    /// `rq->curr`; `None` is the idle task (no mm, never a CID user).
    pub curr: Option<TaskId>,
    /// `rq->__lock`: owner, if held across a step.
    pub lock: Option<Holder>,
    /// The context switch in flight on this CPU (`__schedule` → `mm_cid_switch_to`), if any.
    pub thread: Thread,
}

/// What a task is doing, as the scheduler sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum TaskState {
    /// Created by fork, not yet woken (`wake_up_new_task` not yet called).
    New,
    /// On its CPU's runqueue, not running.
    Runnable,
    /// `rq->curr` of its CPU.
    Running,
    /// Blocked in user space or in a syscall; woken by the environment.
    Sleeping,
    /// Sleeping on `mm_cid.mutex`; runnable again when the mutex is released.
    MutexWait,
    /// Exited (or left the mm by exec); disappears at its final context switch.
    Dead,
}

/// `struct sched_mm_cid` (per task).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SchedMmCid {
    /// `active`: counts as a CID user of the mm.
    pub active: bool,
    /// `cid`: a CID word (see `cid.rs`).
    pub cid: u32,
}

/// A task (`task_struct` subset).
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Task {
    /// Scheduler state.
    pub state: TaskState,
    /// `task_cpu()`: the CPU whose runqueue it is on (or last ran on).
    pub cpu: CpuId,
    /// `cpus_mask`.
    pub cpus_allowed: Mask256,
    /// `task->mm == mm`: false for the kworker and for a task without mm.
    pub has_mm: bool,
    /// `task->mm_cid`.
    pub mm_cid: SchedMmCid,
    /// The kernel code this task is executing (a system call or a work item), if any.
    pub thread: Thread,
    /// The kworker that runs `mm_cid_work_fn()`.
    pub kworker: bool,
    /// The process (thread group) the task belongs to, numbered by creation: 0 is the process
    /// the model starts with; each `clone(CLONE_VM)` child without `CLONE_THREAD` (vfork)
    /// starts a new one that shares the mm (spec §6.7). Tasks without an mm have their own.
    ///
    /// model: a number rather than the leader's task slot, so that renumbering tasks (symmetry)
    /// leaves it alone and a dead leader leaves nothing dangling.
    pub process: u8,
}

/// Events the environment may still cause (spec §4.4: events that grow the state are budgeted).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Budget {
    /// `clone(CLONE_THREAD)` calls left.
    pub forks: u32,
    /// Forks left that may fail after the CID hook.
    pub fork_failures: u32,
    /// Thread exits left.
    pub exits: u32,
    /// `execve` calls left.
    pub execs: u32,
    /// Affinity widenings left.
    pub affinity: u32,
    /// `clone(CLONE_VM)` (vfork-like) calls left.
    pub vforks: u32,
}

/// A kernel WARN site reached (spec §5.2 I8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WarnSite {
    /// `sched_mm_cid_fork()`: the task has no mm (B0; F3 avoids the call).
    ForkNullMm,
    /// `sched_mm_cid_fork()`: the new user's CID is not UNSET.
    ForkCidSet,
    /// `sched_mm_cid_exit()`: a mode change in exit left per-CPU mode on.
    ExitStillPerCpu,
    /// `sched_mm_cid_exit()`: `current` does not use the mm.
    ExitForeignCurrent,
    /// `mm_cid_work_fn()`: per-CPU mode still on after the deferred change.
    WorkStillPerCpu,
}

/// Faults recorded by the step that makes them, so the next state shows them.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Faults {
    /// First WARN reached.
    pub warn: Option<WarnSite>,
    /// First `mm_drop_cid()` with a number `>= N` (a write out of the bitmap's bounds).
    pub oob_drop: Option<u32>,
    /// First `mm_drop_cid()` of a bit that was already clear (a double free).
    pub double_drop: Option<u32>,
    /// A NULL mm dereference (B0, failed exec without mm).
    pub null_deref: bool,
}

impl Faults {
    /// Nothing went wrong.
    pub fn is_empty(&self) -> bool {
        *self == Faults::default()
    }
}

impl Task {
    /// A fresh task as `dup_task_struct()` leaves it: CID UNSET, not a CID user, no kernel code
    /// in flight.
    pub fn new(
        state: TaskState,
        cpu: CpuId,
        cpus_allowed: Mask256,
        has_mm: bool,
        kworker: bool,
    ) -> Task {
        Task {
            state,
            cpu,
            cpus_allowed,
            has_mm,
            mm_cid: SchedMmCid {
                active: false,
                cid: crate::cid::MM_CID_UNSET,
            },
            thread: Thread::default(),
            kworker,
            process: 0,
        }
    }
}

impl Kernel {
    /// `N`.
    #[inline]
    pub fn nr_cpus(&self) -> usize {
        self.rq.len()
    }

    /// The task in slot `t` (the slot must be occupied: a model bug otherwise).
    #[inline]
    pub fn task(&self, t: TaskId) -> &Task {
        self.tasks[t as usize]
            .as_ref()
            .unwrap_or_else(|| panic!("model bug: task slot {t} is empty"))
    }

    /// Mutable access to the task in slot `t`.
    #[inline]
    pub fn task_mut(&mut self, t: TaskId) -> &mut Task {
        self.tasks[t as usize]
            .as_mut()
            .unwrap_or_else(|| panic!("model bug: task slot {t} is empty"))
    }

    /// The occupied task slots.
    pub fn live_tasks(&self) -> impl Iterator<Item = (TaskId, &Task)> + '_ {
        self.tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as TaskId, t)))
    }

    /// Whether `t` is `rq->curr` of its CPU.
    pub fn task_curr(&self, t: TaskId) -> bool {
        self.rq[self.task(t).cpu as usize].curr == Some(t)
    }
}

// A kernel hashes as its parts' fingerprints, written as one run of bytes (a hasher such as
// `mmcid_checker`'s mixes a run of bytes a word at a time, where an integer write of a large
// value costs it two steps), then the budget and the faults. Equal kernels have equal parts,
// so equal fingerprints: consistent with `Eq`.
impl Hash for Kernel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        const CHUNK: usize = 16;
        state.write_usize(self.rq.len());
        state.write_usize(self.tasks.len());
        let mut buf = [0u8; 8 * CHUNK];
        let mut n = 0;
        let parts = std::iter::once(self.mm.fingerprint())
            .chain(self.rq.iter().map(|p| p.fingerprint()))
            .chain(self.tasks.iter().map(|p| p.fingerprint()));
        for fp in parts {
            buf[8 * n..8 * n + 8].copy_from_slice(&fp.to_le_bytes());
            n += 1;
            if n == CHUNK {
                state.write(&buf);
                n = 0;
            }
        }
        if n > 0 {
            state.write(&buf[..8 * n]);
        }
        self.budget.hash(state);
        self.faults.hash(state);
    }
}

impl Clone for Kernel {
    fn clone(&self) -> Self {
        Kernel {
            mm: self.mm.clone(),
            rq: self.rq.clone(),
            tasks: self.tasks.clone(),
            budget: self.budget.clone(),
            faults: self.faults.clone(),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        let Kernel {
            mm,
            rq,
            tasks,
            budget,
            faults,
        } = self;
        mm.clone_from(&source.mm);
        rq.clone_from(&source.rq);
        tasks.clone_from(&source.tasks);
        budget.clone_from(&source.budget);
        faults.clone_from(&source.faults);
    }
}

impl Clone for MmCid {
    fn clone(&self) -> Self {
        let mut out = MmCid {
            pcpu: Vec::new(),
            mode: self.mode,
            transit_seen: Vec::new(),
            max_cids: self.max_cids,
            pcpu_thrs: self.pcpu_thrs,
            users: self.users,
            nr_cpus_allowed: self.nr_cpus_allowed,
            update_deferred: self.update_deferred,
            cpus_allowed: self.cpus_allowed,
            bitmap: self.bitmap,
            user_list: Vec::new(),
            thread_list: Vec::new(),
            mutex: self.mutex,
            lock: self.lock,
            irq_work: self.irq_work,
            work_pending: self.work_pending,
            work_running: self.work_running,
        };
        out.pcpu.clone_from(&self.pcpu);
        out.transit_seen.clone_from(&self.transit_seen);
        out.user_list.clone_from(&self.user_list);
        out.thread_list.clone_from(&self.thread_list);
        out
    }

    fn clone_from(&mut self, source: &Self) {
        // Destructured so that a new field cannot be forgotten.
        let MmCid {
            pcpu,
            mode,
            transit_seen,
            max_cids,
            pcpu_thrs,
            users,
            nr_cpus_allowed,
            update_deferred,
            cpus_allowed,
            bitmap,
            user_list,
            thread_list,
            mutex,
            lock,
            irq_work,
            work_pending,
            work_running,
        } = self;
        pcpu.clone_from(&source.pcpu);
        *mode = source.mode;
        transit_seen.clone_from(&source.transit_seen);
        *max_cids = source.max_cids;
        *pcpu_thrs = source.pcpu_thrs;
        *users = source.users;
        *nr_cpus_allowed = source.nr_cpus_allowed;
        *update_deferred = source.update_deferred;
        *cpus_allowed = source.cpus_allowed;
        *bitmap = source.bitmap;
        user_list.clone_from(&source.user_list);
        thread_list.clone_from(&source.thread_list);
        *mutex = source.mutex;
        *lock = source.lock;
        *irq_work = source.irq_work;
        *work_pending = source.work_pending;
        *work_running = source.work_running;
    }
}

impl Clone for Rq {
    fn clone(&self) -> Self {
        Rq {
            curr: self.curr,
            lock: self.lock,
            thread: self.thread.clone(),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        let Rq { curr, lock, thread } = self;
        *curr = source.curr;
        *lock = source.lock;
        thread.clone_from(&source.thread);
    }
}

impl Clone for Task {
    fn clone(&self) -> Self {
        Task {
            state: self.state,
            cpu: self.cpu,
            cpus_allowed: self.cpus_allowed,
            has_mm: self.has_mm,
            mm_cid: self.mm_cid,
            thread: self.thread.clone(),
            kworker: self.kworker,
            process: self.process,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        let Task {
            state,
            cpu,
            cpus_allowed,
            has_mm,
            mm_cid,
            thread,
            kworker,
            process,
        } = self;
        *state = source.state;
        *cpu = source.cpu;
        *cpus_allowed = source.cpus_allowed;
        *has_mm = source.has_mm;
        *mm_cid = source.mm_cid;
        thread.clone_from(&source.thread);
        *kworker = source.kworker;
        *process = source.process;
    }
}
