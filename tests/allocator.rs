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

/// A 64-aligned element.
#[derive(Clone, Copy, PartialEq, Debug)]
#[repr(C, align(64))]
struct A64([u8; 64]);

/// Review defect 4: allocator-api2's `Box::into_raw`, `into_vec` and
/// `Vec::into_boxed_slice`, like std's, hand back pointers derived from a
/// reference that covers only the value; the engine then read a large
/// block's header, wrote a free-list link and zeroed a grown tail through
/// them, outside their provenance (Miri, Stacked Borrows; and Tree Borrows
/// when a freed box's block was handed out again). Natively these pass
/// either way: the test is for Miri, which `make test` runs it under.
macro_rules! narrowed_pointers_come_back_whole {
    ($name:ident, $pool:expr) => {
        #[test]
        fn $name() {
            let pool = $pool;
            let keep = Box::new_in(0u64, &pool); // so that no box below is the newest block
                                                 // A 1-byte box, not the newest, freed: the link is 8 bytes.
            let one = Box::new_in(1u8, &pool);
            let _newer = Box::new_in(2u8, &pool);
            let raw = Box::into_raw(one);
            // SAFETY: `raw` came from `Box::into_raw` of a box in `pool`.
            drop(unsafe { Box::from_raw_in(raw, &pool) });
            // Its block is handed out again: grow it through `into_vec`.
            let ten = Box::new_in([10u8; 10], &pool);
            let mut vec = ten.into_vec();
            vec.push(11);
            assert_eq!(vec[..], [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11]);
            let boxed = vec.into_boxed_slice();
            assert_eq!(boxed.len(), 11);
            drop(boxed);
            // A large block: its header sits before the data.
            let large = Box::new_in([5u8; 8192], &pool);
            let raw = Box::into_raw(large);
            // SAFETY: as above.
            let large = unsafe { Box::from_raw_in(raw, &pool) };
            assert_eq!(large[8191], 5);
            let mut vec = large.into_vec();
            vec.push(6);
            drop(vec);
            // Over-aligned blocks, small and large.
            let a = Box::new_in(A64([1; 64]), &pool);
            let _newer = Box::new_in(A64([2; 64]), &pool);
            let mut vec = Box::new_in([A64([3; 64]); 2], &pool).into_vec();
            vec.push(A64([4; 64]));
            vec.extend([A64([5; 64]); 100]);
            assert_eq!(vec.as_ptr() as usize % 64, 0);
            let boxed = vec.into_boxed_slice();
            assert_eq!(boxed[102], A64([5; 64]));
            drop(boxed);
            drop(a);
            drop(keep);
        }
    };
}

narrowed_pointers_come_back_whole!(narrowed_pointers_come_back_whole_in_a_pool, Pool::new());
narrowed_pointers_come_back_whole!(
    narrowed_pointers_come_back_whole_in_a_sync_pool,
    SyncPool::new()
);

/// The same collections through allocator-api2 0.3 and 0.4 (what `cargo
/// add allocator-api2` gives), each a trait of its own.
macro_rules! version_test {
    ($name:ident, $feature:literal, $api:ident) => {
        #[test]
        #[cfg(feature = $feature)]
        fn $name() {
            let pool = Pool::new();
            let mut v = $api::vec::Vec::new_in(&pool);
            v.extend(0..1000u32);
            let b = $api::boxed::Box::new_in([1u8; 64], &pool);
            assert_eq!((v[999], b[63]), (999, 1));
            assert_eq!(pool.size(), 64 + v.capacity() * 4);
            drop((v, b));
            assert_eq!(pool.size(), 0);
            let sync = SyncPool::new();
            let mut w = $api::vec::Vec::new_in(&sync);
            w.push(String::from("token"));
            assert_eq!(w[0], "token");
        }
    };
}

version_test!(
    allocator_api2_0_3_collections,
    "allocator-api2-03",
    allocator_api2_03
);
version_test!(
    allocator_api2_0_4_collections,
    "allocator-api2-04",
    allocator_api2_04
);
