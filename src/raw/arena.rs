//! The bump region small blocks are carved from.
//!
//! `bumpalo::Bump` owns the chunks: it gets them from the global allocator,
//! frees them all at once when the pool drops, and keeps the newest one on
//! reset. The pool does not bump through `Bump` block by block; it takes the
//! whole free rest of a chunk as one *span* and moves its own cursor
//! **upward** through it:
//!
//! ```text
//!             one bumpalo chunk
//!  ┌───────────────────────────────────────────────┬────────┐
//!  │ block │ block │ block │ ▒▒▒▒ free ▒▒▒▒▒▒▒▒▒▒▒▒ │ footer │
//!  └───────────────────────────────────────────────┴────────┘
//!  ▲ start                 ▲ cursor                ▲ end
//! ```
//!
//! Moving up means the newest block can grow and shrink truly in place — no
//! memmove, which bumpalo's downward bump needs — and the fast path is a
//! compare and an add on fields of the pool itself.
//!
//! Chunk growth is bounded: bumpalo doubles chunks forever, which would let
//! memory reserved for an arena of 9 MB reach 16 MB. Before each new chunk
//! the arena sets bumpalo's allocation limit so that the chunk is at most
//! one eighth of what is already reserved (or [`MIN_GROWTH_CAP`], 8 KiB),
//! and at most what the pool's own limit still allows. The unused end of
//! the newest chunk is then at most a ninth of what is held, or 8 KiB. The
//! floor matters for small pools: it was 256 KiB, under which bumpalo
//! doubled freely, and a 50 KB document's last chunk was 32 KB and nearly
//! empty (the per-document demo, `make demo`, held 1.90x its live bytes;
//! 1.59x with this floor alone).

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use alloc::vec::Vec;
use bumpalo::Bump;

use super::size_class::GRANULE;

/// Chunks may always grow to this size, however little is reserved.
///
/// ```
/// assert_eq!(arenapool::raw::MIN_GROWTH_CAP, 8 * 1024);
/// ```
pub const MIN_GROWTH_CAP: usize = 8 * 1024;

/// Why the arena could not get a new span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillError {
    /// The pool's limit does not leave room for a chunk large enough.
    Limit,
    /// The global allocator refused the chunk.
    OutOfMemory,
}

/// The current span of a pool and the chunks behind it.
pub struct Arena {
    bump: Bump<GRANULE>,
    /// First byte of the current span.
    start: *mut u8,
    /// Next free byte of the current span; always 16-aligned.
    cursor: *mut u8,
    /// One past the last byte of the current span; always 16-aligned.
    end: *mut u8,
    /// Chunks held by `bump`, and spans lent by a parent engine.
    chunks: usize,
    /// Spans a parent engine lent this one (a zone's: see
    /// `RawPool::zone_of`), given back when the engine drops; never freed
    /// here.
    lent: Vec<(NonNull<u8>, usize)>,
    /// Their bytes.
    lent_bytes: usize,
}

impl Arena {
    /// An arena that holds no memory yet.
    pub fn new() -> Self {
        Arena {
            bump: Bump::with_min_align(),
            start: ptr::null_mut(),
            cursor: ptr::null_mut(),
            end: ptr::null_mut(),
            chunks: 0,
            lent: Vec::new(),
            lent_bytes: 0,
        }
    }

    /// An arena whose first chunk has room for at least `capacity` bytes;
    /// `None` if the global allocator refuses it.
    pub fn with_capacity(capacity: usize) -> Option<Self> {
        let bump = Bump::try_with_min_align_and_capacity(capacity).ok()?;
        Some(Arena {
            chunks: usize::from(bump.allocated_bytes() > 0),
            bump,
            ..Arena::new()
        })
    }

    /// Bytes left in the current span.
    #[inline(always)]
    pub fn remaining(&self) -> usize {
        self.end as usize - self.cursor as usize
    }

    /// Bytes needed to bring the cursor to alignment `align` (a power of two).
    #[inline(always)]
    pub fn padding_for(&self, align: usize) -> usize {
        (self.cursor as usize).wrapping_neg() & (align - 1)
    }

    /// Carves `len` bytes off the current span.
    ///
    /// # Safety
    ///
    /// `len` must be a multiple of 16 and at most [`remaining`](Self::remaining).
    #[inline(always)]
    pub unsafe fn take(&mut self, len: usize) -> NonNull<u8> {
        debug_assert!(len <= self.remaining() && len % GRANULE == 0);
        let block = self.cursor;
        // SAFETY: `len <= remaining()`, so `cursor + len` stays inside the
        // span, which is one allocation of `bump`.
        self.cursor = unsafe { block.add(len) };
        // SAFETY: the span is non-null whenever `remaining() >= len`; a
        // zero-length take of the empty arena is not made by any caller
        // (they take at least 16 bytes).
        unsafe { NonNull::new_unchecked(block) }
    }

    /// Carves `len` bytes (a multiple of 16) off the span if they fit.
    #[inline(always)]
    pub fn try_take(&mut self, len: usize) -> Option<NonNull<u8>> {
        let block = self.cursor;
        let next = (block as usize).wrapping_add(len);
        if next <= self.end as usize {
            // SAFETY: `len` fits in the span (`next` cannot wrap: the span
            // ends below `usize::MAX - SMALL_MAX`), so the new cursor stays
            // inside it, and `block` is non-null because the span is.
            unsafe {
                self.cursor = block.add(len);
                Some(NonNull::new_unchecked(block))
            }
        } else {
            None
        }
    }

    /// Whether `block`, `len` bytes long, is the newest block of the span.
    #[inline]
    pub fn is_newest(&self, block: NonNull<u8>, len: usize) -> bool {
        let addr = block.as_ptr() as usize;
        // A block of a paired class (an odd multiple of 8 bytes) never
        // counts: moving the cursor over it would leave it 8-aligned.
        addr + len == self.cursor as usize && addr >= self.start as usize && len % GRANULE == 0
    }

    /// Gives the newest block of the span, `len` bytes long (a multiple of
    /// 16), back to the span by moving the cursor down over it, if it is the
    /// newest. Returns whether it did. A block freed right after it was
    /// allocated — a temporary — so costs no free-list traffic, and the next
    /// allocation carves the same, still cached, bytes.
    #[inline(always)]
    pub fn retract(&mut self, block: NonNull<u8>, len: usize) -> bool {
        if self.is_newest(block, len) {
            // The new cursor is derived from the old one, not from `block`,
            // so it keeps the span's provenance whatever the caller's pointer
            // carries.
            // SAFETY: `block` starts in the span and ends at the cursor, so
            // `cursor - len` is `block`'s address, inside the span.
            self.cursor = unsafe { self.cursor.sub(len) };
            true
        } else {
            false
        }
    }

    /// Resizes the newest block of the span from `old_len` to `new_len`
    /// bytes (multiples of 16) by moving the cursor, if it is the newest
    /// block and the span has room. Returns whether it did.
    #[inline]
    pub fn resize_newest(&mut self, block: NonNull<u8>, old_len: usize, new_len: usize) -> bool {
        if !self.is_newest(block, old_len) {
            return false;
        }
        let room = self.end as usize - block.as_ptr() as usize;
        if new_len > room || new_len % GRANULE != 0 {
            return false;
        }
        // SAFETY: `block` lies in the span (it is its newest block) and
        // `new_len <= end - block`, so the new cursor stays inside the span.
        self.cursor = unsafe {
            self.start
                .add(block.as_ptr() as usize - self.start as usize + new_len)
        };
        true
    }

    /// Bytes of the newest chunk not yet taken as a span: what a refill can
    /// have without a new chunk.
    #[inline]
    pub fn chunk_room(&self) -> usize {
        self.bump.chunk_capacity() & !(GRANULE - 1)
    }

    /// Replaces the current span with one of at least `need` bytes (a
    /// multiple of 16), taking the whole free rest of the newest chunk or, if
    /// that is too small, of a new chunk. `max_growth` bounds the bytes a new
    /// chunk may add (what the pool's limit still allows).
    ///
    /// On success returns the unused tail of the old span, for the caller to
    /// file for reuse (it counts as carved); on failure nothing changes.
    #[cold]
    #[inline(never)]
    pub fn refill(
        &mut self,
        need: usize,
        max_growth: Option<usize>,
    ) -> Result<Option<(NonNull<u8>, usize)>, RefillError> {
        debug_assert!(need % GRANULE == 0);
        let in_chunk = self.chunk_room();
        let (low, len) = if in_chunk >= need {
            (
                self.carve(in_chunk).ok_or(RefillError::OutOfMemory)?,
                in_chunk,
            )
        } else {
            self.new_chunk(need, max_growth)?
        };
        let tail = (self.cursor, self.remaining());
        self.start = low.as_ptr();
        self.cursor = low.as_ptr();
        // SAFETY: `low .. low + len` is memory `bump` just handed out.
        self.end = unsafe { low.as_ptr().add(len) };
        Ok(NonNull::new(tail.0)
            .filter(|_| tail.1 >= GRANULE)
            .map(|p| (p, tail.1)))
    }

    /// Allocates a new chunk and returns all of its free space as a span.
    fn new_chunk(
        &mut self,
        need: usize,
        max_growth: Option<usize>,
    ) -> Result<(NonNull<u8>, usize), RefillError> {
        let growth_cap = self.growth_cap(need);
        let (growth, by_budget) = match max_growth {
            Some(allowed) if allowed < growth_cap => (allowed, true),
            _ => (growth_cap, false),
        };
        let bump_limit = self.bump.allocated_bytes().saturating_add(growth);
        self.bump.set_allocation_limit(Some(bump_limit));
        let refused = if by_budget {
            RefillError::Limit
        } else {
            RefillError::OutOfMemory
        };
        // `need` bytes do not fit in the current chunk, so bumpalo takes a new
        // one and places them at its top (it bumps downward) ...
        let top = self.carve(need).ok_or(refused)?;
        self.chunks += 1;
        // ... and the rest of the new chunk lies directly below them.
        let rest = self.bump.chunk_capacity() & !(GRANULE - 1);
        if rest == 0 {
            return Ok((top, need));
        }
        match self.carve(rest) {
            // bumpalo bumps downward, so the rest lies right below `top`; the
            // span joins them only when that is checked to hold.
            Some(low) if low.as_ptr() as usize + rest == top.as_ptr() as usize => {
                Ok((low, rest + need))
            }
            _ => Ok((top, need)),
        }
    }

    /// The most the next chunk may add, for a span of at least `need` bytes:
    /// an eighth of what is held, or [`MIN_GROWTH_CAP`], or four times
    /// `need` — whichever is most. (Without the last, 4 KiB blocks in 8 KiB
    /// chunks left nearly a block's worth of tail in each: a `SyncPool`
    /// thread held 268 KB for 164 KB of them.)
    pub fn growth_cap(&self, need: usize) -> usize {
        (self.bump.allocated_bytes() / 8)
            .max(MIN_GROWTH_CAP)
            .max(need.saturating_mul(4))
    }

    /// One 16-aligned allocation of `len` bytes from bumpalo.
    ///
    /// Never of zero bytes: bumpalo before 3.20.4 answered a zero-size
    /// request of a fresh `Bump` by writing into a static chunk shared by
    /// every `Bump` (GHSA-j7wg-xg3h-2pr6). Every caller asks for a span of at
    /// least one granule; a zero here is refused rather than passed on.
    fn carve(&self, len: usize) -> Option<NonNull<u8>> {
        if len == 0 {
            return None;
        }
        let layout = Layout::from_size_align(len, GRANULE).ok()?;
        let span = self.bump.try_alloc_layout(layout).ok()?;
        // Pointers to blocks of this span may come back narrowed to the
        // block (see `RawPool::rederive`): expose the span's provenance so
        // that they can be given it back.
        let _ = span.as_ptr().expose_provenance();
        Some(span)
    }

    /// Bytes of chunk capacity held (bumpalo's footers not included).
    pub fn reserved_bytes(&self) -> usize {
        self.bump.allocated_bytes() + self.lent_bytes
    }

    /// Makes `span` (`len` bytes, lent by a parent engine) the current span,
    /// as [`refill`](Self::refill) does with a chunk's rest, and returns the
    /// unused tail of the old span.
    ///
    /// # Safety
    ///
    /// `span` is 16-aligned, `len` a multiple of 16, and the memory is this
    /// arena's to carve until [`take_lent`](Self::take_lent) gives it back.
    pub unsafe fn adopt(&mut self, span: NonNull<u8>, len: usize) -> Option<(NonNull<u8>, usize)> {
        let tail = (self.cursor, self.remaining());
        self.start = span.as_ptr();
        self.cursor = span.as_ptr();
        // SAFETY: `span .. span + len` is one block (caller).
        self.end = unsafe { span.as_ptr().add(len) };
        self.lent.push((span, len));
        self.lent_bytes += len;
        self.chunks += 1;
        NonNull::new(tail.0)
            .filter(|_| tail.1 >= GRANULE)
            .map(|p| (p, tail.1))
    }

    /// Makes `block` (`len` bytes: a free block of this engine's, taken out
    /// of its free lists) the current span, and returns the unused tail of
    /// the old span, as [`refill`](Self::refill) does.
    ///
    /// # Safety
    ///
    /// `block` is 16-aligned, `len` a multiple of 16, the memory was carved
    /// by this arena (or, in a group of engines sharing memory, by one of
    /// theirs) and stays allocated while it is used, and nothing else uses
    /// it.
    pub unsafe fn reuse(&mut self, block: NonNull<u8>, len: usize) -> Option<(NonNull<u8>, usize)> {
        let tail = (self.cursor, self.remaining());
        self.start = block.as_ptr();
        self.cursor = block.as_ptr();
        // SAFETY: `block .. block + len` is one block of this arena (caller).
        self.end = unsafe { block.as_ptr().add(len) };
        NonNull::new(tail.0)
            .filter(|_| tail.1 >= GRANULE)
            .map(|p| (p, tail.1))
    }

    /// The lent spans, to give back to the parent (the engine is dropping:
    /// nothing carved from them is used again).
    pub fn take_lent(&mut self) -> Vec<(NonNull<u8>, usize)> {
        self.lent_bytes = 0;
        core::mem::take(&mut self.lent)
    }

    /// Chunks held.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Forgets every block; keeps the newest chunk for reuse, frees the rest.
    /// Lent spans stay held (and unused) until the engine drops.
    pub fn reset(&mut self) {
        self.bump.reset();
        self.chunks = self.chunks.min(1) + self.lent.len();
        self.start = ptr::null_mut();
        self.cursor = ptr::null_mut();
        self.end = ptr::null_mut();
    }
}
