//! `Address`: cymem's single self-owned allocation.
//!
//! A hand-made type (see `crate::heap_type`). A small block (up to
//! [`INLINE_MAX`] bytes) lives inside the object itself, so `Address(1, 16)`
//! is one `PyObject_Malloc` and a 16-byte clear, where cymem's is an object
//! and a `PyMem_Malloc`; a larger one is a zeroed block of the system
//! allocator (whose fresh pages come zeroed), as cymem's `calloc`-like
//! path. Either way the address is 16-byte aligned, stays put for the
//! object's life, and its bytes count in `total_reserved()`.
//!
//! An `Address` holds no Python object, so it is not tracked by the cyclic
//! GC (cymem's is: it holds its `PyMalloc`/`PyFree`).

use std::alloc::Layout;
use std::ffi::{c_void, CStr};
use std::mem::{offset_of, size_of};
use std::ptr;

use arenapool::AllocError;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::accounting;
use crate::errors::alloc_error;
use crate::heap_type::{self, guarded, size_arg, TypeCell};

/// The type, made by [`register`].
static TYPE: TypeCell = TypeCell::new();

/// cymem's `Address` at cymem's ABI (`arenapool.cymem.Address`), made by
/// [`register_cymem`]: the same object, whose `pymalloc` and `pyfree` are
/// set.
static CYMEM_TYPE: TypeCell = TypeCell::new();

/// The object: CPython's header, cymem's three fields at cymem's offsets,
/// the block's size, then (for a small block) the block.
#[repr(C)]
struct AddressObject {
    ob_base: ffi::PyObject,
    /// The block's first byte: `inline` below, or a block of the system
    /// allocator (cymem's `ptr`, read straight from memory by cymem's
    /// clients).
    ptr: *mut u8,
    /// cymem's `pymalloc` and `pyfree` (`Default_Malloc`, `Default_Free`)
    /// for a `arenapool.cymem.Address`, null for an `arenapool.Address`.
    pymalloc: *mut ffi::PyObject,
    pyfree: *mut ffi::PyObject,
    /// The size asked for.
    nbytes: usize,
    /// The block's size (a multiple of 16, at least 16), counted in
    /// `total_reserved()`.
    held: usize,
    _pad: usize,
    /// Where an inline block starts (16-aligned: see [`HEADER`]).
    inline: [u128; 0],
}

/// The object's size before an inline block.
const HEADER: usize = offset_of!(AddressObject, inline);

/// The size cymem's clients check (`sizeof(struct __pyx_obj_5cymem_5cymem_Address)`):
/// the object up to `pyfree`. An object is always [`HEADER`] bytes or more.
pub const CYMEM_BASICSIZE: usize = offset_of!(AddressObject, nbytes);

/// The largest block kept inside its object: with the header, the object
/// stays within CPython's small-object allocator (512 bytes).
pub const INLINE_MAX: usize = 512 - HEADER;

const _: () = assert!(HEADER % 16 == 0 && size_of::<AddressObject>() == HEADER);
const _: () = assert!(
    offset_of!(AddressObject, ptr) == 16
        && offset_of!(AddressObject, pymalloc) == 24
        && offset_of!(AddressObject, pyfree) == 32
        && CYMEM_BASICSIZE == 40
);

/// Makes the type and adds it to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let getset = vec![
        heap_type::getter(
            c"addr",
            get_addr,
            c"The address of the allocation (an int).",
            0,
        ),
        heap_type::getter(c"nbytes", get_nbytes, c"Its size in bytes.", 0),
    ];
    const DOC: &CStr = c"Address(number, elem_size)\n--\n\n\
Address(number, elem_size): one zeroed, 16-byte aligned allocation owned by \
this object and freed when it is collected (cymem's ``Address``).";
    make_type(&TYPE, module, c"arenapool.Address", HEADER, DOC, getset)
}

/// Makes `arenapool.cymem.Address` and adds it to `module` (the native
/// half of `arenapool.cymem`): cymem's `Address(number, elem_size)`, with
/// `ptr` at offset 16, `pymalloc` at 24, `pyfree` at 32 and a size of 40, as
/// cymem's clients check and read them.
pub fn register_cymem(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let getset = vec![
        heap_type::getter(c"addr", get_addr, c"The address of the block (an int).", 0),
        heap_type::getter(
            c"pymalloc",
            get_pymalloc,
            c"cymem's allocator object (Default_Malloc).",
            0,
        ),
        heap_type::getter(
            c"pyfree",
            get_pyfree,
            c"cymem's free object (Default_Free).",
            0,
        ),
    ];
    const DOC: &CStr = c"Address(number, elem_size)\n--\n\n\
Address(number, elem_size): number * elem_size zeroed bytes, 16-byte aligned, \
owned by this object and freed when it is collected (cymem's ``Address``; \
``ptr`` is the block for Cython clients, ``addr`` its address).";
    make_type(
        &CYMEM_TYPE,
        module,
        c"arenapool.cymem.Address",
        CYMEM_BASICSIZE,
        DOC,
        getset,
    )
}

/// Makes one of the two types: their slots are the same, their names,
/// sizes and attributes not.
fn make_type(
    cell: &TypeCell,
    module: &Bound<'_, PyModule>,
    name: &'static CStr,
    basicsize: usize,
    doc: &'static CStr,
    getset: Vec<ffi::PyGetSetDef>,
) -> PyResult<()> {
    let getset = heap_type::leak_table(getset, ffi::PyGetSetDef::default());
    cell.create(
        module,
        name,
        basicsize,
        vec![
            heap_type::slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void),
            heap_type::slot(ffi::Py_tp_new, tp_new as *mut c_void),
            heap_type::slot(ffi::Py_tp_dealloc, tp_dealloc as *mut c_void),
            heap_type::slot(ffi::Py_tp_repr, tp_repr as *mut c_void),
            heap_type::slot(ffi::Py_tp_getset, getset.cast()),
        ],
    )?;
    // SAFETY: the type just made, not yet called; CPython reads the field
    // (documented, never inherited) on each call of the type.
    unsafe { (*cell.get()).tp_vectorcall = Some(vectorcall) };
    Ok(())
}

/// The block's layout for a request of `nbytes`: whole 16-byte units, at
/// least one (so that a zero-size `Address` has an address of its own).
fn block_layout(nbytes: usize) -> Result<Layout, AllocError> {
    let too_large = AllocError::LayoutTooLarge {
        size: nbytes,
        align: 16,
    };
    let held = nbytes
        .max(1)
        .checked_next_multiple_of(16)
        .ok_or(too_large)?;
    Layout::from_size_align(held, 16).map_err(|_| too_large)
}

/// `Address(number, elem_size)`, as Python calls a type: the arguments in
/// a vector, with no tuple made (`tp_vectorcall`).
unsafe extern "C" fn vectorcall(
    ty: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: CPython's vectorcall arguments, valid for the call.
        let (number, elem_size) = unsafe {
            let nargs = ffi::PyVectorcall_NARGS(nargsf);
            let [number, elem_size] = heap_type::fastcall_args(
                py,
                "Address",
                ["number", "elem_size"],
                0,
                args,
                nargs,
                kwnames,
            )?;
            (size_arg(py, number)?, size_arg(py, elem_size)?)
        };
        make(py, ty.cast(), number, elem_size)
    })
}

/// `Address.__new__(Address, number, elem_size)`: the same, from a tuple.
unsafe extern "C" fn tp_new(
    ty: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: CPython passes a tuple and a dict or null.
        let (number, elem_size) = unsafe { parse_new(py, args, kwargs) }?;
        make(py, ty, number, elem_size)
    })
}

/// A new `Address` of `number * elem_size` zeroed bytes.
fn make(
    py: Python<'_>,
    ty: *mut ffi::PyTypeObject,
    number: usize,
    elem_size: usize,
) -> PyResult<*mut ffi::PyObject> {
    let nbytes = number
        .checked_mul(elem_size)
        .ok_or(AllocError::SizeOverflow { number, elem_size })
        .map_err(alloc_error)?;
    let layout = block_layout(nbytes).map_err(alloc_error)?;
    let held = layout.size();
    let inline = held <= INLINE_MAX;
    let size = if inline { HEADER + held } else { HEADER };
    // SAFETY: `ty` is one of the two final types, whose objects are made
    // `HEADER` bytes or more (cymem's basic size is a prefix of that);
    // every field is written below.
    let object = unsafe { heap_type::new_object(py, ty, size) }?;
    let this = object.cast::<AddressObject>();
    // SAFETY: `object` is `size` bytes; `inline` starts at `HEADER`.
    let at = unsafe { ptr::addr_of_mut!((*this).inline) }.cast::<u8>();
    let block = if inline && at as usize % 16 == 0 {
        // SAFETY: `held` bytes of the object, after the header.
        unsafe { ptr::write_bytes(at, 0, held) };
        at
    } else {
        // Large, or an object allocator that does not align to 16
        // (CPython's does on 64-bit): a block of its own.
        // SAFETY: a layout of non-zero size.
        let block = unsafe { std::alloc::alloc_zeroed(layout) };
        if block.is_null() {
            // SAFETY: the object is dead: only its header was set.
            unsafe { heap_type::free_object(object) };
            return Err(alloc_error(AllocError::OutOfMemory {
                size: held,
                align: 16,
            }));
        }
        block
    };
    // cymem's objects hold its default allocator pair, as cymem's do.
    let (pymalloc, pyfree) = if ty == CYMEM_TYPE.get() {
        crate::cymem_abi::default_pair()
    } else {
        (ptr::null_mut(), ptr::null_mut())
    };
    // SAFETY: the object's own fields, none read before; the pair are new
    // references (or null), released in `tp_dealloc`.
    unsafe {
        (*this).ptr = block;
        (*this).pymalloc = pymalloc;
        (*this).pyfree = pyfree;
        (*this).nbytes = nbytes;
        (*this).held = held;
    }
    accounting::gil_add(held);
    Ok(object)
}

/// `(number, elem_size)` from `Address`'s arguments.
///
/// # Safety
///
/// `args` is a tuple, `kwargs` a dict or null.
unsafe fn parse_new(
    py: Python<'_>,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> PyResult<(usize, usize)> {
    // SAFETY: a tuple (caller).
    let given = unsafe { ffi::PyTuple_Size(args) };
    // SAFETY: a dict if not null (caller).
    let has_kwargs = !kwargs.is_null() && unsafe { ffi::PyDict_Size(kwargs) } > 0;
    if given == 2 && !has_kwargs {
        // SAFETY: a tuple of two items; borrowed references.
        let (number, elem_size) =
            unsafe { (ffi::PyTuple_GetItem(args, 0), ffi::PyTuple_GetItem(args, 1)) };
        // SAFETY: valid objects, borrowed from the tuple.
        return unsafe { Ok((size_arg(py, number)?, size_arg(py, elem_size)?)) };
    }
    // Keywords, or a wrong count: the slow path, with PyO3's conversions.
    // SAFETY: a tuple and a dict or null (caller); borrowed references.
    let args = unsafe { Bound::from_borrowed_ptr(py, args) };
    // SAFETY: as above.
    let kwargs = (!kwargs.is_null()).then(|| unsafe { Bound::from_borrowed_ptr(py, kwargs) });
    let kwargs = kwargs
        .as_ref()
        .map(|kwargs| kwargs.cast::<PyDict>())
        .transpose()?;
    let names = ["number", "elem_size"];
    let mut values = [None, None];
    let args = args.cast::<pyo3::types::PyTuple>()?;
    if args.len() > 2 {
        return Err(PyTypeError::new_err(format!(
            "Address() takes 2 arguments ({} given)",
            args.len()
        )));
    }
    for (value, arg) in values.iter_mut().zip(args.iter()) {
        *value = Some(arg);
    }
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            let Some(i) = names.iter().position(|name| *name == key) else {
                return Err(PyTypeError::new_err(format!(
                    "Address() got an unexpected keyword argument '{key}'"
                )));
            };
            if values[i].replace(value).is_some() {
                return Err(PyTypeError::new_err(format!(
                    "Address() got multiple values for argument '{key}'"
                )));
            }
        }
    }
    let mut sizes = [0; 2];
    for ((size, value), name) in sizes.iter_mut().zip(values).zip(names) {
        let value = value.ok_or_else(|| {
            PyTypeError::new_err(format!("Address() missing required argument '{name}'"))
        })?;
        // SAFETY: a valid object.
        *size = unsafe { size_arg(py, value.as_ptr()) }?;
    }
    Ok((sizes[0], sizes[1]))
}

/// Frees the block (unless inline) and the object.
unsafe extern "C" fn tp_dealloc(object: *mut ffi::PyObject) {
    let this = object.cast::<AddressObject>();
    // SAFETY: a dead `Address`, all of whose fields `tp_new` wrote.
    unsafe {
        let (block, held) = ((*this).ptr, (*this).held);
        if block != ptr::addr_of_mut!((*this).inline).cast::<u8>() {
            // SAFETY: the block `tp_new` made with this layout.
            std::alloc::dealloc(block, Layout::from_size_align_unchecked(held, 16));
        }
        accounting::gil_sub(held);
        ffi::Py_XDECREF((*this).pymalloc);
        ffi::Py_XDECREF((*this).pyfree);
        heap_type::free_object(object);
    }
}

/// The `Address` fields of `object`.
///
/// # Safety
///
/// `object` is an `Address` (CPython checks a getter's or slot's object).
unsafe fn fields(object: *mut ffi::PyObject) -> (*mut u8, usize) {
    let this = object.cast::<AddressObject>();
    // SAFETY: a live `Address` (caller).
    unsafe { ((*this).ptr, (*this).nbytes) }
}

unsafe extern "C" fn get_addr(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a getter with an object of its type.
    let (block, _) = unsafe { fields(object) };
    // SAFETY: attached (a getter); a new reference or null with an error.
    unsafe { ffi::PyLong_FromSize_t(block as usize) }
}

unsafe extern "C" fn get_nbytes(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: as in `get_addr`.
    let (_, nbytes) = unsafe { fields(object) };
    // SAFETY: as in `get_addr`.
    unsafe { ffi::PyLong_FromSize_t(nbytes) }
}

unsafe extern "C" fn get_pymalloc(
    object: *mut ffi::PyObject,
    _: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a getter with an object of its type, a
    // `arenapool.cymem.Address`, whose `pymalloc` is set.
    unsafe { new_ref((*object.cast::<AddressObject>()).pymalloc) }
}

unsafe extern "C" fn get_pyfree(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: as in `get_pymalloc`.
    unsafe { new_ref((*object.cast::<AddressObject>()).pyfree) }
}

/// A new reference to `object`, or to `None` if it is null.
///
/// # Safety
///
/// `object` is null or a valid object; attached.
unsafe fn new_ref(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let object = if object.is_null() {
        // SAFETY: attached (caller).
        unsafe { ffi::Py_None() }
    } else {
        object
    };
    // SAFETY: a valid object (caller).
    unsafe { ffi::Py_INCREF(object) };
    object
}

unsafe extern "C" fn tp_repr(object: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: CPython calls `tp_repr` with an object of its type.
        let (block, nbytes) = unsafe { fields(object) };
        // SAFETY: an object of either type.
        let cymem = unsafe { CYMEM_TYPE.holds(object) };
        let name = if cymem {
            "arenapool.cymem"
        } else {
            "arenapool"
        };
        let text = format!(
            "<{name}.Address addr={:#x} nbytes={nbytes}>",
            block as usize
        );
        Ok(pyo3::types::PyString::new(py, &text).into_ptr())
    })
}
