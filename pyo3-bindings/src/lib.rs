//! The Python package `arenapool` (extension module `arenapool._arenapool`).
//!
//! A thin layer over the Rust core: it converts and checks, and holds no
//! allocator logic. Each `Pool` owns a set of lanes (`lane`): engines of
//! the core crate, one per thread slot, each behind a spin lock of its own
//! (never held across a call into Python); allocations hold a strong
//! reference to their pool, so memory lives exactly as long as Python
//! references to it; every misuse is an exception. Work done without the
//! GIL (large blocks, the C-level calls of `capi`) meets a fork gate
//! (`fork`), so that a pool inherited by a child of `os.fork()` works there.
//! What Python makes and calls by the million — `Address`, `Allocation`,
//! `Pool()` and its `alloc`/`free`/`realloc` — is made by hand with
//! CPython's C API (`heap_type`), outside PyO3's call path.

mod accounting;
mod address;
mod allocation;
mod capi;
mod cymem_abi;
mod errors;
mod fork;
mod heap_type;
mod lane;
mod listed;
mod membarrier;
mod pool;
mod registry;

use pyo3::prelude::*;

/// total_reserved() -> int: bytes held from the system by all live pools
/// (and addresses) of the process.
#[pyfunction]
fn total_reserved() -> usize {
    accounting::total()
}

/// _lanes(pool) -> list[tuple[int, bool]]: each lane the pool made, by
/// index (16 is the GIL's), and whether it is still owned. For the tests.
#[pyfunction]
fn _lanes(pool: &Bound<'_, pool::Pool>) -> Vec<(usize, bool)> {
    pool.get().lane_ownership()
}

// The engine's safety rests on the GIL in one place, the GIL's lane (whose
// owner is whoever holds it: `lane`), and some orderings and the fork gate's
// shortcut for GIL holders do too: see the README's "Free-threaded
// CPython". Stated, not left to PyO3's default.
#[pymodule(gil_used = true)]
fn _arenapool(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<pool::Pool>()?;
    // The type first: the methods make its objects.
    allocation::register(m)?;
    pool::install_methods(m)?;
    address::register(m)?;
    m.add(
        "InvalidAllocationError",
        m.py().get_type::<errors::InvalidAllocationError>(),
    )?;
    m.add_function(wrap_pyfunction!(total_reserved, m)?)?;
    // The C-level API's table (see `capi`); set, not `add`ed: `add` would
    // list the private name in `__all__`.
    m.setattr("_C_API", capi::capsule(m.py())?)?;
    m.setattr("_lanes", wrap_pyfunction!(_lanes, m)?)?;
    fork::register(m)?;
    lane::init_gil_lane(m.py())?;
    // Ask for membarrier(2) now, while importing (one thread, usually):
    // registering later, with threads running, waits out an RCU grace
    // period in the middle of some pool's first call.
    membarrier::available();
    // cymem's types at cymem's ABI (`arenapool.cymem`).
    cymem_abi::register(m)?;
    Ok(())
}
