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

/// Hashes one address: a 64×64→128-bit multiply folded to 64 bits, so that
/// both the low bits (hashbrown's bucket index) and the top 7 (its control
/// byte) depend on every bit of the address. Block addresses are multiples
/// of 16 and close together: the identity hash would leave the low bits
/// zero, and SipHash (std's default) costs several times more.
#[derive(Default)]
pub struct AddressHasher(u64);

/// An odd constant with well-spread bits (2^64 / φ).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for AddressHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only `usize` keys are hashed here; a byte-wise fallback for
        // completeness.
        for &byte in bytes {
            self.write_u64(self.0 ^ u64::from(byte));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let product = u128::from(n ^ self.0).wrapping_mul(u128::from(MIX));
        self.0 = (product as u64) ^ ((product >> 64) as u64);
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
        registry.replace(0x1010, 0x2000, 8);
        assert_eq!((registry.zero_size(), registry.get(0x2000)), (0, Some(8)));
        assert_eq!(registry.remove(0x1010), None);
        assert_eq!(registry.remove(0x2000), Some(8));
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn neighbouring_addresses_spread() {
        let hash = |address: usize| {
            let mut hasher = AddressHasher::default();
            hasher.write_usize(address);
            hasher.finish()
        };
        // 16-byte neighbours differ in their low bits and their top 7 bits.
        let low: std::collections::HashSet<u64> = (0..256)
            .map(|i| hash(0x7f00_0000_0000 + 16 * i) & 0xff)
            .collect();
        let top: std::collections::HashSet<u64> = (0..256)
            .map(|i| hash(0x7f00_0000_0000 + 16 * i) >> 57)
            .collect();
        assert!(
            low.len() > 128 && top.len() > 64,
            "{} {}",
            low.len(),
            top.len()
        );
    }
}
