//! The blocks one lane handed out through the C API: address → requested
//! size, kept in the lane's own engine memory.
//!
//! C callers give back bare pointers. Before the engine sees one, the lane
//! looks its address up here: a pointer from `malloc`, from another pool,
//! from `Pool.alloc` (Python-level blocks are not listed), one into the
//! middle of a block, or one already freed is not found, and is refused
//! without being read or written. The lookup only does arithmetic on the
//! integer address and reads the registry's own memory.
//!
//! # Layout: a two-level table
//!
//! ```text
//!   address:  [ region: bits 12 and up | granule: bits 4..12 | 0000 ]
//!
//!   regions (hash map, one entry per 4 KiB region holding C blocks)
//!      │
//!      ▼
//!   leaf: 256 × u32, one per 16-byte granule  + live count
//!         0 = no C block starts here, n = a block of n − 1 bytes,
//!         u32::MAX = a block of 4 GiB or more (its size in `huge`)
//! ```
//!
//! Every block is 16-aligned, so each granule holds at most one block start.
//! A leaf is 1 KiB of *engine* memory (one block of the lane's own engine), so the registry's memory counts in the pool's `reserved_bytes`,
//! `total_reserved()` and its limit, and goes with the pool; the lane's
//! `size` and `stats()` leave the leaves out of the live counts
//! ([`Registry::leaf_bytes`], [`Registry::leaves`]). The last leaf used is
//! cached: blocks carved one after another from a chunk (a Doc's tokens,
//! 1e6 blocks kept) find it with one compare, and listing a block is one
//! store into memory that its neighbours' entries already brought into
//! cache. A hash entry per block (the previous design) cost a cache miss per
//! block and ~36 bytes per block, uncounted.
//!
//! Overhead: 4 bytes per 16 bytes of a region that holds a C block (25% at
//! worst, for regions sparsely used). Regions are 4 KiB, so that a pool of
//! one small document — spaCy makes one per `Doc`, through the cymem switch
//! — pays about 1 KiB for its registry: with 64 KiB regions a leaf was
//! 16 KiB, and a `Doc` of ten words held 25 KB instead of 8.4 KB (measured,
//! 1,000 documents of `spacy.blank("en")`). Sequentially carved blocks still
//! find their leaf in the cache of the last one, 255 times in 256 for 16-byte
//! blocks. A leaf whose last block goes is kept
//! for reuse while the lane keeps at most [`SPARE_LEAVES`] empty ones, and
//! freed beyond that, so that an alloc/free loop never allocates a leaf per
//! call and emptied regions do not hold leaves for ever.
//!
//! A zero-size request is served by a 1-byte block of the engine, so that it
//! has an address of its own and can be freed; it is listed with size 0, and
//! [`zero_size`](Registry::zero_size) counts those blocks so that the pool's
//! `size` and `stats()` can leave their byte out.

use std::alloc::Layout;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;

use arenapool::raw::RawPool;
use arenapool::AllocError;

/// log2 of a region's size in bytes.
const REGION_SHIFT: u32 = 12;
/// Granules (16-byte slots) per region: entries per leaf.
const SLOTS: usize = 1 << (REGION_SHIFT - 4);
/// Empty leaves a lane keeps for reuse before it frees them.
pub const SPARE_LEAVES: usize = 4;
/// The entry of a block whose size does not fit in 32 bits.
const HUGE: u32 = u32::MAX;

/// A leaf's alignment: above the engine's small-block alignment, so that a
/// leaf is a large block of the engine, out of its arena. A leaf carved from
/// the arena would sit right after the block it was made for, and that
/// block, no longer the arena's newest, could not grow in place (a `TokenC`
/// array grown token by token, the C API's and cymem's main pattern).
const LEAF_ALIGN: usize = arenapool::raw::SMALL_MAX_ALIGN * 2;

/// A leaf: `SLOTS` entries, then the count of non-zero ones.
fn leaf_layout() -> Layout {
    // SAFETY: 1 KiB + 16 bytes (far below `isize::MAX` when rounded up to
    // the alignment), aligned to a power of two: a valid layout.
    unsafe { Layout::from_size_align_unchecked((SLOTS + 4) * 4, LEAF_ALIGN) }
}

/// Hashes a region number (already a well-spread integer: consecutive
/// regions get consecutive buckets) with one multiply for the tag bits.
#[derive(Default)]
pub struct RegionHasher(u64);

impl Hasher for RegionHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) & (0x7f << 57);
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

/// A map that could not grow.
fn map_refused(_: std::collections::TryReserveError) -> AllocError {
    AllocError::OutOfMemory {
        size: std::mem::size_of::<(usize, usize)>(),
        align: std::mem::align_of::<usize>(),
    }
}

/// Where an address's entry lives.
#[inline]
fn split(address: usize) -> (usize, usize) {
    (address >> REGION_SHIFT, (address >> 4) & (SLOTS - 1))
}

/// How many blocks a registry lists in its own fields before it needs
/// leaves.
const FEW: usize = 8;

/// One lane's C-made blocks.
#[derive(Default)]
pub struct Registry {
    /// The first blocks, as (address, size), `few_len` of them, until more
    /// than [`FEW`] are listed at once: most pools that spaCy makes through
    /// the cymem switch hold one to a few blocks (a `Doc`'s token array), and
    /// a leaf and a map table for them cost two system allocations and
    /// frees per pool (a `Doc`'s pool took 521 ns to make, fill and drop,
    /// cymem's 158).
    few: [(usize, usize); FEW],
    few_len: usize,
    /// True once the blocks are listed in leaves (for good).
    leafy: bool,
    /// Region → its leaf (a live block of the lane's engine, `leaf_layout`).
    leaves: HashMap<usize, NonNull<u32>, BuildHasherDefault<RegionHasher>>,
    /// The leaf used last.
    last: Option<(usize, NonNull<u32>)>,
    /// A leaf for the next new region (see [`reserve`](Self::reserve)).
    spare: Option<NonNull<u32>>,
    /// Sizes of listed blocks of `u32::MAX - 1` bytes or more.
    huge: HashMap<usize, usize>,
    /// Listed blocks of size 0 (each a 1-byte block of the engine).
    zero_size: usize,
    /// Leaves with no entry, kept for reuse.
    empty: usize,
}

// SAFETY: the leaf pointers are blocks of the lane's engine, used only by
// whoever holds the lane (its lock); nothing ties them to a thread.
unsafe impl Send for Registry {}

impl Registry {
    /// The leaf of `region`, if it has one.
    #[inline]
    fn leaf(&mut self, region: usize) -> Option<NonNull<u32>> {
        if let Some((last, leaf)) = self.last {
            if last == region {
                return Some(leaf);
            }
        }
        let leaf = *self.leaves.get(&region)?;
        self.last = Some((region, leaf));
        Some(leaf)
    }

    /// The entry of granule `slot` (< `SLOTS`) of `leaf`, or its count
    /// (`slot == SLOTS`).
    #[inline]
    fn cell(leaf: NonNull<u32>, slot: usize) -> *mut u32 {
        debug_assert!(slot <= SLOTS);
        // SAFETY: a leaf holds `SLOTS + 4` entries; `slot <= SLOTS`.
        unsafe { leaf.as_ptr().add(slot) }
    }

    /// The requested size of a listed block. Reads only the registry.
    #[inline]
    pub fn get(&mut self, address: usize) -> Option<usize> {
        if address % 16 != 0 {
            return None; // every block is 16-aligned
        }
        if !self.leafy {
            return self.few_index(address).map(|i| self.few[i].1);
        }
        let (region, slot) = split(address);
        let leaf = self.leaf(region)?;
        // SAFETY: a live leaf of this registry (only its holder uses it).
        match unsafe { *Self::cell(leaf, slot) } {
            0 => None,
            HUGE => self.huge.get(&address).copied(),
            entry => Some(entry as usize - 1),
        }
    }

    /// Where `address` is among the few entries.
    #[inline]
    fn few_index(&self, address: usize) -> Option<usize> {
        self.few
            .iter()
            .take(self.few_len)
            .position(|&(listed, _)| listed == address)
    }

    /// Moves the few entries into leaves, made first for every region they
    /// use, so that on an error nothing changed.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, raw: &mut RawPool) -> Result<(), AllocError> {
        let few = self.few;
        let few = few.get(..self.few_len).unwrap_or_default();
        self.leaves.try_reserve(FEW + 1).map_err(map_refused)?;
        let huge = few
            .iter()
            .filter(|&&(_, size)| size >= (HUGE - 1) as usize)
            .count();
        self.huge.try_reserve(huge + 1).map_err(map_refused)?;
        let mut made: [Option<(usize, NonNull<u32>)>; FEW] = [None; FEW];
        for (i, &(address, _)) in few.iter().enumerate() {
            let (region, _) = split(address);
            if made.iter().flatten().any(|&(known, _)| known == region) {
                continue;
            }
            match raw.alloc(leaf_layout()) {
                Ok(leaf) => made[i] = Some((region, leaf.cast())),
                Err(err) => {
                    for &(_, leaf) in made.iter().flatten() {
                        // SAFETY: a leaf just made by `raw` with
                        // `leaf_layout`, listed nowhere; freed once.
                        unsafe { raw.dealloc(leaf.cast(), leaf_layout()) };
                    }
                    return Err(err);
                }
            }
        }
        // Nothing can fail from here on: room was made above.
        for &(region, leaf) in made.iter().flatten() {
            self.leaves.insert(region, leaf);
            self.empty += 1; // zeroed: no entry yet
        }
        self.leafy = true;
        self.few_len = 0;
        let zero_size = self.zero_size;
        for &(address, size) in few {
            self.insert(address, size); // each region has its leaf
        }
        self.zero_size = zero_size; // counted when first listed
        Ok(())
    }

    /// Makes sure a block of `size` bytes at `address` can be listed: its
    /// region's leaf (the spare, or a new block of `raw`, the lane's engine,
    /// only if the region has none) and room in the maps. Then
    /// [`insert`](Self::insert) there can neither fail nor allocate. On an
    /// error nothing changed but spare capacity.
    #[inline]
    pub fn prepare(
        &mut self,
        raw: &mut RawPool,
        address: usize,
        size: usize,
    ) -> Result<(), AllocError> {
        if !self.leafy {
            if self.few_len < FEW {
                return Ok(());
            }
            self.spill(raw)?;
        }
        if size >= (HUGE - 1) as usize {
            self.huge.try_reserve(1).map_err(map_refused)?;
        }
        let (region, _) = split(address);
        if self.leaf(region).is_some() {
            return Ok(());
        }
        self.leaves.try_reserve(1).map_err(map_refused)?;
        if self.spare.is_none() {
            self.spare = Some(raw.alloc(leaf_layout())?.cast::<u32>());
        }
        Ok(())
    }

    /// As [`prepare`](Self::prepare) for an address not known yet (a block
    /// that `realloc` may move): a spare leaf and room in the maps, so that
    /// an `insert` anywhere cannot fail or allocate. `Ok(true)` if the spare
    /// was made by this call (see [`drop_spare`](Self::drop_spare)).
    pub fn prepare_anywhere(&mut self, raw: &mut RawPool, size: usize) -> Result<bool, AllocError> {
        if !self.leafy {
            if self.few_len < FEW {
                return Ok(false);
            }
            self.spill(raw)?;
        }
        self.leaves.try_reserve(1).map_err(map_refused)?;
        if size >= (HUGE - 1) as usize {
            self.huge.try_reserve(1).map_err(map_refused)?;
        }
        if self.spare.is_some() {
            return Ok(false);
        }
        self.spare = Some(raw.alloc(leaf_layout())?.cast::<u32>());
        Ok(true)
    }

    /// Frees the spare leaf into `raw` (after a failed call that made it,
    /// so that the call leaves the pool's stats as they were).
    pub fn drop_spare(&mut self, raw: &mut RawPool) {
        if let Some(spare) = self.spare.take() {
            // SAFETY: the spare is a live block of `raw` made with
            // `leaf_layout`, listed nowhere; freed once (taken out above).
            unsafe { raw.dealloc(spare.cast(), leaf_layout()) };
        }
    }

    /// Lists a block; call [`prepare`](Self::prepare) for it (or
    /// [`prepare_anywhere`](Self::prepare_anywhere)) first, with at most a
    /// [`remove`](Self::remove) in between after `prepare_anywhere`.
    #[inline]
    pub fn insert(&mut self, address: usize, size: usize) {
        if !self.leafy {
            match self.few.get_mut(self.few_len) {
                Some(entry) => *entry = (address, size),
                None => {
                    debug_assert!(false, "insert without prepare");
                    return;
                }
            }
            self.few_len += 1;
            self.zero_size += usize::from(size == 0);
            return;
        }
        let (region, slot) = split(address);
        let leaf = match self.leaf(region) {
            Some(leaf) => leaf,
            None => {
                let Some(leaf) = self.spare.take() else {
                    debug_assert!(false, "insert without prepare");
                    return;
                };
                // `prepare` made room: no allocation.
                self.leaves.insert(region, leaf);
                self.last = Some((region, leaf));
                self.empty += 1; // zeroed, or emptied: no entry yet
                leaf
            }
        };
        let entry = match u32::try_from(size) {
            Ok(size) if size < HUGE - 1 => size + 1,
            _ => {
                self.huge.insert(address, size); // room made by `prepare`
                HUGE
            }
        };
        // SAFETY: a live leaf of this registry; `slot < SLOTS`.
        unsafe {
            let count = Self::cell(leaf, SLOTS);
            if *count == 0 {
                self.empty -= 1;
            }
            *count += 1;
            *Self::cell(leaf, slot) = entry;
        }
        if size == 0 {
            self.zero_size += 1;
        }
    }

    /// Lists a block of `size` bytes at `address` if that needs no room
    /// made: a free place among the few entries, or the leaf used last
    /// already holding an entry of the address's region. `false`, with
    /// nothing changed, otherwise: the caller then goes the long way
    /// ([`prepare`](Self::prepare), then [`insert`](Self::insert)).
    #[inline(always)]
    pub fn insert_fast(&mut self, address: usize, size: usize) -> bool {
        if size >= (HUGE - 1) as usize {
            return false;
        }
        if !self.leafy {
            let Some(entry) = self.few.get_mut(self.few_len) else {
                return false;
            };
            *entry = (address, size);
            self.few_len += 1;
            self.zero_size += usize::from(size == 0);
            return true;
        }
        let (region, slot) = split(address);
        let Some((last, leaf)) = self.last else {
            return false;
        };
        if last != region {
            return false;
        }
        // SAFETY: the last leaf used is a live leaf of this registry (it is
        // forgotten when its leaf goes); `slot < SLOTS`.
        unsafe {
            let count = Self::cell(leaf, SLOTS);
            if *count == 0 {
                return false; // an empty leaf: `insert` counts it out
            }
            *count += 1;
            *Self::cell(leaf, slot) = size as u32 + 1;
        }
        self.zero_size += usize::from(size == 0);
        true
    }

    /// Looks a block of at most `max` bytes up and unlists it in one go,
    /// if that is quick: among the few entries, or in the leaf used last
    /// where the block is not its last entry. `None`, with nothing changed,
    /// otherwise — for a block that is not listed too: the caller then goes
    /// the long way ([`get`](Self::get), then [`remove`](Self::remove)).
    /// Reads only the registry.
    #[inline(always)]
    pub fn take_fast(&mut self, address: usize, max: usize) -> Option<usize> {
        if address % 16 != 0 {
            return None; // every block is 16-aligned
        }
        if !self.leafy {
            let i = self.few_index(address)?;
            let size = self.few[i].1;
            if size > max {
                return None;
            }
            self.few_len -= 1;
            self.few.swap(i, self.few_len);
            self.zero_size -= usize::from(size == 0);
            return Some(size);
        }
        let (region, slot) = split(address);
        let (last, leaf) = self.last?;
        if last != region {
            return None;
        }
        // SAFETY: as in `insert_fast`.
        unsafe {
            let entry = *Self::cell(leaf, slot);
            let count = Self::cell(leaf, SLOTS);
            if entry == 0 || entry == HUGE || entry as usize - 1 > max || *count == 1 {
                return None; // not listed, too large, or the leaf's last entry
            }
            *count -= 1;
            *Self::cell(leaf, slot) = 0;
            let size = entry as usize - 1;
            self.zero_size -= usize::from(size == 0);
            Some(size)
        }
    }

    /// Unlists a listed block of `size` bytes (as [`get`](Self::get) just
    /// gave it); frees its leaf into `raw` if that leaves more than
    /// [`SPARE_LEAVES`] empty ones. A block not listed is left alone.
    #[inline]
    pub fn remove(&mut self, raw: &mut RawPool, address: usize, size: usize) {
        if !self.leafy {
            let Some(i) = self.few_index(address) else {
                debug_assert!(false, "remove of a block not listed");
                return;
            };
            self.few_len -= 1;
            self.few.swap(i, self.few_len);
            self.zero_size -= usize::from(size == 0);
            return;
        }
        let (region, slot) = split(address);
        let Some(leaf) = self.leaf(region) else {
            return;
        };
        // SAFETY: a live leaf of this registry; `slot < SLOTS`.
        if unsafe { *Self::cell(leaf, slot) } == 0 {
            debug_assert!(false, "remove of a block not listed");
            return;
        }
        if size >= (HUGE - 1) as usize {
            self.huge.remove(&address);
        }
        if size == 0 {
            self.zero_size -= 1;
        }
        // SAFETY: a live leaf of this registry; `slot < SLOTS`; the entry is
        // non-zero (checked above), so the count is at least 1.
        let emptied = unsafe {
            *Self::cell(leaf, slot) = 0;
            let count = Self::cell(leaf, SLOTS);
            *count -= 1;
            *count == 0
        };
        if emptied {
            self.empty += 1;
            if self.empty > SPARE_LEAVES {
                self.empty -= 1;
                self.leaves.remove(&region);
                if self.last.is_some_and(|(last, _)| last == region) {
                    self.last = None;
                }
                if self.spare.is_none() {
                    // All its entries are zero again: a spare as good as new.
                    self.spare = Some(leaf);
                } else {
                    // SAFETY: the leaf is a live block of `raw` made with
                    // `leaf_layout` (in `prepare`), now unlisted, freed once.
                    unsafe { raw.dealloc(leaf.cast(), leaf_layout()) };
                }
            }
        }
    }

    /// Lists a block resized from `old_size` bytes at `old` (listed, as
    /// [`get`](Self::get) gave it) to `new_size` bytes at `new`; call
    /// [`prepare_anywhere`](Self::prepare_anywhere) (or
    /// [`prepare`](Self::prepare) for `new`) first.
    ///
    /// A block resized in place keeps its entry (only the size changes); a
    /// moved one is listed at its new address before it leaves the old, so
    /// that a leaf is never emptied and freed just to be made again. A
    /// remove-then-insert at one address did that at every step of an
    /// array grown in place once spare leaves were used up: a leaf freed
    /// and allocated per step, 100+ ns of a `realloc` that should cost 30.
    pub fn relist(
        &mut self,
        raw: &mut RawPool,
        old: usize,
        old_size: usize,
        new: usize,
        new_size: usize,
    ) {
        if !self.leafy {
            let Some(i) = self.few_index(old) else {
                debug_assert!(false, "relist of a block not listed");
                return;
            };
            self.few[i] = (new, new_size);
            self.zero_size =
                self.zero_size + usize::from(new_size == 0) - usize::from(old_size == 0);
            return;
        }
        if old != new {
            self.insert(new, new_size);
            self.remove(raw, old, old_size);
            return;
        }
        let (region, slot) = split(old);
        let Some(leaf) = self.leaf(region) else {
            debug_assert!(false, "relist of a block not listed");
            return;
        };
        if old_size >= (HUGE - 1) as usize {
            self.huge.remove(&old);
        }
        let entry = match u32::try_from(new_size) {
            Ok(size) if size < HUGE - 1 => size + 1,
            _ => {
                self.huge.insert(old, new_size); // room made by `prepare_anywhere`
                HUGE
            }
        };
        self.zero_size = self.zero_size + usize::from(new_size == 0) - usize::from(old_size == 0);
        // SAFETY: a live leaf of this registry; `slot < SLOTS`; the entry is
        // listed (caller), so the leaf's count already counts it.
        unsafe { *Self::cell(leaf, slot) = entry };
    }

    /// Listed blocks of size 0: the bytes the engine counts for them and the
    /// pool does not.
    #[inline]
    pub fn zero_size(&self) -> usize {
        self.zero_size
    }

    /// Leaves held, the spare included: engine blocks that the lane's live
    /// counts leave out.
    #[inline]
    pub fn leaves(&self) -> usize {
        self.leaves.len() + usize::from(self.spare.is_some())
    }

    /// Engine bytes the leaves take (requested size, as the engine counts
    /// live bytes).
    #[inline]
    pub fn leaf_bytes(&self) -> usize {
        self.leaves() * leaf_layout().size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry past its few entries: listing in leaves from the first.
    fn leafy() -> Registry {
        Registry {
            leafy: true,
            ..Registry::default()
        }
    }

    fn list(registry: &mut Registry, raw: &mut RawPool, address: usize, size: usize) {
        registry.prepare(raw, address, size).unwrap();
        registry.insert(address, size);
    }

    fn unlist(registry: &mut Registry, raw: &mut RawPool, address: usize) -> Option<usize> {
        let size = registry.get(address)?;
        registry.remove(raw, address, size);
        Some(size)
    }

    #[test]
    fn lists_and_unlists() {
        let mut raw = RawPool::new(None);
        let mut registry = leafy();
        let base = 0x7f12_3450_0000;
        list(&mut registry, &mut raw, base, 24);
        list(&mut registry, &mut raw, base + 16, 0);
        list(
            &mut registry,
            &mut raw,
            base + (5 << REGION_SHIFT),
            usize::MAX - 15,
        );
        assert_eq!(registry.get(base), Some(24));
        assert_eq!(registry.get(base + 16), Some(0));
        assert_eq!(registry.get(base + 32), None);
        assert_eq!(registry.get(base + 8), None, "unaligned");
        assert_eq!(
            registry.get(base + (5 << REGION_SHIFT)),
            Some(usize::MAX - 15)
        );
        assert_eq!(registry.get(base + (6 << REGION_SHIFT)), None, "no leaf");
        // Two regions' leaves (the third `reserve` found the spare unused).
        assert_eq!((registry.zero_size(), registry.leaves()), (1, 2));
        assert_eq!(unlist(&mut registry, &mut raw, base + 16), Some(0));
        assert_eq!(unlist(&mut registry, &mut raw, base + 16), None, "twice");
        assert_eq!(registry.zero_size(), 0);
        assert_eq!(
            unlist(&mut registry, &mut raw, base + (5 << REGION_SHIFT)),
            Some(usize::MAX - 15)
        );
        assert!(registry.huge.is_empty());
        assert_eq!(unlist(&mut registry, &mut raw, base), Some(24));
        // Both leaves are empty now, and kept for reuse.
        assert_eq!((registry.leaves(), registry.empty), (2, 2));
        assert_eq!(raw.stats().live_allocations, 2);
    }

    #[test]
    fn relisting_in_place_keeps_the_leaf_once_the_spares_are_used_up() {
        let mut raw = RawPool::new(None);
        let mut registry = leafy();
        // SPARE_LEAVES emptied leaves kept, as after an array moved across
        // regions a few times.
        for region in 1..=SPARE_LEAVES {
            list(&mut registry, &mut raw, region << REGION_SHIFT, 8);
            unlist(&mut registry, &mut raw, region << REGION_SHIFT);
        }
        let array = 100 << REGION_SHIFT;
        list(&mut registry, &mut raw, array, 24);
        registry.prepare_anywhere(&mut raw, 48).unwrap(); // the one spare
        let blocks = raw.stats().live_allocations;
        let leaf = registry.leaves[&split(array).0];
        for size in (48..4800).step_by(24) {
            registry.prepare_anywhere(&mut raw, size).unwrap();
            registry.relist(&mut raw, array, size - 24, array, size);
            assert_eq!(registry.get(array), Some(size));
            // The same leaf: not freed and made again at each step (the
            // remove-then-insert of one address did that once SPARE_LEAVES
            // empty leaves were kept).
            assert_eq!(registry.leaves[&split(array).0], leaf, "at {size}");
        }
        assert_eq!(raw.stats().live_allocations, blocks);
        registry.prepare_anywhere(&mut raw, 0).unwrap();
        registry.relist(&mut raw, array, 4776, array, 0);
        assert_eq!((registry.get(array), registry.zero_size()), (Some(0), 1));
        // Moved within its region: the entry follows, the leaf stays.
        registry.prepare_anywhere(&mut raw, 16).unwrap();
        registry.relist(&mut raw, array, 0, array + 32, 16);
        assert_eq!(
            (registry.get(array), registry.get(array + 32)),
            (None, Some(16))
        );
        assert_eq!(
            (registry.zero_size(), raw.stats().live_allocations),
            (0, blocks)
        );
    }

    #[test]
    fn empty_leaves_beyond_the_spares_go_back_to_the_engine() {
        let mut raw = RawPool::new(None);
        let mut registry = leafy();
        let regions = SPARE_LEAVES + 3;
        for region in 0..regions {
            list(&mut registry, &mut raw, (region + 1) << REGION_SHIFT, 8);
        }
        assert_eq!(registry.leaves(), regions);
        for region in 0..regions {
            assert_eq!(
                unlist(&mut registry, &mut raw, (region + 1) << REGION_SHIFT),
                Some(8)
            );
        }
        // SPARE_LEAVES empty leaves and the spare are kept; the rest freed.
        assert_eq!(registry.leaves(), SPARE_LEAVES + 1);
        assert_eq!(
            registry.leaf_bytes(),
            (SPARE_LEAVES + 1) * leaf_layout().size()
        );
        assert_eq!(raw.stats().live_allocations, SPARE_LEAVES + 1);
        assert_eq!(raw.size(), registry.leaf_bytes());
    }

    #[test]
    fn a_few_blocks_are_listed_with_no_leaf_then_spill_into_leaves() {
        let mut raw = RawPool::new(None);
        let mut registry = Registry::default();
        let base = 0x7f12_3450_0000;
        let at = |i: usize| base + i * (3 << REGION_SHIFT) / 2; // regions apart
        for i in 0..FEW {
            list(&mut registry, &mut raw, at(i), i * 8);
        }
        assert_eq!((registry.leaves(), raw.stats().live_allocations), (0, 0));
        assert_eq!(
            (registry.get(at(3)), registry.get(at(3) + 16)),
            (Some(24), None)
        );
        assert_eq!(registry.zero_size(), 1);
        registry.prepare_anywhere(&mut raw, 64).unwrap();
        registry.relist(&mut raw, at(0), 0, at(0) + 32, 64);
        assert_eq!(
            (registry.get(at(0)), registry.get(at(0) + 32)),
            (None, Some(64))
        );
        assert_eq!(registry.zero_size(), 0);
        registry.relist(&mut raw, at(0) + 32, 64, at(0), 0);
        // The ninth block: every entry moves into leaves, one per region.
        list(&mut registry, &mut raw, at(FEW), 5);
        assert!(registry.leafy && registry.leaves() >= FEW);
        for i in 0..FEW {
            assert_eq!(
                registry.get(at(i)),
                Some(i * 8),
                "block {i} after the spill"
            );
        }
        assert_eq!((registry.get(at(FEW)), registry.zero_size()), (Some(5), 1));
        for i in 0..=FEW {
            assert!(unlist(&mut registry, &mut raw, at(i)).is_some());
        }
        assert_eq!(registry.zero_size(), 0);
    }

    #[test]
    fn a_spill_the_engine_refuses_changes_nothing() {
        // Room for a few leaves, not for one per region.
        let mut raw = RawPool::new(Some(3 * 1200));
        let mut registry = Registry::default();
        let at = |i: usize| (i + 1) << (REGION_SHIFT + 1);
        for i in 0..FEW {
            list(&mut registry, &mut raw, at(i), 16);
        }
        let before = raw.stats();
        assert!(registry.prepare(&mut raw, at(FEW), 16).is_err());
        assert!(!registry.leafy && registry.leaves() == 0);
        let after = raw.stats();
        assert_eq!(
            (
                after.live_allocations,
                after.reserved_bytes,
                after.large_blocks
            ),
            (
                before.live_allocations,
                before.reserved_bytes,
                before.large_blocks
            ),
            "the leaves made were given back"
        );
        for i in 0..FEW {
            assert_eq!(registry.get(at(i)), Some(16));
        }
    }
}
