//! Bytes held by all live pools of the process (`arenapool.total_reserved()`).

use std::sync::atomic::{AtomicUsize, Ordering};

use arenapool::raw::RawPool;

static TOTAL_RESERVED: AtomicUsize = AtomicUsize::new(0);

/// Bytes held from the system by every live pool and address.
pub fn total() -> usize {
    TOTAL_RESERVED.load(Ordering::Relaxed)
}

/// Counts `bytes` held from the system outside an engine (an `Address`).
pub fn add(bytes: usize) {
    TOTAL_RESERVED.fetch_add(bytes, Ordering::Relaxed);
}

/// Gives back what [`add`] counted.
pub fn sub(bytes: usize) {
    TOTAL_RESERVED.fetch_sub(bytes, Ordering::Relaxed);
}

/// An engine and the share of the total it last reported.
pub struct Tracked {
    raw: RawPool,
    reported: usize,
}

impl Tracked {
    pub fn new(raw: RawPool) -> Self {
        Tracked { raw, reported: 0 }
    }

    /// Runs `f` on the engine, then reports its reserved bytes.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        let result = f(&mut self.raw);
        let now = self.raw.reserved_bytes();
        if now != self.reported {
            if now > self.reported {
                TOTAL_RESERVED.fetch_add(now - self.reported, Ordering::Relaxed);
            } else {
                TOTAL_RESERVED.fetch_sub(self.reported - now, Ordering::Relaxed);
            }
            self.reported = now;
        }
        result
    }

    pub fn raw(&self) -> &RawPool {
        &self.raw
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        TOTAL_RESERVED.fetch_sub(self.reported, Ordering::Relaxed);
    }
}
