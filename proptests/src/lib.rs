//! Model-based property testing for arenapool's pools.
//!
//! The harness is one of the crate's users: it drives a pool with random
//! operation sequences and checks, after every step, that the pool agrees
//! with a plain-Rust [`Model`](model::Model):
//!
//! * every live allocation holds exactly the bytes the model says (new and
//!   grown memory zero, written patterns distinct per block);
//! * every block is aligned, and no two live blocks overlap;
//! * `size()` and `stats().live_allocations`/`live_bytes` match the model;
//! * every destructor has run exactly when the model says — at free,
//!   reset or drop, once;
//! * errors happen exactly when the model predicts them (overflow, layout,
//!   large blocks past a limit) and leave the pool unchanged; small blocks
//!   may hit a limit only with `LimitExceeded`.
//!
//! It is generic over [`PoolUnderTest`](target::PoolUnderTest), so each pool
//! type plugs in without copying the harness. The same operations come from
//! proptest strategies ([`ops::ops`]) or from raw fuzzer bytes
//! ([`ops::decode`]).
//!
//! [`threads`] is the multi-thread mode for pools shared by threads: the
//! same operations, each run on the worker thread it names, with blocks
//! moving between threads and threads ending while their blocks live on.
//!
//! ```
//! use arenapool::Pool;
//! use arenapool_proptests::{harness::run, ops::Op};
//!
//! let ops = [Op::Alloc { number: 2, elem_size: 8 }, Op::Write { pick: 0, seed: 1 }, Op::Free { pick: 0 }];
//! run::<Pool>(&ops).unwrap();
//! ```
#![warn(missing_docs)]

pub mod harness;
pub mod model;
pub mod ops;
pub mod target;
pub mod threads;

/// The proptest configuration of the harness's tests: [`cases`], and
/// failures persisted beside the test file (not under Miri, which runs
/// isolated from the file system).
pub fn config(native: u32, miri: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence};
    Config {
        cases: cases(native, miri),
        failure_persistence: if cfg!(miri) {
            None
        } else {
            Some(Box::new(FileFailurePersistence::WithSource(
                "proptest-regressions",
            )))
        },
        ..Config::default()
    }
}

/// Cases for a property run: `PROPTEST_CASES` if set, else `native`
/// (or `miri` under Miri).
pub fn cases(native: u32, miri: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { miri } else { native })
}
