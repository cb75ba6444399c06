//! The JSON trace file written by `mmcid check --trace-out` and read by `mmcid replay`.
//!
//! Format (version 1): `{"format": "mmcid-trace", "version": 1, "scenario": {...},
//! "property": NAME, "kind": KIND, "agent": NAME|null, "token": "<init>/<a1>/...",
//! "steps": [{"cpu": N, "action": TEXT, "changes": [TEXT, ...]}, ...]}`. The token is what
//! replays: the action indices at each step; `steps` is for people and is checked against the
//! replay (`cpu`, added later in version 1, is optional). docs/trace-format.md has the details.

use mmcid_checker::{Discovery, Model, Trace};
use mmcid_model::{Fix, Fixes, KernelVersion, MmCidModel, Scenario, Stage};
use serde_json::{json, Value};

/// Trace format version.
pub const VERSION: u64 = 1;

/// A scenario as JSON.
pub fn scenario_json(s: &Scenario) -> Value {
    json!({
        "kernel": s.kernel.stage.name(),
        "fixes": s.kernel.fixes.iter().map(Fix::name).collect::<Vec<_>>(),
        "cpus": s.cpus,
        "threads": s.threads,
        "initial_threads": s.initial_threads,
        "allowed": s.initial_allowed,
        "forks": s.forks,
        "fork_failures": s.fork_failures,
        "exits": s.exits,
        "execs": s.execs,
        "affinity": s.affinity,
        "vforks": s.vforks,
        "mmless_tasks": s.mmless_tasks,
        "relaxed": s.relaxed,
    })
}

/// The steps of a trace as JSON (action text and changed fields).
pub fn steps_json(model: &MmCidModel, trace: &Trace<MmCidModel>) -> Value {
    let states = trace.states();
    let steps: Vec<Value> = trace
        .actions()
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let changes: Vec<String> = model
                .format_step(&states[i], a, &states[i + 1])
                .map(|d| d.lines().map(str::to_string).collect())
                .unwrap_or_default();
            json!({
                "cpu": model.action_meta(&states[i], a).agent.0,
                "action": model.format_action(&states[i], a),
                "changes": changes,
            })
        })
        .collect();
    Value::Array(steps)
}

/// The trace file for a discovery.
pub fn trace_file(model: &MmCidModel, d: &Discovery<MmCidModel>) -> Option<Value> {
    let trace = d.trace.as_ref()?;
    Some(json!({
        "format": "mmcid-trace",
        "version": VERSION,
        "scenario": scenario_json(model.scenario()),
        "property": d.property,
        "kind": d.kind.to_string(),
        "agent": d.agent.map(|a| model.format_agent(a)),
        "token": trace.to_token(),
        "steps": steps_json(model, trace),
    }))
}

/// A trace file read back.
pub struct LoadedTrace {
    /// The scenario it was found in.
    pub scenario: Scenario,
    /// The property violated.
    pub property: String,
    /// The kind of discovery.
    pub kind: String,
    /// The waiting agent, for progress violations.
    pub agent: Option<String>,
    /// The replay token.
    pub token: String,
    /// The recorded action texts.
    pub actions: Vec<String>,
    /// The recorded CPU of each step, where the file has it.
    pub cpus: Vec<Option<u64>>,
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("the trace has no '{name}' field"))
}

fn uint(v: &Value, name: &str) -> Result<u64, String> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| format!("'{name}' is not a non-negative integer"))
}

fn string(v: &Value, name: &str) -> Result<String, String> {
    Ok(field(v, name)?
        .as_str()
        .ok_or_else(|| format!("'{name}' is not a string"))?
        .to_string())
}

/// A count added to the format after the first traces were written: absent means 0.
fn optional(v: &Value, name: &str) -> Result<u64, String> {
    match v.get(name) {
        None => Ok(0),
        Some(_) => {
            let n = uint(v, name)?;
            u32::try_from(n).map_err(|_| format!("'{name}' is too large"))?;
            Ok(n)
        }
    }
}

/// Parses a trace file's text.
pub fn load(text: &str) -> Result<LoadedTrace, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    if v.get("format").and_then(Value::as_str) != Some("mmcid-trace") {
        return Err("not an mmcid trace (the 'format' field is not \"mmcid-trace\")".into());
    }
    let version = uint(&v, "version")?;
    if version != VERSION {
        return Err(format!(
            "trace format version {version} is not supported (this mmcid reads {VERSION})"
        ));
    }
    let s = field(&v, "scenario")?;
    let kernel = string(s, "kernel")?;
    let stage = Stage::parse(&kernel).ok_or_else(|| format!("unknown kernel stage '{kernel}'"))?;
    let mut fixes = Fixes::NONE;
    for f in field(s, "fixes")?
        .as_array()
        .ok_or("'fixes' is not a list")?
    {
        let name = f.as_str().ok_or("a fix is not a string")?;
        fixes = fixes.with(Fix::parse(name).ok_or_else(|| format!("unknown fix '{name}'"))?);
    }
    let small = |name: &str| -> Result<u32, String> {
        u32::try_from(uint(s, name)?).map_err(|_| format!("'{name}' is too large"))
    };
    let scenario = Scenario {
        kernel: KernelVersion { stage, fixes },
        cpus: uint(s, "cpus")? as usize,
        threads: uint(s, "threads")? as usize,
        initial_threads: uint(s, "initial_threads")? as usize,
        initial_allowed: uint(s, "allowed")? as usize,
        forks: small("forks")?,
        fork_failures: small("fork_failures")?,
        exits: small("exits")?,
        execs: small("execs")?,
        affinity: small("affinity")?,
        // Added after the first traces were written: absent means 0 / off.
        vforks: optional(s, "vforks")? as u32,
        mmless_tasks: optional(s, "mmless_tasks")? as usize,
        relaxed: match s.get("relaxed") {
            None => false,
            Some(b) => b.as_bool().ok_or("'relaxed' is not a boolean")?,
        },
    };
    scenario
        .validate()
        .map_err(|e| format!("impossible scenario: {e}"))?;
    let steps = field(&v, "steps")?
        .as_array()
        .ok_or("'steps' is not a list")?;
    let actions = steps
        .iter()
        .map(|st| string(st, "action"))
        .collect::<Result<Vec<_>, _>>()?;
    let cpus = steps
        .iter()
        .enumerate()
        .map(|(i, st)| match st.get("cpu") {
            None | Some(Value::Null) => Ok(None),
            Some(c) => c
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("step {}: 'cpu' is not a non-negative integer", i + 1)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadedTrace {
        scenario,
        property: string(&v, "property")?,
        kind: string(&v, "kind")?,
        agent: v.get("agent").and_then(Value::as_str).map(str::to_string),
        token: string(&v, "token")?,
        actions,
        cpus,
    })
}
