//! **arenapool**: arena-backed memory pools that own every allocation made
//! through them — cymem's job (zeroed `alloc(number, elem_size)`, `free`,
//! `realloc`, live-byte `size`) at bump-pointer speed, with handles the
//! borrow checker keeps inside their pool.
//!
//! # The model
//!
//! A [`Pool`] owns its allocations. Each call hands out a [`Handle`] that
//! borrows the pool, so no pointer can outlive it: using a handle after its
//! pool is dropped or [reset](Pool::reset) is a compile error, not a
//! convention. Dropping the pool frees everything at once and runs the
//! destructors of the values still in it.
//!
//! ```
//! use arenapool::Pool;
//!
//! let pool = Pool::new();                             // one pool per document
//! let text = pool.alloc_str("Give it back");          // strings copied in
//! let mut ids = pool.alloc_slice_zeroed::<u32>(2);    // zeroed arrays
//! ids[1] = 7;
//! pool.realloc(&mut ids, 4);                          // grown in place, tail zeroed
//! assert_eq!(*ids, [0, 7, 0, 0]);
//! let scratch = pool.alloc(16, 8);                    // cymem's alloc(number, elem_size)
//! pool.free(scratch);                                 // recycled for the next request
//! assert_eq!(pool.size(), 12 + 16);                   // live bytes, as cymem's Pool.size
//! assert_eq!(text, "Give it back");
//! drop(pool);                                         // everything freed at once
//! ```
//!
//! ```compile_fail
//! let h;
//! {
//!     let pool = arenapool::Pool::new();
//!     h = pool.alloc(1, 8); // error[E0597]: `pool` does not live long enough
//! }
//! h[0];
//! ```
//!
//! # How memory is laid out
//!
//! Small blocks (up to 4 KiB) are carved upward from chunks that
//! [`bumpalo`](https://docs.rs/bumpalo) allocates; the pool keeps a cursor into the newest chunk. A
//! freed block goes on the free list of its size class — its first word
//! holds the link, so blocks carry no header — and the next request of that
//! class pops it; the newest block, freed, goes back to the chunk instead (the
//! cursor moves down over it), so a temporary costs no list traffic. Larger
//! blocks are system allocations of their own, linked in a list and grown
//! with the system `realloc` (or, from 64 KiB on Linux, on pages of their
//! own).
//!
//! ```text
//!  chunk (from bumpalo)                                   ┌ span end
//!  ┌──────┬───────┬──────┬──────┬─────────────────────────┬────────┐
//!  │ 16 B │ 48 B  │ 16 B │ 32 B │ ▒▒▒▒▒▒▒ not yet used ▒▒▒ │ footer │
//!  └──────┴───────┴──────┴──────┴─────────────────────────┴────────┘
//!     ▲               ▲         ▲ cursor: the next block starts here
//!     │   free list   │
//!  class 1 (16 B) ────┴──► ─┘    (freed blocks, newest first)
//!
//!  large blocks:  head ─► [hdr | 1 MiB data] ─► [hdr | 64 KiB data] ─► ∅
//! ```
//!
//! * **Zeroed.** [`Pool::alloc`], the `*_zeroed` calls and every grown tail
//!   are all-zero, recycled blocks included. Byte blocks are 16-byte
//!   aligned (what `malloc` promises and C/Cython code assumes).
//! * **Reuse.** Under steady churn the reserved memory stays close to the
//!   peak live bytes, where a plain bump arena grows forever.
//! * **Growth in place.** The newest block grows by moving the cursor; a
//!   block grows within its size class. A block that grows is taken for an
//!   array that will grow again: when it must move it gets room behind it
//!   (small blocks), capacity to double once (on entering the large range),
//!   or, from 64 KiB on Linux, pages of its own that reserve address space
//!   to grow into (see `raw`'s `growth_room.rs`, `large.rs`, `pages.rs`).
//! * **Destructors.** [`Pool::alloc_value`] registers values whose type
//!   needs `Drop`; the pool runs each exactly once — at [`Pool::free`],
//!   [`Pool::reset`] or drop. Types without drop glue pay nothing.
//! * **Checked sizes.** Overflow, layouts past `isize::MAX` and
//!   [limits](Pool::with_limit) give an [`AllocError`] (`try_` calls) or a
//!   panic with its message — never a short block.
//! * **Foreign handles.** A handle freed or reallocated through a pool that
//!   did not make it is caught: a panic, or [`AllocError::ForeignHandle`].
//!
//! # Pool, bumpalo or `Box`?
//!
//! | | `Pool` | `bumpalo::Bump` | `Box`/`Vec` |
//! |---|---|---|---|
//! | allocate | bump or free-list pop | bump | `malloc` |
//! | free one allocation | yes, reused by the next request | only the newest | yes |
//! | free everything | drop or reset, O(chunks) | drop or reset, O(chunks) | one by one |
//! | destructors | run at free, reset or drop | never (`alloc`) | at drop |
//! | zeroed memory | always for bytes and `*_zeroed` | no | `vec![0; n]` |
//! | pointer outlives owner | compile error | compile error | n/a |
//!
//! Choose `Pool` when many small allocations share one owner's lifetime
//! (a document, a request, a parse) *and* some are freed or resized before
//! the end. When nothing is freed early, `bumpalo` is as fast and simpler.
//!
//! # Collections in a pool
//!
//! `&Pool` and `&SyncPool` implement allocator-api2's `Allocator`, for each
//! version a feature turns on — all three by default: `allocator-api2`
//! (0.2: hashbrown 0.14–0.15, bumpalo), `allocator-api2-03` (0.3) and
//! `allocator-api2-04` (0.4, what `cargo add allocator-api2` gives today).
//! Use the version your collections use; a crate that wants one can turn
//! the defaults off and name it. allocator-api2's `Vec` and `Box` and
//! hashbrown's maps so live in a pool. Freeing recycles, growth
//! uses the pool's `realloc` (in place when it can be), and when the
//! collection drops, [`Pool::size`] is back where it was.
//!
//! ```
//! # #[cfg(feature = "allocator-api2")] {
//! use allocator_api2::vec::Vec;
//! use arenapool::Pool;
//!
//! let pool = Pool::new();
//! let mut ids = Vec::new_in(&pool);
//! ids.extend([3u32, 1, 4, 1, 5]);
//! assert!(pool.size() >= 20);
//! drop(ids);
//! assert_eq!(pool.size(), 0);
//! # }
//! ```
//!
//! # Threads
//!
//! [`Pool`] is `Send` but not `Sync`. [`SyncPool`] is both: any thread
//! allocates and frees through `&SyncPool`, each with a cache of its own, so
//! small allocations take no lock.
//!
//! # Features
//!
//! `std` (default): [`SyncPool`] and engines that share a limit
//! ([`raw::Shared`]). Without it the crate is `#![no_std]`, on `core` and
//! `alloc`: [`Pool`], [`RcPool`], the raw engine and the allocator-api2
//! impls (`make test` builds it for `x86_64-unknown-none`). `allocator-api2`,
//! `allocator-api2-03`, `allocator-api2-04` (default): see "Collections in a
//! pool".
//!
//! # Layers
//!
//! [`raw::RawPool`] is the engine — raw pointers and [`Layout`](core::alloc::Layout)s,
//! every memory operation an `unsafe fn` with its `# Safety` contract.
//! [`Pool`] wraps it in the safe, lifetime-checked API.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

#[cfg(any(
    feature = "allocator-api2",
    feature = "allocator-api2-03",
    feature = "allocator-api2-04"
))]
mod allocator;
mod backend;
mod error;
mod handle;
mod pool;
pub mod raw;
mod rc_pool;
mod stats;
mod surface;
#[cfg(feature = "std")]
mod sync;
mod zone;

/// `#[derive(Zeroable)]` for structs and unions of `Zeroable` fields: a
/// crate that depends on arenapool alone derives it as
/// `#[derive(arenapool::Zeroable)]` (bytemuck's own derive would need
/// `bytemuck` in that crate too).
///
/// ```
/// #[derive(Clone, Copy, arenapool::Zeroable)]
/// struct TokenC {
///     lex: u32,
///     head: i32,
///     flags: [u8; 4],
/// }
/// let pool = arenapool::Pool::new();
/// let tokens = pool.alloc_slice_zeroed::<TokenC>(8);
/// assert_eq!(tokens[7].head, 0);
/// ```
///
/// A field whose type is not `Zeroable` is a compile error:
///
/// ```compile_fail
/// #[derive(Clone, arenapool::Zeroable)]
/// struct Holder {
///     name: String, // a dangling pointer when zeroed
/// }
/// ```
pub use arenapool_derive::Zeroable;
/// The trait comes by a glob, so that the derive above shadows bytemuck's
/// (which `bytemuck::Zeroable` also names when another crate of the build
/// turns on bytemuck's `derive` feature).
mod zeroable_trait {
    pub use bytemuck::Zeroable;
}
pub use error::AllocError;
pub use handle::Handle;
pub use pool::Pool;
pub use rc_pool::{RcHandle, RcPool};
pub use stats::Stats;
pub use surface::DroppedByPool;
#[cfg(feature = "std")]
pub use sync::SyncPool;
pub use zeroable_trait::*;
pub use zone::Zone;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
