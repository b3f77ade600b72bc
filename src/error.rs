//! The error every fallible call returns.

use core::alloc::Layout;
use core::fmt;

/// Why a pool refused a request.
///
/// Every `try_` call returns it; the infallible calls panic with its
/// [`Display`](fmt::Display) message (an [`OutOfMemory`](Self::OutOfMemory)
/// goes to [`std::alloc::handle_alloc_error`] instead, as `Vec` does). The
/// pool is left exactly as it was: nothing allocated, nothing freed, no
/// handle changed.
///
/// ```
/// use arenapool::{AllocError, Pool};
///
/// let pool = Pool::with_limit(1024);
/// let err = pool.try_alloc(1 << 20, 1).unwrap_err();
/// assert!(matches!(err, AllocError::LimitExceeded { .. }));
/// assert!(err.to_string().contains("limit"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocError {
    /// `number * elem_size` (or a slice length times its element size) does
    /// not fit in `usize`.
    SizeOverflow {
        /// The number of elements asked for.
        number: usize,
        /// The size of one element in bytes.
        elem_size: usize,
    },
    /// The request is larger than `isize::MAX` bytes once rounded up to its
    /// alignment, which no allocation may be.
    LayoutTooLarge {
        /// The size asked for, in bytes.
        size: usize,
        /// The alignment asked for, in bytes.
        align: usize,
    },
    /// Serving the request would take the pool's reserved memory past its
    /// limit.
    LimitExceeded {
        /// The bytes asked for.
        requested: usize,
        /// The pool's limit, in bytes.
        limit: usize,
        /// The bytes the pool held when it refused.
        reserved: usize,
    },
    /// The global allocator refused memory.
    OutOfMemory {
        /// The size of the refused system request, in bytes.
        size: usize,
        /// Its alignment.
        align: usize,
    },
    /// The handle was made by another pool: it cannot be freed or
    /// reallocated through this one.
    ForeignHandle,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::SizeOverflow { number, elem_size } => write!(
                f,
                "arenapool: allocation size overflows usize: {number} elements of {elem_size} bytes"
            ),
            AllocError::LayoutTooLarge { size, align } => write!(
                f,
                "arenapool: allocation of {size} bytes aligned to {align} exceeds isize::MAX"
            ),
            AllocError::LimitExceeded { requested, limit, reserved } => write!(
                f,
                "arenapool: pool limit of {limit} bytes exceeded: {requested} bytes requested with {reserved} bytes reserved"
            ),
            AllocError::OutOfMemory { size, align } => write!(
                f,
                "arenapool: the global allocator refused {size} bytes aligned to {align}"
            ),
            AllocError::ForeignHandle => {
                f.write_str("arenapool: handle used with a pool that did not allocate it")
            }
        }
    }
}

impl core::error::Error for AllocError {}

impl AllocError {
    /// The layout the global allocator refused, for an `OutOfMemory` error.
    fn refused_layout(&self) -> Option<Layout> {
        match *self {
            AllocError::OutOfMemory { size, align } => Layout::from_size_align(size, align).ok(),
            _ => None,
        }
    }
}

/// Unwraps the result of a `try_` call for its infallible twin: panics with
/// the error's message, or reports an allocator failure through
/// [`std::alloc::handle_alloc_error`].
#[inline(always)]
#[track_caller]
pub(crate) fn unwrap_or_fail<T>(result: Result<T, AllocError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => fail(err),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn fail(err: AllocError) -> ! {
    if let Some(layout) = err.refused_layout() {
        alloc::alloc::handle_alloc_error(layout)
    }
    panic!("{err}")
}
