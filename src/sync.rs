//! `SyncPool`: a pool any number of threads allocate from and free to.
//!
//! # Thread caches
//!
//! ```text
//!   thread A ── CURRENT (pool id, cache) ──► Cache A ─┐
//!   thread B ── CURRENT ───────────────────► Cache B ─┼─► Shared: limit + depot
//!   (thread C ended: Cache C idle) ─ adopted by the next new thread
//!   global engine (mutex): large blocks, values with destructors
//! ```
//!
//! * A thread's first small operation on a pool claims a cache: an idle one
//!   left by a thread that ended, else a new one. The claim lives in the
//!   thread's locals; when the thread ends it releases the cache, whose
//!   memory, free lists and span included, then serves the next thread that
//!   comes. So a pool holds as many caches as threads used it *at once*,
//!   not as many as ever did.
//! * Finding the cache is one compare for the pool used last; otherwise a
//!   scan of this thread's own claims (one per pool it uses), never of
//!   other threads' caches.
//! * A cache whose free lists pass [`SyncPool::SPILL_ABOVE`] bytes spills them
//!   to the shared depot; a cache whose span runs dry takes from the depot
//!   before it carves new memory. A block freed on a consumer thread so gets back
//!   to the producer, and reserved memory stays bounded by live bytes plus
//!   a constant per thread.

use core::alloc::Layout;
use core::cell::{Cell, RefCell, UnsafeCell};
use core::fmt;
use core::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytemuck::Zeroable;
use parking_lot::Mutex;

use crate::backend::{self, Backend};
use crate::error::unwrap_or_fail;
use crate::raw::{DropFn, RawPool, Shared};
use crate::surface::DroppedByPool;
use crate::{AllocError, Handle, Stats};

/// A pool shared by threads: `Send + Sync`, with the same calls as
/// [`Pool`](crate::Pool) on `&self`.
///
/// Each thread that allocates gets a cache of its own — an engine with its
/// own bump span and free lists — found through a thread-local, so small
/// allocations and frees take no lock and touch no shared cache line. A
/// block freed by another thread goes into *that* thread's free lists and
/// serves its next request of the class; free lists that grow past
/// [`SPILL_ABOVE`](Self::SPILL_ABOVE) bytes go back to the other threads. Large blocks and
/// values with a destructor go through one engine behind a `parking_lot`
/// mutex. The limit, if any, is shared by all of them and never passed.
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
/// middle of an allocation (a reading taken while blocks move between
/// threads is clamped into range, never past the bytes held). When a
/// thread ends, its cache — with the memory it holds — waits for the next
/// thread to start using the pool, and [`reset`](Self::reset) frees the
/// caches no thread holds.
///
/// As for [`Pool`](crate::Pool), a `SyncPool` cannot back the process's
/// `#[global_allocator]`: its engines get their chunks from it.
pub struct SyncPool {
    /// Never reused by another pool, so a thread-local entry cannot match a
    /// later pool.
    id: u64,
    shared: Arc<Shared>,
    /// Large blocks and values with destructors (and the small blocks of a
    /// thread whose locals are already gone).
    global: Mutex<RawPool>,
    /// Every cache, held by a thread or idle; each keeps its address while
    /// the vector grows (thread-locals point at them). An `Arc` only so that
    /// reaching a cache never asserts unique access to it (a `Box` would,
    /// under Stacked Borrows, invalidate the pointers thread-locals hold);
    /// nothing else holds a reference count.
    caches: Mutex<Vec<Arc<Cache>>>,
    /// The highest live byte total seen by `size`/`stats`/`reset`.
    peak: AtomicUsize,
}

/// One thread's engine for small blocks, on a cache line of its own so that
/// two threads' caches never share one.
#[repr(align(64))]
struct Cache {
    raw: UnsafeCell<RawPool>,
    /// Whether a thread holds the cache; shared with that thread's claim,
    /// which clears it when the thread ends (and outlives the pool if need be).
    held: Arc<AtomicBool>,
    /// The engine's counts, published by its holder after each operation
    /// (they wrap when blocks migrate between caches; sums stay exact).
    live_bytes: AtomicUsize,
    live_allocations: AtomicUsize,
    free_list_bytes: AtomicUsize,
    chunks: AtomicUsize,
}

// SAFETY: `raw` is only reached by the thread that holds the cache (through
// `with_cache`; `held` passes it from a thread that ended to the next with
// release/acquire) or under `&mut SyncPool` (no other thread can hold the
// pool then); the published counts are atomics.
unsafe impl Sync for Cache {}

impl Cache {
    fn new(shared: &Arc<Shared>) -> Self {
        // SAFETY: an engine of the pool's group (see `from_engine`).
        Cache::from_engine(unsafe { RawPool::with_shared(shared.clone()) })
    }

    /// A cache of `raw`, an engine of the pool's group.
    ///
    /// The pool's engines are one group (see `SyncPool`'s `reset` and
    /// `Drop`: destructors first, the depot cleared, every engine reset or
    /// dropped together); blocks cross threads only inside handles, sent
    /// with the synchronisation that moving a value between threads implies:
    /// so `with_shared`'s contract holds for every engine made for a cache.
    fn from_engine(raw: RawPool) -> Self {
        Cache {
            raw: UnsafeCell::new(raw),
            held: Arc::new(AtomicBool::new(true)),
            live_bytes: AtomicUsize::new(0),
            live_allocations: AtomicUsize::new(0),
            free_list_bytes: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
        }
    }

    /// Publishes the engine's counts for other threads' `stats`: only the
    /// four it publishes, each derived inline (the whole `RawPool::stats`
    /// after every call was 56 of a pair's 167 instructions).
    ///
    /// `CHUNKS` false leaves the chunk count as it was: for the engine's fast
    /// paths, which never take or give back a chunk (the count is the same
    /// one), two instructions fewer each.
    #[inline(always)]
    fn publish<const CHUNKS: bool>(&self, raw: &RawPool) {
        let (live_bytes, live_allocations, free_list_bytes, chunks) = raw.published_counts();
        self.live_bytes.store(live_bytes, Ordering::Relaxed);
        self.live_allocations
            .store(live_allocations, Ordering::Relaxed);
        self.free_list_bytes
            .store(free_list_bytes, Ordering::Relaxed);
        if CHUNKS {
            self.chunks.store(chunks, Ordering::Relaxed);
        }
    }
}

/// A thread's hold on one pool's cache.
struct Claim {
    pool: u64,
    cache: *const Cache,
    held: Arc<AtomicBool>,
}

impl Claim {
    /// Whether the pool still exists (it holds the other reference).
    fn pool_alive(&self) -> bool {
        Arc::strong_count(&self.held) > 1
    }
}

/// This thread's claims; dropping them (the thread ends) releases each cache.
struct Claims(RefCell<Vec<Claim>>);

impl Drop for Claims {
    fn drop(&mut self) {
        // Later uses on this thread (other thread-locals' destructors) must
        // not reach a released cache: they find no claim and use the global
        // engine.
        let _ = CURRENT.try_with(|current| current.set((0, ptr::null())));
        for claim in self.0.get_mut().drain(..) {
            // Release: this thread's last use of the engine happens before
            // the next holder's acquire.
            claim.held.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    /// The cache this thread used last: the pool's id and the cache.
    static CURRENT: Cell<(u64, *const Cache)> = const { Cell::new((0, ptr::null())) };
    /// The caches this thread holds, one per pool.
    static CLAIMS: Claims = const { Claims(RefCell::new(Vec::new())) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Default for SyncPool {
    fn default() -> Self {
        SyncPool::new()
    }
}

impl SyncPool {
    /// Free-list bytes past which a thread cache hands its free lists to the
    /// other threads (through a shared depot): the most free memory a cache
    /// keeps to itself.
    ///
    /// ```
    /// assert_eq!(arenapool::SyncPool::SPILL_ABOVE, 128 * 1024);
    /// ```
    pub const SPILL_ABOVE: usize = 128 * 1024;

    /// An empty pool with no limit.
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// assert_eq!(pool.stats().reserved_bytes, 0);
    /// ```
    pub fn new() -> Self {
        SyncPool::with_shared(Shared::new(None))
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
        SyncPool::with_shared(Shared::new(Some(limit_bytes)))
    }

    fn with_shared(shared: Shared) -> Self {
        let shared = Arc::new(shared);
        // SAFETY: as in `Cache::new`: the global engine is one of the group.
        let global = unsafe { RawPool::with_shared(shared.clone()) };
        SyncPool {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            global: Mutex::new(global),
            shared,
            caches: Mutex::new(Vec::new()),
            peak: AtomicUsize::new(0),
        }
    }

    /// An empty pool whose first thread cache — taken by the first thread
    /// that allocates a small block — already has room for `capacity` bytes
    /// of small blocks, so that a batch of known size needs no chunk growth
    /// (as [`Pool::with_capacity`](crate::Pool::with_capacity)).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::with_capacity(64 * 1024);
    /// assert!(pool.stats().reserved_bytes >= 64 * 1024);
    /// assert_eq!(pool.caches(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds `isize::MAX`; a refusal of the global
    /// allocator goes to [`std::alloc::handle_alloc_error`].
    #[track_caller]
    pub fn with_capacity(capacity: usize) -> Self {
        let pool = SyncPool::with_shared(Shared::new(None));
        // SAFETY: an engine of the pool's group (see `Cache::from_engine`).
        let raw = unsafe { RawPool::with_shared_capacity(pool.shared.clone(), capacity) };
        let raw = unwrap_or_fail(raw);
        let cache = Cache::from_engine(raw);
        // SAFETY: no thread holds the new cache yet.
        cache.publish::<true>(unsafe { &*cache.raw.get() });
        // Idle: the first thread to need a cache claims it.
        cache.held.store(false, Ordering::Relaxed);
        pool.caches.lock().push(Arc::new(cache));
        pool
    }

    /// The limit given to [`with_limit`](Self::with_limit), if any.
    ///
    /// ```
    /// assert_eq!(arenapool::SyncPool::with_limit(10).limit(), Some(10));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.shared.limit()
    }

    /// This thread's cache, if it can have one.
    #[inline(always)]
    fn cache(&self) -> Option<&Cache> {
        let (id, cache) = CURRENT.with(Cell::get);
        if id == self.id {
            // Entries point at caches in the pool's `caches`, kept at that
            // address while the pool lives and held by this thread; ids are
            // never reused.
            // SAFETY: so a matching entry points at this pool's live cache.
            Some(unsafe { &*cache })
        } else {
            self.cache_slow()
        }
    }

    /// Finds this thread's claim on the pool, or claims a cache.
    #[cold]
    #[inline(never)]
    fn cache_slow(&self) -> Option<&Cache> {
        let cache = CLAIMS
            .try_with(|claims| {
                let mut claims = claims.0.try_borrow_mut().ok()?;
                if let Some(claim) = claims.iter().find(|claim| claim.pool == self.id) {
                    return Some(claim.cache);
                }
                claims.retain(Claim::pool_alive);
                let claim = self.claim_cache();
                let cache = claim.cache;
                claims.push(claim);
                Some(cache)
            })
            .ok()
            .flatten()?;
        CURRENT.with(|current| current.set((self.id, cache)));
        // SAFETY: `caches` keeps the cache while the pool lives (only
        // `&mut self` removes caches, and only idle ones), and this thread
        // holds it.
        Some(unsafe { &*cache })
    }

    /// Takes an idle cache, or makes one.
    fn claim_cache(&self) -> Claim {
        let mut caches = self.caches.lock();
        let idle = caches.iter().find(|cache| {
            cache
                .held
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        let cache = match idle {
            Some(cache) => cache.clone(),
            None => {
                let cache = Arc::new(Cache::new(&self.shared));
                caches.push(cache.clone());
                cache
            }
        };
        Claim {
            pool: self.id,
            cache: Arc::as_ptr(&cache),
            held: cache.held.clone(),
        }
    }

    /// Runs `f` on this thread's engine, then publishes its counts; on the
    /// global engine if this thread's locals are gone (it is ending).
    #[inline(always)]
    fn with_cache<R>(&self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        match self.cache() {
            Some(cache) => Self::on_cache::<true, R>(cache, f),
            None => self.on_global(f),
        }
    }

    /// [`with_cache`](Self::with_cache) for `f` that takes and gives back no
    /// chunk (the engine's fast paths): the chunk count is not republished.
    #[inline(always)]
    fn with_cache_fast<R>(&self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        match self.cache() {
            Some(cache) => Self::on_cache::<false, R>(cache, f),
            None => self.on_global(f),
        }
    }

    /// Runs `f` on the global engine: for a thread whose locals are gone.
    /// Out of line, so that `f` is inlined into the cache path only.
    #[cold]
    #[inline(never)]
    fn on_global<R>(&self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        f(&mut self.global.lock())
    }

    /// Runs `f` on `cache`'s engine and publishes its counts (the chunk
    /// count only if `CHUNKS`: see [`Cache::publish`]).
    #[inline(always)]
    fn on_cache<const CHUNKS: bool, R>(cache: &Cache, f: impl FnOnce(&mut RawPool) -> R) -> R {
        // The cache is held by this thread (`cache()` found it); `f` is one
        // of the pool's own engine calls, runs none of the user's code and
        // cannot panic (the engine's calls are panic-free); `&mut self`
        // methods are the only other access.
        // SAFETY: so this is the only reference to the cache's engine.
        let raw = unsafe { &mut *cache.raw.get() };
        let result = f(raw);
        cache.publish::<CHUNKS>(raw);
        result
    }

    /// After a free into `raw`: hands its free lists to the other threads
    /// if they hold too much. (Only frees grow them past the threshold for
    /// long: what an allocation files is one span's tail or a chain it
    /// takes to use.)
    #[inline(always)]
    fn spill_if_full(raw: &mut RawPool) {
        if raw.free_list_bytes() > Self::SPILL_ABOVE {
            Self::spill(raw);
        }
    }

    /// [`RawPool::spill`], out of line: a free's fast path only tests for it.
    #[cold]
    #[inline(never)]
    fn spill(raw: &mut RawPool) {
        raw.spill();
    }

    // --- the calls of `Pool`, from any thread -------------------------

    crate::surface::typed_calls!(SyncPool);

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
        let depot = self.shared.depot_bytes();
        for cache in self.caches.lock().iter() {
            let load = |n: &AtomicUsize| n.load(Ordering::Relaxed);
            stats.live_bytes = stats.live_bytes.wrapping_add(load(&cache.live_bytes));
            stats.live_allocations = stats
                .live_allocations
                .wrapping_add(load(&cache.live_allocations));
            stats.free_list_bytes += load(&cache.free_list_bytes);
            stats.chunks += load(&cache.chunks);
        }
        // Blocks in the depot left their engine's lists: free, not live.
        stats.live_bytes = stats.live_bytes.wrapping_sub(depot);
        stats.free_list_bytes += depot;
        stats.reserved_bytes = self.shared.reserved();
        // The caches publish without a common snapshot: read while blocks
        // move between threads, the wrapping sums can land past what is
        // held (or below zero). Such a reading is clamped into range rather
        // than reported, and never becomes the peak.
        if stats.live_bytes > stats.reserved_bytes {
            stats.live_bytes = if stats.live_bytes > isize::MAX as usize {
                0
            } else {
                stats.reserved_bytes
            };
        }
        if stats.live_allocations > isize::MAX as usize {
            stats.live_allocations = 0;
        }
        stats.peak_live_bytes = self
            .peak
            .fetch_max(stats.live_bytes, Ordering::Relaxed)
            .max(stats.live_bytes);
        stats
    }

    /// Frees everything and runs the destructors of the values still in the
    /// pool. Each cache a thread holds keeps one chunk; the caches of threads
    /// that ended are freed whole. See [`Pool::reset`](crate::Pool::reset).
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
        /// Resets the caches after the destructors, even if one unwinds.
        struct Caches<'a> {
            caches: &'a mut Vec<Arc<Cache>>,
            shared: &'a Shared,
        }
        impl Drop for Caches<'_> {
            fn drop(&mut self) {
                // The depot's blocks live in the memory reset below.
                self.shared.clear_depot();
                self.caches.retain(|cache| {
                    // An idle cache is in no thread's locals (a thread clears
                    // its entries before it lets go), and the destructors that
                    // might have reached its memory have run: it can go.
                    if !cache.held.load(Ordering::Acquire) {
                        return false;
                    }
                    // SAFETY: `&mut SyncPool`: no thread is inside the pool,
                    // so nothing else reaches the engine.
                    let raw = unsafe { &mut *cache.raw.get() };
                    raw.reset();
                    cache.publish::<true>(raw);
                    true
                });
            }
        }
        let caches = Caches {
            caches: self.caches.get_mut(),
            shared: &self.shared,
        };
        // Destructors first, while every engine's memory is allocated: a
        // value's block may come from any cache (the depot, a thread's
        // last frees), though the value is registered with the global engine.
        self.global.get_mut().reset();
        drop(caches);
    }

    /// How many thread caches the pool holds (held by a thread or idle).
    ///
    /// ```
    /// let pool = arenapool::SyncPool::new();
    /// std::thread::scope(|s| { s.spawn(|| pool.alloc(1, 8)); });
    /// assert_eq!(pool.caches(), 1);
    /// ```
    pub fn caches(&self) -> usize {
        self.caches.lock().len()
    }
}

impl Backend for SyncPool {
    #[inline(always)]
    fn id(&self) -> NonNull<()> {
        NonNull::from(self).cast()
    }

    fn reserved_bytes(&self) -> usize {
        self.shared.reserved()
    }

    #[inline(always)]
    fn alloc_fast(&self, layout: Layout, zeroed: bool) -> Option<NonNull<u8>> {
        if !RawPool::is_small(layout) {
            return None;
        }
        // The caller makes the full call on `None`; the cache's counts are
        // published either way.
        Self::on_cache::<false, _>(self.cache()?, |raw| raw.alloc_fast(layout, zeroed))
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
        // SAFETY: forwarded from the caller; droppable values are always
        // registered with the global engine (their memory may come from any
        // engine of the pool's group).
        unsafe { self.global.lock().alloc_droppable(layout, drop_fn) }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, block: NonNull<u8>, layout: Layout) {
        if RawPool::is_small(layout) {
            // The fast path in a closure of its own, marked to be inlined
            // (as in `Pool`'s `dealloc`): with `raw.dealloc` (fast and slow
            // paths) in one closure, and even with the fast path alone in an
            // unmarked one, the compiler called the closure out of line, and
            // a `SyncPool` alloc + free took 153 (156) instructions instead
            // of 138 (`make bench-instructions`).
            let freed = self.with_cache_fast(
                #[inline(always)]
                |raw| {
                    // SAFETY: a small block of one of this pool's engines
                    // (caller); they are one group (see `Cache::new`), so this
                    // thread's cache may take it.
                    let freed = unsafe { raw.dealloc_fast(block, layout) };
                    Self::spill_if_full(raw);
                    freed
                },
            );
            if !freed {
                self.with_cache(|raw| {
                    // SAFETY: as above; `dealloc_fast` left the block live.
                    unsafe { raw.dealloc(block, layout) };
                    Self::spill_if_full(raw);
                })
            }
        } else {
            // SAFETY: large blocks always live in the global engine.
            unsafe { self.global.lock().dealloc(block, layout) }
        }
    }

    unsafe fn dealloc_droppable(&self, value: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded; droppable values are registered with the global
        // engine.
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
            (true, true) => self.with_cache(|raw| {
                // SAFETY: a small block, resized in this thread's cache.
                let moved = unsafe { raw.realloc(block, old, new_size) };
                Self::spill_if_full(raw);
                moved
            }),
            // SAFETY: a large block, resized in the global engine.
            (false, false) => unsafe { self.global.lock().realloc(block, old, new_size) },
            (to_large, _) => {
                let mut global = self.global.lock();
                match self.cache() {
                    // This thread is ending: the global engine does both ends.
                    // SAFETY: a block of this pool's engines, which share
                    // their memory's lifetime.
                    None => unsafe { global.realloc(block, old, new_size) },
                    Some(cache) => Self::on_cache::<true, _>(cache, |raw| {
                        if to_large {
                            // SAFETY: a small block, moved to the global engine.
                            unsafe { raw.realloc_into(&mut global, block, old, new_size) }
                        } else {
                            // SAFETY: a large block, moved into this thread's cache.
                            unsafe { global.realloc_into(raw, block, old, new_size) }
                        }
                    }),
                }
            }
        }
    }
}

impl Drop for SyncPool {
    fn drop(&mut self) {
        // As in `reset`: the destructors of the values still in the pool run
        // while every engine's memory is allocated; the fields then free the
        // memory (and do so too if a destructor unwinds).
        self.shared.clear_depot();
        self.global.get_mut().reset();
    }
}

impl fmt::Debug for SyncPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each figure takes the locks it needs and lets go before the next:
        // parking_lot's mutexes are not reentrant.
        let stats = self.stats();
        let caches = self.caches();
        f.debug_struct("SyncPool")
            .field("limit", &self.limit())
            .field("caches", &caches)
            .field("stats", &stats)
            .finish()
    }
}
