//! The peer suite: `Pool` side by side with bumpalo, typed-arena, slab and
//! `Box` on the system allocator.
//!
//! * W1 — 1e6 zeroed allocations of 16 and 64 bytes, then drop. `w1_sites`
//!   does the same from eight call sites of the loop body, as a real
//!   program allocates from many places (each inlines its own fast path).
//! * W2 — churn: 1e6 live blocks of 16–256 bytes, then random free+alloc
//!   pairs; ns per pair, and reserved memory against peak live bytes.
//!   Peers: a bare intrusive free list (the floor), mimalloc, `Box` (glibc).
//! * W3 — growth: one array grown by +16-byte steps to 1 MB, and by
//!   doubling to 64 MB: `realloc` against `Vec`, bumpalo's `Vec`, and an
//!   always-move realloc (what cymem does).
//! * W4 — per-document pools: create, 100–1000 mixed allocations, drop.
//!
//! Memory: set `ARENAPOOL_BENCH_MEMORY=warm` together with
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296`
//! (what `make bench` does) so that freed chunks stay with the process and
//! their pages stay faulted in; leave both unset for cold runs, where every
//! chunk is fresh pages. The group names carry the label.
//!
//! `cargo bench -p arenapool-benches --bench peers`

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;

use arenapool::{Handle, Pool};
use arenapool_benches::{BareFreeList, Rng};
use bumpalo::Bump;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mimalloc::MiMalloc;

fn memory() -> &'static str {
    match std::env::var("ARENAPOOL_BENCH_MEMORY").as_deref() {
        Ok("warm") => "warm",
        _ => "cold",
    }
}

const N: usize = 1_000_000;

fn w1<const SIZE: usize>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("w1_{SIZE}B_{}", memory()));
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    group.bench_function("arenapool", |b| {
        b.iter(|| {
            let pool = Pool::new();
            for _ in 0..N {
                drop(black_box(pool.alloc(1, SIZE)));
            }
        })
    });
    // The same allocations with only the block's slice (two words) handed
    // to `black_box`, not the three-word handle: what the handle's width
    // costs a loop that stores every handle, against bumpalo's one-word
    // reference.
    group.bench_function("arenapool (slice only)", |b| {
        b.iter(|| {
            let pool = Pool::new();
            for _ in 0..N {
                let mut block = pool.alloc(1, SIZE);
                black_box(&mut *block);
            }
        })
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| {
            let bump = Bump::new();
            for _ in 0..N {
                black_box(bump.alloc([0u8; SIZE]));
            }
        })
    });
    group.bench_function("typed-arena", |b| {
        b.iter(|| {
            let arena = typed_arena::Arena::new();
            for _ in 0..N {
                black_box(arena.alloc([0u8; SIZE]));
            }
        })
    });
    group.bench_function("slab", |b| {
        b.iter(|| {
            let mut slab = slab::Slab::new();
            for _ in 0..N {
                black_box(slab.insert([0u8; SIZE]));
            }
        })
    });
    group.bench_function("Box", |b| {
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

const LIVE: usize = 1_000_000;
const PAIRS: u64 = 100_000;

fn size(rng: &mut Rng) -> usize {
    16 + rng.below(241)
}

fn w2(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("w2_churn_{}", memory()));
    group.throughput(Throughput::Elements(PAIRS));
    group.sample_size(20);
    {
        let pool = Pool::new();
        let mut rng = Rng::new(7);
        let mut live: Vec<Handle<'_, [u8]>> =
            (0..LIVE).map(|_| pool.alloc(1, size(&mut rng))).collect();
        group.bench_function("arenapool", |b| {
            b.iter(|| {
                for _ in 0..PAIRS {
                    let i = rng.below(LIVE);
                    let fresh = pool.alloc(1, size(&mut rng));
                    pool.free(std::mem::replace(&mut live[i], fresh));
                }
            })
        });
        let s = pool.stats();
        eprintln!(
            "w2 memory: arenapool reserved {} B, peak live {} B: {:.3}x",
            s.reserved_bytes,
            s.peak_live_bytes,
            s.reserved_bytes as f64 / s.peak_live_bytes as f64
        );
    }
    {
        let mut rng = Rng::new(7);
        let mut live: Vec<Box<[u8]>> = (0..LIVE)
            .map(|_| vec![0u8; size(&mut rng)].into_boxed_slice())
            .collect();
        group.bench_function("Box", |b| {
            b.iter(|| {
                for _ in 0..PAIRS {
                    let i = rng.below(LIVE);
                    live[i] = vec![0u8; size(&mut rng)].into_boxed_slice();
                }
            })
        });
    }
    {
        // The floor: a bare intrusive free list doing the same zeroing, with
        // none of the pool's accounting, limit, large blocks or checks.
        let mut list = BareFreeList::new();
        let mut rng = Rng::new(7);
        let mut live: Vec<(NonNull<u8>, usize)> = (0..LIVE)
            .map(|_| {
                let n = size(&mut rng);
                (list.alloc(n), n)
            })
            .collect();
        group.bench_function("bare free list", |b| {
            b.iter(|| {
                for _ in 0..PAIRS {
                    let i = rng.below(LIVE);
                    let n = size(&mut rng);
                    let fresh = (list.alloc(n), n);
                    let (old, old_n) = std::mem::replace(&mut live[i], fresh);
                    // SAFETY: a block of `list.alloc(old_n)`, freed once.
                    unsafe { list.free(old, old_n) };
                }
            })
        });
    }
    {
        // mimalloc through its `GlobalAlloc`, calloc-like zeroed blocks.
        let mut rng = Rng::new(7);
        let layout = |n: usize| Layout::from_size_align(n, 16).unwrap();
        let mut live: Vec<(*mut u8, usize)> = (0..LIVE)
            .map(|_| {
                let n = size(&mut rng);
                // SAFETY: a non-zero layout; the block is freed with it.
                (unsafe { MiMalloc.alloc_zeroed(layout(n)) }, n)
            })
            .collect();
        group.bench_function("mimalloc", |b| {
            b.iter(|| {
                for _ in 0..PAIRS {
                    let i = rng.below(LIVE);
                    let n = size(&mut rng);
                    // SAFETY: as above.
                    let fresh = (unsafe { MiMalloc.alloc_zeroed(layout(n)) }, n);
                    let (old, old_n) = std::mem::replace(&mut live[i], fresh);
                    // SAFETY: allocated above with this layout, freed once.
                    unsafe { MiMalloc.dealloc(old, layout(old_n)) };
                }
            })
        });
        for (block, n) in live {
            // SAFETY: as above.
            unsafe { MiMalloc.dealloc(block, layout(n)) };
        }
    }
    {
        // What the harness costs on its own: the size draw and the random
        // read and write of one of 1e6 slots as wide as a handle (24 bytes),
        // with no allocation at all.
        let mut rng = Rng::new(7);
        let mut slots: Vec<[usize; 3]> = (0..LIVE).map(|i| [i; 3]).collect();
        group.bench_function("harness only (no allocation)", |b| {
            b.iter(|| {
                for _ in 0..PAIRS {
                    let i = rng.below(LIVE);
                    let n = size(&mut rng);
                    black_box(std::mem::replace(&mut slots[i], [n; 3]));
                }
            })
        });
    }
    {
        // slab: fixed 256-byte slots (it stores one type), reused by key.
        let mut rng = Rng::new(7);
        let mut slab = slab::Slab::with_capacity(LIVE);
        let mut keys: Vec<usize> = (0..LIVE).map(|_| slab.insert([0u8; 256])).collect();
        group.bench_function("slab", |b| {
            b.iter(|| {
                for _ in 0..PAIRS {
                    let i = rng.below(LIVE);
                    slab.remove(keys[i]);
                    let n = size(&mut rng);
                    let mut slot = [0u8; 256];
                    slot[n - 1] = 1;
                    keys[i] = slab.insert(slot);
                }
            })
        });
    }
    {
        // bumpalo cannot free: every pair only allocates, and memory grows by
        // the pair's size. The arena is reset between timed batches (its 1e6
        // "live" blocks do not change how fast it bumps), or a run would
        // hold tens of gigabytes.
        let mut bump = Bump::new();
        let mut rng = Rng::new(7);
        group.bench_function("bumpalo (no reuse)", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    for _ in 0..PAIRS {
                        black_box(rng.below(LIVE));
                        black_box(bump.alloc_slice_fill_copy(size(&mut rng), 0u8));
                    }
                    total += start.elapsed();
                    bump.reset();
                }
                total
            })
        });
        eprintln!(
            "w2 memory: bumpalo frees nothing: each pair adds its size (136 B on average) for good"
        );
    }
    group.finish();
}

/// The next length of a W3 array: `len + step`, or double (`step == 0`).
fn next_len(len: usize, step: usize) -> usize {
    if step == 0 {
        len * 2
    } else {
        len + step
    }
}

/// Grows one array from 16 bytes to `to` bytes, `step`-wise (`0`: doubling).
fn grow_pool(to: usize, step: usize) {
    let pool = Pool::new();
    let mut a = pool.alloc(1, 16);
    while a.len() < to {
        let next = next_len(a.len(), step);
        pool.realloc(&mut a, next);
    }
    black_box(a[to - 1]);
}

/// cymem's realloc: always a new block, a copy, and the old one freed.
fn grow_always_move(to: usize, step: usize) {
    let pool = Pool::new();
    let mut a = pool.alloc(1, 16);
    while a.len() < to {
        let next = next_len(a.len(), step);
        let mut b = pool.alloc(1, next);
        b[..a.len()].copy_from_slice(&a);
        pool.free(std::mem::replace(&mut a, b));
    }
    black_box(a[to - 1]);
}

fn w3(c: &mut Criterion) {
    for (name, to, step) in [
        ("plus16_to_1MB", 1 << 20, 16),
        ("doubling_to_64MB", 64 << 20, 0),
    ] {
        let mut group = c.benchmark_group(format!("w3_{name}_{}", memory()));
        group.sample_size(10);
        group.bench_function("arenapool realloc", |b| b.iter(|| grow_pool(to, step)));
        group.bench_function("always-move (cymem)", |b| {
            b.iter(|| grow_always_move(to, step))
        });
        group.bench_function("Vec", |b| {
            b.iter(|| {
                let mut v: Vec<u8> = vec![0; 16];
                while v.len() < to {
                    let next = next_len(v.len(), step);
                    v.resize(next, 0);
                }
                black_box(v[to - 1]);
            })
        });
        group.bench_function("bumpalo Vec", |b| {
            b.iter(|| {
                let bump = Bump::new();
                let mut v = bumpalo::collections::Vec::from_iter_in([0u8; 16], &bump);
                while v.len() < to {
                    let next = next_len(v.len(), step);
                    v.resize(next, 0);
                }
                black_box(v[to - 1]);
            })
        });
        group.finish();
    }
}

/// One document: `n` mixed allocations (records, strings, arrays) and a few
/// frees, then the pool drops.
fn w4(c: &mut Criterion) {
    const DOCS: u64 = 10_000;
    let mut group = c.benchmark_group(format!("w4_per_document_{}", memory()));
    group.throughput(Throughput::Elements(DOCS));
    group.sample_size(10);
    let sizes: Vec<usize> = {
        let mut rng = Rng::new(3);
        (0..DOCS).map(|_| 100 + rng.below(901)).collect()
    };
    group.bench_function("arenapool", |b| {
        b.iter(|| {
            let mut rng = Rng::new(11);
            for &n in &sizes {
                let pool = Pool::new();
                for i in 0..n {
                    let h = pool.alloc(1, 8 + rng.below(120));
                    if i % 8 == 0 {
                        pool.free(h);
                    } else {
                        drop(black_box(h));
                    }
                }
            }
        })
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| {
            let mut rng = Rng::new(11);
            for &n in &sizes {
                let bump = Bump::new();
                for _ in 0..n {
                    black_box(bump.alloc_slice_fill_copy(8 + rng.below(120), 0u8));
                }
            }
        })
    });
    group.bench_function("Box", |b| {
        b.iter(|| {
            let mut rng = Rng::new(11);
            let mut doc: Vec<Box<[u8]>> = Vec::new();
            for &n in &sizes {
                for i in 0..n {
                    let h = vec![0u8; 8 + rng.below(120)].into_boxed_slice();
                    if i % 8 != 0 {
                        doc.push(h);
                    }
                }
                doc.clear();
            }
        })
    });
    group.finish();
}

/// Eight call sites of `$alloc` in a row.
macro_rules! eight {
    ($alloc:expr) => {{
        let _ = black_box($alloc);
        let _ = black_box($alloc);
        let _ = black_box($alloc);
        let _ = black_box($alloc);
        let _ = black_box($alloc);
        let _ = black_box($alloc);
        let _ = black_box($alloc);
        let _ = black_box($alloc);
    }};
}

fn w1_sites<const SIZE: usize>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("w1_sites_{SIZE}B_{}", memory()));
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(20);
    group.bench_function("arenapool", |b| {
        b.iter(|| {
            let pool = Pool::new();
            for _ in 0..N / 8 {
                eight!(pool.alloc(1, SIZE));
            }
        })
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| {
            let bump = Bump::new();
            for _ in 0..N / 8 {
                eight!(bump.alloc([0u8; SIZE]));
            }
        })
    });
    group.finish();
}

// The call-site runs go first: after W1's 16 MB arenas glibc raises its
// dynamic mmap threshold, and a later cold-labelled run would reuse warm
// heap pages.
criterion_group!(
    benches,
    w1_sites::<16>,
    w1_sites::<64>,
    w1::<16>,
    w1::<64>,
    w2,
    w3,
    w4
);
criterion_main!(benches);
