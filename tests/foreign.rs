//! Handles used with a pool that did not make them.

use arenapool::{AllocError, Pool};

#[test]
fn owns_tells_pools_apart() {
    let (a, b) = (Pool::new(), Pool::new());
    let ha = a.alloc(1, 8);
    let hb = b.alloc_value(5u32);
    assert!(a.owns(&ha) && !b.owns(&ha));
    assert!(b.owns(&hb) && !a.owns(&hb));
}

#[test]
#[should_panic(expected = "handle used with a pool that did not allocate it")]
fn free_of_a_foreign_handle_panics() {
    let (a, b) = (Pool::new(), Pool::new());
    let h = a.alloc(1, 8);
    b.free(h);
}

#[test]
#[should_panic(expected = "handle used with a pool that did not allocate it")]
fn realloc_of_a_foreign_handle_panics() {
    let (a, b) = (Pool::new(), Pool::new());
    let mut h = a.alloc(1, 8);
    b.realloc(&mut h, 16);
}

#[test]
fn try_realloc_of_a_foreign_handle_errs_and_changes_nothing() {
    let (a, b) = (Pool::new(), Pool::new());
    let mut h = a.alloc(1, 8);
    h.copy_from_slice(b"arenapol");
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(b.try_realloc(&mut h, 4096), Err(AllocError::ForeignHandle));
    assert_eq!(&*h, b"arenapol");
    assert_eq!((a.stats(), b.stats()), (sa, sb));
    // The owner still takes it.
    a.realloc(&mut h, 16);
    a.free(h);
    assert_eq!(a.size(), 0);
}

#[test]
fn a_failed_foreign_free_leaves_both_pools_intact() {
    let (a, b) = (Pool::new(), Pool::new());
    let h = a.alloc_value(String::from("kept"));
    let keep = a.alloc(1, 16);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.free(h)));
    assert!(result.is_err());
    assert_eq!(b.stats().live_allocations, 0);
    assert_eq!(a.stats().live_allocations, 2);
    assert!(keep.iter().all(|&x| x == 0));
}
