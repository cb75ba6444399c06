//! CID words and their helpers: include/linux/rseq_types.h and kernel/sched/sched.h
//! (`MM_CID_UNSET`, `MM_CID_ONCPU`, `MM_CID_TRANSIT` and the `cid_*` helpers), as of the
//! "Introduce per task/CPU ownership infrastructure" patch (23343b6b09ac) through v7.1.
//!
//! A CID word is a `u32`: bit 31 means "no CID", bit 30 "owned by a CPU", bit 29 "held only
//! temporarily by the running task"; the low bits are the CID number (spec §2.1).

/// Bit 31: the word carries no CID at all. The value is exactly `1 << 31`.
pub const MM_CID_UNSET: u32 = 1 << 31;
/// Bit 30: the number is owned by a CPU (in a per-CPU slot), or is a borrowed copy of it.
pub const MM_CID_ONCPU: u32 = 1 << 30;
/// Bit 29: the number is held only until its running holder schedules out.
pub const MM_CID_TRANSIT: u32 = 1 << 29;

/// `cid_on_cpu()`: the ONCPU bit is set.
#[inline]
pub fn cid_on_cpu(cid: u32) -> bool {
    cid & MM_CID_ONCPU != 0
}

/// `cid_in_transit()`: the TRANSIT bit is set.
#[inline]
pub fn cid_in_transit(cid: u32) -> bool {
    cid & MM_CID_TRANSIT != 0
}

/// `cid_on_task()`: a plain number, none of UNSET, ONCPU and TRANSIT set.
#[inline]
pub fn cid_on_task(cid: u32) -> bool {
    cid < MM_CID_TRANSIT
}

/// `cpu_cid_to_cid()`: clears the ONCPU bit.
#[inline]
pub fn cpu_cid_to_cid(cid: u32) -> u32 {
    cid & !MM_CID_ONCPU
}

/// `cid_to_cpu_cid()`: sets the ONCPU bit.
#[inline]
pub fn cid_to_cpu_cid(cid: u32) -> u32 {
    cid | MM_CID_ONCPU
}

/// `cid_to_transit_cid()`: sets the TRANSIT bit.
#[inline]
pub fn cid_to_transit_cid(cid: u32) -> u32 {
    cid | MM_CID_TRANSIT
}

/// `cid_from_transit_cid()`: clears the TRANSIT bit.
#[inline]
pub fn cid_from_transit_cid(cid: u32) -> u32 {
    cid & !MM_CID_TRANSIT
}

/// The value user space sees (`task_mm_cid()`/`task_cid()`): ONCPU and TRANSIT filtered out,
/// UNSET kept.
#[inline]
pub fn task_cid(cid: u32) -> u32 {
    cid & !(MM_CID_ONCPU | MM_CID_TRANSIT)
}

/// Human form of a CID word: `3`, `3|ONCPU`, `3|TRANSIT`, `UNSET`, `UNSET|TRANSIT`.
pub fn fmt_cid(cid: u32) -> String {
    let mut s = if cid & MM_CID_UNSET != 0 {
        "UNSET".to_string()
    } else {
        (cid & (MM_CID_TRANSIT - 1)).to_string()
    };
    if cid_on_cpu(cid) {
        s.push_str("|ONCPU");
    }
    if cid_in_transit(cid) {
        s.push_str("|TRANSIT");
    }
    s
}

/// Human form of the ownership mode word (`mm->mm_cid.mode`, or `percpu`/`transit` before F4b).
pub fn fmt_mode(mode: u32) -> &'static str {
    match (cid_on_cpu(mode), cid_in_transit(mode)) {
        (false, false) => "per-task",
        (false, true) => "per-task|TRANSIT",
        (true, false) => "per-cpu",
        (true, true) => "per-cpu|TRANSIT",
    }
}

/// A set of up to 256 CPU numbers or CID numbers (`struct cpumask` and the CID bitmap).
///
/// model: fixed 256 bits (the model's maximum `N`), so states need no allocation for masks.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mask256([u64; 4]);

impl Mask256 {
    /// The empty set.
    pub const EMPTY: Mask256 = Mask256([0; 4]);

    /// `{0, 1, …, n-1}`.
    pub fn first(n: usize) -> Mask256 {
        let mut m = Mask256::EMPTY;
        for i in 0..n {
            m.set(i);
        }
        m
    }

    /// Whether bit `i` is set (bits past 255 are never set).
    #[inline]
    pub fn test(&self, i: usize) -> bool {
        i < 256 && self.0[i / 64] & (1 << (i % 64)) != 0
    }

    /// Sets bit `i` (`i < 256`).
    #[inline]
    pub fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Clears bit `i` (`i < 256`).
    #[inline]
    pub fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }

    /// Number of set bits (`cpumask_weight`, `bitmap_weight`).
    pub fn weight(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// Union.
    pub fn or(&self, other: &Mask256) -> Mask256 {
        let mut m = *self;
        for (a, b) in m.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
        m
    }

    /// `find_first_zero_bit(mask, bound)`: the first clear bit below `bound`, if any.
    pub fn first_zero_below(&self, bound: usize) -> Option<usize> {
        let bound = bound.min(256);
        (0..bound.div_ceil(64)).find_map(|w| {
            let free = !self.0[w];
            (free != 0)
                .then(|| w * 64 + free.trailing_zeros() as usize)
                .filter(|&i| i < bound)
        })
    }

    /// The set bits in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        // Word by word, lowest set bit first: the cost is the number of set bits, not 256
        // tests (this runs for every enabled-action computation).
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
    }

    /// The set with every bit `i` moved to `perm[i]` (`perm` covers at least every set bit).
    pub fn permuted(&self, perm: &[usize]) -> Mask256 {
        let mut m = Mask256::EMPTY;
        for i in self.iter() {
            m.set(perm[i]);
        }
        m
    }
}

impl std::fmt::Debug for Mask256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{")?;
        for (n, i) in self.iter().enumerate() {
            if n > 0 {
                write!(f, ",")?;
            }
            write!(f, "{i}")?;
        }
        write!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_the_encoding() {
        assert!(cid_on_task(3));
        assert!(!cid_on_task(MM_CID_UNSET));
        assert!(!cid_on_task(3 | MM_CID_ONCPU));
        assert!(!cid_on_task(3 | MM_CID_TRANSIT));
        assert!(cid_on_cpu(cid_to_cpu_cid(2)));
        assert_eq!(cpu_cid_to_cid(cid_to_cpu_cid(2)), 2);
        assert_eq!(task_cid(5 | MM_CID_ONCPU | MM_CID_TRANSIT), 5);
        assert_eq!(task_cid(MM_CID_UNSET), MM_CID_UNSET);
        assert_eq!(fmt_cid(MM_CID_UNSET | MM_CID_TRANSIT), "UNSET|TRANSIT");
        assert_eq!(fmt_cid(1 | MM_CID_ONCPU), "1|ONCPU");
    }

    #[test]
    fn first_zero_respects_the_bound() {
        let mut m = Mask256::first(3);
        assert_eq!(m.first_zero_below(3), None);
        assert_eq!(m.first_zero_below(4), Some(3));
        m.clear(1);
        assert_eq!(m.first_zero_below(3), Some(1));
        let full = Mask256::first(200);
        assert_eq!(full.first_zero_below(256), Some(200));
        assert_eq!(full.first_zero_below(200), None);
    }

    #[test]
    fn iter_lists_the_set_bits_in_order() {
        let mut m = Mask256::EMPTY;
        for i in [0, 1, 63, 64, 100, 191, 192, 255] {
            m.set(i);
        }
        let naive: Vec<usize> = (0..256).filter(|&i| m.test(i)).collect();
        assert_eq!(m.iter().collect::<Vec<_>>(), naive);
        assert_eq!(naive, [0, 1, 63, 64, 100, 191, 192, 255]);
        assert_eq!(Mask256::EMPTY.iter().count(), 0);
        assert_eq!(Mask256::first(256).iter().count(), 256);
    }
}
