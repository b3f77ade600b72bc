//! The fork gate: a pool inherited by the child of `os.fork()` works there.
//!
//! # The problem
//!
//! Threads without the GIL hold a pool's lane locks (`crate::lane`): the
//! plain C-level calls, which may run in `with nogil:` blocks, and large
//! Python-level requests, which release the GIL while the engine zeroes or
//! copies. A thread that calls `os.fork()` meanwhile copies such a lock into
//! the child *held*, by a thread that does not exist there (and the engine
//! possibly half-way through a change): the child hangs on its first use of
//! the pool.
//!
//! # The design
//!
//! The lane locks are the gate; one process-wide counter says a fork is
//! under way:
//!
//! - A thread that may be without the GIL takes a lane's lock (an `xchg`,
//!   sequentially consistent) and then reads `FORKING`; if a fork is under
//!   way it gives the lock back at once. The owner of an owned lane (see
//!   `crate::lane`, "Owned lanes") sets its `busy` flag with a plain store
//!   instead and reads `FORKING` after a compiler fence; `before` runs
//!   `membarrier(2)` after raising `FORKING`, so either the owner sees it
//!   or `before` sees `busy` and waits. A plain C call then waits for the
//!   fork to end; a large Python-level request (which released the GIL
//!   itself) takes the GIL back and does its work holding it instead, as
//!   the fork may be waiting for this very thread (one holding the import
//!   lock, or an at-fork hook registered before arenapool's). On
//!   the fast path this is one plain load (after the lock's own locked
//!   instruction, or the owner's compiler fence), on a line that only forks
//!   write: no cost and no sharing between threads (the previous gate
//!   counted every call in and out of one shared counter: two more locked
//!   instructions per call, and the cache line bouncing between threads).
//! - `os.register_at_fork` handlers, registered at module init ([`register`]):
//!   `before` raises `FORKING` and then waits until every lane of every live
//!   pool is seen unlocked; from then on no thread without the GIL can get
//!   one (it sees `FORKING` and backs off). `after_in_parent` lowers
//!   `FORKING`. In the child a `pthread_atfork` handler, which runs inside
//!   `fork()` before any Python hook, unlocks every lane — one locked at
//!   `fork()` was held by a thread between its `xchg` and backing off,
//!   which touched nothing — and clears `FORKING`, as the child has only
//!   the forking thread, in no engine call.
//! - Work that keeps the GIL needs no gate: it takes and drops a lane's lock
//!   within one hold of the GIL and never calls into Python in between, and
//!   the forking thread holds the GIL from the `before` handlers to `fork()`
//!   itself (CPython's `os.fork` does not release it; where it waits for the
//!   import lock it gets the GIL back before forking). So at `fork()` no
//!   lane is held by such work.
//! - The plain C forms may be called with or without the GIL. When (and
//!   only when) one meets a fork, it asks whether its thread is attached to
//!   the interpreter ([`attached`]: `PyThreadState_GetUnchecked()` is
//!   non-NULL, and, before 3.12, where that getter answers whichever thread
//!   holds the GIL, is this thread's own state); if so it goes through, as
//!   GIL-holding work does. It must not
//!   wait: between the `before` handlers and `fork()` the forking thread may
//!   release the GIL (to wait for the import lock), and a thread that got
//!   the GIL then and waited here would keep it from the forking thread for
//!   ever. `PyGILState_Check`, used before, is no answer: once any
//!   subinterpreter has been made, CPython turns its check off and it says 1
//!   on every thread, so threads in `with nogil:` blocks went through and a
//!   child hung (20 forks out of 20, in the review).
//!
//! `FORKING` counts rather than flags: two threads may be between their
//! `before` and `after` handlers at once (the second one's `before` runs while
//! the first waits for the import lock without the GIL), and the first one's
//! `after_in_parent` must not open the gate under the second.
//!
//! Waiting is `yield_now` spins on atomics, no `parking_lot` or other lock:
//! a waiter parked in a lock's queue at `fork()` would be copied into the
//! child, and the gate is exactly what must work in the child. A fork waits
//! for at most the engine calls in flight (a few milliseconds for blocks of
//! megabytes: they never wait on the GIL).
//!
//! # Alternatives not taken
//!
//! - Resetting each lane's lock in the child whatever held it: unsound, as
//!   the engine behind it may be mid-change.
//! - Keeping the GIL for large blocks: a thread zeroing 100 MiB would stall
//!   every other Python thread; and `nogil` callers have no GIL to keep.
//! - `pthread_atfork` instead of `os.register_at_fork`: it also sees forks that
//!   do not go through `os.fork` (C code calling `fork()`), but such a fork
//!   may come from a thread without the GIL, where GIL-holding work could be
//!   mid-call too, which the gate could not exclude; and the child of such a
//!   fork cannot safely run Python anyway.
//!
//! Limits: forks that bypass `os.fork` (and its `before` handlers) are not
//! gated; `posix_spawn` and `subprocess` without `preexec_fn` never run the
//! parent's code in the child, so they need no gate.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::thread;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::lane::{self, Caller};
use crate::membarrier;

/// Forks between their `before` and `after` handlers (0 or 1, rarely more).
static FORKING: AtomicUsize = AtomicUsize::new(0);

/// The thread (`pthread_self`) whose `os.fork()` closed the gate and saw
/// every lane free, until its fork returns in the parent; 0 otherwise. The
/// child handler acts only on that thread: the child of a bare `fork()`
/// from C made by another thread meanwhile (FORKING raised, but the lanes
/// not waited for, or in use again) must touch nothing.
static GATE_HOLDER: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's `pthread_self()`, as a number (the child of a fork
/// sees the forking thread's).
fn this_thread() -> usize {
    // SAFETY: `pthread_self` has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

/// Whether a fork is under way (read after taking a lane's lock).
#[inline(always)]
pub fn forking() -> bool {
    FORKING.load(SeqCst) != 0
}

/// Waits until no fork is under way; returns at once for an attached
/// `Unknown` caller (see the module docs).
#[cold]
pub fn wait_while_forking(caller: Caller) {
    while forking() {
        if caller == Caller::Unknown && attached() {
            return;
        }
        thread::yield_now();
    }
}

/// `PyThreadState_GetUnchecked` (3.13) or `_PyThreadState_UncheckedGet`
/// (3.5–3.12), looked up once at module init; NULL if neither exists.
static GET_UNCHECKED: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Before 3.12 the getter answers the thread *holding the GIL*, whichever
/// it is (`_PyRuntime.gilstate.tstate_current`), not this thread's: set at
/// module init, and `attached` then also compares it with this thread's own
/// state.
static GETTER_IS_GLOBAL: AtomicBool = AtomicBool::new(false);

extern "C" {
    /// CPython's `PyGILState_GetThisThreadState` (stable ABI): the thread
    /// state the GIL-state API made for this thread, or NULL.
    fn PyGILState_GetThisThreadState() -> *mut c_void;
    /// CPython's `PyGILState_Check`: the fallback when no thread-state
    /// getter is found (it is exported by every CPython 3, though left out
    /// of pyo3's abi3 bindings). A missing symbol would fail the module's
    /// import, never a call.
    fn PyGILState_Check() -> std::ffi::c_int;
}

/// Looks up the thread-state getter (with the GIL, at module init).
fn find_getter(py: Python<'_>) {
    GETTER_IS_GLOBAL.store(py.version_info() < (3, 12), SeqCst);
    for name in [
        c"PyThreadState_GetUnchecked",
        c"_PyThreadState_UncheckedGet",
    ] {
        // SAFETY: `dlsym` with RTLD_DEFAULT searches the symbols already
        // loaded (the interpreter's own, which this extension links against);
        // `name` is a NUL-terminated string.
        let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        if !symbol.is_null() {
            GET_UNCHECKED.store(symbol, SeqCst);
            return;
        }
    }
}

/// Whether this thread is attached to the interpreter (holds the GIL): its
/// current thread state is not NULL (3.12 on: a thread-local), or is this
/// thread's own (before 3.12, where the getter reads the one process-wide
/// "current" state: any thread would pass while another held the GIL, and
/// the review saw 2.1 million `nogil` calls go through a closed gate in
/// 100 ms). Safe on any thread, with or without the GIL.
pub fn attached() -> bool {
    let getter = GET_UNCHECKED.load(SeqCst);
    if getter.is_null() {
        // SAFETY: callable on any thread while the interpreter runs.
        return unsafe { PyGILState_Check() } == 1;
    }
    // SAFETY: the symbol found by `find_getter` is CPython's
    // `PyThreadState* (void)` getter, which only reads a thread-local.
    let get: unsafe extern "C" fn() -> *mut c_void = unsafe { std::mem::transmute(getter) };
    // SAFETY: no precondition (it returns NULL when no thread is attached,
    // 3.11, or this one is not, 3.12 on).
    let current = unsafe { get() };
    if current.is_null() {
        return false;
    }
    if GETTER_IS_GLOBAL.load(SeqCst) {
        // SAFETY: reads this thread's GIL-state slot; any thread, any time
        // while the interpreter runs.
        return current == unsafe { PyGILState_GetThisThreadState() };
    }
    true
}

/// Whether this thread surely holds the GIL: [`attached`] where the exact
/// thread-state getter was found, else `false` (the `PyGILState_Check`
/// fallback may answer yes on a thread that does not hold it). For what
/// a wrong yes would make unsound (ownership of the GIL's lane, see
/// `crate::lane`); a wrong no costs only a lock.
pub fn surely_attached() -> bool {
    !GET_UNCHECKED.load(SeqCst).is_null() && attached()
}

/// `os.register_at_fork(before=...)`: closes the gate and waits for every
/// lane to be free. Runs on the forking thread, with the GIL.
#[pyfunction]
#[pyo3(name = "_before_fork")]
fn before_fork() {
    FORKING.fetch_add(1, SeqCst);
    // The owner of a lane enters it with plain stores and loads: the heavy
    // barrier makes it see FORKING, or this thread see it inside (see
    // `crate::membarrier`).
    if lane::any_owned() {
        membarrier::heavy();
    }
    lane::wait_all_unlocked();
    GATE_HOLDER.store(this_thread(), SeqCst);
}

/// `os.register_at_fork(after_in_parent=...)`: this fork no longer holds the
/// gate (also when `fork()` failed).
#[pyfunction]
#[pyo3(name = "_after_fork_in_parent")]
fn after_fork_in_parent() {
    GATE_HOLDER.store(0, SeqCst);
    FORKING.fetch_sub(1, SeqCst);
}

/// `pthread_atfork`'s child handler: runs inside `fork()`, in the child,
/// before any Python `after_in_child` hook (one registered before this
/// module was imported may use a pool). After an `os.fork()` (the gate
/// closed by this thread: `GATE_HOLDER`) the child's only thread is the
/// forking one, in no engine call: the lanes are unlocked (one held was a
/// thread backing off), the owner slots of the threads left behind are
/// freed, and the gate opens. After a bare `fork()` from C (the gate open,
/// or closed by another thread) a lane may be held mid-change, and nothing
/// is touched.
extern "C" fn after_fork_in_child() {
    if FORKING.load(SeqCst) != 0 && GATE_HOLDER.load(SeqCst) == this_thread() {
        lane::unlock_all_in_child();
        GATE_HOLDER.store(0, SeqCst);
        FORKING.store(0, SeqCst);
    }
}

/// Registers the fork handlers with `os.register_at_fork`, where it exists
/// (POSIX). The handlers are not attributes of the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    find_getter(py);
    let os = py.import("os")?;
    if !os.hasattr("register_at_fork")? {
        return Ok(());
    }
    let handlers = PyDict::new(py);
    handlers.set_item("before", wrap_pyfunction!(before_fork, m)?)?;
    handlers.set_item(
        "after_in_parent",
        wrap_pyfunction!(after_fork_in_parent, m)?,
    )?;
    os.call_method("register_at_fork", (), Some(&handlers))?;
    #[cfg(unix)]
    {
        static REGISTERED: AtomicBool = AtomicBool::new(false);
        if !REGISTERED.swap(true, SeqCst) {
            // SAFETY: a handler for the child only, a plain `extern "C" fn`
            // that lives as long as the process (extension modules are never
            // unloaded).
            if unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) } != 0 {
                return Err(pyo3::exceptions::PyOSError::new_err(
                    "arenapool: pthread_atfork refused the fork handler",
                ));
            }
        }
    }
    Ok(())
}
