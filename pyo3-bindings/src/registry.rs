//! The blocks one pool handed out through the C API: address → requested
//! size.
//!
//! C callers give back bare pointers. Before the engine sees one, the pool
//! looks its address up here: a pointer from `malloc`, from another pool,
//! from `Pool.alloc` (Python-level blocks are not listed), or one already
//! freed is not found, and is refused without being read or written. The
//! lookup hashes the integer address; nothing behind it is touched.
//!
//! A zero-size request is served by a 1-byte block of the engine, so that it
//! has an address of its own and can be freed; it is listed with size 0, and
//! [`zero_size`](Registry::zero_size) counts those blocks so that the pool's
//! `size` and `stats()` can leave their byte out.
//!
//! Lives inside the pool's locked state, beside the engine.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes one address, for hashbrown (std's `HashMap`), which takes a
/// bucket from the low bits of the hash and a 7-bit tag from the top ones.
///
/// - The low bits keep the blocks' order: `address / 16`, folded with the
///   bits from 2^20 up. Blocks carved one after another from a chunk (the
///   common case: a Doc's tokens, 1e6 blocks kept) land in neighbouring
///   buckets, so that listing them walks the table's memory in order; a
///   strongly mixed hash sends each to a random cache line (a cache miss per
///   block, two thirds of the time of keeping 1e6 blocks, measured). The
///   fold spreads blocks that sit at large power-of-two strides (the system's
///   large blocks, page-aligned but for their header).
/// - The top 7 bits are mixed (a 64×64→128-bit multiply, folded), so that
///   neighbours get different tags and a probe rarely compares keys in vain.
#[derive(Default)]
pub struct AddressHasher(u64);

/// An odd constant with well-spread bits (2^64 / φ).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// The tag bits hashbrown reads.
const TOP7: u64 = 0x7f << 57;

impl Hasher for AddressHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only `usize` keys are hashed here; a byte-wise fallback for
        // completeness.
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let product = u128::from(n).wrapping_mul(u128::from(MIX));
        let mixed = (product as u64) ^ ((product >> 64) as u64);
        let ordered = (n >> 4) ^ (n >> 20);
        self.0 = (ordered & !TOP7) | (mixed & TOP7);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The pool's C-made blocks.
#[derive(Default)]
pub struct Registry {
    /// Address → requested size in bytes.
    blocks: HashMap<usize, usize, BuildHasherDefault<AddressHasher>>,
    /// Listed blocks of size 0 (each a 1-byte block of the engine).
    zero_size: usize,
}

impl Registry {
    /// Makes room for one more block, so that the [`insert`](Self::insert)
    /// that follows a successful allocation cannot fail or allocate.
    /// `false` if the system refused the memory.
    #[inline]
    pub fn reserve_one(&mut self) -> bool {
        self.blocks.try_reserve(1).is_ok()
    }

    /// The requested size of a listed block.
    #[inline]
    pub fn get(&self, address: usize) -> Option<usize> {
        self.blocks.get(&address).copied()
    }

    /// Lists a block. Call [`reserve_one`](Self::reserve_one) first.
    #[inline]
    pub fn insert(&mut self, address: usize, size: usize) {
        if size == 0 {
            self.zero_size += 1;
        }
        self.blocks.insert(address, size);
    }

    /// Unlists a block, giving its requested size.
    #[inline]
    pub fn remove(&mut self, address: usize) -> Option<usize> {
        let size = self.blocks.remove(&address)?;
        if size == 0 {
            self.zero_size -= 1;
        }
        Some(size)
    }

    /// Moves or resizes a listed block (a successful realloc). Call
    /// [`reserve_one`](Self::reserve_one) first: a move lists a new address.
    #[inline]
    pub fn replace(&mut self, old: usize, new: usize, size: usize) {
        if old == new {
            if let Some(listed) = self.blocks.get_mut(&old) {
                let was = std::mem::replace(listed, size);
                self.zero_size = self.zero_size + usize::from(size == 0) - usize::from(was == 0);
                return;
            }
        }
        self.remove(old);
        self.insert(new, size);
    }

    /// Listed blocks of size 0: the bytes the engine counts for them and the
    /// pool does not.
    #[inline]
    pub fn zero_size(&self) -> usize {
        self.zero_size
    }

    /// Listed blocks.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_unlists() {
        let mut registry = Registry::default();
        assert!(registry.reserve_one());
        registry.insert(0x1000, 24);
        assert!(registry.reserve_one());
        registry.insert(0x1010, 0);
        assert_eq!(registry.get(0x1000), Some(24));
        assert_eq!(registry.get(0x1020), None);
        assert_eq!(registry.zero_size(), 1);
        assert!(registry.reserve_one());
        registry.replace(0x1000, 0x1000, 0); // in place, to zero size
        assert_eq!((registry.zero_size(), registry.get(0x1000)), (2, Some(0)));
        registry.replace(0x1000, 0x1000, 24);
        assert_eq!((registry.zero_size(), registry.get(0x1000)), (1, Some(24)));
        registry.replace(0x1010, 0x2000, 8);
        assert_eq!((registry.zero_size(), registry.get(0x2000)), (0, Some(8)));
        assert_eq!(registry.remove(0x1010), None);
        assert_eq!(registry.remove(0x2000), Some(8));
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn neighbours_keep_their_order_and_differ_in_their_tags() {
        let hash = |address: usize| {
            let mut hasher = AddressHasher::default();
            hasher.write_usize(address);
            hasher.finish()
        };
        let base = 0x7f12_3450_0000;
        // 256 neighbouring 16-byte blocks fill one aligned run of 256
        // buckets (the same bits above the low 8), each tagged apart.
        let bucket = |address: usize| hash(address) & ((1 << 20) - 1);
        let low: std::collections::HashSet<u64> =
            (0..256).map(|i| bucket(base + 16 * i) & 0xff).collect();
        let high: std::collections::HashSet<u64> =
            (0..256).map(|i| bucket(base + 16 * i) >> 8).collect();
        let top: std::collections::HashSet<u64> =
            (0..256).map(|i| hash(base + 16 * i) >> 57).collect();
        assert_eq!((low.len(), high.len()), (256, 1));
        assert!(top.len() > 64, "{}", top.len());
        // Page-strided large blocks (header 16 bytes in) still spread over
        // the low byte of the bucket index.
        let strided: std::collections::HashSet<u64> = (0..256)
            .map(|i| hash(base + (1 << 20) * i + 4096 * (i % 3) + 16) & 0xff)
            .collect();
        assert!(strided.len() > 128, "{}", strided.len());
    }
}
