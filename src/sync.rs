//! `SyncPool`: a pool any number of threads allocate from and free to.

use core::alloc::Layout;
use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, ThreadId};

use bytemuck::Zeroable;
use parking_lot::Mutex;

use crate::backend::{self, Backend};
use crate::error::unwrap_or_fail;
use crate::raw::{DropFn, RawPool, SharedLimit};
use crate::{AllocError, Handle, Stats};

/// A pool shared by threads: `Send + Sync`, with the same calls as
/// [`Pool`](crate::Pool) on `&self`.
///
/// Each thread that allocates gets a cache of its own — an engine with its
/// own bump span and free lists — found through a thread-local, so small
/// allocations and frees take no lock and touch no shared cache line. A
/// block freed by another thread goes into *that* thread's free lists and
/// serves its next request of the class. Large blocks and values with a
/// destructor go through one engine behind a `parking_lot` mutex. The
/// limit, if any, is shared by all of them and never passed.
///
/// ```
/// use arenapool::SyncPool;
///
/// let pool = SyncPool::new();
/// let (a, b) = std::thread::scope(|s| {
///     let a = s.spawn(|| pool.alloc_slice_copy(&[1u32, 2, 3]));
///     let b = s.spawn(|| pool.alloc(2, 8));
///     (a.join().unwrap(), b.join().unwrap())
/// });
/// assert_eq!(pool.size(), 12 + 16);
/// pool.free(a); // any thread may free what another allocated
/// pool.free(b);
/// assert_eq!(pool.size(), 0);
/// ```
///
/// Accounting ([`size`](Self::size), [`stats`](Self::stats)) sums what every
/// thread's cache last published: exact whenever no other thread is in the
/// middle of an allocation. A cache belongs to the pool, not the thread: when
/// a thread ends, its cache's free blocks wait for [`reset`](Self::reset) or
/// the pool's drop.
pub struct SyncPool {
    /// Never reused by another pool, so a thread-local entry cannot match a
    /// later pool.
    id: u64,
    shared: Arc<SharedLimit>,
    /// Large blocks and values with destructors.
    global: Mutex<RawPool>,
    /// One cache per thread that has allocated or freed small blocks; boxed
    /// so that each keeps its address while the vector grows (thread-locals
    /// point at them).
    #[allow(clippy::vec_box)]
    caches: Mutex<Vec<Box<Cache>>>,
    /// The highest live byte total seen by `size`/`stats`/`reset`.
    peak: AtomicUsize,
}

/// One thread's engine for small blocks, on a cache line of its own so that
/// two threads' caches never share one.
#[repr(align(64))]
struct Cache {
    owner: ThreadId,
    raw: UnsafeCell<RawPool>,
    /// The engine's counts, published by its owner after each operation
    /// (they wrap when blocks migrate between caches; sums stay exact).
    live_bytes: AtomicUsize,
    live_allocations: AtomicUsize,
    free_list_bytes: AtomicUsize,
    chunks: AtomicUsize,
}

// SAFETY: `raw` is only reached by the owner thread (through `with_cache`)
// or under `&mut SyncPool` (no other thread can hold the pool then); the
// published counts are atomics.
unsafe impl Sync for Cache {}

impl Cache {
    fn new(owner: ThreadId, shared: &Arc<SharedLimit>) -> Self {
        Cache {
            owner,
            raw: UnsafeCell::new(RawPool::with_shared_limit(shared.clone())),
            live_bytes: AtomicUsize::new(0),
            live_allocations: AtomicUsize::new(0),
            free_list_bytes: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
        }
    }

    /// Publishes the engine's counts for other threads' `stats`.
    #[inline(always)]
    fn publish(&self, stats: Stats) {
        self.live_bytes.store(stats.live_bytes, Ordering::Relaxed);
        self.live_allocations
            .store(stats.live_allocations, Ordering::Relaxed);
        self.free_list_bytes
            .store(stats.free_list_bytes, Ordering::Relaxed);
        self.chunks.store(stats.chunks, Ordering::Relaxed);
    }
}

thread_local! {
    /// The cache this thread used last: the pool's id and the cache.
    static CURRENT: Cell<(u64, *const Cache)> = const { Cell::new((0, ptr::null())) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Default for SyncPool {
    fn default() -> Self {
        SyncPool::new()
    }
}

impl SyncPool {
    /// An empty pool with no limit.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(pool.stats().reserved_bytes, 0);
    /// ```
    pub fn new() -> Self {
        SyncPool::with_shared(SharedLimit::new(None))
    }

    /// An empty pool whose threads together never hold more than
    /// `limit_bytes` from the system allocator.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::with_limit(64 * 1024);
    /// assert!(pool.try_alloc(1 << 20, 1).is_err());
    /// assert!(pool.try_alloc(100, 1).is_ok());
    /// ```
    pub fn with_limit(limit_bytes: usize) -> Self {
        SyncPool::with_shared(SharedLimit::new(Some(limit_bytes)))
    }

    fn with_shared(shared: SharedLimit) -> Self {
        let shared = Arc::new(shared);
        SyncPool {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            global: Mutex::new(RawPool::with_shared_limit(shared.clone())),
            shared,
            caches: Mutex::new(Vec::new()),
            peak: AtomicUsize::new(0),
        }
    }

    /// The limit given to [`with_limit`](Self::with_limit), if any.
    ///
    /// ```
    /// assert_eq!(arenapool::SyncPool::with_limit(10).limit(), Some(10));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.shared.limit()
    }

    /// This thread's cache.
    #[inline(always)]
    fn cache(&self) -> &Cache {
        let (id, cache) = CURRENT.with(Cell::get);
        if id == self.id {
            // Entries point at caches boxed in the pool's `caches`, kept at that
            // address until the pool drops; ids are never reused.
            // SAFETY: so a matching entry points at this pool's live cache.
            unsafe { &*cache }
        } else {
            self.cache_slow()
        }
    }

    #[cold]
    #[inline(never)]
    fn cache_slow(&self) -> &Cache {
        let me = thread::current().id();
        let mut caches = self.caches.lock();
        let index = match caches.iter().position(|c| c.owner == me) {
            Some(index) => index,
            None => {
                caches.push(Box::new(Cache::new(me, &self.shared)));
                caches.len() - 1
            }
        };
        let cache: *const Cache = &*caches[index];
        CURRENT.with(|current| current.set((self.id, cache)));
        // SAFETY: the box stays in `caches` (never removed before the pool
        // drops), so the cache outlives the borrow of `self`.
        unsafe { &*cache }
    }

    /// Runs `f` on this thread's engine, then publishes its counts.
    #[inline(always)]
    fn with_cache<R>(&self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        let cache = self.cache();
        // The cache is this thread's (found by thread id); `f` is one of the
        // pool's own engine calls and runs none of the user's code; `&mut self`
        // methods are the only other access.
        // SAFETY: so this is the only reference to the cache's engine.
        let raw = unsafe { &mut *cache.raw.get() };
        let result = f(raw);
        cache.publish(raw.stats());
        result
    }

    // --- the calls of `Pool` -------------------------------------------

    /// cymem's `alloc(number, elem_size)`: zeroed bytes, 16-byte aligned.
    /// See [`Pool::alloc`](crate::Pool::alloc).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// let block = pool.alloc(10, 8);
    /// assert!(block.len() == 80 && block.iter().all(|&b| b == 0));
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Pool::alloc`](crate::Pool::alloc).
    #[inline]
    #[track_caller]
    pub fn alloc(&self, number: usize, elem_size: usize) -> Handle<'_, [u8]> {
        unwrap_or_fail(self.try_alloc(number, elem_size))
    }

    /// Fallible [`alloc`](Self::alloc).
    ///
    /// # Errors
    ///
    /// As [`Pool::try_alloc`](crate::Pool::try_alloc).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert!(pool.try_alloc(1 << 62, 8).is_err());
    /// ```
    #[inline]
    pub fn try_alloc(
        &self,
        number: usize,
        elem_size: usize,
    ) -> Result<Handle<'_, [u8]>, AllocError> {
        backend::try_alloc(self, number, elem_size)
    }

    /// Moves `value` into the pool; its destructor runs at
    /// [`free`](Self::free), [`reset`](Self::reset) or drop. See
    /// [`Pool::alloc_value`](crate::Pool::alloc_value).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// let name = pool.alloc_value(String::from("Vocab"));
    /// assert_eq!(*name, "Vocab");
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

    /// Fallible [`alloc_value`](Self::alloc_value); on error `value` is dropped.
    ///
    /// # Errors
    ///
    /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
    ///
    /// ```
    /// let pool = arenapool::SyncPool::with_limit(0);
    /// assert!(pool.try_alloc_value(String::from("x")).is_err());
    /// ```
    #[inline]
    pub fn try_alloc_value<T: Send + 'static>(
        &self,
        value: T,
    ) -> Result<Handle<'_, T>, AllocError> {
        backend::try_alloc_value(self, value)
    }

    /// Copies a `Copy` value into the pool.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(*pool.alloc_copy(7u16), 7);
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_copy<T: Copy>(&self, value: T) -> Handle<'_, T> {
        unwrap_or_fail(backend::try_alloc_copy(self, value))
    }

    /// Copies a slice of `Copy` values into the pool.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(*pool.alloc_slice_copy(&[1, 2]), [1, 2]);
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Handle<'_, [T]> {
        unwrap_or_fail(backend::try_alloc_slice_copy(self, src))
    }

    /// Copies a string into the pool.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(&*pool.alloc_str("Doc"), "Doc");
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_str(&self, src: &str) -> Handle<'_, str> {
        unwrap_or_fail(backend::try_alloc_str(self, src))
    }

    /// Allocates a zeroed `T`.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(*pool.alloc_zeroed::<[u32; 4]>(), [0; 4]);
    /// ```
    ///
    /// # Panics
    ///
    /// If the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_zeroed<T: Zeroable + Copy>(&self) -> Handle<'_, T> {
        unwrap_or_fail(backend::try_alloc_zeroed(self))
    }

    /// Allocates `len` zeroed `T`s.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(*pool.alloc_slice_zeroed::<u8>(3), [0; 3]);
    /// ```
    ///
    /// # Panics
    ///
    /// If the size overflows or the pool's limit would be exceeded.
    #[inline]
    #[track_caller]
    pub fn alloc_slice_zeroed<T: Zeroable + Copy>(&self, len: usize) -> Handle<'_, [T]> {
        unwrap_or_fail(self.try_alloc_slice_zeroed(len))
    }

    /// Fallible [`alloc_slice_zeroed`](Self::alloc_slice_zeroed).
    ///
    /// # Errors
    ///
    /// As [`Pool::try_alloc_slice_zeroed`](crate::Pool::try_alloc_slice_zeroed).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert!(pool.try_alloc_slice_zeroed::<u64>(usize::MAX / 4).is_err());
    /// ```
    #[inline]
    pub fn try_alloc_slice_zeroed<T: Zeroable + Copy>(
        &self,
        len: usize,
    ) -> Result<Handle<'_, [T]>, AllocError> {
        backend::try_alloc_slice_zeroed(self, len)
    }

    /// Gives an allocation back, from any thread. See
    /// [`Pool::free`](crate::Pool::free).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// pool.free(pool.alloc(1, 64));
    /// assert_eq!(pool.size(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// If `handle` was made by another pool (nothing is freed then).
    #[inline]
    #[track_caller]
    pub fn free<T: ?Sized>(&self, handle: Handle<'_, T>) {
        if backend::try_free(self, handle).is_err() {
            backend::foreign_handle();
        }
    }

    /// Resizes a slice allocation, from any thread. See
    /// [`Pool::realloc`](crate::Pool::realloc).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// let mut ids = pool.alloc_slice_copy(&[1u32]);
    /// pool.realloc(&mut ids, 3);
    /// assert_eq!(*ids, [1, 0, 0]);
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

    /// Fallible [`realloc`](Self::realloc); on error the handle is unchanged.
    ///
    /// # Errors
    ///
    /// As [`Pool::try_realloc`](crate::Pool::try_realloc).
    ///
    /// ```
    /// let (a, b) = (arenapool::SyncPool::new(), arenapool::SyncPool::new());
    /// let mut h = a.alloc(1, 8);
    /// assert!(b.try_realloc(&mut h, 16).is_err());
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
    /// let (a, b) = (arenapool::SyncPool::new(), arenapool::SyncPool::new());
    /// let h = a.alloc(1, 1);
    /// assert!(a.owns(&h) && !b.owns(&h));
    /// ```
    #[inline]
    pub fn owns<T: ?Sized>(&self, handle: &Handle<'_, T>) -> bool {
        backend::owns(self, handle)
    }

    /// Live bytes over all threads, as cymem's `Pool.size`.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// let _a = pool.alloc(2, 8);
    /// assert_eq!(pool.size(), 16);
    /// ```
    pub fn size(&self) -> usize {
        self.stats().live_bytes
    }

    /// A snapshot of the accounting over all threads; see [`Stats`].
    /// `peak_live_bytes` is the highest total seen by `size`, `stats` and
    /// `reset` (threads allocate without a shared counter, so there is no
    /// other exact peak to report).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// let _a = pool.alloc_value(1u8);
    /// assert_eq!(pool.stats().live_allocations, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        let mut stats = self.global.lock().stats();
        for cache in self.caches.lock().iter() {
            let load = |n: &AtomicUsize| n.load(Ordering::Relaxed);
            stats.live_bytes = stats.live_bytes.wrapping_add(load(&cache.live_bytes));
            stats.live_allocations = stats
                .live_allocations
                .wrapping_add(load(&cache.live_allocations));
            stats.free_list_bytes += load(&cache.free_list_bytes);
            stats.chunks += load(&cache.chunks);
        }
        stats.reserved_bytes = self.shared.reserved();
        stats.peak_live_bytes = self
            .peak
            .fetch_max(stats.live_bytes, Ordering::Relaxed)
            .max(stats.live_bytes);
        stats
    }

    /// Frees everything and runs the destructors of the values still in the
    /// pool; each thread's cache keeps one chunk. See
    /// [`Pool::reset`](crate::Pool::reset).
    ///
    /// ```
    /// let mut pool = arenapool::SyncPool::new();
    /// pool.alloc(100, 1);
    /// pool.reset();
    /// assert_eq!(pool.size(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// A panic of a destructor propagates after the pool was reset.
    pub fn reset(&mut self) {
        self.stats();
        for cache in self.caches.get_mut().iter_mut() {
            let raw = cache.raw.get_mut();
            raw.reset();
            let stats = raw.stats();
            cache.publish(stats);
        }
        self.global.get_mut().reset();
    }
}

impl Backend for SyncPool {
    #[inline(always)]
    fn id(&self) -> NonNull<()> {
        NonNull::from(self).cast()
    }

    #[inline(always)]
    fn alloc_layout(&self, layout: Layout, zeroed: bool) -> Result<NonNull<u8>, AllocError> {
        let alloc = |raw: &mut RawPool| {
            if zeroed {
                raw.alloc(layout)
            } else {
                raw.alloc_uninit(layout)
            }
        };
        if RawPool::is_small(layout) {
            self.with_cache(alloc)
        } else {
            alloc(&mut self.global.lock())
        }
    }

    unsafe fn alloc_droppable(
        &self,
        layout: Layout,
        drop_fn: DropFn,
    ) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: forwarded from the caller; droppable values always live in
        // the global engine.
        unsafe { self.global.lock().alloc_droppable(layout, drop_fn) }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, block: NonNull<u8>, layout: Layout) {
        if RawPool::is_small(layout) {
            // SAFETY: a small block of one of this pool's caches (caller);
            // the caches share their limit and live as long as the pool, so
            // this thread's cache may take it.
            self.with_cache(|raw| unsafe { raw.dealloc(block, layout) })
        } else {
            // SAFETY: large blocks always live in the global engine.
            unsafe { self.global.lock().dealloc(block, layout) }
        }
    }

    unsafe fn dealloc_droppable(&self, value: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded; droppable values live in the global engine.
        unsafe { self.global.lock().dealloc_droppable(value, layout) }
    }

    unsafe fn realloc(
        &self,
        block: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        let new = crate::raw::resized(old, new_size)?;
        // The block is this pool's with `old` (caller): small blocks belong to
        // any of the caches, which share their limit and memory lifetime,
        // large ones to the global engine.
        match (RawPool::is_small(old), RawPool::is_small(new)) {
            // SAFETY: a small block, resized in this thread's cache.
            (true, true) => self.with_cache(|raw| unsafe { raw.realloc(block, old, new_size) }),
            // SAFETY: a large block, resized in the global engine.
            (false, false) => unsafe { self.global.lock().realloc(block, old, new_size) },
            (true, false) => {
                let mut global = self.global.lock();
                // SAFETY: a small block, moved to the global engine.
                self.with_cache(|raw| unsafe {
                    raw.realloc_into(&mut global, block, old, new_size)
                })
            }
            (false, true) => {
                let mut global = self.global.lock();
                // SAFETY: a large block, moved into this thread's cache.
                self.with_cache(|raw| unsafe { global.realloc_into(raw, block, old, new_size) })
            }
        }
    }
}

impl fmt::Debug for SyncPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncPool")
            .field("limit", &self.limit())
            .field("threads", &self.caches.lock().len())
            .field("stats", &self.stats())
            .finish()
    }
}
