//! `mmcid`: the command-line tool. Only this crate does IO.
//!
//! Exit codes: 0 every property holds within the bounds, 1 a violation was found (or replayed),
//! 2 bad usage or input, 3 the run stopped early (limit or Ctrl-C) without a violation.

mod args;
mod columns;
mod html;
mod output;
mod simulate;
mod tracefile;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mmcid_checker::{check, CheckConfig, Model, Outcome, Progress, StopReason, Trace};
use mmcid_model::{Fix, MmCidModel, Stage};

use args::{CheckArgs, Cli, Command, ReplayArgs, UsageError};

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`mmcid check | head`), as command-line tools do.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match try_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mmcid: {e}");
            ExitCode::from(2)
        }
    }
}

fn try_main(cli: Cli) -> Result<u8, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Check(args) => run_check(*args),
        Command::Replay(args) => run_replay(args),
        Command::Simulate(args) => simulate::run_simulate(args),
        Command::Stages => {
            print_stages();
            Ok(0)
        }
    }
}

fn print_stages() {
    println!("Kernel stages (--kernel):");
    for st in Stage::ALL {
        let aliases = st.aliases().join(", ");
        let name = if aliases.is_empty() {
            st.name().to_string()
        } else {
            format!("{} ({aliases})", st.name())
        };
        let fixes: Vec<&str> = st.fixes().iter().map(Fix::name).collect();
        println!(
            "  {name:<20} {}  [fixes: {}]",
            st.summary(),
            fixes.join(" ")
        );
    }
    println!("Fixes (--with FIX / --without FIX):");
    for f in Fix::ALL {
        println!("  {:<5} {}", f.name(), f.summary());
    }
}

fn progress_printer() -> Arc<mmcid_checker::ProgressFn> {
    let tty = std::io::stderr().is_terminal();
    let last_line = std::sync::Mutex::new(Duration::ZERO);
    Arc::new(move |p: &Progress| {
        if p.elapsed < Duration::from_secs(1) {
            return;
        }
        let line = format!(
            "states {} | {:.0} states/s | queue {} | depth {} | {:.0}s",
            p.unique_states,
            p.states_per_second,
            p.queue,
            p.depth,
            p.elapsed.as_secs_f64()
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            let mut last = last_line.lock().unwrap();
            if p.elapsed >= *last + Duration::from_secs(10) {
                *last = p.elapsed;
                eprintln!("{line}");
            }
        }
    })
}

fn run_check(args: CheckArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let scenario = args.scenario.to_scenario()?;
    let model = MmCidModel::new(scenario.clone())?
        .ignoring(&args.ignore)
        .map_err(|e| UsageError(e.0))?;
    let workers = match args.workers {
        Some(0) => return Err(UsageError("--workers must be at least 1".into()).into()),
        Some(w) => w,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let config = CheckConfig {
        workers,
        symmetry: !args.no_symmetry,
        liveness: !args.no_liveness,
        max_states: args.max_states,
        max_memory_bytes: match args.max_memory_mib {
            Some(0) => None,
            Some(m) => Some(m * 1024 * 1024),
            None => default_memory_limit(),
        },
        max_depth: args.max_depth,
        progress: Some(progress_printer()),
        keep_going: args.keep_going,
        ..CheckConfig::default()
    };
    let stop = config.stop.clone();
    let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    let fixes: Vec<&str> = scenario.kernel.fixes.iter().map(Fix::name).collect();
    if !args.json {
        println!(
            "mmcid check: kernel {} [{}], {} CPUs ({} allowed), {} threads max ({} at start), budgets: forks {} (failing {}), exits {}, execs {}, affinity {}; symmetry {}, {} workers",
            scenario.kernel.stage.name(),
            fixes.join(" "),
            scenario.cpus,
            scenario.initial_allowed,
            scenario.threads,
            scenario.initial_threads,
            scenario.forks,
            scenario.fork_failures,
            scenario.exits,
            scenario.execs,
            scenario.affinity,
            if config.symmetry { "on" } else { "off" },
            workers
        );
    }
    let render = mmcid_model::timeline::RenderOptions {
        width: columns::width(args.width)?,
        full_states: args.full_states,
    };
    let report = check(&model, &config);
    if std::io::stderr().is_terminal() {
        eprint!("\r{:80}\r", "");
    }
    let failures: Vec<_> = report.failures().collect();
    if let Some(path) = &args.trace_out {
        if let Some(file) = failures
            .iter()
            .find_map(|d| tracefile::trace_file(&model, d))
        {
            std::fs::write(path, serde_json::to_string_pretty(&file)? + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
    }
    if let Some(path) = &args.html {
        if let Some(d) = failures.iter().find(|d| d.trace.is_some()) {
            let trace = d.trace.as_ref().expect("filtered on a trace");
            let page = columns::html_page(&model, trace, d.property, &d.kind.to_string(), d.agent);
            std::fs::write(path, page)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        } else {
            eprintln!(
                "mmcid: no counterexample, so {} was not written",
                path.display()
            );
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&output::report_json(&model, &report))?
        );
    } else {
        for d in &failures {
            if args.steps {
                output::print_discovery(&model, d, args.full_states);
            } else {
                columns::print_discovery(&model, d, render);
            }
        }
        if report.unreached_labels_are_final() {
            println!();
            if report.unreached_labels.is_empty() {
                println!("every modelled branch was reached");
            } else {
                println!(
                    "branches never reached ({}):",
                    report.unreached_labels.len()
                );
                for l in &report.unreached_labels {
                    println!("  {l}");
                }
            }
        }
        println!();
        if failures.is_empty() {
            println!("all properties hold within the bounds");
        }
        println!("{report}");
    }
    let incomplete = matches!(
        report.outcome,
        Outcome::Incomplete(r) if r != StopReason::AllDecided && r != StopReason::FailureFound
    );
    Ok(if !failures.is_empty() {
        1
    } else if incomplete {
        3
    } else {
        0
    })
}

fn run_replay(args: ReplayArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    if simulate::is_sim_trace(&text) {
        if args.html.is_some() {
            return Err(UsageError(
                "--html needs a trace of `mmcid check --trace-out`; this is a simulator trace"
                    .into(),
            )
            .into());
        }
        return simulate::run_sim_replay(&args.file, &text, args.full_states);
    }
    let loaded = tracefile::load(&text).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let model = MmCidModel::new(loaded.scenario.clone())?;
    let trace = Trace::from_token(&model, &loaded.token)
        .map_err(|e| format!("{}: the trace does not replay: {e}", args.file.display()))?;
    let states = trace.states();
    for (i, action) in trace.actions().iter().enumerate() {
        let now = model.format_action(&states[i], action);
        if let Some(Some(cpu)) = loaded.cpus.get(i) {
            let runs_on = u64::from(model.action_meta(&states[i], action).agent.0);
            if *cpu != runs_on {
                return Err(format!(
                    "{}: step {} does not replay: the trace recorded it on CPU{cpu} but the model runs it on CPU{runs_on}",
                    args.file.display(),
                    i + 1
                )
                .into());
            }
        }
        match loaded.actions.get(i) {
            Some(rec) if *rec == now => {}
            Some(rec) => {
                return Err(format!(
                    "{}: step {} does not replay: the trace recorded '{rec}' but the model now does '{now}'",
                    args.file.display(),
                    i + 1
                )
                .into())
            }
            None => {
                return Err(format!(
                    "{}: the token has more steps than the recorded steps ({})",
                    args.file.display(),
                    loaded.actions.len()
                )
                .into())
            }
        }
    }
    if loaded.actions.len() != trace.len() {
        return Err(format!(
            "{}: {} steps recorded but the token has {}",
            args.file.display(),
            loaded.actions.len(),
            trace.len()
        )
        .into());
    }
    let render = mmcid_model::timeline::RenderOptions {
        width: columns::width(args.width)?,
        full_states: args.full_states,
    };
    let last = trace.final_state();
    let mut agent = None;
    let recurs = match loaded.property.as_str() {
        "livelock" | "stall" => {
            let mut waiting = Vec::new();
            model.waiting(last, &mut waiting);
            agent = waiting
                .iter()
                .copied()
                .find(|&a| loaded.agent.as_ref() == Some(&model.format_agent(a)));
            agent.is_some()
        }
        "deadlock" => {
            let mut acts = Vec::new();
            model.actions(last, &mut acts);
            acts.is_empty() && !model.is_done(last)
        }
        name => match model.properties().iter().find(|p| p.name == name) {
            Some(p) => !(p.condition)(&model, last),
            None => {
                return Err(format!("{}: unknown property '{name}'", args.file.display()).into())
            }
        },
    };
    if !recurs {
        return Err(format!(
            "{}: the trace replays but the '{}' violation does not recur in its final state",
            args.file.display(),
            loaded.property
        )
        .into());
    }
    if let Some(path) = &args.html {
        let page = columns::html_page(&model, &trace, &loaded.property, &loaded.kind, agent);
        std::fs::write(path, page).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "replayed {} steps: {} ({}) recurs{}",
        trace.len(),
        loaded.property,
        loaded.kind,
        loaded
            .agent
            .as_ref()
            .map(|a| format!(" for {a}"))
            .unwrap_or_default()
    );
    if args.steps {
        print!("{}", trace.display(&model).full_states(args.full_states));
    } else {
        println!("{}", columns::scenario_line(model.scenario()));
        columns::print_trace(&model, &trace, &loaded.property, agent, render);
    }
    Ok(1)
}

/// Half the memory this process may use: the machine's (`MemTotal` of `/proc/meminfo`) or its
/// control group's limit, whichever is smaller; no limit if neither can be read. Half, because
/// the estimate counts the search's main structures only: the process's peak resident size was
/// measured at up to 1.7 times it (allocator slack, the buffers of the step between two
/// depths).
fn default_memory_limit() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kib: u64 = info
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024)
        });
    // cgroup v2, then v1; "max" or an absurdly large v1 value means no limit.
    let group = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|f| std::fs::read_to_string(f).ok()?.trim().parse::<u64>().ok())
    .filter(|&b| b < 1 << 60);
    let limit = match (total, group) {
        (Some(t), Some(g)) => t.min(g),
        (t, g) => t.or(g)?,
    };
    Some(limit / 2)
}
