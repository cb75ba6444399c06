//! Golden snapshots of counterexamples as CPU columns (what kernel developers paste into
//! emails): the seed bugs, found from plain configurations, rendered at a fixed width.
//! Update with `INSTA_UPDATE=always cargo test -p mmcid-model --release --test timeline` and
//! read the `.snap` diff before committing it.

use mmcid_checker::{check, CheckConfig, Model};
use mmcid_model::timeline::{explain_violation, RenderOptions, Timeline};
use mmcid_model::{Fix, KernelVersion, MmCidModel, Scenario, Stage};

fn scenario(stage: Stage, cpus: usize, threads: usize, initial: usize, forks: u32) -> Scenario {
    Scenario {
        kernel: KernelVersion::new(stage),
        cpus,
        threads,
        initial_threads: initial,
        initial_allowed: cpus,
        forks,
        exits: 0,
        ..Scenario::default()
    }
}

/// The first violation's trace as columns plus the explanation. One worker, so the shortest
/// trace found is the same on every run.
fn render(sc: Scenario, property: &str, opts: RenderOptions) -> String {
    let model = MmCidModel::new(sc).unwrap();
    let report = check(
        &model,
        &CheckConfig {
            workers: 1,
            symmetry: true,
            keep_going: false,
            ..CheckConfig::default()
        },
    );
    let d = report
        .discovery(property)
        .unwrap_or_else(|| panic!("{property} found: {:?}", report.discoveries));
    let trace = d.trace.as_ref().expect("a trace");
    let tl = Timeline::new(&model, trace.states(), trace.actions());
    let table = tl.render(opts);
    for line in table.lines() {
        assert!(
            line.chars().count() <= opts.width,
            "table line wider than {}: {line:?}",
            opts.width
        );
    }
    let mut out = format!("token {}\n", trace.to_token());
    out.push_str(&table);
    out.push_str("\nwhy:\n");
    for line in explain_violation(&model, d.property, d.agent, trace.final_state()) {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

const W100: RenderOptions = RenderOptions {
    width: 100,
    full_states: false,
};

/// Seed 001 at B0 (v6.19-rc1): CPU2 spins in mm_get_cid() with rq2's lock held.
#[test]
fn seed_001_stall_at_b0() {
    insta::assert_snapshot!(render(scenario(Stage::B0, 3, 4, 3, 1), "stall", W100));
}

/// Seed 001 again at the latest kernel with F4a taken out.
#[test]
fn seed_001_stall_at_latest_without_f4a() {
    let mut sc = scenario(Stage::B5, 3, 4, 3, 1);
    sc.kernel.fixes = sc.kernel.fixes.without(Fix::F4a);
    insta::assert_snapshot!(render(sc, "stall", W100));
}

/// Seed 000 at B3: the child of the first fork is invisible to the second fork's fixup walk.
#[test]
fn seed_000_steady_state_at_b3() {
    insta::assert_snapshot!(render(
        scenario(Stage::B3, 3, 4, 2, 2),
        "steady-state",
        W100
    ));
}

/// Narrow terminal, whole states after every step.
#[test]
fn seed_000_narrow_with_full_states() {
    let opts = RenderOptions {
        width: 72,
        full_states: true,
    };
    insta::assert_snapshot!(render(
        scenario(Stage::B3, 3, 4, 2, 2),
        "steady-state",
        opts
    ));
}

/// Every step's changes name fields of the state, and the state fields change exactly where
/// the step says so (the HTML viewer highlights by these names).
#[test]
fn changes_name_the_fields_that_changed() {
    let model = MmCidModel::new(scenario(Stage::B0, 3, 4, 3, 1)).unwrap();
    let report = check(
        &model,
        &CheckConfig {
            workers: 1,
            symmetry: true,
            keep_going: false,
            ..CheckConfig::default()
        },
    );
    let trace = report.discovery("stall").unwrap().trace.as_ref().unwrap();
    let tl = Timeline::new(&model, trace.states(), trace.actions());
    assert_eq!(tl.states.len(), tl.steps.len() + 1);
    let mut checked = 0;
    for step in &tl.steps {
        let changed = tl.changed_fields(step.number);
        for ch in &step.changes {
            let (name, rest) = ch.split_once(": ").unwrap();
            let new = rest.rsplit_once(" -> ").unwrap().1;
            if tl.states[step.number].iter().any(|(n, _)| n == name) {
                assert!(changed.contains(&name), "step {}: {ch}", step.number);
                let now = &tl.states[step.number]
                    .iter()
                    .find(|(n, _)| n == name)
                    .unwrap()
                    .1;
                assert_eq!(now, new, "step {}: {ch}", step.number);
                checked += 1;
            }
        }
        assert_eq!(
            step.action,
            model.format_action(
                &trace.states()[step.number - 1],
                &trace.actions()[step.number - 1]
            )
        );
    }
    assert!(checked >= 20, "only {checked} changes checked");
}

/// Spec §6.5 at B2: the exit-triggered switch to per-task mode drops a TRANSIT slot word.
#[test]
fn f4c_out_of_range_drop_at_b2() {
    let sc = Scenario {
        kernel: KernelVersion::new(Stage::B2),
        cpus: 4,
        initial_allowed: 2,
        threads: 3,
        initial_threads: 3,
        forks: 0,
        exits: 2,
        ..Scenario::default()
    };
    insta::assert_snapshot!(render(sc, "cid-range", W100));
}

/// One CPU without F1: the fork spins in mm_get_cid() for the only CID with the locks held.
#[test]
fn uniprocessor_without_f1_at_b0() {
    let mut sc = scenario(Stage::B0, 1, 2, 1, 1);
    sc.kernel.fixes = sc.kernel.fixes.without(Fix::F1);
    insta::assert_snapshot!(render(sc, "deadlock", W100));
}
