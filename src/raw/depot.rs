//! The depot: free blocks that engines sharing memory hand to each other.
//!
//! The thread caches of a `SyncPool` each keep their own free lists. When
//! one thread frees what another allocates — a producer and a consumer — the
//! consumer's lists would grow without end while the producer keeps carving
//! new memory. So an engine whose lists hold too much *spills* whole lists
//! into the depot, and an engine whose span runs dry takes a whole list of
//! the class it needs from the depot before it asks the system for more.
//!
//! ```text
//!  consumer cache ── spill (free lists past a threshold) ──►  depot
//!                                                             [rank][class]: one chain
//!  producer cache ◄── take (span empty, class list empty) ───  (head … tail)
//! ```
//!
//! Each entry is one chain, linked through the blocks' first words like a
//! free list, so a spill splices in O(1) and a take empties the entry in
//! O(1); the depot itself never allocates. It is behind a lock, touched only
//! on those two cold paths.

use core::ptr::{self, NonNull};

use parking_lot::Mutex;

use super::free_list::{Chain, RANKS};
use super::size_class::{Class, PerClass};

#[derive(Clone, Copy)]
struct Entry {
    first: *mut u8,
    last: *mut u8,
    blocks: usize,
}

const EMPTY: Entry = Entry {
    first: ptr::null_mut(),
    last: ptr::null_mut(),
    blocks: 0,
};

struct Lists {
    entries: [PerClass<Entry>; RANKS],
    /// Sum of the class sizes of every block held.
    bytes: usize,
}

/// Free blocks waiting for any engine that shares the depot's memory.
pub struct Depot {
    lists: Mutex<Lists>,
}

// SAFETY: the depot holds pointers to free blocks of memory that every
// engine sharing it owns jointly (they outlive the depot's users); the
// pointers are only reached under the lock.
unsafe impl Send for Depot {}
// SAFETY: as for `Send`: all access goes through the mutex.
unsafe impl Sync for Depot {}

impl Depot {
    /// An empty depot.
    pub fn new() -> Self {
        Depot {
            lists: Mutex::new(Lists {
                entries: [PerClass::splat(EMPTY); RANKS],
                bytes: 0,
            }),
        }
    }

    /// Bytes of the blocks waiting here.
    pub fn bytes(&self) -> usize {
        self.lists.lock().bytes
    }

    /// Adds a chain of free blocks of `class` and `rank`.
    ///
    /// # Safety
    ///
    /// The chain's blocks must be free blocks of `class`, aligned for `rank`,
    /// of memory that outlives every engine using this depot, linked as
    /// [`Chain`] says, used by nobody until [`take`](Self::take) hands them
    /// out again, and carry provenance for their whole block.
    pub unsafe fn put(&self, chain: Chain, class: Class, rank: usize) {
        let mut lists = self.lists.lock();
        let Lists { entries, bytes } = &mut *lists;
        let Some(entries) = entries.get_mut(rank) else {
            return; // no such rank: the blocks stay unused until reset
        };
        let entry = &mut entries[class];
        // SAFETY: `chain.last` is a free block whose first word is its link
        // (caller).
        unsafe { chain.last.cast::<*mut u8>().as_ptr().write(entry.first) };
        if entry.first.is_null() {
            entry.last = chain.last.as_ptr();
        }
        entry.first = chain.first.as_ptr();
        entry.blocks = entry.blocks.wrapping_add(chain.blocks);
        *bytes = bytes.wrapping_add(chain.blocks.wrapping_mul(class.size()));
    }

    /// Takes every block of `class` and `rank`, if there is one.
    pub fn take(&self, class: Class, rank: usize) -> Option<Chain> {
        let mut lists = self.lists.lock();
        let Lists { entries, bytes } = &mut *lists;
        let entry = &mut entries.get_mut(rank)?[class];
        let first = NonNull::new(entry.first)?;
        let last = NonNull::new(entry.last)?;
        let chain = Chain {
            first,
            last,
            blocks: entry.blocks,
        };
        *entry = EMPTY;
        *bytes = bytes.wrapping_sub(chain.blocks.wrapping_mul(class.size()));
        Some(chain)
    }

    /// Forgets every block (the memory they live in is being released or
    /// reset).
    pub fn clear(&self) {
        let mut lists = self.lists.lock();
        lists.entries = [PerClass::splat(EMPTY); RANKS];
        lists.bytes = 0;
    }
}
