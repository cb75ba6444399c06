//! Level-synchronous parallel breadth-first search.
//!
//! The states of one depth (the *frontier*) are explored in parallel; their new successors are
//! collected, and only when the whole depth is done do they become the next frontier. Every
//! state's parent link is stored in the seen-set (keyed by fingerprint, of the representative
//! with symmetry on), so the path to any state is a shortest one, kept as an initial-state index
//! and action indices and rebuilt by replaying the model ([`crate::Trace`]).
//!
//! # Determinism
//!
//! Results do not depend on the number of workers or on their timing. Each candidate successor
//! is ordered by `(position of its parent in the frontier, action index)`; when several parents
//! reach the same new state, the smallest order wins, and the next frontier is sorted by it. By
//! induction the frontier is sorted by path (initial-state index, then action indices), each
//! state's stored path is the lexicographically smallest shortest path, and the next frontier is
//! exactly what a sequential search would build. A finding at depth `d` is kept for the smallest
//! frontier position, so the reported trace is the smallest shortest one as well.
//!
//! # Symmetry
//!
//! With symmetry on, states are deduplicated on the fingerprint of [`Model::representative`],
//! but the frontier keeps the *original* successor, and paths continue from it. The
//! representative may not be reachable at all, and the action indices of a path are only
//! meaningful in the states that the replay reaches, which are the originals. (Stateright marks
//! the same choice with an "IMPORTANT" comment.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use crate::explore::{merge_findings, Context, Decided, SearchEnd, SlotFindings, Visit};
use crate::fingerprint::{estimated_size, Fingerprint, IdentityBuild};
use crate::model::{Coverage, Model};
use crate::report::{Outcome, StopReason};
use crate::Progress;

const SHARDS: usize = 64;
/// Frontier positions a worker claims at a time.
const BLOCK: usize = 16;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// How a state was first reached.
#[derive(Clone, Copy)]
struct Link {
    /// The parent's key; for an initial state, its index in `init_states`.
    parent: u64,
    /// The action index in the parent; [`INIT`] for an initial state.
    action: u32,
}

const INIT: u32 = u32::MAX;

fn shard_of(key: Fingerprint) -> usize {
    // Middle bits: the maps use the low bits for buckets and the high ones for tags.
    (key >> 32) as usize % SHARDS
}

/// Every state found so far, with its parent link.
struct Seen {
    shards: Vec<HashMap<Fingerprint, Link, IdentityBuild>>,
    len: u64,
}

impl Seen {
    fn new() -> Self {
        Seen {
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
            len: 0,
        }
    }

    fn contains(&self, key: Fingerprint) -> bool {
        self.shards[shard_of(key)].contains_key(&key)
    }

    fn insert(&mut self, key: Fingerprint, link: Link) -> bool {
        let new = self.shards[shard_of(key)].insert(key, link).is_none();
        self.len += u64::from(new);
        new
    }

    /// The initial-state index and action indices of the stored path to `key`.
    fn path(&self, mut key: Fingerprint) -> (usize, Vec<usize>) {
        let mut actions = Vec::new();
        loop {
            let link = self.shards[shard_of(key)][&key];
            if link.action == INIT {
                actions.reverse();
                return (link.parent as usize, actions);
            }
            actions.push(link.action as usize);
            key = link.parent;
        }
    }

    fn bytes(&self) -> u64 {
        let entry = std::mem::size_of::<(Fingerprint, Link)>() as u64 + 1;
        self.shards.iter().map(|m| m.capacity() as u64).sum::<u64>() * entry
    }
}

struct Node<S> {
    key: Fingerprint,
    state: S,
}

struct Candidate<S> {
    /// (parent's frontier position, action index): the smallest wins.
    order: (usize, u32),
    parent: Fingerprint,
    state: S,
}

type CandidateMap<S> = HashMap<Fingerprint, Candidate<S>, IdentityBuild>;

/// The new states of the next depth, as the workers find them.
struct NextLevel<S> {
    shards: Vec<Mutex<CandidateMap<S>>>,
    count: AtomicU64,
}

impl<S> NextLevel<S> {
    fn new() -> Self {
        NextLevel {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            count: AtomicU64::new(0),
        }
    }

    /// Offers a successor; returns whether its key is new to this depth.
    fn offer(&self, key: Fingerprint, candidate: Candidate<S>) -> bool {
        let mut shard = self.shards[shard_of(key)].lock().expect("frontier lock");
        match shard.entry(key) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(candidate);
                self.count.fetch_add(1, Ordering::Relaxed);
                true
            }
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if candidate.order < e.get().order {
                    e.insert(candidate);
                }
                false
            }
        }
    }

    /// The candidates in order.
    fn into_sorted(self) -> Vec<(Fingerprint, Candidate<S>)> {
        let mut all: Vec<_> = self
            .shards
            .into_iter()
            .flat_map(|m| m.into_inner().expect("frontier lock"))
            .collect();
        all.sort_unstable_by_key(|(_, c)| c.order);
        all
    }
}

/// What the workers share while they explore one depth.
struct Level<'l, S> {
    frontier: &'l [Node<S>],
    seen: &'l Seen,
    next: NextLevel<S>,
    // invariant: positions below `cursor` are claimed by some worker.
    cursor: AtomicUsize,
    /// Whether successors may be added (false at the maximum depth).
    expand: bool,
    /// Slots decided at a smaller depth.
    decided: Vec<bool>,
    /// Per slot, the smallest frontier position with a finding at this depth so far.
    best: Vec<AtomicUsize>,
    transitions: AtomicU64,
    /// Estimated bytes of the seen-set and frontier.
    base_bytes: u64,
    candidate_bytes: u64,
}

struct WorkerOut {
    findings: SlotFindings,
    coverage: Coverage,
    transitions: u64,
    truncated: bool,
}

/// Runs the search to its end.
pub(crate) fn run<M: Model>(ctx: &Context<'_, M>) -> SearchEnd {
    let (model, config) = (ctx.model, ctx.config);
    let mut seen = Seen::new();
    let mut frontier = Vec::new();
    for (i, state) in model.init_states().into_iter().enumerate() {
        let key = ctx.key(&state);
        if seen.insert(
            key,
            Link {
                parent: i as u64,
                action: INIT,
            },
        ) {
            frontier.push(Node { key, state });
        }
    }
    let initial_states = frontier.len() as u64;
    let mut decided: Vec<Option<(Fingerprint, crate::explore::Finding)>> = vec![None; ctx.slots()];
    let mut coverage = Coverage::new();
    let mut transitions = 0u64;
    let mut depth = 0usize;
    let mut last_progress = Instant::now();
    let outcome = loop {
        if frontier.is_empty() {
            break Outcome::Complete;
        }
        sample_state_size(ctx, &frontier);
        let heap = ctx.state_heap_bytes.load(Ordering::Relaxed);
        let node_bytes = std::mem::size_of::<Node<M::State>>() as u64 + heap;
        let level = Level {
            frontier: &frontier,
            seen: &seen,
            next: NextLevel::new(),
            cursor: AtomicUsize::new(0),
            expand: config.max_depth.is_none_or(|max| depth < max),
            decided: decided.iter().map(Option::is_some).collect(),
            best: (0..ctx.slots())
                .map(|_| AtomicUsize::new(usize::MAX))
                .collect(),
            transitions: AtomicU64::new(0),
            base_bytes: seen.bytes() + frontier.len() as u64 * node_bytes,
            candidate_bytes: (std::mem::size_of::<(Fingerprint, Candidate<M::State>)>() as u64 + 1)
                * 8
                / 7
                + heap,
        };
        let outs = run_level(ctx, &level, depth, transitions, &mut last_progress);
        let mut findings: SlotFindings = vec![None; ctx.slots()];
        let mut truncated = false;
        for out in outs {
            merge_findings(&mut findings, out.findings);
            coverage.merge(&out.coverage);
            transitions += out.transitions;
            truncated |= out.truncated;
        }
        for (slot, found) in findings.into_iter().enumerate() {
            if let (None, Some((pos, finding))) = (&decided[slot], found) {
                decided[slot] = Some((frontier[pos].key, finding));
            }
        }
        let mut candidates = level.next.into_sorted();
        if ctx.abort_reason() == Some(StopReason::MaxStates) {
            let room = config.max_states.unwrap_or(0).saturating_sub(seen.len);
            candidates.truncate(usize::try_from(room).unwrap_or(usize::MAX));
        }
        drop(frontier);
        frontier = Vec::with_capacity(candidates.len());
        for (key, c) in candidates {
            let link = Link {
                parent: c.parent,
                action: c.order.1,
            };
            seen.insert(key, link);
            frontier.push(Node {
                key,
                state: c.state,
            });
        }
        if ctx.aborted() {
            break Outcome::Incomplete(ctx.abort_reason().unwrap_or(StopReason::Stopped));
        }
        if frontier.is_empty() && truncated {
            break Outcome::Incomplete(StopReason::MaxDepth);
        }
        let flags: Vec<bool> = decided.iter().map(Option::is_some).collect();
        if !frontier.is_empty()
            && !config.keep_going
            && flags
                .iter()
                .enumerate()
                .any(|(slot, &d)| d && ctx.is_failure_slot(slot))
        {
            break Outcome::Incomplete(StopReason::FailureFound);
        }
        if !frontier.is_empty() && ctx.all_decided(&flags) {
            break Outcome::Incomplete(StopReason::AllDecided);
        }
        if !frontier.is_empty() {
            depth += 1;
        }
    };
    let discoveries = decided
        .into_iter()
        .map(|found| {
            found.map(|(key, finding)| {
                let (init, path) = seen.path(key);
                Decided {
                    finding,
                    key,
                    init,
                    path,
                }
            })
        })
        .collect();
    SearchEnd {
        outcome,
        initial_states,
        unique_states: seen.len,
        transitions,
        max_depth: depth,
        discoveries,
        coverage,
    }
}

/// Updates the per-state heap estimate from a few states of the frontier.
fn sample_state_size<M: Model>(ctx: &Context<'_, M>, frontier: &[Node<M::State>]) {
    let step = (frontier.len() / 16).max(1);
    let sample: Vec<u64> = frontier
        .iter()
        .step_by(step)
        .take(16)
        .map(|n| estimated_size(&n.state))
        .collect();
    let inline = std::mem::size_of::<M::State>() as u64;
    let mean = sample.iter().sum::<u64>() / sample.len().max(1) as u64;
    ctx.state_heap_bytes
        .store(mean.saturating_sub(inline), Ordering::Relaxed);
}

/// Explores one depth with all workers; the calling thread reports progress meanwhile.
fn run_level<M: Model>(
    ctx: &Context<'_, M>,
    level: &Level<'_, M::State>,
    depth: usize,
    transitions_before: u64,
    last_progress: &mut Instant,
) -> Vec<WorkerOut> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..ctx.workers)
            .map(|_| {
                let tx = tx.clone();
                scope.spawn(move || {
                    let out = work(ctx, level);
                    drop(tx);
                    out
                })
            })
            .collect();
        drop(tx);
        if let Some(progress) = &ctx.config.progress {
            // Returns when every worker has dropped its sender.
            loop {
                let wait = PROGRESS_EVERY.saturating_sub(last_progress.elapsed());
                match rx.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let elapsed = ctx.start.elapsed();
                        let unique = level.seen.len + level.next.count.load(Ordering::Relaxed);
                        let claimed = level.cursor.load(Ordering::Relaxed);
                        progress(&Progress {
                            unique_states: unique,
                            transitions: transitions_before
                                + level.transitions.load(Ordering::Relaxed),
                            states_per_second: unique as f64 / elapsed.as_secs_f64().max(1e-9),
                            queue: level.frontier.len().saturating_sub(claimed),
                            depth,
                            elapsed,
                        });
                        *last_progress = Instant::now();
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Ok(()) => {}
                }
            }
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// One worker's share of a depth.
fn work<M: Model>(ctx: &Context<'_, M>, level: &Level<'_, M::State>) -> WorkerOut {
    let model = ctx.model;
    let max_states = ctx.config.max_states.unwrap_or(u64::MAX);
    let mut out = WorkerOut {
        findings: vec![None; ctx.slots()],
        coverage: Coverage::new(),
        transitions: 0,
        truncated: false,
    };
    let mut actions = Vec::new();
    let mut successors = Vec::new();
    let mut unflushed = 0u64;
    let used_bytes = || {
        level.base_bytes
            + level.next.count.load(Ordering::Relaxed) * level.candidate_bytes
            + ctx.memo.bytes()
    };
    loop {
        let start = level.cursor.fetch_add(BLOCK, Ordering::Relaxed);
        if start >= level.frontier.len() {
            break;
        }
        for pos in start..(start + BLOCK).min(level.frontier.len()) {
            if ctx.aborted() {
                return out;
            }
            if pos.is_multiple_of(256) {
                if let Some(max) = ctx.config.max_memory_bytes {
                    if used_bytes() >= max {
                        ctx.abort(StopReason::MaxMemory);
                        return out;
                    }
                }
            }
            let node = &level.frontier[pos];
            actions.clear();
            model.actions(&node.state, &mut actions);
            for (i, action) in actions.iter().enumerate() {
                if let Some(next) = model.next_state(&node.state, action, &mut out.coverage) {
                    successors.push((i as u32, next));
                }
            }
            out.transitions += successors.len() as u64;
            unflushed += successors.len() as u64;
            let better = |slot: usize| {
                !level.decided[slot] && pos < level.best[slot].load(Ordering::Relaxed)
            };
            let used = if ctx.config.max_memory_bytes.is_some() {
                used_bytes()
            } else {
                0
            };
            let at = Visit {
                pos,
                has_successor: !successors.is_empty(),
                better: &better,
                used_bytes: used,
            };
            ctx.visit(&node.state, at, &mut out.coverage, &mut out.findings);
            for (slot, found) in out.findings.iter().enumerate() {
                if let Some((p, _)) = found {
                    level.best[slot].fetch_min(*p, Ordering::Relaxed);
                }
            }
            for (i, next) in successors.drain(..) {
                let key = ctx.key(&next);
                if level.seen.contains(key) {
                    continue;
                }
                if !level.expand {
                    out.truncated = true;
                    continue;
                }
                let candidate = Candidate {
                    order: (pos, i),
                    parent: node.key,
                    state: next,
                };
                if level.next.offer(key, candidate)
                    && level.seen.len + level.next.count.load(Ordering::Relaxed) > max_states
                {
                    ctx.abort(StopReason::MaxStates);
                }
            }
            if unflushed >= 256 {
                level.transitions.fetch_add(unflushed, Ordering::Relaxed);
                unflushed = 0;
            }
        }
    }
    level.transitions.fetch_add(unflushed, Ordering::Relaxed);
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    use crate::test_models::{
        naive, summary, LockOrder, Mutexes, RacyCounter, Release, Slow, Spinner, Swapped,
    };
    use crate::{check, CheckConfig, Model, Outcome, Progress, StopReason};

    fn config(workers: usize, symmetry: bool) -> CheckConfig {
        CheckConfig {
            workers,
            symmetry,
            ..CheckConfig::default()
        }
    }

    /// Verdicts, counts, depth and traces are the same with 1, 2 and 4 workers.
    fn same_for_all_worker_counts<M: Model>(model: &M, symmetry: bool) {
        let runs: Vec<_> = [1, 2, 4]
            .into_iter()
            .map(|w| {
                let r = check(model, &config(w, symmetry));
                let s = &r.stats;
                (
                    r.outcome,
                    s.unique_states,
                    s.transitions,
                    s.max_depth,
                    summary(&r),
                    r.unreached_labels.clone(),
                )
            })
            .collect();
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
    }

    #[test]
    fn results_do_not_depend_on_the_worker_count() {
        same_for_all_worker_counts(&RacyCounter { threads: 3 }, false);
        same_for_all_worker_counts(&LockOrder, false);
        for release in [
            Release::Internal,
            Release::External,
            Release::AfterKnock,
            Release::Never,
        ] {
            same_for_all_worker_counts(&Spinner::new(release), false);
        }
        for (buggy, symmetry) in [(false, false), (true, false), (true, true)] {
            let model = Mutexes {
                procs: 4,
                rounds: 2,
                buggy,
            };
            same_for_all_worker_counts(&model, symmetry);
        }
        same_for_all_worker_counts(&Swapped, true);
    }

    #[test]
    fn many_violations_at_one_depth_pick_the_smallest_path() {
        // With 4 buggy processes, every pair can be critical together after 2 steps; the
        // smallest path is process 0 then process 1 (action 1 in the second state).
        let model = Mutexes {
            procs: 4,
            rounds: 2,
            buggy: true,
        };
        for workers in [1, 2, 4] {
            let r = check(&model, &config(workers, false));
            let d = r.discovery("mutual-exclusion").unwrap();
            assert_eq!(d.trace.as_ref().unwrap().to_token(), "0/0/1");
        }
    }

    fn mutexes() -> Mutexes {
        Mutexes {
            procs: 3,
            rounds: 2,
            buggy: false,
        }
    }

    #[test]
    fn max_states_stops_at_exactly_that_many() {
        for workers in [1, 2] {
            let c = CheckConfig {
                max_states: Some(10),
                ..config(workers, false)
            };
            let r = check(&mutexes(), &c);
            assert_eq!(r.outcome, Outcome::Incomplete(StopReason::MaxStates));
            assert_eq!(r.stats.unique_states, 10);
            assert!(!r.is_ok());
            assert!(!r.unreached_labels_are_final());
        }
        // A limit equal to the state count does not cut anything.
        let c = CheckConfig {
            max_states: Some(81),
            ..config(2, false)
        };
        let r = check(&mutexes(), &c);
        assert_eq!(r.outcome, Outcome::Complete);
        assert_eq!(r.stats.unique_states, 81);
    }

    #[test]
    fn max_depth_stops_below_the_limit() {
        let c = CheckConfig {
            max_depth: Some(2),
            ..config(2, false)
        };
        let r = check(&mutexes(), &c);
        assert_eq!(r.outcome, Outcome::Incomplete(StopReason::MaxDepth));
        assert_eq!(r.stats.max_depth, 2);
        // Depths 0, 1 and 2: the initial state, 3 with one process critical, 3 with one done.
        assert_eq!(r.stats.unique_states, 7);
        // A limit at the true depth cuts nothing.
        let depth = naive(&mutexes(), false).depth;
        let c = CheckConfig {
            max_depth: Some(depth),
            ..config(2, false)
        };
        assert_eq!(check(&mutexes(), &c).outcome, Outcome::Complete);
    }

    #[test]
    fn the_stop_flag_ends_the_run() {
        let c = CheckConfig {
            stop: Arc::new(AtomicBool::new(true)),
            ..config(2, false)
        };
        let r = check(&mutexes(), &c);
        assert_eq!(r.outcome, Outcome::Incomplete(StopReason::Stopped));
        assert!(r.stats.unique_states < 81);
    }

    #[test]
    fn the_memory_limit_ends_the_run() {
        let c = CheckConfig {
            max_memory_bytes: Some(1),
            ..config(2, false)
        };
        let r = check(&mutexes(), &c);
        assert_eq!(r.outcome, Outcome::Incomplete(StopReason::MaxMemory));
        let c = CheckConfig {
            max_memory_bytes: Some(1 << 30),
            ..config(2, false)
        };
        assert_eq!(check(&mutexes(), &c).outcome, Outcome::Complete);
    }

    #[test]
    fn discoveries_before_a_limit_are_kept() {
        let model = Mutexes {
            procs: 3,
            rounds: 2,
            buggy: true,
        };
        let c = CheckConfig {
            max_depth: Some(3),
            ..config(2, false)
        };
        let r = check(&model, &c);
        assert!(!r.outcome.is_complete());
        assert!(r.discovery("mutual-exclusion").is_some());
        // Not satisfied yet, but the run was cut: unknown, not "never satisfied".
        assert!(r.discovery("all-done").is_none());
    }

    #[test]
    fn progress_is_reported_while_the_run_lasts() {
        let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let c = CheckConfig {
            progress: Some(Arc::new(move |p: &Progress| sink.lock().unwrap().push(*p))),
            ..config(1, false)
        };
        // 81 states, about 170 transitions of 4 ms each: about 0.7 s.
        let slow = Slow(mutexes(), std::time::Duration::from_millis(4));
        let r = check(&slow, &c);
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty());
        for (a, b) in seen.iter().zip(seen.iter().skip(1)) {
            assert!(b.elapsed >= a.elapsed + std::time::Duration::from_millis(200));
            assert!(b.unique_states >= a.unique_states);
        }
        let last = seen.last().unwrap();
        assert!(last.unique_states <= r.stats.unique_states);
        assert!(last.transitions <= r.stats.transitions);
        assert!(last.depth <= r.stats.max_depth);
    }
}
