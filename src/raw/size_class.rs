//! Size classes of the small-block engine.
//!
//! Every small block occupies a whole *class*: its requested size rounded up
//! to the class size. Freed blocks of one class are interchangeable, which is
//! what lets a free list serve later requests without a per-block header.
//!
//! ```text
//! class     0    1    2   ...   31  | 32   33   34   35  | 36 ... | 43
//! bytes    16   32   48   ...  512  | 640  768  896 1024 | 1280   | 4096
//!          └── 16-byte steps ─────┘   └─ 4 classes per doubling ─────┘
//! ```
//!
//! Up to 512 bytes a class wastes at most 15 bytes; above, at most a fifth
//! of the block. Requests above [`SMALL_MAX`] are large blocks and have no
//! class.

/// The largest request (in bytes) served from the arena; larger ones are
/// large blocks.
pub const SMALL_MAX: usize = 4096;

/// The largest alignment served from the arena; blocks aligned stricter are
/// large blocks.
pub const SMALL_MAX_ALIGN: usize = 64;

/// Granule of every small block: all class sizes and span bounds are
/// multiples of it, and every small block is aligned to it.
pub const GRANULE: usize = 16;

/// Classes in 16-byte steps (16 ..= 512).
const LINEAR_CLASSES: usize = 32;
/// Largest size of the linear classes.
const LINEAR_MAX: usize = LINEAR_CLASSES * GRANULE;

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
        *slot = if c < LINEAR_CLASSES {
            (c + 1) * GRANULE
        } else {
            let k = c - LINEAR_CLASSES;
            // 4 classes per doubling: 5/4, 6/4, 7/4, 8/4 of the power of two below.
            ((k % 4) + 5) << (7 + k / 4)
        };
        c += 1;
    }
    table
};

/// A size class: an index below [`NUM_CLASSES`], which is what lets
/// [`PerClass`] index without a reachable panic. Only [`Class::of`] and
/// [`Class::floor`] make one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Class(usize);

impl Class {
    /// The class that holds a request of `size` bytes (`1 ..= SMALL_MAX`):
    /// the smallest class at least that large. No caller passes a size
    /// outside that range (`kind_of` routes them elsewhere); debug builds
    /// assert it, and release builds clamp such a size into the range rather
    /// than index out of the table.
    #[inline(always)]
    pub const fn of(size: usize) -> Class {
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
            Class((size - 1) / GRANULE)
        } else {
            let s = size - 1;
            let log = usize::BITS as usize - 1 - s.leading_zeros() as usize;
            Class(LINEAR_CLASSES + (log - 9) * 4 + ((s >> (log - 2)) - 4))
        }
    }

    /// The largest class whose size is at most `bytes` (`bytes >= GRANULE`):
    /// where a left-over region of that many bytes can be filed for reuse.
    #[inline]
    pub fn floor(bytes: usize) -> Class {
        debug_assert!(bytes >= GRANULE);
        if bytes >= SMALL_MAX {
            return Class(NUM_CLASSES - 1);
        }
        let c = Class::of(bytes).0;
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
        // A `Class` is below `NUM_CLASSES`, the array's length (see `Class`),
        // so this cannot fire; the compiler keeps the check, which costs a
        // compare that never branches.
        #[allow(clippy::indexing_slicing)]
        &self.0[class.0]
    }
}

impl<T> core::ops::IndexMut<Class> for PerClass<T> {
    #[inline(always)]
    fn index_mut(&mut self, class: Class) -> &mut T {
        // As in `index`.
        #[allow(clippy::indexing_slicing)]
        &mut self.0[class.0]
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn table_is_increasing_granular_and_ends_at_small_max() {
        assert_eq!(CLASS_SIZE[0], GRANULE);
        for (c, &size) in CLASS_SIZE.iter().enumerate() {
            assert_eq!(Class(c).size(), size);
        }
        assert_eq!(CLASS_SIZE[NUM_CLASSES - 1], SMALL_MAX);
        for w in CLASS_SIZE.windows(2) {
            assert!(w[0] < w[1]);
            assert_eq!(w[1] % GRANULE, 0);
        }
    }

    #[test]
    fn class_of_is_the_smallest_class_that_fits() {
        for size in 1..=SMALL_MAX {
            let c = Class::of(size).index();
            assert!(c < NUM_CLASSES, "size {size} class {c}");
            assert!(CLASS_SIZE[c] >= size, "size {size} class {c}");
            if c > 0 {
                assert!(CLASS_SIZE[c - 1] < size, "size {size} class {c}");
            }
        }
    }

    #[test]
    fn waste_is_bounded() {
        for size in 1..=SMALL_MAX {
            let waste = Class::of(size).size() - size;
            assert!(
                waste < GRANULE || waste * 5 <= Class::of(size).size(),
                "{size}"
            );
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
