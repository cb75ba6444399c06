//! Program counters and call stacks: every modelled kernel function is a resumable state
//! machine (PlusCal's `pc` + `stack`, typed). A [`Thread`] is the kernel code one task (a system
//! call, a work item) or one CPU (a context switch) is executing; each [`Frame`] is one function
//! activation whose program counter carries the function's locals.

use crate::affinity::{SetCpusAllowedPc, WorkFnPc};
use crate::exit::{DoExitPc, ExecvePc, ExitPc, FixupCpusToTasksPc};
use crate::fork::{CopyProcessPc, FixupTasksToCpusPc, ForkPc};
use crate::state::{CpuId, TaskId};
use crate::switch::{ContextSwitchPc, ConvergePc, FromCpuPc, FromTaskPc, GetCidPc};

/// Who holds a spinlock across a step boundary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Holder {
    /// A CPU in a context switch (`rq(c).lock` while `mm_get_cid()` spins).
    Cpu(CpuId),
    /// A task in a system call (fork's `mm_cid.lock` section, the affinity path's rq lock).
    Task(TaskId),
}

/// A spinlock a thread can spin on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Lock {
    /// `rq(c)->__lock`.
    Rq(CpuId),
    /// `mm->mm_cid.lock`.
    MmCid,
}

/// Kernel code in flight: a call stack, and the spinlock being spun on, if any.
#[derive(PartialEq, Eq, Hash, Debug, Default)]
pub struct Thread {
    /// Innermost frame last.
    pub stack: Vec<Frame>,
    /// The lock this thread spins on with interrupts off (it found the lock held).
    pub spin: Option<Lock>,
}

impl Clone for Thread {
    fn clone(&self) -> Self {
        Thread {
            stack: self.stack.clone(),
            spin: self.spin,
        }
    }

    // Reuses the stack's allocation (see `Kernel`'s `Clone`).
    fn clone_from(&mut self, source: &Self) {
        let Thread { stack, spin } = self;
        stack.clone_from(&source.stack);
        *spin = source.spin;
    }
}

impl Thread {
    /// No kernel code in flight.
    pub fn is_idle(&self) -> bool {
        self.stack.is_empty()
    }

    /// The innermost frame.
    pub fn top(&self) -> Option<&Frame> {
        self.stack.last()
    }
}

/// One function activation. Each variant is named after the kernel function it models.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Frame {
    /// The part of `__schedule()`/`context_switch()` around `mm_cid_switch_to()`.
    ContextSwitch(ContextSwitchPc),
    /// `mm_cid_from_task()`.
    MmCidFromTask(FromTaskPc),
    /// `mm_cid_from_cpu()`.
    MmCidFromCpu(FromCpuPc),
    /// `mm_cid_converge()`.
    MmCidConverge(ConvergePc),
    /// `mm_get_cid()`.
    MmGetCid(GetCidPc),
    /// `copy_process()` / `kernel_clone()` as far as the CID hooks are concerned.
    CopyProcess(CopyProcessPc),
    /// `sched_mm_cid_fork()`.
    SchedMmCidFork(ForkPc),
    /// `mm_cid_fixup_tasks_to_cpus()` (and `mm_cid_do_fixup_tasks_to_cpus()`).
    FixupTasksToCpus(FixupTasksToCpusPc),
    /// `do_exit()` as far as the CID hooks are concerned.
    DoExit(DoExitPc),
    /// `sched_mm_cid_exit()`.
    SchedMmCidExit(ExitPc),
    /// `mm_cid_fixup_cpus_to_tasks()`.
    FixupCpusToTasks(FixupCpusToTasksPc),
    /// `bprm_execve()` as far as the CID hooks are concerned.
    BprmExecve(ExecvePc),
    /// `sched_setaffinity()` → `set_cpus_allowed_common()` → `mm_update_cpus_allowed()`.
    SetCpusAllowed(SetCpusAllowedPc),
    /// `mm_cid_work_fn()`.
    MmCidWorkFn(WorkFnPc),
}

/// Who executes a thread.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Who {
    /// The context switch of a CPU.
    Cpu(CpuId),
    /// A task's system call or work item (it runs on `task_cpu()`).
    Task(TaskId),
}

/// What a function's step asks the interpreter to do next.
pub enum Flow<P> {
    /// Step boundary: continue at `P` in a later action.
    Next(P),
    /// Call `callee`; its first step runs in a later action (step boundary); the caller resumes
    /// at `P` with the callee's return value.
    Call(P, Frame),
    /// Call `callee` within this same atomic step; the caller resumes at `P`.
    Enter(P, Frame),
    /// Return to the caller, which continues within this same step.
    Return(u32),
}

/// Return value of functions that return nothing.
pub const VOID: u32 = 0;
