//! `Zone`: a pool of its own for one phase of work, whose memory comes from
//! its parent pool and goes back to it — spaCy's `memory_zone`, and
//! bumpalo's oldest request (a partial reset that keeps live data).

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use crate::raw::RawPool;
use crate::Pool;

/// A pool for transient allocations, made by [`Pool::zone`]. It derefs to a
/// [`Pool`], so every call works on it; its handles borrow the zone, so
/// none outlives it (a compile error). When it drops, everything allocated
/// in it is freed at once (destructors run), and its memory goes back to the
/// parent, which keeps it for the next zone: a second zone of the same size
/// reserves nothing new.
///
/// The parent stays usable meanwhile, and its own handles stay valid. A
/// zone shares the parent's limit, and its memory counts in the parent's
/// [`stats`](Pool::stats) (`reserved_bytes`, `large_blocks`); the parent's
/// `size()` counts only the parent's own allocations. Zones nest
/// (`zone.zone()`).
///
/// ```
/// use arenapool::Pool;
///
/// let vocab = Pool::new();
/// let permanent = vocab.alloc_str("the");            // lives on
/// for doc in ["a b", "c d e"] {
///     let zone = vocab.zone();
///     let words: Vec<_> = doc.split(' ').map(|w| zone.alloc_str(w)).collect();
///     assert!(words.len() >= 2);
///     let _also_permanent = vocab.alloc_copy(7u32);  // the parent, meanwhile
/// } // each zone's strings freed here, its memory kept by `vocab`
/// assert_eq!(&*permanent, "the");
/// assert_eq!(vocab.size(), 3 + 2 * 4);
/// ```
///
/// ```compile_fail
/// let pool = arenapool::Pool::new();
/// let escaped;
/// {
///     let zone = pool.zone();
///     escaped = zone.alloc(1, 8); // error[E0597]: `zone` does not live long enough
/// }
/// escaped.len();
/// ```
pub struct Zone<'p> {
    pool: Pool,
    /// Borrows the parent, whose engine the zone's engine uses.
    _parent: PhantomData<&'p Pool>,
}

impl Pool {
    /// A zone of this pool: see [`Zone`].
    ///
    /// ```
    /// let pool = arenapool::Pool::new();
    /// let zone = pool.zone();
    /// let scratch = zone.alloc(100, 8);
    /// assert_eq!((zone.size(), pool.size()), (800, 0));
    /// # let _ = scratch;
    /// ```
    pub fn zone(&self) -> Zone<'_> {
        let parent = self.engine_ptr();
        // The zone borrows `self` for its life, so the parent engine outlives
        // it and stays put (a `Pool` cannot move while borrowed), and cannot
        // be reset (that needs `&mut`) nor have blocks freed by `retain`
        // (no safe call does that); a `Pool` is not `Sync` and a `Zone` holds
        // `&Pool`, so both are used by one thread; and no call on the zone
        // runs while a call on the parent does (neither runs user code
        // while its engine is borrowed), so the zone engine's uses of the
        // parent are the only access at their time.
        // SAFETY: so `zone_of`'s contract holds.
        let raw = unsafe { RawPool::zone_of(parent) };
        Zone {
            pool: Pool::from_raw(raw),
            _parent: PhantomData,
        }
    }
}

impl Deref for Zone<'_> {
    type Target = Pool;

    fn deref(&self) -> &Pool {
        &self.pool
    }
}

impl fmt::Debug for Zone<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.pool).finish()
    }
}

// The zone's engine is a field of `pool`, dropped with it: its values'
// destructors run, then its spans go back to the parent (`RawPool`'s
// `Drop`). No `Drop` of its own is needed.
