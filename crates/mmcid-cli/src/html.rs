//! The HTML trace viewer (`mmcid check --html FILE`, `mmcid replay FILE --html OUT`): one
//! self-contained page, no network (a Content-Security-Policy forbids every fetch), that steps
//! through a trace forward and back with the CPU columns and the current state, highlighting
//! the fields the step changed.
//!
//! The page reads `#step=N` to open at step `N` (0 is the initial state) and `&click=a,b,...`
//! to press its own buttons (`first`, `prev`, `next`, `last`) after loading; the browser test
//! uses both. Arrow keys, Home and End step too.

use mmcid_model::timeline::Timeline;
use serde_json::{json, Value};

/// What the page shows above and below the trace.
pub struct PageInfo {
    /// The headline, e.g. `stall violated (stall) for CPU2`.
    pub title: String,
    /// The configuration line.
    pub scenario: String,
    /// The replay token.
    pub token: String,
    /// Why the final state violates the property.
    pub explanation: Vec<String>,
}

/// The data the page's script renders.
fn data(info: &PageInfo, tl: &Timeline) -> Value {
    let steps: Vec<Value> = tl
        .steps
        .iter()
        .map(|s| {
            json!({
                "n": s.number,
                "cpu": s.cpu,
                "head": s.head,
                "action": s.action,
                "changes": s.changes,
            })
        })
        .collect();
    let states: Vec<Value> = tl
        .states
        .iter()
        .map(|st| {
            Value::Array(
                st.iter()
                    .map(|(n, v)| Value::Array(vec![n.clone().into(), v.clone().into()]))
                    .collect(),
            )
        })
        .collect();
    json!({
        "title": info.title,
        "scenario": info.scenario,
        "token": info.token,
        "explanation": info.explanation,
        "cpus": tl.cpus,
        "steps": steps,
        "states": states,
    })
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page.
pub fn page(info: &PageInfo, tl: &Timeline) -> String {
    // JSON inside <script>: no '<', '>' or '&' may appear raw ("</script>" would end it).
    let json = data(info, tl)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    TEMPLATE
        .replace("@TITLE@", &escape_html(&info.title))
        .replace("@DATA@", &json)
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mmcid: @TITLE@</title>
<style>
body { font-family: sans-serif; margin: 1em; color: #222; }
code, pre, td, th { font-family: monospace; font-size: 13px; }
h1 { font-size: 1.3em; margin: 0 0 .3em 0; }
#scenario, #token { color: #555; margin: .2em 0; }
#controls { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ccc; z-index: 1; }
#controls button { font-size: 1em; min-width: 4em; }
#position { font-weight: bold; margin: 0 1em; }
#current-action { font-family: monospace; }
#main { display: flex; gap: 1.5em; align-items: flex-start; margin-top: .8em; }
#left { flex: 3; min-width: 0; }
#right { flex: 2; min-width: 22em; position: sticky; top: 3.5em; }
table { border-collapse: collapse; }
#timeline { width: 100%; table-layout: fixed; }
#timeline th, #timeline td { border: 1px solid #ddd; padding: 2px 5px; vertical-align: top; text-align: left; overflow-wrap: anywhere; }
#timeline .num { width: 3em; text-align: right; color: #777; }
#timeline tr.future { opacity: .3; }
#timeline tr.current { background: #fff3b0; }
#timeline tr { cursor: pointer; }
.head { font-weight: bold; }
.changes { margin: 0; padding-left: 1em; color: #333; }
.state th, .state td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.state td.changed { background: #ffd27f; font-weight: bold; }
.state caption { text-align: left; font-weight: bold; margin-top: .6em; }
#explanation { background: #f5f5f5; padding: .6em; white-space: pre-wrap; }
</style>
</head>
<body>
<h1 id="title"></h1>
<p id="scenario"></p>
<p id="token"></p>
<div id="controls">
<button id="first" title="Home">|&lt;</button>
<button id="prev" title="Left arrow">&lt; prev</button>
<button id="next" title="Right arrow">next &gt;</button>
<button id="last" title="End">&gt;|</button>
<span id="position"></span>
<span id="current-action"></span>
</div>
<div id="main">
<div id="left"><table id="timeline"><thead></thead><tbody></tbody></table></div>
<div id="right">
<table class="state" id="mm"><caption>mm_cid</caption><tbody></tbody></table>
<table class="state" id="cpus"><caption>CPUs</caption><thead><tr><th>CPU</th><th>slot</th><th>curr</th><th>rq lock</th></tr></thead><tbody></tbody></table>
<table class="state" id="tasks"><caption>tasks</caption><thead><tr><th>task</th><th>state</th><th>cpu</th><th>cid</th><th>active</th><th>allowed</th></tr></thead><tbody></tbody></table>
</div>
</div>
<h2>Why the final state fails</h2>
<pre id="explanation"></pre>
<script type="application/json" id="trace-data">@DATA@</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("trace-data").textContent);
const last = D.steps.length;
let cur = 0;
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
document.getElementById("title").textContent = D.title;
document.getElementById("scenario").textContent = D.scenario;
document.getElementById("token").textContent = "replay token " + D.token;
document.getElementById("explanation").textContent = D.explanation.join("\n");
// The CPU columns, one row per step.
const thead = document.querySelector("#timeline thead");
const hr = el("tr");
hr.appendChild(el("th", {"class": "num"}, "#"));
// CPUs that run no step get a narrow column.
const busy = new Set(D.steps.map((s) => s.cpu));
for (let c = 0; c < D.cpus; c++) {
  hr.appendChild(el("th", busy.has(c) ? {} : {"style": "width: 4em"}, "CPU" + c));
}
thead.appendChild(hr);
const tbody = document.querySelector("#timeline tbody");
const rows = [];
for (const s of D.steps) {
  const tr = el("tr", {"id": "row-" + s.n, "data-step": s.n});
  tr.appendChild(el("td", {"class": "num"}, s.n + "."));
  for (let c = 0; c < D.cpus; c++) {
    const td = el("td");
    if (c === s.cpu) {
      td.setAttribute("class", "cell");
      td.appendChild(el("div", {"class": "head"}, s.head));
      if (s.changes.length) {
        const ul = el("ul", {"class": "changes"});
        for (const ch of s.changes) ul.appendChild(el("li", {}, ch));
        td.appendChild(ul);
      }
    }
    tr.appendChild(td);
  }
  tr.addEventListener("click", () => show(s.n));
  tbody.appendChild(tr);
  rows.push(tr);
}
function fieldsOf(i) {
  const m = new Map();
  for (const [k, v] of D.states[i]) m.set(k, v);
  return m;
}
function cell(tag, name, now, before) {
  const changed = before !== null && before.get(name) !== now.get(name);
  const v = now.has(name) ? now.get(name) : "-";
  return el(tag, {"data-field": name, "class": changed ? "val changed" : "val"}, v);
}
function renderState(i) {
  const now = fieldsOf(i);
  const before = i > 0 ? fieldsOf(i - 1) : null;
  const mm = document.querySelector("#mm tbody");
  mm.replaceChildren();
  const cpuRe = /^(slot\[\d+\]|rq\d+\.)/, taskRe = /^T(\d+)\./;
  const tasks = [];
  for (const [k] of D.states[i]) {
    const t = taskRe.exec(k);
    if (t) { if (!tasks.includes(t[1])) tasks.push(t[1]); continue; }
    if (cpuRe.test(k)) continue;
    const tr = el("tr");
    tr.appendChild(el("th", {}, k));
    tr.appendChild(cell("td", k, now, before));
    mm.appendChild(tr);
  }
  const cpus = document.querySelector("#cpus tbody");
  cpus.replaceChildren();
  for (let c = 0; c < D.cpus; c++) {
    const tr = el("tr");
    tr.appendChild(el("th", {}, "CPU" + c));
    for (const f of ["slot[" + c + "]", "rq" + c + ".curr", "rq" + c + ".lock"]) tr.appendChild(cell("td", f, now, before));
    cpus.appendChild(tr);
  }
  const tt = document.querySelector("#tasks tbody");
  tt.replaceChildren();
  for (const t of tasks) {
    const tr = el("tr");
    tr.appendChild(el("th", {}, "T" + t));
    for (const f of ["state", "cpu", "cid", "active", "cpus_allowed"]) tr.appendChild(cell("td", "T" + t + "." + f, now, before));
    tt.appendChild(tr);
  }
}
function show(i) {
  cur = Math.max(0, Math.min(last, i));
  for (const tr of rows) {
    const n = Number(tr.getAttribute("data-step"));
    tr.className = n === cur ? "current" : (n > cur ? "future" : "past");
  }
  document.getElementById("position").textContent = "step " + cur + " / " + last;
  document.getElementById("current-action").textContent =
    cur === 0 ? "initial state" : "CPU" + D.steps[cur - 1].cpu + ": " + D.steps[cur - 1].head;
  renderState(cur);
  try { history.replaceState(null, "", "#step=" + cur); } catch (e) { /* file URLs in some browsers */ }
}
document.getElementById("first").addEventListener("click", () => show(0));
document.getElementById("prev").addEventListener("click", () => show(cur - 1));
document.getElementById("next").addEventListener("click", () => show(cur + 1));
document.getElementById("last").addEventListener("click", () => show(last));
document.addEventListener("keydown", (e) => {
  if (e.key === "ArrowRight" || e.key === "j") show(cur + 1);
  else if (e.key === "ArrowLeft" || e.key === "k") show(cur - 1);
  else if (e.key === "Home") show(0);
  else if (e.key === "End") show(last);
});
const params = new URLSearchParams(location.hash.replace(/^#/, ""));
show(params.has("step") ? Number(params.get("step")) || 0 : 0);
for (const b of (params.get("click") || "").split(",").filter((x) => x)) {
  const button = document.getElementById(b);
  if (button && button.tagName === "BUTTON") button.click();
}
</script>
</body>
</html>
"##;
