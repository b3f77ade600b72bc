//! The fork gate: a pool inherited by the child of `os.fork()` works there.
//!
//! # The problem
//!
//! Large requests (`RELEASE_GIL_BYTES` and up) release the GIL while the
//! engine zeroes or copies, holding the pool's lock. A thread that calls
//! `os.fork()` meanwhile copies that lock into the child *held*, by a thread
//! that does not exist there (and the engine possibly half-way through a
//! change): the child hangs on its first use of the pool.
//!
//! # The design
//!
//! A process-wide gate that no GIL-released engine work crosses while a fork
//! is under way, and that a fork waits to be empty:
//!
//! - [`gate`] wraps all engine work done with the GIL released (both
//!   `Pool.alloc` and `Pool.realloc` go through it; `Pool.free` and every other
//!   call keep the GIL): it counts itself in `IN_FLIGHT`, and waits, without the
//!   GIL, while `FORKING` is non-zero. [`gate_c`] does the same for the plain
//!   C-level calls (`crate::capi`), which may run with or without the GIL.
//! - `os.register_at_fork` handlers, registered at module init ([`register`]):
//!   `before` raises `FORKING` and waits until `IN_FLIGHT` is zero; then no
//!   pool's lock is held by GIL-released work, and none can be taken until the
//!   fork is over. `after_in_parent` lowers `FORKING`; `after_in_child` resets
//!   both counters, as the child has only the forking thread, and that thread
//!   is in no engine call.
//! - Work that keeps the GIL needs no gate: it takes and drops the pool's lock
//!   within one hold of the GIL and never calls into Python in between, and the
//!   forking thread holds the GIL from the `before` handlers to `fork()`
//!   itself (CPython's `os.fork` does not release it; where it waits for the
//!   import lock it gets the GIL back before forking). So at `fork()` every
//!   pool lock is free and has no waiter.
//!
//! `FORKING` counts rather than flags: two threads may be between their
//! `before` and `after` handlers at once (the second one's `before` runs while
//! the first waits for the import lock without the GIL), and the first one's
//! `after_in_parent` must not open the gate under the second.
//!
//! The gate is two atomics and `yield_now` spins, no `parking_lot` or other
//! lock: a waiter parked in a lock's queue at `fork()` would be copied into
//! the child, and the gate is exactly what must work in the child. A fork waits
//! for at most the in-flight engine calls (a few milliseconds for blocks of
//! megabytes: they never wait on the GIL), and a large request waits for at
//! most one fork; the cost on the large path is two atomic read-modify-writes
//! next to megabytes of zeroing or copying.
//!
//! # Alternatives not taken
//!
//! - Resetting each pool's lock in the child: unsound, as the engine behind it
//!   may be mid-change; and it needs a registry of every live pool.
//! - Keeping the GIL for large blocks: a thread zeroing 100 MiB would stall
//!   every other Python thread.
//! - Taking every pool's lock in `before` (glibc's way with its arenas): a
//!   registry of live pools again, and as many locks as pools per fork.
//! - `pthread_atfork` instead of `os.register_at_fork`: it also sees forks that
//!   do not go through `os.fork` (C code calling `fork()`), but such a fork
//!   may come from a thread without the GIL, where GIL-holding work could be
//!   mid-call too, which the gate could not exclude without a gate on every
//!   call; and the child of such a fork cannot safely run Python anyway.
//!
//! Limits: forks that bypass `os.fork` (and its `before` handlers) are not
//! gated; `posix_spawn` and `subprocess` without `preexec_fn` never run the
//! parent's code in the child, so they need no gate.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Forks between their `before` and `after` handlers (0 or 1, rarely more).
static FORKING: AtomicUsize = AtomicUsize::new(0);
/// GIL-released engine calls that crossed the gate and have not finished.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Runs `work` (engine work on a thread that released the GIL) once no fork
/// is under way, counted in flight until it returns or unwinds.
///
/// Call it only without the GIL: it may wait for a fork, whose thread holds
/// the GIL.
pub fn gate<R>(work: impl FnOnce() -> R) -> R {
    let _in_flight = enter();
    work()
}

/// Runs `work` (engine work of a C-level call: `arenapool_alloc` and the other
/// plain forms, which may run with or without the GIL) once no fork is under
/// way, counted in flight; or at once, uncounted, if a fork is under way and
/// this thread holds the GIL.
///
/// A plain-form caller in a `with nogil:` block (or on a thread Python never
/// saw) is exactly the GIL-released work the gate exists for, and waits as
/// [`gate`] does. But the plain forms may also be called with the GIL held,
/// and between the `before` handlers and `fork()` the forking thread may
/// release the GIL (while it waits for the import lock): a thread that got
/// the GIL then and waited here would keep it from the forking thread for
/// ever. Such a thread needs no gate, for the reason GIL-holding work never
/// does (it takes and drops the pool's lock within one hold of the GIL). So
/// only when a fork is under way — never on the fast path — this asks
/// `PyGILState_Check` which case it is in.
pub fn gate_c<R>(work: impl FnOnce() -> R) -> R {
    let _in_flight = loop {
        if let Some(in_flight) = try_enter() {
            break Some(in_flight);
        }
        // `PyGILState_Check` only reads this thread's state (no Python
        // object, no lock) and may be called without the GIL, from any
        // thread, while the interpreter runs.
        // SAFETY: so here, a fork being under way (the interpreter runs).
        if unsafe { PyGILState_Check() } == 1 {
            break None;
        }
        thread::yield_now();
    };
    work()
}

extern "C" {
    /// CPython's `PyGILState_Check` (1 if this thread holds the GIL).
    /// Exported by every CPython 3 (`Include/cpython/pystate.h`), though not
    /// part of the limited API: pyo3's abi3 bindings leave it out. A missing
    /// symbol would fail the import of the module, never a call.
    fn PyGILState_Check() -> std::ffi::c_int;
}

/// One in-flight call; dropping it leaves.
struct InFlight;

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, SeqCst);
    }
}

fn enter() -> InFlight {
    loop {
        if let Some(in_flight) = try_enter() {
            return in_flight;
        }
        thread::yield_now();
    }
}

/// Counts this call in, unless a fork is under way.
#[inline]
fn try_enter() -> Option<InFlight> {
    if FORKING.load(SeqCst) != 0 {
        return None;
    }
    // Count in, then look again: with `before` raising FORKING before it
    // reads IN_FLIGHT, all four sequentially consistent, either this load
    // sees the fork (and backs out) or the fork sees this call (and waits).
    IN_FLIGHT.fetch_add(1, SeqCst);
    if FORKING.load(SeqCst) == 0 {
        return Some(InFlight);
    }
    IN_FLIGHT.fetch_sub(1, SeqCst);
    None
}

/// `os.register_at_fork(before=...)`: closes the gate and waits for the
/// in-flight calls. Runs on the forking thread, with the GIL.
#[pyfunction]
#[pyo3(name = "_before_fork")]
fn before_fork() {
    FORKING.fetch_add(1, SeqCst);
    while IN_FLIGHT.load(SeqCst) != 0 {
        thread::yield_now();
    }
}

/// `os.register_at_fork(after_in_parent=...)`: this fork no longer holds the
/// gate (also when `fork()` failed).
#[pyfunction]
#[pyo3(name = "_after_fork_in_parent")]
fn after_fork_in_parent() {
    FORKING.fetch_sub(1, SeqCst);
}

/// `os.register_at_fork(after_in_child=...)`: the child's only thread is the
/// forking one, in no engine call and holding no other fork: the gate opens
/// empty.
#[pyfunction]
#[pyo3(name = "_after_fork_in_child")]
fn after_fork_in_child() {
    IN_FLIGHT.store(0, SeqCst);
    FORKING.store(0, SeqCst);
}

/// Registers the fork handlers with `os.register_at_fork`, where it exists
/// (POSIX). The handlers are not attributes of the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
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
    handlers.set_item("after_in_child", wrap_pyfunction!(after_fork_in_child, m)?)?;
    os.call_method("register_at_fork", (), Some(&handlers))?;
    Ok(())
}
