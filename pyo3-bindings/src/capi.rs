//! The C-level API: the capsule `arenapool._arenapool._C_API`, read by
//! `arenapool.h` (shipped in the package, with `__init__.pxd` for Cython).
//!
//! # The table
//!
//! A `#[repr(C)]` [`CApi`]: a `size_t` version, then one function pointer per
//! C-level call, in the order of the header's `arenapool_c_api` struct.
//! Later versions only append fields and raise [`VERSION`]; the header's
//! `arenapool_import()` refuses (`ImportError`) a table older than the one it
//! was compiled against, and accepts newer ones. Every function runs here, in
//! the extension, so memory is always made and freed by the module that owns
//! the engine.
//!
//! # Two kinds of call
//!
//! - The plain forms (`pool_alloc`, `pool_realloc`, `pool_free`, `pool_size`)
//!   touch no Python object and never need the GIL: a Cython caller may run
//!   them in `with nogil:` blocks, on any number of threads at once. They
//!   return NULL / -1 / 0 on failure, with the pool unchanged. They meet
//!   the fork gate when they take a lane (`crate::fork`).
//! - The `_or_raise` forms need the GIL (the header declares them without
//!   `nogil`) and raise as `Pool.alloc` does. They keep the GIL from start to
//!   end, whatever the size, as cymem does: a cymem port's methods count on
//!   no other Python thread running in the middle of one (one that read the
//!   owner's array while a `realloc` had let go of the GIL would read freed
//!   memory). Code that wants the GIL released for a large block calls a
//!   plain form in a `with nogil:` block.
//!
//! The `_or_raise` forms work in the pool's GIL lane, the plain forms in
//! their thread's (see "The GIL's lane" in `crate::lane`); a block is freed
//! or resized in the lane that made it, whichever form is called.
//!
//! Each function tries its fast path first (`Pool::c_alloc_fast`,
//! `Pool::c_free_fast`: no call, no wait, nothing changed unless it
//! succeeds) and otherwise calls a cold body that does everything, errors
//! included: the fast path then needs no register saves for the calls it
//! does not make.
//!
//! Either kind waits for a lane's lock (`crate::lane`) and nothing else. A
//! thread in a plain form never needs the GIL while it waits for or holds a
//! lane, and holds one lane at a time, so a thread that holds the GIL and
//! waits for a lane (an `_or_raise` form, `Pool.alloc`, `close`) always gets
//! it: no deadlock.
//!
//! # Handles
//!
//! An `arenapool_pool*` is the address of the `Pool` struct inside its Python
//! object, given by `arenapool_c_pool` while the pool is open. It stays a
//! valid argument while that Python object lives: after `close()` the calls
//! fail cleanly (NULL / -1, size 0). It does not keep the object alive (as a
//! cymem pointer does not keep its `Pool`): its owner must. It belongs to
//! the interpreter that made the pool (arenapool imports only in the main
//! one): the `_or_raise` forms count on the GIL they hold being the
//! pool's, and a sub-interpreter with a GIL of its own has another.
//!
//! All the engine work of these functions is in the `c_*` methods of
//! [`Pool`]; this module only converts and raises.

use std::ffi::{c_int, c_void, CStr};
use std::ptr::{self, NonNull};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use pyo3::{ffi, PyErr};

use crate::errors::{alloc_error, closed, InvalidAllocationError};
use crate::lane::Caller;
use crate::pool::{Block, CError, Pool};

/// The table's version; `arenapool.h`'s `ARENAPOOL_C_API_VERSION` must
/// match. Raise it only when appending fields.
pub const VERSION: usize = 1;

/// The capsule's name, as `PyCapsule_Import` expects it.
pub const CAPSULE_NAME: &CStr = c"arenapool._arenapool._C_API";

/// The function table (`arenapool_c_api` in `arenapool.h`). Append only.
#[repr(C)]
pub struct CApi {
    version: usize,
    c_pool: unsafe extern "C" fn(*mut ffi::PyObject) -> *const Pool,
    pool_alloc: unsafe extern "C" fn(*const Pool, usize, usize) -> *mut c_void,
    pool_realloc: unsafe extern "C" fn(*const Pool, *mut c_void, usize) -> *mut c_void,
    pool_free: unsafe extern "C" fn(*const Pool, *mut c_void) -> c_int,
    pool_size: unsafe extern "C" fn(*const Pool) -> usize,
    alloc_or_raise: unsafe extern "C" fn(*const Pool, usize, usize) -> *mut c_void,
    realloc_or_raise: unsafe extern "C" fn(*const Pool, *mut c_void, usize) -> *mut c_void,
    free_or_raise: unsafe extern "C" fn(*const Pool, *mut c_void) -> c_int,
}

static C_API: CApi = CApi {
    version: VERSION,
    c_pool,
    pool_alloc,
    pool_realloc,
    pool_free,
    pool_size,
    alloc_or_raise,
    realloc_or_raise,
    free_or_raise,
};

/// The capsule `_C_API`, pointing at the static table.
pub fn capsule(py: Python<'_>) -> PyResult<Bound<'_, PyCapsule>> {
    let table = NonNull::from(&C_API).cast::<c_void>();
    // SAFETY: the table is a static, valid for the whole process (extension
    // modules are never unloaded); C code only reads it (the header's
    // pointer is to const), so no destructor is needed.
    unsafe { PyCapsule::new_with_pointer(py, table, CAPSULE_NAME) }
}

/// The pool behind a handle.
///
/// # Safety
///
/// `pool` is NULL or a handle from `arenapool_c_pool` whose Python object is
/// alive (the header's contract).
unsafe fn pool_ref<'a>(pool: *const Pool) -> Option<&'a Pool> {
    // SAFETY: the caller's contract; a pyclass's contents stay where they
    // are while its object lives, and `Pool` is `Sync`.
    unsafe { pool.as_ref() }
}

fn out(block: Block) -> *mut c_void {
    block.as_ptr().cast()
}

// --- with the GIL ------------------------------------------------------

/// `arenapool_c_pool(object)`: the handle of an open `arenapool.Pool`;
/// NULL with `TypeError` (not a Pool) or `ValueError` (closed).
///
/// # Safety
///
/// The GIL is held; `object` is NULL or a borrowed reference.
unsafe extern "C" fn c_pool(object: *mut ffi::PyObject) -> *const Pool {
    // SAFETY: the caller holds the GIL (the header declares this call
    // without `nogil`, and it takes a Python object).
    let py = unsafe { Python::assume_attached() };
    if object.is_null() {
        PyTypeError::new_err("arenapool_c_pool() argument must be an arenapool.Pool, not NULL")
            .restore(py);
        return ptr::null();
    }
    // SAFETY: a valid borrowed reference, held by the caller for the call.
    let object = unsafe { Bound::from_borrowed_ptr(py, object) };
    let Ok(pool) = object.cast::<Pool>() else {
        let kind = object
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |name| name.to_string());
        PyTypeError::new_err(format!(
            "arenapool_c_pool() argument must be an arenapool.Pool, not {kind}"
        ))
        .restore(py);
        return ptr::null();
    };
    let pool = pool.get();
    if !pool.is_open() {
        closed().restore(py);
        return ptr::null();
    }
    // Before any `nogil` call can make a lane (see `LaneSet::register`).
    pool.register_lanes();
    pool
}

/// The exception for a refused C-level call.
fn c_error(err: CError) -> PyErr {
    match err {
        CError::Closed => closed(),
        CError::NotOurs => InvalidAllocationError::new_err(
            "arenapool: the pointer was not allocated by this pool's C API, or was already freed",
        ),
        CError::Alloc(err) => alloc_error(err),
    }
}

/// Raises for a NULL handle (never given by `arenapool_c_pool`).
fn null_handle(py: Python<'_>) {
    PyValueError::new_err("arenapool: NULL pool handle").restore(py);
}

/// `arenapool_alloc_or_raise`: as `arenapool_alloc`, raising
/// `OverflowError` / `MemoryError` / `ValueError` (closed) instead of NULL.
///
/// # Safety
///
/// The GIL is held; `pool` as for [`pool_ref`].
unsafe extern "C" fn alloc_or_raise(
    pool: *const Pool,
    number: usize,
    elem_size: usize,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    if let Some(pool) = unsafe { pool_ref(pool) } {
        if let Some(block) = pool.c_alloc_fast(number, elem_size, Caller::HoldsGil) {
            return out(block);
        }
    }
    // SAFETY: forwarded.
    unsafe { alloc_or_raise_slow(pool, number, elem_size) }
}

/// [`alloc_or_raise`] past its fast path (see `Pool::c_alloc_fast`).
///
/// # Safety
///
/// As for [`alloc_or_raise`].
#[cold]
#[inline(never)]
unsafe fn alloc_or_raise_slow(pool: *const Pool, number: usize, elem_size: usize) -> *mut c_void {
    // SAFETY: the caller holds the GIL (declared without `nogil`).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        null_handle(py);
        return ptr::null_mut();
    };
    // The GIL stays held throughout, whatever the size (see the module docs).
    match pool.c_alloc(number, elem_size, Caller::HoldsGil) {
        Ok(block) => out(block),
        Err(err) => {
            c_error(err).restore(py);
            ptr::null_mut()
        }
    }
}

/// `arenapool_realloc_or_raise`: as `arenapool_realloc`, raising
/// `InvalidAllocationError` for a pointer not ours, and as
/// [`alloc_or_raise`] otherwise.
///
/// # Safety
///
/// As for [`alloc_or_raise`].
unsafe extern "C" fn realloc_or_raise(
    pool: *const Pool,
    block: *mut c_void,
    new_nbytes: usize,
) -> *mut c_void {
    // SAFETY: the caller holds the GIL (declared without `nogil`).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        null_handle(py);
        return ptr::null_mut();
    };
    // The GIL stays held throughout, whatever the size (see the module docs).
    match pool.c_realloc(block.cast(), new_nbytes, Caller::HoldsGil) {
        Ok(block) => out(block),
        Err(err) => {
            c_error(err).restore(py);
            ptr::null_mut()
        }
    }
}

/// `arenapool_free_or_raise`: as `arenapool_free`, raising
/// `InvalidAllocationError` (not ours) or `ValueError` (closed).
///
/// # Safety
///
/// As for [`alloc_or_raise`].
unsafe extern "C" fn free_or_raise(pool: *const Pool, block: *mut c_void) -> c_int {
    // SAFETY: the caller's contract.
    if let Some(pool) = unsafe { pool_ref(pool) } {
        if pool.c_free_fast(block.cast(), Caller::HoldsGil) {
            return 0;
        }
    }
    // SAFETY: forwarded.
    unsafe { free_or_raise_slow(pool, block) }
}

/// [`free_or_raise`] past its fast path (see `Pool::c_free_fast`).
///
/// # Safety
///
/// As for [`alloc_or_raise`].
#[cold]
#[inline(never)]
unsafe fn free_or_raise_slow(pool: *const Pool, block: *mut c_void) -> c_int {
    // SAFETY: the caller holds the GIL (declared without `nogil`).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        null_handle(py);
        return -1;
    };
    match pool.c_free(block.cast(), Caller::HoldsGil) {
        Ok(()) => 0,
        Err(err) => {
            c_error(err).restore(py);
            -1
        }
    }
}

// --- nogil: no Python object, no GIL -------------------------------------

/// `arenapool_alloc`: `number * elem_size` zeroed bytes, 16-byte aligned;
/// NULL if the size overflows, the limit or the system refuses, or the pool
/// is closed.
///
/// # Safety
///
/// `pool` as for [`pool_ref`]; with or without the GIL.
unsafe extern "C" fn pool_alloc(pool: *const Pool, number: usize, elem_size: usize) -> *mut c_void {
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        return ptr::null_mut();
    };
    match pool.c_alloc_fast(number, elem_size, Caller::Unknown) {
        Some(block) => out(block),
        None => pool_alloc_slow(pool, number, elem_size),
    }
}

/// [`pool_alloc`] past its fast path.
#[cold]
#[inline(never)]
fn pool_alloc_slow(pool: &Pool, number: usize, elem_size: usize) -> *mut c_void {
    pool.c_alloc(number, elem_size, Caller::Unknown)
        .map_or(ptr::null_mut(), out)
}

/// `arenapool_realloc`: resizes a block of this pool's C API (NULL
/// allocates); NULL on failure, the block unchanged.
///
/// # Safety
///
/// As for [`pool_alloc`].
unsafe extern "C" fn pool_realloc(
    pool: *const Pool,
    block: *mut c_void,
    new_nbytes: usize,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        return ptr::null_mut();
    };
    pool.c_realloc(block.cast(), new_nbytes, Caller::Unknown)
        .map_or(ptr::null_mut(), out)
}

/// `arenapool_free`: 0, or -1 for a pointer this pool's C API did not hand
/// out (or already freed), or a closed pool.
///
/// # Safety
///
/// As for [`pool_alloc`].
unsafe extern "C" fn pool_free(pool: *const Pool, block: *mut c_void) -> c_int {
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        return -1;
    };
    if pool.c_free_fast(block.cast(), Caller::Unknown) {
        return 0;
    }
    pool_free_slow(pool, block)
}

/// [`pool_free`] past its fast path.
#[cold]
#[inline(never)]
fn pool_free_slow(pool: &Pool, block: *mut c_void) -> c_int {
    match pool.c_free(block.cast(), Caller::Unknown) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// `arenapool_size`: the pool's live bytes (`Pool.size`), 0 once closed.
///
/// # Safety
///
/// As for [`pool_alloc`].
unsafe extern "C" fn pool_size(pool: *const Pool) -> usize {
    // SAFETY: the caller's contract.
    let Some(pool) = (unsafe { pool_ref(pool) }) else {
        return 0;
    };
    pool.c_size(Caller::Unknown)
}
