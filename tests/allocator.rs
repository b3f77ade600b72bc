//! Collections in a pool through allocator-api2.
#![cfg(feature = "allocator-api2")]

use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use arenapool::{Pool, SyncPool};

#[test]
fn vec_grows_in_the_pool_and_gives_everything_back() {
    let pool = Pool::new();
    let before = pool.size();
    let mut v = Vec::new_in(&pool);
    for i in 0..if cfg!(miri) { 300u64 } else { 100_000 } {
        v.push(i);
    }
    assert!(pool.size() >= v.len() * 8);
    assert_eq!(v[299], 299);
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(pool.size(), 80);
    drop(v);
    assert_eq!(pool.size(), before);
    assert_eq!(pool.stats().live_allocations, 0);
}

#[test]
fn zeroed_vecs_and_boxes() {
    let pool = Pool::new();
    let b = Box::new_in([7u8; 40], &pool);
    assert_eq!(b[39], 7);
    assert_eq!(pool.size(), 40);
    drop(b);
    let mut v: Vec<u32, &Pool> = Vec::with_capacity_in(4, &pool);
    v.resize(1000, 0);
    assert!(v.iter().all(|&x| x == 0));
}

#[test]
fn hashbrown_maps_live_in_a_pool() {
    let pool = Pool::new();
    let mut map = hashbrown::HashMap::new_in(&pool);
    for i in 0..if cfg!(miri) { 50 } else { 10_000 } {
        map.insert(i, i * 2);
    }
    assert_eq!(map[&7], 14);
    assert!(pool.size() > 0);
    drop(map);
    assert_eq!(pool.size(), 0);
}

#[test]
fn sync_pool_collections_across_threads() {
    let pool = SyncPool::new();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let pool = &pool;
            s.spawn(move || {
                let mut map = hashbrown::HashMap::new_in(pool);
                let mut v = Vec::new_in(pool);
                for i in 0..if cfg!(miri) { 20 } else { 5_000 } {
                    map.insert(i, t);
                    v.push(i);
                }
                assert_eq!(map.len(), v.len());
            });
        }
    });
    assert_eq!(pool.size(), 0);
    assert_eq!(pool.stats().live_allocations, 0);
}

#[test]
fn over_aligned_growth_through_the_allocator() {
    #[derive(Clone, Copy)]
    #[repr(align(64))]
    struct Line(#[allow(dead_code)] [u8; 64]);
    let pool = Pool::new();
    let mut v = Vec::new_in(&pool);
    for _ in 0..100 {
        v.push(Line([1; 64]));
        assert_eq!(v.as_ptr() as usize % 64, 0);
    }
    drop(v);
    assert_eq!(pool.size(), 0);
}
