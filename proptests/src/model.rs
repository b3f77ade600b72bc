//! The model: what a pool must hold after every operation, in plain Rust.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::ops::Elem;

/// What kind of allocation a live block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// From the byte API (`alloc(number, elem_size)`): aligned to 16.
    Bytes,
    /// From `alloc_slice_zeroed` of `Elem`.
    Typed(Elem),
    /// From `alloc_value`: a [`Counted`] with this id.
    Value(u64),
}

/// One live allocation as the model sees it.
#[derive(Clone, Debug)]
pub struct ModelBlock {
    /// Its kind.
    pub kind: BlockKind,
    /// The bytes it must hold (zero when new or grown).
    pub bytes: Vec<u8>,
    /// A number unique to this allocation, mixed into written patterns so
    /// that two blocks never hold the same bytes by accident.
    pub serial: u64,
    /// Whether the block may hold capacity beyond its bytes: a block that
    /// grew from the small range into the large one may have been given
    /// room to double (the engine's choice, and mapping's), so how much
    /// memory its next growth takes is not the model's to say.
    pub capacity_unknown: bool,
}

impl ModelBlock {
    /// The alignment the block must have.
    pub fn align(&self) -> usize {
        match self.kind {
            BlockKind::Bytes => 16,
            BlockKind::Typed(elem) => elem.size(),
            BlockKind::Value(_) => core::mem::align_of::<Counted>(),
        }
    }
}

/// A drop-counting value: records its id in the shared log when dropped.
pub struct Counted {
    /// Which value this is.
    pub id: u64,
    /// Bytes the harness writes and checks.
    pub payload: [u8; 24],
    log: Arc<DropLog>,
}

impl Counted {
    /// A new value with an all-zero payload.
    pub fn new(id: u64, log: &Arc<DropLog>) -> Self {
        Counted {
            id,
            payload: [0; 24],
            log: log.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.log.record(self.id);
    }
}

/// How often each value was dropped.
#[derive(Default)]
pub struct DropLog(Mutex<BTreeMap<u64, u32>>);

impl DropLog {
    fn record(&self, id: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default() += 1;
    }

    /// A copy of the counts.
    pub fn counts(&self) -> BTreeMap<u64, u32> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The model of one pool: its live allocations, in the order the harness
/// keeps its handles, and the values that must have been dropped.
#[derive(Debug, Default)]
pub struct Model {
    /// Live allocations.
    pub blocks: Vec<ModelBlock>,
    /// Ids of values whose destructor must have run (exactly once).
    pub dropped: BTreeMap<u64, u32>,
    /// The pool's limit.
    pub limit: Option<usize>,
    next_serial: u64,
}

impl Model {
    /// An empty pool with `limit`.
    pub fn new(limit: Option<usize>) -> Self {
        Model {
            limit,
            ..Model::default()
        }
    }

    /// A fresh serial number.
    pub fn serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
    }

    /// Live requested bytes: what `size()` must say.
    pub fn live_bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| match b.kind {
                BlockKind::Value(_) => core::mem::size_of::<Counted>(),
                _ => b.bytes.len(),
            })
            .sum()
    }

    /// Records that the block at `index` is freed (its value dropped).
    pub fn free(&mut self, index: usize) -> ModelBlock {
        let block = self.blocks.remove(index);
        if let BlockKind::Value(id) = block.kind {
            *self.dropped.entry(id).or_default() += 1;
        }
        block
    }

    /// As [`free`](Self::free), moving the last block into `index` (the
    /// order the pool side's `swap_remove` leaves its handles in).
    pub fn swap_free(&mut self, index: usize) -> ModelBlock {
        let last = self.blocks.len() - 1;
        self.blocks.swap(index, last);
        self.free(last)
    }

    /// Records that everything live is freed (reset or drop of the pool).
    pub fn free_all(&mut self) {
        while !self.blocks.is_empty() {
            self.free(self.blocks.len() - 1);
        }
    }

    /// An empty model of the same pool for `worker` to keep while threads
    /// run at once: serial numbers (and so value ids) from a range of its
    /// own, disjoint from this model's and every other worker's.
    pub fn fork(&self, worker: usize) -> Model {
        Model {
            limit: self.limit,
            next_serial: self.next_serial + ((worker as u64 + 1) << 40),
            ..Model::default()
        }
    }

    /// Takes over the blocks and drops of a [`fork`](Self::fork)ed model;
    /// its blocks come after this model's, in their order.
    pub fn join(&mut self, other: Model) {
        self.blocks.extend(other.blocks);
        for (id, n) in other.dropped {
            *self.dropped.entry(id).or_default() += n;
        }
        self.next_serial = self.next_serial.max(other.next_serial);
    }
}

/// The pattern written into a block: distinct per block, seed and offset.
pub fn pattern(serial: u64, seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (serial as u8).wrapping_mul(31) ^ seed ^ (i as u8).wrapping_mul(7) ^ (i >> 8) as u8 | 1
        })
        .collect()
}
