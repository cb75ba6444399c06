//! Helpers shared by the bug and finding tests: explore a scenario, pick a discovery (checking
//! that its trace replays), and the golden text kept in `tests/snapshots/`.

use mmcid_checker::{check, CheckConfig, Discovery, Report, Trace};
use mmcid_model::{MmCidModel, Scenario};

/// Explores `sc` with symmetry, leaving the `ignore`d invariants unchecked.
pub fn explore(
    sc: Scenario,
    ignore: &[&str],
    max_depth: Option<usize>,
    keep_going: bool,
) -> (MmCidModel, Report<MmCidModel>) {
    let ignore: Vec<String> = ignore.iter().map(|s| s.to_string()).collect();
    let model = MmCidModel::new(sc).unwrap().ignoring(&ignore).unwrap();
    let report = check(
        &model,
        &CheckConfig {
            symmetry: true,
            max_depth,
            keep_going,
            ..CheckConfig::default()
        },
    );
    (model, report)
}

/// The discovery of `property` (the test fails, naming what was found instead, if there is
/// none), after checking that its trace replays from its token to the same final state.
pub fn found<'r>(
    model: &MmCidModel,
    report: &'r Report<MmCidModel>,
    property: &str,
) -> &'r Discovery<MmCidModel> {
    let names: Vec<&str> = report.failures().map(|d| d.property).collect();
    let d = report
        .discovery(property)
        .unwrap_or_else(|| panic!("{property} not found; found {names:?}"));
    let trace = d.trace.as_ref().expect("a failure has a trace");
    let again = Trace::from_token(model, &trace.to_token()).expect("the trace replays");
    assert_eq!(again.final_state(), trace.final_state());
    d
}

/// The golden text of a discovery: the explanation and the trace with its changes.
pub fn golden(model: &MmCidModel, d: &Discovery<MmCidModel>) -> String {
    let trace = d.trace.as_ref().unwrap();
    format!(
        "{} ({}), {} steps, token {}\n{}\n{}",
        d.property,
        d.kind,
        trace.len(),
        trace.to_token(),
        d.explanation,
        trace.display(model)
    )
}
