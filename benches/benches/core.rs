//! Quick core measurements: W1 (1e6 zeroed 16- and 64-byte allocations,
//! then drop) against bumpalo and `Box`, and the memory a random
//! free+alloc churn reserves against its peak live bytes.
//!
//! `cargo bench -p arenapool-benches --bench core`

use std::hint::black_box;

use arenapool::Pool;
use arenapool_benches::churn_reserved;
use bumpalo::Bump;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const N: usize = 1_000_000;

fn w1<const SIZE: usize>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("w1_alloc_{SIZE}B_x1e6_then_drop"));
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    group.bench_function("arenapool::Pool::alloc", |b| {
        b.iter(|| {
            let pool = Pool::new();
            for _ in 0..N {
                black_box(pool.alloc(1, SIZE));
            }
        })
    });
    group.bench_function("arenapool::Pool::alloc_zeroed", |b| {
        b.iter(|| {
            let pool = Pool::new();
            for _ in 0..N {
                black_box(pool.alloc_zeroed::<[u8; SIZE]>());
            }
        })
    });
    group.bench_function("bumpalo::Bump::alloc", |b| {
        b.iter(|| {
            let bump = Bump::new();
            for _ in 0..N {
                black_box(bump.alloc([0u8; SIZE]));
            }
        })
    });
    group.bench_function("Box::new", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(N),
            |boxes| {
                for _ in 0..N {
                    boxes.push(Box::new([0u8; SIZE]));
                }
                boxes.clear();
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn churn_memory(_c: &mut Criterion) {
    let (peak, reserved) = churn_reserved(100_000, 1_000_000, 42);
    eprintln!(
        "churn 1e5 live (16..=256 B) + 1e6 free+alloc pairs: peak live {peak} B, reserved {reserved} B, ratio {:.3}",
        reserved as f64 / peak as f64
    );
}

criterion_group!(benches, w1::<16>, w1::<64>, churn_memory);
criterion_main!(benches);
