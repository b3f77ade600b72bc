//! Shared workloads of the benchmarks (see `benches/`).
//!
//! Each function does one unit of work; the criterion benches time them and
//! print memory figures beside the timings.

use arenapool::Pool;

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

/// Random free + alloc churn on a pool: `live` blocks of 16..=256 bytes,
/// then `pairs` times free a random one and allocate a new one. Returns
/// `(peak_live_bytes, reserved_bytes)` at the end.
pub fn churn_reserved(live: usize, pairs: usize, seed: u64) -> (usize, usize) {
    let pool = Pool::new();
    let mut rng = Rng::new(seed);
    let mut blocks: Vec<_> = (0..live)
        .map(|_| pool.alloc(16 + rng.below(241), 1))
        .collect();
    for _ in 0..pairs {
        let i = rng.below(blocks.len());
        let fresh = pool.alloc(16 + rng.below(241), 1);
        pool.free(std::mem::replace(&mut blocks[i], fresh));
    }
    let stats = pool.stats();
    (stats.peak_live_bytes, stats.reserved_bytes)
}
