//! W6: cross-thread pairs — one thread allocates zeroed blocks of 16–256
//! bytes and hands them, 256 at a time, through a bounded queue to a second
//! thread, which frees them (a producer/consumer pipeline). `SyncPool`
//! against glibc (`calloc`/`free`) and mimalloc in the same run; time per
//! pair, and the pool's reserved memory against its peak live bytes.
//!
//! `cargo bench -p arenapool-benches --bench cross_thread`; the ratios the
//! README quotes come from `w6_rounds` (the peers alternating), as which
//! thread the scheduler runs when moves these times by a factor of three.

use std::hint::black_box;

use arenapool::SyncPool;
use arenapool_benches::pipeline::{through, through_pool, LIVE_AT_MOST, PAIRS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mimalloc::MiMalloc;
use std::alloc::System;

fn w6(c: &mut Criterion) {
    let mut group = c.benchmark_group("w6_cross_thread_pairs");
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.sample_size(20);
    let pool = SyncPool::new();
    group.bench_function("SyncPool", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| through_pool(&pool)).sum())
    });
    let s = pool.stats();
    // Per thread the cache may also keep up to `SyncPool::SPILL_ABOVE` of
    // free blocks and a chunk.
    let in_flight = LIVE_AT_MOST;
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
