//! Large blocks: requests above the small-block range, each its own
//! allocation from the global allocator.
//!
//! Each block is preceded by a header that links it into a doubly linked
//! list, so one block is freed in O(1) and the pool frees them all when it
//! drops or resets:
//!
//! ```text
//!  head ──► ┌────────────┬──────────────┐     ┌────────────┬────────
//!           │ prev │ next ──────────────────► │ prev │ next │ data …
//!           └────────────┴──────────────┘     └────────────┴────────
//!           ◄─ offset ──►▲ pointer handed out
//! ```
//!
//! The header takes `max(32, align)` bytes so the data keeps its alignment.
//! Growth goes through the system `realloc` (which moves huge blocks with
//! `mremap` on Linux); the neighbours' links are then patched.

use alloc::alloc;
use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::size_class::GRANULE;

#[repr(C)]
struct Header {
    prev: *mut Header,
    next: *mut Header,
    /// The block's system layout, so that `free_all` can free it.
    size: usize,
    align: usize,
}

/// Bytes from the start of a block's allocation to its data: the header,
/// rounded up to the data's alignment.
#[inline]
const fn offset(align: usize) -> usize {
    if align > HEADER {
        align
    } else {
        HEADER
    }
}

const HEADER: usize = core::mem::size_of::<Header>();
const _: () = assert!(HEADER % GRANULE == 0);

/// The system layout of a large block holding `size` bytes aligned to `align`.
#[inline]
pub fn system_layout(size: usize, align: usize) -> Option<Layout> {
    let total = size.checked_add(offset(align))?;
    Layout::from_size_align(total, align.max(GRANULE)).ok()
}

/// The large blocks of one pool.
pub struct LargeBlocks {
    head: *mut Header,
    count: usize,
    /// Sum of the system layouts' sizes, headers included.
    bytes: usize,
}

impl LargeBlocks {
    /// No blocks.
    pub const fn new() -> Self {
        LargeBlocks {
            head: ptr::null_mut(),
            count: 0,
            bytes: 0,
        }
    }

    /// Number of live large blocks.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes held from the global allocator, headers included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Allocates a block for `size` bytes aligned to `align`, zeroed when
    /// `zeroed`. `system` must be `system_layout(size, align)`.
    /// Returns `None` when the global allocator refuses.
    pub fn alloc(&mut self, system: Layout, zeroed: bool) -> Option<NonNull<u8>> {
        // SAFETY: `system` has a non-zero size (it includes the header).
        let base = unsafe {
            if zeroed {
                alloc::alloc_zeroed(system)
            } else {
                alloc::alloc(system)
            }
        };
        let header = NonNull::new(base)?.cast::<Header>();
        // See `RawPool::rederive`: a pointer to the data may come back
        // narrowed to the data, and the header lies before it.
        let _ = base.expose_provenance();
        // SAFETY: `header` is a fresh allocation, aligned to at least 16, with
        // room for the header before the data.
        unsafe { self.link(header, system) };
        self.count += 1;
        self.bytes += system.size();
        // SAFETY: the data starts `offset` bytes in, inside the allocation.
        Some(unsafe { header.cast::<u8>().add(offset(system.align())) })
    }

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `data` must have come from [`alloc`](Self::alloc) or
    /// [`realloc`](Self::realloc) of these blocks with the system layout
    /// `system`, and not have been freed since.
    pub unsafe fn dealloc(&mut self, data: NonNull<u8>, system: Layout) {
        // SAFETY: by the caller's guarantee the header sits `offset` bytes
        // before `data` in the same allocation and is linked in this list.
        unsafe {
            let header = data.sub(offset(system.align())).cast::<Header>();
            self.unlink(header);
            alloc::dealloc(header.as_ptr().cast(), system);
        }
        self.count -= 1;
        self.bytes -= system.size();
    }

    /// Resizes a block with the system `realloc`; the contents up to the
    /// smaller size are kept, any new bytes are **not** initialised.
    /// Returns `None` (and leaves the block untouched) when the global
    /// allocator refuses.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc); `new` must be a system layout with
    /// the same alignment as `old`.
    pub unsafe fn realloc(
        &mut self,
        data: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<NonNull<u8>> {
        debug_assert_eq!(old.align(), new.align());
        let off = offset(old.align());
        // SAFETY: the caller guarantees the block and its header; it is
        // unlinked before the system may move it and relinked at its new
        // address (or at the old one if the system refused).
        unsafe {
            let header = data.sub(off).cast::<Header>();
            self.unlink(header);
            let moved = alloc::realloc(header.as_ptr().cast(), old, new.size());
            let Some(moved) = NonNull::new(moved) else {
                self.link(header, old);
                return None;
            };
            // As in `alloc`.
            let _ = moved.as_ptr().expose_provenance();
            self.link(moved.cast(), new);
            self.bytes = self.bytes - old.size() + new.size();
            Some(moved.add(off))
        }
    }

    /// Frees every block whose data address is not in `keep` (sorted
    /// ascending).
    ///
    /// # Safety
    ///
    /// No block freed here is used again.
    pub unsafe fn retain(&mut self, keep: &[usize]) {
        let mut header = self.head;
        while !header.is_null() {
            // Every linked header starts a live allocation made by
            // `alloc`/`realloc` with the system layout recorded in it.
            // SAFETY: so the reads and the free are valid; `next` is read
            // before the free; a freed block is unused from now on (caller).
            unsafe {
                let Header {
                    next, size, align, ..
                } = header.read();
                let data = header as usize + offset(align);
                if keep.binary_search(&data).is_err() {
                    self.unlink(NonNull::new_unchecked(header));
                    alloc::dealloc(
                        header.cast(),
                        Layout::from_size_align_unchecked(size, align),
                    );
                    self.count -= 1;
                    self.bytes -= size;
                }
                header = next;
            }
        }
    }

    /// Frees every block.
    pub fn free_all(&mut self) {
        // SAFETY: the engine frees all its large blocks only when it drops or
        // resets, after which none of its blocks is used (its handles borrow
        // it, so none is left; the raw API's contracts say the same).
        unsafe { self.retain(&[]) };
    }

    // --- list plumbing -------------------------------------------------

    /// Pushes `header`, the start of a block with system layout `system`,
    /// at the front of the list.
    ///
    /// # Safety
    ///
    /// `header` must point to writable memory for a `Header` that is not in
    /// the list.
    unsafe fn link(&mut self, header: NonNull<Header>, system: Layout) {
        let header = header.as_ptr();
        // SAFETY: the caller guarantees `header` is writable; `self.head`, if
        // not null, is a linked header of a live block.
        unsafe {
            header.write(Header {
                prev: ptr::null_mut(),
                next: self.head,
                size: system.size(),
                align: system.align(),
            });
            if !self.head.is_null() {
                (*self.head).prev = header;
            }
        }
        self.head = header;
    }

    /// Removes `header` from the list.
    ///
    /// # Safety
    ///
    /// `header` must be in the list.
    unsafe fn unlink(&mut self, header: NonNull<Header>) {
        // SAFETY: `header` and its neighbours are linked headers of live blocks.
        unsafe {
            let Header { prev, next, .. } = header.as_ptr().read();
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
        }
    }
}

impl Drop for LargeBlocks {
    fn drop(&mut self) {
        self.free_all();
    }
}
