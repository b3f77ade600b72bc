//! `Pool::zone`: a phase's allocations freed at once, the parent usable and
//! its handles valid meanwhile, memory kept by the parent for the next zone,
//! a shared limit, nesting, and destructors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arenapool::{AllocError, Handle, Pool};

mod common;
use common::scaled;

/// spaCy's `StringStore` in a zone: permanent strings in the owner's pool,
/// transient ones in the zone.
struct Strings<'p> {
    words: Vec<Handle<'p, str>>,
}

#[test]
fn transient_entries_go_with_the_zone_and_permanent_ones_stay() {
    let vocab = Pool::new();
    let mut permanent = Strings { words: Vec::new() };
    permanent.words.push(vocab.alloc_str("the"));
    for doc in 0..scaled(50, 5) {
        let zone = vocab.zone();
        let transient: Vec<_> = (0..100)
            .map(|i| zone.alloc_fmt(format_args!("doc{doc}-word{i}")))
            .collect();
        // The parent serves meanwhile; its handles stay valid.
        permanent
            .words
            .push(vocab.alloc_fmt(format_args!("lemma{doc}")));
        assert_eq!(transient[99], &*format!("doc{doc}-word99"));
        assert!(zone.size() > 0);
    }
    assert_eq!(permanent.words[0], "the");
    let last = format!("lemma{}", scaled(50, 5) - 1);
    assert_eq!(**permanent.words.last().unwrap(), *last);
    let expected: usize = permanent.words.iter().map(|w| w.len()).sum();
    assert_eq!(vocab.size(), expected);
}

#[test]
fn a_second_zone_reuses_the_first_ones_memory_and_a_thousand_stay_flat() {
    let parent = Pool::new();
    let work = |zone: &Pool| {
        let blocks: Vec<_> = (0..scaled(2000, 60))
            .map(|i| zone.alloc(1, 16 + i % 200))
            .collect();
        let big = zone.alloc(1, 100_000);
        zone.free(big);
        blocks.len()
    };
    work(&parent.zone());
    let after_first = parent.stats();
    assert!(
        after_first.reserved_bytes > 0,
        "the parent keeps the zone's spans"
    );
    assert_eq!(after_first.live_bytes, 0);
    for _ in 0..scaled(1000, 3) {
        work(&parent.zone());
        // No system allocation after the first zone: the same spans again.
        assert_eq!(parent.stats().reserved_bytes, after_first.reserved_bytes);
        assert_eq!(parent.stats().large_blocks, after_first.large_blocks);
    }
}

#[test]
fn a_zone_appears_in_the_parents_reserved_bytes_and_shares_its_limit() {
    let parent = Pool::with_limit(1 << 20);
    let _kept = parent.alloc(1, 300_000);
    let before = parent.stats().reserved_bytes;
    {
        let zone = parent.zone();
        assert_eq!(zone.limit(), Some(1 << 20));
        let a = zone.alloc(1, 200_000);
        let _b = zone.alloc(100, 64);
        let during = parent.stats().reserved_bytes;
        assert!(during >= before + 200_000 + 6400, "{during} vs {before}");
        // Parent and zone together stay within the one limit.
        assert!(matches!(
            zone.try_alloc(1, 600_000),
            Err(AllocError::LimitExceeded { .. })
        ));
        assert!(matches!(
            parent.try_alloc(1, 600_000),
            Err(AllocError::LimitExceeded { .. })
        ));
        zone.free(a);
        assert!(parent.try_alloc(1, 100_000).is_ok());
    }
    // The zone's large blocks went back to the system; its spans stay with
    // the parent for the next zone.
    let after = parent.stats().reserved_bytes;
    assert!(after < before + 200_000, "{after}");
    assert!(parent.try_alloc(1, 500_000).is_ok());
}

#[test]
fn zones_nest_and_each_frees_its_own() {
    let parent = Pool::new();
    let outer = parent.zone();
    let kept = outer.alloc_str("outer");
    for _ in 0..scaled(20, 3) {
        let inner = outer.zone();
        let words: Vec<_> = (0..50)
            .map(|i| inner.alloc_fmt(format_args!("w{i}")))
            .collect();
        assert_eq!(words[49], "w49");
        let _big = inner.alloc(1, 50_000);
        assert!(outer.stats().reserved_bytes >= 50_000);
    }
    assert_eq!(&*kept, "outer");
    assert_eq!(outer.size(), 5);
    let reserved = parent.stats().reserved_bytes;
    drop(kept);
    drop(outer);
    assert!(parent.stats().reserved_bytes <= reserved);
    assert_eq!(parent.size(), 0);
}

#[test]
fn a_zones_values_are_dropped_with_it() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let parent = Pool::new();
    let stays = parent.alloc_value(Counted(drops.clone()));
    {
        let zone = parent.zone();
        for _ in 0..10 {
            let _ = zone.alloc_value(Counted(drops.clone()));
        }
        let freed = zone.alloc_value(Counted(drops.clone()));
        zone.free(freed);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }
    assert_eq!(drops.load(Ordering::Relaxed), 11);
    parent.free(stays);
    assert_eq!(drops.load(Ordering::Relaxed), 12);
}

#[test]
#[should_panic(expected = "did not allocate it")]
fn a_zone_handle_given_to_the_parent_is_refused() {
    let parent = Pool::new();
    let zone = parent.zone();
    let block = zone.alloc(1, 8);
    parent.free(block);
}

thread_local! {
    /// A pool a destructor can reach without borrowing it.
    static PARENT: Pool = Pool::new();
}

/// Outside review: a zone gave its spans back to the parent before its
/// values' destructors ran, so a destructor that opened a zone of the same
/// parent was lent a span still holding values to drop, and overwrote them
/// (and the drop list's links): a debug build aborted in `run_all`.
#[test]
fn a_destructor_that_opens_a_zone_of_the_same_parent_gets_fresh_memory() {
    struct Victim(String);
    struct Trigger;
    impl Drop for Trigger {
        fn drop(&mut self) {
            PARENT.with(|parent| {
                let zone = parent.zone();
                let junk = zone.alloc_slice_fill_copy(4000, 0xAAu8);
                assert!(junk.iter().all(|&b| b == 0xAA));
            });
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    struct Checked(Victim, Arc<AtomicUsize>);
    impl Drop for Checked {
        fn drop(&mut self) {
            assert_eq!(
                self.0 .0, "victim",
                "a value was overwritten before its drop"
            );
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    PARENT.with(|parent| {
        let zone = parent.zone();
        for _ in 0..4 {
            let _ = zone.alloc_value(Checked(Victim(String::from("victim")), seen.clone()));
        }
        let _ = zone.alloc_value(Trigger);
        for _ in 0..4 {
            let _ = zone.alloc_value(Checked(Victim(String::from("victim")), seen.clone()));
        }
    });
    assert_eq!(seen.load(Ordering::Relaxed), 8);
}
