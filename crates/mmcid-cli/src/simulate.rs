//! `mmcid simulate`: random runs of large configurations with a stall watchdog and the
//! protocol's cost; and the replay of a simulation trace file.
//!
//! Simulation trace file (version 1): `{"format": "mmcid-sim-trace", "version": 1, "kernel",
//! "fixes", "cpus", "threads", "workload", "scheduler", "pct_period", "seed", "steps",
//! "watchdog", "check_properties", "scenario": {...}, "finding": {...}, "last_steps": [...]}`.
//! It replays by running the simulation again from the seed for `steps` steps: the model and
//! the random numbers are deterministic, so the same finding must recur at the same step.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use clap::Args;
use mmcid_checker::{Model, Scheduler, SimConfig, SimFinding, SimOutcome, SimReport};
use mmcid_model::sim::{default_watchdog, run, SimMetrics, Workload};
use mmcid_model::{Fix, Fixes, KernelVersion, MmCidModel, Scenario, Stage};
use serde_json::{json, Value};

use crate::args::{ScenarioArgs, UsageError};
use crate::tracefile::scenario_json;

/// Flags of `mmcid simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Kernel stage: v1, B0..B5, or an alias (v6.19-rc1, v6.19, v7.0-rc4, latest).
    #[arg(long, default_value = "latest")]
    pub kernel: String,
    /// Add a fix to the stage (repeatable).
    #[arg(long = "with", value_name = "FIX")]
    pub with: Vec<String>,
    /// Remove a fix from the stage (repeatable).
    #[arg(long = "without", value_name = "FIX")]
    pub without: Vec<String>,
    /// Number of possible CPUs N (1 to 256).
    #[arg(long, default_value_t = 8)]
    pub cpus: usize,
    /// Most threads alive at once (up to 10000; default depends on the workload).
    #[arg(long)]
    pub threads: Option<usize>,
    /// thread-pool, fork-exit-churn, affinity or mixed.
    #[arg(long, default_value = "mixed")]
    pub workload: String,
    /// uniform or pct.
    #[arg(long, default_value = "uniform")]
    pub scheduler: String,
    /// PCT: mean steps between priority change points.
    #[arg(long, default_value_t = 100)]
    pub pct_period: u64,
    /// Seed of the first run; run i uses seed + i.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of runs.
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// Most steps per run.
    #[arg(long, default_value_t = 1_000_000)]
    pub steps: u64,
    /// Report a CPU (or task) that waits for more than this many steps (default: 1000 per
    /// CPU, at least 10000).
    #[arg(long)]
    pub watchdog: Option<u64>,
    /// Steps of the trace shown with a finding.
    #[arg(long, default_value_t = 20)]
    pub history: usize,
    /// Do not check the invariants after every step (only the watchdog runs).
    #[arg(long)]
    pub no_properties: bool,
    /// Weakly ordered memory before F4b: a CPU may read a stale value of the second mode word
    /// (`transit`) until it catches up (spec §6.3), as for `mmcid check --relaxed`.
    #[arg(long)]
    pub relaxed: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the first finding as a trace file for `mmcid replay`.
    #[arg(long, value_name = "FILE")]
    pub trace_out: Option<PathBuf>,
    /// Print whole states in the last steps.
    #[arg(long)]
    pub full_states: bool,
}

/// Everything that determines a run, validated.
#[derive(Clone, Debug)]
struct Plan {
    scenario: Scenario,
    workload: Workload,
    scheduler: Scheduler,
    watchdog: u64,
    check_properties: bool,
    history: usize,
}

fn parse_scheduler(name: &str, period: u64) -> Result<Scheduler, UsageError> {
    match name {
        "uniform" => Ok(Scheduler::Uniform),
        "pct" if period >= 1 => Ok(Scheduler::Pct { period }),
        "pct" => Err(UsageError("--pct-period must be at least 1".into())),
        _ => Err(UsageError(format!(
            "unknown scheduler '{name}' (known: uniform, pct)"
        ))),
    }
}

fn scheduler_name(s: Scheduler) -> &'static str {
    match s {
        Scheduler::Uniform => "uniform",
        Scheduler::Pct { .. } => "pct",
    }
}

fn parse_workload(name: &str) -> Result<Workload, UsageError> {
    Workload::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        UsageError(format!(
            "unknown workload '{name}' (known: {})",
            names.join(", ")
        ))
    })
}

fn plan_scenario(
    kernel: KernelVersion,
    workload: Workload,
    cpus: usize,
    threads: usize,
    relaxed: bool,
) -> Result<Scenario, UsageError> {
    let scenario = Scenario {
        relaxed,
        ..workload.scenario(kernel, cpus, threads)
    };
    scenario.validate().map_err(|e| UsageError(e.0))?;
    Ok(scenario)
}

impl SimulateArgs {
    fn plan(&self) -> Result<Plan, UsageError> {
        let workload = parse_workload(&self.workload)?;
        let threads = self
            .threads
            .unwrap_or_else(|| workload.default_threads(self.cpus.max(1)));
        // The checker's flag parser validates the stage, the fixes and the sizes.
        let base = ScenarioArgs {
            kernel: self.kernel.clone(),
            with: self.with.clone(),
            without: self.without.clone(),
            cpus: self.cpus,
            threads,
            initial_threads: 1,
            allowed: None,
            forks: 0,
            fork_failures: 0,
            exits: 0,
            execs: 0,
            affinity: 0,
            vforks: 0,
            mmless_tasks: 0,
            relaxed: false,
        }
        .to_scenario()?;
        if self.steps == 0 || self.runs == 0 {
            return Err(UsageError("--steps and --runs must be at least 1".into()));
        }
        Ok(Plan {
            scenario: plan_scenario(base.kernel, workload, self.cpus, threads, self.relaxed)?,
            workload,
            scheduler: parse_scheduler(&self.scheduler, self.pct_period)?,
            watchdog: self.watchdog.unwrap_or(default_watchdog(self.cpus)),
            check_properties: !self.no_properties,
            history: self.history,
        })
    }
}

impl Plan {
    fn config(&self, seed: u64, steps: u64) -> SimConfig {
        SimConfig {
            seed,
            steps,
            watchdog: self.watchdog,
            history: self.history,
            scheduler: self.scheduler,
            check_properties: self.check_properties,
            ..SimConfig::default()
        }
    }

    fn describe(&self) -> String {
        let s = &self.scenario;
        let fixes: Vec<&str> = s.kernel.fixes.iter().map(Fix::name).collect();
        let sched = match self.scheduler {
            Scheduler::Uniform => "uniform".to_string(),
            Scheduler::Pct { period } => format!("pct (period {period})"),
        };
        format!(
            "kernel {} [{}]{}, {} CPUs ({} allowed at start), {} threads max, workload {}, scheduler {}, watchdog {} steps{}",
            s.kernel.stage.name(),
            fixes.join(" "),
            if s.relaxed { ", relaxed reads" } else { "" },
            s.cpus,
            s.initial_allowed,
            s.threads,
            self.workload.name(),
            sched,
            self.watchdog,
            if self.check_properties { "" } else { ", invariants not checked" }
        )
    }
}

fn finding_name(f: &SimFinding) -> String {
    match f {
        SimFinding::Stall { frozen: false, .. } => "stall".into(),
        SimFinding::Stall { frozen: true, .. } => "stall (frozen)".into(),
        SimFinding::Violation { property } => format!("violation of {property}"),
        SimFinding::Deadlock => "deadlock".into(),
    }
}

fn outcome_name(o: &SimOutcome) -> String {
    match o {
        SimOutcome::Completed => "completed".into(),
        SimOutcome::Done => "done (nothing left to run)".into(),
        SimOutcome::Stopped => "stopped".into(),
        SimOutcome::Found(f) => finding_name(f),
    }
}

fn clip(line: &str) -> String {
    const MAX: usize = 400;
    if line.chars().count() <= MAX {
        line.to_string()
    } else {
        let head: String = line.chars().take(MAX).collect();
        format!("{head} ...")
    }
}

/// The finding in the kernel's words: a soft lockup for a spinning CPU, a hung task for a
/// sleeper; every waiting agent with why it waits.
fn finding_text(model: &MmCidModel, report: &SimReport<MmCidModel>, f: &SimFinding) -> Vec<String> {
    let mut out = Vec::new();
    let state = &report.final_state;
    let cpus = model.scenario().cpus as u32;
    match f {
        SimFinding::Stall {
            agent,
            since,
            frozen,
        } => {
            let waited = report.steps - since;
            if *frozen {
                out.push(format!(
                    "the whole system is stuck after step {}: no action is enabled and agents wait (seed {})",
                    report.steps, report.seed
                ));
            }
            let mut waiting = Vec::new();
            model.waiting(state, &mut waiting);
            if !waiting.contains(agent) {
                waiting.insert(0, *agent);
            }
            waiting.sort_by_key(|a| (a.0 >= cpus, a.0));
            for a in waiting {
                let name = model.format_agent(a);
                if a.0 < cpus {
                    out.push(format!(
                        "watchdog: BUG: soft lockup - CPU#{} stuck{} [seed {}, step {}]",
                        a.0,
                        if a == *agent {
                            format!(" for {waited} steps!")
                        } else {
                            "!".into()
                        },
                        report.seed,
                        report.steps
                    ));
                } else {
                    out.push(format!(
                        "INFO: task {name} blocked{} [seed {}, step {}]",
                        if a == *agent {
                            format!(" for more than {waited} steps")
                        } else {
                            String::new()
                        },
                        report.seed,
                        report.steps
                    ));
                }
                let why = model.explain_wait(state, a);
                // The first lines say what the agent does; the pool and task lists follow once.
                for line in why.lines().take(2) {
                    out.push(format!("  {}", clip(line)));
                }
            }
            let why = model.explain_wait(state, *agent);
            for line in why.lines().skip(2) {
                out.push(format!("  {}", clip(line)));
            }
        }
        SimFinding::Violation { property } => out.push(format!(
            "invariant {property} violated after step {} [seed {}]",
            report.steps, report.seed
        )),
        SimFinding::Deadlock => out.push(format!(
            "deadlock after step {}: no action is enabled and nothing waits [seed {}]",
            report.steps, report.seed
        )),
    }
    out
}

/// The last steps as JSON and as text.
fn last_steps(model: &MmCidModel, report: &SimReport<MmCidModel>, full: bool) -> (Value, String) {
    let mut text = String::new();
    let mut steps = Vec::new();
    for (i, (state, action)) in report.history.iter().enumerate() {
        let next = report
            .history
            .get(i + 1)
            .map_or(&report.final_state, |(s, _)| s);
        let n = report.history_step(i);
        let name = model.format_action(state, action);
        let changes: Vec<String> = model
            .format_step(state, action, next)
            .map(|d| d.lines().map(str::to_string).collect())
            .unwrap_or_default();
        text.push_str(&format!("{n:>10}. {name}\n"));
        for c in &changes {
            text.push_str(&format!("              {}\n", clip(c)));
        }
        if full {
            text.push_str(&format!("              {next:?}\n"));
        }
        steps.push(json!({"step": n, "action": name, "changes": changes}));
    }
    (Value::Array(steps), text)
}

fn finding_json(model: &MmCidModel, f: &SimFinding) -> Value {
    match f {
        SimFinding::Stall {
            agent,
            since,
            frozen,
        } => {
            json!({"kind": "stall", "agent": model.format_agent(*agent), "since": since, "frozen": frozen})
        }
        SimFinding::Violation { property } => json!({"kind": "violation", "property": property}),
        SimFinding::Deadlock => json!({"kind": "deadlock"}),
    }
}

fn series_json(s: &mmcid_model::sim::Series) -> Value {
    json!({"count": s.count, "mean": s.mean(), "max": s.max})
}

fn metrics_json(m: &SimMetrics) -> Value {
    json!({
        "steps": m.steps,
        "context_switches": m.context_switches,
        "switches_steady": m.switches_steady,
        "switches_transition": m.switches_transition,
        "bitmap_sets": m.bitmap_sets,
        "bitmap_clears": m.bitmap_clears,
        "bitmap_ops_per_switch": m.ops_per_switch(),
        "switch_ops_steady": m.switch_ops_steady,
        "switch_ops_transition": m.switch_ops_transition,
        "steady_ops_per_switch": m.steady_ops_per_switch(),
        "transition_ops_per_switch": m.transition_ops_per_switch(),
        "other_ops": m.other_ops,
        "mode_switches_to_percpu": m.to_percpu,
        "mode_switches_to_pertask": m.to_pertask,
        "transition_steps": m.transition_steps,
        "transitions": series_json(&m.transitions),
        "fixup_walks": series_json(&m.fixup_walks),
        "largest_cid": m.largest_cid,
        "largest_cid_steady": m.largest_cid_steady,
        "cid_bound": m.cid_bound(),
        "max_users": m.max_users,
        "max_allowed": m.max_allowed,
    })
}

fn table_header() -> String {
    format!(
        "{:>6} {:>10} {:>16} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>13} {:>11} {:>9}",
        "seed",
        "steps",
        "outcome",
        "switches",
        "bitmap",
        "ops/sw",
        "steady",
        "transit",
        "->cpu/task",
        "trans mean/max",
        "walk mean/max",
        "cid/bound"
    )
}

fn table_row(seed: &str, steps: u64, outcome: &str, m: &SimMetrics) -> String {
    let cid = m.largest_cid.map_or("-".to_string(), |c| c.to_string());
    format!(
        "{:>6} {:>10} {:>16} {:>9} {:>9} {:>8.4} {:>8.4} {:>8.4} {:>10} {:>13} {:>11} {:>9}",
        seed,
        steps,
        outcome,
        m.context_switches,
        m.bitmap_ops(),
        m.ops_per_switch(),
        m.steady_ops_per_switch(),
        m.transition_ops_per_switch(),
        format!("{}/{}", m.to_percpu, m.to_pertask),
        format!("{:.1}/{}", m.transitions.mean(), m.transitions.max),
        format!("{:.1}/{}", m.fixup_walks.mean(), m.fixup_walks.max),
        format!("{cid}/{}", m.cid_bound()),
    )
}

fn sim_trace_json(
    plan: &Plan,
    model: &MmCidModel,
    report: &SimReport<MmCidModel>,
    f: &SimFinding,
) -> Value {
    let s = &plan.scenario;
    json!({
        "format": "mmcid-sim-trace",
        "version": 1,
        "kernel": s.kernel.stage.name(),
        "fixes": s.kernel.fixes.iter().map(Fix::name).collect::<Vec<_>>(),
        "cpus": s.cpus,
        "threads": s.threads,
        "workload": plan.workload.name(),
        "scheduler": scheduler_name(plan.scheduler),
        "pct_period": match plan.scheduler { Scheduler::Pct { period } => period, Scheduler::Uniform => 0 },
        "seed": report.seed,
        "steps": report.steps,
        "watchdog": plan.watchdog,
        "check_properties": plan.check_properties,
        "history": plan.history,
        "scenario": scenario_json(s),
        "finding": finding_json(model, f),
        "last_steps": last_steps(model, report, false).0,
    })
}

fn progress_printer(run: u64, runs: u64, seed: u64, steps: u64) -> impl FnMut(u64) {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last_print = 0.0f64;
    move |done: u64| {
        let t = start.elapsed().as_secs_f64();
        if t < 1.0 || (!tty && t < last_print + 10.0) {
            return;
        }
        last_print = t;
        let width = 30usize;
        let filled = ((done as f64 / steps as f64) * width as f64) as usize;
        let line = format!(
            "run {run}/{runs} seed {seed} [{}{}] {done}/{steps} steps | {:.0} steps/s | {:.0}s",
            "#".repeat(filled.min(width)),
            ".".repeat(width - filled.min(width)),
            done as f64 / t,
            t
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
    }
}

/// `mmcid simulate`.
pub fn run_simulate(args: SimulateArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let plan = args.plan()?;
    let model = MmCidModel::new(plan.scenario.clone())?;
    let stop = SimConfig::default().stop;
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    if !args.json {
        println!("mmcid simulate: {}", plan.describe());
        println!(
            "{} run(s) of up to {} steps, seeds {}..{}",
            args.runs,
            args.steps,
            args.seed,
            args.seed + args.runs - 1
        );
    }
    let mut rows = Vec::new();
    let mut runs_json = Vec::new();
    let mut totals = SimMetrics::default();
    let (mut found, mut stopped) = (0u64, false);
    let mut trace_written = false;
    let (mut total_steps, mut total_secs) = (0u64, 0.0f64);
    for i in 0..args.runs {
        let seed = args.seed + i;
        let mut config = plan.config(seed, args.steps);
        config.stop = stop.clone();
        let mut progress = progress_printer(i + 1, args.runs, seed, args.steps);
        let (report, metrics) = run(&model, plan.workload, &config, Some(&mut progress));
        if std::io::stderr().is_terminal() {
            eprint!("\r{:100}\r", "");
        }
        total_steps += report.steps;
        total_secs += report.seconds;
        totals.merge(&metrics);
        let outcome = outcome_name(&report.outcome);
        rows.push(table_row(
            &seed.to_string(),
            report.steps,
            &outcome,
            &metrics,
        ));
        let mut run_json = json!({
            "seed": seed,
            "steps": report.steps,
            "outcome": outcome,
            "seconds": report.seconds,
            "steps_per_second": report.steps_per_second(),
            "metrics": metrics_json(&metrics),
        });
        match &report.outcome {
            SimOutcome::Found(f) => {
                found += 1;
                let (steps_json, steps_text) = last_steps(&model, &report, args.full_states);
                run_json["finding"] = finding_json(&model, f);
                run_json["finding"]["report"] = json!(finding_text(&model, &report, f));
                run_json["last_steps"] = steps_json;
                if !args.json {
                    println!();
                    println!("=== run {} (seed {seed}): {}", i + 1, finding_name(f));
                    for line in finding_text(&model, &report, f) {
                        println!("{line}");
                    }
                    println!("last {} steps:", report.history.len());
                    print!("{steps_text}");
                    println!(
                        "reproduce: mmcid simulate {} --seed {seed} --steps {}{}",
                        reproduce_flags(&args, &plan),
                        report.steps,
                        match (&args.trace_out, trace_written) {
                            (Some(path), false) => format!(", or mmcid replay {}", path.display()),
                            _ => String::new(),
                        }
                    );
                }
                if let (Some(path), false) = (&args.trace_out, trace_written) {
                    let file = sim_trace_json(&plan, &model, &report, f);
                    std::fs::write(path, serde_json::to_string_pretty(&file)? + "\n")
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    trace_written = true;
                }
            }
            SimOutcome::Stopped => stopped = true,
            _ => {}
        }
        runs_json.push(run_json);
        if stopped {
            break;
        }
    }
    let steps_per_second = if total_secs > 0.0 {
        total_steps as f64 / total_secs
    } else {
        0.0
    };
    if args.json {
        let s = &plan.scenario;
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "version": 1,
                "scenario": scenario_json(s),
                "workload": plan.workload.name(),
                "scheduler": scheduler_name(plan.scheduler),
                "pct_period": match plan.scheduler { Scheduler::Pct { period } => period, Scheduler::Uniform => 0 },
                "watchdog": plan.watchdog,
                "check_properties": plan.check_properties,
                "steps_budget": args.steps,
                "runs": runs_json,
                "totals": metrics_json(&totals),
                "findings": found,
                "stopped": stopped,
                "steps_per_second": steps_per_second,
            }))?
        );
    } else {
        println!();
        println!("{}", table_header());
        for r in &rows {
            println!("{r}");
        }
        if rows.len() > 1 {
            println!(
                "{}",
                table_row("all", total_steps, &format!("{found} found"), &totals)
            );
        }
        println!();
        println!("columns: bitmap = bitmap set+clear operations; ops/sw = bitmap operations per context switch (all paths); steady/transit = context-switch-path bitmap operations per switch outside/during mode transitions; ->cpu/task = mode switches each way; trans = transition length in steps; walk = fixup walk length in steps; cid/bound = largest CID handed out / min(threads, allowed CPUs)");
        println!(
            "Done. runs={}, steps={}, findings={}, sec={:.2}, steps/s={:.0}",
            runs_json.len(),
            total_steps,
            found,
            total_secs,
            steps_per_second
        );
    }
    Ok(if found > 0 {
        1
    } else if stopped {
        3
    } else {
        0
    })
}

fn reproduce_flags(args: &SimulateArgs, plan: &Plan) -> String {
    let mut f = format!("--kernel {}", args.kernel);
    for w in &args.with {
        f.push_str(&format!(" --with {w}"));
    }
    for w in &args.without {
        f.push_str(&format!(" --without {w}"));
    }
    f.push_str(&format!(
        " --cpus {} --threads {} --workload {} --scheduler {}",
        plan.scenario.cpus,
        plan.scenario.threads,
        plan.workload.name(),
        scheduler_name(plan.scheduler)
    ));
    if let Scheduler::Pct { period } = plan.scheduler {
        f.push_str(&format!(" --pct-period {period}"));
    }
    if plan.scenario.relaxed {
        f.push_str(" --relaxed");
    }
    f.push_str(&format!(" --watchdog {}", plan.watchdog));
    if !plan.check_properties {
        f.push_str(" --no-properties");
    }
    f
}

/// Whether `text` is a simulation trace file (rather than a `check` trace).
pub fn is_sim_trace(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_string))
        .as_deref()
        == Some("mmcid-sim-trace")
}

fn get<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("the trace has no '{name}' field"))
}

fn get_u64(v: &Value, name: &str) -> Result<u64, String> {
    get(v, name)?
        .as_u64()
        .ok_or_else(|| format!("'{name}' is not a non-negative integer"))
}

fn get_str<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    get(v, name)?
        .as_str()
        .ok_or_else(|| format!("'{name}' is not a string"))
}

fn load_plan(v: &Value) -> Result<(Plan, u64, u64), String> {
    if get_u64(v, "version")? != 1 {
        return Err("simulation trace version is not supported (this mmcid reads 1)".into());
    }
    let kernel = get_str(v, "kernel")?;
    let stage = Stage::parse(kernel).ok_or_else(|| format!("unknown kernel stage '{kernel}'"))?;
    let mut fixes = Fixes::NONE;
    for f in get(v, "fixes")?.as_array().ok_or("'fixes' is not a list")? {
        let name = f.as_str().ok_or("a fix is not a string")?;
        fixes = fixes.with(Fix::parse(name).ok_or_else(|| format!("unknown fix '{name}'"))?);
    }
    let workload = parse_workload(get_str(v, "workload")?).map_err(|e| e.0)?;
    let scheduler = parse_scheduler(get_str(v, "scheduler")?, get_u64(v, "pct_period")?.max(1))
        .map_err(|e| e.0)?;
    let cpus = get_u64(v, "cpus")? as usize;
    let threads = get_u64(v, "threads")? as usize;
    // Optional (files written before `--relaxed` existed have no such field).
    let relaxed = match get(v, "scenario")?.get("relaxed") {
        None => false,
        Some(b) => b.as_bool().ok_or("'relaxed' is not a boolean")?,
    };
    let scenario = plan_scenario(
        KernelVersion { stage, fixes },
        workload,
        cpus,
        threads,
        relaxed,
    )
    .map_err(|e| format!("impossible scenario: {e}"))?;
    if get(v, "scenario")? != &scenario_json(&scenario) {
        return Err("the recorded scenario differs from the one this mmcid builds for the workload; the trace was made by another version".into());
    }
    let check_properties = get(v, "check_properties")?
        .as_bool()
        .ok_or("'check_properties' is not a boolean")?;
    let plan = Plan {
        scenario,
        workload,
        scheduler,
        watchdog: get_u64(v, "watchdog")?,
        check_properties,
        history: get_u64(v, "history")? as usize,
    };
    Ok((plan, get_u64(v, "seed")?, get_u64(v, "steps")?))
}

/// `mmcid replay` of a simulation trace: runs the simulation again from the seed and checks
/// that the same finding recurs at the same step.
pub fn run_sim_replay(
    file: &std::path::Path,
    text: &str,
    full_states: bool,
) -> Result<u8, Box<dyn std::error::Error>> {
    let bad = |e: String| format!("{}: {e}", file.display());
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let (plan, seed, steps) = load_plan(&v).map_err(bad)?;
    let recorded = get(&v, "finding").map_err(bad)?.clone();
    let model = MmCidModel::new(plan.scenario.clone())?;
    let (report, _) = run(&model, plan.workload, &plan.config(seed, steps), None);
    let SimOutcome::Found(f) = &report.outcome else {
        return Err(bad(format!(
            "the simulation replays but ends without the finding ({} after {} steps)",
            outcome_name(&report.outcome),
            report.steps
        ))
        .into());
    };
    let now = finding_json(&model, f);
    if now != recorded || report.steps != steps {
        return Err(bad(format!(
            "the finding does not recur: recorded {recorded} at step {steps}, now {now} at step {}",
            report.steps
        ))
        .into());
    }
    println!(
        "replayed simulation seed {seed} for {steps} steps: {} recurs ({})",
        finding_name(f),
        plan.describe()
    );
    for line in finding_text(&model, &report, f) {
        println!("{line}");
    }
    println!("last {} steps:", report.history.len());
    print!("{}", last_steps(&model, &report, full_states).1);
    Ok(1)
}
