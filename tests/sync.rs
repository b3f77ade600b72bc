//! `SyncPool`: many threads allocating, freeing and reallocating through one
//! pool, with handles passed between threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};

mod common;
use common::{scaled, Rng};

use arenapool::{AllocError, Handle, SyncPool};

fn fill(block: &mut [u8], tag: u8) {
    block
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = tag ^ i as u8);
}

fn check(block: &[u8], tag: u8) {
    assert!(
        block.iter().enumerate().all(|(i, &b)| b == tag ^ i as u8),
        "block of {} corrupted",
        block.len()
    );
}

#[test]
fn sync_pool_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SyncPool>();
}

#[test]
fn hammer_from_8_threads_with_handles_passed_between_them() {
    let threads = scaled(8, 4);
    let ops = scaled(30_000, 60);
    let pool = SyncPool::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let values = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Each thread sends some of its live handles to the next thread, which
    // checks, grows and frees them.
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..threads)
        .map(|_| mpsc::channel::<(Handle<'_, [u8]>, u8)>())
        .unzip();
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        for (t, inbox) in receivers.into_iter().enumerate() {
            let next = senders[(t + 1) % threads].clone();
            let (pool, barrier, drops, values) = (&pool, &barrier, &drops, &values);
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                let mut live: Vec<(Handle<'_, [u8]>, u8)> = Vec::new();
                for i in 0..ops {
                    match rng.below(10) {
                        0..=3 => {
                            let size = if rng.below(20) == 0 {
                                4097 + rng.below(9000)
                            } else {
                                1 + rng.below(600)
                            };
                            let mut h = pool.alloc(1, size);
                            assert!(h.iter().all(|&b| b == 0));
                            let tag = (t * 31 + i) as u8;
                            fill(&mut h, tag);
                            live.push((h, tag));
                        }
                        4 | 5 if !live.is_empty() => {
                            let (h, tag) = live.swap_remove(rng.below(live.len()));
                            check(&h, tag);
                            pool.free(h);
                        }
                        6 if !live.is_empty() => {
                            let k = rng.below(live.len());
                            let (h, tag) = &mut live[k];
                            let old = h.len();
                            let new_len = 1 + rng.below(6000);
                            pool.realloc(h, new_len);
                            check(&h[..old.min(new_len)], *tag);
                            assert!(h[old.min(new_len)..].iter().all(|&b| b == 0));
                            fill(h, *tag);
                        }
                        7 if !live.is_empty() => {
                            let _ = next.send(live.swap_remove(rng.below(live.len())));
                        }
                        8 => {
                            values.fetch_add(1, Ordering::Relaxed);
                            let v = pool.alloc_value(Counted(drops.clone()));
                            pool.free(v);
                        }
                        _ => {
                            while let Ok((h, tag)) = inbox.try_recv() {
                                check(&h, tag);
                                live.push((h, tag));
                            }
                        }
                    }
                }
                drop(next);
                barrier.wait();
                while let Ok((h, tag)) = inbox.try_recv() {
                    live.push((h, tag));
                }
                for (h, tag) in live {
                    check(&h, tag);
                    pool.free(h);
                }
            });
        }
        drop(senders);
    });
    let stats = pool.stats();
    assert_eq!(pool.size(), 0, "{stats:?}");
    assert_eq!(stats.live_allocations, 0);
    assert_eq!(stats.large_blocks, 0);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        values.load(Ordering::Relaxed)
    );
    assert!(stats.peak_live_bytes >= stats.live_bytes);
    assert!(stats.reserved_bytes >= stats.free_list_bytes);
}

#[test]
fn a_block_freed_on_another_thread_is_reused_there() {
    let pool = SyncPool::new();
    let h = std::thread::scope(|s| s.spawn(|| pool.alloc(1, 48)).join().unwrap());
    let at = Handle::as_ptr(&h) as *const u8 as usize;
    pool.free(h);
    let again = pool.alloc(1, 48);
    assert_eq!(Handle::as_ptr(&again) as *const u8 as usize, at);
    assert_eq!(pool.stats().live_allocations, 1);
}

#[test]
fn the_limit_holds_across_threads() {
    let limit = 2 << 20;
    let pool = SyncPool::with_limit(limit);
    let refused = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..scaled(4, 2) {
            s.spawn(|| {
                let mut kept = Vec::new();
                for _ in 0..scaled(4000, 10) {
                    match pool.try_alloc(1, if cfg!(miri) { 64 } else { 1000 }) {
                        Ok(h) => kept.push(h),
                        Err(AllocError::LimitExceeded { .. }) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                    assert!(pool.stats().reserved_bytes <= limit);
                }
            });
        }
    });
    if !cfg!(miri) {
        assert!(refused.load(Ordering::Relaxed) > 0);
    }
    assert!(pool.stats().reserved_bytes <= limit);
    let err = pool.try_alloc(1, 3 << 20).unwrap_err();
    assert!(matches!(err, AllocError::LimitExceeded { .. }));
}

#[test]
fn foreign_handles_are_caught() {
    let (a, b) = (SyncPool::new(), SyncPool::new());
    let mut h = a.alloc(1, 8);
    assert_eq!(b.try_realloc(&mut h, 64), Err(AllocError::ForeignHandle));
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.free(h))).is_err());
    assert_eq!(a.stats().live_allocations, 1);
    assert_eq!(b.stats().live_allocations, 0);
}

#[test]
fn reset_runs_destructors_and_empties_every_thread_cache() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut pool = SyncPool::new();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let _ = pool.alloc(1, 100);
                let _ = pool.alloc(1, 10_000);
                let _ = pool.alloc_value(Counted(drops.clone()));
            });
        }
    });
    assert_eq!(pool.stats().live_allocations, 9);
    pool.reset();
    let s = pool.stats();
    assert_eq!(
        (s.live_allocations, s.live_bytes, s.large_blocks),
        (0, 0, 0)
    );
    assert_eq!(drops.load(Ordering::Relaxed), 3);
    assert!(s.peak_live_bytes >= 3 * (100 + 10_000));
    drop(pool);
    assert_eq!(drops.load(Ordering::Relaxed), 3);
}

#[test]
fn realloc_moves_between_thread_caches_and_the_large_engine() {
    let pool = SyncPool::new();
    let mut h = pool.alloc(1, 100);
    fill(&mut h, 9);
    pool.realloc(&mut h, 20_000);
    check(&h[..100], 9);
    assert_eq!(pool.stats().large_blocks, 1);
    let mut h = std::thread::scope(|s| {
        s.spawn(|| {
            pool.realloc(&mut h, 50);
            h
        })
        .join()
        .unwrap()
    });
    check(&h, 9);
    assert_eq!(pool.stats().large_blocks, 0);
    pool.realloc(&mut h, 0);
    pool.free(h);
    assert_eq!(pool.size(), 0);
    assert_eq!(pool.stats().live_allocations, 0);
}

/// `SyncPool::with_capacity`: the first thread to allocate gets a cache
/// whose chunk already holds the batch (no chunk growth), counted in the
/// pool's reserved bytes from the start.
#[test]
fn with_capacity_serves_a_batch_of_that_size_without_growth() {
    let pool = SyncPool::with_capacity(256 * 1024);
    let reserved = pool.stats().reserved_bytes;
    assert!(reserved >= 256 * 1024);
    assert_eq!((pool.stats().chunks, pool.caches()), (1, 1));
    std::thread::scope(|s| {
        s.spawn(|| {
            let blocks: Vec<_> = (0..common::scaled(1000, 50))
                .map(|_| pool.alloc(1, 200))
                .collect();
            assert_eq!(pool.caches(), 1, "the thread took the waiting cache");
            for block in blocks {
                pool.free(block);
            }
        });
    });
    assert_eq!(pool.stats().reserved_bytes, reserved);
    assert_eq!(pool.stats().chunks, 1);
}
