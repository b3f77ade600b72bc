//! Pages mapped straight from the kernel, for large blocks that grow.
//!
//! A block that keeps growing (a token array doubled with `realloc`) cannot
//! grow in place on the global allocator's heap once anything is allocated
//! after it. Mapped on its own, it can: the mapping reserves address space
//! well beyond the block, and the kernel backs a page only when it is first
//! touched, so the reserve costs no memory. Growth inside the reserve is
//! free (no copy, no syscall) and growth past it is one `mremap`, which
//! moves page tables, not bytes.
//!
//! ```text
//!  mapping (address space only, beyond the touched pages)
//!  ┌────────┬───────────────────────┬───────────────────────────────────┐
//!  │ header │ data …                │ untouched: zero, costs no memory  │
//!  └────────┴───────────────────────┴───────────────────────────────────┘
//!  ▲ base                           ▲ base + size                       ▲ base + map_len
//! ```
//!
//! Fresh pages read as zero, and a block that shrinks gives its whole pages
//! back with `MADV_DONTNEED` (after which they read as zero again) and
//! zeroes the rest of its last page itself. So every byte of a mapping past
//! the block's end is zero, and a block that grows needs no zeroing at all.
//!
//! Linux only (those `madvise` semantics are Linux's), never under Miri, and
//! only with `std`; elsewhere [`available`] is false and large blocks grow
//! through the global allocator's `realloc`.

use core::ptr::NonNull;

/// The smallest block worth pages of its own. Below it, a mapping's
/// syscalls and first-touch page faults cost more than the copies it saves:
/// mapping every growing block from 4 KiB up made the per-document demo
/// (token arrays of 6 to 48 KB) 37% slower, 39 -> 54 us per document.
pub const MAP_MIN: usize = 64 * 1024;

/// Whether blocks can be mapped here.
#[inline]
pub fn available() -> bool {
    imp::AVAILABLE
}

/// The kernel's page size (a power of two).
#[inline]
pub fn page_size() -> usize {
    imp::page_size()
}

/// `len` rounded up to whole pages; `None` on overflow.
#[inline]
pub fn round_up(len: usize) -> Option<usize> {
    let page = page_size();
    Some(len.checked_add(page - 1)? & !(page - 1))
}

/// The address space to reserve for a block of `len` bytes: room for it to
/// grow fourfold, and at least 256 KiB; `None` on overflow.
pub fn reservation(len: usize) -> Option<usize> {
    round_up(len.checked_mul(4)?.max(256 * 1024))
}

/// Maps `len` bytes (whole pages) of zeroed, readable and writable memory;
/// `None` when the kernel refuses (or mapping is not [`available`]).
pub fn map(len: usize) -> Option<NonNull<u8>> {
    imp::map(len)
}

/// Unmaps a mapping.
///
/// # Safety
///
/// `base` and `len` are those of a live mapping made by [`map`] or
/// [`remap`], which nothing uses afterwards.
pub unsafe fn unmap(base: NonNull<u8>, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { imp::unmap(base, len) }
}

/// Resizes a mapping, moving it (its pages, not their bytes) if it cannot
/// grow where it is. `None`, with the mapping unchanged, when the kernel
/// refuses.
///
/// # Safety
///
/// `base` and `old_len` are those of a live mapping made by [`map`] or
/// [`remap`]; on success only the returned address is used.
pub unsafe fn remap(base: NonNull<u8>, old_len: usize, new_len: usize) -> Option<NonNull<u8>> {
    // SAFETY: forwarded from the caller.
    unsafe { imp::remap(base, old_len, new_len) }
}

/// Gives the pages of `start .. start + len` back to the kernel; they read
/// as zero when next touched. `false` when the kernel refused: the pages
/// then keep their contents.
///
/// # Safety
///
/// The range is whole pages inside a live mapping made by [`map`] or
/// [`remap`], and nothing needs its contents.
pub unsafe fn release(start: NonNull<u8>, len: usize) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { imp::release(start, len) }
}

#[cfg(all(target_os = "linux", feature = "std", not(miri)))]
mod imp {
    use core::ptr::{self, NonNull};
    use core::sync::atomic::{AtomicUsize, Ordering};

    pub const AVAILABLE: bool = true;

    static PAGE: AtomicUsize = AtomicUsize::new(0);

    pub fn page_size() -> usize {
        match PAGE.load(Ordering::Relaxed) {
            0 => {
                // SAFETY: `sysconf` has no preconditions.
                let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
                let page = usize::try_from(page)
                    .ok()
                    .filter(|p| p.is_power_of_two())
                    .unwrap_or(4096);
                PAGE.store(page, Ordering::Relaxed);
                page
            }
            page => page,
        }
    }

    pub fn map(len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is
        // touched.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(base.cast())
    }

    pub unsafe fn unmap(base: NonNull<u8>, len: usize) {
        // SAFETY: a live mapping nothing uses afterwards (caller). A failure
        // (impossible for a whole mapping) would only leak it.
        let _ = unsafe { libc::munmap(base.as_ptr().cast(), len) };
    }

    pub unsafe fn remap(base: NonNull<u8>, old_len: usize, new_len: usize) -> Option<NonNull<u8>> {
        // SAFETY: a live mapping (caller); with MREMAP_MAYMOVE the kernel
        // either moves it whole or leaves it as it was.
        let moved =
            unsafe { libc::mremap(base.as_ptr().cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
        if moved == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(moved.cast())
    }

    pub unsafe fn release(start: NonNull<u8>, len: usize) -> bool {
        // SAFETY: whole pages of a live private anonymous mapping whose
        // contents nobody needs (caller); on Linux they read as zero after.
        unsafe { libc::madvise(start.as_ptr().cast(), len, libc::MADV_DONTNEED) == 0 }
    }
}

#[cfg(not(all(target_os = "linux", feature = "std", not(miri))))]
mod imp {
    use core::ptr::NonNull;

    pub const AVAILABLE: bool = false;

    pub fn page_size() -> usize {
        4096
    }

    pub fn map(_len: usize) -> Option<NonNull<u8>> {
        None
    }

    pub unsafe fn unmap(_base: NonNull<u8>, _len: usize) {}

    pub unsafe fn remap(
        _base: NonNull<u8>,
        _old_len: usize,
        _new_len: usize,
    ) -> Option<NonNull<u8>> {
        None
    }

    pub unsafe fn release(_start: NonNull<u8>, _len: usize) -> bool {
        false
    }
}
