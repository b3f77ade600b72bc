//! realloc: grow and shrink, in place and by copy, across the large range.

use arenapool::{AllocError, Handle, Pool};

mod common;
use common::scaled;

fn addr<T: ?Sized>(h: &Handle<'_, T>) -> usize {
    Handle::as_ptr(h).cast::<u8>() as usize
}

fn pattern(block: &mut [u8], seed: u8) {
    for (i, b) in block.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8) | 1;
    }
}

fn has_pattern(block: &[u8], seed: u8) -> bool {
    block
        .iter()
        .enumerate()
        .all(|(i, &b)| b == seed.wrapping_add(i as u8) | 1)
}

#[test]
fn growth_keeps_contents_and_zeroes_the_tail() {
    let pool = Pool::new();
    let big = scaled(100_000, 12_000);
    for (from, to) in [
        (1, 2),
        (5, 16),
        (16, 17),
        (30, 500),
        (100, 4096),
        (4000, 4097),
        (5000, big),
        (0, 64),
        (0, 10_000),
    ] {
        let mut block = pool.alloc(1, from);
        pattern(&mut block, 7);
        pool.realloc(&mut block, to);
        assert_eq!(block.len(), to);
        assert!(has_pattern(&block[..from], 7), "{from} -> {to}");
        assert!(block[from..].iter().all(|&b| b == 0), "{from} -> {to}");
        assert_eq!(addr(&block) % 16, 0);
        pool.free(block);
        assert_eq!(pool.size(), 0);
    }
}

#[test]
fn shrinking_keeps_the_prefix() {
    let pool = Pool::new();
    let big = scaled(100_000, 12_000);
    for (from, to) in [
        (2, 1),
        (17, 16),
        (500, 30),
        (4096, 100),
        (big, 5000),
        (5000, 4000),
        (64, 0),
        (10_000, 0),
    ] {
        let mut block = pool.alloc(1, from);
        pattern(&mut block, 3);
        pool.realloc(&mut block, to);
        assert_eq!(block.len(), to);
        assert!(has_pattern(&block, 3), "{from} -> {to}");
        assert_eq!(pool.size(), to);
        // Growing back zeroes what the shrink cut off.
        pool.realloc(&mut block, from);
        assert!(
            block[to..].iter().all(|&b| b == 0),
            "{from} -> {to} -> {from}"
        );
        pool.free(block);
    }
}

#[test]
fn newest_block_grows_in_place() {
    let pool = Pool::with_capacity(8192);
    let _older = pool.alloc(1, 32);
    let mut tokens = pool.alloc_slice_zeroed::<u64>(4);
    tokens[3] = 42;
    let at = addr(&tokens);
    // Doubling, as spaCy's Doc grows its token array, while it is the newest block.
    for len in [8, 16, 32, 64, 128, 256, 512] {
        pool.realloc(&mut tokens, len);
        assert_eq!(addr(&tokens), at, "moved at {len}");
        assert_eq!(tokens[3], 42);
    }
    // Shrinking the newest block gives the bytes back to the span.
    let reserved = pool.stats().reserved_bytes;
    pool.realloc(&mut tokens, 4);
    let next = pool.alloc(1, 16);
    assert_eq!(addr(&next), at + 32);
    assert_eq!(pool.stats().reserved_bytes, reserved);
}

#[test]
fn growth_within_the_size_class_stays_in_place() {
    let pool = Pool::new();
    let mut block = pool.alloc(1, 17); // class of 32 bytes
    let _newer = pool.alloc(1, 16);
    let at = addr(&block);
    pool.realloc(&mut block, 32);
    assert_eq!(addr(&block), at);
    pool.realloc(&mut block, 33); // next class: moves
    assert_ne!(addr(&block), at);
    assert_eq!(pool.size(), 33 + 16);
}

#[test]
fn moved_blocks_are_recycled() {
    let pool = Pool::new();
    let mut a = pool.alloc(1, 64);
    let _newer = pool.alloc(1, 16);
    let old = addr(&a);
    pool.realloc(&mut a, 128);
    assert_ne!(addr(&a), old);
    let reuse = pool.alloc(1, 64);
    assert_eq!(addr(&reuse), old);
}

#[test]
fn shrinking_an_older_block_moves_it_and_recycles_it_whole() {
    let pool = Pool::new();
    let mut a = pool.alloc(1, 256);
    pattern(&mut a, 4);
    let _newer = pool.alloc(1, 16);
    let at = addr(&a);
    pool.realloc(&mut a, 64);
    assert!(has_pattern(&a, 4));
    assert_ne!(addr(&a), at);
    // The whole 256-byte block serves the next 256-byte request.
    let again = pool.alloc(1, 256);
    assert_eq!(addr(&again), at);
}

#[test]
fn shrink_and_regrow_churn_does_not_grow_reserved() {
    // Shrinking a large-class block and freeing it must give the class its
    // block back, or every round reserves more.
    let pool = Pool::new();
    let mut reserved = 0;
    for round in 0..scaled(2_000, 50) {
        let mut a = pool.alloc(1, 4096);
        let b = pool.alloc(1, 4096);
        pool.realloc(&mut a, 16);
        pool.free(a);
        pool.free(b);
        if round == 10 {
            reserved = pool.stats().reserved_bytes;
        }
    }
    assert_eq!(pool.size(), 0);
    assert_eq!(pool.stats().reserved_bytes, reserved);
}

#[test]
fn tiny_slices_grow_in_place_and_by_move() {
    // Regressions: a realloc once reached the block through a reference to
    // the old, shorter slice (Miri rejects writing past it).
    let pool = Pool::new();
    let mut one = pool.alloc(1, 1);
    pool.realloc(&mut one, 4);
    assert_eq!(*one, [0; 4]);
    let _newer = pool.alloc(1, 16);
    pool.realloc(&mut one, 100);
    assert!(one.iter().all(|&b| b == 0));
}

#[test]
fn large_blocks_grow_and_shrink_through_the_system() {
    let pool = Pool::new();
    let mut big = pool.alloc(1, 8192);
    pattern(&mut big, 9);
    let mut len = 8192;
    while len < scaled(1 << 22, 1 << 15) {
        len *= 2;
        pool.realloc(&mut big, len);
        assert!(has_pattern(&big[..8192], 9));
        assert!(big[8192..].iter().all(|&b| b == 0));
        assert_eq!(pool.stats().large_blocks, 1);
    }
    pool.realloc(&mut big, 10_000);
    assert!(has_pattern(&big[..8192], 9));
    assert_eq!(pool.size(), 10_000);
    pool.realloc(&mut big, 100); // back into the small range
    assert!(has_pattern(&big, 9));
    assert_eq!(pool.stats().large_blocks, 0);
}

#[test]
fn typed_slices_realloc_by_element() {
    let pool = Pool::new();
    let mut ids = pool.alloc_slice_copy(&[1u32, 2, 3]);
    pool.realloc(&mut ids, 6);
    assert_eq!(*ids, [1, 2, 3, 0, 0, 0]);
    assert_eq!(pool.size(), 24);
    pool.realloc(&mut ids, 2);
    assert_eq!(*ids, [1, 2]);
    let mut unit = pool.alloc_slice_zeroed::<()>(3);
    pool.realloc(&mut unit, usize::MAX);
    assert_eq!(unit.len(), usize::MAX);
    assert_eq!(pool.size(), 8);
}

#[test]
fn over_aligned_slices_keep_their_alignment() {
    #[derive(Clone, Copy, arenapool::Zeroable)]
    #[repr(C, align(64))]
    struct Line([u8; 64]);
    let pool = Pool::new();
    let mut lines = pool.alloc_slice_zeroed::<Line>(1);
    for len in [2, 3, 10, 70, 3, 1] {
        pool.realloc(&mut lines, len);
        assert_eq!(addr(&lines) % 64, 0);
    }
    pool.free(lines);
    assert_eq!(pool.size(), 0);
}

#[test]
fn failed_realloc_leaves_the_handle_intact() {
    let pool = Pool::with_limit(300 * 1024);
    let mut block = pool.alloc(1, 1000);
    pattern(&mut block, 5);
    let before = (addr(&block), pool.stats());
    let err = pool.try_realloc(&mut block, 1 << 20).unwrap_err();
    assert!(matches!(err, AllocError::LimitExceeded { .. }));
    assert_eq!((addr(&block), pool.stats()), before);
    assert_eq!(block.len(), 1000);
    assert!(has_pattern(&block, 5));
    // Large to larger, refused by the limit.
    let mut big = pool.alloc(1, 20_000);
    pattern(&mut big, 1);
    assert!(pool.try_realloc(&mut big, 400 * 1024).is_err());
    assert_eq!(big.len(), 20_000);
    assert!(has_pattern(&big, 1));
}

#[test]
fn a_growing_array_keeps_growing_in_place_while_other_blocks_are_allocated() {
    // spaCy's token array: doubled with realloc, while every token's word is
    // allocated between the doublings. After its first move it has room set
    // aside behind it, and grows into it.
    let pool = Pool::new();
    let mut array = pool.alloc(1, 192);
    array.fill(5);
    let mut words = Vec::new();
    let mut home = None;
    let mut len = 192;
    while len < 3072 {
        for _ in 0..8 {
            words.push(pool.alloc_str("word"));
        }
        let before = len;
        len *= 2;
        pool.realloc(&mut array, len);
        assert!(array[..192].iter().all(|&b| b == 5));
        assert!(array[before..].iter().all(|&b| b == 0));
        match home {
            None => home = Some(array.as_ptr()), // the first growth moves it
            Some(home) => assert_eq!(array.as_ptr(), home, "grown in place to {len}"),
        }
        assert_eq!(pool.size(), len + 4 * words.len());
    }
    // Leaving the small range, it gives the room back for reuse.
    let before = pool.stats().free_list_bytes;
    pool.realloc(&mut array, 6144);
    assert!(pool.stats().free_list_bytes >= before + 3072);
    assert_eq!(pool.size(), 6144 + 4 * words.len());
    assert!(array[..192].iter().all(|&b| b == 5));
}

#[test]
fn the_growth_room_is_not_live_and_goes_with_reset() {
    let mut pool = Pool::new();
    let mut array = pool.alloc(1, 100);
    let _pin = pool.alloc(1, 16);
    pool.realloc(&mut array, 200); // moves, with room behind it
    let stats = pool.stats();
    assert_eq!(stats.live_bytes, 216);
    assert!(stats.reserved_bytes >= stats.live_bytes + stats.free_list_bytes);
    drop(array);
    pool.reset();
    assert_eq!(pool.size(), 0);
    let mut array = pool.alloc(1, 100);
    let _pin = pool.alloc(1, 16);
    pool.realloc(&mut array, 200);
    pool.realloc(&mut array, 400);
    assert_eq!(pool.size(), 416);
}

#[test]
fn an_array_growing_into_the_large_range_gets_room_to_double_once() {
    let pool = Pool::new();
    let mut array = pool.alloc(1, 3072);
    array.fill(9);
    let _between = pool.alloc(1, 16);
    pool.realloc(&mut array, 6144); // leaves the small range: moves
    let home = array.as_ptr();
    array[3072..].fill(8);
    let _after = pool.alloc(1, 5000); // a large block made after it
    pool.realloc(&mut array, 12_288);
    assert_eq!(array.as_ptr(), home, "grown into its capacity in place");
    assert!(array[..3072].iter().all(|&b| b == 9));
    assert!(array[3072..6144].iter().all(|&b| b == 8));
    assert!(array[6144..].iter().all(|&b| b == 0));
    assert_eq!(pool.size(), 12_288 + 16 + 5000);
    pool.free(array);
    assert_eq!(pool.size(), 16 + 5000);
}

#[test]
fn the_room_to_double_never_costs_a_request_that_fits_the_limit() {
    // 20 KB of limit: the array's 12 KB fits, its 24 KB capacity would not.
    let pool = Pool::with_limit(20 * 1024);
    let mut array = pool.alloc(1, 4000);
    let _between = pool.alloc(1, 16);
    pool.realloc(&mut array, 12_000);
    assert_eq!(pool.size(), 12_016);
    assert!(pool.stats().reserved_bytes <= 20 * 1024);
}

#[test]
fn growing_into_the_room_never_leaves_it_eight_aligned() {
    // Found by the property test: a 26-byte u16 array (a 32-byte block with
    // room behind it) grown to 34 bytes would have taken 40 bytes of the
    // room (an 8-byte class step), leaving the room 8-aligned; the 16-byte
    // block later carved from it broke the byte API's alignment.
    let pool = Pool::new();
    let mut array = pool.alloc_slice_zeroed::<u16>(0);
    pool.realloc(&mut array, 13);
    pool.realloc(&mut array, 17);
    pool.realloc(&mut array, 0);
    for n in [193, 16, 8, 40] {
        let block = pool.alloc(1, n);
        assert_eq!(block.as_ptr() as usize % 16, 0, "{n} B");
    }
}
