//! Room to grow in place for the small block that grew last.
//!
//! A block that `realloc` grows is most often an array that will grow
//! again (spaCy's token array doubles). In a span it can grow in place only
//! while it is the newest block, and the next allocation ends that. So when
//! a growing block has to move, the engine carves room behind its new
//! place and sets it aside:
//!
//! ```text
//!          span
//!  ┌───────┬──────────────┬─────────────────────┬────────────────┐
//!  │ older │ moved block  │ room (set aside)    │ newer blocks … │
//!  └───────┴──────────────┴─────────────────────┴────────────────┘
//!                         ▲ start               ▲ end
//! ```
//!
//! Newer blocks are carved after the room, and the block grows into it. The
//! engine keeps one room: the next growing block that moves, a reset, or
//! the block leaving for a large block gives it back to the free lists.
//! While set aside, its bytes are reserved and not live; the engine counts
//! live bytes by request, so the room needs no accounting of its own.

use core::ptr::{self, NonNull};

/// The room, if any: `start .. end`, 16-aligned, carved from this engine's
/// arena, in no free list, used by nothing.
pub struct GrowthRoom {
    start: *mut u8,
    end: *mut u8,
}

impl GrowthRoom {
    /// No room.
    pub const fn new() -> Self {
        GrowthRoom {
            start: ptr::null_mut(),
            end: ptr::null_mut(),
        }
    }

    /// Sets `start .. start + len` aside.
    ///
    /// # Safety
    ///
    /// The room is empty (see [`take`](Self::take)); the region is carved
    /// memory of the engine, 16-aligned, `len` a multiple of 16, that
    /// nothing else uses, in one chunk.
    pub unsafe fn set(&mut self, start: NonNull<u8>, len: usize) {
        debug_assert!(self.start.is_null());
        self.start = start.as_ptr();
        // SAFETY: the region is `len` bytes long (caller).
        self.end = unsafe { start.as_ptr().add(len) };
    }

    /// Whether a block that ends at `block_end` can grow to end at
    /// `new_end` inside the room; if so, the room shrinks to what is past
    /// `new_end` (by a multiple of 16) and `true` is returned.
    ///
    /// Any block that ends where the room starts lies in the same chunk as
    /// the room (blocks never straddle chunks, and the room was carved right
    /// behind the block it was set aside for, whose address a later block of
    /// that class may have taken), so the grown block is contiguous memory
    /// of that chunk.
    #[inline]
    pub fn grow(&mut self, block_end: usize, new_end: usize) -> bool {
        if self.start.is_null() || block_end != self.start as usize || new_end > self.end as usize {
            return false;
        }
        let given = new_end - block_end;
        // SAFETY: `new_end` is inside the room, so the new start is too (or
        // its end).
        self.start = unsafe { self.start.add(given) };
        true
    }

    /// Whether the room starts where a block ending at `block_end` ends.
    #[inline]
    pub fn follows(&self, block_end: usize) -> bool {
        !self.start.is_null() && self.start as usize == block_end
    }

    /// Empties the room, returning what it held (to be filed for reuse), if
    /// anything.
    pub fn take(&mut self) -> Option<(NonNull<u8>, usize)> {
        let len = self.end as usize - self.start as usize;
        let start = NonNull::new(self.start).filter(|_| len > 0);
        *self = GrowthRoom::new();
        start.map(|start| (start, len))
    }

    /// Forgets the room (its memory is being released with the chunks).
    pub fn clear(&mut self) {
        *self = GrowthRoom::new();
    }
}
