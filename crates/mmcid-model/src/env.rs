//! The environment of spec §4.4: CPUs that context-switch, tasks that run, block, wake and
//! migrate, and the events that start kernel operations (fork, exit, exec, affinity). Every
//! event is an [`Action`]; kernel code in flight advances by [`Action::Step`].

use crate::cid::*;
use crate::config::Fix;
use crate::exec::{Exec, Want};
use crate::fork::CopyProcessPc;
use crate::state::{CpuId, Kernel, TaskId, TaskState};
use crate::thread::{Frame, Who};

/// One atomic step of the system.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Action {
    /// Internal: the kernel code in flight on a CPU (context switch) or in a task advances one
    /// atomic section (or starts spinning on a held lock, or sleeps on the held mutex).
    Step(Who),
    /// Internal: `__schedule()` on `cpu` switches to `next` (`None`: idle), preempting a
    /// preemptible current task or replacing a blocked one.
    Switch {
        /// The CPU.
        cpu: CpuId,
        /// The task switched in.
        next: Option<TaskId>,
    },
    /// Internal: the load balancer moves a queued task to another allowed CPU.
    Migrate {
        /// The task.
        task: TaskId,
        /// The destination.
        to: CpuId,
    },
    /// Internal: the queued irq_work runs on `cpu` and schedules the work.
    IrqWork {
        /// The CPU it was queued on.
        cpu: CpuId,
    },
    /// Internal: the kworker starts `mm_cid_work_fn()`.
    RunWork {
        /// The kworker.
        task: TaskId,
    },
    /// Internal (`--relaxed` before F4b): `cpu`'s view of the `transit` word catches up with
    /// the last write (spec §6.3).
    Propagate {
        /// The CPU.
        cpu: CpuId,
    },
    /// External: the running task calls `clone(CLONE_THREAD)`.
    Fork {
        /// The parent.
        task: TaskId,
    },
    /// External: the running task calls `clone(CLONE_VM)` without `CLONE_THREAD` (vfork-like):
    /// the child is a new process sharing the mm.
    ///
    /// model: `CLONE_VFORK`'s wait of the parent for the child's exit or exec is not modelled;
    /// the parent may go on or block like any task, which includes the vfork behaviour.
    Vfork {
        /// The parent.
        task: TaskId,
    },
    /// External: the fork in flight fails after `copy_mm()` (before F6a only).
    ForkFail {
        /// The parent.
        task: TaskId,
    },
    /// External: the running task exits.
    Exit {
        /// The task.
        task: TaskId,
    },
    /// External: the running task calls `execve()`.
    Exec {
        /// The task.
        task: TaskId,
        /// The exec fails after the CID hooks ran.
        fail: bool,
        /// Where `sched_exec()` moves it.
        to: CpuId,
    },
    /// External: the running task adds a CPU to its affinity.
    Affinity {
        /// The task.
        task: TaskId,
        /// The CPU added.
        add: CpuId,
    },
    /// External: the running task blocks (sleeps).
    Block {
        /// The task.
        task: TaskId,
    },
    /// External: a blocked task is woken onto an allowed CPU.
    Wake {
        /// The task.
        task: TaskId,
        /// The CPU it is queued on.
        cpu: CpuId,
    },
}

impl Action {
    /// Whether the kernel does this by itself (see [`mmcid_checker::ActionMeta`]).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Action::Step(_)
                | Action::Switch { .. }
                | Action::Migrate { .. }
                | Action::IrqWork { .. }
                | Action::RunWork { .. }
                | Action::Propagate { .. }
        )
    }
}

impl Kernel {
    /// `t` is `rq->curr` of some CPU.
    pub fn on_some_cpu(&self, t: TaskId) -> bool {
        self.rq.iter().any(|rq| rq.curr == Some(t))
    }

    /// A task's system call can advance: it is running on its CPU and no context switch is in
    /// flight there.
    pub fn task_can_run(&self, t: TaskId) -> bool {
        let task = self.task(t);
        task.state == TaskState::Running
            && self.rq[task.cpu as usize].curr == Some(t)
            && self.rq[task.cpu as usize].thread.is_idle()
    }

    /// Interrupts are enabled on `cpu` (no context switch in flight, the current task holds no
    /// spinlock and does not spin).
    pub fn irqs_enabled(&self, cpu: CpuId) -> bool {
        let rq = &self.rq[cpu as usize];
        rq.thread.is_idle() && rq.lock.is_none() && rq.curr.is_none_or(|t| self.preemptible(t))
    }

    /// Whether the next step of `who` is enabled.
    pub(crate) fn step_enabled(&self, who: Who) -> bool {
        let thread = self.thread(who);
        if thread.is_idle() {
            return false;
        }
        if let Who::Task(t) = who {
            if !self.task_can_run(t) {
                return false;
            }
        }
        match self.wants(who) {
            Want::Nothing | Want::Mutex => true,
            Want::Lock(lock) => self.lock_holder(lock).is_none() || thread.spin != Some(lock),
            Want::FreeCid => self.cid_available(),
            Want::WorkIdle => self.mm.irq_work.is_none() && !self.mm.work_running,
        }
    }

    fn live_threads(&self) -> usize {
        self.live_tasks().filter(|(_, t)| t.has_mm).count()
    }

    /// Appends the enabled actions, in a fixed order.
    pub(crate) fn enabled_actions(
        &self,
        fixes: crate::config::Fixes,
        max_threads: usize,
        out: &mut Vec<Action>,
    ) {
        let n = self.nr_cpus();
        for c in 0..n as CpuId {
            let rq = &self.rq[c as usize];
            if !rq.thread.is_idle() {
                if self.step_enabled(Who::Cpu(c)) {
                    out.push(Action::Step(Who::Cpu(c)));
                }
                continue;
            }
            if rq.lock.is_none() {
                let curr_stays = rq.curr.is_some_and(|t| {
                    let task = self.task(t);
                    task.state == TaskState::Running && task.cpu == c
                });
                let may_switch = rq.curr.is_none_or(|t| !curr_stays || self.preemptible(t));
                if may_switch {
                    let mut any = false;
                    for (t, task) in self.live_tasks() {
                        if task.state == TaskState::Runnable
                            && task.cpu == c
                            && !self.on_some_cpu(t)
                        {
                            any = true;
                            out.push(Action::Switch {
                                cpu: c,
                                next: Some(t),
                            });
                        }
                    }
                    if !any && rq.curr.is_some() && !curr_stays {
                        out.push(Action::Switch { cpu: c, next: None });
                    }
                }
            }
            if self.mm.irq_work == Some(c) && self.irqs_enabled(c) {
                out.push(Action::IrqWork { cpu: c });
            }
        }
        let transit = self.mm.mode & MM_CID_TRANSIT;
        for (c, &seen) in self.mm.transit_seen.iter().enumerate() {
            if seen != transit {
                out.push(Action::Propagate { cpu: c as CpuId });
            }
        }
        // A fork needs a free thread slot (counted once: nothing changes while listing).
        let room = self.live_threads() < max_threads;
        for (t, task) in self.live_tasks() {
            let can_run = self.task_can_run(t);
            if can_run && !task.thread.is_idle() {
                if self.step_enabled(Who::Task(t)) {
                    out.push(Action::Step(Who::Task(t)));
                }
                if matches!(
                    task.thread.top(),
                    Some(Frame::CopyProcess(CopyProcessPc::LinkChild { .. }))
                ) && self.budget.fork_failures > 0
                    && !fixes.has(Fix::F6a)
                {
                    out.push(Action::ForkFail { task: t });
                }
            } else if can_run && task.kworker {
                if self.mm.work_pending {
                    out.push(Action::RunWork { task: t });
                }
            } else if can_run {
                // A task without an mm only takes part by exec'ing (spec §6.10).
                if task.has_mm {
                    if self.budget.forks > 0 && room {
                        out.push(Action::Fork { task: t });
                    }
                    if self.budget.vforks > 0 && room {
                        out.push(Action::Vfork { task: t });
                    }
                    if self.budget.exits > 0 {
                        out.push(Action::Exit { task: t });
                    }
                }
                if self.budget.execs > 0 {
                    for fail in [false, true] {
                        for to in task.cpus_allowed.iter().map(|c| c as CpuId) {
                            out.push(Action::Exec { task: t, fail, to });
                        }
                    }
                }
                if task.has_mm {
                    if self.budget.affinity > 0 {
                        for add in (0..n).filter(|&c| !task.cpus_allowed.test(c)) {
                            out.push(Action::Affinity {
                                task: t,
                                add: add as CpuId,
                            });
                        }
                    }
                    out.push(Action::Block { task: t });
                }
            }
            if task.state == TaskState::Sleeping && !task.kworker {
                // A task that blocked but has not been switched out yet is woken where it is.
                let still_curr = self.on_some_cpu(t);
                for c in task.cpus_allowed.iter() {
                    if self.rq[c].lock.is_none() && (!still_curr || c == task.cpu as usize) {
                        out.push(Action::Wake {
                            task: t,
                            cpu: c as CpuId,
                        });
                    }
                }
            }
            if task.state == TaskState::Runnable && !self.on_some_cpu(t) {
                for to in task.cpus_allowed.iter() {
                    if to != task.cpu as usize
                        && self.rq[to].lock.is_none()
                        && self.rq[task.cpu as usize].lock.is_none()
                    {
                        out.push(Action::Migrate {
                            task: t,
                            to: to as CpuId,
                        });
                    }
                }
            }
        }
    }
}

impl Exec<'_> {
    /// Performs `action`.
    pub(crate) fn perform(&mut self, action: Action) {
        match action {
            Action::Step(who) => self.step(who),
            Action::Switch { cpu, next } => {
                let prev = self.k.rq[cpu as usize].curr;
                self.who = Who::Cpu(cpu);
                self.spin_lock(crate::thread::Lock::Rq(cpu));
                self.k.rq[cpu as usize].curr = next;
                if let Some(p) = prev {
                    let task = self.k.task_mut(p);
                    if task.state == TaskState::Running {
                        task.state = TaskState::Runnable;
                    }
                }
                if let Some(n) = next {
                    self.k.task_mut(n).state = TaskState::Running;
                }
                let frame =
                    Frame::ContextSwitch(crate::switch::ContextSwitchPc::SwitchTo { prev, next });
                self.k.rq[cpu as usize].thread.stack.push(frame);
                self.run();
            }
            Action::Migrate { task, to } => {
                self.k.task_mut(task).cpu = to;
            }
            Action::Propagate { cpu } => {
                self.k.mm.transit_seen[cpu as usize] = self.k.mm.mode & MM_CID_TRANSIT;
            }
            Action::IrqWork { cpu } => {
                // The irq_work handler: schedule_work() wakes the kworker on this CPU.
                self.k.mm.irq_work = None;
                self.k.mm.work_pending = true;
                let kworker = self.k.live_tasks().find(|(_, t)| t.kworker).map(|(i, _)| i);
                if let Some(w) = kworker.filter(|&w| !self.k.on_some_cpu(w)) {
                    let task = self.k.task_mut(w);
                    if task.state == TaskState::Sleeping {
                        task.state = TaskState::Runnable;
                        task.cpu = cpu;
                    }
                }
            }
            Action::RunWork { task } => {
                self.k.mm.work_pending = false;
                self.k.mm.work_running = true;
                self.start(task, Frame::MmCidWorkFn(crate::affinity::WorkFnPc::Enter));
            }
            Action::Fork { task } => {
                self.k.budget.forks -= 1;
                self.start(
                    task,
                    Frame::CopyProcess(CopyProcessPc::DupTaskStruct { new_process: false }),
                );
            }
            Action::Vfork { task } => {
                self.k.budget.vforks -= 1;
                self.start(
                    task,
                    Frame::CopyProcess(CopyProcessPc::DupTaskStruct { new_process: true }),
                );
            }
            Action::ForkFail { task } => {
                self.k.budget.fork_failures -= 1;
                self.who = Who::Task(task);
                let Some(Frame::CopyProcess(CopyProcessPc::LinkChild { child })) =
                    self.k.task(task).thread.top().cloned()
                else {
                    panic!("model bug: ForkFail offered outside copy_process()");
                };
                self.bad_fork_cleanup_mm(child);
            }
            Action::Exit { task } => {
                self.k.budget.exits -= 1;
                self.start(task, Frame::DoExit(crate::exit::DoExitPc::Enter));
            }
            Action::Exec { task, fail, to } => {
                self.k.budget.execs -= 1;
                self.start(
                    task,
                    Frame::BprmExecve(crate::exit::ExecvePc::Enter { fail, to }),
                );
            }
            Action::Affinity { task, add } => {
                self.k.budget.affinity -= 1;
                self.start(
                    task,
                    Frame::SetCpusAllowed(crate::affinity::SetCpusAllowedPc::TaskRqLock { add }),
                );
            }
            Action::Block { task } => {
                self.k.task_mut(task).state = TaskState::Sleeping;
            }
            Action::Wake { task, cpu } => {
                let still_curr = self.k.rq[cpu as usize].curr == Some(task);
                let t = self.k.task_mut(task);
                t.state = if still_curr {
                    TaskState::Running
                } else {
                    TaskState::Runnable
                };
                t.cpu = cpu;
            }
        }
    }

    /// A task enters the kernel: the operation's first atomic section runs now.
    fn start(&mut self, task: TaskId, frame: Frame) {
        self.k.task_mut(task).thread.stack.push(frame);
        self.step(Who::Task(task));
    }

    /// One step of `who`: start spinning on a held lock, sleep on a held mutex, or run.
    pub(crate) fn step(&mut self, who: Who) {
        self.who = who;
        match self.k.wants(who) {
            Want::Lock(lock) if self.k.lock_holder(lock).is_some() => {
                self.k.thread_mut(who).spin = Some(lock);
            }
            Want::Mutex if self.k.mm.mutex.is_some() => {
                let Who::Task(t) = who else {
                    panic!("model bug: a CPU thread wants the mutex")
                };
                self.k.task_mut(t).state = TaskState::MutexWait;
            }
            _ => {
                self.k.thread_mut(who).spin = None;
                self.run();
            }
        }
    }
}

/// The owners of CID number `n` (for explanations): tasks holding it plain or TRANSIT, CPUs
/// holding it ONCPU.
pub fn owners_of(k: &Kernel, n: u32) -> Vec<String> {
    let mut owners = Vec::new();
    for (t, task) in k.live_tasks() {
        let cid = task.mm_cid.cid;
        if cid & MM_CID_UNSET == 0
            && task_cid(cid) == n
            && ((task.mm_cid.active && cid_on_task(cid)) || cid_in_transit(cid))
        {
            owners.push(format!("T{t}"));
        }
    }
    for (c, &slot) in k.mm.pcpu.iter().enumerate() {
        if cid_on_cpu(slot) && cpu_cid_to_cid(slot) == n {
            owners.push(format!("CPU{c}"));
        }
    }
    owners
}
