//! Human-readable steps: `T<task>@cpu<n> <kernel_fn>:<label>{locals}` for an action, one line
//! per changed field for its effect, and an explanation of why an agent waits.

use mmcid_checker::AgentId;

use crate::cid::*;
use crate::env::{owners_of, Action};
use crate::exec::Want;
use crate::model::MmCidModel;
use crate::state::{Kernel, TaskState};
use crate::thread::{Frame, Holder, Lock, Who};

/// The kernel function a frame belongs to.
pub fn frame_function(frame: &Frame) -> &'static str {
    match frame {
        Frame::ContextSwitch(_) => "mm_cid_switch_to",
        Frame::MmCidFromTask(_) => "mm_cid_from_task",
        Frame::MmCidFromCpu(_) => "mm_cid_from_cpu",
        Frame::MmCidConverge(_) => "mm_cid_converge",
        Frame::MmGetCid(_) => "mm_get_cid",
        Frame::CopyProcess(_) => "copy_process",
        Frame::SchedMmCidFork(_) => "sched_mm_cid_fork",
        Frame::FixupTasksToCpus(_) => "mm_cid_fixup_tasks_to_cpus",
        Frame::DoExit(_) => "do_exit",
        Frame::SchedMmCidExit(_) => "sched_mm_cid_exit",
        Frame::FixupCpusToTasks(_) => "mm_cid_fixup_cpus_to_tasks",
        Frame::BprmExecve(_) => "bprm_execve",
        Frame::SetCpusAllowed(_) => "set_cpus_allowed_common",
        Frame::MmCidWorkFn(_) => "mm_cid_work_fn",
    }
}

/// `kernel_fn:Label{locals}` for a frame, e.g. `mm_cid_fixup_cpus_to_tasks:ForEachPossibleCpu{cpu: 1}`.
pub fn format_frame(frame: &Frame) -> String {
    let dbg = format!("{frame:?}");
    // "Variant(Pc { a: 1 })" → "Pc { a: 1 }"
    let inner = dbg
        .split_once('(')
        .map(|(_, rest)| rest.strip_suffix(')').unwrap_or(rest))
        .unwrap_or(&dbg)
        .replace(" { ", "{")
        .replace(" }", "}");
    format!("{}:{}", frame_function(frame), inner)
}

pub(crate) fn task_name(t: Option<u16>) -> String {
    t.map_or_else(|| "idle".to_string(), |t| format!("T{t}"))
}

pub(crate) fn lock_name(l: Lock) -> String {
    match l {
        Lock::Rq(c) => format!("rq{c}.lock"),
        Lock::MmCid => "mm_cid.lock".to_string(),
    }
}

pub(crate) fn holder_name(h: Holder) -> String {
    match h {
        Holder::Cpu(c) => format!("CPU{c} (context switch)"),
        Holder::Task(t) => format!("T{t}"),
    }
}

/// One line naming `action` in `state`.
pub fn format_action(k: &Kernel, action: &Action) -> String {
    match *action {
        Action::Step(who) => {
            let (prefix, thread) = match who {
                Who::Cpu(c) => (format!("CPU{c}"), &k.rq[c as usize].thread),
                Who::Task(t) => (format!("T{t}@cpu{}", k.task(t).cpu), &k.task(t).thread),
            };
            let frame = thread.top().map(format_frame).unwrap_or_default();
            let what = match k.wants(who) {
                Want::Lock(l) if k.lock_holder(l).is_some() => format!(
                    "spins on {} (held by {})",
                    lock_name(l),
                    holder_name(k.lock_holder(l).unwrap())
                ),
                Want::Mutex if k.mm.mutex.is_some() => {
                    format!("sleeps on mm_cid.mutex (held by T{})", k.mm.mutex.unwrap())
                }
                _ => String::new(),
            };
            if what.is_empty() {
                format!("{prefix} {frame}")
            } else {
                format!("{prefix} {frame} {what}")
            }
        }
        Action::Switch { cpu, next } => format!(
            "CPU{cpu} __schedule: {} -> {}",
            task_name(k.rq[cpu as usize].curr),
            task_name(next)
        ),
        Action::Migrate { task, to } => {
            format!("T{task} migrates CPU{} -> CPU{to}", k.task(task).cpu)
        }
        Action::IrqWork { cpu } => format!("CPU{cpu} irq_work: schedule_work(mm_cid.work)"),
        Action::Propagate { cpu } => format!(
            "CPU{cpu} now sees transit = {}",
            if k.mm.mode & MM_CID_TRANSIT != 0 {
                "TRANSIT"
            } else {
                "0"
            }
        ),
        Action::RunWork { task } => format!(
            "T{task}@cpu{} kworker runs mm_cid_work_fn",
            k.task(task).cpu
        ),
        Action::Fork { task } => format!("T{task}@cpu{} clone(CLONE_THREAD)", k.task(task).cpu),
        Action::Vfork { task } => format!(
            "T{task}@cpu{} clone(CLONE_VM) (vfork: new process, same mm)",
            k.task(task).cpu
        ),
        Action::ForkFail { task } => {
            format!(
                "T{task}@cpu{} copy_process fails: bad_fork_cleanup_mm",
                k.task(task).cpu
            )
        }
        Action::Exit { task } => format!("T{task}@cpu{} exit()", k.task(task).cpu),
        Action::Exec { task, fail, to } => format!(
            "T{task}@cpu{} execve() {} (sched_exec -> CPU{to})",
            k.task(task).cpu,
            if fail { "fails" } else { "succeeds" }
        ),
        Action::Affinity { task, add } => {
            format!(
                "T{task}@cpu{} sched_setaffinity(+CPU{add})",
                k.task(task).cpu
            )
        }
        Action::Block { task } => format!("T{task}@cpu{} blocks", k.task(task).cpu),
        Action::Wake { task, cpu } => format!("wake up T{task} on CPU{cpu}"),
    }
}

pub(crate) fn fmt_state(s: TaskState) -> &'static str {
    match s {
        TaskState::New => "new",
        TaskState::Runnable => "runnable",
        TaskState::Running => "running",
        TaskState::Sleeping => "sleeping",
        TaskState::MutexWait => "mutex-wait",
        TaskState::Dead => "dead",
    }
}

/// The fields that differ between `a` and `b`, one `name: old -> new` line each.
pub fn diff(a: &Kernel, b: &Kernel) -> Vec<String> {
    let mut out = Vec::new();
    let mut d = |name: String, x: String, y: String| {
        if x != y {
            out.push(format!("{name}: {x} -> {y}"));
        }
    };
    d(
        "mode".into(),
        fmt_mode(a.mm.mode).into(),
        fmt_mode(b.mm.mode).into(),
    );
    for (c, (x, y)) in a.mm.transit_seen.iter().zip(&b.mm.transit_seen).enumerate() {
        let seen = |v: u32| if v != 0 { "TRANSIT" } else { "0" }.to_string();
        d(format!("cpu{c} sees transit"), seen(*x), seen(*y));
    }
    d(
        "users".into(),
        a.mm.users.to_string(),
        b.mm.users.to_string(),
    );
    d(
        "max_cids".into(),
        a.mm.max_cids.to_string(),
        b.mm.max_cids.to_string(),
    );
    d(
        "pcpu_thrs".into(),
        a.mm.pcpu_thrs.to_string(),
        b.mm.pcpu_thrs.to_string(),
    );
    d(
        "nr_cpus_allowed".into(),
        a.mm.nr_cpus_allowed.to_string(),
        b.mm.nr_cpus_allowed.to_string(),
    );
    d(
        "bitmap".into(),
        format!("{:?}", a.mm.bitmap),
        format!("{:?}", b.mm.bitmap),
    );
    for (c, (x, y)) in a.mm.pcpu.iter().zip(&b.mm.pcpu).enumerate() {
        d(format!("slot[{c}]"), fmt_cid(*x), fmt_cid(*y));
    }
    for (c, (x, y)) in a.rq.iter().zip(&b.rq).enumerate() {
        d(format!("rq{c}.curr"), task_name(x.curr), task_name(y.curr));
        let lock = |r: &crate::state::Rq| r.lock.map_or("free".into(), holder_name);
        d(format!("rq{c}.lock"), lock(x), lock(y));
    }
    let n = a.tasks.len().max(b.tasks.len());
    for t in 0..n {
        let (x, y) = (
            a.tasks.get(t).and_then(|t| t.as_ref()),
            b.tasks.get(t).and_then(|t| t.as_ref()),
        );
        match (x, y) {
            (None, None) => {}
            (None, Some(y)) => d(
                format!("T{t}"),
                "-".into(),
                format!("{} cid {}", fmt_state(y.state), fmt_cid(y.mm_cid.cid)),
            ),
            (Some(_), None) => d(format!("T{t}"), "exists".into(), "gone".into()),
            (Some(x), Some(y)) => {
                d(
                    format!("T{t}.cid"),
                    fmt_cid(x.mm_cid.cid),
                    fmt_cid(y.mm_cid.cid),
                );
                d(
                    format!("T{t}.active"),
                    x.mm_cid.active.to_string(),
                    y.mm_cid.active.to_string(),
                );
                d(
                    format!("T{t}.state"),
                    fmt_state(x.state).into(),
                    fmt_state(y.state).into(),
                );
                d(format!("T{t}.cpu"), x.cpu.to_string(), y.cpu.to_string());
                d(
                    format!("T{t}.cpus_allowed"),
                    format!("{:?}", x.cpus_allowed),
                    format!("{:?}", y.cpus_allowed),
                );
            }
        }
    }
    let mtx = |k: &Kernel| k.mm.mutex.map_or("free".into(), |t| format!("T{t}"));
    d("mm_cid.mutex".into(), mtx(a), mtx(b));
    let lk = |k: &Kernel| k.mm.lock.map_or("free".into(), holder_name);
    d("mm_cid.lock".into(), lk(a), lk(b));
    d(
        "thread_list".into(),
        format!("{:?}", a.mm.thread_list),
        format!("{:?}", b.mm.thread_list),
    );
    d(
        "faults".into(),
        format!("{:?}", a.faults),
        format!("{:?}", b.faults),
    );
    out
}

/// Why `agent` waits in `k`: what it spins or sleeps on, who holds it, and the CID pool.
pub fn explain_wait(model: &MmCidModel, k: &Kernel, agent: AgentId) -> String {
    let n = k.nr_cpus() as u32;
    let mut lines = Vec::new();
    let who_list: Vec<Who> = if agent.0 < n {
        let c = agent.0 as u16;
        let mut v = vec![Who::Cpu(c)];
        if let Some(t) = k.rq[c as usize].curr {
            v.push(Who::Task(t));
        }
        v
    } else {
        vec![Who::Task((agent.0 - n) as u16)]
    };
    for who in who_list {
        if model.waiting_agent(k, who) != Some(agent) {
            continue;
        }
        let thread = k.thread(who);
        let stack: Vec<String> = thread.stack.iter().map(format_frame).collect();
        let name = match who {
            Who::Cpu(c) => format!(
                "CPU{c} (context switch to {})",
                task_name(k.rq[c as usize].curr)
            ),
            Who::Task(t) => format!("T{t} on CPU{}", k.task(t).cpu),
        };
        lines.push(format!("{name} is in {}", stack.join(" <- ")));
        match k.wants(who) {
            Want::FreeCid => lines.push(format!(
                "it spins in mm_get_cid(): every CID below N={n} is taken"
            )),
            Want::Lock(l) => lines.push(format!(
                "it spins on {} held by {}",
                lock_name(l),
                k.lock_holder(l).map_or("nobody".into(), holder_name)
            )),
            Want::Mutex => lines.push(format!(
                "it sleeps on mm_cid.mutex held by T{}",
                k.mm.mutex.map_or(u16::MAX, |t| t)
            )),
            Want::WorkIdle => lines.push("it waits for the irq_work/work to finish".into()),
            Want::Nothing => {}
        }
    }
    let held: Vec<String> =
        k.rq.iter()
            .enumerate()
            .filter_map(|(c, rq)| rq.lock.map(|h| format!("rq{c}.lock by {}", holder_name(h))))
            .chain(
                k.mm.lock
                    .map(|h| format!("mm_cid.lock by {}", holder_name(h))),
            )
            .chain(k.mm.mutex.map(|t| format!("mm_cid.mutex by T{t}")))
            .collect();
    lines.push(format!(
        "locks held: {}",
        if held.is_empty() {
            "none".into()
        } else {
            held.join(", ")
        }
    ));
    let pool: Vec<String> = (0..n)
        .map(|c| {
            if k.mm.bitmap.test(c as usize) {
                let o = owners_of(k, c);
                format!(
                    "{c}:{}",
                    if o.is_empty() {
                        "leaked".into()
                    } else {
                        o.join("+")
                    }
                )
            } else {
                format!("{c}:free")
            }
        })
        .collect();
    lines.push(format!("CID pool: {{{}}}", pool.join(", ")));
    let queued: Vec<String> = k
        .live_tasks()
        .filter(|&(i, t)| t.state != TaskState::Running || !k.task_curr(i))
        .map(|(i, t)| {
            format!(
                "T{i} {} on CPU{} cid {}",
                fmt_state(t.state),
                t.cpu,
                fmt_cid(t.mm_cid.cid)
            )
        })
        .collect();
    if !queued.is_empty() {
        lines.push(format!("other tasks: {}", queued.join("; ")));
    }
    lines.join("\n")
}
