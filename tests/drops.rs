//! Destructors: each value dropped exactly once — at free, reset or pool
//! drop — and never when only its handle drops.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arenapool::Pool;

/// Counts its drops in a shared counter.
struct Counted {
    drops: Arc<AtomicUsize>,
    payload: [u64; 3],
}

impl Drop for Counted {
    fn drop(&mut self) {
        assert_eq!(self.payload, [1, 2, 3], "dropped a corrupted value");
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(drops: &Arc<AtomicUsize>) -> Counted {
    Counted {
        drops: drops.clone(),
        payload: [1, 2, 3],
    }
}

fn count(drops: &Arc<AtomicUsize>) -> usize {
    drops.load(Ordering::SeqCst)
}

#[test]
fn handle_drop_runs_no_destructor() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new();
    {
        let _h = pool.alloc_value(counted(&drops));
    }
    assert_eq!(count(&drops), 0);
    assert_eq!(pool.stats().live_allocations, 1);
    drop(pool);
    assert_eq!(count(&drops), 1);
}

#[test]
fn free_runs_the_destructor_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new();
    let h = pool.alloc_value(counted(&drops));
    pool.free(h);
    assert_eq!(count(&drops), 1);
    assert_eq!(pool.size(), 0);
    drop(pool);
    assert_eq!(count(&drops), 1, "not dropped again with the pool");
}

#[test]
fn reset_and_drop_run_what_is_left_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut pool = Pool::new();
    let n: usize = if cfg!(miri) { 20 } else { 1000 };
    for i in 0..n {
        let h = pool.alloc_value(counted(&drops));
        if i % 3 == 0 {
            pool.free(h);
        }
    }
    let freed = n.div_ceil(3);
    assert_eq!(count(&drops), freed);
    pool.reset();
    assert_eq!(count(&drops), n);
    for _ in 0..10 {
        let _ = pool.alloc_value(counted(&drops));
    }
    drop(pool);
    assert_eq!(count(&drops), n + 10);
}

#[test]
fn values_of_many_layouts_are_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    #[repr(align(64))]
    struct Wide(#[allow(dead_code)] Counted);
    #[allow(dead_code)]
    struct Big(Counted, [u8; 10_000]);
    struct Zst;
    static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);
    impl Drop for Zst {
        fn drop(&mut self) {
            ZST_DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let pool = Pool::new();
    let w = pool.alloc_value(Wide(counted(&drops)));
    assert_eq!(arenapool::Handle::as_ptr(&w) as usize % 64, 0);
    let _ = pool.alloc_value(Big(counted(&drops), [7; 10_000]));
    let _ = pool.alloc_value(Zst);
    let _ = pool.alloc_value(vec![counted(&drops), counted(&drops)]);
    let _ = pool.alloc_value(String::from("no counter, but must not leak"));
    assert_eq!(pool.stats().large_blocks, 1);
    pool.free(w);
    assert_eq!(count(&drops), 1);
    drop(pool);
    assert_eq!(count(&drops), 4);
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 1);
}

#[test]
fn into_mut_values_drop_with_the_pool() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new();
    let value: &mut Counted = pool.alloc_value(counted(&drops)).into_mut();
    value.payload[0] = 1;
    drop(pool);
    assert_eq!(count(&drops), 1);
}

#[test]
fn copy_types_never_need_a_drop_header() {
    // One span for everything: no span tail is filed for reuse.
    let pool = Pool::with_capacity(4096);
    // Each freed value is followed by a pinned block, so that it goes to a
    // free list (whose byte count shows its block size) rather than back to
    // the span.
    let plain = pool.alloc_value(7u64);
    let _pin = pool.alloc(1, 64);
    pool.free(plain);
    // An 8-byte value took one 16-byte block: no header.
    assert_eq!(pool.stats().free_list_bytes, 16);
    let boxed = pool.alloc_value(Box::new(7u64));
    let _pin = pool.alloc(1, 64);
    pool.free(boxed);
    // A value with drop glue carries a 24-byte header: 32 bytes.
    assert_eq!(pool.stats().free_list_bytes, 16 + 32);
}

/// Panics in its destructor when told to.
struct Bomb {
    armed: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.armed {
            panic!("bomb");
        }
    }
}

#[test]
fn a_panicking_destructor_in_reset_still_drops_the_rest_and_resets() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut pool = Pool::new();
    for i in 0..10 {
        let _ = pool.alloc_value(Bomb {
            armed: i == 4,
            drops: drops.clone(),
        });
    }
    let _ = pool.alloc(1, 100_000);
    let result = catch_unwind(AssertUnwindSafe(|| pool.reset()));
    assert!(result.is_err());
    assert_eq!(count(&drops), 10);
    let s = pool.stats();
    assert_eq!(
        (s.live_allocations, s.live_bytes, s.large_blocks),
        (0, 0, 0)
    );
    // Still usable.
    let block = pool.alloc(1, 64);
    assert!(block.iter().all(|&b| b == 0));
}

#[test]
fn a_panicking_destructor_in_pool_drop_still_drops_the_rest() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new();
    for i in 0..10 {
        let _ = pool.alloc_value(Bomb {
            armed: i == 7,
            drops: drops.clone(),
        });
    }
    assert!(catch_unwind(AssertUnwindSafe(move || drop(pool))).is_err());
    assert_eq!(count(&drops), 10);
}

#[test]
fn a_panicking_destructor_in_free_still_recycles_the_block() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = Pool::new();
    let h = pool.alloc_value(Bomb {
        armed: true,
        drops: drops.clone(),
    });
    assert!(catch_unwind(AssertUnwindSafe(|| pool.free(h))).is_err());
    assert_eq!(count(&drops), 1);
    assert_eq!(pool.stats().live_allocations, 0);
    drop(pool);
    assert_eq!(count(&drops), 1, "not dropped twice");
}

#[test]
fn a_destructor_may_use_another_pool() {
    // A 'static + Send value cannot reach its own pool, but may own another.
    struct Owner(Pool);
    impl Drop for Owner {
        fn drop(&mut self) {
            let scratch = self.0.alloc(1, 32);
            self.0.free(scratch);
        }
    }
    let pool = Pool::new();
    let h = pool.alloc_value(Owner(Pool::new()));
    pool.free(h);
    let _ = pool.alloc_value(Owner(Pool::new()));
}
