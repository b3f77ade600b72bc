//! `Allocation`: a block of a pool, as a Python object — a zero-copy buffer
//! that keeps its pool alive.
//!
//! A hand-made type (see `crate::heap_type`): `Pool.alloc` makes one per
//! block, so it is one `PyObject_Malloc` and a handful of stores.
//!
//! # Not tracked by the cyclic GC
//!
//! An allocation's only reference is to its `Pool`, and a `Pool` (final,
//! without `__dict__`) references no Python object, so no reference cycle
//! can pass through an allocation: an owner in a cycle that holds
//! allocations is collected as a whole, its allocations dropped with it,
//! and the pool with the last of them. Tracking them (as every
//! `#[pyclass]` is) only made each collection walk every allocation.
//!
//! # The state, and who changes it
//!
//! `live` changes only under its lane's lock, which every check of it also
//! holds. `exports` is raised under the lane's lock (in `getbuffer`, after it
//! checked `live`) and read under it by `free`/`realloc` (which may run
//! without the GIL, for large blocks): an export and a free or move are so
//! ordered by the lock. It is lowered without the lock (in `releasebuffer`),
//! which at worst makes a racing `free` refuse with `BufferError`, as it
//! would have an instant earlier. So relaxed atomics suffice.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;
use pyo3::{ffi, Borrowed};

use crate::errors::InvalidAllocationError;
use crate::heap_type::{self, fastcall_method, guarded, TypeCell};
use crate::lane::Caller;
use crate::pool::{Block, Pool};

/// The type, made by [`register`].
static TYPE: TypeCell = TypeCell::new();

/// The object.
#[repr(C)]
pub struct Allocation {
    /// CPython's header, which it changes (the refcount) while references
    /// to the rest are live: so in an `UnsafeCell`.
    ob_base: UnsafeCell<ffi::PyObject>,
    /// A strong reference to the `Pool` that made the block.
    pool: *mut ffi::PyObject,
    /// The lane whose engine made the block.
    pub lane: usize,
    pub block: Block,
    pub nbytes: usize,
    live: AtomicBool,
    exports: AtomicUsize,
}

// SAFETY: a thread that released the GIL (a large `realloc`, inside
// `Pool::on_lane`) reads through `&Allocation` only `lane`, `block` and
// `nbytes`, written once before the object was shared, and the atomics; the
// header and the `pool` pointer are used only by GIL holders.
unsafe impl Sync for Allocation {}

/// An allocation object whose fields are not written yet; freed if dropped
/// unfilled.
pub struct Unfilled(*mut ffi::PyObject);

impl Unfilled {
    /// The object, for `block` of lane `lane` of `pool` (a `Pool` object,
    /// borrowed: the allocation takes its own reference).
    pub fn fill(
        self,
        pool: &Bound<'_, Pool>,
        lane: usize,
        block: Block,
        nbytes: usize,
    ) -> *mut ffi::PyObject {
        let object = self.0;
        std::mem::forget(self);
        let this = object.cast::<Allocation>();
        // SAFETY: the fields of the fresh object `reserve` made; the pool's
        // reference is taken here and dropped in `tp_dealloc`.
        unsafe {
            ptr::addr_of_mut!((*this).pool).write(pool.clone().into_ptr());
            ptr::addr_of_mut!((*this).lane).write(lane);
            ptr::addr_of_mut!((*this).block).write(block);
            ptr::addr_of_mut!((*this).nbytes).write(nbytes);
            ptr::addr_of_mut!((*this).live).write(AtomicBool::new(true));
            ptr::addr_of_mut!((*this).exports).write(AtomicUsize::new(0));
        }
        object
    }
}

impl Drop for Unfilled {
    fn drop(&mut self) {
        // SAFETY: an object of `reserve`, never used: only its header is set.
        unsafe { heap_type::free_object(self.0) };
    }
}

/// A claimed allocation: live, this pool's, not exported.
pub struct Claim<'a> {
    allocation: &'a Allocation,
}

impl Claim<'_> {
    /// Marks the allocation freed or moved away.
    pub fn retire(self) {
        self.allocation.live.store(false, Ordering::Relaxed);
    }
}

/// Makes the type and adds it to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let getter = |name, get, doc| heap_type::getter(name, get, doc, 0);
    let getset = heap_type::leak_table(
        vec![
            getter(
                c"address",
                get_address,
                c"The address of the first byte, for ctypes, cffi or Cython. A plain \
int: it pins nothing, so the block may be freed (or its pool closed) under it. To \
hold the block while a view lives, take a buffer: memoryview(a), a.cast(format), \
numpy.frombuffer(a) or (ctypes.c_int * n).from_buffer(a).",
            ),
            getter(c"nbytes", get_nbytes, c"The size in bytes."),
            getter(c"pool", get_pool, c"The Pool that owns this allocation."),
        ],
        ffi::PyGetSetDef::default(),
    );
    let methods = heap_type::leak_table(
        vec![heap_type::method_def(
            c"cast",
            cast,
            c"cast($self, /, format, shape=None)\n--\n\n\
cast(format, shape=None) -> memoryview: a typed, writable view of the block \
(``memoryview(a).cast(format, shape)`` in one call). It exports the buffer, so \
while it lives the block cannot be freed or moved, and stays valid through close().",
        )],
        ffi::PyMethodDef::zeroed(),
    );
    const DOC: &CStr = c"A block of a pool: a zero-copy buffer that keeps its pool alive.";
    TYPE.create(
        module,
        c"arenapool.Allocation",
        std::mem::size_of::<Allocation>(),
        vec![
            heap_type::slot(ffi::Py_tp_doc, DOC.as_ptr() as *mut c_void),
            heap_type::slot(ffi::Py_tp_dealloc, tp_dealloc as *mut c_void),
            heap_type::slot(ffi::Py_tp_repr, tp_repr as *mut c_void),
            heap_type::slot(ffi::Py_tp_getset, getset.cast()),
            heap_type::slot(ffi::Py_tp_methods, methods.cast()),
            heap_type::slot(ffi::Py_sq_length, length as *mut c_void),
            heap_type::slot(ffi::Py_mp_length, length as *mut c_void),
            heap_type::slot(ffi::Py_bf_getbuffer, getbuffer as *mut c_void),
            heap_type::slot(ffi::Py_bf_releasebuffer, releasebuffer as *mut c_void),
        ],
    )
}

impl Allocation {
    /// A new allocation object of `pool` (a `Pool` object, borrowed: the
    /// allocation takes its own reference) for `block` of lane `lane`.
    /// The memory of a new allocation object, made before the block it
    /// will hold, so that `alloc`/`realloc` change nothing when it cannot
    /// be had (`MemoryError`).
    pub fn reserve(py: Python<'_>) -> PyResult<Unfilled> {
        // SAFETY: the type made by `register`, with objects of this size;
        // `Unfilled::fill` writes every field before the object is used.
        let object = unsafe { heap_type::new_object(py, TYPE.get(), std::mem::size_of::<Self>()) }?;
        Ok(Unfilled(object))
    }

    /// The allocation behind a Python argument, or `TypeError`.
    ///
    /// # Safety
    ///
    /// `object` is a valid object pointer that stays alive for `'a`.
    #[inline]
    pub unsafe fn from_arg<'a>(
        object: *mut ffi::PyObject,
        argument: &str,
    ) -> PyResult<&'a Allocation> {
        // SAFETY: a valid object (caller).
        if unsafe { TYPE.holds(object) } {
            // SAFETY: an `Allocation`, alive for `'a` (caller); only its
            // atomics change after creation.
            return Ok(unsafe { &*object.cast::<Allocation>() });
        }
        // SAFETY: as above.
        let given = unsafe { Borrowed::from_ptr(Python::assume_attached(), object) };
        Err(PyTypeError::new_err(format!(
            "argument '{argument}': expected Allocation, got '{}'",
            given
                .get_type()
                .name()
                .map(|name| name.to_string())
                .unwrap_or_default()
        )))
    }

    /// The pool object.
    pub fn pool_object(&self) -> *mut ffi::PyObject {
        self.pool
    }

    /// The pool.
    fn pool<'a>(&'a self, py: Python<'_>) -> &'a Pool {
        // SAFETY: `pool` is a strong reference to a `Pool` object, held for
        // this allocation's life (which outlasts `&self`); `Pool` is frozen.
        unsafe { Borrowed::from_ptr(py, self.pool).cast_unchecked::<Pool>() }.get()
    }

    /// Checks that this is a live allocation of the pool (`same_pool`) with
    /// no buffer exported, for `free`/`realloc`. The caller holds the
    /// allocation's lane's lock.
    pub fn claim(&self, same_pool: bool) -> PyResult<Claim<'_>> {
        if !same_pool {
            return Err(InvalidAllocationError::new_err(
                "arenapool: the allocation belongs to another pool",
            ));
        }
        if !self.live.load(Ordering::Relaxed) {
            return Err(InvalidAllocationError::new_err(
                "arenapool: the allocation was freed or reallocated",
            ));
        }
        if self.exports.load(Ordering::Relaxed) > 0 {
            return Err(PyBufferError::new_err(
                "arenapool: cannot free or move an allocation while its buffer is exported",
            ));
        }
        Ok(Claim { allocation: self })
    }

    /// The block and length of a live allocation of an open pool.
    fn live(&self, py: Python<'_>) -> PyResult<(Block, usize)> {
        if self.pool(py).lane(self.lane, Caller::HoldsGil).is_none() {
            return Err(InvalidAllocationError::new_err(
                "arenapool: the allocation's pool is closed",
            ));
        }
        if !self.live.load(Ordering::Relaxed) {
            return Err(InvalidAllocationError::new_err(
                "arenapool: the allocation was freed or reallocated",
            ));
        }
        Ok((self.block, self.nbytes))
    }
}

/// The allocation a slot or getter is called on.
///
/// # Safety
///
/// CPython calls slots, getters and methods of this type with an object of
/// it, alive for the call.
unsafe fn this<'a>(object: *mut ffi::PyObject) -> &'a Allocation {
    // SAFETY: see above.
    unsafe { &*object.cast::<Allocation>() }
}

/// Drops the pool's reference (which may free the pool) and the object.
unsafe extern "C" fn tp_dealloc(object: *mut ffi::PyObject) {
    // SAFETY: a dead `Allocation` whose fields `create` wrote; its block
    // stays with the pool (freed with it, or by `free`).
    unsafe {
        let pool = (*object.cast::<Allocation>()).pool;
        heap_type::free_object(object);
        ffi::Py_DECREF(pool);
    }
}

unsafe extern "C" fn get_address(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: a getter of this type.
        let (block, _) = unsafe { this(object) }.live(py)?;
        Ok((block.as_ptr() as usize).into_pyobject(py)?.into_ptr())
    })
}

unsafe extern "C" fn get_nbytes(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: a getter of this type.
        let (_, nbytes) = unsafe { this(object) }.live(py)?;
        Ok(nbytes.into_pyobject(py)?.into_ptr())
    })
}

unsafe extern "C" fn get_pool(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a getter of this type; a new reference to the pool.
    unsafe {
        let pool = this(object).pool;
        ffi::Py_INCREF(pool);
        pool
    }
}

unsafe extern "C" fn length(object: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    guarded(-1, |py| {
        // SAFETY: a slot of this type.
        let (_, nbytes) = unsafe { this(object) }.live(py)?;
        // A live block is at most `isize::MAX` bytes (its layout).
        Ok(nbytes as ffi::Py_ssize_t)
    })
}

unsafe extern "C" fn tp_repr(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: a slot of this type.
        let text = match unsafe { this(object) }.live(py) {
            Ok((block, nbytes)) => format!(
                "<arenapool.Allocation nbytes={nbytes} address={:#x}>",
                block.as_ptr() as usize
            ),
            Err(_) => "<arenapool.Allocation invalid>".to_owned(),
        };
        Ok(pyo3::types::PyString::new(py, &text).into_ptr())
    })
}

// `cast(format, shape=None)`.
fastcall_method!(cast, "cast", |py, object, [format, shape], 1| {
    // SAFETY: `object` is the allocation called on, the arguments borrowed
    // objects (`shape` null if absent).
    let (object, format) = unsafe {
        (
            Borrowed::from_ptr(py, object),
            Borrowed::from_ptr(py, format),
        )
    };
    let view = pyo3::types::PyMemoryView::from(&object)?;
    let cast = if shape.is_null() {
        view.call_method1("cast", (format,))
    } else {
        // SAFETY: as above.
        let shape = unsafe { Borrowed::from_ptr(py, shape) };
        view.call_method1("cast", (format, shape))
    };
    Ok(cast?.into_ptr())
});

/// Exports the block as a writable, contiguous byte buffer.
unsafe extern "C" fn getbuffer(
    object: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> c_int {
    guarded(-1, |py| {
        // SAFETY: a slot of this type.
        let this = unsafe { this(object) };
        let refuse = |message: &'static str| {
            // SAFETY: `view` is valid for writes (CPython); an export that
            // fails must leave no owner in it.
            unsafe { (*view).obj = ptr::null_mut() };
            Err(InvalidAllocationError::new_err(message))
        };
        let mut lane = this.pool(py).lane(this.lane, Caller::HoldsGil);
        let Some(lane) = lane.as_mut() else {
            return refuse("arenapool: the allocation's pool is closed");
        };
        if !this.live.load(Ordering::Relaxed) {
            return refuse("arenapool: the allocation was freed or reallocated");
        }
        // The layout it was made with (`alloc`/`realloc` checked it then).
        let Ok(layout) = crate::pool::layout(this.nbytes) else {
            return refuse("arenapool: the allocation's size has no layout");
        };
        // The block stays valid while the export lives: free and realloc
        // refuse while `exports > 0`, and `close` keeps every block its lane
        // lists as exported until the last export of it ends; `view.obj` (a new reference to the
        // allocation) keeps the allocation and so the pool alive.
        // SAFETY: live memory of an open pool, `nbytes` (<= isize::MAX) long.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                object,
                this.block.as_ptr().cast::<c_void>(),
                this.nbytes as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(py));
        }
        this.exports.fetch_add(1, Ordering::Relaxed);
        lane.export(this.block, layout);
        Ok(0)
    })
}

/// Ends an export; never fails.
unsafe extern "C" fn releasebuffer(object: *mut ffi::PyObject, _view: *mut ffi::Py_buffer) {
    guarded((), |py| {
        // SAFETY: a slot of this type, called once per successful export.
        let this = unsafe { this(object) };
        this.exports.fetch_sub(1, Ordering::Relaxed);
        this.pool(py).release_export(this.lane, this.block);
        Ok(())
    })
}
