//! The native half of `arenapool.cymem`: cymem's four types at cymem's
//! frozen binary interface, backed by arenapool engines.
//!
//! # The interface clients were compiled against
//!
//! A Cython module that `cimport`s `cymem.cymem` (spaCy, thinc, preshed, as
//! binary wheels) reaches cymem only through what cymem 2.0.2 froze: at
//! import it imports the module `cymem.cymem`, takes its types `PyMalloc`,
//! `PyFree`, `Pool` and `Address`, checks each one's `tp_basicsize`
//! against the size it was compiled with (smaller fails the import, larger
//! warns), and reads each vtable from `type.__dict__['__pyx_vtable__']`, a
//! capsule with a NULL name. Then it reads fields straight from object
//! memory and calls methods through the vtable at offset 16:
//!
//! ```text
//!  PyMalloc (32)  [ header 16 | vtab: {_set}        | malloc_t malloc ]
//!  PyFree   (32)  [ header 16 | vtab: {_set}        | free_t free     ]
//!  Pool     (64)  [ header 16 | vtab: {alloc, free, realloc} | size_t size
//!                 | dict addresses | list refs | PyMalloc pymalloc | PyFree pyfree ]
//!  Address  (40)  [ header 16 | void* ptr | PyMalloc pymalloc | PyFree pyfree ]
//! ```
//!
//! Nothing checks the vtable's order: the structs below are that order, and
//! the ABI self-test (`pyo3-bindings/tests/cymem_abi`) calls every slot and
//! reads every field of a client compiled against upstream's `cymem.pxd`.
//!
//! # Where the engine lives
//!
//! A `Pool` object is exactly 64 bytes, so its arena has no field of its
//! own. Its vtable pointer has one: each pool's `__pyx_vtab` points at a
//! heap [`Engine`] of its own, whose first three words are the vtable that
//! clients call through and whose rest is the engine. So a pool is exactly
//! of type `Pool` (no hidden subtype), and a method finds its engine with
//! one load from the object it is called on. The type is final: a subclass
//! would replace the vtable pointer with its own (cymem's clients do not
//! subclass it; a module that tried would fail at import, loudly).
//!
//! # The GIL is the lock
//!
//! cymem's methods are not `nogil`: a client calls them holding the GIL,
//! as CPython calls the slots here. So an engine is used by one thread at a
//! time with no lock of its own, and a fork (which holds the GIL) never
//! meets one mid-call. Code here never calls into Python while it holds a
//! reference into an engine.
//!
//! # What cymem's clients see
//!
//! Zeroed, 16-byte aligned blocks; `size` exact at offset 24 after every
//! call; `free` of a pointer the pool did not hand out (or already freed)
//! raises `KeyError` and changes nothing, and `realloc` of one raises
//! `ValueError`, both without reading the pointer; `realloc` keeps the
//! contents, zeroes the new tail, and may also shrink (cymem refused that);
//! an overflowing `number * size` raises `OverflowError` (cymem returned a
//! short block). A pool made with a `PyMalloc`/`PyFree` pair other than the
//! defaults uses them for every block, as cymem does. `addresses` is an
//! empty dict: the engine's registry lists the blocks.
//!
//! # Cycles
//!
//! cymem freed a pool's blocks by walking `addresses`, which the cyclic
//! GC's `tp_clear` may have emptied first: a pool in a collected cycle
//! leaked all its memory. Here the blocks go with the engine, whatever was
//! cleared. And because the owners collected in the same cycle were
//! written against cymem (whose memory then stayed), a pool that dies
//! *during* a collection keeps its engine until the collection ends
//! ([`gc_phase`], registered in `gc.callbacks`): an owner's `__dealloc__`
//! that reads its arrays still reads live memory. Two edges of that:
//!
//! - The collections of interpreter exit call no callbacks, so from the
//!   `atexit` hook on, dead pools' engines are left to the system
//!   ([`retire`]), as cymem's memory was.
//! - If the hook leaves `gc.callbacks` between a collection's "start" and
//!   its "stop", the next pool made sees it gone and ends that collection
//!   ([`check_collecting`]) instead of deferring every later engine.
//!
//! A pool's references (`refs`, the allocator pair) go before its engine,
//! so an object kept by `own_pyref` may read the pool's blocks as it goes.
//!
//! # Where it differs from cymem
//!
//! - The four types are final: a subclass would replace a pool's vtable
//!   pointer, which is its engine's (spaCy, thinc and preshed subclass none
//!   of them; a module that does fails at its import, loudly).
//! - `realloc` may shrink, and to 0 (cymem raised `ValueError` unless the
//!   new size was larger): spaCy's `Doc._realloc` can ask for the same size.
//! - GIL builds only, as the wheels it serves: with the GIL forced off on
//!   a free-threaded build the engines would have no lock.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::mem::{offset_of, size_of};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

use arenapool::raw::RawPool;
use arenapool::AllocError;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use crate::accounting::Tracked;
use crate::errors::alloc_error;
use crate::heap_type::{self, guarded, TypeCell};
use crate::listed;
use crate::registry::Registry;

/// cymem's `malloc_t` and `free_t`.
type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

static PYMALLOC: TypeCell = TypeCell::new();
static PYFREE: TypeCell = TypeCell::new();
static POOL: TypeCell = TypeCell::new();

/// `Default_Malloc` and `Default_Free` (`PyMem_Malloc`, `PyMem_Free`):
/// made once, never released.
static DEFAULT_MALLOC: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());
static DEFAULT_FREE: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// The Python module `arenapool.cymem`'s dict (its `WARN_ZERO_ALLOC`), set
/// by `_bind`; never released.
static MODULE_DICT: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// True between a collection's "start" and "stop" (see [`gc_phase`]).
static COLLECTING: AtomicBool = AtomicBool::new(false);

/// True once the interpreter is exiting (`_finalizing`, an `atexit`
/// handler): dead pools' engines are left to the system.
static FINALIZING: AtomicBool = AtomicBool::new(false);

/// `gc.callbacks` and the `_gc_phase` object in it (set by `_bind`; never
/// released): where a pool made mid-"collection" checks that the hook is
/// still there to end it.
static GC_CALLBACKS: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());
static GC_HOOK: AtomicPtr<ffi::PyObject> = AtomicPtr::new(ptr::null_mut());

/// Pools made since the module was loaded (`_pools_made()`: the check
/// that a program really ran on the switch). Changed holding the GIL.
static POOLS_MADE: AtomicUsize = AtomicUsize::new(0);

/// Engines of dead pools kept for the next pools (see [`EngineCache`]).
static CACHE: EngineCache = EngineCache(UnsafeCell::new(Vec::new()));

/// At most this many engines wait in [`CACHE`]...
const CACHE_MAX: usize = 4;
/// ...each holding at most this much after its reset (its one chunk).
const CACHE_HELD_MAX: usize = 64 << 10;

/// Engines of dead pools, reset, each keeping its newest chunk, for the
/// next pools to take: spaCy makes and drops a pool per `Doc`, and a pool
/// that comes from the cache costs no system allocation to make, fill with
/// its first block, or drop (a `Doc`'s pool otherwise paid for the engine's
/// box and its first chunk, malloc and free, each time; with them it ran at
/// 0.69-1.3x cymem's time, the system allocator's state deciding). Bounded:
/// [`CACHE_MAX`] engines of at most [`CACHE_HELD_MAX`] bytes, counted in
/// `total_reserved()` (they are held from the system); `_trim()` empties it.
///
/// Used only holding the GIL (by `pool_new`, `pool_dealloc` and `_trim`,
/// through [`EngineCache::with`]), never across a call into Python.
struct EngineCache(UnsafeCell<Vec<EngineBox>>);

// SAFETY: the vector is only reached through `with`, which takes a
// `Python` token: by one thread at a time, holding the GIL (the module is
// `gil_used`), and never re-entrantly (no Python runs inside).
unsafe impl Sync for EngineCache {}

impl EngineCache {
    /// Runs `f` on the cached engines.
    #[inline]
    fn with<R>(&self, _: Python<'_>, f: impl FnOnce(&mut Vec<EngineBox>) -> R) -> R {
        // SAFETY: see `Sync` above; `f` runs no Python code (callers pass
        // pushes, pops and drains).
        f(unsafe { &mut *self.0.get() })
    }
}

/// `_trim()`: frees the cached engines (their memory leaves
/// `total_reserved()`).
#[pyfunction]
#[pyo3(name = "_trim")]
fn trim(py: Python<'_>) {
    let cached = CACHE.with(py, std::mem::take);
    cached.into_iter().for_each(release);
}

/// Engines of pools that died during a collection, freed at its end.
static DEFERRED: Mutex<Vec<EngineBox>> = Mutex::new(Vec::new());

// ---------------------------------------------------------------------------
// PyMalloc and PyFree
// ---------------------------------------------------------------------------

#[repr(C)]
struct PyMallocVtab {
    set: unsafe extern "C" fn(*mut PyMallocObject, Option<MallocFn>),
}

#[repr(C)]
struct PyMallocObject {
    ob_base: ffi::PyObject,
    vtab: *const PyMallocVtab,
    malloc: Option<MallocFn>,
}

#[repr(C)]
struct PyFreeVtab {
    set: unsafe extern "C" fn(*mut PyFreeObject, Option<FreeFn>),
}

#[repr(C)]
struct PyFreeObject {
    ob_base: ffi::PyObject,
    vtab: *const PyFreeVtab,
    free: Option<FreeFn>,
}

const _: () = assert!(
    size_of::<PyMallocObject>() == 32
        && offset_of!(PyMallocObject, vtab) == 16
        && offset_of!(PyMallocObject, malloc) == 24
        && size_of::<PyFreeObject>() == 32
        && offset_of!(PyFreeObject, free) == 24
);

static PYMALLOC_VTAB: PyMallocVtab = PyMallocVtab { set: pymalloc_set };
static PYFREE_VTAB: PyFreeVtab = PyFreeVtab { set: pyfree_set };

/// `PyMalloc._set(malloc)`.
unsafe extern "C" fn pymalloc_set(this: *mut PyMallocObject, malloc: Option<MallocFn>) {
    // SAFETY: called through the vtable of a live `PyMalloc` (cymem's ABI).
    unsafe { (*this).malloc = malloc };
}

/// `PyFree._set(free)`.
unsafe extern "C" fn pyfree_set(this: *mut PyFreeObject, free: Option<FreeFn>) {
    // SAFETY: called through the vtable of a live `PyFree` (cymem's ABI).
    unsafe { (*this).free = free };
}

/// A new `PyMalloc` wrapping `malloc` (cymem's `WrapMalloc`, in its
/// `__pyx_capi__`): a new reference, or NULL with an exception set.
unsafe extern "C" fn wrap_malloc(malloc: Option<MallocFn>) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: `PyMalloc` objects are `PyMallocObject`s; every field is
        // set below.
        let object =
            unsafe { heap_type::new_object(py, PYMALLOC.get(), size_of::<PyMallocObject>()) }?;
        let this = object.cast::<PyMallocObject>();
        // SAFETY: the fresh object's own fields.
        unsafe {
            (*this).vtab = &PYMALLOC_VTAB;
            (*this).malloc = malloc;
        }
        Ok(object)
    })
}

/// A new `PyFree` wrapping `free` (cymem's `WrapFree`).
unsafe extern "C" fn wrap_free(free: Option<FreeFn>) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: as in `wrap_malloc`.
        let object = unsafe { heap_type::new_object(py, PYFREE.get(), size_of::<PyFreeObject>()) }?;
        let this = object.cast::<PyFreeObject>();
        // SAFETY: the fresh object's own fields.
        unsafe {
            (*this).vtab = &PYFREE_VTAB;
            (*this).free = free;
        }
        Ok(object)
    })
}

/// `PyMalloc()`: an allocator object with no function yet (as cymem's).
unsafe extern "C" fn pymalloc_new(
    _: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython's arguments of `tp_new`.
    if unsafe { no_arguments("PyMalloc", args, kwargs) } {
        // SAFETY: attached (a slot).
        unsafe { wrap_malloc(None) }
    } else {
        ptr::null_mut()
    }
}

/// `PyFree()`.
unsafe extern "C" fn pyfree_new(
    _: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython's arguments of `tp_new`.
    if unsafe { no_arguments("PyFree", args, kwargs) } {
        // SAFETY: attached (a slot).
        unsafe { wrap_free(None) }
    } else {
        ptr::null_mut()
    }
}

/// True if `args` is empty and `kwargs` null or empty; else a `TypeError`
/// is set.
///
/// # Safety
///
/// Attached; `args` a tuple, `kwargs` a dict or null.
unsafe fn no_arguments(name: &str, args: *mut ffi::PyObject, kwargs: *mut ffi::PyObject) -> bool {
    // SAFETY: caller.
    let empty = unsafe {
        ffi::PyTuple_Size(args) == 0 && (kwargs.is_null() || ffi::PyDict_Size(kwargs) == 0)
    };
    if !empty {
        guarded((), |_| {
            Err(PyTypeError::new_err(format!("{name}() takes no arguments")))
        });
    }
    empty
}

/// Frees a `PyMalloc` or `PyFree` (no references held).
unsafe extern "C" fn plain_dealloc(object: *mut ffi::PyObject) {
    // SAFETY: a dead object of one of the two types, made by `new_object`.
    unsafe { heap_type::free_object(object) };
}

// ---------------------------------------------------------------------------
// Pool
// ---------------------------------------------------------------------------

/// cymem's `Pool` vtable, in cymem's order.
#[repr(C)]
struct PoolVtab {
    alloc: unsafe extern "C" fn(*mut PoolObject, usize, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut PoolObject, *mut c_void),
    realloc: unsafe extern "C" fn(*mut PoolObject, *mut c_void, usize) -> *mut c_void,
}

const VTAB: PoolVtab = PoolVtab {
    alloc: pool_alloc,
    free: pool_free,
    realloc: pool_realloc,
};

/// The vtable in the type's `__pyx_vtable__` (the one a client's own
/// subclass would copy; instances point at their [`Engine`]'s copy).
static TYPE_VTAB: PoolVtab = VTAB;

/// cymem's `Pool` object, exactly.
#[repr(C)]
struct PoolObject {
    ob_base: ffi::PyObject,
    /// This pool's [`Engine`] (its first field is the vtable), or null
    /// before `tp_new` made it and after `tp_dealloc` took it.
    vtab: *const PoolVtab,
    /// Live bytes (requested), read from memory by clients.
    size: usize,
    /// An empty dict (cymem listed its blocks here).
    addresses: *mut ffi::PyObject,
    /// Objects kept alive by `own_pyref`.
    refs: *mut ffi::PyObject,
    pymalloc: *mut ffi::PyObject,
    pyfree: *mut ffi::PyObject,
}

const _: () = assert!(
    size_of::<PoolObject>() == 64
        && offset_of!(PoolObject, vtab) == 16
        && offset_of!(PoolObject, size) == 24
        && offset_of!(PoolObject, addresses) == 32
        && offset_of!(PoolObject, refs) == 40
        && offset_of!(PoolObject, pymalloc) == 48
        && offset_of!(PoolObject, pyfree) == 56
);

/// A pool's engine, pointed at by its object's vtable pointer.
#[repr(C)]
struct Engine {
    /// First: the pool's `__pyx_vtab` points here.
    vtab: PoolVtab,
    /// Used only holding the GIL, by one call at a time (see the module
    /// doc), never across a call into Python.
    backing: UnsafeCell<Backing>,
}

/// Where a pool's blocks come from.
///
/// The arena is held inline although it is far larger than the other
/// variant: the whole [`Engine`] is one box per pool already, and a second
/// box would cost every call a dependent load.
#[allow(clippy::large_enum_variant)]
enum Backing {
    /// An arenapool engine and the registry of its blocks.
    Arena { tracked: Tracked, blocks: Registry },
    /// A custom `PyMalloc`/`PyFree` pair (strong references), called per
    /// block as cymem does; `sizes` lists the blocks.
    Custom {
        pymalloc: *mut ffi::PyObject,
        pyfree: *mut ffi::PyObject,
        sizes: HashMap<usize, usize>,
    },
}

/// An engine owned outside its pool object (deferred, or being freed).
struct EngineBox(Box<Engine>);

// SAFETY: an engine is touched only holding the GIL (see the module doc);
// the deferred list moves it between no threads but the GIL holders.
unsafe impl Send for EngineBox {}

impl Engine {
    /// A boxed engine, written in place: built on the stack and moved in,
    /// its ~900 bytes were copied twice per pool (with the copy out in
    /// `release`, `memmove` was 14% of making, filling and dropping a pool).
    fn new(backing: impl FnOnce() -> Backing) -> Box<Engine> {
        let mut engine = Box::<Engine>::new_uninit();
        let at = engine.as_mut_ptr();
        // SAFETY: both fields are written before `assume_init`.
        unsafe {
            ptr::addr_of_mut!((*at).vtab).write(VTAB);
            ptr::addr_of_mut!((*at).backing).write(UnsafeCell::new(backing()));
            engine.assume_init()
        }
    }
}

/// Frees what an engine holds. Holding the GIL (a custom pair's `free` and
/// references).
fn release(mut engine: EngineBox) {
    // An arena's registry leaves are blocks of its engine: they go with it,
    // dropped in place with the box below.
    if let Backing::Custom {
        pymalloc,
        pyfree,
        sizes,
    } = engine.0.backing.get_mut()
    {
        let (pymalloc, pyfree) = (*pymalloc, *pyfree);
        {
            // SAFETY: `pyfree` is a live `PyFree` (a strong reference);
            // every listed address is a live block of its allocator pair.
            unsafe {
                if let Some(free) = (*pyfree.cast::<PyFreeObject>()).free {
                    for &address in sizes.keys() {
                        free(ptr::with_exposed_provenance_mut(address));
                    }
                }
                ffi::Py_DECREF(pymalloc);
                ffi::Py_DECREF(pyfree);
            }
        }
    }
    drop(engine);
}

/// The engine's backing of `pool`.
///
/// # Safety
///
/// `pool` is a live `Pool` whose `tp_new` finished; holding the GIL; the
/// reference is dropped before any call into Python.
#[inline]
unsafe fn backing<'a>(pool: *mut PoolObject) -> &'a mut Backing {
    // SAFETY: the vtable pointer of a made pool is its engine (a `Box`
    // freed only in `tp_dealloc`), whose first field is the vtable; the
    // GIL makes this the only reference (caller).
    unsafe { &mut *(*(*pool).vtab.cast::<Engine>()).backing.get() }
}

/// `Pool.alloc(number, elem_size)`: `number * elem_size` zeroed bytes, or
/// NULL with `MemoryError`/`OverflowError` set.
unsafe extern "C" fn pool_alloc(
    pool: *mut PoolObject,
    number: usize,
    elem_size: usize,
) -> *mut c_void {
    // SAFETY: the vtable function's own contract, passed on.
    shielded(|| unsafe { pool_alloc_body(pool, number, elem_size) })
}

/// The body of [`pool_alloc`].
///
/// # Safety
///
/// `pool` is a made `Pool`; called holding the GIL, as cymem's ABI calls
/// its vtable.
unsafe fn pool_alloc_body(pool: *mut PoolObject, number: usize, elem_size: usize) -> *mut c_void {
    let Some(nbytes) = number.checked_mul(elem_size) else {
        return raise(alloc_error(AllocError::SizeOverflow { number, elem_size }));
    };
    if nbytes == 0 && !warn_zero_alloc() {
        return ptr::null_mut();
    }
    // SAFETY: called through the vtable of a made pool, holding the GIL
    // (cymem's ABI); no call into Python until the borrow ends.
    let made = match unsafe { backing(pool) } {
        Backing::Arena { tracked, blocks } => listed::alloc(tracked, blocks, nbytes),
        // SAFETY: a made pool with a custom pair; the borrow above ends here.
        Backing::Custom { .. } => unsafe { custom_alloc(pool, nbytes) },
    };
    match made {
        Ok(block) => {
            // SAFETY: the pool's own field; the GIL.
            unsafe { (*pool).size += nbytes };
            block.as_ptr().cast()
        }
        Err(err) => raise(alloc_error(err)),
    }
}

/// `Pool.free(p)`: `KeyError` (set, the caller checks `PyErr_Occurred`) if
/// the pool did not hand out `p` or already freed it.
unsafe extern "C" fn pool_free(pool: *mut PoolObject, block: *mut c_void) {
    // SAFETY: the vtable function's own contract, passed on.
    shielded(|| unsafe { pool_free_body(pool, block) })
}

/// The body of [`pool_free`].
///
/// # Safety
///
/// `pool` is a made `Pool`; called holding the GIL, as cymem's ABI calls
/// its vtable.
unsafe fn pool_free_body(pool: *mut PoolObject, block: *mut c_void) {
    let address = block.addr();
    // SAFETY: as in `pool_alloc`.
    let freed = match unsafe { backing(pool) } {
        Backing::Arena { tracked, blocks } => NonNull::new(block.cast::<u8>()).and_then(|block| {
            // SAFETY: the pool's registry lists the blocks of its engine.
            unsafe { listed::free_fast(tracked, blocks, block) }.or_else(|| {
                let nbytes = blocks.get(address)?;
                // SAFETY: just looked up in the registry of this engine.
                unsafe { listed::free(tracked, blocks, block, nbytes) };
                Some(nbytes)
            })
        }),
        // SAFETY: as in `pool_alloc`.
        Backing::Custom { .. } => unsafe { custom_free(pool, block) },
    };
    match freed {
        // SAFETY: the pool's own field; the GIL.
        Some(nbytes) => unsafe { (*pool).size -= nbytes },
        None => {
            raise::<()>(PyKeyError::new_err(address));
        }
    }
}

/// `Pool.realloc(p, new_size)`: the block resized, contents kept, new tail
/// zeroed; NULL with `ValueError` if the pool did not hand out `p`, or
/// `MemoryError`/`OverflowError` (the block as it was).
unsafe extern "C" fn pool_realloc(
    pool: *mut PoolObject,
    block: *mut c_void,
    new_nbytes: usize,
) -> *mut c_void {
    // SAFETY: the vtable function's own contract, passed on.
    shielded(|| unsafe { pool_realloc_body(pool, block, new_nbytes) })
}

/// The body of [`pool_realloc`].
///
/// # Safety
///
/// `pool` is a made `Pool`; called holding the GIL, as cymem's ABI calls
/// its vtable.
unsafe fn pool_realloc_body(
    pool: *mut PoolObject,
    block: *mut c_void,
    new_nbytes: usize,
) -> *mut c_void {
    let address = block.addr();
    // SAFETY: as in `pool_alloc`.
    let resized = match unsafe { backing(pool) } {
        Backing::Arena { tracked, blocks } => {
            match (NonNull::new(block.cast::<u8>()), blocks.get(address)) {
                (Some(block), Some(old)) => Some(
                    // SAFETY: just looked up in the registry of this engine.
                    unsafe { listed::realloc(tracked, blocks, block, old, new_nbytes) }
                        .map(|moved| (moved, old)),
                ),
                _ => None,
            }
        }
        // SAFETY: as in `pool_alloc`.
        Backing::Custom { .. } => unsafe { custom_realloc(pool, block, new_nbytes) },
    };
    match resized {
        Some(Ok((moved, old))) => {
            // SAFETY: the pool's own field; the GIL.
            unsafe { (*pool).size = (*pool).size - old + new_nbytes };
            moved.as_ptr().cast()
        }
        Some(Err(err)) => raise(alloc_error(err)),
        None => raise(PyValueError::new_err(format!(
            "Pointer {address} not found in Pool"
        ))),
    }
}

/// Runs a vtable function's body: a panic (none is expected: the engine
/// has none on its paths) becomes a `SystemError` instead of unwinding
/// into the client's C code.
#[inline(always)]
fn shielded<T: Nullish>(body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(_) => raise(pyo3::exceptions::PySystemError::new_err(
            "arenapool.cymem: internal error (a panic was caught)",
        )),
    }
}

/// Sets `err` as the exception; returns NULL (or `()`) for the caller.
#[cold]
fn raise<T: Nullish>(err: PyErr) -> T {
    // SAFETY: called from vtable methods, which hold the GIL.
    let py = unsafe { Python::assume_attached() };
    err.restore(py);
    T::null()
}

trait Nullish {
    fn null() -> Self;
}
impl Nullish for *mut c_void {
    fn null() -> Self {
        ptr::null_mut()
    }
}
impl Nullish for () {
    fn null() -> Self {}
}

/// cymem's warning for zero-size requests, if `WARN_ZERO_ALLOC` is true:
/// false (with the exception set) if the warning was turned into an error.
#[cold]
fn warn_zero_alloc() -> bool {
    guarded(false, |py| {
        let dict = MODULE_DICT.load(Ordering::Relaxed);
        if dict.is_null() {
            return Ok(true);
        }
        // SAFETY: the module's dict, kept alive for ever (see `_bind`).
        let dict = unsafe { Bound::from_borrowed_ptr(py, dict) };
        let dict = dict.cast::<PyDict>()?;
        let on = match dict.get_item("WARN_ZERO_ALLOC")? {
            Some(value) => value.is_truthy()?,
            None => false,
        };
        if on {
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyUserWarning>(),
                c"Allocating zero bytes",
                1,
            )?;
        }
        Ok(true)
    })
}

/// The listed blocks and the `PyMalloc`/`PyFree` of a pool with a custom
/// pair, borrowed only for a map operation: the pair's functions are the
/// client's code, called with no borrow of the pool alive.
///
/// # Safety
///
/// As for [`backing`], and the pool has a custom pair.
unsafe fn custom<'a>(
    pool: *mut PoolObject,
) -> Option<(
    *mut ffi::PyObject,
    *mut ffi::PyObject,
    &'a mut HashMap<usize, usize>,
)> {
    // SAFETY: caller.
    match unsafe { backing(pool) } {
        Backing::Custom {
            pymalloc,
            pyfree,
            sizes,
        } => Some((*pymalloc, *pyfree, sizes)),
        Backing::Arena { .. } => None,
    }
}

/// A zeroed block of `nbytes` from the pool's custom `malloc`, listed.
///
/// # Safety
///
/// As for [`custom`].
unsafe fn custom_alloc(pool: *mut PoolObject, nbytes: usize) -> Result<NonNull<u8>, AllocError> {
    let refused = AllocError::OutOfMemory {
        size: nbytes,
        align: 1,
    };
    // SAFETY: caller; the borrow ends with this statement.
    let pymalloc = match unsafe { custom(pool) } {
        Some((pymalloc, _, sizes)) => {
            sizes.try_reserve(1).map_err(|_| refused)?;
            pymalloc
        }
        None => return Err(refused),
    };
    // SAFETY: a live `PyMalloc` (the pool holds it).
    let malloc = unsafe { (*pymalloc.cast::<PyMallocObject>()).malloc }.ok_or(refused)?;
    // SAFETY: the client's allocator, called as cymem calls it.
    let block = NonNull::new(unsafe { malloc(nbytes) }.cast::<u8>()).ok_or(refused)?;
    // SAFETY: `malloc` gave `nbytes` writable bytes.
    unsafe { ptr::write_bytes(block.as_ptr(), 0, nbytes) };
    // SAFETY: caller. The key keeps the block's provenance exposed, for
    // `release` to free it through.
    if let Some((_, _, sizes)) = unsafe { custom(pool) } {
        sizes.insert(block.as_ptr().expose_provenance(), nbytes); // room made above
    }
    Ok(block)
}

/// Unlists a block of the pool's custom pair and frees it; its size, or
/// None if the pool did not list it.
///
/// # Safety
///
/// As for [`custom`].
unsafe fn custom_free(pool: *mut PoolObject, block: *mut c_void) -> Option<usize> {
    // SAFETY: caller; the borrow ends with this statement.
    let (pyfree, nbytes) = match unsafe { custom(pool) } {
        Some((_, pyfree, sizes)) => (pyfree, sizes.remove(&block.addr())?),
        None => return None,
    };
    // SAFETY: a live `PyFree` (the pool holds it); `block` came from its
    // pair's `malloc` and was listed until just now, so freed once.
    unsafe { free_with(pyfree, block) };
    Some(nbytes)
}

/// Calls a `PyFree`'s function on `block`.
///
/// # Safety
///
/// `pyfree` is a live `PyFree`; `block` came from its pair's `malloc`, not
/// freed.
unsafe fn free_with(pyfree: *mut ffi::PyObject, block: *mut c_void) {
    // SAFETY: caller.
    if let Some(free) = unsafe { (*pyfree.cast::<PyFreeObject>()).free } {
        // SAFETY: caller.
        unsafe { free(block) };
    }
}

/// cymem's realloc for a custom pair: a new block, the contents copied,
/// the new tail zeroed, the old block freed; None if the pool did not list
/// `block` (then nothing changed), with the old size on success.
///
/// # Safety
///
/// As for [`custom`].
unsafe fn custom_realloc(
    pool: *mut PoolObject,
    block: *mut c_void,
    new_nbytes: usize,
) -> Option<Result<(NonNull<u8>, usize), AllocError>> {
    // SAFETY: caller; the borrow ends with this statement.
    let old = unsafe { custom(pool) }?.2.get(&block.addr()).copied()?;
    // SAFETY: caller.
    let moved = match unsafe { custom_alloc(pool, new_nbytes) } {
        Ok(moved) => moved,
        Err(err) => return Some(Err(err)),
    };
    // SAFETY: two live blocks of `old` and `new_nbytes` bytes (the old one
    // still listed: the client's `malloc` cannot free it).
    unsafe { ptr::copy_nonoverlapping(block.cast::<u8>(), moved.as_ptr(), old.min(new_nbytes)) };
    // SAFETY: caller; the old block is unlisted and freed once.
    let freed = unsafe { custom_free(pool, block) };
    debug_assert_eq!(freed, Some(old));
    Some(Ok((moved, old)))
}

/// `Pool(pymalloc=Default_Malloc, pyfree=Default_Free)`.
unsafe extern "C" fn pool_new(
    ty: *mut ffi::PyTypeObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: CPython's arguments of `tp_new`.
        let (pymalloc, pyfree) = unsafe { pair_args(py, args, kwargs) }?;
        let (default_malloc, default_free) = (
            DEFAULT_MALLOC.load(Ordering::Relaxed),
            DEFAULT_FREE.load(Ordering::Relaxed),
        );
        let pymalloc = if pymalloc.is_null() {
            default_malloc
        } else {
            pymalloc
        };
        let pyfree = if pyfree.is_null() {
            default_free
        } else {
            pyfree
        };
        let arena = pymalloc == default_malloc && pyfree == default_free;
        let cached = if arena {
            CACHE.with(py, Vec::pop)
        } else {
            None
        };
        let engine = if let Some(EngineBox(engine)) = cached {
            engine
        } else if arena {
            Engine::new(|| Backing::Arena {
                tracked: Tracked::new_gil_held(RawPool::new(None)),
                blocks: Registry::default(),
            })
        } else {
            // SAFETY: live objects (arguments); the backing's references.
            unsafe {
                ffi::Py_INCREF(pymalloc);
                ffi::Py_INCREF(pyfree);
            }
            Engine::new(|| Backing::Custom {
                pymalloc,
                pyfree,
                sizes: HashMap::new(),
            })
        };
        if COLLECTING.load(Ordering::Relaxed) {
            check_collecting(py);
        }
        let engine = EngineBox(engine);
        // A load and a store: the GIL makes them one step (see
        // `accounting::gil_add`).
        POOLS_MADE.store(
            POOLS_MADE.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
        // SAFETY: a GC type of `PoolObject`s: `PyType_GenericAlloc` zeroes
        // the object (null fields, which `tp_traverse` skips) and tracks it.
        let object = unsafe { ffi::PyType_GenericAlloc(ty, 0) };
        if object.is_null() {
            release(engine);
            return Err(PyErr::fetch(py));
        }
        let this = object.cast::<PoolObject>();
        // SAFETY: the fresh object's fields; new references for the objects.
        unsafe {
            // The whole engine's pointer (its first field is the vtable), so
            // that its provenance covers the engine, not the vtable alone.
            (*this).vtab = Box::into_raw(engine.0).cast::<PoolVtab>();
            (*this).addresses = ffi::PyDict_New();
            (*this).refs = ffi::PyList_New(0);
            ffi::Py_INCREF(pymalloc);
            ffi::Py_INCREF(pyfree);
            (*this).pymalloc = pymalloc;
            (*this).pyfree = pyfree;
            if (*this).addresses.is_null() || (*this).refs.is_null() {
                let err = PyErr::fetch(py);
                ffi::Py_DECREF(object);
                return Err(err);
            }
        }
        Ok(object)
    })
}

/// `(pymalloc, pyfree)` from `Pool`'s arguments (borrowed; null if absent
/// or None), each checked to be a `PyMalloc` / `PyFree`.
///
/// # Safety
///
/// `args` is a tuple, `kwargs` a dict or null.
unsafe fn pair_args(
    py: Python<'_>,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> PyResult<(*mut ffi::PyObject, *mut ffi::PyObject)> {
    // SAFETY: caller.
    if unsafe {
        ffi::PyTuple_Size(args) == 0 && (kwargs.is_null() || ffi::PyDict_Size(kwargs) == 0)
    } {
        return Ok((ptr::null_mut(), ptr::null_mut()));
    }
    // SAFETY: a tuple and a dict or null (caller).
    let args = unsafe { Bound::from_borrowed_ptr(py, args) };
    let args = args.cast::<pyo3::types::PyTuple>()?;
    if args.len() > 2 {
        return Err(PyTypeError::new_err(format!(
            "Pool() takes at most 2 arguments ({} given)",
            args.len()
        )));
    }
    let mut found: [Option<Bound<'_, PyAny>>; 2] = [args.get_item(0).ok(), args.get_item(1).ok()];
    if !kwargs.is_null() {
        // SAFETY: a dict (caller).
        let kwargs = unsafe { Bound::from_borrowed_ptr(py, kwargs) };
        for (key, value) in kwargs.cast::<PyDict>()?.iter() {
            let key: String = key.extract()?;
            let i = match key.as_str() {
                "pymalloc" => 0,
                "pyfree" => 1,
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "Pool() got an unexpected keyword argument '{key}'"
                    )))
                }
            };
            if found[i].replace(value).is_some() {
                return Err(PyTypeError::new_err(format!(
                    "Pool() got multiple values for argument '{key}'"
                )));
            }
        }
    }
    let mut pair = [ptr::null_mut(); 2];
    for ((slot, value), (cell, name)) in pair
        .iter_mut()
        .zip(&found)
        .zip([(&PYMALLOC, "pymalloc"), (&PYFREE, "pyfree")])
    {
        let Some(value) = value.as_ref().filter(|value| !value.is_none()) else {
            continue;
        };
        // SAFETY: a live object.
        if !unsafe { cell.holds(value.as_ptr()) } {
            return Err(PyTypeError::new_err(format!(
                "Pool() argument '{name}' must be a cymem {}, not {}",
                if name == "pymalloc" {
                    "PyMalloc"
                } else {
                    "PyFree"
                },
                value.get_type().name()?
            )));
        }
        *slot = value.as_ptr();
    }
    Ok((pair[0], pair[1]))
}

/// Frees the pool: its engine (at the end of the collection, if one is
/// under way), then its references and the object.
unsafe extern "C" fn pool_dealloc(object: *mut ffi::PyObject) {
    let this = object.cast::<PoolObject>();
    // SAFETY: a dead pool (refcount zero), holding the GIL.
    unsafe {
        ffi::PyObject_GC_UnTrack(object.cast());
        // The references first: an object kept by `own_pyref` whose own
        // dealloc reads the pool's blocks still finds them.
        for field in [
            &mut (*this).addresses,
            &mut (*this).refs,
            &mut (*this).pymalloc,
            &mut (*this).pyfree,
        ] {
            let old = std::mem::replace(field, ptr::null_mut());
            ffi::Py_XDECREF(old);
        }
        let vtab = std::mem::replace(&mut (*this).vtab, ptr::null());
        if !vtab.is_null() {
            // SAFETY: the engine `pool_new` gave to the vtable pointer
            // (`Box::into_raw`), taken back once (the pointer is nulled
            // above).
            let engine = EngineBox(Box::from_raw(vtab.cast::<Engine>().cast_mut()));
            retire(engine);
        }
        let ty = ffi::Py_TYPE(object);
        ffi::PyObject_GC_Del(object.cast());
        ffi::Py_DECREF(ty.cast());
    }
}

/// Frees a dead pool's engine now, at the end of the collection under way,
/// or never once the interpreter is exiting (see the module doc).
fn retire(engine: EngineBox) {
    if FINALIZING.load(Ordering::Relaxed) {
        // The exit-time collections call no `gc.callbacks`: an owner that
        // reads its pool in `__dealloc__` may run after it. The system takes
        // the memory back with the process.
        std::mem::forget(engine);
    } else if COLLECTING.load(Ordering::Relaxed) {
        match DEFERRED.lock() {
            Ok(mut deferred) => deferred.push(engine),
            Err(poisoned) => poisoned.into_inner().push(engine),
        }
    } else {
        // SAFETY: `pool_dealloc` runs holding the GIL.
        let py = unsafe { Python::assume_attached() };
        if let Some(engine) = recycle(py, engine) {
            release(engine);
        }
    }
}

/// Resets an arena engine and keeps it in [`CACHE`] if there is room and
/// it holds little; gives it back otherwise.
fn recycle(py: Python<'_>, mut engine: EngineBox) -> Option<EngineBox> {
    if CACHE.with(py, |cache| cache.len()) >= CACHE_MAX {
        return Some(engine);
    }
    let Backing::Arena { tracked, blocks } = engine.0.backing.get_mut() else {
        return Some(engine);
    };
    // Every block goes (leaves included: blocks of the engine); the newest
    // chunk stays.
    let held = tracked.with(|raw| {
        raw.reset();
        raw.reserved_bytes()
    });
    *blocks = Registry::default();
    if held > CACHE_HELD_MAX {
        return Some(engine);
    }
    CACHE.with(py, |cache| cache.push(engine));
    None
}

unsafe extern "C" fn pool_traverse(
    object: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    let this = object.cast::<PoolObject>();
    // SAFETY: a live pool; its object fields are null or strong references,
    // and it holds one to its heap type.
    unsafe {
        let ty = ffi::Py_TYPE(object).cast::<ffi::PyObject>();
        for field in [
            ty,
            (*this).addresses,
            (*this).refs,
            (*this).pymalloc,
            (*this).pyfree,
        ] {
            if !field.is_null() {
                let result = visit(field, arg);
                if result != 0 {
                    return result;
                }
            }
        }
    }
    0
}

/// Breaks cycles through `own_pyref` (the only references that can form
/// one): `refs` becomes None, as Cython's `tp_clear` leaves it. The blocks
/// stay until the pool goes.
unsafe extern "C" fn pool_clear(object: *mut ffi::PyObject) -> c_int {
    let this = object.cast::<PoolObject>();
    // SAFETY: a live pool; the GIL; None is immortal-ish and referenced.
    unsafe {
        let none = ffi::Py_None();
        ffi::Py_INCREF(none);
        let old = std::mem::replace(&mut (*this).refs, none);
        ffi::Py_XDECREF(old);
    }
    0
}

/// `Pool.own_pyref(obj)`: keeps `obj` alive as long as the pool.
unsafe extern "C" fn own_pyref(
    object: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let this = object.cast::<PoolObject>();
    // SAFETY: CPython calls a method with an object of its type; the GIL.
    unsafe {
        let refs = (*this).refs;
        if refs.is_null() || ffi::PyList_Check(refs) == 0 {
            return guarded(ptr::null_mut(), |_| {
                Err(PyValueError::new_err(
                    "Pool.own_pyref: the pool was cleared",
                ))
            });
        }
        if ffi::PyList_Append(refs, value) != 0 {
            return ptr::null_mut();
        }
        let none = ffi::Py_None();
        ffi::Py_INCREF(none);
        none
    }
}

/// Getter of the object field at byte offset `closure` of a pool.
unsafe extern "C" fn get_field(
    object: *mut ffi::PyObject,
    closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a getter with an object of its type; `closure`
    // is the offset of one of its object fields (see `register`).
    unsafe {
        let field = *object
            .cast::<u8>()
            .add(closure.addr())
            .cast::<*mut ffi::PyObject>();
        let field = if field.is_null() {
            ffi::Py_None()
        } else {
            field
        };
        ffi::Py_INCREF(field);
        field
    }
}

unsafe extern "C" fn get_size(object: *mut ffi::PyObject, _: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: a pool (a getter of its type); attached.
    unsafe { ffi::PyLong_FromSize_t((*object.cast::<PoolObject>()).size) }
}

// ---------------------------------------------------------------------------
// The collection phases, the module
// ---------------------------------------------------------------------------

/// `_gc_phase(phase, info)`, in `gc.callbacks`: engines of pools that die
/// between a collection's "start" and "stop" are freed at its "stop"
/// (see the module doc).
#[pyfunction]
#[pyo3(name = "_gc_phase")]
fn gc_phase(phase: &str, info: &Bound<'_, PyAny>) {
    let _ = info;
    // A "start" without the "stop" of the collection before (the hook was
    // removed and put back mid-collection) ends that one too: its engines
    // go below.
    COLLECTING.store(phase == "start", Ordering::Relaxed);
    release_deferred();
}

/// Frees the engines that waited for the end of a collection.
fn release_deferred() {
    let deferred = match DEFERRED.lock() {
        Ok(mut deferred) => std::mem::take(&mut *deferred),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    deferred.into_iter().for_each(release);
}

/// Called by a pool made while a collection seems under way: if the hook
/// is no longer in `gc.callbacks`, no "stop" will come, so the collection
/// is taken as over (and its engines freed) rather than every later pool
/// leaked.
#[cold]
fn check_collecting(py: Python<'_>) {
    let (callbacks, hook) = (
        GC_CALLBACKS.load(Ordering::Relaxed),
        GC_HOOK.load(Ordering::Relaxed),
    );
    if callbacks.is_null() || hook.is_null() {
        return;
    }
    // SAFETY: the list `_bind` was given, kept alive for ever.
    let callbacks = unsafe { Bound::from_borrowed_ptr(py, callbacks) };
    let registered = callbacks
        .try_iter()
        .map(|mut items| items.any(|item| item.is_ok_and(|item| item.as_ptr() == hook)))
        .unwrap_or(true);
    if !registered {
        COLLECTING.store(false, Ordering::Relaxed);
        release_deferred();
    }
}

/// `_finalizing()`, an `atexit` handler: from now on dead pools' engines
/// are left to the system (see [`retire`]).
#[pyfunction]
#[pyo3(name = "_finalizing")]
fn finalizing() {
    FINALIZING.store(true, Ordering::Relaxed);
}

/// `_deferred()`: engines waiting for the end of a collection (tests).
#[pyfunction]
#[pyo3(name = "_deferred")]
fn deferred() -> usize {
    DEFERRED.lock().map(|deferred| deferred.len()).unwrap_or(0)
}

/// `_pools_made()`: pools made so far in this process.
#[pyfunction]
#[pyo3(name = "_pools_made")]
fn pools_made() -> usize {
    POOLS_MADE.load(Ordering::Relaxed)
}

/// `_bind(module_dict, gc_callbacks, hook)`: where `WARN_ZERO_ALLOC` is
/// read from, and where the collection hook lives.
#[pyfunction]
#[pyo3(name = "_bind")]
fn bind(dict: &Bound<'_, PyDict>, callbacks: &Bound<'_, PyAny>, hook: &Bound<'_, PyAny>) {
    for (cell, object) in [
        (&MODULE_DICT, dict.as_any()),
        (&GC_CALLBACKS, callbacks),
        (&GC_HOOK, hook),
    ] {
        let old = cell.swap(object.clone().into_ptr(), Ordering::Relaxed);
        // SAFETY: a strong reference this cell held, or null.
        unsafe { ffi::Py_XDECREF(old) };
    }
}

/// New references to `Default_Malloc` and `Default_Free` (for
/// `arenapool.cymem.Address`).
pub fn default_pair() -> (*mut ffi::PyObject, *mut ffi::PyObject) {
    let pair = (
        DEFAULT_MALLOC.load(Ordering::Relaxed),
        DEFAULT_FREE.load(Ordering::Relaxed),
    );
    // SAFETY: made at module initialisation and never released; attached
    // (an `Address` is being made).
    unsafe {
        ffi::Py_XINCREF(pair.0);
        ffi::Py_XINCREF(pair.1);
    }
    pair
}

/// Puts `vtab` in `ty.__dict__['__pyx_vtable__']`, as Cython does.
fn set_vtable(py: Python<'_>, ty: *mut ffi::PyTypeObject, vtab: *const c_void) -> PyResult<()> {
    // SAFETY: a capsule of a static table with a NULL name (Cython reads it
    // with `PyCapsule_GetPointer(capsule, 0)`); the type's dict, written
    // once before any client imports it.
    unsafe {
        let capsule = ffi::PyCapsule_New(vtab.cast_mut(), ptr::null(), None);
        if capsule.is_null() {
            return Err(PyErr::fetch(py));
        }
        let status = ffi::PyDict_SetItemString((*ty).tp_dict, c"__pyx_vtable__".as_ptr(), capsule);
        ffi::Py_DECREF(capsule);
        if status != 0 {
            return Err(PyErr::fetch(py));
        }
        ffi::PyType_Modified(ty);
    }
    Ok(())
}

/// cymem's `__pyx_capi__` signature strings (what Cython's
/// `__Pyx_ImportFunction` checks a capsule's name against).
const WRAP_MALLOC_SIGNATURE: &CStr =
    c"struct __pyx_obj_5cymem_5cymem_PyMalloc *(__pyx_t_5cymem_5cymem_malloc_t)";
const WRAP_FREE_SIGNATURE: &CStr =
    c"struct __pyx_obj_5cymem_5cymem_PyFree *(__pyx_t_5cymem_5cymem_free_t)";

/// Makes the submodule `_cymem` of `parent` (the native half of
/// `arenapool.cymem`): the four types, `Default_Malloc`, `Default_Free`,
/// `__pyx_capi__` and the collection hook.
pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let module = PyModule::new(py, "arenapool._arenapool._cymem")?;
    PYMALLOC.create(
        &module,
        c"arenapool.cymem.PyMalloc",
        size_of::<PyMallocObject>(),
        vec![
            heap_type::slot(
                ffi::Py_tp_doc,
                c"cymem's allocator wrapper: a malloc_t for a Pool.".as_ptr() as *mut c_void,
            ),
            heap_type::slot(ffi::Py_tp_new, pymalloc_new as *mut c_void),
            heap_type::slot(ffi::Py_tp_dealloc, plain_dealloc as *mut c_void),
        ],
    )?;
    PYFREE.create(
        &module,
        c"arenapool.cymem.PyFree",
        size_of::<PyFreeObject>(),
        vec![
            heap_type::slot(
                ffi::Py_tp_doc,
                c"cymem's free wrapper: a free_t for a Pool.".as_ptr() as *mut c_void,
            ),
            heap_type::slot(ffi::Py_tp_new, pyfree_new as *mut c_void),
            heap_type::slot(ffi::Py_tp_dealloc, plain_dealloc as *mut c_void),
        ],
    )?;
    let getter = heap_type::getter;
    let getset = heap_type::leak_table(
        vec![
            getter(
                c"size",
                get_size,
                c"Live bytes: the sum of the sizes of the blocks not freed.",
                0,
            ),
            getter(
                c"addresses",
                get_field,
                c"An empty dict, kept for cymem's layout (the engine lists the blocks).",
                offset_of!(PoolObject, addresses),
            ),
            getter(
                c"refs",
                get_field,
                c"The objects kept alive by own_pyref.",
                offset_of!(PoolObject, refs),
            ),
            getter(
                c"pymalloc",
                get_field,
                c"The allocator (Default_Malloc unless given).",
                offset_of!(PoolObject, pymalloc),
            ),
            getter(
                c"pyfree",
                get_field,
                c"The free (Default_Free unless given).",
                offset_of!(PoolObject, pyfree),
            ),
        ],
        ffi::PyGetSetDef::default(),
    );
    let methods = heap_type::leak_table(
        vec![ffi::PyMethodDef {
            ml_name: c"own_pyref".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: own_pyref,
            },
            ml_flags: ffi::METH_O,
            ml_doc: c"own_pyref(obj): keep obj alive as long as the pool.".as_ptr(),
        }],
        ffi::PyMethodDef::zeroed(),
    );
    const POOL_DOC: &CStr = c"Pool(pymalloc=None, pyfree=None)\n--\n\n\
cymem's Pool on an arenapool engine (pymalloc/pyfree default to Default_Malloc \
and Default_Free): Cython clients compiled against cymem call alloc, free and \
realloc through its vtable; every block goes when the pool goes, reference \
cycles included.";
    POOL.create_with_flags(
        &module,
        c"arenapool.cymem.Pool",
        size_of::<PoolObject>(),
        ffi::Py_TPFLAGS_HAVE_GC,
        vec![
            heap_type::slot(ffi::Py_tp_doc, POOL_DOC.as_ptr() as *mut c_void),
            heap_type::slot(ffi::Py_tp_new, pool_new as *mut c_void),
            heap_type::slot(ffi::Py_tp_dealloc, pool_dealloc as *mut c_void),
            heap_type::slot(ffi::Py_tp_traverse, pool_traverse as *mut c_void),
            heap_type::slot(ffi::Py_tp_clear, pool_clear as *mut c_void),
            heap_type::slot(ffi::Py_tp_getset, getset.cast()),
            heap_type::slot(ffi::Py_tp_methods, methods.cast()),
        ],
    )?;
    crate::address::register_cymem(&module)?;
    set_vtable(py, PYMALLOC.get(), ptr::from_ref(&PYMALLOC_VTAB).cast())?;
    set_vtable(py, PYFREE.get(), ptr::from_ref(&PYFREE_VTAB).cast())?;
    set_vtable(py, POOL.get(), ptr::from_ref(&TYPE_VTAB).cast())?;

    // SAFETY: attached (module initialisation); CPython's own allocator
    // pair, as cymem's defaults.
    let (malloc, free) = unsafe {
        (
            wrap_malloc(Some(ffi::PyMem_Malloc)),
            wrap_free(Some(ffi::PyMem_Free)),
        )
    };
    if malloc.is_null() || free.is_null() {
        return Err(PyErr::fetch(py));
    }
    DEFAULT_MALLOC.store(malloc, Ordering::Relaxed);
    DEFAULT_FREE.store(free, Ordering::Relaxed);
    // SAFETY: the new references just made; the statics keep their own.
    unsafe {
        module.add("Default_Malloc", Bound::from_borrowed_ptr(py, malloc))?;
        module.add("Default_Free", Bound::from_borrowed_ptr(py, free))?;
    }

    let capi = PyDict::new(py);
    for (name, function, signature) in [
        (
            "WrapMalloc",
            wrap_malloc as *mut c_void,
            WRAP_MALLOC_SIGNATURE,
        ),
        ("WrapFree", wrap_free as *mut c_void, WRAP_FREE_SIGNATURE),
    ] {
        // SAFETY: a capsule of a function pointer named by its signature,
        // as Cython exports a cdef function; the name is static.
        let capsule = unsafe { ffi::PyCapsule_New(function, signature.as_ptr(), None) };
        if capsule.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: the new reference just made, owned by `Bound`.
        let capsule = unsafe { Bound::from_owned_ptr(py, capsule) };
        let _: &Bound<'_, PyCapsule> = capsule.cast()?;
        capi.set_item(name, capsule)?;
    }
    module.setattr("__pyx_capi__", capi)?;
    module.add_function(wrap_pyfunction!(gc_phase, &module)?)?;
    module.add_function(wrap_pyfunction!(deferred, &module)?)?;
    module.add_function(wrap_pyfunction!(bind, &module)?)?;
    module.add_function(wrap_pyfunction!(pools_made, &module)?)?;
    module.add_function(wrap_pyfunction!(finalizing, &module)?)?;
    module.add_function(wrap_pyfunction!(trim, &module)?)?;
    parent.setattr("_cymem", module)?;
    Ok(())
}
