//! How many random cases the harness needs to catch a broken pool.
//!
//! `cargo run --release -p arenapool-proptests --example cases_to_failure [max_cases]`
//!
//! Runs `Pool` against the model with fresh random seeds, counting cases
//! until the first failure, then prints that count, the failure and the
//! length of the shrunk sequence. Used to show the harness bites: break the
//! engine on purpose, run this, revert.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use arenapool::Pool;
use arenapool_proptests::harness::run;
use arenapool_proptests::ops::{ops, Sizes};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

fn main() {
    let max_cases: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let counted = AtomicU32::new(0);
    let failed = AtomicBool::new(false);
    let mut runner = TestRunner::new(Config {
        cases: max_cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&ops(Sizes::NATIVE, 200), |ops| {
        if !failed.load(Ordering::Relaxed) {
            counted.fetch_add(1, Ordering::Relaxed);
        }
        run::<Pool>(&ops).map_err(|e| {
            failed.store(true, Ordering::Relaxed);
            TestCaseError::fail(e)
        })
    });
    match result {
        Ok(()) => println!("no failure in {max_cases} cases"),
        Err(TestError::Fail(reason, minimal)) => {
            println!("caught at case {}", counted.load(Ordering::Relaxed));
            println!("shrunk to {} operations: {minimal:?}", minimal.len());
            println!("{reason}");
        }
        Err(e) => println!("{e}"),
    }
}
