//! How cost grows with work (`make bench-scaling`): W2 churn against the
//! number of live blocks (1e3 to 1e7) and W4 per-document pools against
//! the allocations per document (10 to 1e5), for arenapool and each peer
//! that applies. Prints CSV rows (`workload,peer,x,ns,reserved_over_peak`);
//! `benches/scaling.py` draws them. Each figure is the median of `REPEATS`
//! runs; memory is warm after the first (the set-up of each size runs
//! first, outside the timing).

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use arenapool::{Handle, Pool};
use arenapool_benches::{BareFreeList, Rng};
use bumpalo::Bump;
use mimalloc::MiMalloc;

const REPEATS: usize = 5;
const PAIRS: usize = 200_000;

fn size(rng: &mut Rng) -> usize {
    16 + rng.below(241)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// ns per pair of `PAIRS` random free+alloc pairs over `live` blocks.
fn time_pairs(mut pair: impl FnMut(&mut Rng)) -> f64 {
    let mut rng = Rng::new(99);
    median(
        (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..PAIRS {
                    pair(&mut rng);
                }
                start.elapsed().as_nanos() as f64 / PAIRS as f64
            })
            .collect(),
    )
}

fn w2(live: usize) {
    {
        let pool = Pool::new();
        let mut rng = Rng::new(7);
        let mut blocks: Vec<Handle<'_, [u8]>> =
            (0..live).map(|_| pool.alloc(1, size(&mut rng))).collect();
        let ns = time_pairs(|rng| {
            let i = rng.below(live);
            let fresh = pool.alloc(1, size(rng));
            pool.free(std::mem::replace(&mut blocks[i], fresh));
        });
        let s = pool.stats();
        let ratio = s.reserved_bytes as f64 / s.peak_live_bytes as f64;
        println!("w2,arenapool,{live},{ns:.2},{ratio:.3}");
    }
    {
        let mut list = BareFreeList::new();
        let mut rng = Rng::new(7);
        let mut blocks: Vec<(NonNull<u8>, usize)> = (0..live)
            .map(|_| {
                let n = size(&mut rng);
                (list.alloc(n), n)
            })
            .collect();
        let ns = time_pairs(|rng| {
            let i = rng.below(live);
            let n = size(rng);
            let (old, old_n) = std::mem::replace(&mut blocks[i], (list.alloc(n), n));
            // SAFETY: a block of `list.alloc(old_n)`, freed once.
            unsafe { list.free(old, old_n) };
        });
        println!("w2,bare free list,{live},{ns:.2},");
    }
    {
        let layout = |n: usize| Layout::from_size_align(n, 16).unwrap();
        let mut rng = Rng::new(7);
        let mut blocks: Vec<(*mut u8, usize)> = (0..live)
            .map(|_| {
                let n = size(&mut rng);
                // SAFETY: a non-zero layout; the block is freed with it.
                (unsafe { MiMalloc.alloc_zeroed(layout(n)) }, n)
            })
            .collect();
        let ns = time_pairs(|rng| {
            let i = rng.below(live);
            let n = size(rng);
            // SAFETY: as above.
            let fresh = (unsafe { MiMalloc.alloc_zeroed(layout(n)) }, n);
            let (old, old_n) = std::mem::replace(&mut blocks[i], fresh);
            // SAFETY: as above.
            unsafe { MiMalloc.dealloc(old, layout(old_n)) };
        });
        for (block, n) in blocks {
            // SAFETY: as above.
            unsafe { MiMalloc.dealloc(block, layout(n)) };
        }
        println!("w2,mimalloc,{live},{ns:.2},");
    }
    {
        let mut rng = Rng::new(7);
        let mut blocks: Vec<Box<[u8]>> = (0..live)
            .map(|_| vec![0u8; size(&mut rng)].into_boxed_slice())
            .collect();
        let ns = time_pairs(|rng| {
            let i = rng.below(live);
            blocks[i] = vec![0u8; size(rng)].into_boxed_slice();
        });
        println!("w2,Box (glibc),{live},{ns:.2},");
    }
}

/// ns per document of `allocs` mixed allocations (8–127 B, every eighth
/// freed at once), over about 1e6 allocations in all.
fn w4(allocs: usize) {
    let docs = (1_000_000 / allocs).max(1);
    let time = |mut doc: Box<dyn FnMut(&mut Rng)>| {
        median(
            (0..REPEATS)
                .map(|_| {
                    let mut rng = Rng::new(11);
                    let start = Instant::now();
                    for _ in 0..docs {
                        doc(&mut rng);
                    }
                    start.elapsed().as_nanos() as f64 / docs as f64
                })
                .collect(),
        )
    };
    let ns = time(Box::new(move |rng| {
        let pool = Pool::new();
        for i in 0..allocs {
            let h = pool.alloc(1, 8 + rng.below(120));
            if i % 8 == 0 {
                pool.free(h);
            } else {
                drop(black_box(h));
            }
        }
    }));
    println!("w4,arenapool,{allocs},{ns:.1},");
    let ns = time(Box::new(move |rng| {
        let bump = Bump::new();
        for _ in 0..allocs {
            black_box(bump.alloc_slice_fill_copy(8 + rng.below(120), 0u8));
        }
    }));
    println!("w4,bumpalo,{allocs},{ns:.1},");
    let ns = time(Box::new(move |rng| {
        let mut doc: Vec<Box<[u8]>> = Vec::new();
        for i in 0..allocs {
            let h = vec![0u8; 8 + rng.below(120)].into_boxed_slice();
            if i % 8 != 0 {
                doc.push(h);
            }
        }
        black_box(doc);
    }));
    println!("w4,Box (glibc),{allocs},{ns:.1},");
}

fn main() {
    let top: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    println!("workload,peer,x,ns,reserved_over_peak");
    let mut live = 1_000;
    while live <= top {
        w2(live);
        live *= 10;
    }
    for allocs in [10, 100, 1_000, 10_000, 100_000] {
        w4(allocs);
    }
}
