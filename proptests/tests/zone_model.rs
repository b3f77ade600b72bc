//! Zones and the bumpalo conveniences (`alloc_slice_fill_with`,
//! `_fill_iter`, `_fill_copy`, `_clone`, `alloc_fmt`) against a model: phases of random
//! operations, each in a fresh zone of one long-lived pool, interleaved with
//! operations on the pool itself. After every step each live block holds
//! what the model says and both pools' `size()` is the model's; after each
//! phase the pool's own blocks are intact; and replaying a phase's zone
//! work in a new zone reserves nothing new (the spans come back).

use arenapool::{Handle, Pool};
use arenapool_proptests::config;
use proptest::prelude::*;

/// One step of a phase.
#[derive(Clone, Debug)]
enum Step {
    /// `alloc(1, size)` (zeroed bytes), in the zone or the pool.
    Alloc { in_zone: bool, size: usize },
    /// `alloc_slice_fill_with(len, |i| ...)` of `u32`s, seen as bytes.
    FillWith { in_zone: bool, len: usize },
    /// `alloc_slice_fill_iter`, `alloc_slice_clone` or
    /// `alloc_slice_fill_copy` of `len` bytes (by `how`).
    Slice { in_zone: bool, how: u8, len: usize },
    /// `alloc_fmt` of a number, checked and kept.
    Fmt { in_zone: bool, n: u64 },
    /// Free a live block (index modulo their number).
    Free { in_zone: bool, pick: usize },
    /// Overwrite a live block with a pattern.
    Write {
        in_zone: bool,
        pick: usize,
        seed: u8,
    },
    /// Resize a live block (contents kept, the tail zeroed).
    Realloc {
        in_zone: bool,
        pick: usize,
        new_len: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let size = prop_oneof![4 => 0usize..300, 1 => 300usize..6000];
    prop_oneof![
        4 => (any::<bool>(), size).prop_map(|(in_zone, size)| Step::Alloc { in_zone, size }),
        1 => (any::<bool>(), 0usize..200).prop_map(|(in_zone, len)| Step::FillWith { in_zone, len }),
        1 => (any::<bool>(), any::<u64>()).prop_map(|(in_zone, n)| Step::Fmt { in_zone, n }),
        1 => (any::<bool>(), 0u8..3, 0usize..5000)
            .prop_map(|(in_zone, how, len)| Step::Slice { in_zone, how, len }),
        2 => (any::<bool>(), any::<usize>()).prop_map(|(in_zone, pick)| Step::Free { in_zone, pick }),
        2 => (any::<bool>(), any::<usize>(), any::<u8>())
            .prop_map(|(in_zone, pick, seed)| Step::Write { in_zone, pick, seed }),
        1 => (any::<bool>(), any::<usize>(), 0usize..9000)
            .prop_map(|(in_zone, pick, new_len)| Step::Realloc { in_zone, pick, new_len }),
    ]
}

/// Live blocks of one pool and what they must hold.
struct Side<'p> {
    blocks: Vec<(Handle<'p, [u8]>, Vec<u8>)>,
    texts: Vec<(Handle<'p, str>, String)>,
}

impl<'p> Side<'p> {
    fn new() -> Self {
        Side {
            blocks: Vec::new(),
            texts: Vec::new(),
        }
    }

    fn model_size(&self) -> usize {
        self.blocks.iter().map(|(_, b)| b.len()).sum::<usize>()
            + self.texts.iter().map(|(_, t)| t.len()).sum::<usize>()
    }

    fn apply(&mut self, pool: &'p Pool, step: &Step) {
        match *step {
            Step::Alloc { size, .. } => self.blocks.push((pool.alloc(1, size), vec![0; size])),
            Step::FillWith { len, .. } => {
                let values =
                    pool.alloc_slice_fill_with(len, |i| (i as u32).wrapping_mul(2_654_435_761));
                let expected: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
                // Kept as a byte block of the same memory and length.
                let bytes = pool.alloc_slice_copy(&expected);
                pool.free(values);
                self.blocks.push((bytes, expected));
            }
            Step::Slice { how, len, .. } => {
                let expected: Vec<u8> =
                    (0..len).map(|i| (i * 7 + usize::from(how)) as u8).collect();
                let handle = match how {
                    0 => pool.alloc_slice_fill_iter(expected.iter().copied()),
                    1 => pool.alloc_slice_clone(&expected),
                    _ => {
                        let mut filled = pool.alloc_slice_fill_copy(len, 0u8);
                        filled.copy_from_slice(&expected);
                        filled
                    }
                };
                self.blocks.push((handle, expected));
            }
            Step::Fmt { n, .. } => {
                let text = pool.alloc_fmt(format_args!("n={n:x}-{}", n % 7));
                let expected = format!("n={n:x}-{}", n % 7);
                self.texts.push((text, expected));
            }
            Step::Free { pick, .. } => {
                if !self.blocks.is_empty() {
                    let (handle, _) = self.blocks.swap_remove(pick % self.blocks.len());
                    pool.free(handle);
                } else if !self.texts.is_empty() {
                    let (handle, _) = self.texts.swap_remove(pick % self.texts.len());
                    pool.free(handle);
                }
            }
            Step::Realloc { pick, new_len, .. } => {
                if !self.blocks.is_empty() {
                    let n = self.blocks.len();
                    let (handle, expected) = &mut self.blocks[pick % n];
                    pool.realloc(handle, new_len);
                    expected.resize(new_len, 0);
                }
            }
            Step::Write { pick, seed, .. } => {
                if !self.blocks.is_empty() {
                    let n = self.blocks.len();
                    let (handle, expected) = &mut self.blocks[pick % n];
                    for (i, (byte, model)) in handle.iter_mut().zip(expected.iter_mut()).enumerate()
                    {
                        *byte = seed.wrapping_add(i as u8);
                        *model = *byte;
                    }
                }
            }
        }
    }

    fn check(&self, pool: &Pool, what: &str) -> Result<(), TestCaseError> {
        for (handle, expected) in &self.blocks {
            prop_assert_eq!(&handle[..], &expected[..], "{} block changed", what);
        }
        for (handle, expected) in &self.texts {
            prop_assert_eq!(&**handle, expected.as_str(), "{} text changed", what);
        }
        prop_assert_eq!(pool.size(), self.model_size(), "{} size", what);
        Ok(())
    }
}

/// Runs one phase in a fresh zone of `pool`.
fn phase<'p>(pool: &'p Pool, outer: &mut Side<'p>, steps: &[Step]) -> Result<(), TestCaseError> {
    let zone = pool.zone();
    let mut inner = Side::new();
    for step in steps {
        let in_zone = match step {
            Step::Alloc { in_zone, .. }
            | Step::FillWith { in_zone, .. }
            | Step::Fmt { in_zone, .. }
            | Step::Slice { in_zone, .. }
            | Step::Free { in_zone, .. }
            | Step::Write { in_zone, .. }
            | Step::Realloc { in_zone, .. } => *in_zone,
        };
        if in_zone {
            inner.apply(&zone, step);
        } else {
            outer.apply(pool, step);
        }
        inner.check(&zone, "zone")?;
        outer.check(pool, "pool")?;
    }
    drop(inner);
    drop(zone);
    outer.check(pool, "pool after its zone")
}

proptest! {
    #![proptest_config(config(64, 2))]

    #[test]
    fn zones_and_their_pool_agree_with_the_model(
        phases in prop::collection::vec(
            prop::collection::vec(step(), 0..if cfg!(miri) { 12 } else { 40 }),
            1..if cfg!(miri) { 3 } else { 6 },
        )
    ) {
        let pool = Pool::new();
        let mut outer = Side::new();
        for steps in &phases {
            phase(&pool, &mut outer, steps)?;
            // The same zone work again, alone: the spans the last zone gave
            // back serve it, so nothing new is reserved.
            let zone_only: Vec<Step> = steps
                .iter()
                .filter(|s| matches!(s,
                    Step::Alloc { in_zone: true, .. }
                    | Step::FillWith { in_zone: true, .. }
                    | Step::Fmt { in_zone: true, .. }
                    | Step::Slice { in_zone: true, .. }
                    | Step::Free { in_zone: true, .. }
                    | Step::Write { in_zone: true, .. }
                    | Step::Realloc { in_zone: true, .. }))
                .cloned()
                .collect();
            phase(&pool, &mut outer, &zone_only)?;
            let reserved = pool.stats().reserved_bytes;
            phase(&pool, &mut outer, &zone_only)?;
            prop_assert_eq!(pool.stats().reserved_bytes, reserved, "a replayed zone reserved more");
        }
    }
}
