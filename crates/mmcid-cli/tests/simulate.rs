//! `mmcid simulate` as a contract: exit codes, the soft-lockup report, JSON metrics, the
//! simulation trace file and its replay, and refusal of bad input.

mod common;
use common::{code, mmcid, stderr, stdout, tmp};

/// Seed 3 of the recorded seed search (crates/mmcid-model/tests/simulate.rs): B0 stalls after
/// 10 942 steps at 8 CPUs.
const B0_STALL: &[&str] = &[
    "simulate",
    "--kernel",
    "B0",
    "--workload",
    "fork-exit-churn",
    "--no-properties",
    "--seed",
    "3",
    "--history",
    "6",
];

/// Replays the simulation trace `file`, which must end in its finding again (exit 1); its
/// standard output.
fn replayed(file: &std::path::Path) -> String {
    let o = mmcid(&["replay", file.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

#[test]
fn b0_stall_is_reported_written_and_replayed() {
    let file = tmp("stall.json");
    let mut args = B0_STALL.to_vec();
    args.extend(["--trace-out", file.to_str().unwrap()]);
    let o = mmcid(&args);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("=== run 1 (seed 3): stall (frozen)"), "{out}");
    assert!(
        out.contains("watchdog: BUG: soft lockup - CPU#4 stuck! [seed 3, step 10942]"),
        "{out}"
    );
    assert!(
        out.contains("it spins in mm_get_cid(): every CID below N=8 is taken"),
        "{out}"
    );
    assert!(out.contains("last 6 steps:"), "{out}");
    assert!(
        out.contains("reproduce: mmcid simulate --kernel B0"),
        "{out}"
    );

    let out = replayed(&file);
    assert!(
        out.starts_with("replayed simulation seed 3 for 10942 steps: stall (frozen) recurs"),
        "{out}"
    );
    assert!(out.contains("soft lockup - CPU#4"), "{out}");

    // A trace whose finding does not recur (another step) is refused with exit 2.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["steps"] = serde_json::json!(5000);
    let bad = tmp("stall-bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let o = mmcid(&["replay", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("ends without the finding"),
        "{}",
        stderr(&o)
    );
}

/// `--relaxed` is recorded in the trace file and in the reproduce line, and replay re-runs with
/// it (seed 2 of the relaxed-reads search in crates/mmcid-model/tests/simulate.rs).
#[test]
fn relaxed_stall_is_written_and_replayed() {
    let file = tmp("relaxed.json");
    let args = [
        "simulate",
        "--kernel",
        "B1",
        "--with",
        "F4a",
        "--with",
        "F6a",
        "--relaxed",
        "--workload",
        "fork-exit-churn",
        "--no-properties",
        "--seed",
        "2",
        "--steps",
        "300000",
        "--trace-out",
        file.to_str().unwrap(),
    ];
    let o = mmcid(&args);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("kernel B1 [F1 F3 F4a F6a], relaxed reads,"),
        "{out}"
    );
    assert!(out.contains("stuck after step 100584"), "{out}");
    assert!(out.contains(" --relaxed --watchdog "), "{out}");
    let out = replayed(&file);
    assert!(
        out.starts_with("replayed simulation seed 2 for 100584 steps: stall (frozen) recurs"),
        "{out}"
    );
}

#[test]
fn latest_runs_clean_with_json_metrics() {
    let o = mmcid(&[
        "simulate",
        "--workload",
        "fork-exit-churn",
        "--steps",
        "20000",
        "--runs",
        "2",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["findings"], 0);
    assert_eq!(v["runs"].as_array().unwrap().len(), 2);
    assert_eq!(v["runs"][1]["seed"], 2);
    assert_eq!(v["runs"][0]["steps"], 20000);
    let t = &v["totals"];
    assert_eq!(t["steps"], 40000);
    assert!(t["context_switches"].as_u64().unwrap() > 0);
    assert!(t["mode_switches_to_percpu"].as_u64().unwrap() > 0);
    assert!(t["largest_cid"].as_u64().unwrap() < 8);
    assert_eq!(t["cid_bound"], 8);
}

#[test]
fn bad_simulate_input_exits_2() {
    for args in [
        &["simulate", "--workload", "nope"][..],
        &["simulate", "--scheduler", "fifo"][..],
        &["simulate", "--cpus", "300"][..],
        &["simulate", "--threads", "10001"][..],
        &["simulate", "--steps", "0"][..],
        &["simulate", "--kernel", "B9"][..],
    ] {
        let o = mmcid(args);
        assert_eq!(code(&o), 2, "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert!(
            stderr(&o).starts_with("mmcid: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}
