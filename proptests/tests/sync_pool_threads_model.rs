//! `SyncPool` driven from 2–4 OS threads against the model: every call on
//! the worker its step names (so blocks are freed and resized by threads
//! other than the one that allocated them, and outlive the thread that did),
//! then the workers at once. See `arenapool_proptests::threads`.
//!
//! A case that hangs fails after the watchdog's timeout instead of hanging
//! the test; its threads stay blocked until the test binary exits.

use arenapool::SyncPool;
use arenapool_proptests::config;
use arenapool_proptests::ops::{Elem, Op, Sizes};
use arenapool_proptests::threads::{case, decode_case, run, Case, Mix, RunOp, Step, MAX_THREADS};
use proptest::prelude::*;

fn on(thread: usize, op: Op) -> Step {
    Step::On { thread, op }
}

fn stepped(threads: usize, steps: Vec<Step>) -> Case {
    Case {
        threads,
        steps,
        free_run: vec![],
    }
}

proptest! {
    #![proptest_config(config(256, 2))]

    /// One call at a time, each on the thread its step names: the
    /// interleaving is the case's, so a failure shrinks to a short sequence.
    #[test]
    fn sync_pool_agrees_with_the_model_across_threads(
        case in case(Sizes::for_build(), Mix { free_run: 0, ..Mix::for_build() })
    ) {
        run::<SyncPool>(&case).map_err(TestCaseError::fail)?;
    }

    /// As above, with `{:?}` and `{:#?}` of the pool at some steps, on the
    /// named thread: formatting must return (and say what it formats).
    #[test]
    fn sync_pool_formats_while_threads_use_it(
        case in case(Sizes::for_build(), Mix {
            format: true,
            free_run: 0,
            steps: if cfg!(miri) { 8 } else { 40 },
        })
    ) {
        run::<SyncPool>(&case).map_err(TestCaseError::fail)?;
    }

    /// Coordinated steps, then every worker on its own list at once, handing
    /// blocks to each other; the whole model is checked when they are done.
    #[test]
    fn sync_pool_keeps_the_invariants_with_free_running_threads(
        case in case(Sizes::for_build(), Mix {
            steps: if cfg!(miri) { 6 } else { 60 },
            ..Mix::for_build()
        })
    ) {
        run::<SyncPool>(&case).map_err(TestCaseError::fail)?;
    }
}

/// A block of each alignment allocated on one thread and freed on another,
/// which has never allocated anything of that alignment.
#[test]
fn cross_thread_free_of_every_alignment() {
    for elem in Elem::ALL {
        let case = stepped(
            2,
            vec![
                on(0, Op::AllocTyped { elem, len: 1 }),
                on(1, Op::Free { pick: 0 }),
            ],
        );
        run::<SyncPool>(&case).unwrap_or_else(|e| panic!("{elem:?}: {e}"));
    }
}

/// Blocks of each alignment resized on another thread: grown past the
/// small range (4 KiB), back into it, and to nothing.
#[test]
fn cross_thread_realloc_grows_past_the_small_range_and_shrinks_to_zero() {
    let realloc = |thread, new_len| on(thread, Op::Realloc { pick: 0, new_len });
    for elem in Elem::ALL {
        let past_small = 4096 / elem.size() + 1;
        let case = stepped(
            2,
            vec![
                on(0, Op::AllocTyped { elem, len: 2 }),
                on(0, Op::Write { pick: 0, seed: 3 }),
                realloc(1, past_small),
                realloc(0, 3),
                realloc(1, 0),
                realloc(0, 1),
            ],
        );
        run::<SyncPool>(&case).unwrap_or_else(|e| panic!("{elem:?}: {e}"));
    }
}

/// Threads end while their blocks (bytes, typed, values with destructors)
/// live on; their successors and the other threads free them.
#[test]
fn blocks_outlive_the_thread_that_allocated_them() {
    let case = stepped(
        2,
        vec![
            on(
                0,
                Op::Alloc {
                    number: 1,
                    elem_size: 100,
                },
            ),
            on(0, Op::AllocValue),
            on(
                0,
                Op::AllocTyped {
                    elem: Elem::U64,
                    len: 10,
                },
            ),
            on(
                0,
                Op::Alloc {
                    number: 1,
                    elem_size: 9000,
                },
            ),
            Step::Retire { thread: 0 },
            on(1, Op::Free { pick: 1 }),
            on(
                0,
                Op::Realloc {
                    pick: 0,
                    new_len: 200,
                },
            ),
            Step::Retire { thread: 1 },
            Step::Retire { thread: 0 },
            on(1, Op::Free { pick: 0 }),
            on(
                0,
                Op::Alloc {
                    number: 1,
                    elem_size: 100,
                },
            ),
        ],
    );
    run::<SyncPool>(&case).unwrap();
}

/// `{:?}` and `{:#?}` of a pool that threads have used.
#[test]
fn debug_of_a_pool_in_use_returns() {
    let case = stepped(
        2,
        vec![
            on(
                0,
                Op::Alloc {
                    number: 1,
                    elem_size: 8,
                },
            ),
            Step::Format {
                thread: 1,
                alternate: false,
            },
            Step::Format {
                thread: 0,
                alternate: true,
            },
        ],
    );
    run::<SyncPool>(&case).unwrap();
}

/// The fuzz target's decoder: any bytes make a case within bounds, the
/// same one each time.
#[test]
fn decoded_cases_are_well_formed() {
    let data: Vec<u8> = (0u32..3000)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for cut in [0, 1, 2, 17, 300, 3000] {
        let case = decode_case(&data[..cut], Sizes::for_build());
        assert_eq!(case, decode_case(&data[..cut], Sizes::for_build()));
        assert!((2..=MAX_THREADS).contains(&case.threads));
        assert!(case.free_run.len() <= case.threads);
        for list in &case.free_run {
            for op in list {
                if let RunOp::Pass { to, .. } = op {
                    assert!(*to < MAX_THREADS);
                }
            }
        }
    }
}
