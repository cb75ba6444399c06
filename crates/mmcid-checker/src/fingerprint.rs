//! Stable 64-bit fingerprints of states.
//!
//! The checker stores fingerprints, not states, in its seen-set (as stateright and TLC do), so a
//! fingerprint must be identical across runs, processes and platforms: a counterexample found on
//! one machine names the same states on another. `std`'s `DefaultHasher` promises none of this,
//! so [`StableHasher`] is our own: a fixed-seed multiply-fold mixer in the style of wyhash, with a
//! murmur3-style final avalanche.
//!
//! Platform independence: integers are fed in little-endian order and `usize`/`isize` are
//! widened to 64 bits, so 32- and 64-bit targets agree.
//!
//! Two different states may share a fingerprint. The checker then treats the second one as
//! already seen and misses whatever lies only beyond it; the report estimates the probability
//! of that ([`crate::Report::collision_probability`]).

use std::hash::{Hash, Hasher};

/// The 64-bit fingerprint of a state (or of its symmetry representative).
pub type Fingerprint = u64;

const SEED: u64 = 0x243f_6a88_85a3_08d3; // fractional digits of pi
const K0: u64 = 0xa076_1d64_78bd_642f; // wyhash's primes
const K1: u64 = 0xe703_7ed1_a0b4_28db;

/// The 64-bit fingerprint of `value`, stable across runs, processes and platforms.
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> Fingerprint {
    let mut hasher = StableHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A fixed-seed [`Hasher`] whose output depends only on the bytes and integers written to it.
#[derive(Clone, Debug)]
pub struct StableHasher {
    // Two lanes: each word is mixed into the lane written two words before, so two multiply
    // chains run side by side instead of one twice as long.
    state: u64,
    other: u64,
    // invariant: counts every byte fed in, so that inputs differing only by trailing zeros differ.
    len: u64,
    // Small integers are gathered here, lowest bits first, and mixed one full word at a time:
    // a state's `Hash` writes many bytes, flags and enum discriminants, and one multiply per
    // word instead of one per write is most of the hashing cost.
    buf: u64,
    // invariant: bits of `buf` in use, at most 64; the unused high bits are zero.
    bits: u32,
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

/// The 128-bit product of `a` and `b`, folded to 64 bits (wyhash's `mum`).
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl StableHasher {
    /// A hasher in its fixed initial state.
    pub fn new() -> Self {
        StableHasher {
            state: SEED,
            other: SEED ^ K1,
            len: 0,
            buf: 0,
            bits: 0,
        }
    }

    /// Mixes the gathered small integers, if any.
    #[inline]
    fn flush(&mut self) {
        if self.bits > 0 {
            self.mix(self.buf);
            self.buf = 0;
            self.bits = 0;
        }
    }

    /// Gathers the low `width` bits of `value` (which has no higher bits set), `width` a
    /// multiple of 8 and at most 32.
    #[inline]
    fn push(&mut self, value: u64, width: u32) {
        if self.bits + width > 64 {
            self.flush();
        }
        self.buf |= value << self.bits;
        self.bits += width;
        self.len += u64::from(width / 8);
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        let mixed = fold_mul(self.other ^ word ^ K0, K1 ^ self.len);
        self.other = self.state;
        self.state = mixed;
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        let mut this = self.clone();
        this.flush();
        let StableHasher {
            state, other, len, ..
        } = this;
        // murmur3's fmix64 over the folded state: every input bit affects every output bit.
        let mut h = fold_mul(state ^ len, other ^ K0);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.flush();
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.len += 8;
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.len += rest.len() as u64;
            self.mix(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.push(u64::from(i), 8);
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.push(u64::from(i), 16);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.push(u64::from(i), 32);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        // Lengths and enum discriminants (written as `usize`/`isize`) are nearly always small:
        // below 128 they take one byte (top bit clear); otherwise a marker byte (0x80) and
        // the whole word. Either form can be told from the other, so the encoding stays
        // injective for any one type's sequence of writes.
        if i < 0x80 {
            self.push(i, 8);
        } else {
            self.push(0x80, 8);
            self.flush();
            self.len += 8;
            self.mix(i);
        }
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    #[inline]
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }

    #[inline]
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }

    #[inline]
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }

    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }

    #[inline]
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }

    #[inline]
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as i64 as u64);
    }
}

/// A [`Hasher`] that only counts the bytes written to it: a cheap estimate of how much data a
/// value holds, heap included, for the memory limit.
#[derive(Default)]
pub(crate) struct ByteCounter(pub(crate) u64);

impl Hasher for ByteCounter {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 += bytes.len() as u64;
    }
}

/// Estimated bytes used by one `T`: its inline size plus the data its `Hash` feeds (which covers
/// heap contents such as vector elements).
pub(crate) fn estimated_size<T: Hash>(value: &T) -> u64 {
    let mut counter = ByteCounter::default();
    value.hash(&mut counter);
    std::mem::size_of_val(value) as u64 + counter.0
}

/// A [`std::hash::BuildHasher`] for maps keyed by fingerprints, which are already well mixed:
/// the key is its own hash.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct IdentityBuild;

/// The hasher of [`IdentityBuild`].
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u64 keys; fold them in so the map still works.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 ^= i;
    }

    fn write_u32(&mut self, i: u32) {
        // The agent half of a (fingerprint, agent) key: spread it over the high bits.
        self.0 ^= u64::from(i).wrapping_mul(K1);
    }
}

impl std::hash::BuildHasher for IdentityBuild {
    type Hasher = IdentityHasher;

    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn pinned_values_do_not_change() {
        // If one of these changes, fingerprints and the order of the seen-set change. Nothing
        // stores fingerprints across runs (traces are action indices) and counts are exact, so
        // it only matters for the collision estimate; still, change them on purpose only.
        // (Changed twice, for speed: two interleaved multiply lanes; then small integers
        // gathered into whole words before mixing.)
        assert_eq!(fingerprint(&0u64), 0xd79e_81e9_39d0_05f8);
        assert_eq!(
            fingerprint(&(1u8, "mm_cid", vec![3u32, 4])),
            0x13f1_a9a7_f83c_6863
        );
    }

    #[test]
    fn usize_hashes_like_u64() {
        assert_eq!(fingerprint(&7usize), fingerprint(&7u64));
        assert_eq!(fingerprint(&-7isize), fingerprint(&-7i64));
    }

    #[test]
    fn small_changes_change_the_fingerprint() {
        let base = fingerprint(&vec![0u8; 16]);
        assert_ne!(base, fingerprint(&vec![0u8; 17]));
        let mut flipped = vec![0u8; 16];
        flipped[9] = 1;
        assert_ne!(base, fingerprint(&flipped));
        assert_ne!(fingerprint(&(1u32, 2u32)), fingerprint(&(2u32, 1u32)));
        // Raw byte writes that differ only by trailing zero bytes.
        let mut a = StableHasher::new();
        a.write(&[1, 2]);
        let mut b = StableHasher::new();
        b.write(&[1, 2, 0]);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn avalanche_is_roughly_half_the_bits() {
        // Flipping one input bit should flip about 32 output bits on average.
        let mut total = 0u32;
        for i in 0..64u64 {
            total += (fingerprint(&0u64) ^ fingerprint(&(1u64 << i))).count_ones();
        }
        let mean = f64::from(total) / 64.0;
        assert!((26.0..38.0).contains(&mean), "mean flipped bits {mean}");
    }

    #[test]
    fn btree_maps_with_equal_contents_agree() {
        let a: BTreeMap<u8, u8> = [(1, 2), (3, 4)].into_iter().collect();
        let b: BTreeMap<u8, u8> = [(3, 4), (1, 2)].into_iter().collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn estimated_size_counts_heap_contents() {
        let small = estimated_size(&vec![0u64; 1]);
        let large = estimated_size(&vec![0u64; 100]);
        assert!(large >= small + 99 * 8);
    }
}
