//! Bytes held by all live pools of the process (`arenapool.total_reserved()`).

use std::sync::atomic::{AtomicUsize, Ordering};

use arenapool::raw::RawPool;

static TOTAL_RESERVED: AtomicUsize = AtomicUsize::new(0);

/// The bytes of objects made and dropped only by threads holding the GIL
/// (`Address`): changed by a plain load and store, not a read-modify-write
/// (about 5 ns each here), which the GIL makes exclusive. It may wrap below
/// zero on its own; only the sum with `TOTAL_RESERVED` means anything.
static GIL_HELD: AtomicUsize = AtomicUsize::new(0);

/// Bytes held from the system by every live pool and address.
pub fn total() -> usize {
    TOTAL_RESERVED
        .load(Ordering::Relaxed)
        .wrapping_add(GIL_HELD.load(Ordering::Relaxed))
}

/// Counts `bytes` held by an object that only GIL holders make and drop.
///
/// The module declares `gil_used` (see `crate`): a free-threaded build
/// would make this an `add`.
#[inline]
pub fn gil_add(bytes: usize) {
    GIL_HELD.store(
        GIL_HELD.load(Ordering::Relaxed).wrapping_add(bytes),
        Ordering::Relaxed,
    );
}

/// Gives back what [`gil_add`] counted (also holding the GIL).
#[inline]
pub fn gil_sub(bytes: usize) {
    GIL_HELD.store(
        GIL_HELD.load(Ordering::Relaxed).wrapping_sub(bytes),
        Ordering::Relaxed,
    );
}

/// An engine and the share of the total it last reported.
pub struct Tracked {
    raw: RawPool,
    reported: usize,
    /// Used only holding the GIL (a cymem-compatible pool's engine): it
    /// reports with a plain load and store (see [`gil_add`]), not a
    /// read-modify-write.
    gil_held: bool,
}

impl Tracked {
    pub fn new(raw: RawPool) -> Self {
        Tracked {
            raw,
            reported: 0,
            gil_held: false,
        }
    }

    /// An engine that is only ever used, and dropped, holding the GIL.
    pub fn new_gil_held(raw: RawPool) -> Self {
        Tracked {
            raw,
            reported: 0,
            gil_held: true,
        }
    }

    fn add(&self, bytes: usize) {
        if self.gil_held {
            gil_add(bytes);
        } else {
            TOTAL_RESERVED.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    fn sub(&self, bytes: usize) {
        if self.gil_held {
            gil_sub(bytes);
        } else {
            TOTAL_RESERVED.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Runs `f` on the engine, then reports its reserved bytes.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        let result = f(&mut self.raw);
        let now = self.raw.reserved_bytes();
        if now != self.reported {
            if now > self.reported {
                self.add(now - self.reported);
            } else {
                self.sub(self.reported - now);
            }
            self.reported = now;
        }
        result
    }

    /// Runs `f` on the engine without reporting: for calls that never
    /// change its reserved bytes (`RawPool::alloc_fast`, `dealloc_fast`), on
    /// the C API's fast path. A debug build checks that they did not.
    #[inline(always)]
    pub fn steady<R>(&mut self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        #[cfg(debug_assertions)]
        let before = self.raw.reserved_bytes();
        let result = f(&mut self.raw);
        #[cfg(debug_assertions)]
        debug_assert_eq!(self.raw.reserved_bytes(), before, "a steady call reserved");
        result
    }

    pub fn raw(&self) -> &RawPool {
        &self.raw
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.sub(self.reported);
    }
}
