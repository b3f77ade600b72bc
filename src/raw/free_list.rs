//! Intrusive LIFO free lists, one per size class and alignment rank.
//!
//! A freed small block keeps no header: its first word is reused as the
//! link to the next free block of the same class. Popping a block is two
//! loads and a store; the caller zeroes what it hands out.
//!
//! ```text
//!  heads[class] ──► ┌──────┬─────────┐   ┌──────┬─────────┐
//!                   │ next ─────────────► │ null │ (stale) │
//!                   └──────┴─────────┘   └──────┴─────────┘
//! ```
//!
//! Blocks aligned to 32 or 64 bytes live in lists of their own (ranks 1 and
//! 2), so that a popped block always has the alignment its request needs.
//! Those lists are allocated the first time an over-aligned block is
//! allocated, which keeps a new pool small and freeing allocation-free.

use core::ptr::{self, NonNull};

use super::size_class::{floor_class, CLASS_SIZE, GRANULE, NUM_CLASSES};

/// Alignment ranks: 0 for blocks aligned to at most 16 bytes, 1 for 32, 2 for 64.
pub const RANKS: usize = 3;

/// The rank of the free lists that serve alignment `align` (at most 64).
#[inline(always)]
pub const fn rank_of(align: usize) -> usize {
    if align <= GRANULE {
        0
    } else if align <= 2 * GRANULE {
        1
    } else {
        2
    }
}

type Heads = [*mut u8; NUM_CLASSES];

/// The free lists of one pool.
pub struct FreeLists {
    /// Rank 0 heads, inline: the lists every ordinary request looks at.
    heads: Heads,
    /// Rank 1 and 2 heads, allocated on first use.
    over_aligned: Option<Box<[Heads; RANKS - 1]>>,
    /// Sum of the class sizes of all blocks in the lists.
    bytes: usize,
    /// Bytes of filed regions beyond the class they were filed under.
    lost: usize,
}

impl FreeLists {
    /// Empty lists.
    pub const fn new() -> Self {
        FreeLists {
            heads: [ptr::null_mut(); NUM_CLASSES],
            over_aligned: None,
            bytes: 0,
            lost: 0,
        }
    }

    /// Bytes waiting in the lists.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[inline(always)]
    fn head_mut(&mut self, class: usize, rank: usize) -> Option<&mut *mut u8> {
        if rank == 0 {
            Some(&mut self.heads[class])
        } else {
            self.over_aligned
                .as_mut()
                .map(|lists| &mut lists[rank - 1][class])
        }
    }

    /// Bytes of regions filed by [`push_region`](Self::push_region) that no
    /// class could use: unusable until the pool resets.
    #[inline]
    pub fn lost_bytes(&self) -> usize {
        self.lost
    }

    /// Takes the most recently freed block of `class` and `rank`, if any.
    /// Its contents are stale: the caller zeroes what it hands out.
    #[inline(always)]
    pub fn pop(&mut self, class: usize, rank: usize) -> Option<NonNull<u8>> {
        let head = self.head_mut(class, rank)?;
        let block = NonNull::new(*head)?;
        // Every pointer in a list came through `push`, whose caller guaranteed
        // a 16-aligned block of at least 16 bytes that nobody else uses.
        // SAFETY: `push` stored the next link in its first word: an aligned
        // read of initialised memory.
        *head = unsafe { block.cast::<*mut u8>().as_ptr().read() };
        self.bytes -= CLASS_SIZE[class];
        Some(block)
    }

    /// Makes the lists of `rank` if they do not exist yet. Called on the
    /// allocation path, so that freeing never allocates.
    #[inline]
    pub fn prepare_rank(&mut self, rank: usize) {
        if rank > 0 && self.over_aligned.is_none() {
            self.over_aligned = Some(Box::new([[ptr::null_mut(); NUM_CLASSES]; RANKS - 1]));
        }
    }

    /// Files `block` under `class` and `rank` for reuse.
    ///
    /// # Safety
    ///
    /// `block` must be valid for writes of `CLASS_SIZE[class]` bytes, aligned
    /// to the rank's alignment (16, 32 or 64), belong to the pool that owns
    /// these lists for as long as they live, and be used by nobody else until
    /// `pop` hands it out again.
    #[inline(always)]
    pub unsafe fn push(&mut self, block: NonNull<u8>, class: usize, rank: usize) {
        let head = match (rank, self.over_aligned.as_mut()) {
            (0, _) => &mut self.heads[class],
            (_, Some(lists)) => &mut lists[rank - 1][class],
            // The caller's block of this rank was allocated after
            // `prepare_rank(rank)` (see its contract), so the lists exist.
            (_, None) => unreachable!("free list of rank {rank} used before prepare_rank"),
        };
        // SAFETY: the caller guarantees `block` is writable, 16-aligned and at
        // least 16 bytes long, so its first word can hold the link.
        unsafe { block.cast::<*mut u8>().as_ptr().write(*head) };
        *head = block.as_ptr();
        self.bytes += CLASS_SIZE[class];
    }

    /// Files a left-over region (a span tail, alignment padding, the tail of
    /// a block shrunk in place) under the largest rank-0 class that fits in
    /// it. Bytes beyond that class stay unused until the pool resets.
    ///
    /// # Safety
    ///
    /// `region` must be aligned to 16 and valid for writes of `len` bytes,
    /// with `len` a multiple of 16 and at least 16; the other conditions of
    /// [`push`](Self::push) apply.
    #[inline]
    pub unsafe fn push_region(&mut self, region: NonNull<u8>, len: usize) {
        debug_assert!(len >= GRANULE && len % GRANULE == 0);
        let class = floor_class(len);
        self.lost += len - CLASS_SIZE[class];
        // SAFETY: the class is at most `len` bytes long, so the caller's
        // guarantee for `len` bytes covers it.
        unsafe { self.push(region, class, 0) }
    }

    /// Forgets every block (the pool is releasing the memory they live in).
    pub fn clear(&mut self) {
        self.heads = [ptr::null_mut(); NUM_CLASSES];
        if let Some(lists) = self.over_aligned.as_mut() {
            **lists = [[ptr::null_mut(); NUM_CLASSES]; RANKS - 1];
        }
        self.bytes = 0;
        self.lost = 0;
    }
}
