//! The registry of values whose destructors the pool must run.
//!
//! A value whose type needs `Drop` is stored behind a small header that
//! links it into a doubly linked list and remembers its type-erased drop
//! function. Freeing the value unlinks it in O(1); reset and drop walk the
//! list and run what is left. Types without drop glue never get a header.
//!
//! ```text
//!  block:  ┌──────┬──────┬─────────┬───────┐
//!          │ prev │ next │ drop_fn │ value │
//!          └──────┴──────┴─────────┴───────┘
//!          ◄──── value_offset ─────►▲ pointer handed out
//! ```

use core::alloc::Layout;
use core::mem;
use core::ptr::{self, NonNull};

/// Runs the destructor of a registered value in place, given the start of
/// its *block* (the value's type fixes its offset: see
/// [`RawPool::droppable_offset`](super::RawPool::droppable_offset)).
pub type DropFn = unsafe fn(NonNull<u8>);

#[repr(C)]
struct Header {
    prev: *mut Header,
    next: *mut Header,
    drop_fn: DropFn,
}

/// The layout of a block holding a header and a value of layout `value`,
/// and the offset of the value in it; `None` if it would overflow.
#[inline]
pub fn block_layout(value: Layout) -> Option<(Layout, usize)> {
    Layout::new::<Header>().extend(value).ok()
}

/// The offset of a value aligned to `align` in its block: the header's
/// size rounded up to `align`, as [`block_layout`] lays it out. Cannot
/// overflow: an alignment is at most `isize::MAX + 1`.
#[inline]
pub const fn value_offset(align: usize) -> usize {
    let header = mem::size_of::<Header>();
    (header + (align - 1)) & !(align - 1)
}

/// The values of one pool that still need their destructor run.
pub struct DropList {
    head: *mut Header,
}

impl DropList {
    /// An empty registry.
    pub const fn new() -> Self {
        DropList {
            head: ptr::null_mut(),
        }
    }

    /// Whether no value is registered.
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Registers the value at `block + offset` and returns its address.
    ///
    /// # Safety
    ///
    /// `block` must be writable for a header, aligned for it, with `offset`
    /// from [`block_layout`]; the block must stay allocated until it is
    /// unregistered or [`run_all`](Self::run_all) runs; before either, a value
    /// that `drop_fn`, called with `block`, may drop must be written at the
    /// returned address.
    pub unsafe fn register(
        &mut self,
        block: NonNull<u8>,
        offset: usize,
        drop_fn: DropFn,
    ) -> NonNull<u8> {
        let header = block.cast::<Header>().as_ptr();
        // SAFETY: `header` is writable and aligned (caller); `self.head`, if
        // not null, is a registered header in a live block.
        unsafe {
            header.write(Header {
                prev: ptr::null_mut(),
                next: self.head,
                drop_fn,
            });
            if !self.head.is_null() {
                (*self.head).prev = header;
            }
        }
        self.head = header;
        // SAFETY: `offset` lies inside the block (from `block_layout`).
        unsafe { block.add(offset) }
    }

    /// Unregisters the value at `value`, registered with `offset`, without
    /// running its destructor, and returns the start of its block.
    ///
    /// # Safety
    ///
    /// `value` must have been returned by [`register`](Self::register) with
    /// this `offset` and still be registered.
    pub unsafe fn unregister(&mut self, value: NonNull<u8>, offset: usize) -> NonNull<u8> {
        // SAFETY: the header sits `offset` bytes before the value (caller);
        // it and its neighbours are registered headers in live blocks.
        unsafe {
            let block = value.sub(offset);
            let header = block.cast::<Header>().as_ptr();
            let (prev, next) = ((*header).prev, (*header).next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            block
        }
    }

    /// Runs every registered destructor, newest value first, and empties
    /// the registry. If a destructor panics, the others still run (a second
    /// panic aborts, as for any panic during unwinding) and the first panic
    /// goes on.
    ///
    /// # Safety
    ///
    /// Every registered value must be initialised and not otherwise in use;
    /// its block must still be allocated.
    pub unsafe fn run_all(&mut self) {
        /// Runs the rest if a destructor unwinds.
        struct Rest<'a>(&'a mut DropList);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                // SAFETY: the same registry, under the same guarantee.
                unsafe { self.0.run_all() }
            }
        }
        while !self.head.is_null() {
            let header = self.head;
            // SAFETY: `header` is registered in a live block; it is unlinked
            // before its destructor runs, so a panic never runs it twice.
            unsafe {
                self.head = (*header).next;
                if !self.head.is_null() {
                    (*self.head).prev = ptr::null_mut();
                }
                let drop_fn = (*header).drop_fn;
                let rest = Rest(self);
                drop_fn(NonNull::new_unchecked(header.cast::<u8>()));
                mem::forget(rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_offset_is_where_block_layout_puts_the_value() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [0, 1, 8, 24, 100] {
                let value = Layout::from_size_align(size, align).ok();
                let offset = value.and_then(block_layout).map(|(_, offset)| offset);
                assert_eq!(offset, Some(value_offset(align)));
            }
        }
    }
}
