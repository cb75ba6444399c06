//! Findings at `latest` (B5) and answers to the open questions of spec §6.4 and §7.2–§7.5,
//! each with the configuration that shows it (see docs/findings.md, which quotes these
//! traces). A finding that stops reproducing after a model change must be re-examined, not
//! deleted: either the kernel model changed (say why in docs/findings.md) or the finding was a
//! model error.

use mmcid_checker::Outcome;
use mmcid_model::{KernelVersion, MmCidModel, Scenario, Stage};

fn latest(cpus: usize, threads: usize, initial: usize, forks: u32, exits: u32) -> Scenario {
    Scenario {
        kernel: KernelVersion::new(Stage::B5),
        cpus,
        threads,
        initial_threads: initial,
        initial_allowed: cpus,
        forks,
        exits,
        ..Scenario::default()
    }
}

mod common;
use common::{found, golden};

fn run(
    sc: Scenario,
    ignore: &[&str],
    keep_going: bool,
) -> (MmCidModel, mmcid_checker::Report<MmCidModel>) {
    common::explore(sc, ignore, None, keep_going)
}

/// Finding 1 (spec §7.3 made concrete): N = 2, a process in per-CPU mode loses its other
/// threads while its last thread's execve() fails after the CID hooks. The last-user exit
/// ignores the mode change and leaves the other CPU's ONCPU slot; the failed exec re-adds the
/// thread as a first user; its next clone() allocates in per-task mode, finds every CID taken
/// (its own and the stale CPU-owned one) and spins with mm_cid.lock held. Nothing can free
/// the stale CID: no task of the mm runs on that CPU again.
#[test]
fn finding_stale_cpu_cid_after_last_user_exec_failure_stalls_fork() {
    let sc = Scenario {
        execs: 1,
        ..latest(2, 3, 3, 1, 2)
    };
    let (model, report) = run(sc, &["steady-state", "ownership"], false);
    let d = found(&model, &report, "stall");
    assert_eq!(d.trace.as_ref().unwrap().len(), 16);
    assert!(
        d.explanation.contains("spins in mm_get_cid()"),
        "{}",
        d.explanation
    );
    insta::assert_snapshot!("latest_exec_failure_stall", golden(&model, d));
}

/// Finding 1, first symptom: the first-user path of the failed exec stores its new CID into
/// its CPU's slot, overwriting a stale ONCPU CID there; that bit stays set with no owner.
#[test]
fn finding_first_user_path_overwrites_a_stale_cpu_cid() {
    let sc = Scenario {
        execs: 1,
        ..latest(2, 3, 3, 0, 2)
    };
    let (model, report) = run(sc, &["steady-state"], false);
    let d = found(&model, &report, "ownership");
    let k = d.trace.as_ref().unwrap().final_state();
    assert_eq!(k.mm.users, 1);
    assert_eq!(k.mm.bitmap.iter().count(), 2, "two bits set for one user");
    insta::assert_snapshot!("latest_exec_failure_leak", golden(&model, d));
}

/// Finding 2: with a failed exec in flight, the re-added thread (no CID in per-CPU mode)
/// holds the mutex for the task→CPU walk, is preempted and switched in elsewhere; it needs a
/// CID, every CID is held (one by a thread waiting for the mutex in exit, one TRANSIT by a
/// thread running in user space on the other CPU), and the CPU spins with its rq lock held
/// until that other thread happens to block or exit: a livelock only the outside world ends.
#[test]
fn finding_walker_without_cid_spins_until_a_transit_holder_schedules_out() {
    let sc = Scenario {
        execs: 1,
        ..latest(2, 3, 1, 2, 2)
    };
    let (model, report) = run(sc, &["steady-state", "ownership"], false);
    let d = found(&model, &report, "livelock");
    assert_eq!(d.trace.as_ref().unwrap().len(), 16);
    assert!(!d.rescue.is_empty());
    insta::assert_snapshot!("latest_walker_livelock", golden(&model, d));
}

/// Spec §7.4 (and §7.5): after a failed exec in per-CPU mode the thread runs with UNSET; when
/// an exit switches to per-task mode, the fixup leaves that CPU's ONCPU CID in place although
/// the transition "completed" (an I5 `steady-state` violation at latest).
#[test]
fn section_7_4_cpu_keeps_its_cid_after_the_fixup() {
    let sc = Scenario {
        initial_allowed: 2,
        execs: 1,
        ..latest(4, 3, 2, 1, 2)
    };
    let (model, report) = run(sc, &[], false);
    let d = found(&model, &report, "steady-state");
    let k = d.trace.as_ref().unwrap().final_state();
    assert!(
        k.mm.pcpu.iter().any(|&s| mmcid_model::cid::cid_on_cpu(s)),
        "an ONCPU slot survives in per-task mode"
    );
    insta::assert_snapshot!("latest_7_4_cpu_keeps_cid", golden(&model, d));
}

/// Spec §7.2 and §6.4 hypothesis A: widening the affinity never queues the deferred switch
/// back (the branch is unreached) and never changes the mode (no I5 violation), in a
/// complete run that widens twice in per-CPU mode.
#[test]
fn section_7_2_affinity_never_queues_the_switch_back() {
    let sc = Scenario {
        initial_allowed: 1,
        affinity: 2,
        ..latest(3, 3, 3, 0, 1)
    };
    let (_, report) = run(sc, &[], true);
    assert_eq!(report.outcome, Outcome::Complete);
    assert!(report.is_ok(), "{:?}", report.discoveries);
    for label in [
        "mm_update_cpus_allowed:queue-work",
        "mm_cid_work_fn:switch-to-per-task",
    ] {
        assert!(
            report.unreached_labels.iter().any(|l| l == label),
            "{label} reached"
        );
    }
    assert!(!report
        .unreached_labels
        .iter()
        .any(|l| l == "mm_update_cpus_allowed:threshold-met"));
}
