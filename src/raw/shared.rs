//! What engines that exchange blocks share: one byte limit over the memory
//! they hold together, and a [`Depot`] of free blocks.
//!
//! # The limit, exactly
//!
//! A large block's size is known before it is made, so its bytes are taken
//! from the budget first. A new chunk's is not: bumpalo picks the size, at
//! most what the engine allows it. So a refill takes a *grant* — as much as
//! it may use — marks it pending, and settles it with the bytes the chunk
//! really took. A request that does not fit beside the pending grants but
//! fits beside the bytes really held waits for them to settle instead of
//! being refused: a request is refused only when the bytes held plus the
//! request pass the limit. Waiting is bounded by one system allocation of
//! the refill in flight; nothing pending ever waits on anything else.

use parking_lot::{Condvar, Mutex};

use super::depot::Depot;

#[derive(Debug, Default)]
struct Budget {
    /// Bytes the engines hold from the system.
    held: usize,
    /// Bytes granted to refills not yet settled.
    pending: usize,
}

/// A grant for a refill; see [`Shared::begin_refill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grant {
    /// Bytes the refill may take.
    pub bytes: usize,
    /// Whether other refills were pending when it was granted (a refusal
    /// may then be retried once they settle).
    pub others_pending: bool,
}

/// State shared by engines whose blocks may move between them (the thread
/// caches of a `SyncPool`): a byte limit over the memory they hold together,
/// never passed whichever threads race for it, and a depot through which
/// free blocks go from one engine to another.
///
/// ```
/// use arenapool::raw::Shared;
///
/// let shared = Shared::new(Some(1000));
/// assert_eq!(shared.limit(), Some(1000));
/// assert_eq!(shared.reserved(), 0);
/// ```
pub struct Shared {
    limit: Option<usize>,
    budget: Mutex<Budget>,
    settled: Condvar,
    depot: Depot,
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("limit", &self.limit)
            .field("reserved", &self.reserved())
            .field("depot_bytes", &self.depot.bytes())
            .finish()
    }
}

impl Shared {
    /// Shared state with a limit of `limit` bytes (none: unbounded, only
    /// counted).
    ///
    /// ```
    /// assert_eq!(arenapool::raw::Shared::new(None).limit(), None);
    /// ```
    pub fn new(limit: Option<usize>) -> Self {
        Shared {
            limit,
            budget: Mutex::new(Budget::default()),
            settled: Condvar::new(),
            depot: Depot::new(),
        }
    }

    /// The limit in bytes, if any.
    ///
    /// ```
    /// assert_eq!(arenapool::raw::Shared::new(Some(1)).limit(), Some(1));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Bytes all the engines sharing it hold from the system.
    ///
    /// ```
    /// assert_eq!(arenapool::raw::Shared::new(None).reserved(), 0);
    /// ```
    pub fn reserved(&self) -> usize {
        self.budget.lock().held
    }

    /// Bytes of free blocks waiting in the depot for any of the engines.
    ///
    /// ```
    /// assert_eq!(arenapool::raw::Shared::new(None).depot_bytes(), 0);
    /// ```
    pub fn depot_bytes(&self) -> usize {
        self.depot.bytes()
    }

    pub(crate) fn depot(&self) -> &Depot {
        &self.depot
    }

    /// Forgets every block waiting in the depot: what the group does before
    /// its engines reset or drop (see `RawPool::with_shared`). The blocks
    /// are not touched.
    ///
    /// ```
    /// let shared = arenapool::raw::Shared::new(None);
    /// shared.clear_depot();
    /// assert_eq!(shared.depot_bytes(), 0);
    /// ```
    pub fn clear_depot(&self) {
        self.depot.clear();
    }

    fn max(&self) -> usize {
        self.limit.unwrap_or(usize::MAX)
    }

    /// Takes `bytes` about to be reserved; on refusal returns the bytes
    /// held. Refused only when the bytes held plus `bytes` pass the limit.
    pub(crate) fn try_take(&self, bytes: usize) -> Result<(), usize> {
        let max = self.max();
        let mut budget = self.budget.lock();
        loop {
            let Some(with_held) = budget.held.checked_add(bytes).filter(|&n| n <= max) else {
                return Err(budget.held);
            };
            if with_held.saturating_add(budget.pending) <= max {
                budget.held = with_held;
                return Ok(());
            }
            // Fits beside what is held, not beside the grants in flight:
            // wait for them to settle (each is one system allocation).
            self.settled.wait(&mut budget);
        }
    }

    /// Grants a refill up to `wanted` bytes, pending until
    /// [`settle`](Self::settle).
    pub(crate) fn begin_refill(&self, wanted: usize) -> Grant {
        let mut budget = self.budget.lock();
        let room = self
            .max()
            .saturating_sub(budget.held)
            .saturating_sub(budget.pending);
        let bytes = wanted.min(room);
        let others_pending = budget.pending > 0;
        budget.pending = budget.pending.saturating_add(bytes);
        Grant {
            bytes,
            others_pending,
        }
    }

    /// Settles a grant: the refill took `used` bytes (at most the grant).
    pub(crate) fn settle(&self, grant: Grant, used: usize) {
        let mut budget = self.budget.lock();
        budget.pending = budget.pending.saturating_sub(grant.bytes);
        budget.held = budget.held.saturating_add(used);
        drop(budget);
        self.settled.notify_all();
    }

    /// Waits until no refill is pending.
    pub(crate) fn wait_settled(&self) {
        let mut budget = self.budget.lock();
        while budget.pending > 0 {
            self.settled.wait(&mut budget);
        }
    }

    /// Gives back `bytes` taken earlier.
    pub(crate) fn give_back(&self, bytes: usize) {
        let mut budget = self.budget.lock();
        budget.held = budget.held.saturating_sub(bytes);
        drop(budget);
        self.settled.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Review defect 6, at the mechanism: a request that fits beside the
    /// bytes held waits for a pending grant to settle instead of being
    /// refused because of it.
    #[test]
    fn a_pending_grant_delays_a_request_that_fits_and_never_refuses_it() {
        let shared = Shared::new(Some(450_000));
        let grant = shared.begin_refill(256 * 1024);
        assert_eq!(grant.bytes, 256 * 1024);
        let (done, result) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| done.send(shared.try_take(200_000)));
            // The request waits while the grant is pending ...
            assert!(result.recv_timeout(Duration::from_millis(50)).is_err());
            // ... and is served once the refill settles with what it used.
            shared.settle(grant, 16 * 1024);
            assert_eq!(result.recv(), Ok(Ok(())));
        });
        assert_eq!(shared.reserved(), 16 * 1024 + 200_000);
        // A request that does not fit beside the bytes held is refused at once.
        assert_eq!(shared.try_take(300_000), Err(shared.reserved()));
    }
}
