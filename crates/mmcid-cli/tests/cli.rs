//! The command line as a contract: exit codes, counterexample output, replay and refusal of bad
//! input.

mod common;
use common::{code, mmcid, stderr, stdout, tmp};

const SEED_001_B0: &[&str] = &[
    "check",
    "--kernel",
    "v6.19-rc1",
    "--cpus",
    "3",
    "--threads",
    "4",
    "--initial-threads",
    "3",
    "--forks",
    "1",
    "--exits",
    "0",
];

#[test]
fn default_check_passes_with_exit_0() {
    let o = mmcid(&["check"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("all properties hold within the bounds"));
    assert!(out.contains("Done. states="), "{out}");
    assert!(out.contains("branches never reached"), "{out}");
}

#[test]
fn seed_001_is_found_replayed_and_refused_when_corrupt() {
    let file = tmp("seed001.json");
    let mut args = SEED_001_B0.to_vec();
    let path = file.to_str().unwrap();
    args.extend(["--trace-out", path]);
    let o = mmcid(&args);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("=== stall violated (stall)"), "{out}");
    assert!(
        out.contains("CPU2 waits and no continuation at all lets it proceed."),
        "{out}"
    );
    assert!(out.contains("mm_get_cid"), "{out}");

    let r = mmcid(&["replay", path]);
    assert_eq!(code(&r), 1, "{}", stderr(&r));
    assert!(stdout(&r).starts_with("replayed 10 steps: stall (stall) recurs for CPU2"));

    let text = std::fs::read_to_string(&file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let token = v["token"].as_str().unwrap().to_string();

    // An action index out of range at step 3.
    let mut parts: Vec<&str> = token.split('/').collect();
    parts[3] = "99";
    let bad = text.replace(&token, &parts.join("/"));
    let bad_file = tmp("bad-index.json");
    std::fs::write(&bad_file, bad).unwrap();
    let r = mmcid(&["replay", bad_file.to_str().unwrap()]);
    assert_eq!(code(&r), 2);
    assert!(stderr(&r).contains("step 3"), "{}", stderr(&r));

    // A recorded action the model does not do any more.
    let first = v["steps"][0]["action"].as_str().unwrap();
    let edited = text.replacen(first, "T0@cpu0 something else", 1);
    let edited_file = tmp("edited.json");
    std::fs::write(&edited_file, edited).unwrap();
    let r = mmcid(&["replay", edited_file.to_str().unwrap()]);
    assert_eq!(code(&r), 2);
    assert!(
        stderr(&r).contains("step 1 does not replay"),
        "{}",
        stderr(&r)
    );

    // Not JSON at all, and a missing file.
    let junk = tmp("junk.json");
    std::fs::write(&junk, "{ not json").unwrap();
    assert_eq!(code(&mmcid(&["replay", junk.to_str().unwrap()])), 2);
    assert_eq!(code(&mmcid(&["replay", "/nonexistent/trace.json"])), 2);

    // A trace that replays but whose violation was edited away (fewer steps).
    let short: Vec<&str> = token.split('/').take(3).collect();
    let mut v2 = v.clone();
    v2["token"] = serde_json::Value::String(short.join("/"));
    v2["steps"] = serde_json::Value::Array(v["steps"].as_array().unwrap()[..2].to_vec());
    let short_file = tmp("short.json");
    std::fs::write(&short_file, v2.to_string()).unwrap();
    let r = mmcid(&["replay", short_file.to_str().unwrap()]);
    assert_eq!(code(&r), 2);
    assert!(stderr(&r).contains("does not recur"), "{}", stderr(&r));
}

#[test]
fn json_report_has_the_documented_fields() {
    let mut args = SEED_001_B0.to_vec();
    args.push("--json");
    let o = mmcid(&args);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    assert_eq!(v["version"], 1);
    assert_eq!(v["ok"], false);
    assert_eq!(v["scenario"]["kernel"], "B0");
    assert!(v["stats"]["unique_states"].as_u64().unwrap() > 0);
    let d = &v["discoveries"][0];
    assert_eq!(d["property"], "stall");
    assert_eq!(d["agent"], "CPU2");
    assert_eq!(d["trace"]["length"], 10);
}

#[test]
fn limits_end_with_exit_3() {
    let o = mmcid(&["check", "--max-states", "100"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("Stopped."));
    let o = mmcid(&[
        "check",
        "--threads",
        "4",
        "--forks",
        "3",
        "--max-memory-mib",
        "2",
    ]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("the memory limit was reached"));
    // 0 turns the (default) memory limit off.
    let o = mmcid(&["check", "--max-memory-mib", "0"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("unique=47507"));
}

#[test]
fn bad_usage_is_exit_2_with_a_clear_message() {
    for (args, msg) in [
        (vec!["check", "--kernel", "B9"], "unknown kernel stage 'B9'"),
        (vec!["check", "--with", "F99"], "unknown fix 'F99'"),
        (
            vec!["check", "--cpus", "0"],
            "--cpus must be between 1 and 256",
        ),
        (
            vec!["check", "--cpus", "300"],
            "--cpus must be between 1 and 256",
        ),
        (
            vec!["check", "--initial-threads", "5"],
            "must start with 1 to --threads",
        ),
        (vec!["check", "--affinity", "1"], "needs a narrower start"),
        (
            vec!["check", "--workers", "0"],
            "--workers must be at least 1",
        ),
        (vec!["check", "--frobnicate"], "unexpected argument"),
    ] {
        let o = mmcid(&args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}

#[test]
fn stages_lists_every_stage_and_fix() {
    let o = mmcid(&["stages"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for name in [
        "v1",
        "B0 (v6.19-rc1)",
        "B2 (v6.19)",
        "B4 (v7.0-rc4)",
        "B5 (latest)",
        "F4a",
        "F7",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
}
