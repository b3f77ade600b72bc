//! Threads: a `Pool` moves between threads; its handles go to scoped threads.

use arenapool::Pool;

#[test]
fn handles_work_in_scoped_threads() {
    let pool = Pool::new();
    let mut left = pool.alloc_slice_zeroed::<u64>(1000);
    let mut right = pool.alloc_slice_zeroed::<u64>(1000);
    std::thread::scope(|s| {
        s.spawn(|| left.iter_mut().enumerate().for_each(|(i, x)| *x = i as u64));
        s.spawn(|| right.iter_mut().for_each(|x| *x = 7));
    });
    assert_eq!(left[999], 999);
    assert!(right.iter().all(|&x| x == 7));
    pool.free(left);
    pool.free(right);
    assert_eq!(pool.size(), 0);
}

#[test]
fn a_handle_can_be_moved_to_a_scoped_thread_and_back() {
    let pool = Pool::new();
    let mut h = pool.alloc_str("moved");
    h = std::thread::scope(|s| {
        s.spawn(move || {
            assert_eq!(&*h, "moved");
            h
        })
        .join()
        .unwrap()
    });
    pool.free(h);
}

#[test]
fn a_pool_and_its_values_move_to_another_thread() {
    let pool = Pool::new();
    let _ = pool.alloc_value(vec![String::from("dropped on the other thread")]);
    let live = std::thread::spawn(move || {
        let n = pool.stats().live_allocations;
        drop(pool);
        n
    })
    .join()
    .unwrap();
    assert_eq!(live, 1);
}
