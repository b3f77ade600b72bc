//! `Pool` against the model.

use arenapool::Pool;
use arenapool_proptests::config;
use arenapool_proptests::harness::run;
use arenapool_proptests::ops::{ops, Op, Sizes};
use proptest::prelude::*;

fn max_ops() -> usize {
    if cfg!(miri) {
        60
    } else {
        200
    }
}

proptest! {
    #![proptest_config(config(256, 8))]

    #[test]
    fn pool_agrees_with_the_model(ops in ops(Sizes::for_build(), max_ops())) {
        run::<Pool>(&ops).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn fixed_sequences() {
    use arenapool_proptests::ops::{Elem, PETABYTE};
    let sequences: Vec<Vec<Op>> = vec![
        vec![],
        vec![Op::AllocValue, Op::Reset, Op::AllocValue],
        vec![
            Op::Alloc {
                number: 1,
                elem_size: 5000,
            },
            Op::Realloc {
                pick: 0,
                new_len: 10,
            },
            Op::Realloc {
                pick: 0,
                new_len: 9000,
            },
        ],
        vec![
            Op::Recreate { limit: Some(1_000) },
            Op::Alloc {
                number: 1,
                elem_size: 100,
            },
            Op::Alloc {
                number: 1,
                elem_size: 2000,
            },
        ],
        vec![
            Op::AllocTyped {
                elem: Elem::A64,
                len: 3,
            },
            Op::Write { pick: 0, seed: 9 },
            Op::Realloc {
                pick: 0,
                new_len: 100,
            },
        ],
        vec![
            Op::Alloc {
                number: 1 << 62,
                elem_size: 8,
            },
            Op::Alloc {
                number: PETABYTE.0,
                elem_size: PETABYTE.1,
            },
        ],
        vec![
            Op::Recreate { limit: Some(0) },
            Op::AllocValue,
            Op::Alloc {
                number: 0,
                elem_size: 1,
            },
        ],
    ];
    for ops in sequences {
        run::<Pool>(&ops).unwrap();
    }
}

#[test]
fn decoded_bytes_run_too() {
    let len: u32 = if cfg!(miri) { 200 } else { 2000 };
    let data: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    run::<Pool>(&arenapool_proptests::ops::decode(&data, Sizes::for_build())).unwrap();
}
