//! Runs mmcid-checker and stateright side by side on the same models and prints a table.
//!
//! ```text
//! cargo run --release -p mmcid-bench --bin compare -- [MODEL...]
//! ```
//!
//! A MODEL is `2pc:R` (two-phase commit with R resource managers) or `mmcid:PRESET` (see
//! [`mmcid_scenario`]); the default is `2pc:9 mmcid:large`. Every (engine, mode, workers) run is
//! a separate child process of this binary, so its peak resident memory (`VmHWM`) is its own.
//! Symmetry is off in both engines, and so are our built-in progress checks (stateright has
//! none), so both check exactly the model's properties. The unique-state counts of all runs of
//! a model must agree, or the comparison stops with exit code 1. For mm_cid models our engine
//! runs twice: `ours` keeps its frontier packed (the default, [`MmCidModel::with_packing`]),
//! `ours-unpacked` keeps whole states.

use std::process::{Command, ExitCode};
use std::time::Instant;

use mmcid_bench::{OnStateright, TwoPhaseSys};
use mmcid_model::{MmCidModel, Scenario};
use stateright::{Checker, Model as _};

/// The mm_cid configurations the benchmark knows.
fn mmcid_scenario(name: &str) -> Option<Scenario> {
    let base = Scenario::default();
    Some(match name {
        // `mmcid check` without symmetry: 2 CPUs, 3 threads, 2 forks, 1 exit.
        "default" => base,
        // 2 CPUs, up to 4 threads (1 at start), 3 forks, 1 exit: 874 565 states.
        "large" => Scenario {
            threads: 4,
            forks: 3,
            ..base
        },
        // 2 CPUs, up to 5 threads (1 at start), 4 forks, 1 exit: 15 499 939 states, tens of
        // seconds per run.
        "xl" => Scenario {
            threads: 5,
            forks: 4,
            ..base
        },
        _ => return None,
    })
}

/// What one child run measured.
struct Run {
    unique: u64,
    seconds: f64,
    complete: bool,
    /// Peak resident memory of the process, bytes.
    peak: u64,
    /// Resident memory once the model was built, before the search, bytes.
    base: u64,
    /// CPU time of the search (all threads), seconds.
    cpu: f64,
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user and system) of this process so far, seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn ours<M: mmcid_checker::Model>(model: &M, workers: usize) -> (u64, bool) {
    let config = mmcid_checker::CheckConfig {
        workers,
        liveness: false,
        ..mmcid_checker::CheckConfig::default()
    };
    let report = mmcid_checker::check(model, &config);
    (report.stats.unique_states, report.outcome.is_complete())
}

fn theirs<M>(model: M, workers: usize, dfs: bool) -> (u64, bool)
where
    M: mmcid_checker::Model + 'static,
{
    let builder = OnStateright::new(model).checker().threads(workers);
    let checker: Box<dyn Checker<OnStateright<M>>> = if dfs {
        Box::new(builder.spawn_dfs().join())
    } else {
        Box::new(builder.spawn_bfs().join())
    };
    (checker.unique_state_count() as u64, checker.is_done())
}

/// The child: runs one engine on one model and prints `unique seconds complete peak base`.
fn child(model: &str, engine: &str, workers: usize) -> Result<(), String> {
    let (kind, arg) = model.split_once(':').ok_or("MODEL is KIND:ARG")?;
    let run = |m2pc: Option<TwoPhaseSys>, mm: Option<MmCidModel>| {
        let base = status_kb("VmRSS:") * 1024;
        let start = Instant::now();
        let cpu_start = cpu_seconds();
        let (unique, complete) = match (engine, m2pc, mm) {
            ("ours", Some(m), _) => ours(&m, workers),
            ("ours", _, Some(m)) => ours(&m, workers),
            ("ours-unpacked", _, Some(m)) => ours(&m.with_packing(false), workers),
            ("stateright-dfs", Some(m), _) => theirs(m, workers, true),
            ("stateright-dfs", _, Some(m)) => theirs(m, workers, true),
            ("stateright-bfs", Some(m), _) => theirs(m, workers, false),
            ("stateright-bfs", _, Some(m)) => theirs(m, workers, false),
            _ => return Err(format!("unknown engine `{engine}`")),
        };
        let seconds = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_start;
        let peak = status_kb("VmHWM:") * 1024;
        println!("{unique} {seconds} {complete} {peak} {base} {cpu}");
        Ok(())
    };
    match kind {
        "2pc" => {
            let rms: usize = arg.parse().map_err(|_| "2pc:R needs a number")?;
            run(Some(TwoPhaseSys { rms }), None)
        }
        "mmcid" => {
            let scenario = mmcid_scenario(arg).ok_or(format!("unknown mm_cid preset `{arg}`"))?;
            let model = MmCidModel::new(scenario)
                .map_err(|e| e.to_string())?
                .with_symmetry(false);
            run(None, Some(model))
        }
        _ => Err(format!("unknown model kind `{kind}`")),
    }
}

fn spawn(model: &str, engine: &str, workers: usize) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(["--child", model, engine, &workers.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{engine} on {model} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    let bad = || format!("unexpected child output `{text}`");
    if f.len() != 6 {
        return Err(bad());
    }
    Ok(Run {
        unique: f[0].parse().map_err(|_| bad())?,
        seconds: f[1].parse().map_err(|_| bad())?,
        complete: f[2] == "true",
        peak: f[3].parse().map_err(|_| bad())?,
        base: f[4].parse().map_err(|_| bad())?,
        cpu: f[5].parse().map_err(|_| bad())?,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let workers = args.get(3).and_then(|w| w.parse().ok()).unwrap_or(1);
        return match child(&args[1], &args[2], workers) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let models: Vec<String> = if args.is_empty() {
        vec!["2pc:9".into(), "mmcid:large".into()]
    } else {
        args
    };
    let engines = ["ours", "stateright-dfs", "stateright-bfs"];
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_string()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} cores, {cpu}; load average at start {}",
        load()
    );
    println!();
    println!(
        "| model | engine | workers | unique states | seconds | states/s | CPU s | \
         states/CPU-s | peak RSS (MB) | bytes/state |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for model in &models {
        let mut unique = None;
        // The 2PC model always packs its states; mm_cid also runs without.
        let mut list = engines.to_vec();
        if model.starts_with("mmcid:") {
            list.insert(1, "ours-unpacked");
        }
        for &engine in &list {
            for workers in [1, 2] {
                let run = match spawn(model, engine, workers) {
                    Ok(run) => run,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                };
                if !run.complete {
                    eprintln!("error: {engine} did not explore {model} completely");
                    return ExitCode::from(1);
                }
                if *unique.get_or_insert(run.unique) != run.unique {
                    eprintln!(
                        "error: {engine} counts {} unique states on {model}, another run {}",
                        run.unique,
                        unique.unwrap_or(0)
                    );
                    return ExitCode::from(1);
                }
                println!(
                    "| {model} | {engine} | {workers} | {} | {:.2} | {:.0} | {:.2} | {:.0} | \
                     {:.1} | {:.1} |",
                    run.unique,
                    run.seconds,
                    run.unique as f64 / run.seconds,
                    run.cpu,
                    run.unique as f64 / run.cpu.max(0.01),
                    run.peak as f64 / 1e6,
                    run.peak.saturating_sub(run.base) as f64 / run.unique as f64,
                );
            }
        }
    }
    println!();
    println!("load average at the end {}", load());
    ExitCode::SUCCESS
}
