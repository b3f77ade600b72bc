//! The pools the harness can drive.

use arenapool::{AllocError, Handle, Pool, Stats, SyncPool, Zeroable};

/// What the harness needs of a pool. Implement it for a new pool type and
/// every property test and the fuzz target run against it unchanged.
pub trait PoolUnderTest: Sized {
    /// A name for failure messages.
    const NAME: &'static str;
    /// A new pool, with a byte limit if given.
    fn create(limit: Option<usize>) -> Self;
    /// cymem's call: `number * elem_size` zeroed bytes, 16-byte aligned.
    fn try_alloc(&self, number: usize, elem_size: usize) -> Result<Handle<'_, [u8]>, AllocError>;
    /// `len` zeroed `T`s.
    fn try_alloc_slice_zeroed<T: Zeroable + Copy>(
        &self,
        len: usize,
    ) -> Result<Handle<'_, [T]>, AllocError>;
    /// A value whose destructor the pool runs.
    fn try_alloc_value<T: Send + 'static>(&self, value: T) -> Result<Handle<'_, T>, AllocError>;
    /// Frees a handle this pool made.
    fn free<T: ?Sized>(&self, handle: Handle<'_, T>);
    /// Resizes a slice handle.
    fn try_realloc<T: Zeroable + Copy>(
        &self,
        handle: &mut Handle<'_, [T]>,
        new_len: usize,
    ) -> Result<(), AllocError>;
    /// Live requested bytes.
    fn size(&self) -> usize;
    /// The accounting snapshot.
    fn stats(&self) -> Stats;
    /// Frees everything, running destructors.
    fn reset(&mut self);
}

/// Both pools have the same calls under the same names.
macro_rules! pool_under_test {
    ($pool:ident) => {
        impl PoolUnderTest for $pool {
            const NAME: &'static str = stringify!($pool);

            fn create(limit: Option<usize>) -> Self {
                match limit {
                    Some(limit) => $pool::with_limit(limit),
                    None => $pool::new(),
                }
            }
            fn try_alloc(
                &self,
                number: usize,
                elem_size: usize,
            ) -> Result<Handle<'_, [u8]>, AllocError> {
                $pool::try_alloc(self, number, elem_size)
            }
            fn try_alloc_slice_zeroed<T: Zeroable + Copy>(
                &self,
                len: usize,
            ) -> Result<Handle<'_, [T]>, AllocError> {
                $pool::try_alloc_slice_zeroed(self, len)
            }
            fn try_alloc_value<T: Send + 'static>(
                &self,
                value: T,
            ) -> Result<Handle<'_, T>, AllocError> {
                $pool::try_alloc_value(self, value)
            }
            fn free<T: ?Sized>(&self, handle: Handle<'_, T>) {
                $pool::free(self, handle)
            }
            fn try_realloc<T: Zeroable + Copy>(
                &self,
                handle: &mut Handle<'_, [T]>,
                new_len: usize,
            ) -> Result<(), AllocError> {
                $pool::try_realloc(self, handle, new_len)
            }
            fn size(&self) -> usize {
                $pool::size(self)
            }
            fn stats(&self) -> Stats {
                $pool::stats(self)
            }
            fn reset(&mut self) {
                $pool::reset(self)
            }
        }
    };
}

pool_under_test!(Pool);
pool_under_test!(SyncPool);
