//! A growable array of 64-bit words in its own memory mapping, for the seen-set.
//!
//! Two things set it apart from a `Vec<u64>`:
//!
//! - It is backed by huge pages where the kernel allows it ([`advise_huge_pages`]; on this
//!   project's machines transparent huge pages are in `madvise` mode). Seen-set lookups land
//!   anywhere in the array; with 4 KiB pages nearly every one of them also misses the TLB.
//! - It grows by remapping (`mremap`), which moves page tables, never the contents, and never
//!   holds two copies. A `Vec`'s `realloc` may copy, and the old block may stay resident in the
//!   allocator's heap: the peak memory of a search would then hold the seen-set twice.
//!
//! Elsewhere than on Linux it is a plain `Vec<u64>`.

#[cfg(target_os = "linux")]
pub(crate) use linux::Words;
#[cfg(not(target_os = "linux"))]
pub(crate) use portable::Words;

/// The size of a huge page (x86-64 and arm64 with 4 KiB base pages).
#[cfg(target_os = "linux")]
const HUGE: usize = 2 << 20;

/// Asks the kernel to back the whole 2 MiB pages within `bytes` bytes at `at` with huge pages.
/// Only advice: it changes how memory is backed, never what it holds, and a refusal (or a
/// range too small to hold a whole huge page) leaves things as they are.
pub(crate) fn advise_huge_pages(at: *const u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        let start = at as usize;
        let (from, to) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if to > from {
            // SAFETY: `madvise` with MADV_HUGEPAGE reads and writes no memory; it only marks
            // the range, which the caller owns.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (at, bytes);
}

/// Asks the C allocator to return the memory it holds free to the system.
///
/// A depth of the search allocates and frees a few large buffers (the level table, the sorted
/// keys, the next frontier). glibc serves allocations below a threshold that it raises as it
/// goes (up to 32 MiB) from its heap, and keeps freed heap memory resident unless it lies at
/// the heap's top; so the buffers of the widest depth would stay resident to the end, next to
/// the seen-set that keeps growing (on 2PC with R = 9: 155 MiB resident at the end instead of
/// about 105). `malloc_trim` releases every free page of every heap; it is cheap next to a
/// depth. Elsewhere than with glibc it does nothing.
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory to the system; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ptr::NonNull;

    use super::HUGE;

    /// A growable array of `u64`, zero-filled when it grows.
    pub(crate) struct Words {
        ptr: NonNull<u64>,
        len: usize,
        /// Bytes mapped (a multiple of [`HUGE`]); 0 when nothing is mapped.
        mapped: usize,
    }

    // SAFETY: `Words` owns its mapping exclusively, like a `Vec<u64>`.
    unsafe impl Send for Words {}
    // SAFETY: shared references only read.
    unsafe impl Sync for Words {}

    impl Words {
        pub(crate) fn new() -> Self {
            Words {
                ptr: NonNull::dangling(),
                len: 0,
                mapped: 0,
            }
        }

        /// Appends `n` zeros.
        pub(crate) fn grow_zeroed(&mut self, n: usize) {
            let len = self.len.checked_add(n).expect("seen-set size overflows");
            let need = len.checked_mul(8).expect("seen-set size overflows");
            if need > self.mapped {
                let bytes = need.max(self.mapped * 2).next_multiple_of(HUGE);
                // SAFETY: a fresh anonymous mapping, or a remap of exactly the mapping this
                // value owns (`mapped` bytes at `ptr`); on failure nothing changes.
                let at = unsafe {
                    if self.mapped == 0 {
                        libc::mmap(
                            std::ptr::null_mut(),
                            bytes,
                            libc::PROT_READ | libc::PROT_WRITE,
                            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                            -1,
                            0,
                        )
                    } else {
                        libc::mremap(
                            self.ptr.as_ptr().cast(),
                            self.mapped,
                            bytes,
                            libc::MREMAP_MAYMOVE,
                        )
                    }
                };
                if at == libc::MAP_FAILED {
                    let layout = std::alloc::Layout::from_size_align(bytes, HUGE)
                        .expect("a mapping size is a valid layout");
                    std::alloc::handle_alloc_error(layout);
                }
                super::advise_huge_pages(at.cast(), bytes);
                self.ptr = NonNull::new(at.cast()).expect("mmap returns a non-null address");
                self.mapped = bytes;
            }
            // The words between the old and new length were never written (the array only
            // grows), so they are the mapping's zeros.
            self.len = len;
        }
    }

    impl Drop for Words {
        fn drop(&mut self) {
            if self.mapped > 0 {
                // SAFETY: unmaps exactly the mapping this value owns; nothing refers to it
                // after the drop.
                unsafe {
                    libc::munmap(self.ptr.as_ptr().cast(), self.mapped);
                }
            }
        }
    }

    impl std::ops::Deref for Words {
        type Target = [u64];
        fn deref(&self) -> &[u64] {
            // SAFETY: the first `len` words are mapped, initialised (zeros or written) and
            // owned by this value; a dangling pointer is fine for length 0.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        }
    }

    impl std::ops::DerefMut for Words {
        fn deref_mut(&mut self) -> &mut [u64] {
            // SAFETY: as for `deref`, and `&mut self` makes the access exclusive.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod portable {
    /// A growable array of `u64`, zero-filled when it grows.
    pub(crate) struct Words(Vec<u64>);

    impl Words {
        pub(crate) fn new() -> Self {
            Words(Vec::new())
        }

        pub(crate) fn grow_zeroed(&mut self, n: usize) {
            self.0.reserve_exact(n);
            self.0.resize(self.0.len() + n, 0);
        }
    }

    impl std::ops::Deref for Words {
        type Target = [u64];
        fn deref(&self) -> &[u64] {
            &self.0
        }
    }

    impl std::ops::DerefMut for Words {
        fn deref_mut(&mut self) -> &mut [u64] {
            &mut self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Words;

    #[test]
    fn words_grow_zeroed_and_keep_their_contents() {
        let mut w = Words::new();
        assert!(w.is_empty());
        let mut len = 0;
        // Across several remaps (the first mapping is 2 MiB: 262 144 words).
        for round in 0..6u64 {
            let add = 100_000 * (round as usize + 1);
            w.grow_zeroed(add);
            assert!(w[len..].iter().all(|&x| x == 0), "new words are zero");
            for (i, x) in w[len..].iter_mut().enumerate() {
                *x = (len + i) as u64 * 3 + 1;
            }
            len += add;
            assert_eq!(w.len(), len);
            assert!(w.iter().enumerate().all(|(i, &x)| x == i as u64 * 3 + 1));
        }
    }
}
