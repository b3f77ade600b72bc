//! Python exceptions for the engine's errors.

use arenapool::AllocError;
use pyo3::create_exception;
use pyo3::exceptions::{PyMemoryError, PyOverflowError, PyValueError};
use pyo3::PyErr;

create_exception!(
    arenapool,
    InvalidAllocationError,
    PyValueError,
    "An allocation that was freed, reallocated away, made by another pool, or whose pool is closed."
);

/// The exception for an engine error: sizes that cannot exist are an
/// `OverflowError`, memory that cannot be had a `MemoryError`.
pub fn alloc_error(err: AllocError) -> PyErr {
    let message = err.to_string();
    match err {
        AllocError::SizeOverflow { .. } | AllocError::LayoutTooLarge { .. } => {
            PyOverflowError::new_err(message)
        }
        AllocError::ForeignHandle => InvalidAllocationError::new_err(message),
        _ => PyMemoryError::new_err(message),
    }
}

/// The pool was closed.
pub fn closed() -> PyErr {
    PyValueError::new_err("arenapool: the pool is closed")
}
