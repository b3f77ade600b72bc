//! `Pool` and `Allocation`: the Python face of one engine.

use std::alloc::Layout;
use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arenapool::raw::RawPool;
use arenapool::{AllocError, Stats};
use parking_lot::Mutex;
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{ffi, PyTraverseError, PyVisit};

use crate::accounting::Tracked;
use crate::errors::{alloc_error, closed, InvalidAllocationError};
use crate::fork;
use crate::registry::Registry;

/// Requests at least this large release the GIL while the engine zeroes or
/// copies (through the fork gate: see [`detached`]).
pub const RELEASE_GIL_BYTES: usize = 1 << 20;

/// The alignment of every allocation, as `malloc` promises.
const ALIGN: usize = 16;

/// A block pointer that may cross threads: the pool's lock guards its use.
#[derive(Clone, Copy)]
pub struct Block(NonNull<u8>);

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

/// Runs `work` with the GIL released, through the fork gate, so that a fork
/// never copies a pool's lock held by this thread into the child (see
/// `crate::fork`). The only way engine work runs without the GIL.
fn detached<R: Send>(py: Python<'_>, work: impl FnOnce() -> R + Send) -> R {
    py.detach(|| fork::gate(work))
}

fn layout(nbytes: usize) -> Result<Layout, AllocError> {
    Layout::from_size_align(nbytes, ALIGN).map_err(|_| AllocError::LayoutTooLarge {
        size: nbytes,
        align: ALIGN,
    })
}

/// The engine layout of a C block of `nbytes`: a zero-size one takes one
/// byte, so that it has an address of its own (see `crate::registry`).
fn c_layout(nbytes: usize) -> Result<Layout, AllocError> {
    Layout::from_size_align(nbytes.max(1), ALIGN).map_err(|_| AllocError::LayoutTooLarge {
        size: nbytes,
        align: ALIGN,
    })
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

/// The state of an open pool: its engine, and the blocks it handed out
/// through the C API (`crate::capi`), one lock for both.
pub struct Open {
    tracked: Tracked,
    c_blocks: Registry,
}

impl Open {
    fn new(limit: Option<usize>) -> Self {
        Open {
            tracked: Tracked::new(RawPool::new(limit)),
            c_blocks: Registry::default(),
        }
    }

    /// Runs `f` on the engine (see [`Tracked::with`]).
    fn with<R>(&mut self, f: impl FnOnce(&mut RawPool) -> R) -> R {
        self.tracked.with(f)
    }

    fn raw(&self) -> &RawPool {
        self.tracked.raw()
    }

    /// Live bytes requested: the engine's count, less the byte of each
    /// zero-size C block (see `crate::registry`).
    fn size(&self) -> usize {
        self.raw().size().saturating_sub(self.c_blocks.zero_size())
    }

    /// The engine's stats, with the same correction. The peak is the
    /// engine's less the zero-size C blocks live now, and never below the
    /// live bytes: it may still count one byte for each zero-size C block
    /// that was live at the peak and is gone since (the engine records its
    /// peak lazily, without knowing which blocks are zero-size).
    fn stats(&self) -> Stats {
        let mut stats = self.raw().stats();
        let zero = self.c_blocks.zero_size();
        stats.live_bytes = stats.live_bytes.saturating_sub(zero);
        stats.peak_live_bytes = stats
            .peak_live_bytes
            .saturating_sub(zero)
            .max(stats.live_bytes);
        stats
    }
}

/// A memory pool: owns every allocation made through it and frees them all
/// when closed or collected.
#[pyclass(frozen, module = "arenapool")]
pub struct Pool {
    /// The engine and the C API's blocks; `None` once closed.
    engine: Mutex<Option<Open>>,
    /// Buffer exports alive over all allocations.
    exports: AtomicUsize,
}

impl Pool {
    /// Runs `f` on the open engine, releasing the GIL if `large`.
    fn with_engine<R: Send>(
        &self,
        py: Python<'_>,
        large: bool,
        f: impl FnOnce(&mut RawPool) -> R + Send,
    ) -> PyResult<R> {
        let run = || {
            let mut engine = self.engine.lock();
            engine.as_mut().map(|open| open.with(f))
        };
        let result = if large { detached(py, run) } else { run() };
        result.ok_or_else(closed)
    }

    pub fn is_open(&self) -> bool {
        self.engine.lock().is_some()
    }
}

/// The engine calls of the C API (`crate::capi`), one pool lock each.
///
/// No Python object and no GIL: they may run on any thread, with or without
/// the GIL, several at once on one pool (the lock serialises them, and
/// `close`, with each other). Every block made here is listed in the pool's
/// [`Registry`] with its requested size; `c_free` and `c_realloc` only touch
/// the engine for a listed address, so that any other pointer is refused
/// without being dereferenced. On an error nothing changed.
impl Pool {
    /// `number * elem_size` zeroed bytes, 16-byte aligned, listed.
    pub fn c_alloc(&self, number: usize, elem_size: usize) -> Result<Block, CError> {
        let nbytes = number
            .checked_mul(elem_size)
            .ok_or(AllocError::SizeOverflow { number, elem_size })?;
        let layout = c_layout(nbytes)?;
        let mut engine = self.engine.lock();
        let open = engine.as_mut().ok_or(CError::Closed)?;
        if !open.c_blocks.reserve_one() {
            return Err(registry_refused());
        }
        let block = open.with(|raw| raw.alloc(layout))?;
        open.c_blocks.insert(block.as_ptr().addr(), nbytes);
        Ok(Block(block))
    }

    /// Resizes a listed block to `new_nbytes` (contents kept, new tail
    /// zeroed, in place when the engine can); NULL allocates.
    pub fn c_realloc(&self, ptr: *mut u8, new_nbytes: usize) -> Result<Block, CError> {
        let Some(block) = NonNull::new(ptr) else {
            return self.c_alloc(1, new_nbytes);
        };
        let new = c_layout(new_nbytes)?;
        let mut engine = self.engine.lock();
        let open = engine.as_mut().ok_or(CError::Closed)?;
        let address = block.as_ptr().addr();
        let old_nbytes = open.c_blocks.get(address).ok_or(CError::NotOurs)?;
        let old = c_layout(old_nbytes)?;
        if !open.c_blocks.reserve_one() {
            return Err(registry_refused());
        }
        // The address is listed, so it is a live block this engine made
        // (c_alloc or c_realloc) with layout `old`: the registry is emptied
        // only with the engine itself (close, drop), and an entry goes when
        // its block is freed or moved.
        // SAFETY: so; on success only `moved` is used.
        let moved =
            open.with(|raw| unsafe { raw.realloc(RawPool::rederive(block), old, new.size()) })?;
        if old_nbytes == 0 && new_nbytes > 0 {
            // A zero-size block's hidden byte is kept by the engine; the
            // caller's new bytes must all be zero.
            // SAFETY: `moved` has `new.size()` >= 1 writable bytes.
            unsafe { moved.as_ptr().write(0) };
        }
        open.c_blocks
            .replace(address, moved.as_ptr().addr(), new_nbytes);
        Ok(Block(moved))
    }

    /// Frees a listed block.
    pub fn c_free(&self, ptr: *mut u8) -> Result<(), CError> {
        let block = NonNull::new(ptr).ok_or(CError::NotOurs)?;
        let mut engine = self.engine.lock();
        let open = engine.as_mut().ok_or(CError::Closed)?;
        let nbytes = open
            .c_blocks
            .remove(block.as_ptr().addr())
            .ok_or(CError::NotOurs)?;
        // SAFETY: `c_layout` accepted this size when the block was made.
        let layout = unsafe { Layout::from_size_align_unchecked(nbytes.max(1), ALIGN) };
        // SAFETY: the address was listed (see `c_realloc`): a live block of
        // this engine with `layout`, now unlisted, so freed once.
        open.with(|raw| unsafe { raw.dealloc(RawPool::rederive(block), layout) });
        Ok(())
    }

    /// The pool's live bytes (`Pool.size`), 0 once closed.
    pub fn c_size(&self) -> usize {
        self.engine.lock().as_ref().map_or(0, Open::size)
    }
}

/// The registry could not make room for one more entry.
fn registry_refused() -> CError {
    CError::Alloc(AllocError::OutOfMemory {
        size: std::mem::size_of::<(usize, usize)>(),
        align: std::mem::align_of::<usize>(),
    })
}

#[pymethods]
impl Pool {
    /// Pool(limit=None): a new pool, holding at most ``limit`` bytes from the
    /// system if given.
    #[new]
    #[pyo3(signature = (limit = None))]
    fn new(limit: Option<usize>) -> Self {
        Pool {
            engine: Mutex::new(Some(Open::new(limit))),
            exports: AtomicUsize::new(0),
        }
    }

    /// alloc(number, elem_size) -> Allocation: ``number * elem_size`` zeroed
    /// bytes, 16-byte aligned.
    fn alloc(slf: &Bound<'_, Self>, number: usize, elem_size: usize) -> PyResult<Allocation> {
        let py = slf.py();
        let nbytes = number
            .checked_mul(elem_size)
            .ok_or(AllocError::SizeOverflow { number, elem_size })
            .map_err(alloc_error)?;
        let layout = layout(nbytes).map_err(alloc_error)?;
        let block = slf
            .get()
            .with_engine(py, nbytes >= RELEASE_GIL_BYTES, |raw| {
                raw.alloc(layout).map(Block)
            })?
            .map_err(alloc_error)?;
        Ok(Allocation::new(slf, block, nbytes))
    }

    /// free(allocation): gives the allocation's memory back to the pool;
    /// the allocation becomes invalid.
    fn free(slf: &Bound<'_, Self>, allocation: &Bound<'_, Allocation>) -> PyResult<()> {
        let this = slf.get();
        let allocation = allocation.get();
        let mut engine = this.engine.lock();
        let engine = engine.as_mut().ok_or_else(closed)?;
        let claim = allocation.claim(allocation.pool.is(slf))?;
        let (block, nbytes) = (allocation.block, allocation.nbytes);
        // `claim` checked, under the pool's lock: live, this pool's, no export;
        // it is retired below, so the block is freed once.
        // SAFETY: a live block of this engine with this layout, no other access.
        engine.with(|raw| unsafe {
            raw.dealloc(block.0, layout(nbytes).expect("a live allocation's layout"))
        });
        claim.retire();
        Ok(())
    }

    /// realloc(allocation, new_nbytes) -> Allocation: the contents moved to
    /// (or kept in) a block of ``new_nbytes`` bytes, the new tail zeroed. The
    /// old allocation becomes invalid; on error it is unchanged.
    fn realloc(
        slf: &Bound<'_, Self>,
        allocation: &Bound<'_, Allocation>,
        new_nbytes: usize,
    ) -> PyResult<Allocation> {
        let py = slf.py();
        let this = slf.get();
        let old = allocation.get();
        layout(new_nbytes).map_err(alloc_error)?;
        let large = new_nbytes >= RELEASE_GIL_BYTES;
        let same_pool = old.pool.is(slf);
        let work = || -> PyResult<Block> {
            let mut engine = this.engine.lock();
            let engine = engine.as_mut().ok_or_else(closed)?;
            let claim = old.claim(same_pool)?;
            let (block, nbytes) = (old.block, old.nbytes);
            // SAFETY: as in `free`; on success only the new pointer is used.
            let moved = engine
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
        let moved = if large { detached(py, work)? } else { work()? };
        Ok(Allocation::new(slf, moved, new_nbytes))
    }

    /// Live bytes: the sum of the sizes of all live allocations (cymem's
    /// ``Pool.size``).
    #[getter]
    fn size(&self) -> PyResult<usize> {
        let engine = self.engine.lock();
        Ok(engine.as_ref().ok_or_else(closed)?.size())
    }

    /// The limit given at creation, or None.
    #[getter]
    fn limit(&self) -> PyResult<Option<usize>> {
        let engine = self.engine.lock();
        Ok(engine.as_ref().ok_or_else(closed)?.raw().limit())
    }

    /// stats() -> dict: live_allocations, live_bytes, reserved_bytes,
    /// free_list_bytes, peak_live_bytes, chunks, large_blocks.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.engine.lock().as_ref().ok_or_else(closed)?.stats();
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

    /// close(): frees every allocation at once; later calls raise. Raises
    /// BufferError while a buffer of one of its allocations is exported.
    fn close(&self) -> PyResult<()> {
        let mut engine = self.engine.lock();
        if self.exports.load(Ordering::Relaxed) > 0 {
            return Err(PyBufferError::new_err(
                "arenapool: cannot close a pool while a buffer of its allocations is exported",
            ));
        }
        let freed = engine.take();
        drop(engine);
        drop(freed);
        Ok(())
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
        match self.engine.lock().as_ref() {
            Some(open) => {
                let stats = open.stats();
                format!(
                    "<arenapool.Pool live_allocations={} live_bytes={} reserved_bytes={}>",
                    stats.live_allocations, stats.live_bytes, stats.reserved_bytes
                )
            }
            None => "<arenapool.Pool closed>".to_owned(),
        }
    }
}

/// A block of a pool: a zero-copy buffer that keeps its pool alive.
///
/// `live` and `exports` change only under the pool's engine lock, which
/// every check of them also holds, so relaxed atomics suffice.
#[pyclass(frozen, module = "arenapool")]
pub struct Allocation {
    pool: Py<Pool>,
    block: Block,
    nbytes: usize,
    live: AtomicBool,
    exports: AtomicUsize,
}

/// A claimed allocation: live, this pool's, not exported.
struct Claim<'a> {
    allocation: &'a Allocation,
}

impl Claim<'_> {
    /// Marks the allocation freed or moved away.
    fn retire(self) {
        self.allocation.live.store(false, Ordering::Relaxed);
    }
}

impl Allocation {
    fn new(pool: &Bound<'_, Pool>, block: Block, nbytes: usize) -> Self {
        Allocation {
            pool: pool.clone().unbind(),
            block,
            nbytes,
            live: AtomicBool::new(true),
            exports: AtomicUsize::new(0),
        }
    }

    /// Checks that this is a live allocation of the pool (`same_pool`) with
    /// no buffer exported, for `free`/`realloc`. The caller holds the pool's
    /// engine lock.
    fn claim(&self, same_pool: bool) -> PyResult<Claim<'_>> {
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
    fn live(&self) -> PyResult<(Block, usize)> {
        let engine = self.pool.get().engine.lock();
        if engine.is_none() {
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

#[pymethods]
impl Allocation {
    /// The address of the first byte, for ctypes, cffi or Cython.
    #[getter]
    fn address(&self) -> PyResult<usize> {
        Ok(self.live()?.0 .0.as_ptr() as usize)
    }

    /// The size in bytes.
    #[getter]
    fn nbytes(&self) -> PyResult<usize> {
        Ok(self.live()?.1)
    }

    /// The Pool that owns this allocation.
    #[getter]
    fn pool(&self, py: Python<'_>) -> Py<Pool> {
        self.pool.clone_ref(py)
    }

    /// The size in bytes.
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.live()?.1)
    }

    /// Size and address, or that the allocation is no longer valid.
    fn __repr__(&self) -> String {
        match self.live() {
            Ok((block, nbytes)) => format!(
                "<arenapool.Allocation nbytes={nbytes} address={:#x}>",
                block.0.as_ptr() as usize
            ),
            Err(_) => "<arenapool.Allocation invalid>".to_owned(),
        }
    }

    /// Shows the cyclic GC the reference to the pool.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The pool link is not user-settable and is never cleared; the GC
        // only needs to see the edge.
        visit.call(&self.pool)
    }

    /// Exports the block as a writable, contiguous byte buffer.
    ///
    /// # Safety
    ///
    /// Called by Python with a valid `view` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let pool = this.pool.get();
        let engine = pool.engine.lock();
        let refuse = |message: &'static str| {
            // SAFETY: `view` is valid for writes (caller); an export that fails
            // must leave no owner in it.
            unsafe { (*view).obj = ptr::null_mut() };
            Err(InvalidAllocationError::new_err(message))
        };
        if engine.is_none() {
            return refuse("arenapool: the allocation's pool is closed");
        }
        if !this.live.load(Ordering::Relaxed) {
            return refuse("arenapool: the allocation was freed or reallocated");
        }
        // The block stays valid while the export lives: free, realloc and close
        // refuse while `exports > 0`; `view.obj` (a new reference to `slf`)
        // keeps the allocation and so the pool alive.
        // SAFETY: live memory of an open pool, `nbytes` (<= isize::MAX) long.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.block.0.as_ptr().cast::<c_void>(),
                this.nbytes as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.exports.fetch_add(1, Ordering::Relaxed);
        pool.exports.fetch_add(1, Ordering::Relaxed);
        drop(engine);
        Ok(())
    }

    /// Ends an export; never fails.
    ///
    /// # Safety
    ///
    /// Called by Python once for each successful `__getbuffer__`.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        let pool = self.pool.get();
        let _engine = pool.engine.lock();
        self.exports.fetch_sub(1, Ordering::Relaxed);
        pool.exports.fetch_sub(1, Ordering::Relaxed);
    }
}
