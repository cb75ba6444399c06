//! Counterexamples for people: a trace laid out as one column per CPU with time running down
//! (the form of the LKML reports), every field of a state by name (for `--full-states` and the
//! HTML viewer), and an explanation of the violation in the final state.
//!
//! Pure: no IO. The CLI prints [`Timeline::render`] and turns [`Timeline`] into JSON for the
//! HTML page. Field names are those of [`crate::format::diff`] (`slot[1]`, `T2.cid`, `bitmap`),
//! so a step's change lines name the fields that the viewer highlights.

use std::collections::HashSet;
use std::collections::VecDeque;

use mmcid_checker::{AgentId, Model};

use crate::cid::*;
use crate::env::{owners_of, Action};
use crate::exec::Want;
use crate::format::{fmt_state, format_frame, holder_name, lock_name, task_name};
use crate::model::MmCidModel;
use crate::state::{CpuId, Kernel, TaskState};
use crate::thread::{Holder, Lock, Who};

/// One step of a trace, placed in the column of the CPU it runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineStep {
    /// Step number, from 1.
    pub number: usize,
    /// The CPU column.
    pub cpu: CpuId,
    /// What runs, without the CPU (the column says it): `T0 sched_mm_cid_fork:Enter{t: 3}`,
    /// `T1 migrates CPU0 -> CPU1`, `sched(T1) mm_get_cid:First` for a context switch's code.
    pub head: String,
    /// The action as the step list names it (`T0@cpu0 ...`), as recorded in trace files.
    pub action: String,
    /// What changed, one `field: old -> new` line each.
    pub changes: Vec<String>,
}

/// One named field of a state: `("slot[1]", "1|ONCPU")`.
pub type Field = (String, String);

/// A trace laid out for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Number of CPUs (columns).
    pub cpus: usize,
    /// The steps, in order.
    pub steps: Vec<TimelineStep>,
    /// Every state's fields, from the initial state to the final one (`steps.len() + 1`).
    pub states: Vec<Vec<Field>>,
}

/// The text layout's knobs.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Total width in characters (the columns share what the step numbers leave).
    pub width: usize,
    /// Print every field of the state after each step, not only what changed.
    pub full_states: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            width: 100,
            full_states: false,
        }
    }
}

/// The narrowest a CPU column gets; with many CPUs the table is wider than asked.
const MIN_COLUMN: usize = 14;
/// The step-number gutter: `" 10. "`.
const GUTTER: usize = 5;
/// Between columns.
const SEP: &str = " | ";

impl Timeline {
    /// Lays out `states[0] --actions[0]--> states[1] ...`.
    pub fn new(model: &MmCidModel, states: &[Kernel], actions: &[Action]) -> Timeline {
        assert_eq!(
            states.len(),
            actions.len() + 1,
            "a trace has one state more than actions"
        );
        let steps = actions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (last, next) = (&states[i], &states[i + 1]);
                TimelineStep {
                    number: i + 1,
                    cpu: step_cpu(model, last, a),
                    head: prettify(&step_head(last, a)),
                    action: crate::format::format_action(last, a),
                    changes: changes(last, next),
                }
            })
            .collect();
        Timeline {
            cpus: model.scenario().cpus,
            steps,
            states: states.iter().map(state_fields).collect(),
        }
    }

    /// The names of the fields that differ between state `i - 1` and state `i` (none for 0).
    pub fn changed_fields(&self, i: usize) -> Vec<&str> {
        if i == 0 || i >= self.states.len() {
            return Vec::new();
        }
        let before = &self.states[i - 1];
        self.states[i]
            .iter()
            .filter(|(name, value)| !before.iter().any(|(n, v)| n == name && v == value))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The CPU-column text: a header, then each step in its CPU's column (what runs, then what
    /// changed), with `--full-states` the whole state after each step.
    pub fn render(&self, opts: RenderOptions) -> String {
        let n = self.cpus.max(1);
        // Columns of CPUs that run no step are only as wide as their name; the others share
        // the rest of the width.
        let used: Vec<bool> = (0..n)
            .map(|c| self.steps.iter().any(|s| s.cpu as usize == c))
            .collect();
        let busy = used.iter().filter(|&&u| u).count().max(1);
        let narrow: usize = (0..n)
            .filter(|&c| !used[c])
            .map(|c| format!("CPU{c}").len())
            .sum();
        let avail = opts
            .width
            .saturating_sub(GUTTER + SEP.len() * (n - 1) + narrow);
        let col = (avail / busy).max(MIN_COLUMN);
        // No column wider than its longest line needs.
        let natural = |c: usize| -> usize {
            self.steps
                .iter()
                .filter(|s| s.cpu as usize == c)
                .flat_map(|s| {
                    std::iter::once(s.head.chars().count())
                        .chain(s.changes.iter().map(|ch| ch.chars().count() + 2))
                })
                .max()
                .unwrap_or(0)
                .max(MIN_COLUMN)
        };
        let widths: Vec<usize> = (0..n)
            .map(|c| {
                if used[c] {
                    col.min(natural(c))
                } else {
                    format!("CPU{c}").len()
                }
            })
            .collect();
        let table_width = GUTTER + widths.iter().sum::<usize>() + SEP.len() * (n - 1);
        let state_width = opts.width.max(table_width);
        let mut out = String::new();
        let row = |out: &mut String, gutter: &str, cells: &[String]| {
            let mut line = format!("{gutter:>width$}", width = GUTTER);
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    line.push_str(SEP);
                }
                line.push_str(&format!("{c:<w$}", w = widths[i]));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        };
        let header: Vec<String> = (0..n).map(|c| format!("CPU{c}")).collect();
        row(&mut out, "", &header);
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        row(&mut out, "", &rule);
        if opts.full_states {
            for line in wrap_fields(&self.states[0], state_width, "initial: ") {
                out.push_str(&line);
                out.push('\n');
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            let w = widths[(step.cpu as usize).min(n - 1)];
            let mut lines = wrap(&step.head, w, 2);
            for ch in &step.changes {
                lines.extend(wrap(ch, w - 2, 2).into_iter().map(|l| format!("  {l}")));
            }
            for (j, line) in lines.into_iter().enumerate() {
                let mut cells = vec![String::new(); n];
                cells[(step.cpu as usize).min(n - 1)] = line;
                let gutter = if j == 0 {
                    format!("{}. ", step.number)
                } else {
                    String::new()
                };
                row(&mut out, &gutter, &cells);
            }
            if opts.full_states {
                for line in wrap_fields(&self.states[i + 1], state_width, "state: ") {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            if i + 1 < self.steps.len() {
                row(&mut out, "", &vec![String::new(); n]);
            }
        }
        out
    }
}

/// The step's change lines ([`crate::format::diff`]), with `faults` in the short form of
/// [`state_fields`].
fn changes(last: &Kernel, next: &Kernel) -> Vec<String> {
    let fault = |k: &Kernel| {
        state_fields(k)
            .into_iter()
            .find(|(n, _)| n == "faults")
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    crate::format::diff(last, next)
        .into_iter()
        .map(|line| {
            if line.starts_with("faults: ") {
                format!("faults: {} -> {}", fault(last), fault(next))
            } else {
                line
            }
        })
        .collect()
}

/// A whole state in a few wrapped lines: the mm, then one line per CPU, then one per task.
fn wrap_fields(fields: &[Field], width: usize, lead: &str) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>)> = vec![("mm:".into(), Vec::new())];
    for (name, value) in fields {
        let (group, key) = if let Some(c) =
            name.strip_prefix("slot[").and_then(|r| r.strip_suffix(']'))
        {
            (format!("CPU{c}:"), "slot".to_string())
        } else if let Some((rq, key)) = name.strip_prefix("rq").and_then(|r| r.split_once('.')) {
            (format!("CPU{rq}:"), key.to_string())
        } else if let Some((t, key)) = name
            .strip_prefix('T')
            .and_then(|r| r.split_once('.'))
            .filter(|(t, _)| t.chars().all(|c| c.is_ascii_digit()))
        {
            (format!("T{t}:"), key.to_string())
        } else {
            ("mm:".to_string(), name.clone())
        };
        let item = format!("{key}={}", value.replace(", ", ","));
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, items)) => items.push(item),
            None => groups.push((group, vec![item])),
        }
    }
    let indent = " ".repeat(GUTTER);
    let mut lines = vec![format!("{indent}{}", lead.trim_end())];
    for (group, items) in groups {
        let mut line = format!("{indent}  {group:<5}");
        let fresh = line.len();
        for item in items {
            if line.len() > fresh && line.len() + 1 + item.len() > width {
                lines.push(line);
                line = format!("{indent}  {:<5}", "");
            }
            line.push(' ');
            line.push_str(&item);
        }
        lines.push(line);
    }
    lines
}

/// CID words and mode words inside frame locals (`mode: 1073741824`) in their symbolic form
/// (`mode: per-cpu`, `cid: 1|ONCPU`).
pub fn prettify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(": ") {
        let (before, after) = rest.split_at(pos + 2);
        out.push_str(before);
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        match digits.parse::<u32>() {
            Ok(v) if v >= MM_CID_TRANSIT => {
                if before.ends_with("mode: ") {
                    out.push_str(fmt_mode(v));
                } else {
                    out.push_str(&fmt_cid(v));
                }
                rest = &after[digits.len()..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// Greedy word wrap to `width` characters; continuation lines are indented by `hang`. Lines
/// break at spaces outside `{}`/`()` and after a `function:` prefix; a word still longer than
/// a line is cut after `,`, `:`, `{`, `(` or `_` if it can be, else hard.
pub fn wrap(text: &str, width: usize, hang: usize) -> Vec<String> {
    let width = width.max(hang + 4);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (word, spaced) in words(text) {
        let mut word = word.to_string();
        let mut spaced = spaced;
        loop {
            let room = width - if lines.is_empty() { 0 } else { hang };
            let used = line.chars().count();
            let gap = usize::from(used > 0 && spaced);
            if used + gap + word.chars().count() <= room {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // The word alone is too long for a line: cut it.
            let chars: Vec<char> = word.chars().collect();
            let cut = (1..room)
                .rev()
                .find(|&i| matches!(chars[i - 1], ',' | ':' | '{' | '(' | '_'))
                .unwrap_or(room);
            lines.push(
                chars[..cut]
                    .iter()
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            );
            word = chars[cut..]
                .iter()
                .collect::<String>()
                .trim_start()
                .to_string();
            spaced = false;
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    let pad = " ".repeat(hang);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { l } else { format!("{pad}{l}") })
        .collect()
}

/// `text` cut into words, each with whether a space precedes it: at spaces outside `{}`/`()`
/// (`Enter{t: 3}` stays one word), and after the `:` of `function:Label` (no space there).
fn words(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut spaced) = (0i32, 0, true);
    let bytes = text.as_bytes();
    for (i, ch) in text.char_indices() {
        match ch {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            ' ' if depth <= 0 => {
                if i > start {
                    out.push((&text[start..i], spaced));
                }
                start = i + 1;
                spaced = true;
            }
            ':' if depth <= 0 && bytes.get(i + 1).is_some_and(|b| b.is_ascii_uppercase()) => {
                out.push((&text[start..=i], spaced));
                start = i + 1;
                spaced = false;
            }
            _ => {}
        }
    }
    if start < text.len() {
        out.push((&text[start..], spaced));
    }
    out
}

/// The CPU a step runs on (the column it goes in).
fn step_cpu(model: &MmCidModel, k: &Kernel, a: &Action) -> CpuId {
    model.action_meta(k, a).agent.0 as CpuId
}

/// What runs, without the CPU.
fn step_head(k: &Kernel, a: &Action) -> String {
    let full = crate::format::format_action(k, a);
    match *a {
        Action::Step(Who::Cpu(c)) => {
            let rest = full
                .strip_prefix(&format!("CPU{c} "))
                .unwrap_or(&full)
                .to_string();
            format!("sched({}) {rest}", task_name(k.rq[c as usize].curr))
        }
        Action::Switch { cpu, .. } | Action::IrqWork { cpu } => full
            .strip_prefix(&format!("CPU{cpu} "))
            .unwrap_or(&full)
            .to_string(),
        _ => {
            // "T0@cpu0 clone(...)" -> "T0 clone(...)"
            match full.split_once(' ') {
                Some((who, rest)) if who.contains("@cpu") => {
                    format!("{} {rest}", who.split('@').next().unwrap_or(who))
                }
                _ => full,
            }
        }
    }
}

/// Every field of a state by the name [`crate::format::diff`] uses, in a fixed order: the mm,
/// then the CPUs, then the tasks.
pub fn state_fields(k: &Kernel) -> Vec<Field> {
    let mut f: Vec<Field> = Vec::new();
    let mut add = |name: String, value: String| f.push((name, value));
    add("mode".into(), fmt_mode(k.mm.mode).into());
    add("users".into(), k.mm.users.to_string());
    add("max_cids".into(), k.mm.max_cids.to_string());
    add("pcpu_thrs".into(), k.mm.pcpu_thrs.to_string());
    add("nr_cpus_allowed".into(), k.mm.nr_cpus_allowed.to_string());
    add("bitmap".into(), format!("{:?}", k.mm.bitmap));
    add(
        "mm_cid.mutex".into(),
        k.mm.mutex.map_or("free".into(), |t| format!("T{t}")),
    );
    add(
        "mm_cid.lock".into(),
        k.mm.lock.map_or("free".into(), holder_name),
    );
    add("thread_list".into(), format!("{:?}", k.mm.thread_list));
    for (c, s) in k.mm.pcpu.iter().enumerate() {
        add(format!("slot[{c}]"), fmt_cid(*s));
    }
    for (c, rq) in k.rq.iter().enumerate() {
        add(format!("rq{c}.curr"), task_name(rq.curr));
        add(
            format!("rq{c}.lock"),
            rq.lock.map_or("free".into(), holder_name),
        );
    }
    for (t, task) in k.live_tasks() {
        add(format!("T{t}.state"), fmt_state(task.state).into());
        add(format!("T{t}.cpu"), task.cpu.to_string());
        add(format!("T{t}.cid"), fmt_cid(task.mm_cid.cid));
        add(format!("T{t}.active"), task.mm_cid.active.to_string());
        add(
            format!("T{t}.cpus_allowed"),
            format!("{:?}", task.cpus_allowed),
        );
    }
    let mut faults = Vec::new();
    if let Some(w) = k.faults.warn {
        faults.push(format!("WARN {w:?}"));
    }
    if let Some(n) = k.faults.oob_drop {
        faults.push(format!("out-of-range mm_drop_cid({})", fmt_cid(n)));
    }
    if let Some(n) = k.faults.double_drop {
        faults.push(format!("double mm_drop_cid({})", fmt_cid(n)));
    }
    if k.faults.null_deref {
        faults.push("NULL mm dereference".into());
    }
    add(
        "faults".into(),
        if faults.is_empty() {
            "none".into()
        } else {
            faults.join(", ")
        },
    );
    f
}

/// Why the final state `k` violates `property` (a property name, or `stall`, `livelock`,
/// `deadlock` for the agent `agent`), in sentences a kernel developer can check against the
/// code. The first line names the failure.
pub fn explain_violation(
    model: &MmCidModel,
    property: &str,
    agent: Option<AgentId>,
    k: &Kernel,
) -> Vec<String> {
    match (property, agent) {
        ("stall" | "livelock", Some(agent)) => explain_progress(model, property, agent, k),
        ("deadlock", _) => {
            let mut lines =
                vec!["deadlock: kernel code is in flight but no action at all is enabled".into()];
            for who in all_threads(k) {
                let thread = k.thread(who);
                if thread.is_idle() {
                    continue;
                }
                let stack: Vec<String> = thread
                    .stack
                    .iter()
                    .rev()
                    .map(|f| prettify(&format_frame(f)))
                    .collect();
                lines.push(format!("{} is in {}", who_name(k, who), stack.join(" <- ")));
                lines.push(format!("  {}", want_text(k, who)));
            }
            lines.push(format!("locks held: {}", held_locks(k)));
            lines
        }
        _ => explain_invariant(property, k),
    }
}

/// `all 3 CIDs are taken`, or `the only CID is taken`.
fn all_taken(k: &Kernel) -> String {
    match k.nr_cpus() {
        1 => "the only CID is taken".into(),
        n => format!("all {n} CIDs are taken"),
    }
}

/// What `who`'s next step waits for, in words.
fn want_text(k: &Kernel, who: Who) -> String {
    match k.wants(who) {
        Want::FreeCid => format!("it spins in mm_get_cid(): {}", all_taken(k)),
        Want::Lock(l) => format!(
            "it spins on {} held by {}",
            lock_name(l),
            k.lock_holder(l).map_or("nobody".into(), holder_name)
        ),
        Want::Mutex => format!(
            "it sleeps on mm_cid.mutex held by {}",
            k.mm.mutex.map_or("nobody".into(), |t| format!("T{t}"))
        ),
        Want::WorkIdle => "it waits for the irq_work and the work to end".into(),
        Want::Nothing => "its next step could run".into(),
    }
}

fn held_locks(k: &Kernel) -> String {
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
    if held.is_empty() {
        "none".into()
    } else {
        held.join(", ")
    }
}

fn who_name(k: &Kernel, who: Who) -> String {
    match who {
        Who::Cpu(c) => format!(
            "CPU{c} (context switch to {})",
            task_name(k.rq[c as usize].curr)
        ),
        Who::Task(t) => format!("T{t} on CPU{}", k.task(t).cpu),
    }
}

fn all_threads(k: &Kernel) -> Vec<Who> {
    (0..k.nr_cpus() as CpuId)
        .map(Who::Cpu)
        .chain(k.live_tasks().map(|(t, _)| Who::Task(t)))
        .collect()
}

fn holder_of(who: Who) -> Holder {
    match who {
        Who::Cpu(c) => Holder::Cpu(c),
        Who::Task(t) => Holder::Task(t),
    }
}

/// The stuck agent: where it is, what it waits for, what it holds, who waits for that, and
/// (when it wants a CID) who holds every CID and why none comes back.
fn explain_progress(model: &MmCidModel, what: &str, agent: AgentId, k: &Kernel) -> Vec<String> {
    let mut lines = Vec::new();
    let stuck: Vec<Who> = all_threads(k)
        .into_iter()
        .filter(|&w| model.waiting_agent(k, w) == Some(agent))
        .collect();
    let name = model.format_agent(agent);
    lines.push(format!(
        "{what}: {name} {}",
        if what == "stall" {
            "waits and nothing that can still happen lets it go on"
        } else {
            "waits and the kernel on its own cannot let it go on"
        }
    ));
    let mut wants_cid = false;
    let mut held: Vec<Lock> = Vec::new();
    let mut holds_mutex = None;
    for &who in &stuck {
        let stack: Vec<String> = k
            .thread(who)
            .stack
            .iter()
            .rev()
            .map(|f| prettify(&format_frame(f)))
            .collect();
        lines.push(format!("{} is in {}", who_name(k, who), stack.join(" <- ")));
        match k.wants(who) {
            Want::FreeCid => {
                wants_cid = true;
                lines.push(format!("it spins in mm_get_cid(): {}", all_taken(k)));
            }
            Want::Lock(l) => lines.push(format!(
                "it spins on {} held by {}",
                lock_name(l),
                k.lock_holder(l).map_or("nobody".into(), holder_name)
            )),
            Want::Mutex => lines.push(format!(
                "it sleeps on mm_cid.mutex held by {}",
                k.mm.mutex.map_or("nobody".into(), |t| format!("T{t}"))
            )),
            Want::WorkIdle => lines.push("it waits for the irq_work and the work to end".into()),
            Want::Nothing => {}
        }
        let h = holder_of(who);
        for (c, rq) in k.rq.iter().enumerate() {
            if rq.lock == Some(h) {
                held.push(Lock::Rq(c as CpuId));
            }
        }
        if k.mm.lock == Some(h) {
            held.push(Lock::MmCid);
        }
        if let Who::Task(t) = who {
            if k.mm.mutex == Some(t) {
                holds_mutex = Some(t);
            }
        }
    }
    if !held.is_empty() || holds_mutex.is_some() {
        let mut names: Vec<String> = held.iter().map(|&l| lock_name(l)).collect();
        names.extend(holds_mutex.map(|_| "mm_cid.mutex".to_string()));
        lines.push(format!("while waiting it holds {}", names.join(", ")));
    }
    lines.push(format!("locks held: {}", held_locks(k)));
    if !held.is_empty() || holds_mutex.is_some() {
        match find_waiter(model, k, &stuck, &held, holds_mutex) {
            Some((0, line)) => lines.push(format!("waiting for it: {line}")),
            Some((steps, line)) => lines.push(format!(
                "waiting for it: {line}, as soon as the rest of the system runs on ({steps} more step{})",
                if steps == 1 { "" } else { "s" }
            )),
            None => lines.push("nobody else needs what it holds (searched 2000 states)".into()),
        }
    }
    if wants_cid {
        lines.push("no CID can be freed:".into());
        let stuck_cpus: Vec<CpuId> = stuck.iter().map(|&w| k.cpu_of(w)).collect();
        for n in 0..k.nr_cpus() as u32 {
            lines.push(format!("  CID {n}: {}", why_taken(k, n, &stuck_cpus)));
        }
    }
    lines
}

/// Who holds CID `n` and why it does not come back.
fn why_taken(k: &Kernel, n: u32, stuck_cpus: &[CpuId]) -> String {
    if !k.mm.bitmap.test(n as usize) {
        return "free (yet the spinning CPU cannot take it)".into();
    }
    let per_cpu = cid_on_cpu(k.mm.mode);
    let mut why = Vec::new();
    for (c, &slot) in k.mm.pcpu.iter().enumerate() {
        if cid_on_cpu(slot) && cpu_cid_to_cid(slot) == n {
            why.push(format!(
                "owned by CPU{c} (slot[{c}] = {}){}",
                fmt_cid(slot),
                if per_cpu {
                    "; in per-CPU mode a CPU keeps its CID until the mode switches back"
                } else {
                    "; only a fixup or the CPU's next context switch gives it back"
                }
            ));
        }
    }
    for (t, task) in k.live_tasks() {
        let cid = task.mm_cid.cid;
        let owns = cid & MM_CID_UNSET == 0
            && task_cid(cid) == n
            && ((task.mm_cid.active && cid_on_task(cid)) || cid_in_transit(cid));
        if !owns {
            continue;
        }
        let c = task.cpu;
        let where_ = match task.state {
            TaskState::Running if k.task_curr(t) => {
                format!("runs on CPU{c}; it gives the CID back only when it schedules out in transit mode or exits")
            }
            TaskState::Runnable | TaskState::Running if stuck_cpus.contains(&c) => {
                format!("is queued on CPU{c}, which is the stuck CPU and will not switch to it")
            }
            TaskState::Runnable | TaskState::Running => {
                format!("is queued on CPU{c} and keeps its CID while it does not run")
            }
            TaskState::Sleeping | TaskState::MutexWait => {
                format!("sleeps ({}) and keeps its CID", fmt_state(task.state))
            }
            TaskState::New => "is a new task not yet running and keeps its CID".into(),
            TaskState::Dead => "is exiting".into(),
        };
        why.push(format!(
            "owned by T{t} (cid {}), which {where_}",
            fmt_cid(cid)
        ));
    }
    if why.is_empty() {
        let o = owners_of(k, n);
        if o.is_empty() {
            "leaked: its bit is set and nobody owns it, so nobody will free it".into()
        } else {
            format!("owned by {}", o.join("+"))
        }
    } else {
        why.join("; ")
    }
}

/// The nearest thread that waits for a lock (or the mutex) held by the stuck threads: in `k`
/// itself, or after the fewest internal steps of the others (breadth-first, bounded).
fn find_waiter(
    model: &MmCidModel,
    k: &Kernel,
    stuck: &[Who],
    held: &[Lock],
    mutex: Option<u16>,
) -> Option<(usize, String)> {
    const LIMIT: usize = 2000;
    let waiter = |s: &Kernel| -> Option<String> {
        for who in all_threads(s) {
            if stuck.contains(&who) {
                continue;
            }
            match s.wants(who) {
                Want::Lock(l)
                    if held.contains(&l)
                        && s.lock_holder(l)
                            .is_some_and(|h| stuck.iter().any(|&w| holder_of(w) == h)) =>
                {
                    return Some(format!(
                        "{} needs {} in {}",
                        who_name(s, who),
                        lock_name(l),
                        prettify(&s.thread(who).top().map(format_frame).unwrap_or_default())
                    ));
                }
                Want::Mutex if mutex.is_some() && s.mm.mutex == mutex => {
                    return Some(format!(
                        "{} needs mm_cid.mutex in {}",
                        who_name(s, who),
                        prettify(&s.thread(who).top().map(format_frame).unwrap_or_default())
                    ));
                }
                _ => {}
            }
        }
        None
    };
    let mut seen: HashSet<Kernel> = HashSet::new();
    let mut queue: VecDeque<(Kernel, usize)> = VecDeque::new();
    seen.insert(k.clone());
    queue.push_back((k.clone(), 0));
    let mut acts = Vec::new();
    while let Some((s, d)) = queue.pop_front() {
        if let Some(w) = waiter(&s) {
            return Some((d, w));
        }
        if seen.len() > LIMIT {
            continue;
        }
        acts.clear();
        model.actions(&s, &mut acts);
        for a in acts.iter().filter(|a| a.is_internal()) {
            let next = model.apply(&s, *a);
            if seen.insert(next.clone()) {
                queue.push_back((next, d + 1));
            }
        }
    }
    None
}

/// Why an always-property fails in `k`: the statement, then the offending fields.
fn explain_invariant(property: &str, k: &Kernel) -> Vec<String> {
    let mut lines = Vec::new();
    let statement = match property {
        "unique-cid" => "unique-cid (I1): two CPUs run users of the mm with the same CID",
        "cid-range" => "cid-range (I2): an owned CID or a dropped CID is >= N",
        "ownership" => "ownership (I3): the bitmap and the owners of the CIDs disagree",
        "exclusive" => "exclusive (I4): a CID is owned by a CPU and by a task at once",
        "steady-state" => {
            "steady-state (I5): with mm_cid.mutex free, every CID must be owned the way the mode says"
        }
        "users-count" => "users-count (I6): users does not count the active tasks",
        "warn" => "warn (I8): the kernel reached a WARN or dereferenced a NULL mm",
        "bounds" => "bounds (I9): max_cids or pcpu_thrs is out of its range",
        other => {
            lines.push(format!("{other} is false in the final state"));
            return lines;
        }
    };
    lines.push(statement.to_string());
    let n = k.nr_cpus() as u32;
    let running = |t: u16| k.task_curr(t) && k.task(t).state == TaskState::Running;
    match property {
        "unique-cid" => {
            for (t, a) in k.live_tasks() {
                for (u, b) in k.live_tasks() {
                    if t < u
                        && running(t)
                        && running(u)
                        && a.mm_cid.active
                        && b.mm_cid.active
                        && task_cid(a.mm_cid.cid) == task_cid(b.mm_cid.cid)
                        && a.mm_cid.cid & MM_CID_UNSET == 0
                    {
                        lines.push(format!(
                            "T{t} on CPU{} (cid {}) and T{u} on CPU{} (cid {}) both show CID {}",
                            a.cpu,
                            fmt_cid(a.mm_cid.cid),
                            b.cpu,
                            fmt_cid(b.mm_cid.cid),
                            task_cid(a.mm_cid.cid)
                        ));
                    }
                }
            }
        }
        "cid-range" | "ownership" | "exclusive" => {
            if let Some(x) = k.faults.oob_drop {
                lines.push(format!(
                    "mm_drop_cid() was handed the CID word {} ({x:#x}) and cleared bit {x}, outside the {n}-bit bitmap",
                    fmt_cid(x)
                ));
            }
            if let Some(x) = k.faults.double_drop {
                lines.push(format!("CID {} was dropped twice", fmt_cid(x)));
            }
            let mut numbers: Vec<u32> = k.mm.bitmap.iter().map(|b| b as u32).collect();
            for (_, t) in k.live_tasks() {
                if t.mm_cid.cid & MM_CID_UNSET == 0 {
                    numbers.push(task_cid(t.mm_cid.cid));
                }
            }
            for &s in &k.mm.pcpu {
                if cid_on_cpu(s) && s & MM_CID_UNSET == 0 {
                    numbers.push(cpu_cid_to_cid(s));
                }
            }
            numbers.sort_unstable();
            numbers.dedup();
            for x in numbers {
                let owners = owners_of(k, x);
                let set = k.mm.bitmap.test(x as usize);
                let bad = (property == "cid-range" && x >= n && !owners.is_empty())
                    || (property == "ownership" && (set == owners.is_empty() || owners.len() > 1))
                    || (property == "exclusive"
                        && owners.iter().any(|o| o.starts_with("CPU"))
                        && owners.iter().any(|o| o.starts_with('T')));
                if bad {
                    lines.push(format!(
                        "CID {x}: bit {}, owned by {}",
                        if set { "set" } else { "clear" },
                        if owners.is_empty() {
                            "nobody (leaked)".to_string()
                        } else {
                            owners.join(" and ")
                        }
                    ));
                }
            }
        }
        "steady-state" => {
            lines.push(format!("mode is {}", fmt_mode(k.mm.mode)));
            if cid_in_transit(k.mm.mode) {
                lines.push("the TRANSIT bit is still set in the mode".into());
            } else if cid_on_cpu(k.mm.mode) {
                for (t, task) in k.live_tasks() {
                    if task.mm_cid.active && cid_on_task(task.mm_cid.cid) {
                        lines.push(format!(
                            "T{t} ({} on CPU{}) is a user with the task-owned CID {}; in per-CPU mode CIDs belong to CPUs",
                            fmt_state(task.state),
                            task.cpu,
                            fmt_cid(task.mm_cid.cid)
                        ));
                        if !k.mm.thread_list.contains(&t) {
                            lines.push(format!(
                                "T{t} is not in the thread list {:?}, so no fixup walk can have seen it",
                                k.mm.thread_list
                            ));
                        }
                    }
                }
            } else {
                for (c, &s) in k.mm.pcpu.iter().enumerate() {
                    if cid_on_cpu(s) {
                        lines.push(format!(
                            "slot[{c}] = {}: CPU{c} still owns a CID in per-task mode",
                            fmt_cid(s)
                        ));
                    }
                }
            }
        }
        "users-count" => {
            let active: Vec<String> = k
                .live_tasks()
                .filter(|(_, t)| t.mm_cid.active)
                .map(|(i, _)| format!("T{i}"))
                .collect();
            lines.push(format!(
                "users = {} but the active tasks are {{{}}}",
                k.mm.users,
                active.join(",")
            ));
            if k.mm.users == 0 && (k.mm.irq_work.is_some() || k.mm.work_pending) {
                lines.push("no users are left but the deferred work is still queued".into());
            }
        }
        "warn" => {
            if let Some(w) = k.faults.warn {
                lines.push(format!("WARN reached: {w:?}"));
            }
            if k.faults.null_deref {
                lines.push("a NULL mm was dereferenced".into());
            }
        }
        "bounds" => lines.push(format!(
            "max_cids = {} (N = {n}), pcpu_thrs = {} in mode {}",
            k.mm.max_cids,
            k.mm.pcpu_thrs,
            fmt_mode(k.mm.mode)
        )),
        _ => {}
    }
    lines.push(format!("locks held: {}", held_locks(k)));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::Scenario;
    use crate::properties;

    /// Injected faults: each explanation names the offending field, and only when the
    /// property really fails.
    #[test]
    fn invariant_explanations_name_the_offender() {
        let model = MmCidModel::new(Scenario::default()).unwrap();
        let k = model.initial_state();
        assert!(properties::ownership(&k));
        // A leaked bit.
        let mut leak = k.clone();
        leak.mm.bitmap.set(1);
        assert!(!properties::ownership(&leak));
        let text = explain_violation(&model, "ownership", None, &leak).join("\n");
        assert!(
            text.contains("CID 1: bit set, owned by nobody (leaked)"),
            "{text}"
        );
        assert!(!text.contains("CID 0:"), "{text}");
        // A CPU-owned slot in per-task mode.
        let mut slot = k.clone();
        slot.mm.pcpu[1] = cid_to_cpu_cid(1);
        slot.mm.bitmap.set(1);
        assert!(!properties::steady_state(&slot));
        let text = explain_violation(&model, "steady-state", None, &slot).join("\n");
        assert!(
            text.contains("slot[1] = 1|ONCPU: CPU1 still owns a CID in per-task mode"),
            "{text}"
        );
        // CPU and task own the same number.
        let mut both = k.clone();
        both.mm.pcpu[1] = cid_to_cpu_cid(0);
        assert!(!properties::exclusive(&both));
        let text = explain_violation(&model, "exclusive", None, &both).join("\n");
        assert!(
            text.contains("CID 0: bit set, owned by T0 and CPU1"),
            "{text}"
        );
        // users out of step.
        let mut users = k.clone();
        users.mm.users = 2;
        let text = explain_violation(&model, "users-count", None, &users).join("\n");
        assert!(
            text.contains("users = 2 but the active tasks are {T0}"),
            "{text}"
        );
    }

    #[test]
    fn prettify_names_cid_and_mode_words() {
        assert_eq!(
            prettify("AfterGetCid{t: 1, mode: 1073741824} x: 3 cid: 1610612737"),
            "AfterGetCid{t: 1, mode: per-cpu} x: 3 cid: 1|ONCPU|TRANSIT"
        );
        assert_eq!(prettify("no numbers: here"), "no numbers: here");
    }

    #[test]
    fn wrap_breaks_at_words_and_cuts_long_ones() {
        assert_eq!(wrap("a bb ccc", 6, 2), vec!["a bb", "  ccc"]);
        assert_eq!(
            wrap(
                "mm_cid_fixup_tasks_to_cpus:ForOtherThreads{next: Some(0)}",
                20,
                2
            ),
            vec![
                "mm_cid_fixup_tasks_",
                "  to_cpus:",
                "  ForOtherThreads{",
                "  next: Some(0)}"
            ]
        );
        assert_eq!(
            wrap(
                "T1 mm_cid_fixup_tasks_to_cpus:ForOtherThreads{next: Some(0)}",
                34,
                2
            ),
            vec![
                "T1 mm_cid_fixup_tasks_to_cpus:",
                "  ForOtherThreads{next: Some(0)}"
            ]
        );
        for line in wrap("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 10, 2) {
            assert!(line.chars().count() <= 10, "{line}");
        }
        assert_eq!(wrap("", 10, 2), vec![""]);
        assert_eq!(
            wrap("T0 sched_mm_cid_fork:Enter{t: 3} x", 32, 2),
            vec!["T0 sched_mm_cid_fork:Enter{t: 3}", "  x"]
        );
    }
}
