//! W5: `SyncPool` against `Pool` and against the simplest thread-safe
//! design — one `parking_lot::Mutex` around the engine — uncontended, and
//! with 1 and 2 threads.
//!
//! `cargo bench -p arenapool-benches --bench sync`

use std::alloc::Layout;
use std::hint::black_box;

use arenapool::raw::RawPool;
use arenapool::{Pool, SyncPool};
use arenapool_benches::{churn, on_threads};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parking_lot::Mutex;

/// Alloc+free pairs per measured batch.
const PAIRS: u64 = 100_000;

/// The baseline design: every call takes one lock around one engine.
struct MutexPool(Mutex<RawPool>);

impl MutexPool {
    fn alloc(&self, layout: Layout) -> std::ptr::NonNull<u8> {
        self.0.lock().alloc(layout).unwrap()
    }

    /// # Safety
    ///
    /// `block` came from `alloc` of this pool with `layout` and is freed once.
    unsafe fn free(&self, block: std::ptr::NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.lock().dealloc(block, layout) }
    }
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("w5_uncontended_alloc_free_pair");
    group.throughput(Throughput::Elements(PAIRS));
    let pool = Pool::new();
    group.bench_function("Pool", |b| {
        b.iter(|| churn!(|n| pool.alloc(1, n), |h| pool.free(h), PAIRS))
    });
    let sync = SyncPool::new();
    group.bench_function("SyncPool", |b| {
        b.iter(|| churn!(|n| sync.alloc(1, n), |h| sync.free(h), PAIRS))
    });
    let locked = MutexPool(Mutex::new(RawPool::new(None)));
    group.bench_function("Mutex<RawPool>", |b| {
        b.iter(|| {
            churn!(
                |n| {
                    let layout = Layout::from_size_align(n, 16).unwrap();
                    // SAFETY: a fresh block of `n` bytes, zeroed and 16-aligned.
                    let block =
                        unsafe { std::slice::from_raw_parts_mut(locked.alloc(layout).as_ptr(), n) };
                    black_box(block)
                },
                // SAFETY: freed once, with the layout it was made with.
                |h: &mut [u8]| unsafe {
                    locked.free(
                        std::ptr::NonNull::from(&mut *h).cast(),
                        Layout::for_value(h).align_to(16).unwrap(),
                    )
                },
                PAIRS
            )
        })
    });
    // One thread alternating between two pools: the cache lookup misses the
    // one-entry fast path on every call (the review measured 1,240 ns per two
    // pairs when the lookup scanned every cache the pool ever had).
    let (first, second) = (SyncPool::new(), SyncPool::new());
    group.bench_function("SyncPool, two pools alternating", |b| {
        b.iter(|| {
            for i in 0..PAIRS {
                let pool = if i % 2 == 0 { &first } else { &second };
                let mut h = pool.alloc(1, 16 + (i as usize % 241));
                h[0] = 1;
                pool.free(h);
            }
        })
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("w5_threads");
    let sync = SyncPool::new();
    let locked = MutexPool(Mutex::new(RawPool::new(None)));
    for threads in [1usize, 2] {
        // Throughput counts the work of all threads: more elements per
        // second with 2 threads means it scales.
        group.throughput(Throughput::Elements(PAIRS * threads as u64));
        group.bench_function(format!("SyncPool/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &|| {
                    churn!(|n| sync.alloc(1, n), |h| sync.free(h), PAIRS)
                })
            })
        });
        group.bench_function(format!("Mutex<RawPool>/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, &|| {
                    churn!(
                        |n| {
                            let layout = Layout::from_size_align(n, 16).unwrap();
                            // SAFETY: a fresh block of `n` bytes, zeroed and 16-aligned.
                            unsafe {
                                std::slice::from_raw_parts_mut(locked.alloc(layout).as_ptr(), n)
                            }
                        },
                        // SAFETY: freed once, with the layout it was made with.
                        |h: &mut [u8]| unsafe {
                            locked.free(
                                std::ptr::NonNull::from(&mut *h).cast(),
                                Layout::from_size_align(h.len(), 16).unwrap(),
                            )
                        },
                        PAIRS
                    )
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, uncontended, scaling);
criterion_main!(benches);
