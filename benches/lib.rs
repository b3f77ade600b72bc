//! Shared workloads of the benchmarks (see `benches/`).
//!
//! Each function does one unit of work; the criterion benches time them and
//! print memory figures beside the timings.

/// A small deterministic generator (xorshift), so every run and every peer
/// sees the same sequence.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed` (non-zero).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

mod free_list;
pub use free_list::BareFreeList;

pub mod pipeline;
