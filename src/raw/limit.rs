//! Byte limits on reserved memory, kept by one engine or shared by several.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A byte limit shared by several engines (the thread caches of a
/// `SyncPool`), with the bytes they reserve between them.
///
/// Engines take bytes from it *before* asking the system for them and give
/// them back when they return memory, so the total never passes the limit,
/// whichever threads race for it.
///
/// ```
/// use arenapool::raw::SharedLimit;
///
/// let shared = SharedLimit::new(Some(1000));
/// assert_eq!(shared.limit(), Some(1000));
/// assert_eq!(shared.reserved(), 0);
/// ```
#[derive(Debug)]
pub struct SharedLimit {
    limit: Option<usize>,
    reserved: AtomicUsize,
}

impl SharedLimit {
    /// A limit of `limit` bytes (none: unbounded, only counted).
    ///
    /// ```
    /// assert_eq!(arenapool::raw::SharedLimit::new(None).limit(), None);
    /// ```
    pub fn new(limit: Option<usize>) -> Self {
        SharedLimit {
            limit,
            reserved: AtomicUsize::new(0),
        }
    }

    /// The limit in bytes, if any.
    ///
    /// ```
    /// assert_eq!(arenapool::raw::SharedLimit::new(Some(1)).limit(), Some(1));
    /// ```
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Bytes all the engines sharing it hold from the system.
    ///
    /// ```
    /// assert_eq!(arenapool::raw::SharedLimit::new(None).reserved(), 0);
    /// ```
    pub fn reserved(&self) -> usize {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Takes `bytes`; on refusal returns the bytes reserved at that moment.
    pub(crate) fn try_take(&self, bytes: usize) -> Result<(), usize> {
        let limit = self.limit.unwrap_or(usize::MAX);
        self.reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |reserved| {
                reserved.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map(drop)
    }

    /// Takes as much of `wanted` as the limit allows and returns it.
    pub(crate) fn take_up_to(&self, wanted: usize) -> usize {
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut granted = 0;
        let _ = self
            .reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |reserved| {
                granted = wanted.min(limit.saturating_sub(reserved));
                Some(reserved + granted)
            });
        granted
    }

    /// Gives back `bytes` taken earlier.
    pub(crate) fn give_back(&self, bytes: usize) {
        self.reserved.fetch_sub(bytes, Ordering::Relaxed);
    }
}
