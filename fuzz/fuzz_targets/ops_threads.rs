//! Fuzz target, multi-thread mode: the fuzzer's bytes decoded into a case
//! of the harness's thread language (`threads::decode_case`: 2–4 worker
//! threads, each operation run on the worker it names, workers retired and
//! restarted, `{:?}`/`{:#?}` of the pool, then a free-running phase) and run
//! against `SyncPool` and the model. A second target rather than a mode
//! byte of `ops`, so that each keeps its own corpus.
//!
//! Any disagreement panics, and so does a case that stops making progress
//! (the harness's watchdog turns a deadlock into an error after two
//! seconds); libFuzzer reports either with the input. A panic inside the
//! pool, on a worker thread, aborts through libfuzzer-sys's panic hook
//! before the harness can report it: the message is the one printed above
//! the crash.
#![no_main]

use arenapool::SyncPool;
use arenapool_proptests::ops::Sizes;
use arenapool_proptests::threads::{decode_case, run_with, Watchdog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let case = decode_case(data, Sizes::NATIVE);
    if let Err(failure) = run_with::<SyncPool>(&case, Watchdog::NATIVE) {
        panic!("{failure}\ncase: {case:?}");
    }
});
