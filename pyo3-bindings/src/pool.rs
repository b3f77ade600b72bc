//! `Pool` and `Allocation`: the Python face of one engine.

use std::alloc::Layout;
use std::ffi::CStr;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

use arenapool::AllocError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{ffi, Borrowed};

use crate::allocation::Allocation;
use crate::errors::{alloc_error, closed};
use crate::heap_type::{self, fastcall_method, guarded, size_arg};
use crate::lane::{owner_of, Caller, LaneGuard, LaneSet, LaneState, GIL_LANE};
use crate::listed::{self, ALIGN};

/// Requests at least this large release the GIL while the engine zeroes or
/// copies (through the fork gate: see [`detached`]).
pub const RELEASE_GIL_BYTES: usize = 1 << 20;

/// A block pointer that may cross threads: the pool's lock guards its use.
#[derive(Clone, Copy)]
pub struct Block(pub NonNull<u8>);

impl Block {
    /// The block's first byte.
    pub fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }
}

// SAFETY: the pointer is only dereferenced (by Python, through a buffer
// export) while the allocation is live and its pool open, both checked under
// the pool's lock, or by the C code it was handed to (`crate::capi`), whose
// contract is the pool's lifetime, not a thread; the memory belongs to the
// pool, not to a thread.
unsafe impl Send for Block {}
// SAFETY: shared references to a `Block` only copy the pointer; see `Send`.
unsafe impl Sync for Block {}

pub fn layout(nbytes: usize) -> Result<Layout, AllocError> {
    Layout::from_size_align(nbytes, ALIGN).map_err(|_| AllocError::LayoutTooLarge {
        size: nbytes,
        align: ALIGN,
    })
}

/// A memory pool: owns every allocation made through it and frees them all
/// when closed or collected.
///
/// Its memory is in lanes (`crate::lane`): one engine per thread slot, each
/// behind a lock of its own, so that threads allocate side by side.
#[pyclass(frozen, module = "arenapool")]
pub struct Pool {
    lanes: LaneSet,
    /// False once closed (the lanes' own flags, checked under their locks,
    /// decide; this one answers `closed` without a lock).
    open: AtomicBool,
}

impl Pool {
    /// Runs `f` on a lane (this thread's, or lane `index`) if the pool is
    /// open, with the lane's index; releases the GIL while `f` runs if
    /// `large`.
    ///
    /// A large request that meets a fork under way does not wait for it
    /// without the GIL (the fork may be waiting for this thread: for the
    /// import lock it holds, or in an at-fork hook registered before
    /// arenapool's): it takes the GIL back and runs `f` holding it, which
    /// needs no gate.
    fn on_lane<R: Send>(
        &self,
        py: Python<'_>,
        index: Option<usize>,
        large: bool,
        f: impl FnOnce(usize, &mut LaneState) -> R + Send,
    ) -> PyResult<R> {
        // Holding the GIL, a call works in the GIL's lane (new blocks) or in
        // the block's own; released, in this thread's lane (new blocks) or
        // the block's own unless that is the GIL's, whose owner is whoever
        // holds the GIL: a block there is resized holding it.
        let pick = |caller: Caller| match index {
            Some(index) => {
                let owner = owner_of(index, caller);
                (index, self.lanes.get_or_make(index, owner), owner)
            }
            None => {
                let (seat, lane) = self.lanes.mine(caller);
                (seat.index, lane, seat.owner)
            }
        };
        let mut f = Some(f);
        if large && index != Some(GIL_LANE) {
            // The lane is picked holding the GIL (making it may register the
            // set: see `LaneSet::register`).
            let (index, lane, owner) = pick(Caller::Unknown);
            let done = py.detach(|| match self.lanes.enter_detached(lane, owner) {
                Ok(Some(mut guard)) => Ok(f.take().map(|f| f(index, &mut guard))),
                Ok(None) => Ok(None),
                Err(forking) => Err(forking),
            });
            if let Ok(done) = done {
                return done.ok_or_else(closed);
            }
        }
        let (index, lane, owner) = pick(Caller::HoldsGil);
        let mut guard = self
            .lanes
            .enter_as(lane, Caller::HoldsGil, owner)
            .ok_or_else(closed)?;
        // `f` is still here: the detached attempt gave up before using it.
        let f = f.take().ok_or_else(closed)?;
        Ok(f(index, &mut guard))
    }

    /// Lane `index`, locked, if the pool is open.
    pub fn lane(&self, index: usize, caller: Caller) -> Option<LaneGuard<'_>> {
        let lane = self.lanes.get_or_make(index, owner_of(index, caller));
        self.lanes.enter(lane, caller)
    }

    /// Each made lane's index and whether it is owned (for the tests).
    pub fn lane_ownership(&self) -> Vec<(usize, bool)> {
        self.lanes.ownership()
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Registers the pool's lanes for the fork handlers, before a C-level
    /// handle to it is given out (see `LaneSet::register`).
    pub fn register_lanes(&self) {
        self.lanes.register();
    }

    /// Ends one buffer export of `block`, of lane `lane`.
    pub fn release_export(&self, lane: usize, block: Block) {
        self.lanes.release_export(lane, block);
    }
}

/// Why a C-level call was refused; the pool is unchanged.
#[derive(Debug, Clone, Copy)]
pub enum CError {
    /// The pool is closed.
    Closed,
    /// The pointer was not handed out by this pool's C API, or was freed.
    NotOurs,
    /// The engine (or the registry) refused: size, limit or memory.
    Alloc(AllocError),
}

impl From<AllocError> for CError {
    fn from(err: AllocError) -> Self {
        CError::Alloc(err)
    }
}

/// The engine calls of the C API (`crate::capi`), one lane lock each.
///
/// No Python object: they may run on any thread, with or without the GIL
/// (`caller` says which is known), several at once on one pool. A thread
/// allocates from its own lane; every block made here is listed in that
/// lane's [`Registry`](crate::registry::Registry) with its requested size.
/// `c_free` and `c_realloc` look the address up in the caller's lane, then
/// in the others, and touch an engine only for a listed address, so that any
/// other pointer is refused without being dereferenced; the block is then
/// freed or resized in the lane that made it. On an error nothing changed.
impl Pool {
    /// [`c_alloc`](Self::c_alloc)'s fast path, which calls nothing: the
    /// caller's lane (`LaneSet::mine`) entered without waiting, a small block from its
    /// engine's fast path, listed where the registry has room. `None`, with
    /// nothing changed, when any step needs more (an overflowing size too):
    /// the caller then calls `c_alloc`, which does it all or says why not.
    #[inline(always)]
    pub fn c_alloc_fast(&self, number: usize, elem_size: usize, caller: Caller) -> Option<Block> {
        let nbytes = number.checked_mul(elem_size)?;
        let (seat, lane) = self.lanes.mine_made(caller)?;
        let mut lane = self.lanes.enter_fast(lane, caller, seat.owner)?;
        let LaneState {
            tracked, c_blocks, ..
        } = &mut *lane;
        listed::alloc_fast(tracked, c_blocks, nbytes).map(Block)
    }

    /// `number * elem_size` zeroed bytes, 16-byte aligned, listed.
    pub fn c_alloc(
        &self,
        number: usize,
        elem_size: usize,
        caller: Caller,
    ) -> Result<Block, CError> {
        let nbytes = number
            .checked_mul(elem_size)
            .ok_or(AllocError::SizeOverflow { number, elem_size })?;
        let (seat, lane) = self.lanes.mine(caller);
        let mut lane = self
            .lanes
            .enter_as(lane, caller, seat.owner)
            .ok_or(CError::Closed)?;
        let LaneState {
            tracked, c_blocks, ..
        } = &mut *lane;
        let block = listed::alloc(tracked, c_blocks, nbytes)?;
        Ok(Block(block))
    }

    /// The lane that lists `address`, locked, with the block's size: the
    /// caller's lane first, then the others in turn (one lock at a time).
    fn find(&self, address: usize, caller: Caller) -> Result<(LaneGuard<'_>, usize), CError> {
        let (seat, lane) = self.lanes.mine(caller);
        let mut guard = self
            .lanes
            .enter_as(lane, caller, seat.owner)
            .ok_or(CError::Closed)?;
        if let Some(nbytes) = guard.c_blocks.get(address) {
            return Ok((guard, nbytes));
        }
        drop(guard);
        self.find_elsewhere(address, seat.index, caller)
    }

    #[cold]
    fn find_elsewhere(
        &self,
        address: usize,
        mine: usize,
        caller: Caller,
    ) -> Result<(LaneGuard<'_>, usize), CError> {
        for (index, lane) in self.lanes.made() {
            if index == mine {
                continue;
            }
            let mut guard = self.lanes.enter(lane, caller).ok_or(CError::Closed)?;
            if let Some(nbytes) = guard.c_blocks.get(address) {
                return Ok((guard, nbytes));
            }
        }
        Err(CError::NotOurs)
    }

    /// Resizes a listed block to `new_nbytes` (contents kept, new tail
    /// zeroed, in place when the engine can); NULL allocates.
    pub fn c_realloc(
        &self,
        ptr: *mut u8,
        new_nbytes: usize,
        caller: Caller,
    ) -> Result<Block, CError> {
        let Some(block) = NonNull::new(ptr) else {
            return self.c_alloc(1, new_nbytes, caller);
        };
        let (mut lane, old_nbytes) = self.find(block.as_ptr().addr(), caller)?;
        lane.note_peak();
        let LaneState {
            tracked, c_blocks, ..
        } = &mut *lane;
        // SAFETY: `find` just looked the address up in this lane's registry,
        // which lists the blocks of this lane's engine.
        let moved = unsafe { listed::realloc(tracked, c_blocks, block, old_nbytes, new_nbytes) }?;
        Ok(Block(moved))
    }

    /// [`c_free`](Self::c_free)'s fast path, which calls nothing: `true`
    /// if the block was listed in the caller's lane (`LaneSet::mine`),
    /// entered without waiting, and small, and is freed. `false`, with nothing changed,
    /// otherwise — for a pointer not ours too: the caller then calls
    /// `c_free`, which looks in every lane and says why not.
    #[inline(always)]
    pub fn c_free_fast(&self, ptr: *mut u8, caller: Caller) -> bool {
        let Some(block) = NonNull::new(ptr) else {
            return false;
        };
        let Some((seat, lane)) = self.lanes.mine_made(caller) else {
            return false;
        };
        let Some(mut lane) = self.lanes.enter_fast(lane, caller, seat.owner) else {
            return false;
        };
        lane.note_peak();
        let LaneState {
            tracked, c_blocks, ..
        } = &mut *lane;
        // SAFETY: a lane's registry lists the blocks of its engine.
        unsafe { listed::free_fast(tracked, c_blocks, block) }.is_some()
    }

    /// Frees a listed block.
    pub fn c_free(&self, ptr: *mut u8, caller: Caller) -> Result<(), CError> {
        let Some(block) = NonNull::new(ptr) else {
            return Err(CError::NotOurs);
        };
        let address = block.as_ptr().addr();
        if address % ALIGN != 0 {
            return Err(CError::NotOurs); // every block is 16-aligned
        }
        let (mut lane, nbytes) = self.find(address, caller)?;
        lane.note_peak();
        let LaneState {
            tracked, c_blocks, ..
        } = &mut *lane;
        // SAFETY: `find` just looked the address up in this lane's registry,
        // which lists the blocks of this lane's engine.
        unsafe { listed::free(tracked, c_blocks, block, nbytes) };
        Ok(())
    }

    /// The pool's live bytes (`Pool.size`), 0 once closed.
    pub fn c_size(&self, caller: Caller) -> usize {
        self.lanes.size(caller).unwrap_or(0)
    }
}

#[pymethods]
impl Pool {
    /// Pool(limit=None): a new pool, holding at most ``limit`` bytes from the
    /// system if given.
    #[new]
    #[pyo3(signature = (limit = None))]
    fn new(limit: Option<usize>) -> Self {
        Pool {
            lanes: LaneSet::new(limit),
            open: AtomicBool::new(true),
        }
    }

    /// Live bytes: the sum of the sizes of all live allocations (cymem's
    /// ``Pool.size``).
    #[getter]
    fn size(&self) -> PyResult<usize> {
        self.lanes.size(Caller::HoldsGil).ok_or_else(closed)
    }

    /// The limit given at creation, or None.
    #[getter]
    fn limit(&self) -> PyResult<Option<usize>> {
        if !self.is_open() {
            return Err(closed());
        }
        Ok(self.lanes.limit())
    }

    /// stats() -> dict: live_allocations, live_bytes, reserved_bytes,
    /// free_list_bytes, peak_live_bytes, chunks, large_blocks.
    ///
    /// The figures sum the pool's lanes (one per thread that used it).
    /// peak_live_bytes is exact for a pool one thread used; with several it
    /// is the sum of each lane's peak, which bounds the pool's from above.
    /// reserved_bytes includes the registry of C-level blocks.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.lanes.stats(Caller::HoldsGil).ok_or_else(closed)?;
        let dict = PyDict::new(py);
        dict.set_item("live_allocations", stats.live_allocations)?;
        dict.set_item("live_bytes", stats.live_bytes)?;
        dict.set_item("reserved_bytes", stats.reserved_bytes)?;
        dict.set_item("free_list_bytes", stats.free_list_bytes)?;
        dict.set_item("peak_live_bytes", stats.peak_live_bytes)?;
        dict.set_item("chunks", stats.chunks)?;
        dict.set_item("large_blocks", stats.large_blocks)?;
        Ok(dict)
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> bool {
        !self.is_open()
    }

    /// close(): frees every allocation at once; later calls raise. Never
    /// fails: a block whose buffer is still exported (to a memoryview, a
    /// numpy array, a ctypes view) stays valid and is freed when its last
    /// export is released; so are the chunks of small blocks (4 KiB or
    /// less) of its thread's lane, if it is one of them.
    fn close(&self) -> PyResult<()> {
        self.open.store(false, Ordering::Release);
        self.lanes.close();
        Ok(())
    }

    /// zone() -> Pool: a new pool for transient allocations, counted against
    /// this pool's limit, meant for ``with pool.zone() as zone:`` — at the
    /// end of the block everything allocated from it is freed, buffer
    /// exports made inside stay valid until released, and any other use of
    /// an allocation that escaped raises InvalidAllocationError.
    fn zone(&self) -> PyResult<Pool> {
        if !self.is_open() {
            return Err(closed());
        }
        Ok(Pool {
            lanes: self.lanes.zone(),
            open: AtomicBool::new(true),
        })
    }

    /// The pool itself, for ``with Pool() as pool:``.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the pool when the ``with`` block ends.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    /// Live allocations and bytes, or that the pool is closed.
    fn __repr__(&self) -> String {
        match self.lanes.stats(Caller::HoldsGil) {
            Some(stats) => format!(
                "<arenapool.Pool live_allocations={} live_bytes={} reserved_bytes={}>",
                stats.live_allocations, stats.live_bytes, stats.reserved_bytes
            ),
            None => "<arenapool.Pool closed>".to_owned(),
        }
    }
}

/// `alloc`, `free` and `realloc`: the calls Python makes by the million,
/// as hand-made `METH_FASTCALL` methods of `Pool` (see `crate::heap_type`),
/// installed on the class by [`install_methods`].
impl Pool {
    /// `alloc(number, elem_size)`.
    fn alloc(
        slf: &Bound<'_, Self>,
        number: usize,
        elem_size: usize,
    ) -> PyResult<*mut ffi::PyObject> {
        let py = slf.py();
        let nbytes = number
            .checked_mul(elem_size)
            .ok_or(AllocError::SizeOverflow { number, elem_size })
            .map_err(alloc_error)?;
        let layout = layout(nbytes).map_err(alloc_error)?;
        let object = Allocation::reserve(py)?;
        let (lane, block) =
            slf.get()
                .on_lane(py, None, nbytes >= RELEASE_GIL_BYTES, |index, lane| {
                    (index, lane.tracked.with(|raw| raw.alloc(layout).map(Block)))
                })?;
        Ok(object.fill(slf, lane, block.map_err(alloc_error)?, nbytes))
    }

    /// `free(allocation)`.
    fn free(slf: &Bound<'_, Self>, allocation: &Allocation) -> PyResult<()> {
        let this = slf.get();
        let same_pool = allocation.pool_object() == slf.as_ptr();
        if !same_pool {
            allocation.claim(false)?;
        }
        let mut lane = this
            .lane(allocation.lane, Caller::HoldsGil)
            .ok_or_else(closed)?;
        let claim = allocation.claim(true)?;
        let (block, nbytes) = (allocation.block, allocation.nbytes);
        lane.note_peak();
        // `claim` checked, under the lane's lock: live, this pool's (so made
        // by this lane's engine), no export; it is retired below, so the
        // block is freed once.
        // SAFETY: a live block of this engine with this layout, no other access.
        lane.tracked.with(|raw| unsafe {
            raw.dealloc(block.0, layout(nbytes).expect("a live allocation's layout"))
        });
        claim.retire();
        Ok(())
    }

    /// `realloc(allocation, new_nbytes)`.
    fn realloc(
        slf: &Bound<'_, Self>,
        old: &Allocation,
        new_nbytes: usize,
    ) -> PyResult<*mut ffi::PyObject> {
        let py = slf.py();
        let this = slf.get();
        layout(new_nbytes).map_err(alloc_error)?;
        let large = new_nbytes >= RELEASE_GIL_BYTES;
        if old.pool_object() != slf.as_ptr() {
            old.claim(false)?;
        }
        // Before the move: once the block moved, nothing may fail.
        let object = Allocation::reserve(py)?;
        let work = |_: usize, lane: &mut LaneState| -> PyResult<Block> {
            let claim = old.claim(true)?;
            let (block, nbytes) = (old.block, old.nbytes);
            lane.note_peak();
            // SAFETY: as in `free`; on success only the new pointer is used.
            let moved = lane
                .tracked
                .with(|raw| unsafe {
                    raw.realloc(
                        block.0,
                        layout(nbytes).expect("a live allocation's layout"),
                        new_nbytes,
                    )
                })
                .map_err(alloc_error)?;
            claim.retire();
            Ok(Block(moved))
        };
        let moved = this.on_lane(py, Some(old.lane), large, work)??;
        Ok(object.fill(slf, old.lane, moved, new_nbytes))
    }
}

/// The pool a method is called on.
///
/// # Safety
///
/// `slf` is a `Pool` object (CPython checks a method descriptor's object),
/// alive for `'a`.
unsafe fn pool_arg<'a, 'py>(py: Python<'py>, slf: *mut ffi::PyObject) -> Borrowed<'a, 'py, Pool> {
    // SAFETY: see above.
    unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<Pool>() }
}

fastcall_method!(alloc_method, "alloc", |py, slf, [number, elem_size], 0| {
    // SAFETY: `slf` is the `Pool` called on, the arguments borrowed objects.
    unsafe {
        Pool::alloc(
            &pool_arg(py, slf),
            size_arg(py, number)?,
            size_arg(py, elem_size)?,
        )
    }
});

fastcall_method!(free_method, "free", |py, slf, [allocation], 0| {
    // SAFETY: as in `alloc_method`; `None` is immortal in spirit, and
    // referenced as any return value is.
    unsafe {
        let allocation = Allocation::from_arg(allocation, "allocation")?;
        Pool::free(&pool_arg(py, slf), allocation)?;
        let none = ffi::Py_None();
        ffi::Py_INCREF(none);
        Ok(none)
    }
});

fastcall_method!(
    realloc_method,
    "realloc",
    |py, slf, [allocation, new_nbytes], 0| {
        // SAFETY: as in `alloc_method`.
        unsafe {
            let allocation = Allocation::from_arg(allocation, "allocation")?;
            Pool::realloc(&pool_arg(py, slf), allocation, size_arg(py, new_nbytes)?)
        }
    }
);

/// `Pool(limit=None)`, as Python calls a type: the arguments in a vector,
/// with no tuple made (`tp_vectorcall`; `Pool.__new__` stays PyO3's).
unsafe extern "C" fn new_vectorcall(
    _ty: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: CPython's vectorcall arguments, valid for the call.
        let limit = unsafe {
            let nargs = ffi::PyVectorcall_NARGS(nargsf);
            let [limit] = heap_type::fastcall_args(py, "Pool", ["limit"], 1, args, nargs, kwnames)?;
            if limit.is_null() || limit == ffi::Py_None() {
                None
            } else {
                Some(size_arg(py, limit)?)
            }
        };
        Ok(Bound::new(py, Pool::new(limit))?.into_ptr())
    })
}

/// Puts `alloc`, `free` and `realloc` on the `Pool` class, and its
/// constructor's fast path (PyO3 makes the class; these bypass its call
/// path: see `crate::heap_type`).
pub fn install_methods(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let ty = py.get_type::<Pool>();
    // SAFETY: the class PyO3 just made (final, no subclass can exist); the
    // field is documented, never inherited, and read on each call of the
    // type.
    unsafe { (*ty.as_type_ptr()).tp_vectorcall = Some(new_vectorcall) };
    let methods: [(
        &'static CStr,
        ffi::PyCFunctionFastWithKeywords,
        &'static CStr,
    ); 3] = [
        (
            c"alloc",
            alloc_method,
            c"alloc($self, /, number, elem_size)\n--\n\n\
alloc(number, elem_size) -> Allocation: ``number * elem_size`` zeroed bytes, \
16-byte aligned.",
        ),
        (
            c"free",
            free_method,
            c"free($self, /, allocation)\n--\n\n\
free(allocation): gives the allocation's memory back to the pool; the allocation \
becomes invalid.",
        ),
        (
            c"realloc",
            realloc_method,
            c"realloc($self, /, allocation, new_nbytes)\n--\n\n\
realloc(allocation, new_nbytes) -> Allocation: the contents moved to (or kept in) \
a block of ``new_nbytes`` bytes, the new tail zeroed. The old allocation becomes \
invalid; on error it is unchanged.",
        ),
    ];
    for (name, method, doc) in methods {
        // CPython keeps a pointer to the definition: it lives for the process.
        let def = Box::leak(Box::new(heap_type::method_def(name, method, doc)));
        // SAFETY: the class and a `'static` definition; a new reference or
        // null with an error set.
        let descriptor = unsafe { ffi::PyDescr_NewMethod(ty.as_type_ptr(), def) };
        if descriptor.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: the new reference just made.
        let descriptor = unsafe { Bound::from_owned_ptr(py, descriptor) };
        ty.setattr(name.to_str().unwrap_or_default(), descriptor)?;
    }
    Ok(())
}
