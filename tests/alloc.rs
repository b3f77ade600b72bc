//! Allocation: zeroing, alignment, sizes, limits, zero-size requests.

use arenapool::{AllocError, Handle, Pool};

mod common;
use common::scaled;

fn addr<T: ?Sized>(h: &Handle<'_, T>) -> usize {
    Handle::as_ptr(h).cast::<u8>() as usize
}

#[test]
fn byte_blocks_are_zeroed_16_aligned_and_sized() {
    let pool = Pool::new();
    for (number, elem_size) in [
        (1, 1),
        (1, 16),
        (3, 7),
        (10, 8),
        (100, 41),
        (1, 4096),
        (2, 4096),
        (1000, 100),
    ] {
        let block = pool.alloc(number, elem_size);
        assert_eq!(block.len(), number * elem_size);
        assert_eq!(addr(&block) % 16, 0, "{number}x{elem_size}");
        assert!(block.iter().all(|&b| b == 0));
    }
}

#[test]
fn recycled_blocks_are_zeroed_again() {
    let pool = Pool::new();
    for size in [1, 8, 16, 17, 100, 512, 700, 4096, 5000, 70_000] {
        let mut block = pool.alloc(1, size);
        block.fill(0xAB);
        let old = addr(&block);
        pool.free(block);
        let again = pool.alloc(1, size);
        if size <= 4096 {
            assert_eq!(addr(&again), old, "small block of {size} B is reused");
        }
        assert!(
            again.iter().all(|&b| b == 0),
            "recycled {size} B block not zeroed"
        );
        pool.free(again);
    }
    // Typed zeroed calls too.
    let mut words = pool.alloc_slice_zeroed::<u64>(8);
    words.fill(u64::MAX);
    pool.free(words);
    assert_eq!(*pool.alloc_slice_zeroed::<u64>(8), [0; 8]);
}

#[test]
fn smaller_request_in_a_recycled_block_sees_zeroes_when_grown() {
    // A block freed with stale bytes, reused by a shorter request, then
    // grown in place within its class: the grown part is zeroed.
    let pool = Pool::new();
    let mut block = pool.alloc(1, 32);
    block.fill(0xFF);
    pool.free(block);
    let mut small = pool.alloc(1, 20);
    assert!(small.iter().all(|&b| b == 0));
    pool.realloc(&mut small, 32);
    assert!(small.iter().all(|&b| b == 0));
}

macro_rules! aligned {
    ($($name:ident $align:literal),*) => {$(
        #[derive(Clone, Copy, arenapool::Zeroable)]
        #[repr(C, align($align))]
        struct $name([u8; $align]);
    )*};
}
aligned!(A1 1, A2 2, A4 4, A8 8, A16 16, A32 32, A64 64, A128 128, A4096 4096);

fn check_alignment<T: Copy + bytemuck::Zeroable>(pool: &Pool, n: usize) {
    let align = core::mem::align_of::<T>();
    let mut kept = Vec::new();
    for i in 0..n {
        let one = pool.alloc_zeroed::<T>();
        assert_eq!(addr(&one) % align, 0, "alloc_zeroed align {align}");
        let many = pool.alloc_slice_zeroed::<T>(1 + i % 5);
        assert_eq!(addr(&many) % align, 0, "alloc_slice_zeroed align {align}");
        let copy = pool.alloc_copy(*one);
        assert_eq!(addr(&copy) % align, 0, "alloc_copy align {align}");
        // Free as we go so that recycled blocks are checked as well.
        pool.free(one);
        pool.free(copy);
        if i % 2 == 0 {
            kept.push(many);
        } else {
            kept.push(pool.alloc_slice_copy(&many));
            pool.free(many);
        }
    }
    for h in kept {
        assert_eq!(addr(&h) % align, 0);
        pool.free(h);
    }
}

#[test]
fn typed_blocks_are_aligned_for_their_type() {
    let pool = Pool::new();
    let n = scaled(200, 10);
    check_alignment::<A1>(&pool, n);
    assert_eq!(pool.size(), 0, "after A1");
    check_alignment::<A2>(&pool, n);
    assert_eq!(pool.size(), 0, "after A2");
    check_alignment::<A4>(&pool, n);
    assert_eq!(pool.size(), 0, "after A4");
    check_alignment::<A8>(&pool, n);
    assert_eq!(pool.size(), 0, "after A8");
    check_alignment::<A16>(&pool, n);
    assert_eq!(pool.size(), 0, "after A16");
    check_alignment::<A32>(&pool, n);
    assert_eq!(pool.size(), 0, "after A32");
    check_alignment::<A64>(&pool, n);
    assert_eq!(pool.size(), 0, "after A64");
    check_alignment::<A128>(&pool, scaled(20, 4));
    assert_eq!(pool.size(), 0, "after A128");
    check_alignment::<A4096>(&pool, scaled(8, 2));
    assert_eq!(pool.size(), 0, "after A4096");
    assert_eq!(pool.size(), 0);
}

#[test]
fn typed_values_round_trip() {
    let pool = Pool::new();
    let a = pool.alloc_copy(0x1234_5678_u32);
    let b = pool.alloc_value(String::from("owned"));
    let c = pool.alloc_slice_copy(&[1.5f64, 2.5]);
    let d = pool.alloc_str("héllo");
    let e = pool.alloc_zeroed::<(u8, u64)>();
    assert_eq!(*a, 0x1234_5678);
    assert_eq!(*b, "owned");
    assert_eq!(*c, [1.5, 2.5]);
    assert_eq!(&*d, "héllo");
    assert_eq!(*e, (0, 0));
    assert_eq!(
        pool.size(),
        4 + core::mem::size_of::<String>() + 16 + 6 + 16
    );
    assert_eq!(format!("{a:?} {d:?}"), "305419896 \"héllo\"");
}

#[test]
fn size_and_stats_follow_live_allocations() {
    let pool = Pool::new();
    let a = pool.alloc(10, 3);
    let b = pool.alloc(1, 5000);
    let c = pool.alloc_value(vec![1u8; 3]);
    let s = pool.stats();
    assert_eq!(s.live_allocations, 3);
    assert_eq!(s.live_bytes, 30 + 5000 + core::mem::size_of::<Vec<u8>>());
    assert_eq!(pool.size(), s.live_bytes);
    assert_eq!(s.large_blocks, 1);
    assert_eq!(s.chunks, 1);
    assert!(s.reserved_bytes >= s.live_bytes);
    pool.free(b);
    pool.free(a);
    pool.free(c);
    let s = pool.stats();
    assert_eq!(
        (s.live_allocations, s.live_bytes, s.large_blocks),
        (0, 0, 0)
    );
    assert_eq!(
        s.peak_live_bytes,
        30 + 5000 + core::mem::size_of::<Vec<u8>>()
    );
    // `a` (a 32-byte class block) waits in its free list; `c`, the newest
    // block of the span when freed, went back to the span instead.
    assert_eq!(s.free_list_bytes, 32);
}

#[test]
fn overflow_is_an_error_never_a_short_block() {
    let pool = Pool::new();
    assert_eq!(
        pool.try_alloc(1 << 62, 8).unwrap_err(),
        AllocError::SizeOverflow {
            number: 1 << 62,
            elem_size: 8
        }
    );
    assert_eq!(
        pool.try_alloc(usize::MAX, 2).unwrap_err(),
        AllocError::SizeOverflow {
            number: usize::MAX,
            elem_size: 2
        }
    );
    assert!(matches!(
        pool.try_alloc(1, usize::MAX),
        Err(AllocError::LayoutTooLarge { .. })
    ));
    assert!(matches!(
        pool.try_alloc(isize::MAX as usize, 1),
        Err(AllocError::LayoutTooLarge { .. })
    ));
    assert!(matches!(
        pool.try_alloc_slice_zeroed::<u64>(usize::MAX / 4),
        Err(AllocError::SizeOverflow { .. })
    ));
    assert!(matches!(
        pool.try_alloc_slice_zeroed::<u64>(usize::MAX / 16),
        Err(AllocError::LayoutTooLarge { .. })
    ));
    let mut block = pool.alloc(1, 8);
    assert!(matches!(
        pool.try_realloc(&mut block, usize::MAX),
        Err(AllocError::LayoutTooLarge { .. })
    ));
    let mut words = pool.alloc_slice_zeroed::<u32>(2);
    assert!(matches!(
        pool.try_realloc(&mut words, usize::MAX / 2),
        Err(AllocError::SizeOverflow { .. })
    ));
    assert_eq!((block.len(), words.len()), (8, 2));
    assert_eq!(pool.stats().live_allocations, 2);
    assert_eq!(pool.size(), 16);
}

#[test]
#[should_panic(
    expected = "allocation size overflows usize: 4611686018427387904 elements of 8 bytes"
)]
fn infallible_overflow_panics_with_the_message() {
    let _ = Pool::new().alloc(1 << 62, 8);
}

#[test]
fn zero_size_requests_are_valid_and_reserve_nothing() {
    let pool = Pool::new();
    let a = pool.alloc(0, 8);
    let b = pool.alloc(8, 0);
    let c = pool.alloc_slice_zeroed::<u64>(0);
    let d = pool.alloc_value(());
    let e = pool.alloc_str("");
    assert_eq!((a.len(), b.len(), c.len(), e.len()), (0, 0, 0, 0));
    assert_eq!(addr(&a) % 16, 0);
    assert_eq!(*d, ());
    let s = pool.stats();
    assert_eq!(
        (s.live_allocations, s.live_bytes, s.reserved_bytes),
        (5, 0, 0)
    );
    pool.free(a);
    pool.free(b);
    pool.free(c);
    pool.free(d);
    pool.free(e);
    assert_eq!(pool.stats().live_allocations, 0);
    assert_eq!(pool.stats().reserved_bytes, 0);
}

#[test]
fn limit_exceeded_leaves_the_pool_serving_and_data_intact() {
    let limit = 256 * 1024;
    let pool = Pool::with_limit(limit);
    let mut kept = Vec::new();
    for i in 0..scaled(100, 10) {
        let mut h = pool.alloc(1, 100);
        h.fill(i as u8);
        kept.push(h);
    }
    let before = pool.stats();
    let err = pool.try_alloc(1, 1 << 20).unwrap_err();
    assert_eq!(
        err,
        AllocError::LimitExceeded {
            requested: 1 << 20,
            limit,
            reserved: before.reserved_bytes
        }
    );
    // Small blocks until the chunks hit the limit.
    let mut small = Vec::new();
    let err = loop {
        match pool.try_alloc(1, 1000) {
            Ok(h) => small.push(h),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, AllocError::LimitExceeded { .. }), "{err}");
    assert!(pool.stats().reserved_bytes <= limit);
    // A failed realloc leaves the handle as it was.
    let mut grow = kept.pop().unwrap();
    let before = pool.stats();
    assert!(matches!(
        pool.try_realloc(&mut grow, 1 << 20),
        Err(AllocError::LimitExceeded { .. })
    ));
    assert_eq!(grow.len(), 100);
    assert_eq!(pool.stats(), before);
    // Nothing already allocated changed.
    for (i, h) in kept.iter().enumerate() {
        assert!(h.iter().all(|&b| b == i as u8));
    }
    // Freed memory serves again under the limit.
    pool.free(small.pop().unwrap());
    let again = pool.alloc(1, 1000);
    assert!(again.iter().all(|&b| b == 0));
    assert!(pool.stats().reserved_bytes <= limit);
}

#[test]
#[should_panic(expected = "pool limit of 0 bytes exceeded")]
fn infallible_limit_panics_with_the_message() {
    let _ = Pool::with_limit(0).alloc(1, 1);
}

#[test]
fn a_zero_limit_still_serves_zero_size_requests() {
    let pool = Pool::with_limit(0);
    assert!(pool.try_alloc(0, 1).is_ok());
    assert!(pool.try_alloc_copy(1u8).is_err());
    assert!(pool.try_alloc_value(String::new()).is_err());
    assert_eq!(pool.stats().reserved_bytes, 0);
    assert_eq!(pool.limit(), Some(0));
}

#[test]
fn error_messages_name_the_problem() {
    let cases = [
        (
            AllocError::SizeOverflow {
                number: 2,
                elem_size: 3,
            },
            "overflows",
        ),
        (
            AllocError::LayoutTooLarge { size: 1, align: 2 },
            "isize::MAX",
        ),
        (
            AllocError::LimitExceeded {
                requested: 1,
                limit: 2,
                reserved: 3,
            },
            "limit of 2 bytes",
        ),
        (AllocError::OutOfMemory { size: 1, align: 1 }, "refused"),
        (AllocError::ForeignHandle, "did not allocate"),
    ];
    for (err, needle) in cases {
        let msg = err.to_string();
        assert!(
            msg.starts_with("arenapool: ") && msg.contains(needle),
            "{msg}"
        );
        let _: &dyn std::error::Error = &err;
    }
}

#[test]
fn pool_debug_shows_stats() {
    let pool = Pool::with_limit(1 << 20);
    let _h = pool.alloc(1, 8);
    let text = format!("{pool:?}");
    assert!(
        text.contains("live_allocations: 1") && text.contains("limit: Some(1048576)"),
        "{text}"
    );
}

#[test]
fn with_capacity_serves_without_chunk_growth() {
    let pool = Pool::with_capacity(64 * 1024);
    let reserved = pool.stats().reserved_bytes;
    assert!(reserved >= 64 * 1024);
    assert_eq!(pool.stats().chunks, 1);
    let blocks: Vec<_> = (0..scaled(1000, 100)).map(|_| pool.alloc(1, 64)).collect();
    assert_eq!(pool.stats().reserved_bytes, reserved);
    assert_eq!(pool.stats().chunks, 1);
    assert_eq!(pool.size(), blocks.len() * 64);
}

#[test]
fn raw_with_capacity_respects_the_limit() {
    use arenapool::raw::RawPool;
    assert!(matches!(
        RawPool::with_capacity(10_000, Some(5_000)),
        Err(AllocError::LimitExceeded { .. })
    ));
    let raw = RawPool::with_capacity(4_000, Some(1 << 20)).unwrap();
    assert!(raw.stats().reserved_bytes <= 1 << 20);
}

/// Regression (review defect 2): the engine was `align(64)`, but CPython
/// places a `#[pyclass]`'s contents at 16-byte alignment, so every Python
/// `Pool()` put it at a misaligned address (UB; a debug build aborted).
#[test]
fn the_engine_needs_no_more_than_sixteen_byte_alignment() {
    assert!(core::mem::align_of::<arenapool::raw::RawPool>() <= 16);
}

#[test]
fn short_strings_and_small_records_take_eight_byte_steps() {
    let pool = Pool::new();
    // Two 3-byte words: one 8-byte pair, not two 16-byte blocks.
    let a = pool.alloc_str("the");
    let b = pool.alloc_str("cat");
    assert_eq!(addr(&b).abs_diff(addr(&a)), 8);
    // A 24-byte record aligned to 8 takes 24 bytes, aligned to 8.
    let r = pool.alloc_copy([1u64, 2, 3]);
    let s = pool.alloc_copy([4u64, 5, 6]);
    assert_eq!(addr(&s).abs_diff(addr(&r)), 24);
    assert_eq!((addr(&r) % 8, addr(&s) % 8), (0, 0));
    assert_eq!((&*a, &*b, *r, *s), ("the", "cat", [1, 2, 3], [4, 5, 6]));
    // Requests aligned to 16 keep 16-byte steps.
    let x = pool.alloc_copy(1u128);
    let y = pool.alloc_copy(2u128);
    assert_eq!((addr(&x) % 16, addr(&y) % 16), (0, 0));
    assert_eq!(pool.size(), 3 + 3 + 24 + 24 + 16 + 16);
}

#[test]
fn byte_blocks_stay_sixteen_aligned_beside_eight_byte_blocks() {
    // The byte API promises 16-byte alignment at every length, also after
    // its blocks are freed, reused and resized among 8-aligned blocks.
    let pool = Pool::new();
    let mut words = Vec::new();
    let mut blocks = Vec::new();
    for n in 1..=64 {
        words.push(pool.alloc_str(&"abcdefgh"[..(n % 8) + 1]));
        let mut block = pool.alloc(1, n);
        block.fill(n as u8);
        assert_eq!(addr(&block) % 16, 0, "{n} B");
        blocks.push(block);
    }
    for (i, block) in blocks.drain(..).enumerate() {
        if i % 2 == 0 {
            pool.free(block);
        } else {
            drop(block);
        }
    }
    for n in (1..=64).rev() {
        let mut block = pool.alloc(1, n);
        assert_eq!(addr(&block) % 16, 0, "reused {n} B");
        assert!(block.iter().all(|&b| b == 0));
        for len in [n + 3, n + 17, 5, n] {
            pool.realloc(&mut block, len);
            assert_eq!(addr(&block) % 16, 0, "{n} B resized to {len}");
        }
        pool.free(block);
    }
    for (n, word) in words.iter().enumerate() {
        assert_eq!(&**word, &"abcdefgh"[..(n + 1) % 8 + 1]);
    }
}

#[test]
fn a_kept_handle_is_freed_in_the_class_it_was_made_in() {
    // An `RcHandle` keeps the handle's kind: a byte block goes back to its
    // 16-byte class, a 3-byte string to its 8-byte one (not to 16, which
    // would hand out 8 bytes as 16).
    let pool = arenapool::RcPool::new();
    let bytes = pool.keep(pool.alloc(1, 5));
    let word = pool.keep(pool.alloc_str("abc"));
    let _pin = pool.alloc(1, 16); // neither is the newest block
    let (byte_place, word_place) = (bytes.as_ptr() as usize, word.as_ptr() as usize);
    let before = pool.stats().free_list_bytes;
    pool.free(word);
    assert_eq!(pool.stats().free_list_bytes, before + 8, "filed as 8 bytes");
    pool.free(bytes);
    assert_eq!(pool.stats().free_list_bytes, before + 8 + 16);
    assert_eq!(pool.alloc(1, 5).as_ptr() as usize, byte_place);
    assert_eq!(pool.alloc_str("xyz").as_ptr() as usize, word_place);
}
