//! The heavy side of an asymmetric barrier: Linux's `membarrier(2)`.
//!
//! A lane's owner thread enters its lane with plain stores and loads (see
//! `crate::lane`, "Owned lanes"): it publishes "I am in" and then reads
//! whether anyone revoked its ownership. On its own that store-then-load may
//! be reordered by the processor. [`heavy`] is what makes it sound: called
//! by the *other* side after its own store, it returns only once every
//! running thread of the process has executed a full memory barrier, so
//! either the owner's load sees the other side's store, or the other side's
//! later load sees the owner's. The owner pays a compiler fence; the other
//! side pays a system call that interrupts every CPU running the process
//! (0.4–0.6 µs measured on the 2-CPU VM), which is why ownership is revoked
//! once per lane and never given back.
//!
//! [`available`] registers the process for `MEMBARRIER_CMD_PRIVATE_EXPEDITED`
//! (Linux 4.14 and later) on first use. Where it is missing, no lane is ever
//! owned and every thread takes a lane's lock with an `xchg`, as before.

use std::sync::atomic::{AtomicU8, Ordering};

/// `linux/membarrier.h`.
#[cfg(target_os = "linux")]
mod cmd {
    pub const QUERY: libc::c_int = 0;
    pub const GLOBAL: libc::c_int = 1;
    pub const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    pub const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;
}

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;

/// Whether [`heavy`] works here (asked and registered once).
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// `membarrier(cmd, 0)`: 0 or the query's mask on success, -1 on failure.
#[cfg(target_os = "linux")]
fn membarrier(cmd: libc::c_int) -> libc::c_long {
    // SAFETY: `membarrier` takes two integers (and, since Linux 5.10, an
    // ignored third) and touches no memory of ours; an unknown command
    // fails with EINVAL.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_uint,
            0 as libc::c_int,
        )
    }
}

/// Whether the process may use [`heavy`]; registers it on the first call
/// (module init makes that call, before any thread can race it). Call it
/// before handing out ownership of a lane. The first answer published is
/// the answer for good: two threads asking at once both get it.
pub fn available() -> bool {
    match STATE.load(Ordering::Acquire) {
        YES => true,
        NO => false,
        _ => {
            let mine = if register() { YES } else { NO };
            match STATE.compare_exchange(UNKNOWN, mine, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => mine == YES,
                Err(theirs) => theirs == YES,
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn register() -> bool {
    if std::env::var_os("ARENAPOOL_NO_MEMBARRIER").is_some() {
        return false; // tests: the `xchg`-only lanes
    }
    let mask = membarrier(cmd::QUERY);
    mask >= 0
        && mask & libc::c_long::from(cmd::PRIVATE_EXPEDITED) != 0
        && membarrier(cmd::REGISTER_PRIVATE_EXPEDITED) == 0
}

#[cfg(not(target_os = "linux"))]
fn register() -> bool {
    false
}

/// Returns once every running thread of this process has executed a full
/// memory barrier since the call began. Only after [`available`] said yes,
/// and only where a lane is owned (`crate::lane::any_owned`): a process
/// that never owned one never calls it, so never aborts here.
#[cfg(target_os = "linux")]
#[cold]
pub fn heavy() {
    if membarrier(cmd::PRIVATE_EXPEDITED) == 0 {
        return;
    }
    // A child of `fork()` may have to register again; failing that, the
    // global form (slower: it waits for every CPU) needs no registration.
    if membarrier(cmd::REGISTER_PRIVATE_EXPEDITED) == 0 && membarrier(cmd::PRIVATE_EXPEDITED) == 0 {
        return;
    }
    if membarrier(cmd::GLOBAL) == 0 {
        return;
    }
    // The kernel said yes at registration and now says no to every form:
    // no barrier can be had, and going on could let two threads into one
    // lane. Stop the process rather than corrupt it (no unwinding: this
    // may run inside a C call).
    eprintln!("arenapool: membarrier(2) stopped working after registration; aborting");
    std::process::abort();
}

/// Never called: [`available`] is false here, so no lane is ever owned.
#[cfg(not(target_os = "linux"))]
pub fn heavy() {
    std::process::abort();
}
