//! bumpalo's conveniences on both pools: values built in place, values the
//! pool never drops (neither `Send` nor `'static`), slices filled from
//! closures, iterators and clones, formatted strings, `allocated_bytes`,
//! and the traits a handle forwards.

use std::cell::Cell;
use std::collections::{BTreeSet, HashSet};

use arenapool::{AllocError, Handle, Pool, SyncPool};

mod common;
use common::scaled;

/// A parent/child tree of `Cell`-linked nodes: the typed-arena pattern.
struct Node<'a> {
    name: &'a str,
    parent: Cell<Option<&'a Node<'a>>>,
    /// Counts drops; a `&Cell` is not `Send`, so only `alloc_nodrop` takes
    /// a `Node` (and its lifetime is not `'static` either).
    drops: &'a Cell<usize>,
}

impl Drop for Node<'_> {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

#[test]
fn cell_linked_nodes_that_borrow_the_pool_and_are_not_send() {
    let drops = Cell::new(0);
    let pool = Pool::new();
    let root: &Node = pool.alloc_nodrop(Node {
        name: pool.alloc_str("root").into_mut(),
        parent: Cell::new(None),
        drops: &drops,
    });
    let mut leaves = Vec::new();
    for i in 0..scaled(100, 10) {
        let name = pool.alloc_fmt(format_args!("leaf-{i}")).into_mut();
        let leaf: &Node = pool.alloc_nodrop_with(|| Node {
            name,
            parent: Cell::new(None),
            drops: &drops,
        });
        leaf.parent.set(Some(root));
        leaves.push(leaf);
    }
    assert!(leaves
        .iter()
        .all(|leaf| leaf.parent.get().unwrap().name == "root"));
    assert_eq!(leaves[7].name, "leaf-7");
    drop(leaves);
    drop(pool);
    // The pool never ran the nodes' destructors (bumpalo's `alloc`).
    assert_eq!(drops.get(), 0);
}

#[test]
fn alloc_with_runs_destructors_like_alloc_value_and_survives_a_panic() {
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let pool = Pool::new();
    let a = pool.alloc_with(|| Counted(drops.clone()));
    let big = pool.alloc_with(|| [7u64; 2048]);
    assert_eq!(big[2047], 7);
    // A panic in the closure leaves nothing registered for the pool to drop.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = pool.alloc_with(|| -> Counted { panic!("made no value") });
    }));
    assert!(caught.is_err());
    pool.free(a);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1);
    let _kept = pool.alloc_with(|| Counted(drops.clone()));
    drop(pool);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn slices_from_closures_iterators_copies_and_clones() {
    let pool = SyncPool::new();
    let squares = pool.alloc_slice_fill_with(5, |i| (i * i) as u32);
    assert_eq!(*squares, [0, 1, 4, 9, 16]);
    let filled = pool.alloc_slice_fill_copy(3, 'x');
    assert_eq!(*filled, ['x'; 3]);
    let lengths = pool.alloc_slice_fill_iter(["a", "bb", "ccc"].iter().map(|w| w.len()));
    assert_eq!(*lengths, [1, 2, 3]);
    let cells = pool.alloc_slice_clone(&[Cell::new(1u8), Cell::new(2)]);
    cells[1].set(9);
    assert_eq!(cells.iter().map(Cell::get).sum::<u8>(), 10);
    let empty = pool.alloc_slice_fill_with(0, |_| 0u64);
    assert!(empty.is_empty());
    assert_eq!(pool.size(), 20 + 12 + 3 * 8 + 2);
    for handle in [squares.len(), filled.len(), lengths.len()] {
        assert!(handle > 0);
    }
    // Sizes past isize::MAX are refused before the closure runs.
    let called = Cell::new(false);
    let refused = pool.try_alloc_slice_fill_with(usize::MAX / 2, |_| {
        called.set(true);
        0u32
    });
    assert!(matches!(refused, Err(AllocError::SizeOverflow { .. })) && !called.get());
}

/// An iterator that says it has more items than it yields.
struct Liar(u32);

impl Iterator for Liar {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.0 = self.0.checked_sub(1)?;
        Some(self.0)
    }
}

impl ExactSizeIterator for Liar {
    fn len(&self) -> usize {
        self.0 as usize + 5
    }
}

#[test]
fn an_exact_size_iterator_that_lies_panics_and_the_pool_goes_on() {
    let pool = Pool::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = pool.alloc_slice_fill_iter(Liar(3));
    }));
    assert!(caught.is_err());
    assert_eq!(*pool.alloc_slice_copy(&[1u8, 2]), [1, 2]);
}

#[test]
fn alloc_fmt_formats_in_place_and_a_refusal_leaves_nothing() {
    let pool = Pool::new();
    let id = pool.alloc_fmt(format_args!("{}-{:>4}-{:.2}", "doc", 42, 1.5));
    assert_eq!(id, "doc-  42-1.50");
    assert_eq!(pool.size(), id.len());
    let long: String = (0..scaled(2000, 50)).map(|i| format!("{i},")).collect();
    let copy = pool.alloc_fmt(format_args!("{long}{}", "!"));
    assert_eq!(copy.len(), long.len() + 1);
    assert!(copy.ends_with(",!"));
    assert_eq!(pool.size(), id.len() + copy.len());
    let literal = pool.alloc_fmt(format_args!("plain"));
    assert_eq!(literal, "plain");

    let limited = Pool::with_limit(64 * 1024);
    let before = limited.size();
    let huge = "y".repeat(100_000);
    assert!(limited.try_alloc_fmt(format_args!("{huge}{}", 1)).is_err());
    assert_eq!(
        limited.size(),
        before,
        "a refused format leaves no block behind"
    );
}

#[test]
fn allocated_bytes_is_what_the_pool_holds_from_the_system() {
    let pool = Pool::new();
    assert_eq!(pool.allocated_bytes(), 0);
    let block = pool.alloc(1, 100_000);
    assert_eq!(pool.allocated_bytes(), pool.stats().reserved_bytes);
    assert!(pool.allocated_bytes() >= 100_000);
    pool.free(block);
    let sync = SyncPool::new();
    let _small = sync.alloc(1, 64);
    assert_eq!(sync.allocated_bytes(), sync.stats().reserved_bytes);
}

#[test]
fn handles_compare_order_hash_and_show_as_their_values() {
    let pool = Pool::new();
    let (a, b) = (pool.alloc_str("abc"), pool.alloc_str("abd"));
    assert_eq!(a, "abc");
    assert_ne!(a, b);
    assert!(a < b);
    assert_eq!(b.cmp(&a), std::cmp::Ordering::Greater);
    assert_eq!(a.to_string(), "abc");
    assert_eq!(format!("{b:>5}"), "  abd");
    let n = pool.alloc_copy(5u32);
    assert!(n == &5);
    let slice = pool.alloc_slice_copy(&[1u8, 2, 3]);
    assert_eq!(slice, &[1u8, 2, 3][..]);
    // Across pools, by value.
    let other = Pool::new();
    assert_eq!(other.alloc_str("abc"), a);

    let words: HashSet<Handle<'_, str>> =
        ["x", "y", "x"].iter().map(|w| pool.alloc_str(w)).collect();
    assert_eq!(words.len(), 2);
    assert!(words.contains("y"), "Borrow<str> with a matching Hash");
    let sorted: BTreeSet<Handle<'_, str>> =
        ["b", "a", "c"].iter().map(|w| pool.alloc_str(w)).collect();
    assert_eq!(sorted.iter().map(|h| &**h).collect::<String>(), "abc");
    let as_ref: &str = a.as_ref();
    assert_eq!(as_ref, "abc");
}
