//! W5 in alternating rounds (`make bench`): `SyncPool` against `Pool`
//! uncontended, and `SyncPool` on two threads against one, each round
//! running the peers one after the other so that a ratio compares runs made
//! within milliseconds of each other. Criterion's blocks of samples per peer
//! (`benches/sync.rs`) sit seconds apart on a VM whose speed moves by more
//! than the gap being measured: its "two pools alternating" row, which does
//! strictly more work, came out faster than its one-pool row in three runs
//! of three.
//!
//! Prints the median ns per pair of each peer, and the median and range of
//! the per-round ratios. `ROUNDS` (default 21) sets the rounds.

use std::time::Instant;

use arenapool::{Pool, SyncPool};
use arenapool_benches::rounds::{median, ns_per_pair, rounds, spread, RUNS};
use arenapool_benches::{churn, on_threads};

/// Alloc+free pairs per run (per thread), as in `benches/sync.rs`.
const PAIRS: usize = 100_000;

fn main() {
    let rounds = rounds();
    let (pool, sync) = (Pool::new(), SyncPool::new());
    let timed = |work: &dyn Fn()| {
        let start = Instant::now();
        work();
        start.elapsed()
    };
    let pool_run = || churn!(|n| pool.alloc(1, n), |h| pool.free(h), PAIRS);
    let sync_run = || churn!(|n| sync.alloc(1, n), |h| sync.free(h), PAIRS);
    // Warm: each once, so every round finds its memory faulted in.
    pool_run();
    sync_run();
    on_threads(2, 1, &sync_run);

    let (mut ours, mut plain, mut uncontended) = (Vec::new(), Vec::new(), Vec::new());
    let (mut one, mut two, mut scaling) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let p = ns_per_pair(PAIRS, || timed(&pool_run));
        let s = ns_per_pair(PAIRS, || timed(&sync_run));
        plain.push(p);
        ours.push(s);
        uncontended.push(s / p);
        // One thread, then two at once, each spawned as criterion's are.
        let t1 = ns_per_pair(PAIRS, || on_threads(1, 1, &sync_run));
        let t2 = ns_per_pair(PAIRS, || on_threads(2, 1, &sync_run));
        one.push(t1);
        two.push(t2);
        // Pairs per second of two threads over one thread's.
        scaling.push(2.0 * t1 / t2);
    }
    let (u, u_lo, u_hi) = spread(&uncontended);
    let (g, g_lo, g_hi) = spread(&scaling);
    let within = uncontended.iter().filter(|r| **r <= 1.3).count();
    let reached = scaling.iter().filter(|r| **r >= 1.9).count();
    println!("W5 in {rounds} rounds of {RUNS} runs of {PAIRS} pairs each, warm, peers alternating");
    println!(
        "uncontended: Pool {:.1} ns/pair, SyncPool {:.1}; SyncPool / Pool time: {u:.3}x (rounds {u_lo:.3}-{u_hi:.3}; at most 1.3x in {within} of {rounds})",
        median(plain),
        median(ours)
    );
    println!(
        "threads: SyncPool 1 thread {:.1} ns/pair, 2 threads {:.1} ns per pair per thread; 2 / 1 pairs per second: {g:.2}x (rounds {g_lo:.2}-{g_hi:.2}; at least 1.9x in {reached} of {rounds})",
        median(one),
        median(two)
    );
}
