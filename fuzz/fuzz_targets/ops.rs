//! Fuzz target: the fuzzer's bytes, decoded into the property harness's
//! operation language, run against `Pool` and the model; any disagreement
//! panics, which libFuzzer reports with the input.
#![no_main]

use arenapool::Pool;
use arenapool_proptests::harness::run;
use arenapool_proptests::ops::{decode, Sizes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ops = decode(data, Sizes::NATIVE);
    if let Err(failure) = run::<Pool>(&ops) {
        panic!("{failure}\nops: {ops:?}");
    }
});
