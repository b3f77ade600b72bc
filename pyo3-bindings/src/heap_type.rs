//! Types and methods made by hand with CPython's C API (`PyType_FromSpec`,
//! `PyDescr_NewMethod`, and `tp_vectorcall` for the constructors), for
//! what Python makes and calls by the million: `Address`, `Allocation`,
//! `Pool()`, and `Pool`'s `alloc`, `free` and `realloc`.
//!
//! # Why not `#[pyclass]` for these
//!
//! Measured with `perf` on `pool.free(pool.alloc(1, 16))` (98 ns a pair
//! through PyO3, cymem's `Address(1, 16)` 44 ns): PyO3's call path — the
//! trampoline's attach guard, its argument description, its integer
//! extraction, its object initializer and `tp_dealloc` chain — took about a
//! third of the time, and every `#[pyclass]` is tracked by the cyclic GC
//! (PyO3 sets `Py_TPFLAGS_HAVE_GC` on all of them), so each `Allocation`
//! was linked into the collector's lists and walked by every collection,
//! although no reference cycle can pass through one (see
//! `crate::allocation`). Here a call is a `METH_FASTCALL` function that
//! reads its arguments from the vector Python passes, and an object is one
//! `PyObject_Malloc`.
//!
//! Everything else stays in PyO3: the module, `Pool` itself, the
//! exceptions, and the cold paths (errors, `repr`, `cast`), which the
//! functions here reach with a [`Python`] token they are entitled to (they
//! run only as CPython calls them: attached, holding the GIL).
//!
//! One rule follows from PyO3 not knowing these calls hold the GIL: code
//! here drops no [`Py`] (PyO3 would defer its decref to a later PyO3 call);
//! it uses [`Bound`], or `Py_DECREF` itself.

use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::{PySystemError, PyTypeError};

use pyo3::prelude::*;
use pyo3::{ffi, PyErr};

/// A type made at module initialisation; read-only afterwards.
pub struct TypeCell(AtomicPtr<ffi::PyTypeObject>);

impl TypeCell {
    pub const fn new() -> Self {
        TypeCell(AtomicPtr::new(ptr::null_mut()))
    }

    /// The type (null before [`create`](Self::create)).
    #[inline]
    pub fn get(&self) -> *mut ffi::PyTypeObject {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether `object` is an instance. The types are final (no
    /// `Py_TPFLAGS_BASETYPE`), so that is an exact type check.
    ///
    /// # Safety
    ///
    /// `object` is a valid object pointer.
    #[inline]
    pub unsafe fn holds(&self, object: *mut ffi::PyObject) -> bool {
        // SAFETY: a valid object has a valid type pointer (caller).
        let ty = unsafe { ffi::Py_TYPE(object) };
        !ty.is_null() && ty == self.get()
    }

    /// Makes the type `name` (qualified, `'static`: CPython 3.11 keeps the
    /// pointer) from `slots`, with objects of `basicsize` bytes, final and
    /// immutable, and adds it to `module` under its short name.
    ///
    /// Without a `Py_tp_new` slot the type cannot be called from Python
    /// (`Py_TPFLAGS_DISALLOW_INSTANTIATION`): it would otherwise inherit
    /// `object.__new__`, whose objects have none of their fields set.
    pub fn create(
        &self,
        module: &Bound<'_, PyModule>,
        name: &'static CStr,
        basicsize: usize,
        slots: Vec<ffi::PyType_Slot>,
    ) -> PyResult<()> {
        self.create_with_flags(module, name, basicsize, 0, slots)
    }

    /// As [`create`](Self::create), with `extra` type flags (such as
    /// `Py_TPFLAGS_HAVE_GC`, for a type whose objects hold references).
    pub fn create_with_flags(
        &self,
        module: &Bound<'_, PyModule>,
        name: &'static CStr,
        basicsize: usize,
        extra: std::ffi::c_ulong,
        mut slots: Vec<ffi::PyType_Slot>,
    ) -> PyResult<()> {
        let mut flags = ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_IMMUTABLETYPE | extra;
        if !slots.iter().any(|slot| slot.slot == ffi::Py_tp_new) {
            flags |= ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION;
        }
        slots.push(ffi::PyType_Slot {
            slot: 0,
            pfunc: ptr::null_mut(),
        });
        let mut spec = ffi::PyType_Spec {
            name: name.as_ptr(),
            basicsize: basicsize as c_int,
            itemsize: 0,
            flags: flags as _,
            slots: slots.as_mut_ptr(),
        };
        let py = module.py();
        // SAFETY: a complete spec with a terminated slot list; CPython copies
        // the slots and the doc, and keeps `name`, which is static.
        let ty = unsafe { ffi::PyType_FromSpec(&mut spec) };
        if ty.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `ty` is a new reference, which `Bound` now owns.
        let ty = unsafe { Bound::from_owned_ptr(py, ty) };
        let short = name.to_str().unwrap_or_default().rsplit('.').next();
        module.add(short.unwrap_or_default(), &ty)?;
        // The cell keeps a reference of its own, never released: deleting
        // the module's attribute must not free a type that objects are still
        // made of (and checked against) through this pointer.
        self.0.store(ty.into_ptr().cast(), Ordering::Relaxed);
        Ok(())
    }
}

/// Defines `unsafe extern "C" fn $name`, a `METH_FASTCALL | METH_KEYWORDS`
/// method named `$python` in errors, whose arguments are matched to the
/// names `[$arg, ..]` (the last `$optional` of them may be absent, then
/// null) and bound as borrowed object pointers for `$body`, which returns
/// `PyResult<*mut PyObject>` (a new reference), run [`guarded`] with the
/// token `$py` and the object called on as `$slf`.
macro_rules! fastcall_method {
    ($name:ident, $python:literal, |$py:ident, $slf:ident, [$($arg:ident),+], $optional:literal| $body:expr) => {
        unsafe extern "C" fn $name(
            $slf: *mut pyo3::ffi::PyObject,
            args: *const *mut pyo3::ffi::PyObject,
            nargs: pyo3::ffi::Py_ssize_t,
            kwnames: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            $crate::heap_type::guarded(std::ptr::null_mut(), |$py| {
                // SAFETY: CPython's arguments of a `METH_FASTCALL |
                // METH_KEYWORDS` method, valid for the call.
                let [$($arg),+] = unsafe {
                    $crate::heap_type::fastcall_args(
                        $py,
                        $python,
                        [$(stringify!($arg)),+],
                        $optional,
                        args,
                        nargs,
                        kwnames,
                    )
                }?;
                $body
            })
        }
    };
}
pub(crate) use fastcall_method;

/// The definition of a `METH_FASTCALL | METH_KEYWORDS` method (`doc` starts
/// with its text signature, as CPython reads it).
pub fn method_def(
    name: &'static CStr,
    method: ffi::PyCFunctionFastWithKeywords,
    doc: &'static CStr,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: method,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }
}

/// A read-only attribute of a type (`closure` is passed to `get`: an
/// offset, or 0).
pub fn getter(
    name: &'static CStr,
    get: ffi::getter,
    doc: &'static CStr,
    closure: usize,
) -> ffi::PyGetSetDef {
    ffi::PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: None,
        doc: doc.as_ptr(),
        closure: ptr::without_provenance_mut(closure),
    }
}

/// A slot of a type spec.
pub fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// A `'static` copy of a table CPython keeps pointers into (method and
/// getter definitions), terminated by `end`.
pub fn leak_table<T>(mut entries: Vec<T>, end: T) -> *mut T {
    entries.push(end);
    Box::leak(entries.into_boxed_slice()).as_mut_ptr()
}

/// Runs the body of a C-level entry point: its error is set as the
/// exception and `failed` returned; a panic (none is expected) becomes a
/// `SystemError` instead of unwinding into CPython.
#[inline]
pub fn guarded<R>(failed: R, body: impl FnOnce(Python<'_>) -> PyResult<R>) -> R {
    // SAFETY: every caller is a function CPython calls attached, holding
    // the GIL (a method, a slot); the token does not outlive the call.
    let py = unsafe { Python::assume_attached() };
    match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            err.restore(py);
            failed
        }
        Err(_) => {
            PySystemError::new_err("arenapool: internal error (a panic was caught)").restore(py);
            failed
        }
    }
}

/// An integer argument as a size: `OverflowError` if negative or too large,
/// `TypeError` if it is not an integer (objects with `__index__` are).
///
/// # Safety
///
/// `object` is a valid object pointer.
#[inline]
pub unsafe fn size_arg(py: Python<'_>, object: *mut ffi::PyObject) -> PyResult<usize> {
    // SAFETY: a valid object (caller).
    if unsafe { ffi::PyLong_CheckExact(object) } != 0 {
        // SAFETY: an int.
        let value = unsafe { ffi::PyLong_AsSize_t(object) };
        if value == usize::MAX {
            if let Some(err) = PyErr::take(py) {
                return Err(err);
            }
        }
        return Ok(value);
    }
    // `__index__` through the type slot, as CPython's own size arguments
    // do; its error (a `TypeError` for a non-integer) is the one raised.
    // SAFETY: a valid object (caller); a new reference or null with an
    // exception set.
    let index = unsafe { ffi::PyNumber_Index(object) };
    if index.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: the new reference just made, dropped (with `Py_DECREF`) below.
    let index = unsafe { Bound::from_owned_ptr(py, index) };
    index.extract()
}

/// The positional and keyword arguments of a `METH_FASTCALL |
/// METH_KEYWORDS` call, matched to `names` (all required unless `optional`
/// counts the trailing ones that may be absent).
///
/// # Safety
///
/// `args`, `nargs` and `kwnames` are as CPython passes them to such a
/// method.
#[inline]
pub unsafe fn fastcall_args<'py, const N: usize>(
    py: Python<'py>,
    method: &str,
    names: [&str; N],
    optional: usize,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[*mut ffi::PyObject; N]> {
    // A method's `nargs` is the count itself (no vectorcall offset flag).
    let positional = nargs as usize;
    let mut found = [ptr::null_mut(); N];
    if kwnames.is_null() && positional == N {
        // The common case: every argument by position.
        for (i, slot) in found.iter_mut().enumerate() {
            // SAFETY: `args` holds `positional` arguments (caller).
            *slot = unsafe { *args.add(i) };
        }
        return Ok(found);
    }
    if positional > N {
        return Err(PyTypeError::new_err(format!(
            "{method}() takes at most {N} argument{} ({positional} given)",
            if N == 1 { "" } else { "s" }
        )));
    }
    for (i, slot) in found.iter_mut().enumerate().take(positional) {
        // SAFETY: as above.
        *slot = unsafe { *args.add(i) };
    }
    if !kwnames.is_null() {
        // SAFETY: `kwnames` is a tuple of str (caller).
        let kwnames = unsafe { Bound::from_borrowed_ptr(py, kwnames) };
        let kwnames = kwnames.cast::<pyo3::types::PyTuple>()?;
        for (k, name) in kwnames.iter().enumerate() {
            let name: String = name.extract()?;
            let Some(i) = names.iter().position(|known| *known == name) else {
                return Err(PyTypeError::new_err(format!(
                    "{method}() got an unexpected keyword argument '{name}'"
                )));
            };
            if !found[i].is_null() {
                return Err(PyTypeError::new_err(format!(
                    "{method}() got multiple values for argument '{name}'"
                )));
            }
            // SAFETY: the keyword values follow the positional ones (caller).
            found[i] = unsafe { *args.add(positional + k) };
        }
    }
    if let Some(i) = found[..N - optional].iter().position(|arg| arg.is_null()) {
        return Err(PyTypeError::new_err(format!(
            "{method}() missing required argument '{}'",
            names[i]
        )));
    }
    Ok(found)
}

/// Frees an object of a type made here (not GC-tracked) and drops its
/// reference to the type, as a heap type's `tp_dealloc` must.
///
/// # Safety
///
/// `object` came from [`new_object`], is dead (refcount zero) and its
/// contents were dropped.
pub unsafe fn free_object(object: *mut ffi::PyObject) {
    // SAFETY: a valid object of a heap type, which it holds a reference to.
    unsafe {
        let ty = ffi::Py_TYPE(object);
        ffi::PyObject_Free(object.cast());
        ffi::Py_DECREF(ty.cast());
    }
}

/// A new object of `ty` with `size` bytes (the header initialised, the rest
/// not), or `MemoryError`.
///
/// # Safety
///
/// `ty` is a type made by [`TypeCell::create`] whose objects are `size`
/// bytes or more; the caller initialises the rest before the object is
/// used.
#[inline]
pub unsafe fn new_object(
    py: Python<'_>,
    ty: *mut ffi::PyTypeObject,
    size: usize,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: plain memory of `size` bytes, 16-aligned on 64-bit CPython.
    let object = unsafe { ffi::PyObject_Malloc(size) }.cast::<ffi::PyObject>();
    if object.is_null() {
        return Err(pyo3::exceptions::PyMemoryError::new_err(
            "arenapool: out of memory for an object",
        ));
    }
    // SAFETY: fresh memory large enough for the header; `PyObject_Init`
    // sets the type (taking a reference to it, a heap type) and the
    // refcount.
    unsafe { ffi::PyObject_Init(object, ty) };
    let _ = py;
    Ok(object)
}
