//! A snapshot of a pool's accounting.

/// What a pool holds, from [`Pool::stats`](crate::Pool::stats).
///
/// ```
/// use arenapool::Pool;
///
/// let pool = Pool::new();
/// let block = pool.alloc(10, 4);
/// let stats = pool.stats();
/// assert_eq!((stats.live_allocations, stats.live_bytes), (1, 40));
/// assert!(stats.reserved_bytes >= 40);
/// # drop(block);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Stats {
    /// Allocations handed out and not freed (zero-size ones included).
    pub live_allocations: usize,
    /// Bytes requested by the live allocations: the same as
    /// [`Pool::size`](crate::Pool::size) and cymem's `Pool.size`. Values with
    /// a destructor count their own size, not the pool's bookkeeping.
    pub live_bytes: usize,
    /// Bytes the pool holds from the global allocator: the capacity of its
    /// chunks plus its large blocks with their headers. This is what a
    /// limit counts.
    pub reserved_bytes: usize,
    /// Bytes of freed blocks waiting in free lists for reuse.
    pub free_list_bytes: usize,
    /// The most `live_bytes` has been since the pool was created.
    pub peak_live_bytes: usize,
    /// Chunks the small blocks are carved from.
    pub chunks: usize,
    /// Large blocks, each a system allocation of its own.
    pub large_blocks: usize,
}
