//! Instruction counts of the fast paths, for `make bench-instructions`.
//!
//! `instructions <op>` calls the `#[inline(never)]` function of `<op>`
//! `CALLS` times after a warm-up that goes around it; run under
//! `valgrind --tool=callgrind --toggle-collect=<that function>`, the totals
//! divided by `CALLS` are the instructions (and conditional branches) of one
//! call, its call and return included. `instructions --list` prints the ops.

use std::hint::black_box;
use std::ptr::NonNull;

use arenapool::{Handle, Pool, SyncPool};
use arenapool_benches::BareFreeList;
use bumpalo::Bump;

/// Calls measured per op.
pub const CALLS: usize = 1000;

#[inline(never)]
fn arenapool_alloc_16(pool: &Pool) -> Handle<'_, [u8]> {
    pool.alloc(1, 16)
}

#[inline(never)]
fn arenapool_free_older(pool: &Pool, block: Handle<'_, [u8]>) {
    pool.free(block)
}

#[inline(never)]
fn arenapool_free_newest(pool: &Pool, block: Handle<'_, [u8]>) {
    pool.free(block)
}

#[inline(never)]
fn arenapool_realloc_in_place(pool: &Pool, block: &mut Handle<'_, [u8]>, len: usize) {
    pool.realloc(block, len)
}

#[inline(never)]
fn syncpool_alloc_free_16(pool: &SyncPool) {
    pool.free(pool.alloc(1, 16))
}

#[inline(never)]
fn bumpalo_alloc_16(bump: &Bump) -> &mut [u8; 16] {
    bump.alloc([0u8; 16])
}

#[inline(never)]
fn bumpalo_alloc_slice_fill_copy_16(bump: &Bump) -> &mut [u8] {
    bump.alloc_slice_fill_copy(16, 0u8)
}

#[inline(never)]
fn free_list_alloc_16(list: &mut BareFreeList) -> NonNull<u8> {
    list.alloc(16)
}

#[inline(never)]
fn free_list_free_16(list: &mut BareFreeList, block: NonNull<u8>) {
    // SAFETY: a block of `list.alloc(16)`, freed once.
    unsafe { list.free(block, 16) }
}

/// Allocations of one W4 document (`document` ops).
const DOC_ALLOCS: usize = 500;

/// One W4 document: a new pool, `DOC_ALLOCS` zeroed blocks of 8 to 127
/// bytes with every eighth freed at once, then the pool dropped.
#[inline(never)]
fn arenapool_document(sizes: &[usize]) {
    let pool = Pool::new();
    for (i, &n) in sizes.iter().enumerate() {
        let h = pool.alloc(1, n);
        if i % 8 == 0 {
            pool.free(h);
        } else {
            drop(black_box(h));
        }
    }
}

/// The same document in a bumpalo arena (which cannot free).
#[inline(never)]
fn bumpalo_document(sizes: &[usize]) {
    let bump = Bump::new();
    for &n in sizes {
        black_box(bump.alloc_slice_fill_copy(n, 0u8));
    }
}

fn document_sizes() -> Vec<usize> {
    let mut rng = arenapool_benches::Rng::new(11);
    (0..DOC_ALLOCS).map(|_| 8 + rng.below(120)).collect()
}

/// The ops: name (also the measured function's) and its runner.
const OPS: &[(&str, fn())] = &[
    ("arenapool_alloc_16", || {
        let pool = Pool::with_capacity(64 * 1024);
        let _warm = pool.alloc(1, 16);
        let kept: Vec<_> = (0..CALLS).map(|_| arenapool_alloc_16(&pool)).collect();
        black_box(kept);
    }),
    ("arenapool_free_older", || {
        let pool = Pool::with_capacity(64 * 1024);
        let blocks: Vec<_> = (0..CALLS).map(|_| pool.alloc(1, 16)).collect();
        let _newest = pool.alloc(1, 16); // so that none of `blocks` is the newest
        for block in blocks {
            arenapool_free_older(&pool, block);
        }
    }),
    ("arenapool_free_newest", || {
        let pool = Pool::with_capacity(64 * 1024);
        let _warm = pool.alloc(1, 16);
        for _ in 0..CALLS {
            let block = pool.alloc(1, 16);
            arenapool_free_newest(&pool, block);
        }
    }),
    ("arenapool_realloc_in_place", || {
        let pool = Pool::with_capacity(1 << 20);
        let mut block = pool.alloc(1, 16);
        for i in 0..CALLS {
            // Grows by 16 B, in the small range (back to 32 B every 200 calls).
            arenapool_realloc_in_place(&pool, &mut block, 16 * (i % 200 + 2));
        }
        pool.free(black_box(block));
    }),
    ("syncpool_alloc_free_16", || {
        let pool = SyncPool::new();
        pool.free(pool.alloc(1, 16));
        for _ in 0..CALLS {
            syncpool_alloc_free_16(&pool);
        }
    }),
    ("bumpalo_alloc_16", || {
        let bump = Bump::with_capacity(64 * 1024);
        for _ in 0..CALLS {
            black_box(bumpalo_alloc_16(&bump));
        }
    }),
    ("bumpalo_alloc_slice_fill_copy_16", || {
        let bump = Bump::with_capacity(64 * 1024);
        for _ in 0..CALLS {
            black_box(bumpalo_alloc_slice_fill_copy_16(&bump));
        }
    }),
    ("arenapool_document", || {
        let sizes = document_sizes();
        arenapool_document(&sizes[..8]);
        for _ in 0..CALLS {
            arenapool_document(&sizes);
        }
    }),
    ("bumpalo_document", || {
        let sizes = document_sizes();
        bumpalo_document(&sizes[..8]);
        for _ in 0..CALLS {
            bumpalo_document(&sizes);
        }
    }),
    ("free_list_alloc_16", || {
        let mut list = BareFreeList::new();
        let warm = list.alloc(16);
        // SAFETY: freed once.
        unsafe { list.free(warm, 16) };
        let kept: Vec<_> = (0..CALLS).map(|_| free_list_alloc_16(&mut list)).collect();
        black_box(kept);
    }),
    ("free_list_free_16", || {
        let mut list = BareFreeList::new();
        let blocks: Vec<_> = (0..CALLS).map(|_| list.alloc(16)).collect();
        for block in blocks {
            free_list_free_16(&mut list, block);
        }
    }),
];

fn main() {
    let op = std::env::args().nth(1).unwrap_or_default();
    if op == "--list" {
        for (name, _) in OPS {
            println!("{name}");
        }
        return;
    }
    match OPS.iter().find(|(name, _)| *name == op) {
        Some((_, run)) => run(),
        None => {
            eprintln!("usage: instructions <op> | --list");
            std::process::exit(2);
        }
    }
}
