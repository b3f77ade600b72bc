//! `Address`: cymem's single self-owned allocation.

use std::alloc::Layout;

use arenapool::raw::RawPool;
use arenapool::AllocError;
use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::accounting::Tracked;
use crate::errors::alloc_error;

/// Address(number, elem_size): one zeroed, 16-byte aligned allocation owned
/// by this object and freed when it is collected (cymem's ``Address``).
#[pyclass(frozen, module = "arenapool")]
pub struct Address {
    /// Holds the memory; only `Drop` touches it again.
    _engine: Mutex<Tracked>,
    addr: usize,
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
        let layout = Layout::from_size_align(nbytes, 16)
            .map_err(|_| AllocError::LayoutTooLarge {
                size: nbytes,
                align: 16,
            })
            .map_err(alloc_error)?;
        let mut engine = Tracked::new(RawPool::new(None));
        let block = engine.with(|raw| raw.alloc(layout)).map_err(alloc_error)?;
        Ok(Address {
            _engine: Mutex::new(engine),
            addr: block.as_ptr() as usize,
            nbytes,
        })
    }

    /// The address of the allocation (an int).
    #[getter]
    fn addr(&self) -> usize {
        self.addr
    }

    /// Its size in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.nbytes
    }

    fn __repr__(&self) -> String {
        format!(
            "<arenapool.Address addr={:#x} nbytes={}>",
            self.addr, self.nbytes
        )
    }
}
