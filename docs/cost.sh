#!/bin/bash
# Regenerates the table rows of docs/cost.md with `mmcid simulate --json` (needs python3).
# Usage: cargo build --release -p mmcid-cli && bash docs/cost.sh
set -e
M=${MMCID:-./target/release/mmcid}
row() { # workload scheduler kernel-flags...
  local wl=$1 sched=$2; shift 2
  $M simulate "$@" --workload "$wl" --scheduler "$sched" --cpus 8 --seed 1 --runs 5 --steps 200000 --json > /tmp/mmcid-cost.json || true
  python3 - "$wl" "$sched" "$*" <<'PY'
import json, sys
d = json.load(open('/tmp/mmcid-cost.json')); t = d['totals']
steps = sum(r['steps'] for r in d['runs'])
print(f"| {sys.argv[1]} | {sys.argv[2]} | `{sys.argv[3]}` | {steps} | {d['findings']} | {t['context_switches']} "
      f"| {t['bitmap_sets'] + t['bitmap_clears']} | {t['bitmap_ops_per_switch']:.4f} | {t['switch_ops_steady']} "
      f"| {t['steady_ops_per_switch']:.5f} | {t['transition_ops_per_switch']:.3f} | {t['mode_switches_to_percpu']}/{t['mode_switches_to_pertask']} "
      f"| {t['transitions']['mean']:.1f}/{t['transitions']['max']} | {t['fixup_walks']['mean']:.1f}/{t['fixup_walks']['max']} "
      f"| {t['largest_cid']}/{t['cid_bound']} |")
PY
}
for wl in thread-pool fork-exit-churn; do
  for sched in uniform pct; do
    row $wl $sched --kernel B0
    row $wl $sched --kernel B2
    row $wl $sched --kernel B2 --without F4d
    row $wl $sched --kernel latest
    row $wl $sched --kernel latest --without F4d
  done
done
