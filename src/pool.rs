//! `Pool`: the single-thread owner of a set of allocations.

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::fmt;
use core::ptr::NonNull;

use bytemuck::Zeroable;

use crate::backend::{self, Backend};
use crate::error::unwrap_or_fail;
use crate::raw::{DropFn, RawPool};
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

    // --- bytes (cymem's call) ------------------------------------------

    /// Allocates `number * elem_size` zeroed bytes aligned to 16 — cymem's
    /// `Pool.alloc(number, elem_size)`. A zero-size request is valid and
    /// reserves nothing.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let block = pool.alloc(10, 8);
    /// assert_eq!((block.len(), block.as_ptr() as usize % 16), (80, 0));
    /// ```
    ///
    /// # Panics
    ///
    /// If `number * elem_size` overflows or exceeds `isize::MAX`, or the
    /// pool's limit would be exceeded; see [`try_alloc`](Self::try_alloc).
    #[inline]
    #[track_caller]
    pub fn alloc(&self, number: usize, elem_size: usize) -> Handle<'_, [u8]> {
        unwrap_or_fail(self.try_alloc(number, elem_size))
    }

    /// Fallible [`alloc`](Self::alloc).
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] when `number * elem_size` overflows —
    /// never a short block — [`AllocError::LayoutTooLarge`],
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// use arenapool::{AllocError, Pool};
    /// let pool = Pool::new();
    /// assert!(matches!(pool.try_alloc(1 << 62, 8), Err(AllocError::SizeOverflow { .. })));
    /// ```
    #[inline]
    pub fn try_alloc(
        &self,
        number: usize,
        elem_size: usize,
    ) -> Result<Handle<'_, [u8]>, AllocError> {
        backend::try_alloc(self, number, elem_size)
    }

    // --- typed values --------------------------------------------------

    /// Moves `value` into the pool. Its destructor runs exactly once: when
    /// the handle is given to [`free`](Self::free), or when the pool resets
    /// or drops.
    ///
    /// `T: 'static` because a destructor run by the pool must not see
    /// borrowed data — another value of the pool may already be gone by
    /// then. `T: Send` because the pool, and so the destructor, may move to
    /// another thread. For `Copy` data that borrows from the pool, use
    /// [`alloc_copy`](Self::alloc_copy).
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let names = pool.alloc_value(vec![String::from("Doc")]);
    /// assert_eq!(names[0], "Doc"); // the Vec and its String drop with the pool
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_value<T: Send + 'static>(&self, value: T) -> Handle<'_, T> {
        unwrap_or_fail(self.try_alloc_value(value))
    }

    /// Fallible [`alloc_value`](Self::alloc_value); on error `value` is
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::with_limit(0);
    /// assert!(pool.try_alloc_value(String::from("x")).is_err());
    /// ```
    #[inline]
    pub fn try_alloc_value<T: Send + 'static>(
        &self,
        value: T,
    ) -> Result<Handle<'_, T>, AllocError> {
        backend::try_alloc_value(self, value)
    }

    /// Copies a `Copy` value into the pool. Any lifetime is fine — arena
    /// data may point at other arena data — because the pool never needs to
    /// drop it.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let word = pool.alloc_str("hello").into_mut();
    /// let token = pool.alloc_copy((&*word, 5usize)); // borrows pool data
    /// assert_eq!(token.0, "hello");
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_copy<T: Copy>(&self, value: T) -> Handle<'_, T> {
        unwrap_or_fail(self.try_alloc_copy(value))
    }

    /// Fallible [`alloc_copy`](Self::alloc_copy).
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// assert_eq!(*pool.try_alloc_copy(3u8).unwrap(), 3);
    /// ```
    #[inline]
    pub fn try_alloc_copy<T: Copy>(&self, value: T) -> Result<Handle<'_, T>, AllocError> {
        backend::try_alloc_copy(self, value)
    }

    /// Copies a slice of `Copy` values into the pool.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let ids = pool.alloc_slice_copy(&[3u32, 1, 4]);
    /// assert_eq!(*ids, [3, 1, 4]);
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Handle<'_, [T]> {
        unwrap_or_fail(self.try_alloc_slice_copy(src))
    }

    /// Fallible [`alloc_slice_copy`](Self::alloc_slice_copy).
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// assert_eq!(pool.try_alloc_slice_copy(b"ab").unwrap().len(), 2);
    /// ```
    #[inline]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<Handle<'_, [T]>, AllocError> {
        backend::try_alloc_slice_copy(self, src)
    }

    /// Copies a string into the pool.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let s = pool.alloc_str("Vocab");
    /// assert_eq!(&*s, "Vocab");
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_str(&self, src: &str) -> Handle<'_, str> {
        unwrap_or_fail(self.try_alloc_str(src))
    }

    /// Fallible [`alloc_str`](Self::alloc_str).
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// assert_eq!(pool.try_alloc_str("é").unwrap().len(), 2);
    /// ```
    #[inline]
    pub fn try_alloc_str(&self, src: &str) -> Result<Handle<'_, str>, AllocError> {
        backend::try_alloc_str(self, src)
    }

    /// Allocates a zeroed `T` — any type for which all-zero bytes are a
    /// valid value (`bytemuck::Zeroable`).
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let counts = pool.alloc_zeroed::<[u64; 8]>();
    /// assert_eq!(*counts, [0; 8]);
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_zeroed<T: Zeroable + Copy>(&self) -> Handle<'_, T> {
        unwrap_or_fail(self.try_alloc_zeroed())
    }

    /// Fallible [`alloc_zeroed`](Self::alloc_zeroed).
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// assert_eq!(*pool.try_alloc_zeroed::<f32>().unwrap(), 0.0);
    /// ```
    #[inline]
    pub fn try_alloc_zeroed<T: Zeroable + Copy>(&self) -> Result<Handle<'_, T>, AllocError> {
        backend::try_alloc_zeroed(self)
    }

    /// Allocates `len` zeroed `T`s.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let heads = pool.alloc_slice_zeroed::<i32>(5);
    /// assert_eq!(*heads, [0; 5]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `len * size_of::<T>()` overflows or exceeds `isize::MAX`, or the
    /// pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_slice_zeroed<T: Zeroable + Copy>(&self, len: usize) -> Handle<'_, [T]> {
        unwrap_or_fail(self.try_alloc_slice_zeroed(len))
    }

    /// Fallible [`alloc_slice_zeroed`](Self::alloc_slice_zeroed).
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`], [`AllocError::LayoutTooLarge`],
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// assert!(pool.try_alloc_slice_zeroed::<u64>(usize::MAX / 4).is_err());
    /// ```
    #[inline]
    pub fn try_alloc_slice_zeroed<T: Zeroable + Copy>(
        &self,
        len: usize,
    ) -> Result<Handle<'_, [T]>, AllocError> {
        backend::try_alloc_slice_zeroed(self, len)
    }

    // --- free, realloc, owns -------------------------------------------

    /// Gives an allocation back: runs its value's destructor, if it has one,
    /// and recycles the memory for later requests. Consuming the handle makes
    /// use after free and double free compile errors.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let block = pool.alloc(1, 64);
    /// pool.free(block);
    /// assert_eq!(pool.size(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// If `handle` was made by another pool (nothing is freed then). A panic
    /// of the value's destructor propagates; the memory is recycled anyway.
    #[inline]
    #[track_caller]
    pub fn free<T: ?Sized>(&self, handle: Handle<'_, T>) {
        if backend::try_free(self, handle).is_err() {
            backend::foreign_handle();
        }
    }

    /// Resizes a slice allocation to `new_len` elements (bytes, for a byte
    /// block), keeping the contents up to the smaller length and zeroing any
    /// new tail. In place when it can be (see [`RawPool::realloc`]); the
    /// handle then points at the resized block.
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let mut tokens = pool.alloc_slice_copy(&[1u32, 2]);
    /// pool.realloc(&mut tokens, 4);
    /// assert_eq!(*tokens, [1, 2, 0, 0]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `handle` was made by another pool, or as
    /// [`try_realloc`](Self::try_realloc) errs.
    #[inline]
    #[track_caller]
    pub fn realloc<T: Zeroable + Copy>(&self, handle: &mut Handle<'_, [T]>, new_len: usize) {
        unwrap_or_fail(self.try_realloc(handle, new_len))
    }

    /// Fallible [`realloc`](Self::realloc). On error the handle and its
    /// contents are exactly as they were.
    ///
    /// # Errors
    ///
    /// [`AllocError::ForeignHandle`] for a handle of another pool,
    /// [`AllocError::SizeOverflow`], [`AllocError::LayoutTooLarge`],
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::Pool::with_limit(64 * 1024);
    /// let mut block = pool.alloc(1, 16);
    /// assert!(pool.try_realloc(&mut block, 1 << 20).is_err());
    /// assert_eq!(block.len(), 16);
    /// ```
    pub fn try_realloc<T: Zeroable + Copy>(
        &self,
        handle: &mut Handle<'_, [T]>,
        new_len: usize,
    ) -> Result<(), AllocError> {
        backend::try_realloc(self, handle, new_len)
    }

    /// Whether `handle` was made by this pool.
    ///
    /// ```
    /// let (a, b) = (arenapool::Pool::new(), arenapool::Pool::new());
    /// let h = a.alloc(1, 1);
    /// assert!(a.owns(&h) && !b.owns(&h));
    /// ```
    #[inline]
    pub fn owns<T: ?Sized>(&self, handle: &Handle<'_, T>) -> bool {
        backend::owns(self, handle)
    }

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
        // SAFETY: forwarded from the caller; this pool has one engine.
        self.with_raw(|raw| unsafe { raw.dealloc(block, layout) })
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
