//! W6's workload: a producer/consumer pipeline of blocks (see
//! `benches/cross_thread.rs` and `benches/w6_rounds.rs`).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use arenapool::SyncPool;

/// Pairs per measured batch.
pub const PAIRS: usize = 200_000;
/// Blocks per hand-over.
pub const BATCH: usize = 256;
/// Hand-overs in flight at most.
pub const IN_FLIGHT: usize = 8;
/// Live bytes at most, about: the batches in the queue, one being filled
/// and one being freed, of 256 blocks of 136 bytes on average.
pub const LIVE_AT_MOST: usize = (IN_FLIGHT + 2) * BATCH * 136;

/// The size of the `i`-th block: 16..=256 bytes.
pub fn size(i: usize) -> usize {
    16 + (i * 7919) % 241
}

/// A raw block that may cross threads.
pub struct Block(*mut u8, usize);
// SAFETY: a block allocated by one thread and freed by another, used by one
// at a time (the queue hands it over).
unsafe impl Send for Block {}

/// The pipeline: this thread makes `PAIRS` blocks with `alloc` (given the
/// size) and hands them over in batches; a second thread frees them with
/// `free`. Returns the wall time.
pub fn pipeline<T: Send>(mut alloc: impl FnMut(usize) -> T, free: impl Fn(T) + Sync) -> Duration {
    let (tx, rx) = sync_channel::<Vec<T>>(IN_FLIGHT);
    let start = Instant::now();
    std::thread::scope(|s| {
        let free = &free;
        s.spawn(move || rx.into_iter().flatten().for_each(free));
        let mut batch = Vec::with_capacity(BATCH);
        for i in 0..PAIRS {
            batch.push(alloc(size(i)));
            if batch.len() == BATCH {
                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                    .unwrap();
            }
        }
        tx.send(batch).unwrap();
        drop(tx);
    });
    start.elapsed()
}

/// The pipeline through a system allocator (`GlobalAlloc`), zeroed blocks.
pub fn through<A: GlobalAlloc + Sync>(alloc: &A) -> Duration {
    let layout = |n| Layout::from_size_align(n, 16).unwrap();
    pipeline(
        |n| {
            // SAFETY: a non-zero layout; the block is freed with it.
            let ptr = unsafe { alloc.alloc_zeroed(layout(n)) };
            assert!(!ptr.is_null());
            // SAFETY: `n` writable bytes.
            unsafe { ptr.write(1) };
            Block(ptr, n)
        },
        // SAFETY: allocated above with this layout, freed once.
        |Block(ptr, n)| unsafe { alloc.dealloc(ptr, layout(n)) },
    )
}

/// The same pipeline through one `SyncPool`.
pub fn through_pool(pool: &SyncPool) -> Duration {
    pipeline(
        |n| {
            let mut block = pool.alloc(1, n);
            block[0] = 1;
            block
        },
        |block| pool.free(block),
    )
}
