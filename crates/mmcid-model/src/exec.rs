//! The interpreter that runs one atomic step of a [`Thread`]: it executes the innermost frame's
//! step, and continues with the caller when a function returns or enters a callee within the
//! same atomic section, until a step boundary ([`Flow::Next`] or [`Flow::Call`]).

use mmcid_checker::Coverage;

use crate::config::{Fix, KernelVersion};
use crate::labels::Label;
use crate::state::{CpuId, Kernel, TaskId, TaskState};
use crate::thread::{Flow, Frame, Holder, Lock, Thread, Who, VOID};

/// One step in execution: the state, the kernel version, coverage, and who runs.
pub(crate) struct Exec<'a> {
    pub k: &'a mut Kernel,
    pub v: KernelVersion,
    pub cov: &'a mut Coverage,
    pub who: Who,
}

/// What the next step of a thread needs before it can run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Want {
    /// Nothing: it can run.
    Nothing,
    /// It takes this spinlock first.
    Lock(Lock),
    /// It takes `mm_cid.mutex` first (sleeps if held).
    Mutex,
    /// It retries `mm_get_cid()`: it can only succeed once a bit below `N` is free.
    FreeCid,
    /// `irq_work_sync()` + `cancel_work_sync()`: the irq_work and the work must be idle.
    WorkIdle,
}

enum Out {
    Next(Frame),
    Call(Frame, Frame),
    Enter(Frame, Frame),
    Return(u32),
}

impl<P> Flow<P> {
    fn wrap(self, f: fn(P) -> Frame) -> Out {
        match self {
            Flow::Next(p) => Out::Next(f(p)),
            Flow::Call(p, callee) => Out::Call(f(p), callee),
            Flow::Enter(p, callee) => Out::Enter(f(p), callee),
            Flow::Return(v) => Out::Return(v),
        }
    }
}

impl Kernel {
    /// The thread `who` executes.
    pub(crate) fn thread(&self, who: Who) -> &Thread {
        match who {
            Who::Cpu(c) => &self.rq[c as usize].thread,
            Who::Task(t) => &self.task(t).thread,
        }
    }

    pub(crate) fn thread_mut(&mut self, who: Who) -> &mut Thread {
        match who {
            Who::Cpu(c) => &mut self.rq[c as usize].thread,
            Who::Task(t) => &mut self.task_mut(t).thread,
        }
    }

    /// Who holds `lock`, if anyone.
    pub(crate) fn lock_holder(&self, lock: Lock) -> Option<Holder> {
        match lock {
            Lock::Rq(c) => self.rq[c as usize].lock,
            Lock::MmCid => self.mm.lock,
        }
    }

    /// The CPU `who` runs on.
    pub(crate) fn cpu_of(&self, who: Who) -> CpuId {
        match who {
            Who::Cpu(c) => c,
            Who::Task(t) => self.task(t).cpu,
        }
    }

    /// Whether `holder` holds any spinlock (then it runs with interrupts off, not preemptible).
    pub(crate) fn holds_spinlock(&self, holder: Holder) -> bool {
        self.mm.lock == Some(holder) || self.rq.iter().any(|rq| rq.lock == Some(holder))
    }

    /// A task that may be preempted now: no spinlock held, not spinning.
    pub(crate) fn preemptible(&self, t: TaskId) -> bool {
        self.task(t).thread.spin.is_none() && !self.holds_spinlock(Holder::Task(t))
    }

    /// What the next step of `who`'s thread needs (its innermost frame's program counter).
    pub(crate) fn wants(&self, who: Who) -> Want {
        match self.thread(who).top() {
            None => Want::Nothing,
            Some(frame) => frame_wants(self, who, frame),
        }
    }

    /// A free bit below `N` exists (a spinning `mm_get_cid()` can succeed).
    pub(crate) fn cid_available(&self) -> bool {
        self.mm.bitmap.first_zero_below(self.nr_cpus()).is_some()
    }
}

fn frame_wants(k: &Kernel, who: Who, frame: &Frame) -> Want {
    use crate::affinity::{SetCpusAllowedPc, WorkFnPc};
    use crate::exit::{ExitPc, FixupCpusToTasksPc};
    use crate::fork::{FixupTasksToCpusPc, ForkPc};
    use crate::switch::GetCidPc;
    match frame {
        Frame::MmGetCid(GetCidPc::Retry) => Want::FreeCid,
        Frame::SchedMmCidFork(ForkPc::Enter { t }) => {
            // Without an mm there is no mutex to take (B0's NULL dereference, F6a's return).
            if k.task(*t).has_mm {
                Want::Mutex
            } else {
                Want::Nothing
            }
        }
        Frame::SchedMmCidExit(ExitPc::Enter { t }) => {
            // The early return for inactive tasks happens before the mutex is taken.
            let task = k.task(*t);
            if task.has_mm && task.mm_cid.active {
                Want::Mutex
            } else {
                Want::Nothing
            }
        }
        Frame::SchedMmCidExit(ExitPc::SyncWork) => Want::WorkIdle,
        Frame::MmCidWorkFn(WorkFnPc::Enter) => Want::Mutex,
        Frame::FixupCpusToTasks(FixupCpusToTasksPc::ForEachPossibleCpu { cpu }) => {
            Want::Lock(Lock::Rq(*cpu))
        }
        Frame::FixupTasksToCpus(
            FixupTasksToCpusPc::ForEachUser { next }
            | FixupTasksToCpusPc::ForOtherThreads {
                next: Some(next), ..
            }
            | FixupTasksToCpusPc::ForEachProcessThread {
                next: Some(next), ..
            },
        ) => Want::Lock(Lock::Rq(k.task(*next).cpu)),
        // sched_exec() → migration_cpu_stop: the move holds the source rq lock (nobody else
        // can hold it across a step while the task runs there) and spins for the target's.
        Frame::BprmExecve(crate::exit::ExecvePc::SchedExec { to, .. }) if *to != k.cpu_of(who) => {
            Want::Lock(Lock::Rq(*to))
        }
        Frame::SetCpusAllowed(SetCpusAllowedPc::TaskRqLock { .. }) => {
            Want::Lock(Lock::Rq(k.cpu_of(who)))
        }
        Frame::SetCpusAllowed(SetCpusAllowedPc::MmCidLock { .. }) => Want::Lock(Lock::MmCid),
        _ => Want::Nothing,
    }
}

impl Exec<'_> {
    /// Records that a step took the branch `label`.
    #[inline]
    pub fn hit(&mut self, label: Label) {
        self.cov.hit(label as usize);
    }

    /// Whether `fix` is in effect.
    #[inline]
    pub fn has(&self, fix: Fix) -> bool {
        self.v.has(fix)
    }

    /// This thread as a lock holder.
    pub fn me(&self) -> Holder {
        match self.who {
            Who::Cpu(c) => Holder::Cpu(c),
            Who::Task(t) => Holder::Task(t),
        }
    }

    /// `current`: the task executing (for a CPU thread, the task being switched in).
    pub fn current(&self) -> TaskId {
        match self.who {
            Who::Task(t) => t,
            Who::Cpu(c) => self.k.rq[c as usize]
                .curr
                .expect("model bug: a CPU thread runs without a current task"),
        }
    }

    /// `smp_processor_id()`.
    pub fn this_cpu(&self) -> CpuId {
        self.k.cpu_of(self.who)
    }

    /// Takes a spinlock that the interpreter has checked is free.
    pub fn spin_lock(&mut self, lock: Lock) {
        let me = self.me();
        let slot = match lock {
            Lock::Rq(c) => &mut self.k.rq[c as usize].lock,
            Lock::MmCid => &mut self.k.mm.lock,
        };
        assert!(
            slot.is_none(),
            "model bug: {lock:?} taken by {me:?} while held by {slot:?}; a step that takes a lock must be guarded by Want::Lock"
        );
        *slot = Some(me);
    }

    /// Releases a spinlock this thread holds.
    pub fn spin_unlock(&mut self, lock: Lock) {
        let me = self.me();
        let slot = match lock {
            Lock::Rq(c) => &mut self.k.rq[c as usize].lock,
            Lock::MmCid => &mut self.k.mm.lock,
        };
        assert_eq!(
            *slot,
            Some(me),
            "model bug: {lock:?} released by a non-owner"
        );
        *slot = None;
    }

    /// `mutex_lock(&mm->mm_cid.mutex)` when the interpreter has checked it is free.
    pub fn mutex_lock(&mut self) {
        let t = self.current();
        assert!(
            self.k.mm.mutex.is_none(),
            "model bug: mutex taken while held"
        );
        self.k.mm.mutex = Some(t);
    }

    /// `mutex_unlock()`: releases the mutex and wakes every sleeper.
    ///
    /// model: all waiters are woken (the kernel wakes the first one; the others find the mutex
    /// held again and go back to sleep), which allows every order the kernel allows.
    pub fn mutex_unlock(&mut self) {
        assert_eq!(
            self.k.mm.mutex,
            Some(self.current()),
            "model bug: mutex released by a non-owner"
        );
        self.k.mm.mutex = None;
        for t in 0..self.k.tasks.len() as TaskId {
            if self.k.tasks[t as usize]
                .as_ref()
                .is_some_and(|x| x.state == TaskState::MutexWait)
            {
                // A sleeper not yet switched out simply continues running.
                let curr = self.k.task_curr(t);
                self.k.task_mut(t).state = if curr {
                    TaskState::Running
                } else {
                    TaskState::Runnable
                };
            }
        }
    }

    /// Runs `who`'s thread for one atomic step, starting with return value `ret`.
    pub fn run(&mut self) {
        let mut ret = VOID;
        loop {
            let Some(frame) = self.k.thread(self.who).stack.last().cloned() else {
                return;
            };
            let out = self.step_frame(frame, ret);
            let thread = self.k.thread_mut(self.who);
            match out {
                Out::Next(f) => {
                    *thread.stack.last_mut().unwrap() = f;
                    return;
                }
                Out::Call(f, callee) => {
                    *thread.stack.last_mut().unwrap() = f;
                    thread.stack.push(callee);
                    return;
                }
                Out::Enter(f, callee) => {
                    *thread.stack.last_mut().unwrap() = f;
                    thread.stack.push(callee);
                    ret = VOID;
                }
                Out::Return(v) => {
                    thread.stack.pop();
                    ret = v;
                    // A caller whose next section first takes a lock or the mutex that someone
                    // else holds cannot go on in this atomic section: the step ends here, and
                    // the next one spins or sleeps like any guarded step (for example bprm_execve
                    // calling sched_exec() right after the exit hook).
                    if let Some(caller) = self.k.thread(self.who).top() {
                        let blocked = match frame_wants(self.k, self.who, caller) {
                            Want::Lock(l) => self.k.lock_holder(l).is_some_and(|h| h != self.me()),
                            Want::Mutex => self.k.mm.mutex.is_some(),
                            _ => false,
                        };
                        if blocked {
                            assert_eq!(
                                ret, VOID,
                                "model bug: a value returned into a blocked caller is lost"
                            );
                            return;
                        }
                    }
                }
            }
        }
    }

    fn step_frame(&mut self, frame: Frame, ret: u32) -> Out {
        match frame {
            Frame::ContextSwitch(pc) => self.context_switch(pc).wrap(Frame::ContextSwitch),
            Frame::MmCidFromTask(pc) => self.mm_cid_from_task(pc, ret).wrap(Frame::MmCidFromTask),
            Frame::MmCidFromCpu(pc) => self.mm_cid_from_cpu(pc, ret).wrap(Frame::MmCidFromCpu),
            Frame::MmCidConverge(pc) => self.mm_cid_converge(pc).wrap(Frame::MmCidConverge),
            Frame::MmGetCid(pc) => self.mm_get_cid(pc).wrap(Frame::MmGetCid),
            Frame::CopyProcess(pc) => self.copy_process(pc).wrap(Frame::CopyProcess),
            Frame::SchedMmCidFork(pc) => {
                self.sched_mm_cid_fork(pc, ret).wrap(Frame::SchedMmCidFork)
            }
            Frame::FixupTasksToCpus(pc) => self
                .mm_cid_fixup_tasks_to_cpus(pc)
                .wrap(Frame::FixupTasksToCpus),
            Frame::DoExit(pc) => self.do_exit(pc).wrap(Frame::DoExit),
            Frame::SchedMmCidExit(pc) => self.sched_mm_cid_exit(pc).wrap(Frame::SchedMmCidExit),
            Frame::FixupCpusToTasks(pc) => self
                .mm_cid_fixup_cpus_to_tasks(pc)
                .wrap(Frame::FixupCpusToTasks),
            Frame::BprmExecve(pc) => self.bprm_execve(pc).wrap(Frame::BprmExecve),
            Frame::SetCpusAllowed(pc) => self.set_cpus_allowed(pc).wrap(Frame::SetCpusAllowed),
            Frame::MmCidWorkFn(pc) => self.mm_cid_work_fn(pc).wrap(Frame::MmCidWorkFn),
        }
    }
}
