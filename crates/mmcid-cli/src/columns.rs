//! Counterexamples as CPU columns (the default text output of `check` and `replay`), the HTML
//! page, and the terminal width they adapt to.

use std::io::IsTerminal;

use mmcid_checker::{AgentId, Discovery, Model, Trace};
use mmcid_model::timeline::{explain_violation, RenderOptions, Timeline};
use mmcid_model::{Fix, MmCidModel, Scenario};

use crate::args::UsageError;
use crate::html;

/// Used when the output is not a terminal and `$COLUMNS` is not set.
pub const DEFAULT_WIDTH: usize = 100;

/// The width to lay traces out in: `--width`, else `$COLUMNS`, else the terminal's width, else
/// [`DEFAULT_WIDTH`].
pub fn width(flag: Option<usize>) -> Result<usize, UsageError> {
    if let Some(w) = flag {
        if !(40..=1000).contains(&w) {
            return Err(UsageError(format!(
                "--width must be between 40 and 1000 (got {w})"
            )));
        }
        return Ok(w);
    }
    if let Some(w) = std::env::var("COLUMNS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|w| (40..=1000).contains(w))
    {
        return Ok(w);
    }
    Ok(terminal_width().unwrap_or(DEFAULT_WIDTH))
}

#[cfg(unix)]
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a `winsize` we own; stdout is a terminal.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col >= 40 {
            Some(ws.ws_col as usize)
        } else {
            None
        }
    }
}

#[cfg(not(unix))]
fn terminal_width() -> Option<usize> {
    None
}

/// One line describing the scenario.
pub fn scenario_line(s: &Scenario) -> String {
    let fixes: Vec<&str> = s.kernel.fixes.iter().map(Fix::name).collect();
    format!(
        "kernel {} [{}], {} CPUs ({} allowed), {} threads max ({} at start), budgets: forks {} (failing {}), exits {}, execs {}, affinity {}",
        s.kernel.stage.name(),
        fixes.join(" "),
        s.cpus,
        s.initial_allowed,
        s.threads,
        s.initial_threads,
        s.forks,
        s.fork_failures,
        s.exits,
        s.execs,
        s.affinity
    )
}

/// The timeline of a trace.
pub fn timeline(model: &MmCidModel, trace: &Trace<MmCidModel>) -> Timeline {
    Timeline::new(model, trace.states(), trace.actions())
}

/// The explanation of a violation in the trace's final state.
pub fn explanation(
    model: &MmCidModel,
    property: &str,
    agent: Option<AgentId>,
    trace: &Trace<MmCidModel>,
) -> Vec<String> {
    explain_violation(model, property, agent, trace.final_state())
}

/// Prints the trace in CPU columns and the explanation.
pub fn print_trace(
    model: &MmCidModel,
    trace: &Trace<MmCidModel>,
    property: &str,
    agent: Option<AgentId>,
    opts: RenderOptions,
) {
    println!(
        "trace ({} steps, replay token {}):",
        trace.len(),
        trace.to_token()
    );
    print!("{}", timeline(model, trace).render(opts));
    println!();
    println!("why:");
    for line in explanation(model, property, agent, trace) {
        println!("  {line}");
    }
}

/// Prints one discovery: headline, rescue events of a livelock, the columns, the explanation.
pub fn print_discovery(model: &MmCidModel, d: &Discovery<MmCidModel>, opts: RenderOptions) {
    crate::output::print_headline(model, d);
    crate::output::print_rescue(d);
    match &d.trace {
        Some(trace) => print_trace(model, trace, d.property, d.agent, opts),
        None => {
            for line in d.explanation.lines() {
                println!("  {line}");
            }
        }
    }
}

/// The HTML page of a trace.
pub fn html_page(
    model: &MmCidModel,
    trace: &Trace<MmCidModel>,
    property: &str,
    kind: &str,
    agent: Option<AgentId>,
) -> String {
    let title = match agent {
        Some(a) => format!("{property} violated ({kind}) for {}", model.format_agent(a)),
        None => format!("{property} violated ({kind})"),
    };
    let info = html::PageInfo {
        title,
        scenario: scenario_line(model.scenario()),
        token: trace.to_token(),
        explanation: explanation(model, property, agent, trace),
    };
    html::page(&info, &timeline(model, trace))
}
