//! `Address`: cymem's single self-owned allocation.

use arenapool::AllocError;
use pyo3::prelude::*;

use crate::accounting;
use crate::errors::alloc_error;

/// Address(number, elem_size): one zeroed, 16-byte aligned allocation owned
/// by this object and freed when it is collected (cymem's ``Address``).
///
/// One block from the system allocator (`calloc`'s zeroing), not an
/// engine: an engine would reserve a whole chunk for one block, and cymem's
/// `Address` is exactly one `calloc` too. Its bytes count in
/// `total_reserved()`.
#[pyclass(frozen, module = "arenapool")]
pub struct Address {
    /// The memory, in 16-byte units (so 16-aligned); only `Drop` touches it
    /// again.
    block: Box<[u128]>,
    nbytes: usize,
}

#[pymethods]
impl Address {
    #[new]
    fn new(number: usize, elem_size: usize) -> PyResult<Self> {
        let nbytes = number
            .checked_mul(elem_size)
            .ok_or(AllocError::SizeOverflow { number, elem_size })
            .map_err(alloc_error)?;
        // At least one unit, so that a zero-size Address has an address of
        // its own.
        let units = nbytes.div_ceil(16).max(1);
        let too_large = || {
            alloc_error(AllocError::LayoutTooLarge {
                size: nbytes,
                align: 16,
            })
        };
        if units > isize::MAX as usize / 16 {
            return Err(too_large());
        }
        let mut block = Vec::new();
        block.try_reserve_exact(units).map_err(|_| {
            alloc_error(AllocError::OutOfMemory {
                size: units * 16,
                align: 16,
            })
        })?;
        block.resize(units, 0u128); // zeroed
        accounting::add(units * 16);
        Ok(Address {
            block: block.into_boxed_slice(),
            nbytes,
        })
    }

    /// The address of the allocation (an int).
    #[getter]
    fn addr(&self) -> usize {
        self.block.as_ptr() as usize
    }

    /// Its size in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.nbytes
    }

    fn __repr__(&self) -> String {
        format!(
            "<arenapool.Address addr={:#x} nbytes={}>",
            self.block.as_ptr() as usize,
            self.nbytes
        )
    }
}

impl Drop for Address {
    fn drop(&mut self) {
        accounting::sub(self.block.len() * 16);
    }
}
