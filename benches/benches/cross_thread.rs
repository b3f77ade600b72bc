//! W6: cross-thread pairs — one thread allocates zeroed blocks of 16–256
//! bytes and hands them, 256 at a time, through a bounded queue to a second
//! thread, which frees them (a producer/consumer pipeline). `SyncPool`
//! against glibc (`calloc`/`free`) and mimalloc in the same run; time per
//! pair, and the pool's reserved memory against its peak live bytes.
//!
//! `cargo bench -p arenapool-benches --bench cross_thread`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use arenapool::SyncPool;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mimalloc::MiMalloc;

/// Pairs per measured batch.
const PAIRS: usize = 200_000;
/// Blocks per hand-over.
const BATCH: usize = 256;
/// Hand-overs in flight at most.
const IN_FLIGHT: usize = 8;

/// The size of the `i`-th block: 16..=256 bytes.
fn size(i: usize) -> usize {
    16 + (i * 7919) % 241
}

/// A raw block that may cross threads.
struct Block(*mut u8, usize);
// SAFETY: a block allocated by one thread and freed by another, used by one
// at a time (the queue hands it over).
unsafe impl Send for Block {}

/// The pipeline: this thread makes `PAIRS` blocks with `alloc` (given the
/// size) and hands them over in batches; a second thread frees them with
/// `free`. Returns the wall time.
fn pipeline<T: Send>(mut alloc: impl FnMut(usize) -> T, free: impl Fn(T) + Sync) -> Duration {
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

/// The pipeline through a system allocator (`GlobalAlloc`).
fn through<A: GlobalAlloc + Sync>(alloc: &A) -> Duration {
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
fn through_pool(pool: &SyncPool) -> Duration {
    pipeline(
        |n| {
            let mut block = pool.alloc(1, n);
            block[0] = 1;
            block
        },
        |block| pool.free(block),
    )
}

fn w6(c: &mut Criterion) {
    let mut group = c.benchmark_group("w6_cross_thread_pairs");
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.sample_size(20);
    let pool = SyncPool::new();
    group.bench_function("SyncPool", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| through_pool(&pool)).sum())
    });
    let s = pool.stats();
    // Live at most: the batches in the queue, one being filled and one being
    // freed, of 256 blocks of 136 bytes on average. Per thread the cache may
    // also keep up to `SyncPool::SPILL_ABOVE` of free blocks and a chunk.
    let in_flight = (IN_FLIGHT + 2) * BATCH * 136;
    eprintln!(
        "w6 memory: SyncPool reserved {} B after every sample, for about {} B live at most \
         ({:.2}x; per-thread allowance {} B of free blocks)",
        s.reserved_bytes,
        in_flight,
        s.reserved_bytes as f64 / in_flight as f64,
        SyncPool::SPILL_ABOVE,
    );
    black_box(&pool);
    group.bench_function("glibc", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| through(&System)).sum())
    });
    group.bench_function("mimalloc", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| through(&MiMalloc)).sum())
    });
    group.finish();
}

criterion_group!(benches, w6);
criterion_main!(benches);
