//! Human and JSON output of a check report.

use mmcid_checker::{Discovery, DiscoveryKind, Model, Outcome, Report};
use mmcid_model::MmCidModel;
use serde_json::{json, Value};

use crate::tracefile::{scenario_json, steps_json};

/// Prints the headline of a discovery: the property, its kind and the waiting agent.
pub fn print_headline(model: &MmCidModel, d: &Discovery<MmCidModel>) {
    println!();
    println!("=== {} violated ({})", d.property, d.kind);
    if let Some(agent) = d.agent {
        let who = model.format_agent(agent);
        let what = match d.kind {
            DiscoveryKind::Stall => "waits and no continuation at all lets it proceed",
            DiscoveryKind::Livelock => "waits and the kernel alone cannot let it proceed",
            _ => "waits",
        };
        println!("{who} {what}.");
    }
}

/// Prints the external events that rescue a livelocked agent.
pub fn print_rescue(d: &Discovery<MmCidModel>) {
    if d.kind != DiscoveryKind::Livelock {
        return;
    }
    if d.rescue.is_empty() {
        println!("  no external event was found that rescues it");
    } else {
        println!("  only an external event rescues it, e.g.:");
        for r in &d.rescue {
            println!("    - {r}");
        }
    }
}

/// Prints one discovery for people as a step list (`--steps`): what failed, why, and the
/// trace.
pub fn print_discovery(model: &MmCidModel, d: &Discovery<MmCidModel>, full_states: bool) {
    print_headline(model, d);
    for line in d.explanation.lines() {
        println!("  {line}");
    }
    print_rescue(d);
    if let Some(trace) = &d.trace {
        println!(
            "trace ({} steps, replay token {}):",
            trace.len(),
            trace.to_token()
        );
        print!("{}", trace.display(model).full_states(full_states));
    }
}

/// The report as JSON (see the README for the fields).
pub fn report_json(model: &MmCidModel, report: &Report<MmCidModel>) -> Value {
    let s = &report.stats;
    let discoveries: Vec<Value> = report
        .discoveries
        .iter()
        .map(|d| {
            json!({
                "property": d.property,
                "kind": d.kind.to_string(),
                "failure": d.kind.is_failure(),
                "agent": d.agent.map(|a| model.format_agent(a)),
                "explanation": d.explanation,
                "rescue": d.rescue,
                "trace": d.trace.as_ref().map(|t| json!({
                    "token": t.to_token(),
                    "length": t.len(),
                    "steps": steps_json(model, t),
                })),
            })
        })
        .collect();
    json!({
        "version": 1,
        "scenario": scenario_json(model.scenario()),
        "outcome": match report.outcome {
            Outcome::Complete => "complete".to_string(),
            Outcome::Incomplete(r) => format!("incomplete: {r}"),
        },
        "ok": report.is_ok(),
        "stats": {
            "initial_states": s.initial_states,
            "states": s.states,
            "unique_states": s.unique_states,
            "transitions": s.transitions,
            "max_depth": s.max_depth,
            "seconds": s.seconds,
            "states_per_second": s.states_per_second,
        },
        "discoveries": discoveries,
        "unreached_labels": report.unreached_labels,
        "unreached_labels_final": report.unreached_labels_are_final(),
        "collision_probability": report.collision_probability,
    })
}
