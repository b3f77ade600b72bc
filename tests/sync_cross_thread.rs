//! Regressions of the outside review's SyncPool defects (1, 3): a block
//! freed, reallocated or dropped on a thread whose cache never allocated one
//! like it, and a panic hook that uses the pool while a panic is raised.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arenapool::{Handle, SyncPool, Zeroable};

#[derive(Clone, Copy, Zeroable, PartialEq, Debug)]
#[repr(C, align(32))]
struct A32([u8; 32]);

#[derive(Clone, Copy, Zeroable, PartialEq, Debug)]
#[repr(C, align(64))]
struct A64([u8; 64]);

/// A droppable over-aligned value (its block carries a drop header too).
#[repr(align(64))]
struct Dropped64(Arc<AtomicUsize>);
impl Drop for Dropped64 {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `f` on a new thread, which has never used the pool, and reports its panic.
fn on_a_fresh_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join()).expect("the operation panicked on another thread")
}

/// Review defect 1: `free` of a 32- or 64-aligned small block on a thread
/// whose cache never allocated one panicked inside the engine
/// ("free list of rank N used before prepare_rank").
#[test]
fn over_aligned_blocks_freed_on_a_fresh_thread() {
    let pool = SyncPool::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let zeroed = pool.alloc_zeroed::<A64>();
    let slice = pool.alloc_slice_zeroed::<A32>(3);
    let copy = pool.alloc_copy(A64([1; 64]));
    let slice_copy = pool.alloc_slice_copy(&[A32([2; 32]); 2]);
    let value = pool.alloc_value(Dropped64(drops.clone()));
    // Keep a newer block so that none of the above is the newest of the span.
    let _newest = pool.alloc(1, 16);
    on_a_fresh_thread(|| {
        pool.free(zeroed);
        pool.free(slice);
        pool.free(copy);
        pool.free(slice_copy);
        pool.free(value);
    });
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    assert_eq!(pool.size(), 16);
    assert_eq!(pool.stats().live_allocations, 1);
    // The blocks are reusable, and the next over-aligned request is aligned.
    let again = pool.alloc_slice_zeroed::<A64>(1);
    assert_eq!(Handle::as_ptr(&again) as *const u8 as usize % 64, 0);
    assert_eq!(again[0], A64([0; 64]));
}

/// Review defect 1: `try_realloc` that grows such a slice past the small
/// range on another thread panicked (and leaked the new large block), and a
/// realloc to 0 there reached the same free.
#[test]
fn over_aligned_slices_reallocated_on_a_fresh_thread() {
    let pool = SyncPool::new();
    let mut grown = pool.alloc_slice_copy(&[A64([7; 64]); 2]);
    let mut emptied = pool.alloc_slice_copy(&[A32([9; 32]); 2]);
    let _newest = pool.alloc(1, 16);
    on_a_fresh_thread(|| {
        assert_eq!(pool.try_realloc(&mut grown, 100), Ok(()));
        assert_eq!(pool.try_realloc(&mut emptied, 0), Ok(()));
    });
    assert_eq!(grown[..2], [A64([7; 64]); 2]);
    assert!(grown[2..].iter().all(|a| *a == A64([0; 64])));
    assert_eq!(Handle::as_ptr(&grown) as *const u8 as usize % 64, 0);
    assert_eq!(emptied.len(), 0);
    assert_eq!(pool.size(), 100 * 64 + 16);
    assert_eq!(pool.stats().large_blocks, 1);
    pool.free(grown);
    pool.free(emptied);
    assert_eq!(pool.size(), 16);
}

/// Review defect 1: dropping an allocator-api2 `Vec`/`Box` of such a type on
/// another thread reached the same panic (during unwinding it aborted).
#[cfg(feature = "allocator-api2")]
#[test]
fn over_aligned_collections_dropped_on_a_fresh_thread() {
    let pool = SyncPool::new();
    let boxed = allocator_api2::boxed::Box::new_in(A64([3; 64]), &pool);
    let mut vec = allocator_api2::vec::Vec::new_in(&pool);
    vec.extend([A32([4; 32]); 5]);
    let _newest = pool.alloc(1, 16);
    on_a_fresh_thread(move || {
        assert_eq!(boxed.0[63], 3);
        drop(boxed);
        vec.push(A32([5; 32]));
        drop(vec);
    });
    assert_eq!(pool.size(), 16);
}

/// Review defect 1, the class: a panic hook that allocates from the pool in
/// use. The engine no longer panics while it is borrowed, so the hook never
/// runs inside an engine call; a panic raised by the pool's own checks (a
/// refused request, a foreign handle) is raised outside the engine, and the
/// hook may then use the pool. Run under Miri (Stacked and Tree Borrows),
/// where a second `&mut` to a cache's engine is reported as UB.
#[test]
fn a_panic_hook_may_use_the_pool() {
    static POOL: std::sync::OnceLock<SyncPool> = std::sync::OnceLock::new();
    static HOOK_RAN: AtomicUsize = AtomicUsize::new(0);
    let pool = POOL.get_or_init(|| SyncPool::with_limit(1 << 20));
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {
        if let Some(pool) = POOL.get() {
            let block = pool.alloc(1, 64);
            pool.free(block);
            HOOK_RAN.fetch_add(1, Ordering::Relaxed);
        }
    }));
    // What reached the engine's panic before the fix: an over-aligned free
    // on a thread that never allocated one.
    let block = pool.alloc_zeroed::<A64>();
    let _newest = pool.alloc(1, 16);
    let freed = std::thread::scope(|s| s.spawn(|| pool.free(block)).join());
    // Panics of the pool's own checks, outside any engine borrow.
    let refused = panic::catch_unwind(panic::AssertUnwindSafe(|| pool.alloc(1, 2 << 20)));
    let other = SyncPool::new();
    let foreign = other.alloc(1, 8);
    let caught = panic::catch_unwind(panic::AssertUnwindSafe(|| pool.free(foreign)));
    panic::set_hook(previous);
    assert!(freed.is_ok(), "freeing panicked inside the engine");
    assert!(refused.is_err() && caught.is_err());
    assert_eq!(HOOK_RAN.load(Ordering::Relaxed), 2);
    assert_eq!(pool.size(), 16);
}
