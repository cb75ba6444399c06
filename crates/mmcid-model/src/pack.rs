//! Compact frontier states for the checker ([`mmcid_checker::Model::pack`]): a [`Kernel`] as a
//! few 32-bit numbers, one per part.
//!
//! A breadth-first search keeps every state of the depth it is about to explore. A whole
//! [`Kernel`] is a tree of vectors (several hundred bytes and one heap block per task stack),
//! but the parts of the states of one run repeat a lot: the same task in the same situation, the
//! same runqueue, the same mm state appear in thousands of states. So each part (the mm's CID
//! state, each runqueue, each task slot, and the budget with the faults) is stored once in a
//! table of its kind, and a packed state is the list of its parts' 32-bit numbers, two to a
//! word: `(2 + CPUs + task slots)` numbers rounded up to whole words, 40 bytes for 2 CPUs and 6
//! task slots. This is SPIN's "collapse compression".
//!
//! The tables only grow while the model lives (a model reused for several checks keeps the
//! parts of the earlier ones); their size is reported to the checker
//! ([`mmcid_checker::Model::side_bytes`]) so the memory limit counts them.
//!
//! Determinism: with several workers the numbers a part gets depend on which worker stores it
//! first. The numbers only serve packing and unpacking (packed words, and the numbers parts
//! remember to skip lookups): fingerprints, properties, traces and reports are computed from
//! the unpacked states, which are equal to the packed ones (unit-tested in `model.rs`), so
//! results do not depend on them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::state::{Budget, Faults, Kernel, MmCid, Part, Rq, Task};

/// Tables are split in this many independently locked shards (by fingerprint), so that
/// workers packing and unpacking at the same time rarely wait for each other.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
/// Values per shard: part numbers are `index << SHARD_BITS | shard` in 32 bits.
const SHARD_VALUES: usize = 1 << (32 - SHARD_BITS);

/// The shard of a fingerprint: bits 48–53. Not the top bits, which the index's hash map uses
/// for its control bytes, nor the low ones, which pick its buckets.
fn shard_of(fp: u64) -> usize {
    ((fp >> 48) as usize) & (SHARDS - 1)
}

/// One shard's lock on a cache line of its own, so that workers using neighbouring shards do
/// not slow each other down.
#[repr(align(128))]
struct Padded<T>(T);

/// A key that is already a well-mixed fingerprint: used as its own hash.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 fingerprints are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Shard<T> {
    /// Fingerprint → the newest value with it (index into `values`).
    first: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    values: Vec<Part<T>>,
    /// Per value, the previous value with the same fingerprint (`u32::MAX`: none).
    next: Vec<u32>,
    /// The values' heap buffers, in bytes.
    heap: u64,
    /// What this shard last added to its table's `bytes`.
    counted: u64,
}

impl<T> Shard<T> {
    /// Bytes held: the vectors' and the index's capacities (not only their lengths: they grow
    /// by doubling), plus the values' own buffers.
    fn bytes(&self) -> u64 {
        // The index's buckets: its capacity is seven eighths of them.
        let index_entry = std::mem::size_of::<(u64, u32)>() + 1;
        (self.values.capacity() * std::mem::size_of::<Part<T>>()
            + self.next.capacity() * 4
            + self.first.capacity() * 8 / 7 * index_entry) as u64
            + self.heap
    }
}

/// One table of parts: each distinct value once, numbered. Values are stored as [`Part`]s
/// that remember their number, so a copy unpacked from the table knows it too.
struct Interner<T> {
    shards: Box<[Padded<Mutex<Shard<T>>>]>,
    bytes: AtomicU64,
    // This table's tag, unique among the tables of the process (never 0): a part remembers
    // its number together with the tag, so a number from another table is never taken.
    tag: u32,
}

/// How many bytes a part takes outside its inline size (its vectors' buffers).
trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

/// The next table's tag. Tags only tell tables apart; no result depends on their values.
static NEXT_TAG: AtomicU32 = AtomicU32::new(1);

impl<T: Hash + Eq + Clone + HeapSize> Interner<T> {
    fn new() -> Self {
        Interner {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        first: HashMap::default(),
                        values: Vec::new(),
                        next: Vec::new(),
                        heap: 0,
                        counted: 0,
                    }))
                })
                .collect(),
            bytes: AtomicU64::new(0),
            tag: NEXT_TAG.fetch_add(1, Ordering::Relaxed).max(1),
        }
    }

    /// The number of `value`, storing it if it is new. A part that remembers its number in
    /// this table (unchanged since it was unpacked or packed) needs no lookup.
    fn id(&self, value: &Part<T>) -> u32 {
        if let Some(id) = value.packed_id(self.tag) {
            return id;
        }
        let id = self.lookup(value);
        value.set_packed_id(self.tag, id);
        id
    }

    fn lookup(&self, value: &Part<T>) -> u32 {
        // The part's own fingerprint (remembered, if it was computed since the last write):
        // already well mixed, so it picks the shard and is the index's key as it is.
        let fp = value.fingerprint();
        let s = shard_of(fp);
        let mut shard = self.shards[s].0.lock().expect("pack table lock");
        let head = shard.first.get(&fp).copied().unwrap_or(u32::MAX);
        let mut at = head;
        while at != u32::MAX {
            if shard.values[at as usize] == *value {
                return (at << SHARD_BITS) | s as u32;
            }
            at = shard.next[at as usize];
        }
        let index = shard.values.len();
        if index + 1 >= SHARD_VALUES {
            drop(shard);
            panic!("pack table full: 2^26 distinct parts in one shard");
        }
        let id = ((index as u32) << SHARD_BITS) | s as u32;
        // The stored copy remembers its number, and so do the copies unpacked from it.
        let stored = value.clone();
        stored.set_packed_id(self.tag, id);
        // Its buffers (a clone's capacity is its length).
        shard.heap += stored.heap_bytes() as u64;
        shard.values.push(stored);
        shard.next.push(head);
        shard.first.insert(fp, index as u32);
        let now = shard.bytes();
        self.bytes.fetch_add(now - shard.counted, Ordering::Relaxed);
        shard.counted = now;
        id
    }

    /// Calls `f` with the stored value numbered `id`.
    fn with<R>(&self, id: u32, f: impl FnOnce(&Part<T>) -> R) -> R {
        let shard = self.shards[(id as usize) & (SHARDS - 1)]
            .0
            .lock()
            .expect("pack table lock");
        f(&shard.values[(id >> SHARD_BITS) as usize])
    }

    /// A copy of the value numbered `id`.
    fn get(&self, id: u32) -> Part<T> {
        self.with(id, Part::clone)
    }

    /// Value number `id`, written into `out` (reusing its heap memory); nothing to do if `out`
    /// already is that value.
    fn get_into(&self, id: u32, out: &mut Part<T>) {
        if out.packed_id(self.tag) != Some(id) {
            self.with(id, |stored| out.clone_from(stored));
        }
    }
}

impl HeapSize for MmCid {
    fn heap_bytes(&self) -> usize {
        4 * (self.pcpu.capacity() + self.transit_seen.capacity())
            + 2 * (self.user_list.capacity() + self.thread_list.capacity())
    }
}

impl HeapSize for Rq {
    fn heap_bytes(&self) -> usize {
        self.thread.stack.capacity() * std::mem::size_of::<crate::thread::Frame>()
    }
}

impl HeapSize for Option<Task> {
    fn heap_bytes(&self) -> usize {
        self.as_ref().map_or(0, |t| {
            t.thread.stack.capacity() * std::mem::size_of::<crate::thread::Frame>()
        })
    }
}

impl HeapSize for (Budget, Faults) {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// The part tables of one model (shared by its clones).
pub(crate) struct Packer {
    cpus: usize,
    slots: usize,
    mm: Interner<MmCid>,
    rq: Interner<Rq>,
    tasks: Interner<Option<Task>>,
    /// The budget and the faults together: both change rarely, and one number for the pair
    /// means one lock per pack or unpack instead of two on the same few values.
    rest: Interner<(Budget, Faults)>,
}

impl std::fmt::Debug for Packer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Packer {{ cpus: {}, slots: {}, bytes: {} }}",
            self.cpus,
            self.slots,
            self.bytes()
        )
    }
}

impl Packer {
    /// Tables for states with `cpus` runqueues and `slots` task slots (both fixed for a
    /// scenario).
    pub(crate) fn new(cpus: usize, slots: usize) -> Self {
        Packer {
            cpus,
            slots,
            mm: Interner::new(),
            rq: Interner::new(),
            tasks: Interner::new(),
            rest: Interner::new(),
        }
    }

    /// Parts per state: mm, runqueues, task slots, budget with faults.
    fn parts(&self) -> usize {
        2 + self.cpus + self.slots
    }

    /// Words per packed state (two part numbers per word).
    pub(crate) fn words(&self) -> usize {
        self.parts().div_ceil(2)
    }

    /// Bytes held by the tables (an estimate: inline sizes, vector buffers, index entries).
    pub(crate) fn bytes(&self) -> u64 {
        self.mm.bytes.load(Ordering::Relaxed)
            + self.rq.bytes.load(Ordering::Relaxed)
            + self.tasks.bytes.load(Ordering::Relaxed)
            + self.rest.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn pack(&self, k: &Kernel, words: &mut [u64]) {
        assert!(
            k.rq.len() == self.cpus && k.tasks.len() == self.slots,
            "model bug: a state with {} runqueues and {} task slots; the scenario has {} and {}",
            k.rq.len(),
            k.tasks.len(),
            self.cpus,
            self.slots
        );
        let ids = std::iter::once(self.mm.id(&k.mm))
            .chain(k.rq.iter().map(|rq| self.rq.id(rq)))
            .chain(k.tasks.iter().map(|t| self.tasks.id(t)))
            .chain([self
                .rest
                .id(&Part::new((k.budget.clone(), k.faults.clone())))]);
        words.fill(0);
        for (i, id) in ids.enumerate() {
            words[i / 2] |= u64::from(id) << (32 * (i % 2));
        }
    }

    /// [`Packer::unpack`] into `k`, reusing its vectors.
    pub(crate) fn unpack_into(&self, words: &[u64], k: &mut Kernel) {
        let (n, s) = (self.cpus, self.slots);
        if k.rq.len() != n || k.tasks.len() != s {
            *k = self.unpack(words);
            return;
        }
        let id = |i| part_number(words, i);
        self.mm.get_into(id(0), &mut k.mm);
        for (c, rq) in k.rq.iter_mut().enumerate() {
            self.rq.get_into(id(1 + c), rq);
        }
        for (t, task) in k.tasks.iter_mut().enumerate() {
            self.tasks.get_into(id(1 + n + t), task);
        }
        (k.budget, k.faults) = self.rest.with(id(1 + n + s), |rest| (**rest).clone());
    }

    pub(crate) fn unpack(&self, words: &[u64]) -> Kernel {
        let (n, s) = (self.cpus, self.slots);
        let id = |i| part_number(words, i);
        let (budget, faults) = self.rest.with(id(1 + n + s), |rest| (**rest).clone());
        Kernel {
            mm: Box::new(self.mm.get(id(0))),
            rq: (0..n).map(|c| self.rq.get(id(1 + c))).collect(),
            tasks: (0..s).map(|t| self.tasks.get(id(1 + n + t))).collect(),
            budget,
            faults,
        }
    }
}

/// Part number `i` of packed `words` (two to a word, the first in the low half).
fn part_number(words: &[u64], i: usize) -> u32 {
    (words[i / 2] >> (32 * (i % 2))) as u32
}
