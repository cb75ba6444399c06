//! Counterexamples as a contract: every known bug's trace is written, replayed and printed as
//! CPU columns (and as the same HTML page from `check` and from `replay`); corrupted or
//! hand-edited traces are refused with exit code 2 and the failing step.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

mod common;
use common::{code, mmcid, mmcid_env, stderr, stdout, tmp};

/// A bug the model reproduces: name, `check` flags, violated property, trace length, agent.
struct Bug {
    name: &'static str,
    args: &'static [&'static str],
    property: &'static str,
    steps: usize,
    agent: Option<&'static str>,
}

const COMMON: &[&str] = &["--workers", "1"];

/// Every known bug of spec §6 (crates/mmcid-model/tests/known_bugs.rs), as the command line
/// finds it with one worker.
const BUGS: &[Bug] = &[
    Bug {
        name: "seed-001-b0",
        args: &[
            "--kernel",
            "B0",
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
        ],
        property: "stall",
        steps: 10,
        agent: Some("CPU2"),
    },
    Bug {
        name: "seed-001-b1",
        args: &[
            "--kernel",
            "B1",
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
        ],
        property: "stall",
        steps: 10,
        agent: Some("CPU2"),
    },
    Bug {
        name: "seed-001-latest-without-f4a",
        args: &[
            "--kernel",
            "latest",
            "--without",
            "F4a",
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
        ],
        property: "stall",
        steps: 10,
        agent: Some("CPU2"),
    },
    Bug {
        name: "seed-000-b0",
        args: &[
            "--kernel",
            "B0",
            "--cpus",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "2",
            "--exits",
            "0",
        ],
        property: "steady-state",
        steps: 9,
        agent: None,
    },
    Bug {
        name: "seed-000-b0-with-f4a",
        args: &[
            "--kernel",
            "B0",
            "--with",
            "F4a",
            "--cpus",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "2",
            "--exits",
            "0",
        ],
        property: "steady-state",
        steps: 10,
        agent: None,
    },
    Bug {
        name: "seed-000-b2",
        args: &[
            "--kernel",
            "B2",
            "--cpus",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "2",
            "--exits",
            "0",
        ],
        property: "steady-state",
        steps: 10,
        agent: None,
    },
    Bug {
        name: "seed-000-b3",
        args: &[
            "--kernel",
            "B3",
            "--cpus",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "2",
            "--exits",
            "0",
        ],
        property: "steady-state",
        steps: 10,
        agent: None,
    },
    Bug {
        name: "seed-000-latest-without-f6a-f6d",
        args: &[
            "--kernel",
            "latest",
            "--without",
            "F6a",
            "--without",
            "F6d",
            "--cpus",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "2",
            "--exits",
            "0",
        ],
        property: "steady-state",
        steps: 10,
        agent: None,
    },
    Bug {
        name: "f4c-out-of-range-drop-b2",
        args: &[
            "--kernel",
            "B2",
            "--cpus",
            "4",
            "--allowed",
            "2",
            "--threads",
            "3",
            "--initial-threads",
            "3",
            "--forks",
            "0",
            "--exits",
            "2",
        ],
        property: "cid-range",
        steps: 7,
        agent: None,
    },
    Bug {
        name: "unset-transit-drop-b0",
        args: &[
            "--kernel",
            "B0",
            "--cpus",
            "4",
            "--allowed",
            "2",
            "--threads",
            "3",
            "--initial-threads",
            "3",
            "--forks",
            "0",
            "--exits",
            "2",
            "--execs",
            "1",
            "--ignore",
            "steady-state",
        ],
        property: "cid-range",
        steps: 15,
        agent: None,
    },
    Bug {
        name: "unset-transit-drop-b4",
        args: &[
            "--kernel",
            "B4",
            "--cpus",
            "4",
            "--allowed",
            "2",
            "--threads",
            "3",
            "--initial-threads",
            "3",
            "--forks",
            "0",
            "--exits",
            "2",
            "--execs",
            "1",
            "--ignore",
            "steady-state",
        ],
        property: "cid-range",
        steps: 15,
        agent: None,
    },
    Bug {
        name: "vfork-double-count-b3",
        args: &[
            "--kernel",
            "B3",
            "--cpus",
            "4",
            "--allowed",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "1",
            "--exits",
            "0",
            "--vforks",
            "1",
        ],
        property: "steady-state",
        steps: 10,
        agent: None,
    },
    Bug {
        name: "vfork-double-count-latest-without-f6b-f6d",
        args: &[
            "--kernel",
            "latest",
            "--without",
            "F6b",
            "--without",
            "F6d",
            "--cpus",
            "4",
            "--allowed",
            "3",
            "--threads",
            "4",
            "--initial-threads",
            "2",
            "--forks",
            "1",
            "--exits",
            "0",
            "--vforks",
            "1",
        ],
        property: "steady-state",
        steps: 10,
        agent: None,
    },
    Bug {
        name: "uniprocessor-without-f1",
        args: &[
            "--kernel",
            "B0",
            "--without",
            "F1",
            "--cpus",
            "1",
            "--threads",
            "2",
            "--initial-threads",
            "1",
            "--forks",
            "1",
            "--exits",
            "0",
        ],
        property: "deadlock",
        steps: 3,
        agent: None,
    },
    Bug {
        name: "null-mm-after-failed-exec-b0",
        args: &[
            "--kernel",
            "B0",
            "--cpus",
            "1",
            "--threads",
            "1",
            "--initial-threads",
            "1",
            "--forks",
            "0",
            "--exits",
            "0",
            "--execs",
            "1",
            "--mmless-tasks",
            "1",
        ],
        property: "warn",
        steps: 4,
        agent: None,
    },
];

fn check_args<'a>(bug: &'a Bug, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["check"];
    a.extend_from_slice(COMMON);
    a.extend_from_slice(bug.args);
    a.extend_from_slice(extra);
    a
}

/// Writes the bug's trace file and returns its path and parsed JSON.
fn trace_of(bug: &Bug) -> (PathBuf, Value) {
    // Its own file name: the round-trip test writes `<name>.json` at the same time.
    let file = tmp(&format!("base-{}.json", bug.name));
    let path = file.to_str().unwrap().to_string();
    let o = mmcid(&check_args(bug, &["--trace-out", &path]));
    assert_eq!(code(&o), 1, "{}: {}", bug.name, stderr(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    (file, v)
}

#[test]
fn every_bug_round_trips_through_its_trace_file() {
    for bug in BUGS {
        let html_check = tmp(&format!("{}-check.html", bug.name));
        let html_replay = tmp(&format!("{}-replay.html", bug.name));
        let file = tmp(&format!("{}.json", bug.name));
        let o = mmcid(&check_args(
            bug,
            &[
                "--trace-out",
                file.to_str().unwrap(),
                "--html",
                html_check.to_str().unwrap(),
                "--width",
                "100",
            ],
        ));
        assert_eq!(code(&o), 1, "{}: {}", bug.name, stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains(&format!("=== {} violated", bug.property)),
            "{}: {out}",
            bug.name
        );
        // The trace file: documented fields, one step per action, each with its CPU.
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(v["format"], "mmcid-trace");
        assert_eq!(v["version"], 1);
        assert_eq!(v["property"], bug.property);
        assert_eq!(v["agent"].as_str(), bug.agent);
        let steps = v["steps"].as_array().unwrap();
        assert_eq!(steps.len(), bug.steps, "{}", bug.name);
        assert_eq!(
            v["token"].as_str().unwrap().split('/').count(),
            bug.steps + 1
        );
        for s in steps {
            assert!(
                s["cpu"].as_u64().unwrap() < v["scenario"]["cpus"].as_u64().unwrap(),
                "{s}"
            );
            assert!(!s["action"].as_str().unwrap().is_empty());
        }
        // Replay: the violation recurs, the trace prints as CPU columns with the explanation.
        let r = mmcid(&[
            "replay",
            file.to_str().unwrap(),
            "--html",
            html_replay.to_str().unwrap(),
            "--width",
            "100",
        ]);
        assert_eq!(code(&r), 1, "{}: {}", bug.name, stderr(&r));
        let text = stdout(&r);
        let head = match bug.agent {
            Some(a) => format!(
                "replayed {} steps: {} ({}) recurs for {a}",
                bug.steps,
                bug.property,
                v["kind"].as_str().unwrap()
            ),
            None => format!(
                "replayed {} steps: {} ({}) recurs",
                bug.steps,
                bug.property,
                v["kind"].as_str().unwrap()
            ),
        };
        assert!(text.starts_with(&head), "{}: {text}", bug.name);
        assert!(text.contains("CPU0"), "{text}");
        if v["scenario"]["cpus"].as_u64().unwrap() > 1 {
            assert!(text.contains(" | CPU1"), "{text}");
        }
        assert!(text.contains("\nwhy:\n"), "{text}");
        for (i, s) in steps.iter().enumerate() {
            assert!(
                text.contains(&format!("\n{:>3}. ", i + 1)),
                "{}: step {} missing in\n{text}",
                bug.name,
                i + 1
            );
            let _ = s;
        }
        // The columns printed by check and by replay are the same.
        let table = |t: &str| -> String {
            let start = t.find("trace (").expect("trace header");
            let end = t[start..].find("\nwhy:").unwrap() + start;
            t[start..end].to_string()
        };
        assert_eq!(table(&out), table(&text), "{}", bug.name);
        // The same HTML page from check and from replay.
        let a = std::fs::read_to_string(&html_check).unwrap();
        let b = std::fs::read_to_string(&html_replay).unwrap();
        assert!(a.starts_with("<!DOCTYPE html>"));
        assert_eq!(a, b, "{}: the two pages differ", bug.name);
        // Self-contained: nothing is fetched.
        for needle in ["http://", "https://", "src=", "href="] {
            assert!(!a.contains(needle), "{}: page contains {needle}", bug.name);
        }
        // The old step list is still there on request.
        let s = mmcid(&["replay", file.to_str().unwrap(), "--steps"]);
        assert_eq!(code(&s), 1);
        assert!(stdout(&s).contains("\n   1. "), "{}", stdout(&s));
    }
}

#[test]
fn corrupted_traces_are_refused_with_exit_2_naming_the_step() {
    let bug = &BUGS[0];
    let (file, v) = trace_of(bug);
    let token = v["token"].as_str().unwrap().to_string();
    let parts: Vec<String> = token.split('/').map(str::to_string).collect();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "wrong format",
            Box::new(|v| v["format"] = "something-else".into()),
            "not an mmcid trace",
        ),
        (
            "future version",
            Box::new(|v| v["version"] = 99.into()),
            "trace format version 99 is not supported",
        ),
        (
            "no token",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("token");
            }),
            "no 'token' field",
        ),
        (
            "action index out of range at step 4",
            Box::new(move |v| {
                let mut p = parts.clone();
                p[4] = "77".to_string();
                v["token"] = p.join("/").into();
            }),
            "step 4",
        ),
        (
            "not a number in the token",
            Box::new(|v| v["token"] = "0/2/x".into()),
            "bad trace token",
        ),
        (
            "hand-edited action at step 6",
            Box::new(|v| v["steps"][5]["action"] = "CPU1 __schedule: idle -> T3".into()),
            "step 6 does not replay",
        ),
        (
            "step moved to another CPU",
            Box::new(|v| {
                let c = v["steps"][2]["cpu"].as_u64().unwrap();
                v["steps"][2]["cpu"] = ((c + 1) % 3).into();
            }),
            "step 3 does not replay",
        ),
        (
            "a recorded step missing",
            Box::new(|v| {
                v["steps"].as_array_mut().unwrap().pop();
            }),
            "the token has more steps than the recorded steps",
        ),
        (
            "another kernel",
            // With F4a every step still runs, but T1 no longer spins: the fix works.
            Box::new(|v| v["scenario"]["fixes"] = serde_json::json!(["F1", "F4a"])),
            "the 'stall' violation does not recur",
        ),
        (
            "unknown stage",
            Box::new(|v| v["scenario"]["kernel"] = "B9".into()),
            "unknown kernel stage 'B9'",
        ),
        (
            "impossible scenario",
            Box::new(|v| v["scenario"]["cpus"] = 0.into()),
            "impossible scenario",
        ),
        (
            "other property",
            Box::new(|v| {
                v["property"] = "unique-cid".into();
            }),
            "violation does not recur",
        ),
        (
            "other agent",
            Box::new(|v| v["agent"] = "CPU0".into()),
            "violation does not recur",
        ),
        (
            "unknown property",
            Box::new(|v| v["property"] = "happiness".into()),
            "unknown property 'happiness'",
        ),
    ];
    for (what, edit, msg) in cases {
        let mut bad = v.clone();
        edit(&mut bad);
        let path = tmp("corrupt.json");
        std::fs::write(&path, serde_json::to_string_pretty(&bad).unwrap()).unwrap();
        let r = mmcid(&["replay", path.to_str().unwrap()]);
        assert_eq!(code(&r), 2, "{what}: {}{}", stdout(&r), stderr(&r));
        assert!(stderr(&r).contains(msg), "{what}: {}", stderr(&r));
        assert!(!stderr(&r).contains("panicked"), "{what}: {}", stderr(&r));
    }
    // A file cut in half, and bytes that are not text.
    let text = std::fs::read_to_string(&file).unwrap();
    let half = tmp("half.json");
    std::fs::write(&half, &text[..text.len() / 2]).unwrap();
    let r = mmcid(&["replay", half.to_str().unwrap()]);
    assert_eq!(code(&r), 2);
    assert!(stderr(&r).contains("not valid JSON"), "{}", stderr(&r));
    let binary = tmp("binary.json");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x01]).unwrap();
    assert_eq!(code(&mmcid(&["replay", binary.to_str().unwrap()])), 2);
    // The untouched file still replays.
    assert_eq!(code(&mmcid(&["replay", file.to_str().unwrap()])), 1);
}

#[test]
fn width_follows_the_flag_and_columns() {
    let bug = &BUGS[0];
    let (file, _) = trace_of(bug);
    let f = file.to_str().unwrap();
    let table_lines = |o: &Output| -> Vec<String> {
        let t = stdout(o);
        let start = t.find("trace (").unwrap();
        let end = t.find("\nwhy:").unwrap();
        t[start..end].lines().skip(1).map(str::to_string).collect()
    };
    let mut widest_seen = Vec::new();
    for (args, env, width) in [
        (vec!["replay", f, "--width", "60"], vec![], 60),
        (
            vec!["replay", f, "--width", "75"],
            vec![("COLUMNS", "130")],
            75,
        ),
        (vec!["replay", f], vec![], 100),
        (vec!["replay", f], vec![("COLUMNS", "130")], 130),
    ] {
        let o = mmcid_env(&args, &env);
        assert_eq!(code(&o), 1, "{args:?}");
        let lines = table_lines(&o);
        let widest = lines.iter().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= width, "{args:?} {env:?}: {widest} > {width}");
        // The rule under the header is as wide as the table.
        assert_eq!(lines[1].chars().count(), widest, "{args:?}: {}", lines[1]);
        widest_seen.push(widest);
    }
    // The seed-001 columns have long lines: more room makes a wider table.
    assert!(
        widest_seen.windows(2).all(|w| w[0] < w[1]),
        "{widest_seen:?}"
    );
    // Too narrow for three columns: each keeps its minimum of 14 characters.
    let o = mmcid(&["replay", f, "--width", "40"]);
    let widest = table_lines(&o)
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert_eq!(widest, 5 + 3 * 14 + 2 * 3);
    let o = mmcid(&["replay", f, "--width", "10"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--width must be between 40 and 1000"));
    // --full-states adds whole states after every step.
    let o = mmcid(&["replay", f, "--full-states"]);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout(&o).matches("     state:\n").count(), bug.steps);
}

#[test]
fn html_is_not_written_without_a_counterexample() {
    let page = tmp("none.html");
    let o = mmcid(&["check", "--html", page.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no counterexample, so"),
        "{}",
        stderr(&o)
    );
    assert!(!page.exists());
}

#[test]
fn html_of_a_simulator_trace_is_refused() {
    let sim = tmp("sim.json");
    std::fs::write(&sim, r#"{"format": "mmcid-sim-trace", "version": 1}"#).unwrap();
    let page = tmp("sim.html");
    let o = mmcid(&[
        "replay",
        sim.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--html needs a trace of"),
        "{}",
        stderr(&o)
    );
    assert!(!page.exists());
}
