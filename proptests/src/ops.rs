//! The operation language, its proptest strategies, and a decoder from raw
//! bytes (for the fuzz target).

use proptest::prelude::*;

/// Element types of typed allocations, one per alignment from 1 to 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `u8`, aligned to 1.
    U8,
    /// `u16`, aligned to 2.
    U16,
    /// `u32`, aligned to 4.
    U32,
    /// `u64`, aligned to 8.
    U64,
    /// 16 bytes aligned to 16.
    A16,
    /// 32 bytes aligned to 32.
    A32,
    /// 64 bytes aligned to 64.
    A64,
}

impl Elem {
    /// Every element type.
    pub const ALL: [Elem; 7] = [
        Elem::U8,
        Elem::U16,
        Elem::U32,
        Elem::U64,
        Elem::A16,
        Elem::A32,
        Elem::A64,
    ];

    /// Size (and alignment) in bytes.
    pub fn size(self) -> usize {
        match self {
            Elem::U8 => 1,
            Elem::U16 => 2,
            Elem::U32 => 4,
            Elem::U64 => 8,
            Elem::A16 => 16,
            Elem::A32 => 32,
            Elem::A64 => 64,
        }
    }
}

/// One step of a test. Indices (`pick`) choose a live allocation modulo
/// their number, so every sequence is valid and shrinks well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// cymem's `alloc(number, elem_size)`: zeroed bytes.
    Alloc {
        /// Elements.
        number: usize,
        /// Bytes per element.
        elem_size: usize,
    },
    /// `alloc_slice_zeroed::<elem>(len)`.
    AllocTyped {
        /// The element type (and so the alignment).
        elem: Elem,
        /// Elements.
        len: usize,
    },
    /// `alloc_value` of a value that records its drop.
    AllocValue,
    /// Free a live allocation.
    Free {
        /// Which one.
        pick: usize,
    },
    /// Resize a live slice allocation to `new_len` elements.
    Realloc {
        /// Which one.
        pick: usize,
        /// The new length in elements (bytes for byte blocks).
        new_len: usize,
    },
    /// Overwrite a live allocation with a pattern unique to it and `seed`.
    Write {
        /// Which one.
        pick: usize,
        /// Varies the pattern.
        seed: u8,
    },
    /// `reset` the pool: every handle is gone.
    Reset,
    /// Drop the pool and make a new one with this limit.
    Recreate {
        /// The new pool's byte limit.
        limit: Option<usize>,
    },
}

/// Sizes of the harness: small most likely, up past the large-block range.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// The largest ordinary request (bytes).
    pub max: usize,
}

impl Sizes {
    /// Native runs: up to 20 000 bytes (the small range ends at 4 096).
    pub const NATIVE: Sizes = Sizes { max: 20_000 };
    /// Miri runs: large blocks still appear, but stay cheap to interpret.
    pub const MIRI: Sizes = Sizes { max: 6_000 };

    /// The sizes for this build.
    pub fn for_build() -> Sizes {
        if cfg!(miri) {
            Sizes::MIRI
        } else {
            Sizes::NATIVE
        }
    }
}

/// A request size in bytes: zero sometimes, mostly small, some around the
/// class and large-block boundaries, some large.
pub fn size(sizes: Sizes) -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => Just(0usize),
        40 => 1usize..=64,
        20 => 65usize..=512,
        12 => 513usize..=4096,
        6 => prop::sample::select(vec![15usize, 16, 17, 31, 32, 33, 511, 512, 513, 4095, 4096, 4097]),
        10 => 4097usize..=sizes.max,
    ]
}

/// Requests no allocator can serve: a petabyte. (Not under Miri, which
/// stops on such a request instead of refusing it.)
pub const PETABYTE: (usize, usize) = if cfg!(miri) {
    (1 << 62, 8)
} else {
    (1 << 20, 1 << 30)
};

/// A valid but unservable length for `Realloc` (a petabyte; under Miri one
/// past `isize::MAX`, refused before any allocation).
pub const HUGE_LEN: usize = if cfg!(miri) { usize::MAX / 2 } else { 1 << 50 };

/// Sizes whose product overflows or passes `isize::MAX`, or that no
/// allocator can serve.
pub fn absurd() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        Just((1usize << 62, 8usize)),
        Just((usize::MAX, 2)),
        Just((1, usize::MAX)),
        Just((1, isize::MAX as usize)),
        Just(PETABYTE),
        (1usize << 33..1 << 40, 1usize << 31..1 << 40),
    ]
}

/// A limit for a recreated pool.
pub fn limit() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(0)),
        1 => Just(Some(1_000)),
        2 => Just(Some(64 * 1024)),
        2 => Just(Some(300 * 1024)),
    ]
}

/// One operation, with realistic and nasty distributions.
pub fn op(sizes: Sizes) -> impl Strategy<Value = Op> {
    let elem = prop::sample::select(Elem::ALL.to_vec());
    prop_oneof![
        25 => size(sizes).prop_map(|elem_size| Op::Alloc { number: 1, elem_size }),
        5 => (0usize..10, 0usize..=400).prop_map(|(number, elem_size)| Op::Alloc { number, elem_size }),
        2 => absurd().prop_map(|(number, elem_size)| Op::Alloc { number, elem_size }),
        10 => (elem, 0usize..=80).prop_map(|(elem, len)| Op::AllocTyped { elem, len }),
        6 => Just(Op::AllocValue),
        18 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        14 => (any::<usize>(), size(sizes)).prop_map(|(pick, new_len)| Op::Realloc { pick, new_len }),
        1 => (any::<usize>(), prop::sample::select(vec![usize::MAX, usize::MAX / 2, HUGE_LEN]))
            .prop_map(|(pick, new_len)| Op::Realloc { pick, new_len }),
        12 => (any::<usize>(), any::<u8>()).prop_map(|(pick, seed)| Op::Write { pick, seed }),
        1 => Just(Op::Reset),
        1 => limit().prop_map(|limit| Op::Recreate { limit }),
    ]
}

/// A sequence of up to `max_len` operations.
pub fn ops(sizes: Sizes, max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(sizes), 0..=max_len)
}

/// Decodes raw bytes (a fuzzer's input) into operations: every byte string
/// is a valid program.
pub fn decode(mut data: &[u8], sizes: Sizes) -> Vec<Op> {
    let mut ops = Vec::new();
    while !data.is_empty() {
        ops.push(decode_op(&mut data, sizes));
    }
    ops
}

/// The next `N` bytes of `data` (zero past its end), consumed.
pub fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

/// The next little-endian `u16` of `data`, consumed.
pub fn take_word(data: &mut &[u8]) -> usize {
    u16::from_le_bytes(take::<2>(data)) as usize
}

/// Decodes one operation from the front of `data` and consumes its bytes
/// (an empty `data` decodes as zeros).
pub fn decode_op(data: &mut &[u8], sizes: Sizes) -> Op {
    let [tag] = take::<1>(data);
    match tag % 16 {
        0..=3 => Op::Alloc {
            number: 1,
            elem_size: take_word(data) % (sizes.max + 1),
        },
        4 => {
            let [number] = take::<1>(data);
            Op::Alloc {
                number: number as usize % 10,
                elem_size: take_word(data) % 401,
            }
        }
        5 => {
            let [which] = take::<1>(data);
            let absurd = [
                (1usize << 62, 8usize),
                (usize::MAX, 2),
                (1, usize::MAX),
                (1, isize::MAX as usize),
                PETABYTE,
            ];
            let (number, elem_size) = absurd[which as usize % absurd.len()];
            Op::Alloc { number, elem_size }
        }
        6 | 7 => {
            let [e, len] = take::<2>(data);
            Op::AllocTyped {
                elem: Elem::ALL[e as usize % Elem::ALL.len()],
                len: len as usize % 81,
            }
        }
        8 => Op::AllocValue,
        9 | 10 => Op::Free {
            pick: take_word(data),
        },
        11 | 12 => Op::Realloc {
            pick: take_word(data),
            new_len: take_word(data) % (sizes.max + 1),
        },
        13 => {
            let pick = take_word(data);
            let [seed] = take::<1>(data);
            Op::Write { pick, seed }
        }
        14 => Op::Reset,
        _ => {
            let [l] = take::<1>(data);
            let limit = [
                None,
                Some(0),
                Some(1_000),
                Some(64 * 1024),
                Some(300 * 1024),
            ][l as usize % 5];
            Op::Recreate { limit }
        }
    }
}
