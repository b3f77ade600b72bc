//! Lanes: the engines of one Python `Pool`, one per thread slot and one for
//! the GIL's holder, each behind a spin lock of its own.
//!
//! ```text
//!   any thread holding the GIL ──────────────► lane 16 (GIL_LANE) ─┐
//!   thread (slot 0, a nogil worker) ─────────► lane 0 ─────────────┼─► Shared:
//!   thread (slot 1, a nogil worker) ─────────► lane 1 ─────────────┤   one limit
//!   thread (slot 17) ────────────────────────► lane 1 (17 % LANES) ┘
//!   each lane: [ lock | engine | registry of its C blocks | open ]
//! ```
//!
//! # Why lanes
//!
//! One engine behind one mutex (the first design) made every C-level call
//! pay a mutex's two locked instructions (~5.5 ns each on the 2-CPU VM the
//! benchmarks run on) and made two threads on one pool *slower* than one:
//! they fought over one cache line (0.25× measured). Here a thread allocates
//! from the lane of its slot, on a cache line no other thread touches: its
//! owner enters it with plain stores (see "Owned lanes"), any other thread
//! with one locked instruction (an `xchg`), each leaving with a plain
//! store. A block lives in the lane that made it, listed in that lane's
//! registry; a free or realloc from another thread finds it there (its own
//! lane first, then the others) and works on it under that lane's lock, so
//! blocks never migrate and every lane's counts stay exact.
//!
//! # Why a lock at all
//!
//! A thread that frees a block another thread made must find and change
//! that lane's registry and engine synchronously (to refuse a bad pointer
//! with -1, not later), and `close()` must never free memory under a thread
//! in the middle of a call. Both need the owner of a lane to publish that it
//! is inside it and to see that someone else is: a store then a load, which
//! the processor may reorder unless a locked instruction (or fence) sits
//! between them, on one side or the other.
//!
//! # Owned lanes
//!
//! Almost every call is made by the thread whose lane it is, so that side
//! should not pay: the thread of slot `i < LANES` *owns* lane `i` (if it
//! made it), and enters it with a plain store (`busy`), a compiler fence
//! and two plain loads (`owned`, and the fork gate) — no locked
//! instruction. Any other thread takes the lane's `locked` with an `xchg`
//! and, the first time, ends the ownership for good (`Lane::disown`): it
//! clears `owned`, runs the heavy side of an asymmetric barrier
//! (`membarrier(2)`, see `crate::membarrier`), and waits for `busy` to
//! clear. The barrier makes every running thread execute a full fence, so
//! either the owner's load sees `owned` cleared (and it takes `locked`
//! like everyone else from then on) or the disowning thread sees `busy`
//! set and waits. The fork gate (`fork::before`) does the same after
//! raising `FORKING`. Measured on the Cython pair loop (`alloc(1,16)` +
//! `free` through `_or_raise`, same binary, ownership on and off by
//! `ARENAPOOL_NO_MEMBARRIER`, alternating): 24.4–26.8 ns against
//! 29.8–30.5 ns a pair.
//!
//! Ownership ends once per lane that another thread touches (a
//! cross-thread free, `size`/`stats()` from another thread, `close()`):
//! one system call (0.4–0.6 µs measured on the 2-CPU VM with a second
//! thread running), once, rather than a locked instruction on every call.
//! Threads that find all [`LANES`] owner slots taken own nothing and share
//! lanes through `locked`. Where `membarrier` is missing (not Linux, or older than 4.14)
//! no lane is owned and every call takes `locked`; `make test` runs the
//! Python suite a second time that way (`ARENAPOOL_NO_MEMBARRIER=1`).
//!
//! # The GIL's lane
//!
//! Calls that hold the GIL for their whole length — the C API's `_or_raise`
//! forms (declared without `nogil`) and every Python-level call — work in
//! lane [`GIL_LANE`], whose owner is *whoever holds the GIL*
//! ([`Seat::of`]). GIL holders are one at a time, and the GIL's release and
//! acquire order each one's work after the last one's, so to the owned-lane
//! protocol they are one thread: each enters with the owner's plain stores,
//! and a thread without the GIL (a `nogil` free of one of its blocks, or
//! `arenapool_size` in `nogil` code) takes `locked` and ends the ownership,
//! as for any lane (the barrier's argument is each entering thread's own
//! program order, whichever thread that is). Nothing inside a lane releases
//! the GIL, and a Python-level call that releases it for a large block works
//! in its thread's lane instead (`Pool::on_lane`), so no two GIL holders
//! are ever inside at once.
//!
//! What it buys: such a call needs no thread-local lookup (a cdylib's
//! `__tls_get_addr`, 11 instructions, and the slot's arithmetic), and a
//! block one Python thread made and another frees — common in Python, and
//! what a cymem port's owner objects do — stays in an owned lane instead of
//! ending its maker's ownership. Measured on the Cython `_or_raise` pair
//! (`alloc(1, 16)` + `free`): 291 → 246 instructions, 16.2 → 12.4 ns. A plain
//! form called holding the GIL is the owner too, if it finds its block there
//! (`owner_of` asks `fork::surely_attached`); its own new blocks go to its thread's
//! lane, so that `nogil` code on many threads never meets on one lane.
//!
//! # What the lock also gives
//!
//! - **Close**: `close()` takes each lane in turn and marks it shut;
//!   a call that gets the lock afterwards sees that and returns an error.
//!   Lanes themselves live until the `Pool` object does, so a thread that
//!   read a lane pointer before `close()` still locks valid memory.
//! - **Fork**: the gate of `crate::fork` is this lock (and the owner's
//!   `busy`). A thread that may not hold the GIL checks `fork::forking()`
//!   after it took a lane's lock or set `busy`, and backs off if a fork is
//!   under way; the fork waits until every lane of every pool is seen with
//!   neither. The child resets both (one held at `fork()` can only be a
//!   thread backing off, which touched nothing).
//!
//! Lanes are made on first use by a thread of that slot, with a
//! compare-and-swap (no lock that a fork could copy held), and freed with
//! the pool. A thread takes the lowest free owner slot on its first call and
//! gives it back when it ends (`OWNER_SLOTS`), so threads that come and go
//! keep finding slots: at most [`LANES`] threads alive at once own a lane
//! each. A thread that finds every slot taken shares a lane for its whole
//! life, and a lane another thread has touched stays unowned (the
//! disowning is for good), whoever holds its slot later.
//!
//! # Limits
//!
//! A lane's free lists serve that lane: a block freed by thread B into
//! thread A's lane is reused by A's next allocation of its size, not by
//! B's. All lanes share the pool's limit, exactly.

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use arenapool::raw::{RawPool, Shared};
use arenapool::Stats;
use parking_lot::Mutex;
use pyo3::prelude::*;

use crate::accounting::Tracked;
use crate::fork;
use crate::membarrier;
use crate::pool::Block;
use crate::registry::Registry;

/// Thread lanes per pool; threads beyond this many share them.
pub const LANES: usize = 16;

/// The index of the GIL's lane, after the thread lanes (see "The GIL's
/// lane" in the module doc).
pub const GIL_LANE: usize = LANES;

/// Who is calling, as far as the GIL goes (see `crate::fork`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Caller {
    /// Holds the GIL for the whole call (the `_or_raise` forms, every
    /// Python-level call that keeps the GIL): needs no fork gate.
    HoldsGil,
    /// May or may not hold it (the plain C forms): waits out a fork unless
    /// it turns out to hold the GIL.
    Unknown,
}

/// One lane's state, reached only through its lock.
pub struct LaneState {
    /// The engine (reporting into `total_reserved()`).
    pub tracked: Tracked,
    /// The lane's C-made blocks.
    pub c_blocks: Registry,
    /// False once the pool is closed: every call then refuses.
    pub open: bool,
    /// The highest [`size`](Self::size) seen just before a free (see
    /// [`note_peak`](Self::note_peak)).
    peak: usize,
    /// The blocks of this lane's Python-level allocations with buffer
    /// exports alive, by address: a closed lane keeps these (and frees the
    /// rest: see [`LaneSet::close`]) until their last export ends.
    exported: HashMap<usize, Exported>,
}

/// A block with buffer exports alive.
struct Exported {
    block: Block,
    layout: Layout,
    /// Exports alive (at least one while listed).
    count: usize,
}

impl LaneState {
    /// The state of a shut lane that holds no memory.
    fn shut() -> Self {
        LaneState {
            tracked: Tracked::new(RawPool::new(None)),
            c_blocks: Registry::default(),
            open: false,
            peak: 0,
            exported: HashMap::new(),
        }
    }

    /// Records a buffer export of `block` (live, of this lane, made with
    /// `layout`).
    pub fn export(&mut self, block: Block, layout: Layout) {
        let entry = self
            .exported
            .entry(block.as_ptr() as usize)
            .or_insert(Exported {
                block,
                layout,
                count: 0,
            });
        entry.count += 1;
    }

    /// For a lane being closed with exports alive: frees every block but the
    /// exported ones (see `RawPool::retain`), and the C blocks' registry
    /// with them.
    fn retain_exported(&mut self) {
        let keep: Vec<_> = (self.exported.values())
            .map(|exported| (exported.block.0, exported.layout))
            .collect();
        // The lane is shut (`open` is false, set under this lock), so no call
        // will use any of its blocks again, and the registry that lists the C
        // blocks goes below; an exported block is live (free and realloc
        // refuse while it is exported) with the layout it was made with.
        // SAFETY: so `retain`'s contract holds: each kept block listed once
        // (by address), no other used again, no values registered here.
        self.tracked.with(|raw| unsafe { raw.retain(&keep) });
        // Its leaves were blocks of the engine, freed just now.
        self.c_blocks = Registry::default();
    }

    /// Live bytes requested: the engine's count, less the registry's own
    /// leaves and the hidden byte of each zero-size C block.
    pub fn size(&self) -> usize {
        (self.tracked.raw().size())
            .saturating_sub(self.c_blocks.leaf_bytes() + self.c_blocks.zero_size())
    }

    /// Records the live bytes as a candidate peak; called before every free
    /// or move. The lane's live bytes grow only by allocations (a registry
    /// leaf or a zero-size block's hidden byte changes the engine's count,
    /// not this one) and shrink only by frees, so their highest value is
    /// reached just before a free, or is the current one: the peak stays
    /// exact at the cost of one subtraction per free, none per allocation
    /// (the engine's own trick).
    #[inline]
    pub fn note_peak(&mut self) {
        self.peak = self.peak.max(self.size());
    }

    /// The engine's stats, less the registry's leaves and hidden bytes.
    pub fn stats(&self) -> Stats {
        let mut stats = self.tracked.raw().stats();
        let hidden = self.c_blocks.leaf_bytes() + self.c_blocks.zero_size();
        stats.live_bytes = stats.live_bytes.saturating_sub(hidden);
        stats.live_allocations = stats
            .live_allocations
            .saturating_sub(self.c_blocks.leaves());
        stats.large_blocks = stats.large_blocks.saturating_sub(self.c_blocks.leaves());
        // The engine's own peak counts leaves and hidden bytes (it does not
        // know them); this lane's is exact (`note_peak`).
        stats.peak_live_bytes = self.peak.max(stats.live_bytes);
        stats
    }
}

/// A lane: a spin lock and the state it guards, on cache lines of its own
/// (128 bytes: the adjacent-line prefetcher pairs lines).
#[repr(align(128))]
pub struct Lane {
    locked: AtomicBool,
    /// The lane is owned: its owner (the thread whose slot is `index`, or
    /// for the GIL's lane whoever holds the GIL) enters with plain stores,
    /// not `locked` (see "Owned lanes" in the module doc). Cleared for good
    /// by the first other thread.
    owned: AtomicBool,
    /// The owner is inside (written by the owner only).
    busy: AtomicBool,
    /// This lane's index in its set: a thread lane's owner's slot, or
    /// [`GIL_LANE`].
    index: usize,
    state: UnsafeCell<LaneState>,
}

// SAFETY: `state` is only reached through `lock`, which gives one thread at a
// time a guard: through `locked` (acquire on taking, release on leaving), or
// to the owner through `busy`, which no other thread holds a guard beside
// (`disown` waits for `busy` to clear, with acquire, before its guard is
// returned, and after its barrier the owner takes `locked` too; see "Owned
// lanes"); `LaneState` is `Send` (the engine and registry own their memory,
// no thread affinity).
unsafe impl Sync for Lane {}

/// The lock of one lane, held.
pub struct LaneGuard<'a> {
    lane: &'a Lane,
    /// Held by the owner's plain flag (`busy`), not by `locked`.
    owner: bool,
    /// Not `Send`: an owner's guard must be dropped by the owner, whose
    /// next entry relies on program order alone (no acquire) to see what
    /// was done under it.
    _not_send: PhantomData<*const ()>,
}

impl<'a> LaneGuard<'a> {
    /// The guard of a thread inside `lane`: by its owner's `busy` flag
    /// (`owner`) or by `locked`.
    #[inline(always)]
    fn new(lane: &'a Lane, owner: bool) -> Self {
        LaneGuard {
            lane,
            owner,
            _not_send: PhantomData,
        }
    }
}

impl Deref for LaneGuard<'_> {
    type Target = LaneState;
    fn deref(&self) -> &LaneState {
        // SAFETY: this guard holds the lane (its lock, or its owner's `busy`
        // flag while the lane is owned): no other access.
        unsafe { &*self.lane.state.get() }
    }
}

impl DerefMut for LaneGuard<'_> {
    fn deref_mut(&mut self) -> &mut LaneState {
        // SAFETY: as in `deref`, and `&mut self` makes this the only use.
        unsafe { &mut *self.lane.state.get() }
    }
}

impl Drop for LaneGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.owner {
            self.lane.busy.store(false, Ordering::Release);
        } else {
            self.lane.locked.store(false, Ordering::Release);
        }
    }
}

impl Lane {
    /// Lane `index`, owned (by the thread of slot `index`, or the GIL's
    /// holder for [`GIL_LANE`]) if `owned`.
    fn new(shared: Option<&Arc<Shared>>, index: usize, owned: bool) -> Self {
        let raw = match shared {
            // The group (the lanes of a pool and of its zones) shares only
            // the limit: no block ever moves from one lane's engine to
            // another (frees and reallocs go back to the lane that made the
            // block, and no lane calls `spill`, so the depot stays empty),
            // so any engine of it may drop on its own; each engine is used
            // under its lane's lock only.
            // SAFETY: so `with_shared`'s contract holds.
            Some(shared) => unsafe { RawPool::with_shared(shared.clone()) },
            // No limit to share: independent engines, and no lock of
            // `Shared` on every large block (18% of a realloc loop's time).
            None => RawPool::new(None),
        };
        Lane {
            locked: AtomicBool::new(false),
            owned: AtomicBool::new(owned),
            busy: AtomicBool::new(false),
            index,
            state: UnsafeCell::new(LaneState {
                tracked: Tracked::new(raw),
                c_blocks: Registry::default(),
                open: true,
                peak: 0,
                exported: HashMap::new(),
            }),
        }
    }

    /// Takes the lane: `owner` says whether the calling thread is the
    /// lane's owner (its slot is the lane's index). The owner of an owned
    /// lane enters with a plain store and two plain loads; anyone else takes
    /// the lock (one `xchg` when free), and the first other thread to come
    /// ends the lane's ownership ([`disown`](Self::disown)). A `caller` that
    /// may be without the GIL gives the lane back and waits while a fork is
    /// under way. Pools call [`LaneSet::enter`], which also checks the pool
    /// is open.
    #[inline]
    fn lock(&self, caller: Caller, owner: bool) -> LaneGuard<'_> {
        match self.try_lock(caller, owner) {
            Some(guard) => guard,
            None => self.lock_slow(caller, owner),
        }
    }

    /// [`lock`](Self::lock)'s first attempt, which calls nothing: the
    /// owner's way in, or one `xchg` that finds the lock free. `None`, with
    /// nothing held, if the lock is taken, a fork is under way (for a caller
    /// that may be without the GIL), or the lane is still owned by another
    /// thread (ending that is `lock_slow`'s work).
    #[inline(always)]
    fn try_lock(&self, caller: Caller, owner: bool) -> Option<LaneGuard<'_>> {
        if owner {
            if let Some(guard) = self.enter_owned(caller == Caller::Unknown) {
                return Some(guard);
            }
        }
        // SeqCst: with `fork::before` raising FORKING (SeqCst) and then
        // reading each lane's lock (SeqCst), either this thread sees the
        // fork below or the fork sees this lock held and waits for it.
        if self.locked.swap(true, Ordering::SeqCst) {
            return None;
        }
        if (caller == Caller::HoldsGil || !fork::forking())
            && (owner || !self.owned.load(Ordering::Relaxed))
        {
            return Some(LaneGuard::new(self, false));
        }
        self.locked.store(false, Ordering::Release);
        None
    }

    /// The owner's way in, while the lane is owned: `None` if it is not (any
    /// more), or if `gated` (the caller may be without the GIL) and a fork
    /// is under way; the caller then takes `locked`.
    #[inline]
    fn enter_owned(&self, gated: bool) -> Option<LaneGuard<'_>> {
        if !self.owned.load(Ordering::Relaxed) {
            return None;
        }
        // The owner never enters twice (no lane is entered from inside
        // one): a second guard would alias the first.
        debug_assert!(!self.busy.load(Ordering::Relaxed));
        self.busy.store(true, Ordering::Relaxed);
        // The light side of the asymmetric barrier: the compiler keeps the
        // store above before the loads below; the processor's reordering of
        // them is undone by `membarrier::heavy`, which `disown` and
        // `fork::before` call after their own stores. So either this thread
        // sees `owned` cleared (or the fork), or they see `busy` set and
        // wait for it to be cleared.
        compiler_fence(Ordering::SeqCst);
        if self.owned.load(Ordering::Relaxed) && !(gated && fork::forking()) {
            return Some(LaneGuard::new(self, true));
        }
        self.busy.store(false, Ordering::Release);
        None
    }

    /// The guard of a thread that took `locked`: a thread other than the
    /// owner first ends the lane's ownership.
    #[inline]
    fn locked_guard(&self, owner: bool) -> LaneGuard<'_> {
        if !owner && self.owned.load(Ordering::Relaxed) {
            self.disown();
        }
        LaneGuard::new(self, false)
    }

    /// Ends the lane's ownership, for good; called holding `locked` by a
    /// thread that is not the owner. Clears `owned`, makes every thread run
    /// a full barrier (`membarrier`), then waits for the owner to leave if
    /// it is inside: from then on the owner takes `locked` like everyone
    /// else (its next entry sees `owned` cleared). One system call, once
    /// per lane that another thread touches.
    #[cold]
    fn disown(&self) {
        self.owned.store(false, Ordering::SeqCst);
        membarrier::heavy();
        while self.busy.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
    }

    #[cold]
    fn lock_slow(&self, caller: Caller, owner: bool) -> LaneGuard<'_> {
        let mut spins = 0u32;
        loop {
            if !self.locked.load(Ordering::Relaxed) && !self.locked.swap(true, Ordering::SeqCst) {
                if caller == Caller::HoldsGil
                    || !fork::forking()
                    || (caller == Caller::Unknown && fork::attached())
                {
                    return self.locked_guard(owner);
                }
                // A fork is under way and this thread may be without the
                // GIL: it must not hold a lane at `fork()`.
                self.locked.store(false, Ordering::Release);
                fork::wait_while_forking(caller);
                continue;
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Takes the lane unless a fork is under way (for a thread that
    /// released the GIL and can take it back rather than wait: see
    /// `Pool::on_lane`); `owner` as in [`lock`](Self::lock).
    fn lock_unless_forking(&self, owner: bool) -> Option<LaneGuard<'_>> {
        if fork::forking() {
            return None;
        }
        if owner {
            if let Some(guard) = self.enter_owned(true) {
                return Some(guard);
            }
        }
        let mut spins = 0u32;
        loop {
            if fork::forking() {
                return None;
            }
            if !self.locked.load(Ordering::Relaxed) && !self.locked.swap(true, Ordering::SeqCst) {
                if !fork::forking() {
                    return Some(self.locked_guard(owner));
                }
                self.locked.store(false, Ordering::Release);
                return None;
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Whether a thread is inside the lane now (its lock, or its owner).
    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::SeqCst) || self.busy.load(Ordering::SeqCst)
    }
}

thread_local! {
    /// This thread's slot, given on its first call into any pool (see
    /// [`take_slot`]): below [`LANES`] it owns lane `slot` of every pool;
    /// from [`LANES`] on it shares lane `slot % LANES`, owning none. No
    /// destructor, so it stays readable while the thread's other locals are
    /// destroyed (`SlotRelease` rewrites it then).
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };

    /// Gives this thread's owner slot back when the thread ends.
    static RELEASE: SlotRelease = const { SlotRelease };
}

/// Set for good when the first owned lane is made: only then does the fork
/// gate need the heavy barrier.
static ANY_OWNED: AtomicBool = AtomicBool::new(false);

/// Whether any lane was ever made owned. A fork that reads `false` here
/// (SeqCst, after raising FORKING) sees no owned lane in its scan: a lane
/// is published after its maker set this flag.
pub fn any_owned() -> bool {
    ANY_OWNED.load(Ordering::SeqCst)
}

/// A fork is under way (see [`LaneSet::enter_detached`]).
#[derive(Debug)]
pub struct Forking;

/// The owner slots held by live threads: bit `i` is slot `i < LANES`.
///
/// A slot goes back when its thread ends (`SlotRelease`), so a process that
/// makes and ends threads all its life — a server's workers, a thread pool
/// replaced after a fork — keeps owned lanes for the threads it has now,
/// where a counter that only grew left every thread after the sixteenth
/// with the lock of a shared lane on each call (two `xchg`s a pair: 2
/// threads on one pool ran 1.12× one thread, measured with `make
/// bench-cython`, against 1.95× for libc in the same run).
///
/// Handing a slot over hands over its lanes: the thread that takes slot
/// `i` owns lane `i` of every pool, entering with plain stores, where the
/// last holder worked with plain stores too. Its `take_slot` reads the bit
/// with acquire, which the ending thread cleared with release after its
/// last call as owner: everything that thread did in its lanes happens
/// before the new owner's first entry.
static OWNER_SLOTS: AtomicUsize = AtomicUsize::new(0);

/// Spreads the threads that find no owner slot free over the lanes.
static NEXT_SHARED: AtomicUsize = AtomicUsize::new(0);

/// The mask of every owner slot.
const ALL_SLOTS: usize = (1 << LANES) - 1;

/// This thread's slot (see `SLOT`).
#[inline]
fn my_slot() -> usize {
    SLOT.try_with(|slot| match slot.get() {
        usize::MAX => take_slot(slot),
        mine => mine,
    })
    // Unreachable with a destructor-free local, but harmless: any lane,
    // owning none.
    .unwrap_or(LANES)
}

/// Gives the calling thread its slot on its first call: the lowest owner
/// slot free, if it can arrange to give it back at its end, else a shared
/// one.
#[cold]
fn take_slot(slot: &Cell<usize>) -> usize {
    // Register the release first, and take no owner slot if that fails (it
    // would not go back). Registering succeeds even on a thread whose locals
    // are being destroyed; a thread whose first call comes from a C
    // `pthread_key` destructor, after Rust's locals are gone, registers a
    // release that never runs, and its slot stays taken: one fewer owned
    // lane for the process, never two owners.
    if RELEASE.try_with(|_| ()).is_ok() {
        let mut held = OWNER_SLOTS.load(Ordering::Acquire);
        while held & ALL_SLOTS != ALL_SLOTS {
            let free = (!held & ALL_SLOTS).trailing_zeros() as usize;
            // Acquire: see "OWNER_SLOTS" (the last holder's work in its lanes
            // happens before this thread's).
            match OWNER_SLOTS.compare_exchange_weak(
                held,
                held | 1 << free,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    slot.set(free);
                    return free;
                }
                Err(now) => held = now,
            }
        }
    }
    let shared = LANES + NEXT_SHARED.fetch_add(1, Ordering::Relaxed) % LANES;
    slot.set(shared);
    shared
}

/// Gives a thread's owner slot back when the thread ends (the destructor of
/// its `RELEASE` local). The thread keeps its lane, as a sharer: a call it
/// makes after this (from another local's destructor) locks the lane like
/// any other thread's.
struct SlotRelease;

impl Drop for SlotRelease {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|slot| {
            let mine = slot.get();
            if mine < LANES {
                slot.set(LANES + mine);
                // Release, after this thread's last call as the owner: see
                // "OWNER_SLOTS".
                OWNER_SLOTS.fetch_and(!(1 << mine), Ordering::Release);
            }
        });
    }
}

/// In a fork's child, whose only thread is the forking one: the owner slots
/// of the threads that did not come along are free again (the fork gate saw
/// each of their lanes left, so a child thread that takes one over starts
/// after their last work). Called by [`unlock_all_in_child`] only.
fn free_slots_in_child() {
    let mine = SLOT.try_with(Cell::get).unwrap_or(usize::MAX);
    let kept = if mine < LANES { 1 << mine } else { 0 };
    OWNER_SLOTS.store(kept, Ordering::SeqCst);
}

/// Where the calling thread sits: its lane and whether it owns it.
#[derive(Clone, Copy, Debug)]
pub struct Seat {
    /// The thread's lane.
    pub index: usize,
    /// The thread owns that lane (it holds the lane's owner slot).
    pub owner: bool,
}

impl Seat {
    /// The calling thread's seat among the thread lanes.
    #[inline]
    pub fn mine() -> Seat {
        let slot = my_slot();
        Seat {
            index: slot % LANES,
            owner: slot < LANES,
        }
    }

    /// The seat of a `caller`: the GIL's lane, owned, for one that holds
    /// the GIL (no thread-local lookup) while that lane is on; its thread's
    /// seat otherwise.
    #[inline(always)]
    pub fn of(caller: Caller) -> Seat {
        if caller == Caller::HoldsGil && gil_lane_on() {
            return Seat {
                index: GIL_LANE,
                owner: true,
            };
        }
        Seat::mine()
    }

    /// Whether the calling thread owns thread lane `index`.
    pub fn owns(index: usize) -> bool {
        index < LANES && my_slot() == index
    }
}

/// Whether a `caller` would own lane `index` (its owner's entry, if the
/// lane is owned): the GIL's lane is owned by whoever holds the GIL (a
/// caller that may not, if it surely does: `fork::surely_attached`); a
/// thread lane by the thread that holds its owner slot.
pub fn owner_of(index: usize, caller: Caller) -> bool {
    if index == GIL_LANE {
        gil_lane_on() && (caller == Caller::HoldsGil || fork::surely_attached())
    } else {
        Seat::owns(index)
    }
}

/// Whether the GIL's lane is in use: set at module init unless the
/// interpreter runs without a GIL (a free-threaded build with
/// `PYTHON_GIL=0`, which `gil_used` cannot overrule). There GIL holders
/// need not be one at a time, so they use their thread lanes like everyone
/// else (and the GIL's lane is never made).
static GIL_LANE_ON: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn gil_lane_on() -> bool {
    GIL_LANE_ON.load(Ordering::Relaxed)
}

/// At module init: turns the GIL's lane on if the interpreter has a GIL
/// now (`sys._is_gil_enabled()`, 3.13 on; every earlier CPython has one).
/// A GIL turned on after this (a free-threaded build importing a module
/// that needs one) leaves the lane off, which is always safe.
pub fn init_gil_lane(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let has_gil = match sys.getattr("_is_gil_enabled") {
        Ok(is_enabled) => is_enabled.call0()?.is_truthy()?,
        Err(_) => true,
    };
    GIL_LANE_ON.store(has_gil, Ordering::Relaxed);
    Ok(())
}

/// The lanes of one pool.
pub struct LaneSet {
    /// Whether the set is in `SETS` (changed only under its lock).
    registered: AtomicBool,
    /// This set's index in `SETS` (changed only under its lock).
    slot: AtomicUsize,
    /// Set by `close`, before it shuts the lanes: a lane made after its scan
    /// is refused through this (see [`enter`](Self::enter)).
    closed: AtomicBool,
    /// The limit and the bytes held against it, if the pool has a limit.
    shared: Option<Arc<Shared>>,
    /// The thread lanes, then the GIL's.
    lanes: [AtomicPtr<Lane>; LANES + 1],
}

/// Every live pool's lanes, for the fork handlers (which hold the GIL, as
/// does every change of this list: pools are made and dropped with it). A
/// slab: each set knows its index, so that leaving is a `swap_remove`, with
/// no hashing (a `HashMap` here doubled the cost of `Pool()`).
static SETS: Mutex<Vec<SetPtr>> = Mutex::new(Vec::new());

/// A registered lane set; see `SETS`.
#[derive(Clone, Copy)]
struct SetPtr(*const LaneSet);
// SAFETY: a set is registered while it lives and does not move meanwhile
// (see `LaneSet::register`; it unregisters in `Drop`, under the same lock),
// and `LaneSet` is `Sync`.
unsafe impl Send for SetPtr {}

impl LaneSet {
    /// The lanes of a new pool with `limit` (none made yet).
    ///
    /// The set is registered for the fork handlers (`SETS`) when its first
    /// lane is made ([`register`](Self::register)), not here: a pool that
    /// never allocated has nothing for them, and `Pool()` skips two trips
    /// through the list's mutex. So the set must not move after that: it
    /// lives inside its `Pool` object, which never moves.
    pub fn new(limit: Option<usize>) -> Self {
        Self::with_limit(limit.map(|limit| Arc::new(Shared::new(Some(limit)))))
    }

    /// The lanes of a zone of the pool whose lanes are `self`: a new set
    /// whose lanes count against this one's limit, if any.
    pub fn zone(&self) -> Self {
        Self::with_limit(self.shared.clone())
    }

    fn with_limit(shared: Option<Arc<Shared>>) -> Self {
        LaneSet {
            registered: AtomicBool::new(false),
            slot: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            shared,
            lanes: [const { AtomicPtr::new(ptr::null_mut()) }; LANES + 1],
        }
    }

    /// Puts the set in `SETS` if it is not there yet.
    ///
    /// Called when a lane is made and by `arenapool_c_pool`. Lanes are made
    /// by GIL holders, or by C-level calls on a handle, which only
    /// `arenapool_c_pool` gives (holding the GIL, and registering): so the
    /// list still changes only under the GIL, as the fork handlers need (see
    /// [`unlock_all_in_child`]). Python-level calls that release the GIL
    /// pick their lane before they do.
    ///
    /// The set must stay where it is until it drops (see [`new`](Self::new)).
    pub fn register(&self) {
        if self.registered.load(Ordering::Acquire) {
            return;
        }
        let mut sets = SETS.lock();
        if !self.registered.load(Ordering::Relaxed) {
            self.slot.store(sets.len(), Ordering::Relaxed);
            sets.push(SetPtr(self));
            self.registered.store(true, Ordering::Release);
        }
    }

    /// The pool's limit.
    pub fn limit(&self) -> Option<usize> {
        self.shared.as_ref().and_then(|shared| shared.limit())
    }

    /// Lane `lane` of this set, locked, if the pool is open.
    ///
    /// The lane's own flag says whether `close` shut it; `closed`, read after
    /// the lock's `xchg` (both sequentially consistent), covers a lane made
    /// after `close` scanned the set: either this load sees `closed`, or it
    /// came before `close` set it, and then `close`'s scan (after its store)
    /// sees the lane, published before this thread locked it, and waits for
    /// this call.
    #[inline]
    pub fn enter<'a>(&self, lane: &'a Lane, caller: Caller) -> Option<LaneGuard<'a>> {
        self.enter_as(lane, caller, owner_of(lane.index, caller))
    }

    /// As [`enter`](Self::enter), from a thread that knows whether it owns
    /// `lane` (its [`Seat`]).
    #[inline]
    pub fn enter_as<'a>(
        &self,
        lane: &'a Lane,
        caller: Caller,
        owner: bool,
    ) -> Option<LaneGuard<'a>> {
        self.admit(lane.lock(caller, owner))
    }

    /// A guard just taken, if its lane is open and the pool not closed (see
    /// [`enter`](Self::enter)); dropped (the lane given back) otherwise.
    #[inline(always)]
    fn admit<'a>(&self, guard: LaneGuard<'a>) -> Option<LaneGuard<'a>> {
        (guard.open && !self.closed.load(Ordering::SeqCst)).then_some(guard)
    }

    /// As [`enter_as`](Self::enter_as) without waiting or calling anything
    /// (the C API's fast paths): `None` also when the lane's lock is taken,
    /// a fork is under way or another thread still owns the lane, and the
    /// caller then takes the long way.
    #[inline(always)]
    pub fn enter_fast<'a>(
        &self,
        lane: &'a Lane,
        caller: Caller,
        owner: bool,
    ) -> Option<LaneGuard<'a>> {
        self.admit(lane.try_lock(caller, owner)?)
    }

    /// As [`enter`](Self::enter) for a thread that released the GIL: `Err`
    /// if a fork is under way (the caller takes the GIL back and enters as
    /// [`Caller::HoldsGil`] rather than wait for a fork that may need it).
    pub fn enter_detached<'a>(
        &self,
        lane: &'a Lane,
        owner: bool,
    ) -> Result<Option<LaneGuard<'a>>, Forking> {
        Ok(self.admit(lane.lock_unless_forking(owner).ok_or(Forking)?))
    }

    /// The caller's seat and lane, made if need be: the GIL's lane for a
    /// caller holding the GIL, else its thread's.
    #[inline]
    pub fn mine(&self, caller: Caller) -> (Seat, &Lane) {
        let seat = Seat::of(caller);
        (seat, self.get_or_make(seat.index, seat.owner))
    }

    /// The caller's seat and lane (as [`mine`](Self::mine)) if the lane is
    /// made (the C API's fast paths, which leave making it to the long
    /// way).
    #[inline(always)]
    pub fn mine_made(&self, caller: Caller) -> Option<(Seat, &Lane)> {
        let seat = Seat::of(caller);
        let lane = self.lanes[seat.index.min(GIL_LANE)].load(Ordering::SeqCst);
        // SAFETY: as in `get_or_make`.
        (!lane.is_null()).then(|| (seat, unsafe { &*lane }))
    }

    /// Lane `index` (at most [`GIL_LANE`]), made if need be; `owner` says
    /// whether the calling thread would own it (see [`owner_of`]), which
    /// decides whether a lane it makes is owned.
    #[inline]
    pub fn get_or_make(&self, index: usize, owner: bool) -> &Lane {
        let index = index.min(GIL_LANE);
        let lane = self.lanes[index].load(Ordering::SeqCst);
        if lane.is_null() {
            return self.make(index, owner);
        }
        // SAFETY: a non-null entry is a `Box<Lane>` leaked into the set,
        // freed only when the set drops (not while `&self` lives).
        unsafe { &*lane }
    }

    #[cold]
    fn make(&self, index: usize, owner: bool) -> &Lane {
        self.register();
        // A lane is owned only if its owner makes it (a lane first used by
        // another thread would be disowned at once) and the heavy barrier
        // ownership needs exists here.
        let owned = owner && membarrier::available();
        if owned {
            // SeqCst, before the lane is published (the CAS below): a fork
            // that misses this flag also misses the lane (see `any_owned`).
            ANY_OWNED.store(true, Ordering::SeqCst);
        }
        let new = Box::into_raw(Box::new(Lane::new(self.shared.as_ref(), index, owned)));
        let lane = match self.lanes[index].compare_exchange(
            ptr::null_mut(),
            new,
            // SeqCst: see `enter` and `wait_all_unlocked`.
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => new,
            Err(theirs) => {
                // Another thread of this slot made it first.
                // SAFETY: `new` came from `Box::into_raw` above and was never
                // shared.
                drop(unsafe { Box::from_raw(new) });
                theirs
            }
        };
        // SAFETY: as in `get_or_make`.
        unsafe { &*lane }
    }

    /// The lanes made so far, with their indices.
    pub fn made(&self) -> impl Iterator<Item = (usize, &Lane)> {
        self.lanes.iter().enumerate().filter_map(|(index, lane)| {
            // SeqCst: `close` and the fork handler read the slots after their
            // own sequentially consistent stores (see `enter`).
            let lane = lane.load(Ordering::SeqCst);
            // SAFETY: as in `get_or_make`.
            (!lane.is_null()).then(|| (index, unsafe { &*lane }))
        })
    }

    /// Each made lane's index and whether it is still owned (what the
    /// tests read through `arenapool._arenapool._lanes`).
    pub fn ownership(&self) -> Vec<(usize, bool)> {
        self.made()
            .map(|(index, lane)| (index, lane.owned.load(Ordering::Relaxed)))
            .collect()
    }

    /// The pool's stats: the lanes' summed.
    pub fn stats(&self, caller: Caller) -> Option<Stats> {
        let mut total = Stats::default();
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        for (_, lane) in self.made() {
            let lane = self.enter(lane, caller)?;
            let stats = lane.stats();
            total.live_allocations += stats.live_allocations;
            total.live_bytes += stats.live_bytes;
            total.reserved_bytes += stats.reserved_bytes;
            total.free_list_bytes += stats.free_list_bytes;
            // Each lane's peak is exact; their sum bounds the pool's (lanes
            // may have peaked at different times), and is exact for a pool
            // one thread used.
            total.peak_live_bytes += stats.peak_live_bytes;
            total.chunks += stats.chunks;
            total.large_blocks += stats.large_blocks;
        }
        Some(total)
    }

    /// Live bytes of all lanes; `None` once closed.
    pub fn size(&self, caller: Caller) -> Option<usize> {
        let mut size = 0;
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        for (_, lane) in self.made() {
            size += self.enter(lane, caller)?.size();
        }
        Some(size)
    }

    /// Shuts every lane, then frees the memory of every lane that has no
    /// buffer exported; a lane that has frees every block but the exported
    /// ones (large blocks one by one; its chunks of small blocks only if no
    /// exported block is small, since a chunk cannot be given back in part),
    /// and [`release_export`](Self::release_export) frees each of those
    /// when its last export ends, the lane's memory with the last one.
    /// Holds the GIL.
    pub fn close(&self) {
        // First the set, then every lane is marked shut, so that no call
        // works on any engine while some are already gone, and none on a
        // lane made from now on (see `enter`).
        self.closed.store(true, Ordering::SeqCst);
        for (_, lane) in self.made() {
            lane.lock(Caller::HoldsGil, owner_of(lane.index, Caller::HoldsGil))
                .open = false;
        }
        for (_, lane) in self.made() {
            let freed = {
                let mut lane = lane.lock(Caller::HoldsGil, owner_of(lane.index, Caller::HoldsGil));
                if lane.exported.is_empty() {
                    Some(std::mem::replace(&mut *lane, LaneState::shut()))
                } else {
                    lane.retain_exported();
                    None
                }
            };
            // Freed outside the lock: it may take a while for large pools.
            drop(freed);
        }
    }

    /// Ends one buffer export of `block`, of lane `index`. Once a closed
    /// lane's block has no export left it is freed, and the lane's memory
    /// with the last one. Holds the GIL (`releasebuffer`), as `close` does:
    /// the two are ordered by it and by the lane's lock.
    pub fn release_export(&self, index: usize, block: Block) {
        let freed = {
            let owner = owner_of(index, Caller::HoldsGil);
            let lane = self.get_or_make(index, owner);
            let mut lane = lane.lock(Caller::HoldsGil, owner);
            let (address, open) = (block.as_ptr() as usize, lane.open);
            let Some(exported) = lane.exported.get_mut(&address) else {
                return;
            };
            exported.count -= 1;
            if exported.count > 0 || open {
                if exported.count == 0 {
                    lane.exported.remove(&address);
                }
                return;
            }
            let layout = exported.layout;
            lane.exported.remove(&address);
            if lane.exported.is_empty() {
                Some(std::mem::replace(&mut *lane, LaneState::shut()))
            } else {
                // A block the closed lane kept for its exports (live, made with
                // `layout`), the last of which just ended: nothing uses it
                // again (its allocation raises on a closed pool).
                lane.tracked.with(|raw| {
                    // SAFETY: as just argued.
                    unsafe { raw.dealloc(block.0, layout) }
                });
                None
            }
        };
        drop(freed);
    }
}

impl Drop for LaneSet {
    fn drop(&mut self) {
        if *self.registered.get_mut() {
            let mut sets = SETS.lock();
            let slot = self.slot.load(Ordering::Relaxed);
            if slot < sets.len() {
                sets.swap_remove(slot);
                if let Some(moved) = sets.get(slot) {
                    // SAFETY: registered, so alive (see `SetPtr`).
                    unsafe { &*moved.0 }.slot.store(slot, Ordering::Relaxed);
                }
            }
        }
        // No call can be in flight (`&mut self`); the lanes drop together.
        // Plain reads (`&mut self`): a `swap` per slot cost 16 locked
        // instructions per dropped pool, half of `Pool()`'s time.
        for lane in &mut self.lanes {
            let lane = std::mem::replace(lane.get_mut(), ptr::null_mut());
            if !lane.is_null() {
                // SAFETY: made by `Box::into_raw` in `make`, dropped once.
                drop(unsafe { Box::from_raw(lane) });
            }
        }
    }
}

/// For `fork::before`: waits until no lane of any pool is locked or has its
/// owner inside (after FORKING was raised). Runs with the GIL.
pub fn wait_all_unlocked() {
    let sets = SETS.lock();
    for set in sets.iter() {
        // SAFETY: registered, so alive (see `SetPtr`).
        let set = unsafe { &*set.0 };
        for (_, lane) in set.made() {
            while lane.is_locked() {
                std::thread::yield_now();
            }
        }
    }
}

/// For the fork's child handler: unlocks every lane, clears every owner's
/// `busy`, and frees the owner slots of the threads left behind
/// ([`free_slots_in_child`]). A lane held at an `os.fork()` (the gate closed) was held
/// by a thread backing off from the fork (one that had touched nothing),
/// which does not exist here. Runs on
/// the child's only thread, inside `fork()`; gives up if the set map is
/// held (a `fork()` that did not come through `os.fork`, whose child cannot
/// run Python anyway).
pub fn unlock_all_in_child() {
    let Some(sets) = SETS.try_lock() else {
        return;
    };
    for set in sets.iter() {
        // SAFETY: as in `wait_all_unlocked`.
        let set = unsafe { &*set.0 };
        for (_, lane) in set.made() {
            lane.locked.store(false, Ordering::SeqCst);
            lane.busy.store(false, Ordering::SeqCst);
        }
    }
    // Under the set map, as the lanes above: a child that could not take it
    // touches no lane and frees no slot.
    free_slots_in_child();
}
