//! `RcPool` and `RcHandle`: owners without a lifetime parameter. A handle
//! keeps its pool alive, values' destructors run when the last of pool and
//! handles goes, and a handle of another pool is refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arenapool::{AllocError, RcHandle, RcPool, Zeroable};

mod common;
use common::scaled;

#[derive(Clone, Copy, Debug, PartialEq, Zeroable)]
struct TokenC {
    lex: u32,
    head: i32,
}

/// spaCy's `Doc`: its pool and its token array in one struct.
struct Doc {
    mem: RcPool,
    tokens: RcHandle<[TokenC]>,
    words: Vec<RcHandle<str>>,
    len: usize,
}

impl Doc {
    fn parse(text: &str) -> Doc {
        let mem = RcPool::new();
        let tokens = mem.keep(mem.alloc_slice_zeroed::<TokenC>(2));
        let mut doc = Doc {
            mem,
            tokens,
            words: Vec::new(),
            len: 0,
        };
        for (i, word) in text.split(' ').enumerate() {
            if doc.len == doc.tokens.len() {
                doc.mem.realloc(&mut doc.tokens, doc.len * 2);
            }
            doc.tokens[doc.len] = TokenC {
                lex: i as u32,
                head: i as i32 - 1,
            };
            doc.words.push(doc.mem.keep(doc.mem.alloc_str(word)));
            doc.len += 1;
        }
        doc
    }
}

#[test]
fn a_doc_owns_its_pool_grows_in_place_and_leaves_a_function() {
    let text: Vec<String> = (0..scaled(1000, 40)).map(|i| format!("w{i}")).collect();
    let doc = Doc::parse(&text.join(" "));
    assert_eq!(doc.len, text.len());
    assert_eq!(&*doc.words[17], "w17");
    assert_eq!(doc.tokens[doc.len - 1].lex as usize, doc.len - 1);
    let stats = doc.mem.stats();
    assert_eq!(stats.live_allocations, doc.len + 1);
    // The array grew by doubling: contents kept, the tail zeroed.
    assert!(doc.tokens[doc.len..].iter().all(|t| *t == TokenC::zeroed()));
}

#[test]
fn handles_keep_the_pool_alive_and_destructors_run_with_the_last() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mem = RcPool::new();
    let value = mem.keep(mem.alloc_value(Counted(drops.clone())));
    let other = mem.keep(mem.alloc_value(Counted(drops.clone())));
    mem.free(other);
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    drop(mem);
    // `value` holds the pool: nothing dropped yet, the value readable.
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    assert!(Arc::ptr_eq(&value.0, &drops));
    drop(value);
    assert_eq!(drops.load(Ordering::Relaxed), 2);
}

#[test]
#[should_panic(expected = "did not allocate it")]
fn freeing_a_handle_of_another_pool_panics() {
    let (a, b) = (RcPool::new(), RcPool::new());
    let block = a.keep(a.alloc(1, 8));
    assert!(b.try_keep(b.alloc(1, 1)).is_ok());
    b.free(block);
}

#[test]
fn foreign_handles_are_refused_by_keep_and_realloc() {
    let (a, b) = (RcPool::new(), RcPool::new());
    assert!(matches!(
        b.try_keep(a.alloc(1, 8)),
        Err(AllocError::ForeignHandle)
    ));
    let mut ids = a.keep(a.alloc_slice_copy(&[1u16, 2]));
    assert!(matches!(
        b.try_realloc(&mut ids, 8),
        Err(AllocError::ForeignHandle)
    ));
    assert_eq!(*ids, [1, 2]);
    a.realloc(&mut ids, 3);
    assert_eq!(*ids, [1, 2, 0]);
}

#[test]
fn reset_waits_for_every_handle_and_clone() {
    let mut mem = RcPool::new();
    let clone = mem.clone();
    let kept = mem.keep(mem.alloc(1, 64));
    assert!(!mem.reset());
    drop(kept);
    assert!(!mem.reset(), "a clone still shares it");
    drop(clone);
    assert!(mem.reset());
    assert_eq!(mem.size(), 0);
}
