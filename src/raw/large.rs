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
//! The header takes 48 bytes, rounded up to the data's alignment.
//!
//! A block made by `alloc` comes from the global allocator. A block that
//! *grows* — `realloc` to a larger size, or a small block growing into this
//! range — moves onto pages of its own (see `pages.rs`, where available),
//! which reserve room for it to keep growing in place: no copy, no zeroing
//! (fresh pages are zero), no syscall until it outgrows the reserve, and
//! then one `mremap` that moves pages rather than bytes. Elsewhere growth
//! goes through the system `realloc`. Either way the neighbours' links are
//! patched when a block moves.

use alloc::alloc;
use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::pages;
use super::size_class::GRANULE;

#[repr(C)]
struct Header {
    prev: *mut Header,
    next: *mut Header,
    /// The block's system layout, so that `free_all` can free it.
    size: usize,
    align: usize,
    /// The length of the block's own mapping, or 0 for a block of the
    /// global allocator.
    map_len: usize,
    /// Keeps the header a multiple of 16 bytes.
    _pad: usize,
}

/// Bytes from the start of a block's allocation to its data: the header,
/// rounded up to the data's alignment (a power of two).
#[inline]
const fn offset(align: usize) -> usize {
    let align = if align < GRANULE { GRANULE } else { align };
    (HEADER + align - 1) & !(align - 1)
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
        unsafe { self.link(header, system, 0) };
        self.count += 1;
        self.bytes += system.size();
        // SAFETY: the data starts `offset` bytes in, inside the allocation.
        Some(unsafe { header.cast::<u8>().add(offset(system.align())) })
    }

    /// Frees a block; returns the bytes it held (see [`held`](Self::held)).
    ///
    /// # Safety
    ///
    /// `data` must have come from [`alloc`](Self::alloc),
    /// [`alloc_growable`](Self::alloc_growable) or
    /// [`realloc`](Self::realloc) of these blocks with alignment `align`,
    /// and not have been freed since.
    pub unsafe fn dealloc(&mut self, data: NonNull<u8>, align: usize) -> usize {
        // SAFETY: by the caller's guarantee the header sits `offset` bytes
        // before `data` in the same allocation and is linked in this list;
        // it records the layout the block was allocated with.
        let size = unsafe {
            let header = data.sub(offset(align)).cast::<Header>();
            let Header {
                size,
                align,
                map_len,
                ..
            } = header.as_ptr().read();
            self.unlink(header);
            Self::release(
                header,
                Layout::from_size_align_unchecked(size, align),
                map_len,
            );
            size
        };
        self.count -= 1;
        self.bytes -= size;
        size
    }

    /// Gives a block's memory back: its mapping, or to the global allocator.
    ///
    /// # Safety
    ///
    /// `header` starts a block of system layout `system` made here, on a
    /// mapping of `map_len` bytes (0: of the global allocator), unlinked
    /// and never used again.
    unsafe fn release(header: NonNull<Header>, system: Layout, map_len: usize) {
        // SAFETY: as the caller guarantees.
        unsafe {
            if map_len == 0 {
                alloc::dealloc(header.as_ptr().cast(), system);
            } else {
                pages::unmap(header.cast(), map_len);
            }
        }
    }

    /// A block for `system` (as for [`alloc`](Self::alloc)) that is going to
    /// grow: on pages of its own where [`maps`](Self::maps) says so, else
    /// from the global allocator with the layout `capacity` (the same
    /// alignment, at least as large), which it may grow into in place. Its
    /// bytes are **not** initialised unless the flag returned is `true`
    /// (pages: every byte zero). It holds `capacity.size()` bytes unless it
    /// is mapped (or its mapping was refused): then `system.size()`.
    pub fn alloc_growable(
        &mut self,
        system: Layout,
        capacity: Layout,
    ) -> Option<(NonNull<u8>, bool)> {
        if !Self::maps(system) {
            return self.alloc(capacity, false).map(|data| (data, false));
        }
        if let Some((base, map_len)) = Self::map_for(system) {
            let header = base.cast::<Header>();
            // SAFETY: a fresh mapping of at least `system.size()` bytes,
            // page-aligned (so aligned to `system.align()`).
            unsafe { self.link(header, system, map_len) };
            self.count += 1;
            self.bytes += system.size();
            // SAFETY: the data starts `offset` bytes in, inside the mapping.
            return Some((unsafe { base.add(offset(system.align())) }, true));
        }
        self.alloc(system, false).map(|data| (data, false))
    }

    /// Whether a growing block of `system` goes onto pages of its own.
    pub fn maps(system: Layout) -> bool {
        pages::available()
            && system.size() >= pages::MAP_MIN
            && system.align() <= pages::page_size()
    }

    /// The bytes a live block holds from the system (its header's record:
    /// at least its system layout, more if it was made with capacity), and
    /// whether it is mapped.
    ///
    /// # Safety
    ///
    /// `data` is a live block of these, with alignment `align`.
    pub unsafe fn held(&self, data: NonNull<u8>, align: usize) -> (usize, bool) {
        // SAFETY: the header sits `offset` bytes before a live block's data.
        let header = unsafe { &*data.sub(offset(align)).cast::<Header>().as_ptr() };
        (header.size, header.map_len != 0)
    }

    /// A fresh mapping with room for `system` to grow, if mapping is
    /// available and worth it for a block of its size and alignment: its
    /// base and length.
    fn map_for(system: Layout) -> Option<(NonNull<u8>, usize)> {
        if !Self::maps(system) {
            return None;
        }
        let map_len = pages::reservation(system.size())?;
        let base = pages::map(map_len)?;
        // As in `alloc`.
        let _ = base.as_ptr().expose_provenance();
        Some((base, map_len))
    }

    /// Resizes a block; the contents up to the smaller size are kept. Returns
    /// the block's data and whether the bytes past the old size are known
    /// to be zero (a block on pages of its own); otherwise they are **not**
    /// initialised. A growing block of the global allocator moves onto
    /// pages of its own where they are available; one on pages grows in
    /// place within its mapping, and beyond it with `mremap`. Returns `None`
    /// (and leaves the block untouched) when the system refuses.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc); `old` must be the block's held
    /// layout (its [`held`](Self::held) bytes and alignment), `new` a system
    /// layout with the same alignment.
    pub unsafe fn realloc(
        &mut self,
        data: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<(NonNull<u8>, bool)> {
        debug_assert_eq!(old.align(), new.align());
        let off = offset(old.align());
        // SAFETY: the caller guarantees the block and its header.
        let header = unsafe { data.sub(off).cast::<Header>() };
        // SAFETY: a linked header of a live block.
        let map_len = unsafe { (*header.as_ptr()).map_len };
        if map_len != 0 {
            // SAFETY: a live block on a mapping of `map_len` bytes (its
            // header says so), resized to `new`.
            return unsafe { self.realloc_mapped(header, old, new, map_len) };
        }
        if new.size() > old.size() {
            if let Some((base, map_len)) = Self::map_for(new) {
                // The old block (header and data, `old.size()` bytes) is
                // live and the fresh mapping larger and distinct; the old
                // block is unlinked before it is freed, the new one linked
                // at its new address.
                // SAFETY: so the copy, the free and the link are sound.
                unsafe {
                    ptr::copy_nonoverlapping(
                        header.as_ptr().cast::<u8>(),
                        base.as_ptr(),
                        old.size(),
                    );
                    self.unlink(header);
                    alloc::dealloc(header.as_ptr().cast(), old);
                    self.link(base.cast(), new, map_len);
                }
                self.bytes = self.bytes - old.size() + new.size();
                // SAFETY: the data starts `off` bytes in, inside the mapping;
                // past the copied bytes the fresh pages are zero.
                return Some((unsafe { base.add(off) }, true));
            }
        }
        // SAFETY: the caller guarantees the block and its header; it is
        // unlinked before the system may move it and relinked at its new
        // address (or at the old one if the system refused).
        unsafe {
            self.unlink(header);
            let moved = alloc::realloc(header.as_ptr().cast(), old, new.size());
            let Some(moved) = NonNull::new(moved) else {
                self.link(header, old, 0);
                return None;
            };
            // As in `alloc`.
            let _ = moved.as_ptr().expose_provenance();
            self.link(moved.cast(), new, 0);
            self.bytes = self.bytes - old.size() + new.size();
            Some((moved.add(off), false))
        }
    }

    /// [`realloc`](Self::realloc) of a block on a mapping of `map_len`
    /// bytes. Keeps the mapping's promise: every byte past the block's end
    /// is zero.
    ///
    /// # Safety
    ///
    /// `header` starts a live, linked block of system layout `old` on such
    /// a mapping; `new` has `old`'s alignment.
    unsafe fn realloc_mapped(
        &mut self,
        header: NonNull<Header>,
        old: Layout,
        new: Layout,
        map_len: usize,
    ) -> Option<(NonNull<u8>, bool)> {
        let off = offset(old.align());
        let base = header.cast::<u8>();
        if new.size() <= map_len {
            if new.size() < old.size() {
                // SAFETY: `new.size() .. old.size()` lies in the mapping and
                // belonged to the block, which no longer needs it.
                unsafe { Self::trim(base, new.size(), old.size()) };
            }
            // SAFETY: a linked header of a live block.
            unsafe { (*header.as_ptr()).size = new.size() };
            self.bytes = self.bytes - old.size() + new.size();
            // SAFETY: the data is `off` bytes into the mapping.
            return Some((unsafe { base.add(off) }, true));
        }
        let want = pages::reservation(new.size())?;
        // The block is unlinked before its mapping may move, and relinked
        // at its new address (or at the old one if refused); the pages move
        // with their contents, and those past the old mapping are fresh.
        // SAFETY: so the remap and the links are sound.
        unsafe {
            self.unlink(header);
            let Some(moved) = pages::remap(base, map_len, want) else {
                self.link(header, old, map_len);
                return None;
            };
            let _ = moved.as_ptr().expose_provenance();
            self.link(moved.cast(), new, want);
            self.bytes = self.bytes - old.size() + new.size();
            Some((moved.add(off), true))
        }
    }

    /// Zeroes a mapped block's bytes from `new_end` to `old_end` (offsets
    /// from `base`): the rest of the last page it keeps by hand, the whole
    /// pages after it by giving them back to the kernel.
    ///
    /// # Safety
    ///
    /// `base .. base + old_end` lies in a live mapping made by `pages`, and
    /// nothing needs the bytes from `new_end` on.
    unsafe fn trim(base: NonNull<u8>, new_end: usize, old_end: usize) {
        let page = pages::page_size();
        let kept = (new_end + page - 1) & !(page - 1);
        let held = (old_end + page - 1) & !(page - 1);
        // SAFETY: all within `base .. base + held`: the mapping is whole
        // pages, so it reaches `held` (caller).
        unsafe {
            base.add(new_end)
                .write_bytes(0, kept.min(old_end) - new_end);
            if held > kept && !pages::release(base.add(kept), held - kept) {
                // Refused: the pages keep their bytes, so zero them.
                base.add(kept).write_bytes(0, old_end - kept);
            }
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
                    next,
                    size,
                    align,
                    map_len,
                    ..
                } = header.read();
                let data = header as usize + offset(align);
                if keep.binary_search(&data).is_err() {
                    let linked = NonNull::new_unchecked(header);
                    self.unlink(linked);
                    Self::release(
                        linked,
                        Layout::from_size_align_unchecked(size, align),
                        map_len,
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

    /// Pushes `header`, the start of a block with system layout `system`
    /// (on a mapping of `map_len` bytes, or 0), at the front of the list.
    ///
    /// # Safety
    ///
    /// `header` must point to writable memory for a `Header` that is not in
    /// the list.
    unsafe fn link(&mut self, header: NonNull<Header>, system: Layout, map_len: usize) {
        let header = header.as_ptr();
        // SAFETY: the caller guarantees `header` is writable; `self.head`, if
        // not null, is a linked header of a live block.
        unsafe {
            header.write(Header {
                prev: ptr::null_mut(),
                next: self.head,
                size: system.size(),
                align: system.align(),
                map_len,
                _pad: 0,
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
