//! Level-synchronous parallel breadth-first search.
//!
//! The states of one depth (the *frontier*) are explored in parallel; their new successors are
//! collected, and only when the whole depth is done do they become the next frontier. The path
//! to any state is a shortest one, kept as an initial-state index and action indices and
//! rebuilt by replaying the model ([`crate::Trace`]).
//!
//! # Memory
//!
//! - The seen-set holds only the 64-bit fingerprints (of the representatives with symmetry on),
//!   8 bytes per state, in one sorted array indexed by the top bits: no hash-table slack, and
//!   no lossy hashing beyond the fingerprint itself (the report gives the collision
//!   probability). Workers only read it while a depth is explored; the new fingerprints are
//!   merged in between depths, in place. The array lives in its own mapping, in huge pages
//!   where the kernel allows ([`Words`]).
//! - New states of a depth are first collected in a concurrent open-addressing table of
//!   (fingerprint, order) pairs, where the order names the parent and action (see below). For
//!   a packing model that asks for it ([`Model::rebuild_frontier`], the default) the states
//!   themselves are not kept: once the depth is done, the winning (parent, action) pairs are
//!   replayed to build the next frontier, one `next_state` per new state. Otherwise each
//!   worker keeps the successors it was first to reach (packed, if the model packs), and those
//!   still the smallest for their key after the depth make the next frontier.
//! - Parent links are kept per depth as a byte stream of small deltas (about 2 bytes per
//!   state), enough to rebuild the path to any state of the search.
//! - The frontier stores states packed ([`Model::pack`]) if the model packs them.
//!
//! # Determinism
//!
//! Results do not depend on the number of workers or on their timing. Each candidate successor
//! is ordered by `(position of its parent in the frontier, action index)`; when several parents
//! reach the same new state, the smallest order wins (an atomic minimum), and the next frontier
//! is sorted by it. By induction the frontier is sorted by path (initial-state index, then
//! action indices), each state's stored path is the lexicographically smallest shortest path,
//! and the next frontier is exactly what a sequential search would build. A finding at depth `d`
//! is kept for the smallest frontier position, so the reported trace is the smallest shortest
//! one as well.
//!
//! # Symmetry
//!
//! With symmetry on, states are deduplicated on the fingerprint of [`Model::representative`],
//! but the frontier keeps the *original* successor (the one the winning parent and action
//! produce), and paths continue from it. The representative may not be reachable at all, and
//! the action indices of a path are only meaningful in the states that the replay reaches,
//! which are the originals. (Stateright marks the same choice with an "IMPORTANT" comment.)

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, RwLock};
use std::time::{Duration, Instant};

use crate::explore::{merge_findings, Context, Decided, SearchEnd, SlotFindings, Visit};
use crate::fingerprint::{estimated_size, Fingerprint};
use crate::mapped::{advise_huge_pages, release_freed_memory, Words};
use crate::model::{Coverage, Model};
use crate::report::{Outcome, StopReason};
use crate::Progress;

/// Frontier positions a worker claims at a time.
const BLOCK: usize = 64;
/// How many frontier states a worker has between their two stages (see [`work`]): the cache
/// misses of a state's lookups overlap with the first stage of the next `PIPELINE - 1` states.
const PIPELINE: usize = 2;
/// The most successors a worker keeps for [`Model::next_state_reusing`] to build in.
const SPARE_STATES: usize = 64;
/// Level-table slots a worker reserves at a time.
const RESERVE_CHUNK: usize = 1024;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Bits of an order that hold the action index; the rest hold the parent's position.
const ACTION_BITS: u32 = 20;
const ACTION_MASK: u64 = (1 << ACTION_BITS) - 1;
/// The seen-set has a bucket (an entry in its index) per this many fingerprints, at most.
const BUCKET_TARGET: usize = 128;
/// Steps of the linear walk from the guessed position before a binary search.
const WALK: usize = 32;
/// Below this many keys, merging them into the seen-set is not worth a thread.
const PARALLEL_MIN: usize = 1 << 14;

/// Asks the CPU to start loading `value`'s cache line, so that several lookups' cache misses
/// overlap instead of following one another.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults and changes no memory, whatever the
    // address (here a valid reference anyway).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// A value alone on its cache lines, so that workers updating different counters do not slow
/// each other down.
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Sorts `v` by `key`; with `parallel`, first moves the elements whose key is below `mid` to
/// the front, then sorts both parts at once on two threads.
fn sort_split<T: Send>(v: &mut [T], key: impl Fn(&T) -> u64 + Sync, mid: u64, parallel: bool) {
    if !parallel || v.len() < PARALLEL_MIN {
        v.sort_unstable_by_key(|x| key(x));
        return;
    }
    // Partition: everything before `low` is below `mid`.
    let mut low = 0;
    for i in 0..v.len() {
        if key(&v[i]) < mid {
            v.swap(low, i);
            low += 1;
        }
    }
    let (below, rest) = v.split_at_mut(low);
    std::thread::scope(|scope| {
        scope.spawn(|| below.sort_unstable_by_key(|x| key(x)));
        rest.sort_unstable_by_key(|x| key(x));
    });
}

/// The order of a successor: its parent's frontier position, then the action index.
fn order(pos: usize, action: usize) -> u64 {
    assert!(
        action as u64 <= ACTION_MASK,
        "a state has more than {ACTION_MASK} actions"
    );
    ((pos as u64) << ACTION_BITS) | action as u64
}

fn split_order(order: u64) -> (usize, usize) {
    (
        (order >> ACTION_BITS) as usize,
        (order & ACTION_MASK) as usize,
    )
}

/// Every fingerprint found so far, sorted, in one array indexed by the top `bits`.
struct Seen {
    bits: u32,
    /// All fingerprints, sorted.
    keys: Words,
    /// Bucket `b` (the keys whose top `bits` are `b`) is `keys[starts[b]..starts[b + 1]]`.
    starts: Vec<usize>,
}

impl Seen {
    fn new() -> Self {
        let bits = 4;
        Seen {
            bits,
            keys: Words::new(),
            starts: vec![0; (1 << bits) + 1],
        }
    }

    /// How many fingerprints the set holds.
    fn len(&self) -> u64 {
        self.keys.len() as u64
    }

    #[inline]
    fn bucket_of(bits: u32, key: Fingerprint) -> usize {
        (key >> (64 - bits)) as usize
    }

    /// The bucket of `key` and the guessed position of `key` in it. Fingerprints are uniform,
    /// so the bits below the bucket's predict the position.
    #[inline]
    fn locate(&self, key: Fingerprint) -> (&[Fingerprint], usize) {
        let b = Self::bucket_of(self.bits, key);
        let (lo, hi) = (self.starts[b], self.starts[b + 1]);
        let bucket = &self.keys[lo..hi];
        let below = key << self.bits;
        let guess = ((u128::from(below) * bucket.len() as u128) >> 64) as usize;
        (bucket, guess)
    }

    #[cfg(test)]
    fn contains(&self, key: Fingerprint) -> bool {
        let (bucket, guess) = self.locate(key);
        bucket
            .get(guess)
            .is_some_and(|&at| Self::finish(bucket, guess, at, key))
    }

    /// Whether `key` is in `bucket`, whose element at `guess` is `at`: walk a few steps from
    /// the guess, then fall back to a binary search on the right side.
    #[inline]
    fn finish(bucket: &[Fingerprint], guess: usize, at: Fingerprint, key: Fingerprint) -> bool {
        if at == key {
            return true;
        }
        if at < key {
            let rest = &bucket[guess + 1..];
            for (n, &k) in rest.iter().enumerate() {
                if k >= key {
                    return k == key;
                }
                if n == WALK {
                    return rest[n + 1..].binary_search(&key).is_ok();
                }
            }
            false
        } else {
            let rest = &bucket[..guess];
            for (n, &k) in rest.iter().rev().enumerate() {
                if k <= key {
                    return k == key;
                }
                if n == WALK {
                    return rest[..rest.len() - n - 1].binary_search(&key).is_ok();
                }
            }
            false
        }
    }

    /// Adds `add`: sorted, distinct, and none of them in the set yet. The array grows in
    /// place and the two sorted runs are merged from the back, so no second copy is needed.
    fn insert_sorted(&mut self, add: &[Fingerprint]) {
        let old = self.keys.len();
        self.keys.grow_zeroed(add.len());
        let keys = &mut self.keys;
        let (mut i, mut j, mut w) = (old, add.len(), keys.len());
        while j > 0 {
            w -= 1;
            if i > 0 && keys[i - 1] > add[j - 1] {
                i -= 1;
                keys[w] = keys[i];
            } else {
                j -= 1;
                keys[w] = add[j];
            }
        }
        let bits_before = self.bits;
        while keys.len() > BUCKET_TARGET << self.bits && self.bits < 40 {
            self.bits += 1;
        }
        let bits = self.bits;
        let buckets = 1usize << bits;
        if bits == bits_before {
            // Each bucket starts later by the number of added keys in the buckets before it.
            let mut before = 0;
            let mut a = add.iter().peekable();
            for b in 0..buckets {
                while a.next_if(|&&k| Self::bucket_of(bits, k) < b).is_some() {
                    before += 1;
                }
                self.starts[b] += before;
            }
            self.starts[buckets] = keys.len();
        } else {
            self.starts.clear();
            self.starts.reserve_exact(buckets + 1);
            for (i, &k) in keys.iter().enumerate() {
                let b = Self::bucket_of(bits, k);
                while self.starts.len() <= b {
                    self.starts.push(i);
                }
            }
            while self.starts.len() <= buckets {
                self.starts.push(keys.len());
            }
        }
    }

    fn bytes(&self) -> u64 {
        (self.keys.len() * 8 + self.starts.capacity() * 8) as u64
    }
}

const EMPTY: u64 = 0;
const NO_ORDER: u64 = u64::MAX;

/// The new states of one depth: open addressing over (fingerprint, smallest order) pairs.
/// Fingerprint 0 marks an empty slot, so the state with that fingerprint is kept aside.
struct Table {
    slots: Vec<[AtomicU64; 2]>,
    zero: AtomicU64,
}

impl Table {
    fn new(capacity: usize) -> Self {
        let n = capacity.max(64);
        let mut slots: Vec<[AtomicU64; 2]> = Vec::with_capacity(n);
        // Lookups land anywhere in the table, as in the seen-set: huge pages spare them TLB
        // misses (asked for before the memory is first written, so that it is backed by them
        // from the start).
        advise_huge_pages(
            slots.as_ptr().cast(),
            n * std::mem::size_of::<[AtomicU64; 2]>(),
        );
        slots.extend((0..n).map(|_| [AtomicU64::new(EMPTY), AtomicU64::new(NO_ORDER)]));
        Table {
            slots,
            zero: AtomicU64::new(NO_ORDER),
        }
    }

    /// How many entries the table may hold (three quarters of the slots).
    fn limit(&self) -> usize {
        self.slots.len() / 4 * 3
    }

    fn bytes(&self) -> u64 {
        self.slots.len() as u64 * 16
    }

    /// The first slot to probe for `key` (to load it early).
    #[inline]
    fn home(&self, key: Fingerprint) -> &[AtomicU64; 2] {
        &self.slots[((u128::from(key) * self.slots.len() as u128) >> 64) as usize]
    }

    /// Records that `key` is reached with `order`. Returns whether `key` is new to the table,
    /// and whether `order` is now the smallest recorded for it. The caller has made sure there
    /// is room.
    #[inline]
    fn insert_min(&self, key: Fingerprint, order: u64) -> (bool, bool) {
        if key == EMPTY {
            let before = self.zero.fetch_min(order, Ordering::Relaxed);
            return (before == NO_ORDER, order < before);
        }
        let len = self.slots.len();
        let mut i = ((u128::from(key) * len as u128) >> 64) as usize;
        loop {
            let slot = &self.slots[i];
            let mut k = slot[0].load(Ordering::Relaxed);
            if k == EMPTY {
                match slot[0].compare_exchange(EMPTY, key, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        let before = slot[1].fetch_min(order, Ordering::Relaxed);
                        return (true, order < before);
                    }
                    Err(actual) => k = actual,
                }
            }
            if k == key {
                let smaller = order < slot[1].load(Ordering::Relaxed)
                    && order < slot[1].fetch_min(order, Ordering::Relaxed);
                return (false, smaller);
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }

    /// A table twice as large with the same entries.
    fn grown(&self) -> Table {
        let bigger = Table::new(self.slots.len() * 2);
        for slot in &self.slots {
            let key = slot[0].load(Ordering::Relaxed);
            if key != EMPTY {
                bigger.insert_min(key, slot[1].load(Ordering::Relaxed));
            }
        }
        bigger
            .zero
            .store(self.zero.load(Ordering::Relaxed), Ordering::Relaxed);
        bigger
    }

    /// The (fingerprint, order) entries, in the table's own memory.
    fn into_entries(self) -> Vec<[u64; 2]> {
        let zero = self.zero.into_inner();
        let mut entries: Vec<[u64; 2]> = self
            .slots
            .into_iter()
            .map(|[k, o]| [k.into_inner(), o.into_inner()])
            .filter(|e| e[0] != EMPTY)
            .collect();
        if zero != NO_ORDER {
            entries.push([EMPTY, zero]);
        }
        entries
    }

    /// The smallest order recorded for `key`, or `NO_ORDER` if the table does not hold it.
    fn order_of(&self, key: Fingerprint) -> u64 {
        if key == EMPTY {
            return self.zero.load(Ordering::Relaxed);
        }
        let len = self.slots.len();
        let mut i = ((u128::from(key) * len as u128) >> 64) as usize;
        loop {
            let slot = &self.slots[i];
            let k = slot[0].load(Ordering::Relaxed);
            if k == key || k == EMPTY {
                return slot[1].load(Ordering::Relaxed);
            }
            i += 1;
            if i == len {
                i = 0;
            }
        }
    }
}

/// The states of one depth, in frontier order: as they are, or packed.
enum States<S> {
    Raw(Vec<S>),
    Packed { words: usize, data: Vec<u64> },
}

impl<S> States<S> {
    fn len(&self) -> usize {
        match self {
            States::Raw(v) => v.len(),
            States::Packed { words, data } => data.len() / words,
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with state number `i`.
    #[inline]
    fn with<M: Model<State = S>, R>(&self, model: &M, i: usize, f: impl FnOnce(&S) -> R) -> R {
        match self {
            States::Raw(v) => f(&v[i]),
            States::Packed { words, data } => f(&model.unpack(&data[i * words..(i + 1) * words])),
        }
    }

    /// Calls `f` with state number `i`; a packed state is unpacked into `scratch` (kept for
    /// the next call, so that its heap memory is reused).
    #[inline]
    fn with_scratch<M: Model<State = S>, R>(
        &self,
        model: &M,
        i: usize,
        scratch: &mut Option<S>,
        f: impl FnOnce(&S) -> R,
    ) -> R {
        match self {
            States::Raw(v) => f(&v[i]),
            States::Packed { .. } => f(self.unpack_to(model, i, scratch)),
        }
    }

    /// Packed state number `i`, unpacked into `scratch` (reusing the memory of the state
    /// unpacked there before).
    fn unpack_to<'s, M: Model<State = S>>(
        &self,
        model: &M,
        i: usize,
        scratch: &'s mut Option<S>,
    ) -> &'s S {
        let States::Packed { words, data } = self else {
            unreachable!("only a packed frontier is unpacked")
        };
        let w = &data[i * words..(i + 1) * words];
        match scratch {
            Some(s) => model.unpack_into(w, s),
            None => *scratch = Some(model.unpack(w)),
        }
        scratch.as_ref().expect("unpacked above")
    }

    fn empty_like(model: &impl Model<State = S>) -> Self {
        match model.packed_words() {
            0 => States::Raw(Vec::new()),
            words => States::Packed {
                words,
                data: Vec::new(),
            },
        }
    }

    fn push<M: Model<State = S>>(&mut self, model: &M, state: S) {
        match self {
            States::Raw(v) => v.push(state),
            States::Packed { .. } => self.push_packed(model, &state),
        }
    }

    /// Appends the state in `slot`: a list of states takes it, a packed list packs it and
    /// leaves it in `slot` (to build another successor in).
    fn keep<M: Model<State = S>>(&mut self, model: &M, slot: &mut Option<S>) {
        match self {
            States::Raw(v) => v.push(slot.take().expect("each successor is kept once")),
            States::Packed { .. } => self.push_packed(model, slot.as_ref().expect("recorded")),
        }
    }

    fn push_packed<M: Model<State = S>>(&mut self, model: &M, state: &S) {
        let States::Packed { words, data } = self else {
            unreachable!("only a packed list packs")
        };
        let at = data.len();
        data.resize(at + *words, 0);
        model.pack(state, &mut data[at..]);
    }
}

/// Per depth, the parent position (as a delta to the previous entry's) and action index of
/// every state, as LEB128 numbers.
#[derive(Default)]
struct Parents {
    bytes: Vec<u8>,
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

impl Parents {
    /// Appends the link of the next state of the depth (links come in frontier order, so
    /// parent positions never decrease).
    fn push(&mut self, last: &mut usize, pos: usize, action: usize) {
        put_varint(&mut self.bytes, (pos - *last) as u64);
        put_varint(&mut self.bytes, action as u64);
        *last = pos;
    }

    /// The parent position and action index of state number `index`.
    fn get(&self, index: usize) -> (usize, usize) {
        let (mut at, mut pos) = (0, 0usize);
        for i in 0..=index {
            pos += get_varint(&self.bytes, &mut at) as usize;
            let action = get_varint(&self.bytes, &mut at) as usize;
            if i == index {
                return (pos, action);
            }
        }
        unreachable!("the loop returns at `index`")
    }
}

/// What the workers share while they explore one depth.
struct Level<'l, S> {
    frontier: &'l States<S>,
    seen: &'l Seen,
    table: RwLock<Table>,
    // invariant: at least the number of entries of `table` (plus room reserved by workers).
    reserved: Padded<AtomicUsize>,
    /// New states so far (each worker adds its own from time to time).
    count: Padded<AtomicU64>,
    table_bytes: Padded<AtomicU64>,
    // invariant: positions below `cursor` are claimed by some worker.
    cursor: Padded<AtomicUsize>,
    /// The keys of the frontier's states, if kept (for unpacked states, whose keys are
    /// expensive to compute again).
    frontier_keys: Option<&'l [Fingerprint]>,
    /// Whether successors may be added (false at the maximum depth).
    expand: bool,
    /// The expected number of new states at this depth (from the previous depth's growth).
    expected: usize,
    /// Whether the next frontier is replayed from the table (see [`run`]), so workers need not
    /// keep their successors.
    replay: bool,
    /// Estimated bytes per new state that the workers keep (0 when replaying).
    kept_bytes: u64,
    /// Slots decided at a smaller depth.
    decided: Vec<bool>,
    /// Per slot, the smallest frontier position with a finding at this depth so far.
    best: Vec<AtomicUsize>,
    transitions: Padded<AtomicU64>,
    /// Estimated bytes of the seen-set, the parent links and the frontier.
    base_bytes: u64,
}

struct WorkerOut<S> {
    findings: SlotFindings,
    coverage: Coverage,
    transitions: u64,
    truncated: bool,
    /// (order, fingerprint) of each successor whose order was the smallest for its
    /// fingerprint when it was recorded, in order; and the successors themselves.
    found: Vec<(u64, Fingerprint)>,
    states: States<S>,
}

/// A slot decided by the search: where the state is, its key, and the finding.
type DecidedAt = (usize, usize, Fingerprint, crate::explore::Finding);

/// Runs the search to its end.
pub(crate) fn run<M: Model>(ctx: &Context<'_, M>) -> SearchEnd {
    let (model, config) = (ctx.model, ctx.config);
    let mut seen = Seen::new();
    let mut frontier = States::empty_like(model);
    let mut init_index = Vec::new();
    let mut init_keys = Vec::new();
    for (i, state) in model.init_states().into_iter().enumerate() {
        let key = ctx.key(&state);
        if !init_keys.contains(&key) {
            init_keys.push(key);
            init_index.push(i);
            frontier.push(model, state);
        }
    }
    let init_frontier_keys = init_keys.clone();
    init_keys.sort_unstable();
    seen.insert_sorted(&init_keys);
    let mut parents: Vec<Parents> = vec![Parents::default()];
    let initial_states = frontier.len() as u64;
    let mut decided: Vec<Option<DecidedAt>> = vec![None; ctx.slots()];
    let mut coverage = Coverage::new();
    let mut transitions = 0u64;
    let mut depth = 0usize;
    let mut last_progress = Instant::now();
    let mut growth = 1.0f64;
    // Packed states the model says are cheap to rebuild: keep only (fingerprint, order) pairs
    // while a depth is explored, and replay the winners. Other states are kept as they are
    // found.
    let replay = model.packed_words() > 0 && model.rebuild_frontier();
    let mut frontier_keys = (!replay).then_some(init_frontier_keys);
    let outcome = loop {
        if frontier.is_empty() {
            break Outcome::Complete;
        }
        sample_state_size(ctx, &frontier);
        let frontier_bytes = match &frontier {
            States::Raw(v) => {
                v.len() as u64
                    * (std::mem::size_of::<M::State>() as u64
                        + ctx.state_heap_bytes.load(Ordering::Relaxed))
            }
            States::Packed { data, .. } => data.capacity() as u64 * 8,
        };
        let parent_bytes: u64 = parents.iter().map(|p| p.bytes.capacity() as u64).sum();
        let keys_bytes = frontier_keys
            .as_ref()
            .map_or(0, |k| k.capacity() as u64 * 8);
        // A kept successor: its (order, fingerprint) pair and the state, packed or not.
        let kept_bytes = match (&frontier, replay) {
            (_, true) => 0,
            (States::Raw(_), false) => {
                16 + std::mem::size_of::<M::State>() as u64
                    + ctx.state_heap_bytes.load(Ordering::Relaxed)
            }
            (States::Packed { words, .. }, false) => 16 + *words as u64 * 8,
        };
        let expected = (frontier.len() as f64 * growth * 1.1) as usize;
        let table = Table::new(expected * 4 / 3 + 64);
        let level = Level {
            frontier: &frontier,
            seen: &seen,
            reserved: Padded(AtomicUsize::new(0)),
            count: Padded(AtomicU64::new(0)),
            table_bytes: Padded(AtomicU64::new(table.bytes())),
            table: RwLock::new(table),
            cursor: Padded(AtomicUsize::new(0)),
            expand: config.max_depth.is_none_or(|max| depth < max),
            frontier_keys: frontier_keys.as_deref(),
            expected,
            replay,
            kept_bytes,
            decided: decided.iter().map(Option::is_some).collect(),
            best: (0..ctx.slots())
                .map(|_| AtomicUsize::new(usize::MAX))
                .collect(),
            transitions: Padded(AtomicU64::new(0)),
            base_bytes: seen.bytes() + parent_bytes + frontier_bytes + keys_bytes,
        };
        let mut outs = run_level(ctx, &level, depth, transitions, &mut last_progress);
        let mut findings: SlotFindings = vec![None; ctx.slots()];
        let mut truncated = false;
        for out in &mut outs {
            merge_findings(&mut findings, std::mem::take(&mut out.findings));
            coverage.merge(&out.coverage);
            transitions += out.transitions;
            truncated |= out.truncated;
        }
        for (slot, found) in findings.into_iter().enumerate() {
            if let (None, Some((pos, finding))) = (&decided[slot], found) {
                let key = frontier.with(model, pos, |s| ctx.key(s));
                decided[slot] = Some((depth, pos, key, finding));
            }
        }
        let table = level.table.into_inner().expect("level table lock");
        let limit = if ctx.abort_reason() == Some(StopReason::MaxStates) {
            let room = config.max_states.unwrap_or(0).saturating_sub(seen.len());
            usize::try_from(room).unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let (next, links, mut keys) = if replay {
            drop(outs);
            let entries = table.into_entries();
            replay_frontier(ctx, &frontier, entries, limit)
        } else {
            let mut lists: Vec<_> = outs.into_iter().map(|o| (o.found, o.states)).collect();
            if ctx.workers > 1 {
                // Keep only the entries whose order is the smallest for their key. (With one
                // worker, every recorded successor was the first, so the smallest, for its key.)
                std::thread::scope(|scope| {
                    for (found, states) in &mut lists {
                        let table = &table;
                        scope.spawn(move || keep_smallest(found, states, table));
                    }
                });
            }
            drop(table);
            merge_lists(model, lists, limit)
        };
        if !replay {
            frontier_keys = Some(keys.clone());
        }
        sort_split(&mut keys, |&k| k, 1 << 63, ctx.workers > 1);
        seen.insert_sorted(&keys);
        drop(keys);
        // The level's table and buffers are gone: let the allocator give their memory back,
        // so that it does not stay resident beside the growing seen-set.
        release_freed_memory();
        growth = next.len() as f64 / frontier.len() as f64;
        if !next.is_empty() {
            parents.push(links);
        }
        frontier = next;
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
            found.map(|(at_depth, pos, key, finding)| {
                let mut path = Vec::with_capacity(at_depth);
                let mut pos = pos;
                for d in (1..=at_depth).rev() {
                    let (parent, action) = parents[d].get(pos);
                    path.push(action);
                    pos = parent;
                }
                path.reverse();
                Decided {
                    finding,
                    key,
                    init: init_index[pos],
                    path,
                }
            })
        })
        .collect();
    SearchEnd {
        outcome,
        initial_states,
        unique_states: seen.len(),
        transitions,
        max_depth: depth,
        discoveries,
        coverage,
    }
}

/// For a packed model, the next frontier and its parent links and keys: replays each winning
/// (parent, action) pair of the table's `entries`, in parallel over contiguous chunks, into one
/// buffer. Only the pairs are kept while a depth is explored, which takes less memory than the
/// successors themselves.
fn replay_frontier<M: Model>(
    ctx: &Context<'_, M>,
    frontier: &States<M::State>,
    mut entries: Vec<[u64; 2]>,
    limit: usize,
) -> (States<M::State>, Parents, Vec<Fingerprint>) {
    let model = ctx.model;
    let words = model.packed_words();
    let mid = ((frontier.len() / 2) as u64) << ACTION_BITS;
    sort_split(&mut entries, |e| e[1], mid, ctx.workers > 1);
    entries.truncate(limit);
    let mut links = Parents {
        bytes: Vec::with_capacity(entries.len() * 2),
    };
    let mut last = 0;
    for e in &entries {
        let (pos, action) = split_order(e[1]);
        links.push(&mut last, pos, action);
    }
    links.bytes.shrink_to_fit();
    let mut data = vec![0u64; entries.len() * words];
    let chunks = if entries.len() >= PARALLEL_MIN {
        ctx.workers
    } else {
        1
    };
    let per = entries.len().div_ceil(chunks).max(1);
    let build = |part: &[[u64; 2]], out: &mut [u64]| {
        let mut actions = Vec::new();
        // Entries are sorted by parent: unpack each parent once, for all its winners. The
        // parent and the successor are built in the same memory each time.
        let mut parent: Option<M::State> = None;
        let mut parent_pos = usize::MAX;
        let mut spare: Option<M::State> = None;
        let mut scratch = Coverage::new();
        for (e, out) in part.iter().zip(out.chunks_exact_mut(words)) {
            let (pos, action) = split_order(e[1]);
            if parent_pos != pos {
                parent_pos = pos;
                actions.clear();
                model.actions(frontier.unpack_to(model, pos, &mut parent), &mut actions);
            }
            let s = parent.as_ref().expect("unpacked above");
            let next = model.next_state_reusing(s, &actions[action], &mut scratch, spare.take());
            let next = next.expect(
                "the model is not deterministic (see the determinism contract on `Model`): an \
                 action that led somewhere no longer does",
            );
            model.pack(&next, out);
            spare = Some(next);
        }
    };
    std::thread::scope(|scope| {
        for (part, out) in entries.chunks(per).zip(data.chunks_mut(per * words)) {
            if chunks == 1 {
                build(part, out);
            } else {
                scope.spawn(move || build(part, out));
            }
        }
    });
    let keys = entries.iter().map(|e| e[0]).collect();
    (States::Packed { words, data }, links, keys)
}

/// One worker's recorded successors: (order, fingerprint) pairs and the states, in order.
type Found<S> = (Vec<(u64, Fingerprint)>, States<S>);

/// Removes from a worker's list of recorded successors those whose order is not the
/// smallest for their key, in place.
fn keep_smallest<S>(found: &mut Vec<(u64, Fingerprint)>, states: &mut States<S>, table: &Table) {
    let keep: Vec<bool> = found
        .iter()
        .map(|&(order, key)| table.order_of(key) == order)
        .collect();
    let mut flags = keep.iter();
    found.retain(|_| *flags.next().expect("one flag per entry"));
    match states {
        States::Raw(v) => {
            let mut flags = keep.iter();
            v.retain(|_| *flags.next().expect("one flag per state"));
        }
        States::Packed { words, data } => {
            let words = *words;
            let mut to = 0;
            for (i, &k) in keep.iter().enumerate() {
                if k {
                    data.copy_within(i * words..(i + 1) * words, to * words);
                    to += 1;
                }
            }
            data.truncate(to * words);
        }
    }
}

/// The next frontier, its parent links and its keys, from the workers' lists of recorded
/// successors (each sorted by order, each entry the smallest order for its key): merged by
/// order, at most `limit` of them.
fn merge_lists<M: Model>(
    model: &M,
    lists: Vec<Found<M::State>>,
    limit: usize,
) -> (States<M::State>, Parents, Vec<Fingerprint>) {
    enum Source<S> {
        Raw(std::vec::IntoIter<S>),
        Packed { data: Vec<u64>, at: usize },
    }
    if let [(found, _)] = lists.as_slice() {
        if found.len() <= limit {
            // One worker: its list is the next frontier as it is.
            let (found, states) = lists.into_iter().next().expect("one list");
            let mut links = Parents {
                bytes: Vec::with_capacity(found.len() * 2),
            };
            let mut last = 0usize;
            let mut keys = Vec::with_capacity(found.len());
            for &(order, key) in &found {
                let (pos, action) = split_order(order);
                links.push(&mut last, pos, action);
                keys.push(key);
            }
            links.bytes.shrink_to_fit();
            return (states, links, keys);
        }
    }
    let total: usize = lists.iter().map(|l| l.0.len()).sum::<usize>().min(limit);
    let mut out = States::empty_like(model);
    match &mut out {
        States::Raw(v) => v.reserve_exact(total),
        States::Packed { words, data } => data.reserve_exact(total * *words),
    }
    let words = model.packed_words();
    let mut links = Parents {
        bytes: Vec::with_capacity(total * 2),
    };
    let mut keys = Vec::with_capacity(total);
    type Head<S> = (Vec<(u64, Fingerprint)>, usize, Source<S>);
    let mut heads: Vec<Head<M::State>> = lists
        .into_iter()
        .map(|(found, states)| {
            let source = match states {
                States::Raw(v) => Source::Raw(v.into_iter()),
                States::Packed { data, .. } => Source::Packed { data, at: 0 },
            };
            (found, 0, source)
        })
        .collect();
    let mut last = 0usize;
    while keys.len() < limit {
        let Some(i) = (0..heads.len())
            .filter(|&i| heads[i].1 < heads[i].0.len())
            .min_by_key(|&i| heads[i].0[heads[i].1].0)
        else {
            break;
        };
        let (found, next, source) = &mut heads[i];
        let (order, key) = found[*next];
        *next += 1;
        match source {
            Source::Raw(states) => out.push(model, states.next().expect("one state per entry")),
            Source::Packed { data, at } => {
                if let States::Packed { data: into, .. } = &mut out {
                    into.extend_from_slice(&data[*at..*at + words]);
                }
                *at += words;
            }
        }
        let (pos, action) = split_order(order);
        links.push(&mut last, pos, action);
        keys.push(key);
    }
    links.bytes.shrink_to_fit();
    (out, links, keys)
}

/// Updates the per-state heap estimate from a few states of the frontier.
fn sample_state_size<M: Model>(ctx: &Context<'_, M>, frontier: &States<M::State>) {
    let len = frontier.len();
    let step = (len / 16).max(1);
    let sample: Vec<u64> = (0..len)
        .step_by(step)
        .take(16)
        .map(|i| frontier.with(ctx.model, i, estimated_size))
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
) -> Vec<WorkerOut<M::State>> {
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
                        let unique = level.seen.len() + level.count.load(Ordering::Relaxed);
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

/// The successors of one frontier state, between the two stages of a worker's pipeline.
struct Pending<'l, S> {
    pos: usize,
    /// (fingerprint, action index, bucket, guessed position) of each successor to look up.
    located: Vec<(Fingerprint, usize, &'l [Fingerprint], usize)>,
    /// The successors, in the order of `located`.
    nexts: Vec<Option<S>>,
}

impl<S> Pending<'_, S> {
    fn new() -> Self {
        Pending {
            pos: usize::MAX,
            located: Vec::new(),
            nexts: Vec::new(),
        }
    }
}

/// One worker's share of a depth.
///
/// Each frontier state goes through two stages: the first computes its successors and their
/// keys, asks the CPU to fetch the cache lines that the lookups will need, and checks the
/// properties; the second, run after the first stage of the next state, looks the keys up in
/// the seen-set and records the new ones in the level table. The cache misses of the lookups
/// thus overlap with useful work instead of stalling it.
fn work<M: Model>(ctx: &Context<'_, M>, level: &Level<'_, M::State>) -> WorkerOut<M::State> {
    let model = ctx.model;
    let max_states = ctx.config.max_states.unwrap_or(u64::MAX);
    let mut out = WorkerOut {
        findings: vec![None; ctx.slots()],
        coverage: Coverage::new(),
        transitions: 0,
        truncated: false,
        found: Vec::new(),
        states: States::empty_like(model),
    };
    if !level.replay {
        // Room for this worker's share of the expected new states, so that the lists do not
        // grow by doubling (which leaves up to half of them unused).
        let share = level.expected / ctx.workers + 16;
        out.found.reserve_exact(share);
        match &mut out.states {
            States::Raw(v) => v.reserve_exact(share),
            States::Packed { words, data } => data.reserve_exact(share * *words),
        }
    }
    let mut actions = Vec::new();
    // The states between their two stages, by frontier position modulo `PIPELINE`.
    let mut ring: Vec<Pending<'_, M::State>> = (0..PIPELINE).map(|_| Pending::new()).collect();
    // (fingerprint, action index, index in `nexts`) of successors not seen before this depth.
    let mut fresh: Vec<(Fingerprint, usize, usize)> = Vec::new();
    let mut spare: Vec<M::State> = Vec::new();
    // The state being explored, when the frontier is packed.
    let mut unpacked: Option<M::State> = None;
    let mut unflushed = 0u64;
    let mut unflushed_new = 0u64;
    // Table slots this worker has reserved and not used yet.
    let mut budget = 0usize;
    // Keys looked up at this depth, and how many of them were in the level table: while at
    // least half are, the table is probed first (see stage three).
    let (mut looked_up, mut in_table) = (0u64, 0u64);
    let limited = ctx.config.max_states.is_some();
    let used_bytes = || {
        level.base_bytes
            + level.table_bytes.load(Ordering::Relaxed)
            + level.count.load(Ordering::Relaxed) * level.kept_bytes
            + ctx.memo.bytes()
            + model.side_bytes()
    };
    let frontier = level.frontier;
    let mut table = level.table.read().expect("level table lock");
    let mut stopping = false;
    loop {
        // Let a worker that needs to grow the table in.
        drop(table);
        table = level.table.read().expect("level table lock");
        let start = level.cursor.fetch_add(BLOCK, Ordering::Relaxed);
        let end = (start + BLOCK).min(frontier.len());
        for pos in start..end + PIPELINE - 1 {
            // Stage one for `pos` (unless the block is done), then stage two for the state
            // `PIPELINE - 1` positions before.
            // On a stop, no new state starts stage one, but the states in the ring finish
            // stage two, so that every transition counted has been looked up.
            if pos < end && !stopping {
                if ctx.aborted() {
                    stopping = true;
                } else if pos.is_multiple_of(256) {
                    if let Some(max) = ctx.config.max_memory_bytes {
                        if used_bytes() >= max {
                            ctx.abort(StopReason::MaxMemory);
                            stopping = true;
                        }
                    }
                }
            }
            if pos < end && !stopping {
                let current = &mut ring[pos % PIPELINE];
                current.pos = pos;
                frontier.with_scratch(model, pos, &mut unpacked, |state| {
                    actions.clear();
                    model.actions(state, &mut actions);
                    let mut successors = 0u64;
                    let own = match level.frontier_keys {
                        Some(keys) => keys[pos],
                        None => ctx.key(state),
                    };
                    for (i, action) in actions.iter().enumerate() {
                        let Some(next) =
                            model.next_state_reusing(state, action, &mut out.coverage, spare.pop())
                        else {
                            continue;
                        };
                        successors += 1;
                        let key = ctx.key(&next);
                        if key == own {
                            // A step back to the state itself: seen, no lookup needed.
                            spare.push(next);
                            continue;
                        }
                        let (bucket, guess) = level.seen.locate(key);
                        if let Some(at) = bucket.get(guess) {
                            prefetch(at);
                        }
                        prefetch(table.home(key));
                        current.located.push((key, i, bucket, guess));
                        current.nexts.push(Some(next));
                    }
                    out.transitions += successors;
                    unflushed += successors;
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
                        has_successor: successors > 0,
                        better: &better,
                        used_bytes: used,
                    };
                    ctx.visit(state, at, &mut out.coverage, &mut out.findings);
                });
                for (slot, found) in out.findings.iter().enumerate() {
                    if let Some((p, _)) = found {
                        level.best[slot].fetch_min(*p, Ordering::Relaxed);
                    }
                }
            }
            // Stage two for the oldest state in the ring (its cache lines were asked for
            // `PIPELINE - 1` stage ones ago).
            let p = &mut ring[(pos + 1) % PIPELINE];
            if p.pos != usize::MAX {
                fresh.clear();
                // A key in the level table cannot be in the seen-set. Where most keys are in
                // the table (many parents reach each new state, as in 2PC), probing it first
                // spares most seen-set lookups; where most are in the seen-set (mm_cid), the
                // probe would only cost.
                let table_first = 2 * in_table >= looked_up;
                looked_up += p.located.len() as u64;
                for (n, &(key, i, bucket, guess)) in p.located.iter().enumerate() {
                    let known_new = table_first && table.order_of(key) != NO_ORDER;
                    in_table += u64::from(known_new);
                    if !known_new {
                        if let Some(&at) = bucket.get(guess) {
                            if Seen::finish(bucket, guess, at, key) {
                                continue;
                            }
                        }
                    }
                    if !level.expand {
                        out.truncated = true;
                        continue;
                    }
                    fresh.push((key, i, n));
                }
                let pos = p.pos;
                p.pos = usize::MAX;
                p.located.clear();
                if !fresh.is_empty() {
                    // Make sure this worker has room reserved for every fresh key (reserving a
                    // chunk at a time keeps workers off the shared counter), growing the table if
                    // needed.
                    let n = fresh.len();
                    if budget < n {
                        let want = n.max(RESERVE_CHUNK);
                        while level.reserved.fetch_add(want, Ordering::Relaxed) + want
                            > table.limit()
                        {
                            level.reserved.fetch_sub(want, Ordering::Relaxed);
                            drop(table);
                            {
                                let mut w = level.table.write().expect("level table lock");
                                while level.reserved.load(Ordering::Relaxed) + want > w.limit() {
                                    *w = w.grown();
                                }
                                level.table_bytes.store(w.bytes(), Ordering::Relaxed);
                            }
                            table = level.table.read().expect("level table lock");
                        }
                        budget += want;
                    }
                    let mut new = 0;
                    for &(key, i, n) in &fresh {
                        let order = order(pos, i);
                        let (is_new, smallest) = table.insert_min(key, order);
                        new += usize::from(is_new);
                        if !table_first && !is_new {
                            in_table += 1;
                        }
                        if smallest && !level.replay {
                            out.found.push((order, key));
                            out.states.keep(model, &mut p.nexts[n]);
                        }
                    }
                    budget -= new;
                    unflushed_new += new as u64;
                }
                // Successors already seen become spare states for the next ones to be built in.
                for next in p.nexts.drain(..).flatten() {
                    if spare.len() < SPARE_STATES {
                        spare.push(next);
                    }
                }
                if unflushed >= 256 || (limited && unflushed_new > 0) {
                    level.transitions.fetch_add(unflushed, Ordering::Relaxed);
                    unflushed = 0;
                    let count =
                        level.count.fetch_add(unflushed_new, Ordering::Relaxed) + unflushed_new;
                    unflushed_new = 0;
                    if level.seen.len() + count > max_states {
                        ctx.abort(StopReason::MaxStates);
                    }
                }
            }
        }
        if stopping || start >= frontier.len() {
            break;
        }
    }
    level.count.fetch_add(unflushed_new, Ordering::Relaxed);
    level.transitions.fetch_add(unflushed, Ordering::Relaxed);
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    use crate::test_models::{
        naive, summary, LockOrder, Mutexes, PackedRacy, RacyCounter, Release, Slow, Spinner,
        Summary, Swapped,
    };
    use crate::{check, CheckConfig, Model, Outcome, Progress, StopReason};

    use super::{Seen, Table};
    use crate::fingerprint::fingerprint;

    #[test]
    fn the_seen_set_finds_exactly_what_was_inserted() {
        let mut seen = Seen::new();
        let mut all: Vec<u64> = Vec::new();
        // Batches of fingerprints (and the extreme values), merged level by level; enough of
        // them to split the buckets several times.
        for batch in 0..20u64 {
            let mut keys: Vec<u64> = (0..1000u64).map(|i| fingerprint(&(batch, i))).collect();
            if batch == 3 {
                keys.extend([0, 1, u64::MAX]);
            }
            keys.sort_unstable();
            seen.insert_sorted(&keys);
            all.extend(&keys);
        }
        assert_eq!(seen.len(), all.len() as u64);
        assert!(seen.bits > 4, "the buckets split");
        for &k in &all {
            assert!(seen.contains(k), "{k:#x}");
        }
        for i in 0..20_000u64 {
            let absent = fingerprint(&(i, "absent"));
            assert!(!seen.contains(absent));
        }
        assert!(!seen.contains(2));
        assert!(seen.keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_level_table_keeps_the_smallest_order_across_growth() {
        let mut table = Table::new(64);
        let keys: Vec<u64> = (0..40u64).map(|i| fingerprint(&i)).chain([0]).collect();
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(table.insert_min(k, 100 + n as u64), (true, true));
        }
        // A larger order changes nothing; a smaller one wins.
        assert_eq!(table.insert_min(keys[5], 1000), (false, false));
        assert_eq!(table.insert_min(keys[5], 7), (false, true));
        assert_eq!(table.insert_min(0, 3), (false, true));
        table = table.grown();
        assert_eq!(table.order_of(keys[5]), 7);
        assert_eq!(table.order_of(0), 3);
        assert_eq!(table.order_of(keys[6]), 106);
        let mut entries = table.into_entries();
        entries.sort_unstable();
        assert_eq!(entries.len(), keys.len());
    }

    fn config(workers: usize, symmetry: bool) -> CheckConfig {
        CheckConfig {
            workers,
            symmetry,
            ..CheckConfig::default()
        }
    }

    /// Verdicts, counts, depth and traces are the same with 1, 2 and 4 workers.
    /// What a check of `model` found: outcome, counts, depth, findings (with their traces)
    /// and the labels never reached.
    fn results<M: Model>(
        model: &M,
        workers: usize,
        symmetry: bool,
    ) -> (Outcome, u64, u64, usize, Vec<Summary>, Vec<String>) {
        let r = check(model, &config(workers, symmetry));
        let s = &r.stats;
        (
            r.outcome,
            s.unique_states,
            s.transitions,
            s.max_depth,
            summary(&r),
            r.unreached_labels,
        )
    }

    fn same_for_all_worker_counts<M: Model>(model: &M, symmetry: bool) {
        let runs: Vec<_> = [1, 2, 4]
            .into_iter()
            .map(|w| results(model, w, symmetry))
            .collect();
        assert_eq!(runs[0], runs[1]);
        assert_eq!(runs[0], runs[2]);
    }

    #[test]
    fn packed_frontiers_rebuilt_or_kept_give_the_unpacked_results() {
        for workers in [1, 2, 4] {
            let expected = results(&RacyCounter { threads: 4 }, workers, false);
            assert!(!expected.4.is_empty(), "the race is found");
            for rebuild in [true, false] {
                let model = PackedRacy {
                    inner: RacyCounter { threads: 4 },
                    rebuild,
                };
                assert_eq!(
                    results(&model, workers, false),
                    expected,
                    "rebuild {rebuild}, {workers} workers"
                );
            }
        }
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
