//! What the alternating-rounds binaries (`w5_rounds`, `w6_rounds`) share:
//! the round count, the median of a peer's runs within a round, and the
//! median and range of the per-round ratios.

use std::time::Duration;

/// Runs per peer per round; the round keeps their median.
pub const RUNS: usize = 3;

/// The number of rounds: `ROUNDS` from the environment, 21 unless set.
pub fn rounds() -> usize {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(21)
}

/// The median of `xs` (the upper one of an even count); `xs` is not empty.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    #[allow(clippy::indexing_slicing)] // the callers never pass an empty set
    xs[xs.len() / 2]
}

/// The median, least and greatest of `xs`; `xs` is not empty.
pub fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut sorted = xs.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let lo = sorted.first().copied().unwrap_or(f64::NAN);
    let hi = sorted.last().copied().unwrap_or(f64::NAN);
    (median(sorted), lo, hi)
}

/// The median of `RUNS` runs of `run`, each timing `pairs` pairs, in ns per
/// pair.
pub fn ns_per_pair(pairs: usize, mut run: impl FnMut() -> Duration) -> f64 {
    median(
        (0..RUNS)
            .map(|_| run().as_nanos() as f64 / pairs as f64)
            .collect(),
    )
}
