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
pub mod rounds;

/// W5's work for one thread: `pairs` times, allocate a block of 16..=256
/// bytes with `alloc(size)`, touch it, and give the block allocated 64
/// steps earlier to `free` (`benches/sync.rs`, `w5_rounds.rs`).
#[macro_export]
macro_rules! churn {
    ($alloc:expr, $free:expr, $pairs:expr) => {{
        let mut ring = std::collections::VecDeque::with_capacity(65);
        let mut size = 16usize;
        for _ in 0..$pairs {
            size = 16 + (size * 7 + 13) % 241;
            #[allow(unused_mut)]
            let mut h = $alloc(size);
            h[0] = 1;
            ring.push_back(h);
            if ring.len() > 64 {
                $free(ring.pop_front().unwrap());
            }
        }
        for h in ring {
            $free(h);
        }
    }};
}

/// Runs `work` on `threads` threads at once, `iters` times each; returns
/// the wall time.
pub fn on_threads(threads: usize, iters: u64, work: &(dyn Fn() + Sync)) -> std::time::Duration {
    let barrier = std::sync::Barrier::new(threads);
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    work();
                }
            });
        }
    });
    start.elapsed()
}
