//! W6 in alternating rounds (`make bench`): the cross-thread pipeline of
//! `pipeline.rs` through `SyncPool`, mimalloc and glibc, each round running
//! the three one after the other, so that a ratio compares runs made within
//! a second of each other. With two threads on a 2-CPU VM, which thread the
//! scheduler runs when moves a run's time by up to a factor of three, and
//! criterion's separate blocks of samples per peer (`benches/cross_thread.rs`)
//! gave ratios of 0.36× and 1.20× on the same code.
//!
//! Prints each peer's median ns per pair, the median and range of the
//! per-round ratios, and the pool's reserved bytes against its live bytes at
//! most. `ROUNDS` (default 21) sets the rounds.

use std::alloc::System;

use arenapool::SyncPool;
use arenapool_benches::pipeline::{through, through_pool, LIVE_AT_MOST, PAIRS};
use arenapool_benches::rounds::{median, ns_per_pair, rounds, spread, RUNS};
use mimalloc::MiMalloc;

fn main() {
    let rounds = rounds();
    let pool = SyncPool::new();
    // Warm: each peer once, so every round finds its memory faulted in.
    through_pool(&pool);
    through(&MiMalloc);
    through(&System);
    let (mut ours, mut mi, mut glibc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(ns_per_pair(PAIRS, || through_pool(&pool)));
        mi.push(ns_per_pair(PAIRS, || through(&MiMalloc)));
        glibc.push(ns_per_pair(PAIRS, || through(&System)));
    }
    let ratio = |peer: &[f64]| {
        let r: Vec<f64> = ours.iter().zip(peer).map(|(a, p)| a / p).collect();
        spread(&r)
    };
    let (m, m_lo, m_hi) = ratio(&mi);
    let (g, g_lo, g_hi) = ratio(&glibc);
    let above = ours.iter().zip(&mi).filter(|(a, p)| a <= p).count();
    println!("W6 cross-thread pairs, {rounds} rounds of {RUNS} runs of {PAIRS} pairs each, warm, peers alternating");
    println!(
        "SyncPool {:.1} ns/pair, mimalloc {:.1}, glibc {:.1}",
        median(ours.clone()),
        median(mi.clone()),
        median(glibc.clone())
    );
    println!(
        "SyncPool / mimalloc time: {m:.2}x (rounds {m_lo:.2}-{m_hi:.2}; at most mimalloc's in {above} of {rounds})"
    );
    println!("SyncPool / glibc time: {g:.2}x (rounds {g_lo:.2}-{g_hi:.2})");
    let s = pool.stats();
    println!(
        "SyncPool reserved {} B for about {} B live at most ({:.2}x; per-thread allowance {} B of free blocks)",
        s.reserved_bytes,
        LIVE_AT_MOST,
        s.reserved_bytes as f64 / LIVE_AT_MOST as f64,
        SyncPool::SPILL_ABOVE
    );
}
