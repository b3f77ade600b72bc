//! `Pool`: the single-thread owner of a set of allocations.

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::fmt;
use core::ptr::NonNull;

use bytemuck::Zeroable;

use crate::backend::{self, Backend};
use crate::error::unwrap_or_fail;
use crate::raw::{DropFn, RawPool};
use crate::surface::DroppedByPool;
use crate::{AllocError, Handle, Stats};

/// An arena that owns every allocation made through it.
///
/// Allocation is a bump of a pointer (or a pop from a free list after a
/// [`free`](Self::free)); dropping the pool frees everything at once and runs
/// the destructors of the values still in it. See the [crate
/// docs](crate) for the model.
///
/// `Pool` is `Send` but not `Sync`: one thread at a time allocates through
/// it (like `bumpalo::Bump`). The handles it gives out may go to other
/// threads.
///
/// A pool cannot back the process's `#[global_allocator]`: the engine gets
/// its chunks from the global allocator, which would come back into the
/// pool in the middle of a call.
///
/// ```
/// use arenapool::Pool;
///
/// let pool = Pool::new();
/// let bytes = pool.alloc(3, 8);           // cymem's alloc(number, elem_size)
/// assert_eq!(bytes.len(), 24);
/// assert!(bytes.iter().all(|&b| b == 0)); // zeroed
/// assert_eq!(pool.size(), 24);
/// ```
pub struct Pool {
    raw: UnsafeCell<RawPool>,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

impl Pool {
    /// An empty pool with no limit. It reserves no memory until the first
    /// allocation.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// assert_eq!(pool.stats().reserved_bytes, 0);
    /// ```
    pub fn new() -> Self {
        Pool {
            raw: UnsafeCell::new(RawPool::new(None)),
        }
    }

    /// An empty pool that never holds more than `limit_bytes` from the
    /// system allocator ([`Stats::reserved_bytes`]). A request that would
    /// pass it fails with [`AllocError::LimitExceeded`] (or panics, for the
    /// infallible calls) and leaves the pool fully usable.
    ///
    /// Small blocks are carved from chunks of at least a few hundred bytes,
    /// so a pool may refuse before its live bytes reach the limit.
    ///
    /// ```
    /// let pool = arenapool::Pool::with_limit(64 * 1024);
    /// assert!(pool.try_alloc(1 << 20, 1).is_err());
    /// assert!(pool.try_alloc(100, 1).is_ok());
    /// ```
    pub fn with_limit(limit_bytes: usize) -> Self {
        Pool {
            raw: UnsafeCell::new(RawPool::new(Some(limit_bytes))),
        }
    }

    /// An empty pool whose first chunk has room for `capacity` bytes of
    /// small blocks, so that a document of known size needs no chunk growth.
    ///
    /// ```
    /// let pool = arenapool::Pool::with_capacity(64 * 1024);
    /// assert!(pool.stats().reserved_bytes >= 64 * 1024);
    /// ```
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds `isize::MAX`; a refusal of the global
    /// allocator goes to [`std::alloc::handle_alloc_error`].
    #[track_caller]
    pub fn with_capacity(capacity: usize) -> Self {
        Pool {
            raw: UnsafeCell::new(unwrap_or_fail(RawPool::with_capacity(capacity, None))),
        }
    }

    /// The limit given to [`with_limit`](Self::with_limit), if any.
    ///
    /// ```
    /// assert_eq!(arenapool::Pool::with_limit(10).limit(), Some(10));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.with_raw(|raw| raw.limit())
    }

    /// A pool of `raw` (a zone's engine).
    pub(crate) fn from_raw(raw: RawPool) -> Self {
        Pool {
            raw: UnsafeCell::new(raw),
        }
    }

    /// The engine, for a zone's: a pointer with the `UnsafeCell`'s shared
    /// read-write access, as `with_raw`'s.
    pub(crate) fn engine_ptr(&self) -> NonNull<RawPool> {
        NonNull::from(&self.raw).cast()
    }

    /// Runs `f` on the engine.
    #[inline(always)]
    fn with_raw<R>(&self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        // `Pool` is not `Sync`, so no other thread reaches the engine. The
        // closures passed here are the pool's own engine calls: they never
        // re-enter `with_raw`, run none of the user's code (destructors run
        // outside it in `free`, and under `&mut self` in `reset` and drop)
        // and cannot panic (src/raw denies every panicking construct), so no
        // panic hook runs while the engine is borrowed. The one way back in
        // would be the global allocator, which the engine calls for chunks:
        // a pool must not serve the process's `#[global_allocator]`.
        // SAFETY: so this is the only reference to the engine while it lives.
        f(unsafe { &mut *self.raw.get() })
    }

    crate::surface::typed_calls!(Pool);

    // --- accounting and lifetime ---------------------------------------

    /// Live bytes: the sum of the sizes of all live allocations, as cymem's
    /// `Pool.size`.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let _a = pool.alloc(2, 8);
    /// assert_eq!(pool.size(), 16);
    /// ```
    #[inline]
    pub fn size(&self) -> usize {
        self.with_raw(|raw| raw.size())
    }

    /// A snapshot of the pool's accounting; see [`Stats`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// pool.free(pool.alloc(1, 100));
    /// assert_eq!(pool.stats().peak_live_bytes, 100);
    /// ```
    pub fn stats(&self) -> Stats {
        self.with_raw(|raw| raw.stats())
    }

    /// Frees everything at once and runs the destructors of the values still
    /// in the pool, but keeps the newest chunk of memory for the next
    /// allocations. Needs `&mut self`, so the compiler proves no handle is
    /// alive.
    ///
    /// ```
    /// let mut pool = arenapool::Pool::new();
    /// pool.alloc(100, 1);
    /// pool.reset();
    /// assert_eq!(pool.size(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// A panic of a destructor propagates after the other destructors ran
    /// and the pool was reset.
    pub fn reset(&mut self) {
        self.raw.get_mut().reset();
    }
}

impl Backend for Pool {
    #[inline(always)]
    fn id(&self) -> NonNull<()> {
        NonNull::from(&self.raw).cast()
    }

    fn reserved_bytes(&self) -> usize {
        self.with_raw(|raw| raw.reserved_bytes())
    }

    #[inline(always)]
    fn alloc_fast(&self, layout: Layout, zeroed: bool) -> Option<NonNull<u8>> {
        self.with_raw(|raw| raw.alloc_fast(layout, zeroed))
    }

    #[inline(always)]
    fn alloc_layout(&self, layout: Layout, zeroed: bool) -> Result<NonNull<u8>, AllocError> {
        if zeroed {
            self.with_raw(|raw| raw.alloc(layout))
        } else {
            self.with_raw(|raw| raw.alloc_uninit(layout))
        }
    }

    unsafe fn alloc_droppable(
        &self,
        layout: Layout,
        drop_fn: DropFn,
    ) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: forwarded from the caller.
        self.with_raw(|raw| unsafe { raw.alloc_droppable(layout, drop_fn) })
    }

    #[inline(always)]
    unsafe fn dealloc(&self, block: NonNull<u8>, layout: Layout) {
        // The fast path in a closure of its own, small enough to be inlined
        // into the caller: with `raw.dealloc` (fast and slow paths) in one
        // closure, the compiler kept the closure out of line, and a free
        // cost 63 instructions instead of 52 (`make bench-instructions`).
        // SAFETY: forwarded from the caller; this pool has one engine.
        if !self.with_raw(|raw| unsafe { raw.dealloc_fast(block, layout) }) {
            // SAFETY: as above; `dealloc_fast` left the block live.
            self.with_raw(|raw| unsafe { raw.dealloc(block, layout) })
        }
    }

    unsafe fn dealloc_droppable(&self, value: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller; this pool has one engine.
        self.with_raw(|raw| unsafe { raw.dealloc_droppable(value, layout) })
    }

    unsafe fn realloc(
        &self,
        block: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: forwarded from the caller; this pool has one engine.
        self.with_raw(|raw| unsafe { raw.realloc(block, old, new_size) })
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("limit", &self.limit())
            .field("stats", &self.stats())
            .finish()
    }
}
