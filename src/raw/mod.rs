//! The engine: raw pointers and [`Layout`]s, no lifetimes.
//!
//! [`RawPool`] is what [`Pool`](crate::Pool) and the Python binding are built
//! on. It is the only part of the crate that touches raw memory; the safe
//! layers call its `unsafe fn`s with the argument why each call's `# Safety`
//! conditions hold.
//!
//! # How a request is served
//!
//! ```text
//! size 0 ───────────────► a dangling, aligned pointer (nothing reserved)
//! size ≤ 4 KiB, align ≤ 64
//!   └► class = size_class::class_of(size)
//!        free list of the class non-empty? ─ yes ─► pop, zero, hand out
//!        └ no ─► carve from the span (arena) ─ span empty? ─► refill (cold)
//! larger ────────────────► its own system allocation (calloc), linked in a list
//! ```
//!
//! Freeing a small block pushes it on its class's free list — or, if it is
//! the newest block of the span, moves the cursor back over it; freeing a
//! large block returns it to the system. The handle (or the caller) always knows
//! the layout, so no block carries a header — except values with a
//! destructor, which carry a link so that reset and drop can find them.

// No panic may be reachable while an engine is mutably borrowed (a panic
// hook that uses the same pool would alias it): every panicking construct is
// denied here (`make clippy` runs with `-D warnings`), and each remaining one
// is allowed in place with the argument why it cannot fire.
#![warn(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unreachable,
    clippy::indexing_slicing
)]

mod arena;
#[cfg(feature = "std")]
mod depot;
mod drop_list;
mod free_list;
mod growth_room;
mod large;
mod pages;
#[cfg(feature = "std")]
mod shared;
mod size_class;

#[cfg(feature = "std")]
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::{self, NonNull};

pub use arena::MIN_GROWTH_CAP;
pub use drop_list::DropFn;
#[cfg(feature = "std")]
pub use shared::Shared;
pub use size_class::{GRANULE, SMALL_MAX, SMALL_MAX_ALIGN};

use crate::{AllocError, Stats};
use arena::{Arena, RefillError};
use drop_list::DropList;
use free_list::{rank_of, FreeLists};
use growth_room::GrowthRoom;
use large::LargeBlocks;
use size_class::Class;

/// The size of a span a parent lends to a zone (or more, for a larger
/// request): one size, so that any zone can reuse any spare span.
///
/// ```
/// let pool = arenapool::Pool::new();
/// let zone = pool.zone();
/// let _block = zone.alloc(1, 16); // the zone borrows one span
/// assert!(pool.stats().reserved_bytes >= arenapool::raw::ZONE_SPAN);
/// ```
pub const ZONE_SPAN: usize = 64 * 1024;

/// How an engine's reserved memory is bounded.
enum Limit {
    /// Not at all.
    None,
    /// By this many bytes, counted by the engine itself.
    Own(usize),
    /// By a limit shared with other engines, which exchange free blocks
    /// through its depot.
    #[cfg(feature = "std")]
    Shared(Arc<Shared>),
    /// By its parent's: a zone's engine (see [`RawPool::zone_of`]), which
    /// takes its spans from the parent and counts its large blocks there.
    Zone(NonNull<RawPool>),
}

/// Where a block of a given layout lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No memory: a dangling pointer.
    Empty,
    /// A small block of `class`, in free lists of `rank`.
    Small { class: Class, rank: usize },
    /// A large block.
    Large,
}

#[inline(always)]
fn kind_of(size: usize, align: usize) -> Kind {
    if size.wrapping_sub(1) < SMALL_MAX && align <= SMALL_MAX_ALIGN {
        Kind::Small {
            class: Class::of(size, align),
            rank: rank_of(align),
        }
    } else if size == 0 {
        Kind::Empty
    } else {
        Kind::Large
    }
}

/// The class of `layout` if it takes the fast path — a small request aligned
/// to at most 16 — else `None` (zero-size, over-aligned or large).
#[inline(always)]
fn fast_class(layout: Layout) -> Option<Class> {
    let size = layout.size();
    if size.wrapping_sub(1) < SMALL_MAX && layout.align() <= GRANULE {
        Some(Class::of(size, layout.align()))
    } else {
        None
    }
}

/// Zeroes the first `size` bytes of a small block.
///
/// A size known at compile time folds to its stores; one known only at run
/// time is a `memset` call. Inline stores for run-time sizes up to 64 bytes
/// (two to four that may overlap, as `memset` does inside) cut the Cython
/// `alloc(1, 16)` + `free` pair from 18.1 to 15.5 ns, but made W4's
/// documents of mixed sizes (8–127 bytes) 14–16% slower in alternating
/// rounds of one binary holding both versions, whichever held which;
/// inlining only sizes up to 16 cost 11–24%, though it changed 7.5% of those
/// calls. A program's sizes are mixed far more
/// often than they are one, so the call stays.
///
/// # Safety
///
/// `block` has at least `size` writable bytes.
#[inline(always)]
unsafe fn zero_block(block: NonNull<u8>, size: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { block.as_ptr().write_bytes(0, size) }
}

/// `old` with its size changed to `new_size`, if such a layout can exist.
#[inline]
pub(crate) fn resized(old: Layout, new_size: usize) -> Result<Layout, AllocError> {
    Layout::from_size_align(new_size, old.align()).map_err(|_| AllocError::LayoutTooLarge {
        size: new_size,
        align: old.align(),
    })
}

/// The pointer handed out for zero-size requests: never dereferenced for
/// any byte, aligned to `align` and to 16 (what byte blocks promise).
#[inline(always)]
fn dangling(align: usize) -> NonNull<u8> {
    // SAFETY: an alignment is never zero.
    unsafe { NonNull::new_unchecked(ptr::without_provenance_mut(align.max(GRANULE))) }
}

/// The allocation engine of one pool.
///
/// Every block it hands out is owned by it and freed when it drops or
/// resets; every value registered with
/// [`alloc_droppable`](Self::alloc_droppable) has its destructor run then.
///
/// ```
/// use core::alloc::Layout;
/// use arenapool::raw::RawPool;
///
/// let mut raw = RawPool::new(None);
/// let layout = Layout::from_size_align(24, 8).unwrap();
/// let block = raw.alloc(layout).unwrap();
/// // SAFETY: `block` came from `raw` with `layout` and is freed once.
/// unsafe { raw.dealloc(block, layout) };
/// assert_eq!(raw.size(), 0);
/// ```
///
/// The engine asks for no more than pointer alignment, so it can live in
/// memory that only promises 16 (CPython places a `#[pyclass]`'s contents
/// so); a `SyncPool` aligns each thread cache to a cache line itself.
#[repr(C)]
pub struct RawPool {
    live_allocations: usize,
    free: FreeLists,
    arena: Arena,
    large: LargeBlocks,
    drops: DropList,
    limit: Limit,
    /// Requested bytes of live blocks, small and large (cymem's `size`): a
    /// value's drop header and a block's rounding to its class are not
    /// counted. Kept directly, one add per allocation and one subtract per
    /// free, rather than derived from the carved bytes, the free lists and
    /// the rounding waste: the peak check every free makes then reads one
    /// counter, not five (a free took 54 instructions with the derivation).
    live: usize,
    /// Highest live byte count seen when it last decreased; see `note_peak`.
    peak_live_bytes: usize,
    /// Spans lent to zones and given back, kept for the next zone (each a
    /// block of `large`, so held and freed with this engine).
    spare_spans: Vec<(NonNull<u8>, usize)>,
    /// Bytes of the large blocks of this engine's zones (and theirs),
    /// counted here so that they count against this engine's limit.
    zone_held: usize,
    /// Room set aside behind the small block that grew last (reserved, not
    /// live).
    room: GrowthRoom,
}

// SAFETY: the engine owns the memory its raw pointers reach — alone, or,
// for engines made by `with_shared`, jointly with the engines sharing its
// `Shared`, under that function's contract (which makes whoever shares them
// keep the memory alive and the hand-over synchronised). The only foreign
// code it runs is the destructors of registered values, and
// `alloc_droppable`'s contract requires those values to be `Send`.
unsafe impl Send for RawPool {}

impl Default for RawPool {
    fn default() -> Self {
        RawPool::new(None)
    }
}

impl RawPool {
    /// An engine that holds no memory yet and may reserve at most `limit`
    /// bytes (none: unbounded).
    ///
    /// ```
    /// let raw = arenapool::raw::RawPool::new(Some(1 << 20));
    /// assert_eq!(raw.limit(), Some(1 << 20));
    /// ```
    pub fn new(limit: Option<usize>) -> Self {
        RawPool {
            free: FreeLists::new(),
            arena: Arena::new(),
            large: LargeBlocks::new(),
            drops: DropList::new(),
            limit: limit.map_or(Limit::None, Limit::Own),
            live: 0,
            live_allocations: 0,
            peak_live_bytes: 0,
            spare_spans: Vec::new(),
            zone_held: 0,
            room: GrowthRoom::new(),
        }
    }

    /// An engine whose first chunk already has room for `capacity` bytes of
    /// small blocks, so that they need no chunk growth.
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] if the chunk would pass `limit`,
    /// [`AllocError::OutOfMemory`] if the global allocator refuses it.
    ///
    /// ```
    /// let raw = arenapool::raw::RawPool::with_capacity(4096, None).unwrap();
    /// assert!(raw.stats().reserved_bytes >= 4096);
    /// ```
    pub fn with_capacity(capacity: usize, limit: Option<usize>) -> Result<Self, AllocError> {
        if limit.is_some_and(|limit| capacity > limit) {
            return Err(AllocError::LimitExceeded {
                requested: capacity,
                limit: limit.unwrap_or(0),
                reserved: 0,
            });
        }
        // (Nothing is reserved yet in the error above; below, the chunk has
        // been made and is given back.)
        let arena = Arena::with_capacity(capacity).ok_or(AllocError::OutOfMemory {
            size: capacity,
            align: GRANULE,
        })?;
        let mut raw = RawPool::new(limit);
        raw.arena = arena;
        if limit.is_some_and(|limit| raw.reserved_bytes() > limit) {
            // bumpalo rounds the chunk up; give it back rather than pass the limit.
            return Err(AllocError::LimitExceeded {
                requested: capacity,
                limit: limit.unwrap_or(0),
                reserved: raw.reserved_bytes(),
            });
        }
        Ok(raw)
    }

    /// An engine that shares its limit — and the count of reserved bytes
    /// behind it — and a depot of free blocks with other engines, as the
    /// thread caches of a `SyncPool` do. Its own [`stats`](Self::stats) still
    /// count only its own memory.
    ///
    /// Blocks move between engines that share state: one frees what another
    /// allocated, [`spill`](Self::spill) hands free lists to the depot and
    /// any of them takes from it. Each engine's live counts may then wrap,
    /// but their wrapping sum over the engines, less the depot's bytes, stays
    /// exact.
    ///
    /// # Safety
    ///
    /// Memory then belongs to the group, not to one engine, so whoever makes
    /// the group keeps it whole:
    ///
    /// * no engine of the group resets or drops while a block of its memory
    ///   may still be reached through another engine's free lists or values,
    ///   or the depot: the group resets or drops together, after
    ///   [`Shared::clear_depot`], and destructors of values (which may live
    ///   in any engine's memory) run before any engine's memory is released;
    /// * engines of the group used from several threads hand blocks over
    ///   with the synchronisation of their owners (a lock, a channel).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arenapool::raw::{RawPool, Shared};
    ///
    /// let shared = Arc::new(Shared::new(Some(1 << 20)));
    /// // SAFETY: a group of one engine, whose depot only it uses.
    /// let mut raw = unsafe { RawPool::with_shared(shared.clone()) };
    /// raw.alloc(core::alloc::Layout::new::<[u8; 64]>()).unwrap();
    /// assert_eq!(shared.reserved(), raw.stats().reserved_bytes);
    /// shared.clear_depot();
    /// ```
    #[cfg(feature = "std")]
    pub unsafe fn with_shared(shared: Arc<Shared>) -> Self {
        let mut raw = RawPool::new(None);
        raw.limit = Limit::Shared(shared);
        raw
    }

    /// [`with_shared`](Self::with_shared) with a first chunk that has room
    /// for `capacity` bytes of small blocks, counted against the shared
    /// limit.
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] if the chunk would pass the shared
    /// limit, [`AllocError::OutOfMemory`] if the global allocator refuses it;
    /// nothing is then held.
    ///
    /// # Safety
    ///
    /// As for [`with_shared`](Self::with_shared).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arenapool::raw::{RawPool, Shared};
    ///
    /// let shared = Arc::new(Shared::new(None));
    /// // SAFETY: a group of one engine.
    /// let raw = unsafe { RawPool::with_shared_capacity(shared.clone(), 8192) }.unwrap();
    /// assert!(raw.reserved_bytes() >= 8192 && shared.reserved() == raw.reserved_bytes());
    ///
    /// let tight = Arc::new(Shared::new(Some(1000)));
    /// // SAFETY: as above.
    /// assert!(unsafe { RawPool::with_shared_capacity(tight.clone(), 8192) }.is_err());
    /// assert_eq!(tight.reserved(), 0);
    /// ```
    #[cfg(feature = "std")]
    pub unsafe fn with_shared_capacity(
        shared: Arc<Shared>,
        capacity: usize,
    ) -> Result<Self, AllocError> {
        let arena = Arena::with_capacity(capacity).ok_or(AllocError::OutOfMemory {
            size: capacity,
            align: GRANULE,
        })?;
        // The chunk is made first (bumpalo decides its size); if the limit
        // refuses it, it goes back with `arena`.
        if let Err(reserved) = shared.try_take(arena.reserved_bytes()) {
            return Err(AllocError::LimitExceeded {
                requested: capacity,
                limit: shared.limit().unwrap_or(usize::MAX),
                reserved,
            });
        }
        // SAFETY: forwarded from the caller.
        let mut raw = unsafe { RawPool::with_shared(shared) };
        raw.arena = arena;
        Ok(raw)
    }

    /// The byte limit on reserved memory, if any.
    ///
    /// ```
    /// assert_eq!(arenapool::raw::RawPool::new(None).limit(), None);
    /// ```
    pub fn limit(&self) -> Option<usize> {
        match &self.limit {
            Limit::None => None,
            Limit::Own(limit) => Some(*limit),
            #[cfg(feature = "std")]
            Limit::Shared(shared) => shared.limit(),
            // SAFETY: a zone's parent outlives it (`zone_of`'s contract).
            Limit::Zone(parent) => unsafe { parent.as_ref() }.limit(),
        }
    }

    /// Live bytes requested (cymem's `Pool.size`).
    ///
    /// ```
    /// assert_eq!(arenapool::raw::RawPool::new(None).size(), 0);
    /// ```
    #[inline]
    pub fn size(&self) -> usize {
        self.live_bytes()
    }

    /// Live requested bytes (wrapping: an engine of a `SyncPool` group may
    /// free more than it allocated, and the group sums its engines).
    #[inline(always)]
    fn live_bytes(&self) -> usize {
        self.live
    }

    /// Records that a block now serves a request of `requested` bytes.
    #[inline(always)]
    fn account_alloc(&mut self, requested: usize) {
        self.live = self.live.wrapping_add(requested);
    }

    /// Undoes [`account_alloc`](Self::account_alloc).
    #[inline(always)]
    fn account_free(&mut self, requested: usize) {
        self.live = self.live.wrapping_sub(requested);
    }

    /// A snapshot of the accounting.
    ///
    /// ```
    /// let raw = arenapool::raw::RawPool::new(None);
    /// assert_eq!(raw.stats().reserved_bytes, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        Stats {
            live_allocations: self.live_allocations,
            live_bytes: self.live_bytes(),
            reserved_bytes: self.reserved_bytes(),
            free_list_bytes: self.free.bytes(),
            peak_live_bytes: self.peak_live_bytes.max(self.live_bytes()),
            chunks: self.arena.chunks(),
            large_blocks: self.large.count(),
        }
    }

    /// Live bytes, live allocations, free-list bytes and chunks: the counts
    /// a `SyncPool` cache publishes after each call, without the rest of
    /// [`stats`](Self::stats).
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn published_counts(&self) -> (usize, usize, usize, usize) {
        (
            self.live_bytes(),
            self.live_allocations,
            self.free.bytes(),
            self.arena.chunks(),
        )
    }

    /// Bytes waiting in the free lists (the `free_list_bytes` of
    /// [`stats`](Self::stats), without computing the rest).
    ///
    /// ```
    /// assert_eq!(arenapool::raw::RawPool::new(None).free_list_bytes(), 0);
    /// ```
    #[inline]
    pub fn free_list_bytes(&self) -> usize {
        self.free.bytes()
    }

    /// Bytes held from the system allocator (the `reserved_bytes` of
    /// [`stats`](Self::stats), without computing the rest).
    ///
    /// ```
    /// assert_eq!(arenapool::raw::RawPool::new(None).reserved_bytes(), 0);
    /// ```
    #[inline]
    pub fn reserved_bytes(&self) -> usize {
        self.arena.reserved_bytes() + self.large.bytes() + self.zone_held
    }

    /// The peak only needs recording when live bytes are about to drop.
    #[inline(always)]
    fn note_peak(&mut self) {
        let live = self.live_bytes();
        // A branch, not a select: a new peak is rare once a pool is warm,
        // and an unconditional store would write the peak on every free.
        if live > self.peak_live_bytes {
            self.peak_live_bytes = live;
        }
    }

    // --- allocation ----------------------------------------------------

    /// Allocates a zeroed block for `layout`.
    ///
    /// The block is aligned to `layout.align()` and to 16; a zero-size
    /// request returns a dangling pointer so aligned and reserves nothing.
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] past the limit, [`AllocError::OutOfMemory`]
    /// when the global allocator refuses; the engine is unchanged.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// let block = raw.alloc(Layout::new::<[u64; 4]>()).unwrap();
    /// assert_eq!(block.as_ptr() as usize % 16, 0);
    /// ```
    #[inline]
    pub fn alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.accounted_alloc::<true>(layout)
    }

    /// Allocates a block for `layout` whose contents are unspecified
    /// (stale bytes of a freed block may show). Otherwise as
    /// [`alloc`](Self::alloc).
    ///
    /// # Errors
    ///
    /// As for [`alloc`](Self::alloc).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// let block = raw.alloc_uninit(Layout::new::<u32>()).unwrap();
    /// // SAFETY: the block is 4 writable bytes aligned for u32.
    /// unsafe { block.cast::<u32>().write(7) };
    /// ```
    #[inline]
    pub fn alloc_uninit(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.accounted_alloc::<false>(layout)
    }

    /// [`alloc`](Self::alloc) (`ZERO`) or [`alloc_uninit`](Self::alloc_uninit).
    ///
    /// On the small path the counters are updated before the block is
    /// zeroed, so that nothing but the block and its size lives across the
    /// `memset` call: fewer registers saved around it in the caller's loop.
    #[inline(always)]
    fn accounted_alloc<const ZERO: bool>(
        &mut self,
        layout: Layout,
    ) -> Result<NonNull<u8>, AllocError> {
        let size = layout.size();
        match fast_class(layout) {
            Some(class) => {
                let block = self.small_block(class, layout.align())?;
                self.account_alloc(size);
                self.live_allocations = self.live_allocations.wrapping_add(1);
                if ZERO {
                    // SAFETY: a block of class `class`, of at least `size`
                    // bytes.
                    unsafe { zero_block(block, size) };
                }
                Ok(block)
            }
            None => {
                let block = self.block_alloc_slow::<ZERO>(layout)?;
                self.account_alloc(size);
                self.live_allocations = self.live_allocations.wrapping_add(1);
                Ok(block)
            }
        }
    }

    /// The fast path of [`alloc`](Self::alloc) (`zeroed`) or
    /// [`alloc_uninit`](Self::alloc_uninit) alone: a small, ordinarily
    /// aligned block from its free list or the current span, accounted;
    /// `None`, with nothing changed, when the request needs the slow path
    /// (a new span, a large or over-aligned block, a zero-size request).
    ///
    /// A caller that tries this first and makes the full call only on
    /// `None`, out of line, keeps its own fast path free of the slow path's
    /// register saves. It never changes
    /// [`reserved_bytes`](Self::reserved_bytes) (it takes no new span).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// let small = Layout::new::<[u8; 16]>();
    /// assert!(raw.alloc_fast(small, true).is_none()); // no span yet
    /// raw.alloc(small).unwrap();
    /// assert!(raw.alloc_fast(small, true).is_some());
    /// ```
    #[inline(always)]
    pub fn alloc_fast(&mut self, layout: Layout, zeroed: bool) -> Option<NonNull<u8>> {
        let class = fast_class(layout)?;
        let block = match self.free.pop(class, 0) {
            Some(block) => block,
            // Paired blocks are carved two at a time, on the slow path.
            None if class.is_paired_at(layout.align()) => return None,
            None => self.arena.try_take(class.size())?,
        };
        let size = layout.size();
        self.account_alloc(size);
        self.live_allocations = self.live_allocations.wrapping_add(1);
        if zeroed {
            // SAFETY: a block of class `class`, of at least `size` bytes.
            unsafe { zero_block(block, size) };
        }
        Some(block)
    }

    /// A rank-0 block of `class` for a request aligned to `align`: a listed
    /// one, else one carved from the span.
    #[inline(always)]
    fn small_block(&mut self, class: Class, align: usize) -> Result<NonNull<u8>, AllocError> {
        match self.free.pop(class, 0) {
            Some(block) => Ok(block),
            None if class.is_paired_at(align) => self.small_alloc_slow(class, 0, GRANULE),
            None => match self.arena.try_take(class.size()) {
                Some(block) => Ok(block),
                None => self.small_alloc_slow(class, 0, GRANULE),
            },
        }
    }

    /// A block for `layout` whose contents are unspecified, without
    /// accounting.
    #[inline(always)]
    fn block_alloc_uninit(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        match fast_class(layout) {
            Some(class) => self.small_block(class, layout.align()),
            None => self.block_alloc_slow::<false>(layout),
        }
    }

    /// Everything but a small, ordinarily aligned block: zero-size,
    /// over-aligned and large requests.
    #[cold]
    #[inline(never)]
    fn block_alloc_slow<const ZERO: bool>(
        &mut self,
        layout: Layout,
    ) -> Result<NonNull<u8>, AllocError> {
        let (size, align) = (layout.size(), layout.align());
        match kind_of(size, align) {
            Kind::Empty => Ok(dangling(align)),
            Kind::Small { class, rank } => {
                // Lists for this alignment exist before any such block does,
                // so that freeing one never allocates.
                self.free.prepare_rank(rank);
                let block = match self.free.pop(class, rank) {
                    Some(block) => block,
                    None => self.small_alloc_slow(class, rank, align)?,
                };
                if ZERO {
                    // SAFETY: a class-`class` block has at least `size` writable bytes.
                    unsafe { block.as_ptr().write_bytes(0, size) };
                }
                Ok(block)
            }
            Kind::Large => self.large_alloc(size, align, ZERO),
        }
    }

    /// Carves a block of `class` aligned to `align` from the span, refilling
    /// the span if needed. Padding before an over-aligned block is filed for
    /// reuse, not lost. A paired class's blocks are carved two at a time
    /// (one 16-aligned carve) and the second is filed.
    #[cold]
    #[inline(never)]
    fn small_alloc_slow(
        &mut self,
        class: Class,
        rank: usize,
        align: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        // Without `std` no engine shares memory: no depot, the rank unused.
        #[cfg(not(feature = "std"))]
        let _ = rank;
        // Engines that share memory take what the others spilled before
        // carving more.
        #[cfg(feature = "std")]
        if let Some(block) = self.take_from_depot(class, rank) {
            return Ok(block);
        }
        if class.is_paired() {
            // Paired classes are rank 0: their requests are aligned to at
            // most 8.
            let first = self.small_alloc_carve(2 * class.size(), align)?;
            // SAFETY: the carve is two blocks of the class; the second starts
            // `class.size()` bytes in, is 8-aligned (all a paired class's
            // blocks promise) and used by nothing.
            unsafe { self.free.push(first.add(class.size()), class, 0) };
            return Ok(first);
        }
        self.small_alloc_carve(class.size(), align)
    }

    /// [`small_alloc_slow`](Self::small_alloc_slow)'s carve of `len` bytes
    /// (a multiple of 16) aligned to `align`.
    fn small_alloc_carve(&mut self, len: usize, align: usize) -> Result<NonNull<u8>, AllocError> {
        loop {
            let pad = self.arena.padding_for(align);
            if self.arena.remaining() >= pad + len {
                if pad > 0 {
                    // SAFETY: `pad` (a multiple of 16, since the cursor is
                    // 16-aligned and `align` a larger power of two) fits, and
                    // the carved padding is a fresh region of the pool.
                    unsafe {
                        let padding = self.arena.take(pad);
                        self.free.push_region(padding, pad);
                    }
                }
                // SAFETY: `len` is a multiple of 16 (a class size, or two of
                // a paired class) and fits.
                return Ok(unsafe { self.arena.take(len) });
            }
            // Room for the block and the worst padding before it.
            self.refill(len + align.max(GRANULE) - GRANULE)?;
        }
    }

    /// A block of `class` and `rank` from the shared depot, if this engine
    /// shares one and it holds some: the whole list is filed here and its
    /// newest block handed out.
    #[cfg(feature = "std")]
    fn take_from_depot(&mut self, class: Class, rank: usize) -> Option<NonNull<u8>> {
        let Limit::Shared(shared) = &self.limit else {
            return None;
        };
        let chain = shared.depot().take(class, rank)?;
        // The lists of `rank` exist: `block_alloc_slow` prepared them before
        // asking for an over-aligned block.
        // SAFETY: the depot's blocks are free blocks of this class and rank,
        // of memory every engine sharing it owns, with whole-block provenance
        // (`Depot::put`'s contract, kept by `spill`).
        unsafe { self.free.attach(chain, class, rank) };
        self.free.pop(class, rank)
    }

    /// Moves every free list of this engine into the shared depot, for the
    /// other engines that share it (nothing happens for an engine of its own).
    /// Walks the lists: call it when they hold a lot (see
    /// [`Stats::free_list_bytes`]), not per free.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use core::alloc::Layout;
    /// use arenapool::raw::{RawPool, Shared};
    ///
    /// let shared = Arc::new(Shared::new(None));
    /// // SAFETY: a group of one engine; the depot is cleared before it drops.
    /// let mut raw = unsafe { RawPool::with_shared(shared.clone()) };
    /// let layout = Layout::new::<[u8; 32]>();
    /// let (a, b) = (raw.alloc(layout).unwrap(), raw.alloc(layout).unwrap());
    /// // SAFETY: `a` came from `raw` with `layout` and is freed once.
    /// unsafe { raw.dealloc(a, layout) };
    /// raw.spill();
    /// assert_eq!((raw.stats().free_list_bytes, shared.depot_bytes()), (0, 32));
    /// shared.clear_depot();
    /// # let _ = b;
    /// ```
    #[cfg(feature = "std")]
    pub fn spill(&mut self) {
        let Limit::Shared(shared) = &self.limit else {
            return;
        };
        for rank in 0..free_list::RANKS {
            for class in Class::all() {
                if let Some(chain) = self.free.detach(class, rank) {
                    // A whole free list of this engine: free blocks of this
                    // class and rank, with the provenance the engine gave them.
                    // SAFETY: so, of memory the engines sharing the depot own
                    // jointly (`with_shared`'s contract).
                    unsafe { shared.depot().put(chain, class, rank) };
                }
            }
        }
    }

    /// Gives the arena a new span of at least `need` bytes; files the old
    /// span's tail for reuse.
    fn refill(&mut self, need: usize) -> Result<(), AllocError> {
        // A large free block serves as the span before any new memory does
        // (a grown array's old copies become room for small blocks).
        if let Some((block, len)) = self.free.pop_span(need) {
            // SAFETY: a free rank-0 block of this engine (or its group),
            // 16-aligned, a class size long, carved from this arena or one
            // sharing its memory, and no longer in any list.
            let tail = unsafe { self.arena.reuse(block, len) };
            if let Some((tail, tail_len)) = tail {
                // SAFETY: the unused, 16-aligned end of the old span (a
                // multiple of 16, at least 16 bytes), owned by the pool.
                unsafe { self.free.push_region(tail, tail_len) };
            }
            return Ok(());
        }
        if let Limit::Zone(mut parent) = self.limit {
            // SAFETY: a zone's parent outlives it and is not in use while
            // the zone is (`zone_of`'s contract): this is the only access.
            let (span, len) = unsafe { parent.as_mut() }.lend_span(need)?;
            // SAFETY: a block of the parent's, 16-aligned, `len` (a multiple
            // of 16) long, lent to this engine until it drops.
            if let Some((tail, tail_len)) = unsafe { self.arena.adopt(span, len) } {
                // SAFETY: the unused, 16-aligned end of the old span (a
                // multiple of 16, at least 16 bytes), owned by the pool.
                unsafe { self.free.push_region(tail, tail_len) };
            }
            return Ok(());
        }
        let result = match &self.limit {
            // (A zone's refill returned above.)
            Limit::None | Limit::Zone(_) => self.arena.refill(need, None),
            Limit::Own(limit) => {
                let room = limit.saturating_sub(self.reserved_bytes());
                self.arena.refill(need, Some(room))
            }
            // The rest of the current chunk needs no new memory, so no grant.
            #[cfg(feature = "std")]
            Limit::Shared(_) if self.arena.chunk_room() >= need => self.arena.refill(need, Some(0)),
            // Cannot unwind between the grant and its settling: bumpalo
            // reports a refused chunk as an error, and a span request is at
            // most the growth cap plus one small block (no size overflow).
            #[cfg(feature = "std")]
            Limit::Shared(shared) => loop {
                let grant = shared.begin_refill(self.arena.growth_cap(need));
                let before = self.arena.reserved_bytes();
                let result = self.arena.refill(need, Some(grant.bytes));
                let used = self.arena.reserved_bytes().saturating_sub(before);
                shared.settle(grant, used);
                // Refused while other refills held grants: what they did not
                // use may leave room, so try again once they settle.
                if result == Err(RefillError::Limit) && grant.others_pending {
                    shared.wait_settled();
                    continue;
                }
                break result;
            },
        };
        match result {
            Ok(tail) => {
                if let Some((tail, len)) = tail {
                    // SAFETY: the tail is the unused, 16-aligned end of the old
                    // span (a multiple of 16, at least 16 bytes), owned by the pool.
                    unsafe { self.free.push_region(tail, len) };
                }
                Ok(())
            }
            Err(RefillError::Limit) => Err(self.limit_exceeded(need)),
            Err(RefillError::OutOfMemory) => Err(AllocError::OutOfMemory {
                size: need,
                align: GRANULE,
            }),
        }
    }

    #[cold]
    fn limit_exceeded(&self, requested: usize) -> AllocError {
        AllocError::LimitExceeded {
            requested,
            limit: self.limit().unwrap_or(usize::MAX),
            reserved: match &self.limit {
                #[cfg(feature = "std")]
                Limit::Shared(shared) => shared.reserved(),
                // SAFETY: as in `limit`.
                Limit::Zone(parent) => unsafe { parent.as_ref() }.reserved_bytes(),
                _ => self.reserved_bytes(),
            },
        }
    }

    /// A large block of its own; zeroed by the system when `zeroed`.
    #[cold]
    #[inline(never)]
    fn large_alloc(
        &mut self,
        size: usize,
        align: usize,
        zeroed: bool,
    ) -> Result<NonNull<u8>, AllocError> {
        let system =
            large::system_layout(size, align).ok_or(AllocError::LayoutTooLarge { size, align })?;
        self.take(system.size(), size)?;
        self.large_made(system, |large| large.alloc(system, zeroed))
    }

    /// A large block that is going to grow (see `LargeBlocks::alloc_growable`),
    /// and whether it is zeroed already; its bytes are otherwise not
    /// initialised.
    #[cold]
    #[inline(never)]
    fn large_alloc_growable(
        &mut self,
        size: usize,
        align: usize,
    ) -> Result<(NonNull<u8>, bool), AllocError> {
        let system =
            large::system_layout(size, align).ok_or(AllocError::LayoutTooLarge { size, align })?;
        // Off pages of its own, the block gets the capacity to double once
        // in place (a small block growing into this range is an array that
        // grows on: spaCy's token array crosses here at 256 tokens). The
        // capacity is a bonus: a limit it would pass only takes it away.
        let doubled = size
            .checked_mul(2)
            .and_then(|twice| large::system_layout(twice, align));
        let capacity = match doubled {
            Some(doubled)
                if !LargeBlocks::maps(system) && self.take(doubled.size(), size).is_ok() =>
            {
                doubled
            }
            _ => {
                self.take(system.size(), size)?;
                system
            }
        };
        self.large_made(capacity, |large| large.alloc_growable(system, capacity))
    }

    /// The system layout a large block of `old_size` bytes (holding
    /// `old_sys`) is resized to for `new_size` bytes (`new_sys` exactly),
    /// its growth taken from the limit.
    ///
    /// A block that grows past what it holds, off pages of its own, gets the
    /// capacity to double once more, as a small block crossing into the
    /// large range does: an array grown a step at a time (a `TokenC` array
    /// grown token by token) otherwise paid the system's `realloc` at every
    /// step between the small range and the mapped one — 164 ns a step to
    /// 1e5 tokens of 24 bytes, measured through the C API, where the steps
    /// inside capacity cost a `memset` of the new bytes. The capacity is a
    /// bonus: a limit it would pass only takes it away.
    #[inline]
    fn large_growth(
        &mut self,
        old_sys: Layout,
        old_size: usize,
        new_sys: Layout,
        new_size: usize,
        mapped: bool,
    ) -> Result<Layout, AllocError> {
        let doubled = (!mapped && new_size > old_size)
            .then(|| old_size.checked_mul(2))
            .flatten()
            .filter(|&twice| twice > new_size)
            .and_then(|twice| large::system_layout(twice, new_sys.align()));
        if let Some(doubled) = doubled {
            let growth = doubled.size().saturating_sub(old_sys.size());
            if self.take(growth, new_size).is_ok() {
                return Ok(doubled);
            }
        }
        self.take(new_sys.size().saturating_sub(old_sys.size()), new_size)?;
        Ok(new_sys)
    }

    /// Runs `make`, which makes a large block holding `held` bytes (already
    /// taken from the limit); gives them back if it fails.
    #[inline]
    fn large_made<T>(
        &mut self,
        held: Layout,
        make: impl FnOnce(&mut LargeBlocks) -> Option<T>,
    ) -> Result<T, AllocError> {
        let made = make(&mut self.large);
        if made.is_none() {
            self.give_back(held.size());
        }
        made.ok_or(AllocError::OutOfMemory {
            size: held.size(),
            align: held.align(),
        })
    }

    /// Takes `extra` bytes from the limit before reserving them from the
    /// system; errs if that would pass it.
    #[inline]
    fn take(&self, extra: usize, requested: usize) -> Result<(), AllocError> {
        let refused = match &self.limit {
            Limit::None => false,
            Limit::Own(limit) => self.reserved_bytes().saturating_add(extra) > *limit,
            #[cfg(feature = "std")]
            Limit::Shared(shared) => shared.try_take(extra).is_err(),
            Limit::Zone(mut parent) => {
                // SAFETY: as in `refill`.
                let parent = unsafe { parent.as_mut() };
                let taken = parent.take(extra, requested);
                if taken.is_ok() {
                    parent.zone_held += extra;
                }
                taken.is_err()
            }
        };
        if refused {
            Err(self.limit_exceeded(requested))
        } else {
            Ok(())
        }
    }

    /// Gives back `bytes` returned to the system (only a shared limit keeps
    /// its own count).
    #[inline]
    fn give_back(&self, bytes: usize) {
        match &self.limit {
            #[cfg(feature = "std")]
            Limit::Shared(shared) if bytes > 0 => shared.give_back(bytes),
            Limit::Zone(mut parent) if bytes > 0 => {
                // SAFETY: as in `refill`.
                let parent = unsafe { parent.as_mut() };
                parent.zone_held -= bytes;
                parent.give_back(bytes);
            }
            _ => {}
        }
    }

    /// A span of at least `need` bytes for a zone of this engine: a spare
    /// one, else a new block of [`ZONE_SPAN`] bytes (or `need`, if more),
    /// held in `large` (counted in this engine's reserved bytes and limit,
    /// freed with it) but not live.
    fn lend_span(&mut self, need: usize) -> Result<(NonNull<u8>, usize), AllocError> {
        if let Some(i) = self.spare_spans.iter().position(|&(_, len)| len >= need) {
            return Ok(self.spare_spans.swap_remove(i));
        }
        let len = need.max(ZONE_SPAN);
        let system = large::system_layout(len, GRANULE).ok_or(AllocError::LayoutTooLarge {
            size: len,
            align: GRANULE,
        })?;
        self.take(system.size(), len)?;
        let span = self.large_made(system, |large| large.alloc(system, false))?;
        Ok((span, len))
    }

    /// An engine for a zone of `parent`: its small-block spans come from
    /// `parent` (spans a dropped zone gave back first, so a second zone of
    /// the same size reserves nothing new), its large blocks count in
    /// `parent`'s reserved bytes and against its limit, and when it drops
    /// its spans go back to `parent` for the next zone. It has no limit of
    /// its own ([`limit`](Self::limit) is `parent`'s).
    ///
    /// # Safety
    ///
    /// `parent` outlives the zone engine and stays where it is; the two are
    /// used by one thread, and `parent` is not otherwise in use (no
    /// reference to it lives) during any call on the zone engine; `parent`
    /// is not reset, and none of its blocks freed by
    /// [`retain`](Self::retain), while the zone lives.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use core::ptr::NonNull;
    /// use arenapool::raw::RawPool;
    ///
    /// let mut parent = RawPool::new(None);
    /// let layout = Layout::new::<[u8; 64]>();
    /// for round in 0..2 {
    ///     // SAFETY: `parent` outlives the zone and is not used meanwhile.
    ///     let mut zone = unsafe { RawPool::zone_of(NonNull::from(&mut parent)) };
    ///     for _ in 0..100 {
    ///         zone.alloc(layout).unwrap();
    ///     }
    ///     drop(zone); // its spans go back to `parent`
    ///     if round == 0 {
    ///         assert!(parent.reserved_bytes() > 0);
    ///     }
    /// }
    /// assert_eq!(parent.size(), 0);
    /// ```
    pub unsafe fn zone_of(parent: NonNull<RawPool>) -> Self {
        let mut raw = RawPool::new(None);
        raw.limit = Limit::Zone(parent);
        raw
    }

    // --- freeing -------------------------------------------------------

    /// Frees a block for reuse.
    ///
    /// # Safety
    ///
    /// `block` must have been returned by [`alloc`](Self::alloc),
    /// [`alloc_uninit`](Self::alloc_uninit) or [`realloc`](Self::realloc) of
    /// this engine — or, for a small block, of an engine sharing its
    /// [`Shared`] (see [`with_shared`](Self::with_shared)) — with `layout`
    /// (for `realloc`: its new size and the same alignment), since its last
    /// reset, and not have been freed. Nothing may use it afterwards.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// let layout = Layout::new::<u64>();
    /// let block = raw.alloc(layout).unwrap();
    /// // SAFETY: allocated above with `layout`, freed once.
    /// unsafe { raw.dealloc(block, layout) };
    /// assert_eq!(raw.stats().live_allocations, 0);
    /// ```
    #[inline(always)]
    pub unsafe fn dealloc(&mut self, block: NonNull<u8>, layout: Layout) {
        // The fast path inline: a small, ordinarily aligned block; the rest
        // out of line, so that its calls cost this path no register saves.
        // SAFETY: forwarded from the caller.
        if !unsafe { self.dealloc_fast(block, layout) } {
            // SAFETY: forwarded from the caller.
            unsafe { self.dealloc_slow(block, layout) }
        }
    }

    /// The fast path of [`dealloc`](Self::dealloc) alone: frees a small,
    /// ordinarily aligned block (to its free list, or back to the span if it
    /// is the newest) and returns `true`; for any other layout it does
    /// nothing and returns `false`, and the caller calls `dealloc`.
    ///
    /// Like [`alloc_fast`](Self::alloc_fast) it never changes
    /// [`reserved_bytes`](Self::reserved_bytes): a caller that reports the
    /// reserve (the Python binding's accounting) need not look after it.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc); when it returns `false` the block
    /// is still live.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// let layout = Layout::new::<[u8; 16]>();
    /// let block = raw.alloc(layout).unwrap();
    /// // SAFETY: allocated above with `layout`, freed once.
    /// assert!(unsafe { raw.dealloc_fast(block, layout) });
    /// assert_eq!(raw.size(), 0);
    /// ```
    #[inline(always)]
    pub unsafe fn dealloc_fast(&mut self, block: NonNull<u8>, layout: Layout) -> bool {
        let Some(class) = fast_class(layout) else {
            return false;
        };
        self.note_peak();
        if !self.arena.retract(block, class.size()) {
            // SAFETY: a live small block of this class and rank 0, owned by
            // this engine and no longer used (caller).
            unsafe { self.free.push(block, class, 0) }
        }
        self.account_free(layout.size());
        self.live_allocations = self.live_allocations.wrapping_sub(1);
        true
    }

    /// [`dealloc`](Self::dealloc) of any block.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    #[inline(never)]
    unsafe fn dealloc_slow(&mut self, block: NonNull<u8>, layout: Layout) {
        self.note_peak();
        // SAFETY: forwarded from the caller.
        unsafe { self.block_dealloc(block, layout) };
        self.account_free(layout.size());
        self.live_allocations = self.live_allocations.wrapping_sub(1);
    }

    /// Frees a block without accounting.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    #[inline(always)]
    unsafe fn block_dealloc(&mut self, block: NonNull<u8>, layout: Layout) {
        match kind_of(layout.size(), layout.align()) {
            Kind::Small { class, rank } => {
                if !self.arena.retract(block, class.size()) {
                    // SAFETY: the block is a live small block of this class
                    // and rank, owned by this engine and no longer used
                    // (caller).
                    unsafe { self.free.push(block, class, rank) }
                }
            }
            Kind::Empty => {}
            // SAFETY: forwarded from the caller.
            Kind::Large => unsafe { self.large_dealloc(block, layout) },
        }
    }

    /// Frees a large block without accounting.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc), for a large block.
    #[cold]
    #[inline(never)]
    unsafe fn large_dealloc(&mut self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: a live large block of this engine with this alignment
        // (caller).
        let held = unsafe { self.large.dealloc(block, layout.align()) };
        self.give_back(held);
    }

    // --- realloc -------------------------------------------------------

    /// Resizes a block to `new_size` bytes, keeping its alignment.
    ///
    /// The contents up to the smaller size are kept and any new bytes are
    /// zero. The block stays where it is when it can: a resize within its
    /// size class, the newest block of the span, or a large block the system
    /// resizes in place. Otherwise the contents move to a new block and the
    /// old one is recycled whole, for its own class.
    ///
    /// # Errors
    ///
    /// [`AllocError::LayoutTooLarge`], [`AllocError::LimitExceeded`] or
    /// [`AllocError::OutOfMemory`]; the old block is then untouched and still
    /// owned by the caller.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc) with `old`. On success the old
    /// pointer must no longer be used; the new one has layout
    /// `(new_size, old.align())`.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// let old = Layout::from_size_align(8, 8).unwrap();
    /// let block = raw.alloc(old).unwrap();
    /// // SAFETY: allocated above with `old`; only the new pointer is used after.
    /// let block = unsafe { raw.realloc(block, old, 64) }.unwrap();
    /// assert_eq!(raw.size(), 64);
    /// ```
    pub unsafe fn realloc(
        &mut self,
        block: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        let new = resized(old, new_size)?;
        if new_size < old.size() {
            self.note_peak();
        }
        // SAFETY: forwarded from the caller.
        let moved = unsafe { self.block_realloc(block, old, new)? };
        self.account_free(old.size());
        self.account_alloc(new_size);
        Ok(moved)
    }

    /// Resizes without accounting.
    ///
    /// # Safety
    ///
    /// As for [`realloc`](Self::realloc).
    unsafe fn block_realloc(
        &mut self,
        block: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<u8>, AllocError> {
        let (old_size, new_size) = (old.size(), new.size());
        let in_place = match (
            kind_of(old_size, old.align()),
            kind_of(new_size, new.align()),
        ) {
            (Kind::Small { class: from, .. }, Kind::Small { class: to, .. }) => {
                let (old_len, new_len) = (from.size(), to.size());
                // A shrink into a smaller class of a block that is not the
                // newest moves: splitting it would strand its tail in smaller
                // classes and the large class would never get it back.
                from == to
                    || self.arena.resize_newest(block, old_len, new_len)
                    || (new_len > old_len && self.grow_into_room(block, old_len, new_len))
            }
            (Kind::Large, Kind::Large) => {
                let new_sys = large::system_layout(new_size, new.align()).ok_or(
                    AllocError::LayoutTooLarge {
                        size: new_size,
                        align: new.align(),
                    },
                )?;
                // SAFETY: a live large block of this engine with this
                // alignment (caller).
                let (held, mapped) = unsafe { self.large.held(block, old.align()) };
                if !mapped && new_size > old_size && new_sys.size() <= held {
                    // Growth within the capacity it was made with.
                    // SAFETY: the block holds `held` bytes, its data
                    // `new_size` of them; the new ones are stale.
                    unsafe { block.add(old_size).write_bytes(0, new_size - old_size) };
                    return Ok(block);
                }
                // SAFETY: the layout the block was allocated with (its
                // header's record, which fitted when it was made).
                let old_sys = unsafe { Layout::from_size_align_unchecked(held, new_sys.align()) };
                let target = self.large_growth(old_sys, old_size, new_sys, new_size, mapped)?;
                // SAFETY: a live large block of this engine (caller), resized
                // to a system layout of the same alignment.
                let moved = unsafe { self.large.realloc(block, old_sys, target) };
                let Some((moved, tail_zeroed)) = moved else {
                    self.give_back(target.size().saturating_sub(old_sys.size()));
                    return Err(AllocError::OutOfMemory {
                        size: target.size(),
                        align: target.align(),
                    });
                };
                self.give_back(old_sys.size().saturating_sub(target.size()));
                // Bytes past the old data are zero when the system says so,
                // unless the block held capacity beyond its data: those
                // bytes moved with it, stale.
                let exact = large::system_layout(old_size, old.align())
                    .is_some_and(|sys| sys.size() == held);
                if new_size > old_size && !(tail_zeroed && exact) {
                    // SAFETY: the block now has `new_size` writable bytes.
                    unsafe { moved.add(old_size).write_bytes(0, new_size - old_size) };
                }
                return Ok(moved);
            }
            _ => false,
        };
        if in_place {
            if new_size > old_size {
                // SAFETY: the block's class holds at least `new_size` bytes.
                unsafe { block.add(old_size).write_bytes(0, new_size - old_size) };
            }
            return Ok(block);
        }
        // Move: new block first, so that a failure leaves the old one intact.
        // A small block growing into the large range goes where it can keep
        // growing in place.
        // A small block growing in the small range gets room to keep growing.
        let growing = new_size > old_size;
        let old_kind = kind_of(old_size, old.align());
        let (moved, zeroed) = match (kind_of(new_size, new.align()), growing) {
            (Kind::Large, true) => self.large_alloc_growable(new_size, new.align())?,
            (Kind::Small { class, rank: 0 }, true) => (self.alloc_with_room(class, new)?, false),
            _ => (self.block_alloc_uninit(new)?, false),
        };
        // The room behind the old place goes with the block that left it.
        if let Kind::Small { class, .. } = old_kind {
            if self.room.follows(block.as_ptr() as usize + class.size()) {
                self.release_room();
            }
        }
        let kept = old_size.min(new_size);
        // SAFETY: both blocks are live and distinct, `kept` bytes long at least.
        unsafe {
            ptr::copy_nonoverlapping(block.as_ptr(), moved.as_ptr(), kept);
            if !zeroed {
                moved.add(kept).write_bytes(0, new_size - kept);
            }
            self.block_dealloc(block, old);
        }
        Ok(moved)
    }

    /// Grows a small block of `old_len` bytes (its class size) to `new_len`
    /// into the room behind it, if it is the block the room follows and the
    /// room is large enough. Returns whether it did.
    fn grow_into_room(&mut self, block: NonNull<u8>, old_len: usize, new_len: usize) -> bool {
        // Paired classes (odd multiples of 8) stay out: such a block may be
        // only 8-aligned where the grown one must be 16-aligned, and growing
        // into one would leave the room's start 8-aligned.
        if old_len % GRANULE != 0 || new_len % GRANULE != 0 {
            return false;
        }
        let at = block.as_ptr() as usize;
        // The bytes leave the room for the block, whose accounting the
        // caller settles.
        self.room.grow(at + old_len, at + new_len)
    }

    /// A block of `class` (rank 0) for a growing block that must move,
    /// carved with room behind it to grow up to eightfold within the small
    /// range; a block from [`block_alloc_uninit`](Self::block_alloc_uninit)
    /// when no room can be had. Contents unspecified.
    #[cold]
    #[inline(never)]
    fn alloc_with_room(&mut self, class: Class, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let len = class.size();
        if class.is_paired() {
            return self.block_alloc_uninit(layout);
        }
        let wanted = (len * 7).min(SMALL_MAX - len);
        // At least room to double, or all the small range still allows.
        let least = len.min(wanted);
        if least == 0 {
            return self.block_alloc_uninit(layout);
        }
        if self.arena.remaining() < len + least && self.refill(len + wanted).is_err() {
            return self.block_alloc_uninit(layout);
        }
        let room = wanted.min(self.arena.remaining() - len);
        if room < least {
            return self.block_alloc_uninit(layout);
        }
        self.release_room();
        // SAFETY: `len + room` bytes (multiples of 16: class sizes, and a
        // span's remaining bytes) fit in the span, checked above; both
        // regions are fresh carved memory of this engine, in one chunk.
        unsafe {
            let block = self.arena.take(len);
            let behind = self.arena.take(room);
            self.room.set(behind, room);
            Ok(block)
        }
    }

    /// Files the growth room, if any, for reuse.
    fn release_room(&mut self) {
        if let Some((start, len)) = self.room.take() {
            // SAFETY: the room is carved memory of this engine, 16-aligned,
            // a multiple of 16 and at least 16 bytes long, used by nothing.
            unsafe { self.free.push_region(start, len) };
        }
    }

    /// `block`'s address with the provenance the engine exposed for the
    /// memory it lies in, when it got that memory from the system.
    ///
    /// A pointer that went through a reference on its way back — allocator-api2's
    /// `Box::into_raw`/`into_vec`, like std's `Box`, hand back one derived
    /// from `&mut T` — may only reach the `T`'s bytes, while the engine reads
    /// and writes around them: a free-list link in the block's first word, a
    /// large block's header before it, a grown tail after it. Callers that
    /// cannot vouch for a pointer's provenance (the `Allocator` impls) pass
    /// it through here first.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use arenapool::raw::RawPool;
    ///
    /// let mut raw = RawPool::new(None);
    /// let layout = Layout::new::<u8>();
    /// let block = raw.alloc(layout).unwrap();
    /// assert_eq!(RawPool::rederive(block), block);
    /// ```
    #[inline]
    pub fn rederive(block: NonNull<u8>) -> NonNull<u8> {
        NonNull::new(ptr::with_exposed_provenance_mut::<u8>(
            block.as_ptr().addr(),
        ))
        .unwrap_or(block)
    }

    /// Whether [`realloc`](Self::realloc) of a block of `old` to `new_size`
    /// bytes keeps it where it is whatever the engine's state: both sizes in
    /// one size class of small blocks. (Other resizes may stay in place too,
    /// for the newest block or a large one, but may move.) Callers that must
    /// know a block's address before they resize it (to prepare bookkeeping
    /// that cannot fail afterwards) ask this first.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use arenapool::raw::RawPool;
    /// let sixteen = Layout::from_size_align(16, 16).unwrap();
    /// assert!(RawPool::resizes_in_place(sixteen, 8));
    /// assert!(!RawPool::resizes_in_place(sixteen, 100));
    /// assert!(!RawPool::resizes_in_place(sixteen, 0));
    /// ```
    #[inline]
    pub fn resizes_in_place(old: Layout, new_size: usize) -> bool {
        matches!(
            (kind_of(old.size(), old.align()), kind_of(new_size, old.align())),
            (Kind::Small { class: from, .. }, Kind::Small { class: to, .. }) if from == to
        )
    }

    /// Whether a block of `layout` is carved from the arena (a small block)
    /// rather than made as a large block. Engines that share blocks route by
    /// this.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use arenapool::raw::RawPool;
    /// assert!(RawPool::is_small(Layout::new::<[u8; 4096]>()));
    /// assert!(!RawPool::is_small(Layout::new::<[u8; 4097]>()));
    /// ```
    #[inline(always)]
    pub fn is_small(layout: Layout) -> bool {
        layout.size() <= SMALL_MAX && layout.align() <= SMALL_MAX_ALIGN
    }

    /// Frees every block but those of `keep`, for an owner done with the
    /// rest while a few blocks must stay valid (the Python binding closing a
    /// pool whose buffers are still exported).
    ///
    /// Large blocks go back to the system one by one. The chunks of small
    /// blocks all go if no kept block is small; if one is, they all stay (a
    /// chunk cannot be given back in part), the other small blocks lost
    /// inside them. The kept blocks stay valid, and are freed as usual (by
    /// [`dealloc`](Self::dealloc), or with the engine); the accounting then
    /// counts them alone.
    ///
    /// # Safety
    ///
    /// Each entry of `keep` is a live block of this engine with the layout
    /// it was made with, listed once; no other block of the engine is used
    /// again; no value is registered
    /// ([`alloc_droppable`](Self::alloc_droppable)); the engine is not a
    /// zone's ([`zone_of`](Self::zone_of): its spans are its parent's).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use arenapool::raw::RawPool;
    ///
    /// let mut raw = RawPool::new(None);
    /// let (small, large) = (Layout::new::<[u8; 64]>(), Layout::new::<[u8; 100_000]>());
    /// let kept = raw.alloc(large).unwrap();
    /// for _ in 0..10 {
    ///     raw.alloc(large).unwrap();
    ///     raw.alloc(small).unwrap();
    /// }
    /// // SAFETY: `kept` is live with `large`; the other blocks are never used.
    /// unsafe { raw.retain(&[(kept, large)]) };
    /// assert_eq!((raw.size(), raw.stats().chunks), (100_000, 0));
    /// assert!(raw.reserved_bytes() < 2 * 100_000);
    /// ```
    pub unsafe fn retain(&mut self, keep: &[(NonNull<u8>, Layout)]) {
        self.note_peak();
        let before = self.reserved_bytes();
        let mut large = Vec::new();
        let (mut any_small, mut live) = (false, 0usize);
        for &(block, layout) in keep {
            live = live.wrapping_add(layout.size());
            match kind_of(layout.size(), layout.align()) {
                Kind::Large => large.push(block.as_ptr() as usize),
                Kind::Small { .. } => any_small = true,
                Kind::Empty => {}
            }
        }
        large.sort_unstable();
        // SAFETY: only the kept blocks are used again (caller).
        unsafe { self.large.retain(&large) };
        // The spare spans were blocks of `large`, not kept.
        self.spare_spans.clear();
        if any_small {
            // The blocks let go stay carved and out of the free lists: their
            // bytes are reserved, not live.
            self.release_room();
        } else {
            // No small block is used again: every chunk goes, and with them
            // the free lists that point into them.
            self.free.clear();
            self.room.clear();
            self.arena = Arena::new();
        }
        self.live = live;
        self.live_allocations = keep.len();
        self.give_back(before - self.reserved_bytes());
    }

    /// Moves a block of this engine to a new block of `to`, resized to
    /// `new_size` bytes as [`realloc`](Self::realloc) does (contents kept,
    /// tail zeroed), and frees the old one here.
    ///
    /// # Errors
    ///
    /// As for [`realloc`](Self::realloc); the old block is then untouched.
    ///
    /// # Safety
    ///
    /// As for [`realloc`](Self::realloc) with `old`. Both engines' memory
    /// must outlive every use of the moved block.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use arenapool::raw::RawPool;
    ///
    /// let (mut small, mut large) = (RawPool::new(None), RawPool::new(None));
    /// let old = Layout::from_size_align(8, 8).unwrap();
    /// let block = small.alloc(old).unwrap();
    /// // SAFETY: `block` came from `small` with `old`; both engines live on.
    /// let moved = unsafe { small.realloc_into(&mut large, block, old, 10_000) }.unwrap();
    /// assert_eq!((small.size(), large.size()), (0, 10_000));
    /// ```
    pub unsafe fn realloc_into(
        &mut self,
        to: &mut RawPool,
        block: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        let new = resized(old, new_size)?;
        let moved = to.alloc_uninit(new)?;
        let kept = old.size().min(new_size);
        // SAFETY: two live, distinct blocks of at least `kept` bytes; the old
        // one belongs to this engine with `old` (caller).
        unsafe {
            ptr::copy_nonoverlapping(block.as_ptr(), moved.as_ptr(), kept);
            moved.add(kept).write_bytes(0, new_size - kept);
            self.dealloc(block, old);
        }
        Ok(moved)
    }

    // --- values with destructors ---------------------------------------

    /// Allocates room for a value of layout `value` whose destructor the
    /// engine will run — `drop_fn`, called with the start of the value's
    /// block — when it resets or drops, unless the value is freed first with
    /// [`dealloc_droppable`](Self::dealloc_droppable). The returned memory is
    /// uninitialised.
    ///
    /// # Errors
    ///
    /// As for [`alloc`](Self::alloc).
    ///
    /// # Safety
    ///
    /// Before the engine can next reset or drop, the caller must write at the
    /// returned address a value that `drop_fn` drops soundly — given the
    /// block start, it must find the value at the offset of
    /// [`droppable_offset`](Self::droppable_offset) — and that may be dropped
    /// on any thread the engine is sent to (a `Send` value).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use core::ptr::NonNull;
    /// use arenapool::raw::RawPool;
    ///
    /// unsafe fn drop_string(block: NonNull<u8>) {
    ///     let offset = RawPool::droppable_offset(Layout::new::<String>());
    ///     // SAFETY: a String was written `offset` bytes into the block.
    ///     unsafe { block.add(offset).cast::<String>().drop_in_place() }
    /// }
    /// let mut raw = RawPool::new(None);
    /// // SAFETY: a String is written before the engine can drop or reset.
    /// unsafe {
    ///     let slot = raw.alloc_droppable(Layout::new::<String>(), drop_string).unwrap();
    ///     slot.cast::<String>().write(String::from("freed at drop"));
    /// }
    /// drop(raw); // runs drop_string
    /// ```
    pub unsafe fn alloc_droppable(
        &mut self,
        value: Layout,
        drop_fn: DropFn,
    ) -> Result<NonNull<u8>, AllocError> {
        let (block_layout, offset) =
            drop_list::block_layout(value).ok_or(AllocError::LayoutTooLarge {
                size: value.size(),
                align: value.align(),
            })?;
        let block = self.block_alloc_uninit(block_layout)?;
        self.account_alloc(value.size());
        self.live_allocations = self.live_allocations.wrapping_add(1);
        // SAFETY: `block` is fresh, aligned for the header (16 or more) and
        // laid out by `block_layout`; the caller writes the value before the
        // registry can run.
        Ok(unsafe { self.drops.register(block, offset, drop_fn) })
    }

    /// The offset of a droppable value of layout `value` from the start of
    /// its block: what a [`DropFn`] adds to reach the value.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let offset = arenapool::raw::RawPool::droppable_offset(Layout::new::<u64>());
    /// assert!(offset >= 8);
    /// ```
    #[inline]
    pub const fn droppable_offset(value: Layout) -> usize {
        drop_list::value_offset(value.align())
    }

    /// Frees a value registered with [`alloc_droppable`](Self::alloc_droppable)
    /// without running its destructor (the caller has run it, or moved the
    /// value out).
    ///
    /// # Safety
    ///
    /// `value` must have been returned by `alloc_droppable` of this engine with
    /// layout `layout`, since its last reset, and not been freed; nothing may
    /// use it afterwards.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use core::ptr::NonNull;
    /// use arenapool::raw::RawPool;
    ///
    /// unsafe fn never(_: NonNull<u8>) { unreachable!() }
    /// let mut raw = RawPool::new(None);
    /// let layout = Layout::new::<u8>();
    /// // SAFETY: freed (without dropping a u8) before the engine drops.
    /// unsafe {
    ///     let slot = raw.alloc_droppable(layout, never).unwrap();
    ///     raw.dealloc_droppable(slot, layout);
    /// }
    /// ```
    pub unsafe fn dealloc_droppable(&mut self, value: NonNull<u8>, layout: Layout) {
        // SAFETY: the layout fitted when the value was allocated (caller).
        let (block_layout, offset) = unsafe { drop_list::block_layout(layout).unwrap_unchecked() };
        self.note_peak();
        // SAFETY: `value` is registered with `offset` and is given up (caller);
        // its block was allocated with `block_layout`.
        unsafe {
            let block = self.drops.unregister(value, offset);
            self.block_dealloc(block, block_layout);
        }
        self.account_free(layout.size());
        self.live_allocations = self.live_allocations.wrapping_sub(1);
    }

    // --- reset ---------------------------------------------------------

    /// Runs the destructors of every registered value, then forgets every
    /// block: large blocks go back to the system, the newest chunk is kept
    /// for reuse and the others are freed. If a destructor panics, the rest
    /// still run and the engine is reset before the panic goes on.
    ///
    /// Every pointer the engine handed out is dangling afterwards.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut raw = arenapool::raw::RawPool::new(None);
    /// raw.alloc(Layout::new::<[u8; 100]>()).unwrap();
    /// raw.reset();
    /// assert_eq!(raw.stats().live_allocations, 0);
    /// ```
    pub fn reset(&mut self) {
        /// Releases the memory even if a destructor unwinds.
        struct Release<'a>(&'a mut RawPool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let raw = &mut *self.0;
                raw.note_peak();
                let before = raw.reserved_bytes();
                raw.large.free_all();
                // The spare spans were blocks of `large`.
                raw.spare_spans.clear();
                raw.free.clear();
                raw.room.clear();
                raw.arena.reset();
                raw.give_back(before - raw.reserved_bytes());
                raw.live = 0;
                raw.live_allocations = 0;
            }
        }
        let release = Release(self);
        // SAFETY: registered values were written before anything could reset
        // (`alloc_droppable`'s contract) and their blocks are still allocated.
        unsafe { release.0.drops.run_all() };
    }
}

impl Drop for RawPool {
    fn drop(&mut self) {
        /// Gives the memory back once the destructors ran, also if one
        /// unwinds: a shared limit gets this engine's bytes back; a zone's
        /// parent its spans (not freed: they are the parent's blocks) and the
        /// count of its large blocks. Not before: a destructor may open a
        /// zone of the same parent (through a thread-local, say), which must
        /// not be lent spans that still hold values to drop.
        struct GiveBack<'a>(&'a mut RawPool);
        impl Drop for GiveBack<'_> {
            fn drop(&mut self) {
                let raw = &mut *self.0;
                if let Limit::Zone(mut parent) = raw.limit {
                    let spans = raw.arena.take_lent();
                    // SAFETY: as in `refill` (no destructor runs any more);
                    // the spans are the parent's blocks, which no block of
                    // this engine will be used from again (it drops).
                    unsafe { parent.as_mut() }.spare_spans.extend(spans);
                    raw.give_back(raw.large.bytes() + raw.zone_held);
                } else {
                    raw.give_back(raw.reserved_bytes());
                }
            }
        }
        // Destructors first, while every block is still allocated; the
        // fields then free the memory.
        let guard = GiveBack(self);
        if !guard.0.drops.is_empty() {
            // SAFETY: as in `reset`.
            unsafe { guard.0.drops.run_all() };
        }
    }
}
