//! The HTML viewer in a real browser: headless Chromium opens the page of a counterexample
//! (file URL, no network), steps to a given step or presses the page's own buttons, and the
//! dumped DOM must show that step's state with exactly the changed fields highlighted.
//!
//! Skipped (loudly) only when no Chromium is installed and `MMCID_REQUIRE_BROWSER` is unset;
//! `.ci/run` installs Chromium and sets it. `MMCID_CHROMIUM` names another binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{code, mmcid, tmp};

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MMCID_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The DOM after the page's scripts ran, for `file://page#fragment`.
fn dump_dom(chromium: &Path, page: &Path, fragment: &str, n: usize) -> String {
    let profile = tmp(&format!("profile-{n}"));
    let url = format!("file://{}#{fragment}", page.display());
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        o.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        dom.contains("id=\"timeline\""),
        "no page in the dump: {dom}"
    );
    dom
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The attributes and text of the element whose attributes contain `marker`.
fn element(dom: &str, marker: &str) -> Option<(String, String)> {
    let at = dom.find(marker)?;
    let open = dom[..at].rfind('<')?;
    let close = at + dom[at..].find('>')?;
    let attrs = dom[open..close].to_string();
    let end = close + 1 + dom[close + 1..].find('<')?;
    Some((attrs, unescape(&dom[close + 1..end])))
}

/// `(value, highlighted)` of a state field as shown.
fn field(dom: &str, name: &str) -> Option<(String, bool)> {
    let (attrs, text) = element(dom, &format!("data-field=\"{name}\""))?;
    Some((text, attrs.contains("changed")))
}

fn text_of(dom: &str, id: &str) -> String {
    element(dom, &format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"))
        .1
}

/// Checks that the page shows step `step` of the trace `v`.
fn assert_shows(dom: &str, v: &Value, step: usize, what: &str) {
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(
        text_of(dom, "position"),
        format!("step {step} / {}", steps.len()),
        "{what}"
    );
    for n in 1..=steps.len() {
        let (attrs, _) = element(dom, &format!("id=\"row-{n}\"")).unwrap();
        let want = if n == step {
            "current"
        } else if n > step {
            "future"
        } else {
            "past"
        };
        assert!(
            attrs.contains(&format!("class=\"{want}\"")),
            "{what}: row {n}: {attrs}"
        );
    }
    let highlighted = dom.matches("class=\"val changed\"").count();
    if step == 0 {
        assert_eq!(text_of(dom, "current-action"), "initial state", "{what}");
        assert_eq!(highlighted, 0, "{what}: nothing changed yet");
        return;
    }
    let s = &steps[step - 1];
    let action = text_of(dom, "current-action");
    assert!(
        action.starts_with(&format!("CPU{}: ", s["cpu"])),
        "{what}: {action}"
    );
    // Every `field: old -> new` of the step is shown with its new value, highlighted; nothing
    // else is highlighted.
    let mut shown = 0;
    for ch in s["changes"].as_array().unwrap() {
        let ch = ch.as_str().unwrap();
        let (name, rest) = ch.split_once(": ").unwrap();
        let new = rest.rsplit_once(" -> ").unwrap().1;
        if let Some((value, lit)) = field(dom, name) {
            assert_eq!(value, new, "{what}: {ch}");
            assert!(lit, "{what}: {ch} is not highlighted");
            shown += 1;
        } else if new != "gone" {
            // A task that appears (`T3: - -> new cid UNSET`): its whole row is highlighted.
            for f in ["state", "cpu", "cid", "active", "cpus_allowed"] {
                let (_, lit) = field(dom, &format!("{name}.{f}"))
                    .unwrap_or_else(|| panic!("{what}: {ch}: no {name}.{f} shown"));
                assert!(lit, "{what}: {name}.{f} of a new task is not highlighted");
                shown += 1;
            }
            assert!(new.starts_with("new cid "), "{what}: {ch}");
            assert_eq!(field(dom, &format!("{name}.state")).unwrap().0, "new");
        }
    }
    assert!(
        shown > 0 || s["changes"].as_array().unwrap().is_empty(),
        "{what}"
    );
    assert_eq!(highlighted, shown, "{what}: other fields highlighted");
}

#[test]
fn html_viewer_steps_through_the_seed_001_trace_in_chromium() {
    let Some(chromium) = find_chromium() else {
        if std::env::var_os("MMCID_REQUIRE_BROWSER").is_some() {
            panic!("MMCID_REQUIRE_BROWSER is set but no chromium was found on PATH");
        }
        eprintln!();
        eprintln!("!!! SKIPPED: the HTML viewer test needs chromium (apt-get install chromium);");
        eprintln!("!!! set MMCID_REQUIRE_BROWSER=1 to make its absence an error.");
        eprintln!();
        return;
    };
    let page = tmp("seed001.html");
    let trace = tmp("seed001.json");
    let o = mmcid(&[
        "check",
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
        "--workers",
        "1",
        "--html",
        page.to_str().unwrap(),
        "--trace-out",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 10);

    // Opening at a step.
    let dom = dump_dom(&chromium, &page, "step=0", 0);
    assert_shows(&dom, &v, 0, "#step=0");
    assert_eq!(field(&dom, "mode").unwrap().0, "per-task");
    assert!(text_of(&dom, "title").contains("stall violated (stall) for CPU2"));
    assert!(text_of(&dom, "explanation").contains("it spins in mm_get_cid()"));
    for step in [2, 4, 9, 10] {
        let dom = dump_dom(&chromium, &page, &format!("step={step}"), step);
        assert_shows(&dom, &v, step, &format!("#step={step}"));
    }
    // Step 2 switches to per-CPU mode and hands T0's CID to CPU0.
    let dom = dump_dom(&chromium, &page, "step=2", 20);
    assert_eq!(field(&dom, "mode").unwrap(), ("per-cpu".to_string(), true));
    assert_eq!(
        field(&dom, "slot[0]").unwrap(),
        ("0|ONCPU".to_string(), true)
    );
    assert_eq!(field(&dom, "users").unwrap(), ("4".to_string(), true));
    assert_eq!(
        field(&dom, "bitmap").unwrap(),
        ("{0,1,2}".to_string(), false)
    );
    // At the end CPU2 holds its rq lock and T1 has no CID.
    let dom = dump_dom(&chromium, &page, "step=10", 21);
    assert_eq!(field(&dom, "rq2.lock").unwrap().0, "CPU2 (context switch)");
    assert_eq!(field(&dom, "rq2.curr").unwrap().0, "T1");

    // The buttons: forward three, back one; to the end; to the start and one forward; past
    // both ends.
    for (fragment, step) in [
        ("step=0&click=next,next,next,prev", 2),
        ("step=3&click=last", 10),
        ("step=10&click=first,next", 1),
        ("step=10&click=next,next", 10),
        ("step=1&click=prev,prev,prev", 0),
        ("step=5&click=prev", 4),
    ] {
        let dom = dump_dom(&chromium, &page, fragment, 100 + step);
        assert_shows(&dom, &v, step, fragment);
    }
}
