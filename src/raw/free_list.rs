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
//! allocated *by this engine*, which keeps a new pool small and freeing
//! allocation-free. An over-aligned block freed into an engine that never
//! made those lists — a `SyncPool` thread cache freeing another thread's
//! block — is filed under rank 0 instead: it is 16-aligned and a whole
//! block of its class, so it serves an ordinary request of that class.
//!
//! Whole lists move between engines that share memory as [`Chain`]s (see
//! `depot.rs`).

use alloc::boxed::Box;
use core::ptr::{self, NonNull};

use super::size_class::{Class, PerClass, GRANULE};

/// The smallest free block [`FreeLists::pop_span`] turns into a span: a
/// block this large (a grown array's old copy, most often) is more use as
/// room for many small blocks than waiting for a request of its own class.
pub const RECYCLE_MIN: usize = 512;

/// Alignment ranks: 0 for blocks aligned to at most 16 bytes (8 for the
/// paired classes), 1 for 32, 2 for 64.
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

type Heads = PerClass<*mut u8>;

/// A run of free blocks of one class and rank, linked through their first
/// words (the last link is null), taken out of some engine's lists (for
/// the depot, which exists with `std`).
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub struct Chain {
    /// The first block.
    pub first: NonNull<u8>,
    /// The last block (its link is null).
    pub last: NonNull<u8>,
    /// How many blocks the chain holds.
    pub blocks: usize,
}

/// The free lists of one pool.
pub struct FreeLists {
    /// Rank 0 heads, inline: the lists every ordinary request looks at.
    heads: Heads,
    /// Rank 1 and 2 heads, allocated on first use.
    over_aligned: Option<Box<[Heads; RANKS - 1]>>,
    /// Sum of the class sizes of all blocks in the lists.
    bytes: usize,
}

impl FreeLists {
    /// Empty lists.
    pub const fn new() -> Self {
        FreeLists {
            heads: PerClass::splat(ptr::null_mut()),
            over_aligned: None,
            bytes: 0,
        }
    }

    /// Bytes waiting in the lists.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The head of the list of `class` and `rank`, if that list exists.
    #[inline(always)]
    fn head_mut(&mut self, class: Class, rank: usize) -> Option<&mut *mut u8> {
        if rank == 0 {
            Some(&mut self.heads[class])
        } else {
            let lists = self.over_aligned.as_mut()?;
            Some(&mut lists.get_mut(rank - 1)?[class])
        }
    }

    /// Takes the most recently freed block of `class` and `rank`, if any.
    /// Its contents are stale: the caller zeroes what it hands out.
    #[inline(always)]
    pub fn pop(&mut self, class: Class, rank: usize) -> Option<NonNull<u8>> {
        let head = self.head_mut(class, rank)?;
        let block = NonNull::new(*head)?;
        // Every pointer in a list came through `push` or `attach`, whose
        // callers guaranteed a block of at least 8 bytes, 8-aligned at
        // least, that nobody else uses.
        // SAFETY: its first word holds the next link: an aligned read of
        // initialised memory.
        *head = unsafe { block.cast::<*mut u8>().as_ptr().read() };
        self.bytes = self.bytes.wrapping_sub(class.size());
        Some(block)
    }

    /// Takes a free rank-0 block of at least `need` bytes and at least
    /// [`RECYCLE_MIN`] bytes — the largest listed — to serve as a span that
    /// smaller blocks are carved from. Scans the lists of the large classes
    /// only: for the span refill, a cold path.
    #[inline]
    pub fn pop_span(&mut self, need: usize) -> Option<(NonNull<u8>, usize)> {
        let least = need.max(RECYCLE_MIN);
        let class = Class::all()
            .rev()
            .take_while(|class| class.size() >= least)
            .find(|&class| !self.heads[class].is_null())?;
        self.pop(class, 0).map(|block| (block, class.size()))
    }

    /// Makes the lists of `rank` if they do not exist yet. Called on the
    /// allocation path, so that freeing never allocates.
    #[inline]
    pub fn prepare_rank(&mut self, rank: usize) {
        if rank > 0 && self.over_aligned.is_none() {
            self.over_aligned = Some(Box::new([PerClass::splat(ptr::null_mut()); RANKS - 1]));
        }
    }

    /// The list a block of `class` and `rank` is filed in: its own, or rank
    /// 0's when this engine has no lists of that rank (see the module docs).
    #[inline(always)]
    fn filing_head(&mut self, class: Class, rank: usize) -> &mut *mut u8 {
        let lists = if rank == 0 {
            None
        } else {
            self.over_aligned
                .as_mut()
                .and_then(|lists| lists.get_mut(rank - 1))
        };
        match lists {
            Some(lists) => &mut lists[class],
            None => &mut self.heads[class],
        }
    }

    /// Files `block` under `class` and `rank` for reuse.
    ///
    /// # Safety
    ///
    /// `block` must be valid for writes of `class.size()` bytes, aligned to
    /// the rank's alignment (16, 32 or 64; 8 for a block of a paired class,
    /// which is rank 0: see `size_class.rs`), stay allocated for as long as it
    /// is in these lists (memory of the engine that owns them, or of its
    /// group: see `RawPool::with_shared`), and be used by nobody else until
    /// `pop` hands it out again. Its provenance must cover the whole block.
    #[inline(always)]
    pub unsafe fn push(&mut self, block: NonNull<u8>, class: Class, rank: usize) {
        let head = self.filing_head(class, rank);
        // SAFETY: the caller guarantees `block` is writable, 8-aligned at
        // least and at least 8 bytes long, so its first word can hold the link.
        unsafe { block.cast::<*mut u8>().as_ptr().write(*head) };
        *head = block.as_ptr();
        self.bytes = self.bytes.wrapping_add(class.size());
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
        let class = Class::floor(len);
        // SAFETY: the class is at most `len` bytes long, so the caller's
        // guarantee for `len` bytes covers it.
        unsafe { self.push(region, class, 0) }
    }

    /// Takes the whole list of `class` and `rank` out, if it holds a block.
    /// Walks the list (to find its end and length): for cold paths.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub fn detach(&mut self, class: Class, rank: usize) -> Option<Chain> {
        let head = self.head_mut(class, rank)?;
        let first = NonNull::new(*head)?;
        *head = ptr::null_mut();
        let (mut last, mut blocks) = (first, 1_usize);
        // SAFETY: every block in a list holds the next link in its first
        // word (see `pop`); the walk ends at the null link.
        while let Some(next) = NonNull::new(unsafe { last.cast::<*mut u8>().as_ptr().read() }) {
            last = next;
            blocks += 1;
        }
        self.bytes = self.bytes.wrapping_sub(blocks.wrapping_mul(class.size()));
        Some(Chain {
            first,
            last,
            blocks,
        })
    }

    /// Files a whole chain of blocks of `class` and `rank`, newest first.
    ///
    /// # Safety
    ///
    /// Every block of the chain must meet [`push`](Self::push)'s conditions
    /// for `class` and `rank`, and the chain must be linked as [`Chain`]
    /// says. The lists of `rank` must exist (see
    /// [`prepare_rank`](Self::prepare_rank)) or the chain is filed under
    /// rank 0, as `push` does.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub unsafe fn attach(&mut self, chain: Chain, class: Class, rank: usize) {
        let head = self.filing_head(class, rank);
        // SAFETY: `last` is a free block of the chain (caller), whose first
        // word is its link.
        unsafe { chain.last.cast::<*mut u8>().as_ptr().write(*head) };
        *head = chain.first.as_ptr();
        self.bytes = self
            .bytes
            .wrapping_add(chain.blocks.wrapping_mul(class.size()));
    }

    /// Forgets every block (the pool is releasing the memory they live in).
    pub fn clear(&mut self) {
        self.heads = PerClass::splat(ptr::null_mut());
        if let Some(lists) = self.over_aligned.as_mut() {
            **lists = [PerClass::splat(ptr::null_mut()); RANKS - 1];
        }
        self.bytes = 0;
    }
}
