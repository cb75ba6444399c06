//! Scenario tests: the model under the checker, with pinned state counts, the seed bugs found
//! from plain configurations, and replays of every counterexample.

use mmcid_checker::{check, CheckConfig, DiscoveryKind, Model, Outcome, Report, StopReason, Trace};
use mmcid_model::{Fix, KernelVersion, MmCidModel, Scenario, Stage};

fn scenario(
    stage: Stage,
    cpus: usize,
    threads: usize,
    initial: usize,
    forks: u32,
    exits: u32,
) -> Scenario {
    Scenario {
        kernel: KernelVersion::new(stage),
        cpus,
        threads,
        initial_threads: initial,
        initial_allowed: cpus,
        forks,
        exits,
        ..Scenario::default()
    }
}

fn run(
    sc: Scenario,
    symmetry: bool,
    workers: usize,
    keep_going: bool,
) -> (MmCidModel, Report<MmCidModel>) {
    let model = MmCidModel::new(sc).unwrap();
    let config = CheckConfig {
        workers,
        symmetry,
        keep_going,
        ..CheckConfig::default()
    };
    let report = check(&model, &config);
    (model, report)
}

/// Every discovery's trace replays from its token to the same final state.
fn assert_replays(model: &MmCidModel, report: &Report<MmCidModel>) {
    for d in &report.discoveries {
        if let Some(t) = &d.trace {
            let again = Trace::from_token(model, &t.to_token()).expect("trace replays");
            assert_eq!(
                again.final_state(),
                t.final_state(),
                "{} replays",
                d.property
            );
        }
    }
}

/// The default configuration (`mmcid check`): latest, 2 CPUs, 3 threads, 2 forks, 1 exit.
#[test]
fn latest_default_configuration_holds_with_pinned_counts() {
    let sc = Scenario::default();
    let (_, with) = run(sc.clone(), true, 2, false);
    assert_eq!(with.outcome, Outcome::Complete);
    assert!(with.is_ok(), "{:?}", with.discoveries);
    assert_eq!(with.stats.unique_states, 47_507);
    let (_, without) = run(sc, false, 2, false);
    assert_eq!(without.outcome, Outcome::Complete);
    assert!(without.is_ok());
    assert_eq!(without.stats.unique_states, 53_853);
    // Branches this configuration cannot reach: with N=2 the switch back to per-task mode
    // needs users == 0 (pcpu_thrs = 1), and there are no execs, affinity changes or failures.
    assert_eq!(
        with.unreached_labels,
        vec![
            "mm_drop_cid:out-of-range",
            "mm_drop_cid_on_cpu:not-cpu-owned",
            "mm_cid_from_task:drop-cpu-cid",
            "mm_cid_from_task:take-cpu-cid",
            "mm_cid_from_task:get-cid",
            "mm_cid_from_task:transit",
            "mm_cid_from_cpu:converge",
            "mm_cid_from_cpu:drop-task-cid",
            "mm_cid_converge:keep",
            "mm_get_cid:spin",
            "mm_get_cid:got-after-spin",
            "mm_update_max_cids:to-per-task",
            "sched_mm_cid_fork:first-user",
            "sched_mm_cid_fork:per-cpu-no-cid",
            "sched_mm_cid_fork:switch-to-per-task",
            "sched_mm_cid_fork:null-mm",
            "copy_process:bad-fork-cleanup-mm",
            "mm_cid_do_fixup_tasks_to_cpus:nothing-to-do",
            "mm_cid_do_fixup_tasks_to_cpus:full-walk",
            "mm_cid_do_fixup_tasks_to_cpus:stop-early",
            "mm_cid_do_fixup_tasks_to_cpus:skip-unlinked",
            "mm_cid_fixup_task_to_cpu:inactive",
            "mm_cid_fixup_cpus_to_tasks:to-running-task",
            "mm_cid_fixup_cpus_to_tasks:drop",
            "mm_cid_fixup_cpus_to_tasks:mark-transit",
            "mm_cid_fixup_cpus_to_tasks:skip-unset",
            "sched_mm_cid_exit:switch-to-per-task",
            "sched_mm_cid_exit:last-user-mode-change-ignored",
            "sched_mm_cid_exit:cancel-work",
            "bprm_execve:sched-exec-migrate",
            "bprm_execve:success",
            "sched_mm_cid_after_execve:failed-exec",
            "mm_update_cpus_allowed:no-change",
            "mm_update_cpus_allowed:per-task",
            "mm_update_cpus_allowed:threshold-met",
            "mm_update_cpus_allowed:queue-work",
            "mm_cid_work_fn:not-deferred",
            "mm_cid_work_fn:switch-to-per-task",
            "mm_cid_schedin:stale-transit-read",
        ]
    );
}

/// Seed 001 (spec §6.2, "sched/mmcid: Prevent live lock on task to CPU mode transition",
/// 4327fb13fa47): at B0, a thread that borrowed its CPU's CID migrates to a CPU without one and
/// spins in mm_get_cid() with the rq lock held; the fixup walk then spins on that rq lock.
// See: https://lore.kernel.org/all/20260129211557.678686545@kernel.org/
#[test]
fn seed_001_live_lock_on_task_to_cpu_switch_at_b0() {
    let (model, report) = run(scenario(Stage::B0, 3, 4, 3, 1, 0), true, 2, false);
    assert_eq!(
        report.outcome,
        Outcome::Incomplete(StopReason::FailureFound)
    );
    let d = report.discovery("stall").expect("seed 001 stall found");
    assert_eq!(d.kind, DiscoveryKind::Stall);
    assert_eq!(model.format_agent(d.agent.unwrap()), "CPU2");
    let trace = d.trace.as_ref().unwrap();
    assert_eq!(trace.len(), 10, "shortest trace");
    assert!(
        d.explanation.contains("spins in mm_get_cid()"),
        "{}",
        d.explanation
    );
    assert_replays(&model, &report);
}

/// The same configuration with F4a (B2) has no stall or livelock within the depth at which B0
/// fails (the complete run is behind MMCID_SLOW_TESTS).
#[test]
fn seed_001_gone_with_f4a_within_the_failing_depth() {
    let model = MmCidModel::new(scenario(Stage::B2, 3, 4, 3, 1, 0)).unwrap();
    let report = check(
        &model,
        &CheckConfig {
            symmetry: true,
            max_depth: Some(10),
            keep_going: false,
            ..CheckConfig::default()
        },
    );
    assert_eq!(report.failures().count(), 0, "{:?}", report.discoveries);
    assert_eq!(report.outcome, Outcome::Incomplete(StopReason::MaxDepth));
    let mut without = scenario(Stage::B2, 3, 4, 3, 1, 0);
    without.kernel.fixes = without.kernel.fixes.without(Fix::F4a);
    let (_, report) = run(without, true, 2, false);
    assert!(
        report.discovery("stall").is_some(),
        "B2 --without F4a brings seed 001 back"
    );
}

#[test]
fn symmetry_and_worker_count_do_not_change_verdicts() {
    let sc = scenario(Stage::B0, 3, 4, 3, 1, 0);
    let (_, a) = run(sc.clone(), true, 1, false);
    let (_, b) = run(sc.clone(), false, 2, false);
    let (_, c) = run(sc, true, 2, false);
    let verdict = |r: &Report<MmCidModel>| {
        let mut v: Vec<(&str, usize)> = r
            .failures()
            .map(|d| (d.property, d.trace.as_ref().map_or(0, |t| t.len())))
            .collect();
        v.sort();
        v
    };
    assert_eq!(verdict(&a), verdict(&b));
    assert_eq!(verdict(&a), verdict(&c));
    assert_eq!(a.stats.unique_states, c.stats.unique_states);
}

/// Opt-in: the complete exploration of the seed 001 configuration at B2 and latest.
#[test]
fn slow_seed_001_configuration_complete_at_b2_and_latest() {
    if std::env::var_os("MMCID_SLOW_TESTS").is_none() {
        eprintln!("skipped: set MMCID_SLOW_TESTS=1");
        return;
    }
    for stage in [Stage::B2, Stage::B5] {
        let (_, report) = run(scenario(stage, 3, 4, 3, 1, 0), true, 2, false);
        assert_eq!(report.outcome, Outcome::Complete);
        assert!(report.is_ok(), "{stage:?}: {:?}", report.discoveries);
    }
}

#[test]
fn initial_state_is_consistent() {
    let model = MmCidModel::new(scenario(Stage::B5, 4, 6, 5, 0, 0)).unwrap();
    let k = model.initial_state();
    // Five threads on four CPUs: the fifth fork switched the mm to per-CPU mode.
    assert_eq!(k.mm.users, 5);
    assert_eq!(mmcid_model::cid::fmt_mode(k.mm.mode), "per-cpu");
    for p in model.properties() {
        assert!((p.condition)(&model, &k), "{} holds initially", p.name);
    }
}

/// Seed 000 (spec §6.6, "sched/mmcid: Prevent CID stalls due to concurrent forks",
/// b2e48c429ec5): before F6a the fork hook runs in copy_mm(), so a second fork can switch the
/// mm to per-CPU mode while the first child is accounted but not yet visible to the walk; its
/// task-owned CID survives in per-CPU mode. Found at B3, gone at B4 within the same depth.
// See: https://lore.kernel.org/all/20260310202525.969061974@kernel.org/
#[test]
fn seed_000_concurrent_forks_leave_an_invisible_child_cid() {
    let (model, report) = run(scenario(Stage::B3, 3, 4, 2, 2, 0), true, 2, false);
    let d = report
        .discovery("steady-state")
        .expect("seed 000 window found at B3");
    assert_eq!(d.trace.as_ref().unwrap().len(), 10);
    assert_replays(&model, &report);

    let model = MmCidModel::new(scenario(Stage::B4, 3, 4, 2, 2, 0)).unwrap();
    let report = check(
        &model,
        &CheckConfig {
            symmetry: true,
            max_depth: Some(12),
            keep_going: false,
            ..CheckConfig::default()
        },
    );
    assert_eq!(report.failures().count(), 0, "{:?}", report.discoveries);
}

/// The failed-fork cleanup (bad_fork_cleanup_mm → sched_mm_cid_exit(child)) is reachable
/// before F6a.
#[test]
fn failed_fork_cleanup_is_reachable_before_f6a() {
    let mut sc = scenario(Stage::B3, 2, 3, 1, 1, 0);
    sc.fork_failures = 1;
    let (_, report) = run(sc, true, 2, false);
    assert!(report.is_ok(), "{:?}", report.discoveries);
    assert!(!report
        .unreached_labels
        .iter()
        .any(|l| l == "copy_process:bad-fork-cleanup-mm"));
}

/// Rows of docs/verification.md that finish in seconds: `latest` explored completely (every
/// property, liveness included) with pinned unique-state counts. Row 8 crosses both mode
/// switches (N = 4 with two allowed CPUs gives `pcpu_thrs = 2`).
#[test]
fn verification_table_rows_hold_at_latest_with_pinned_counts() {
    // (cpus, allowed, threads, initial, forks, exits, affinity, unique states)
    type Row = (usize, usize, usize, usize, u32, u32, u32, u64);
    let rows: [Row; 4] = [
        (2, 2, 3, 1, 2, 2, 0, 63_773),
        (2, 1, 3, 1, 2, 1, 1, 52_706),
        (3, 2, 3, 1, 2, 2, 0, 63_773),
        (4, 2, 3, 1, 2, 2, 0, 71_064),
    ];
    for (cpus, allowed, threads, initial, forks, exits, affinity, unique) in rows {
        let sc = Scenario {
            initial_allowed: allowed,
            affinity,
            ..scenario(Stage::B5, cpus, threads, initial, forks, exits)
        };
        let (_, report) = run(sc, true, 2, true);
        assert_eq!(report.outcome, Outcome::Complete);
        assert!(report.is_ok(), "N={cpus}: {:?}", report.discoveries);
        assert_eq!(
            report.stats.unique_states, unique,
            "N={cpus} allowed={allowed}"
        );
        if cpus == 4 {
            assert!(!report
                .unreached_labels
                .iter()
                .any(|l| l == "sched_mm_cid_exit:switch-to-per-task"));
        }
    }
}
