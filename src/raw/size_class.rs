//! Size classes of the small-block engine.
//!
//! Every small block occupies a whole *class*: its requested size rounded up
//! to the class size. Freed blocks of one class are interchangeable, which is
//! what lets a free list serve later requests without a per-block header.
//!
//! ```text
//! class     0   1   2   3  …   7 |  8   9  …  35 | 36   37   38   39 | 40 … | 47
//! bytes     8  16  24  32  …  64 | 80  96  … 512 | 640  768  896 1024 | 1280 | 4096
//!          └─ 8-byte steps ──────┘└ 16-byte steps┘└─ 4 classes per doubling ─────┘
//! ```
//!
//! Up to 64 bytes the classes step by 8 for requests aligned to at most 8
//! (short strings, small records: a 3-byte word takes 8 bytes, not 16);
//! requests aligned to 16 use the classes that are multiples of 16 only. The
//! 8-byte classes whose size is an odd multiple of 8 (8, 24, 40, 56) are
//! *paired*: their blocks are carved two at a time, so that every carve
//! keeps the span's cursor 16-aligned, and such a block is only 8-aligned.
//! Up to 512 bytes a class wastes at most 15 bytes (7 for an 8-aligned
//! request up to 64); above, at most a fifth of the block. Requests above
//! [`SMALL_MAX`] are large blocks and have no class. Up to 512 bytes a
//! request's class is read from a table by 8-byte step (one per alignment
//! kind); above, computed from the size's highest bit.

/// The largest request (in bytes) served from the arena; larger ones are
/// large blocks.
pub const SMALL_MAX: usize = 4096;

/// The largest alignment served from the arena; blocks aligned stricter are
/// large blocks.
pub const SMALL_MAX_ALIGN: usize = 64;

/// Granule of every small block: all class sizes and span bounds are
/// multiples of it, and every small block is aligned to it.
pub const GRANULE: usize = 16;

/// Largest size of the classes in 8-byte steps (8 ..= 64).
const FINE_MAX: usize = 64;
/// Classes in 8-byte steps.
const FINE_CLASSES: usize = FINE_MAX / 8;
/// Largest size of the classes in 16-byte steps (80 ..= 512).
const LINEAR_MAX: usize = 512;
/// Classes up to [`LINEAR_MAX`].
const LINEAR_CLASSES: usize = FINE_CLASSES + (LINEAR_MAX - FINE_MAX) / GRANULE;

/// Number of size classes.
pub const NUM_CLASSES: usize = LINEAR_CLASSES + 12;

/// Size in bytes of every class, smallest first.
const CLASS_SIZE: [usize; NUM_CLASSES] = {
    let mut table = [0; NUM_CLASSES];
    let mut c = 0;
    while c < NUM_CLASSES {
        // Evaluated at compile time, with `c < NUM_CLASSES`.
        #[allow(clippy::indexing_slicing)]
        let slot = &mut table[c];
        *slot = if c < FINE_CLASSES {
            (c + 1) * 8
        } else if c < LINEAR_CLASSES {
            FINE_MAX + (c - FINE_CLASSES + 1) * GRANULE
        } else {
            let k = c - LINEAR_CLASSES;
            // 4 classes per doubling: 5/4, 6/4, 7/4, 8/4 of the power of two below.
            ((k % 4) + 5) << (7 + k / 4)
        };
        c += 1;
    }
    table
};

/// Steps of 8 bytes up to [`LINEAR_MAX`]: the index of [`Class::of`]'s tables.
const STEPS: usize = LINEAR_MAX / 8;

/// The class of a request of `8 * step + 1 ..= 8 * step + 8` bytes, for
/// alignments of at most 8 (`sixteen` false) or of 16: the smallest class
/// that fits (in the 8-byte range, the next even one for 16-aligned
/// requests: 16, 32, 48, 64).
const fn class_by_step(sixteen: bool) -> [u8; STEPS] {
    let mut table = [0; STEPS];
    let mut step = 0;
    while step < STEPS {
        let size = step * 8 + 8;
        let class = if size <= FINE_MAX {
            if sixteen {
                (size - 1) / GRANULE * 2 + 1
            } else {
                (size - 1) / 8
            }
        } else {
            FINE_CLASSES + (size - FINE_MAX - 1) / GRANULE
        };
        // Evaluated at compile time, with `step < STEPS` and every class
        // below `NUM_CLASSES` (48), which fits a byte.
        #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
        {
            table[step] = class as u8;
        }
        step += 1;
    }
    table
}

/// [`class_by_step`] for alignments of at most 8, then for 16-aligned
/// requests.
const CLASS_BY_STEP: [[u8; STEPS]; 2] = [class_by_step(false), class_by_step(true)];

/// A size class: an index below [`NUM_CLASSES`], which is what lets
/// [`PerClass`] index without a bounds check. Only this file makes one:
/// [`Class::of`] (below `NUM_CLASSES` for every input: checked for every
/// size at compile time by [`CLASSES_IN_RANGE`], and other sizes are clamped
/// into range first), [`Class::floor`] and [`Class::all`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Class(usize);

/// Compile-time proof of `Class`'s invariant for `Class::of`: every size it
/// serves, at either alignment kind, gets a class below `NUM_CLASSES`. The
/// unchecked indexing of [`PerClass`] rests on it.
const CLASSES_IN_RANGE: () = {
    let mut size = 1;
    while size <= SMALL_MAX {
        assert!(Class::of(size, 8).0 < NUM_CLASSES);
        assert!(Class::of(size, 16).0 < NUM_CLASSES);
        size += 1;
    }
};
// Evaluated in every build, whether or not anything names it.
const _: () = CLASSES_IN_RANGE;

impl Class {
    /// The class that holds a request of `size` bytes (`1 ..= SMALL_MAX`)
    /// aligned to `align`: the smallest class at least that large whose
    /// blocks have that alignment (for `align` above 8, a multiple of 16). No
    /// caller passes a size outside that range (`kind_of` routes them
    /// elsewhere); debug builds assert it, and release builds clamp such a
    /// size into the range rather than index out of the table.
    #[inline(always)]
    pub const fn of(size: usize, align: usize) -> Class {
        debug_assert!(size >= 1 && size <= SMALL_MAX);
        // A no-op for every size in range, which callers have checked (so the
        // compiler folds it away); it keeps the index below `NUM_CLASSES` by
        // construction, and lets the compiler drop the table's bounds checks.
        let size = if size == 0 {
            1
        } else if size > SMALL_MAX {
            SMALL_MAX
        } else {
            size
        };
        if size <= LINEAR_MAX {
            // One table read by 8-byte step, not a test of which range the
            // size is in: that branch goes either way at random when sizes
            // are mixed. W4's documents (8-127 bytes) took 0.79-0.82x the
            // time of the branches in alternating rounds of one binary
            // holding both; W2's churn (16-256 bytes) 1.01-1.02x, within
            // its rounds' noise. Picking both ranges' results with a select
            // instead gave 0.85x and 1.03-1.05x. The alignment picks the
            // table by index, not by a branch (a freed byte block's
            // alignment is read from its handle). Both indices are in range
            // (0 or 1; below 64 as `size` is at most 512), which the
            // compiler sees: no check is emitted.
            #[allow(clippy::indexing_slicing)]
            Class(CLASS_BY_STEP[(align > 8) as usize][(size - 1) / 8] as usize)
        } else {
            let s = size - 1;
            let log = usize::BITS as usize - 1 - s.leading_zeros() as usize;
            Class(LINEAR_CLASSES + (log - 9) * 4 + ((s >> (log - 2)) - 4))
        }
    }

    /// Whether blocks of this class are carved two at a time (an odd
    /// multiple of 8 bytes: see the module docs).
    #[inline(always)]
    pub fn is_paired(self) -> bool {
        self.size() % GRANULE != 0
    }

    /// [`is_paired`](Self::is_paired) for the class of a request aligned to
    /// `align`: only requests aligned to at most 8 get a paired class, so
    /// where `align` is known at compile time to be larger (every byte-API
    /// request is 16-aligned) the test folds away — three instructions of
    /// each such allocation that does not come from a free list.
    #[inline(always)]
    pub fn is_paired_at(self, align: usize) -> bool {
        align <= 8 && self.is_paired()
    }

    /// The largest class whose size is at most `bytes` (`bytes >= GRANULE`):
    /// where a left-over region of that many bytes can be filed for reuse.
    #[inline]
    pub fn floor(bytes: usize) -> Class {
        debug_assert!(bytes >= GRANULE);
        if bytes >= SMALL_MAX {
            return Class(NUM_CLASSES - 1);
        }
        // Regions are multiples of 16: every such size up to 512 is a class,
        // and the classes above are multiples of 16 too, so the class below
        // a geometric one is never a paired class.
        let c = Class::of(bytes, GRANULE).0;
        if c == 0 || Class(c).size() == bytes {
            Class(c)
        } else {
            Class(c - 1)
        }
    }

    /// Bytes of every block of this class.
    #[inline(always)]
    pub fn size(self) -> usize {
        SIZES[self]
    }

    /// Every class, smallest first.
    pub fn all() -> impl DoubleEndedIterator<Item = Class> {
        (0..NUM_CLASSES).map(Class)
    }

    /// The class's position in the table, smallest first.
    #[cfg(test)]
    #[inline(always)]
    pub const fn index(self) -> usize {
        self.0
    }
}

/// [`CLASS_SIZE`] indexed by [`Class`].
const SIZES: PerClass<usize> = PerClass(CLASS_SIZE);

/// One `T` per size class, indexed by [`Class`].
#[derive(Clone, Copy)]
pub struct PerClass<T>([T; NUM_CLASSES]);

impl<T: Copy> PerClass<T> {
    /// Every class holding `value`.
    pub const fn splat(value: T) -> Self {
        PerClass([value; NUM_CLASSES])
    }
}

impl<T> core::ops::Index<Class> for PerClass<T> {
    type Output = T;

    #[inline(always)]
    fn index(&self, class: Class) -> &T {
        // Unchecked: a checked index cost a compare and a branch on every
        // allocation and free.
        // SAFETY: a `Class` is below `NUM_CLASSES`, the array's length (see
        // `Class`: `CLASSES_IN_RANGE` checks `Class::of` for every size).
        unsafe { self.0.get_unchecked(class.0) }
    }
}

impl<T> core::ops::IndexMut<Class> for PerClass<T> {
    #[inline(always)]
    fn index_mut(&mut self, class: Class) -> &mut T {
        // SAFETY: as in `index`.
        unsafe { self.0.get_unchecked_mut(class.0) }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn table_is_increasing_granular_and_ends_at_small_max() {
        assert_eq!(CLASS_SIZE[0], 8);
        for (c, &size) in CLASS_SIZE.iter().enumerate() {
            assert_eq!(Class(c).size(), size);
            assert_eq!(Class(c).is_paired(), size % 16 == 8);
            assert_eq!(size % 8, 0);
            if size > FINE_MAX {
                assert_eq!(size % GRANULE, 0);
            }
        }
        assert_eq!(CLASS_SIZE[NUM_CLASSES - 1], SMALL_MAX);
        for w in CLASS_SIZE.windows(2) {
            assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn class_of_is_the_smallest_class_that_fits_and_is_aligned() {
        let step = if cfg!(miri) { 37 } else { 1 };
        for align in [1, 2, 4, 8, 16, 32, 64] {
            for size in (1..=SMALL_MAX).step_by(step) {
                let c = Class::of(size, align).index();
                assert!(c < NUM_CLASSES, "size {size} class {c}");
                assert!(CLASS_SIZE[c] >= size, "size {size} class {c}");
                if align > 8 {
                    assert!(!Class(c).is_paired(), "size {size} align {align}");
                }
                // No smaller class with blocks of this alignment fits.
                for (smaller, &bytes) in CLASS_SIZE.iter().enumerate().take(c) {
                    let fits = bytes >= size;
                    let aligned = align <= 8 || !Class(smaller).is_paired();
                    assert!(!(fits && aligned), "size {size} align {align} class {c}");
                }
            }
        }
    }

    #[test]
    fn waste_is_bounded() {
        for size in 1..=SMALL_MAX {
            for align in [8, 16] {
                let class = Class::of(size, align).size();
                let waste = class - size;
                let step = if align <= 8 && size <= FINE_MAX {
                    8
                } else {
                    GRANULE
                };
                assert!(waste < step || waste * 5 <= class, "{size}");
            }
        }
    }

    #[test]
    fn floor_class_is_the_largest_class_that_fits() {
        for bytes in (GRANULE..=2 * SMALL_MAX).step_by(GRANULE) {
            let c = Class::floor(bytes).index();
            assert!(CLASS_SIZE[c] <= bytes);
            if c + 1 < NUM_CLASSES {
                assert!(CLASS_SIZE[c + 1] > bytes, "{bytes}");
            }
        }
    }
}
