//! `SyncPool` against the same model (driven from one thread; the thread
//! hammer in the core crate's tests covers concurrency).

use arenapool::SyncPool;
use arenapool_proptests::config;
use arenapool_proptests::harness::run;
use arenapool_proptests::ops::{ops, Sizes};
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(256, 4))]

    #[test]
    fn sync_pool_agrees_with_the_model(ops in ops(Sizes::for_build(), if cfg!(miri) { 60 } else { 200 })) {
        run::<SyncPool>(&ops).map_err(TestCaseError::fail)?;
    }
}
