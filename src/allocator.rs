//! allocator-api2's `Allocator` for `&Pool` and `&SyncPool`, so that
//! standard-shaped collections (allocator-api2's `Vec` and `Box`,
//! hashbrown's maps) live in a pool — for each version of allocator-api2 a
//! feature turns on: `allocator-api2` (0.2, which hashbrown 0.14–0.15 and
//! bumpalo use), `allocator-api2-03` (0.3) and `allocator-api2-04` (0.4,
//! what `cargo add allocator-api2` gives). The trait is the same in all
//! three; each is a distinct trait, implemented by the same macro.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use crate::backend::Backend;
use crate::raw::RawPool;
use crate::Pool;
#[cfg(feature = "std")]
use crate::SyncPool;

#[inline]
fn allocate<B: Backend>(pool: &B, layout: Layout, zeroed: bool) -> Option<NonNull<[u8]>> {
    let block = pool.alloc_layout(layout, zeroed).ok()?;
    Some(NonNull::slice_from_raw_parts(block, layout.size()))
}

/// `grow`/`shrink`: the pool's realloc (in place when it can be, new bytes
/// zeroed) when the alignment stays; otherwise a new block and a copy.
///
/// # Safety
///
/// As for `Allocator::grow`/`Allocator::shrink`: `ptr` is a block of
/// `pool` with layout `old`.
#[inline]
unsafe fn resize<B: Backend>(
    pool: &B,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Option<NonNull<[u8]>> {
    // The collection's pointer may reach only the old bytes (see
    // `RawPool::rederive`); the engine writes past them when it grows in place.
    let ptr = RawPool::rederive(ptr);
    if new.align() == old.align() {
        // SAFETY: a block of `pool` with `old` (caller); same alignment.
        let moved = unsafe { pool.realloc(ptr, old, new.size()) }.ok()?;
        return Some(NonNull::slice_from_raw_parts(moved, new.size()));
    }
    let moved = pool.alloc_layout(new, true).ok()?;
    // SAFETY: two distinct live blocks of at least the smaller size; the old
    // one is `pool`'s with `old` and given up by the caller.
    unsafe {
        ptr::copy_nonoverlapping(ptr.as_ptr(), moved.as_ptr(), old.size().min(new.size()));
        pool.dealloc(ptr, old);
    }
    Some(NonNull::slice_from_raw_parts(moved, new.size()))
}

/// `$api::alloc::Allocator` for `&$pool`.
macro_rules! pool_allocator {
    ($api:ident, $pool:ty) => {
        // SAFETY: blocks stay valid until deallocated or the pool resets or
        // drops — both need `&mut`/ownership of the pool, so no `&pool`
        // allocator (nor anything allocated through it) outlives them;
        // copies of the `&pool` allocator are the same allocator, and any of
        // them may free what another allocated.
        unsafe impl $api::alloc::Allocator for &$pool {
            #[inline]
            fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, $api::alloc::AllocError> {
                allocate(*self, layout, false).ok_or($api::alloc::AllocError)
            }

            /// Pool memory is handed out zeroed anyway.
            #[inline]
            fn allocate_zeroed(
                &self,
                layout: Layout,
            ) -> Result<NonNull<[u8]>, $api::alloc::AllocError> {
                allocate(*self, layout, true).ok_or($api::alloc::AllocError)
            }

            #[inline]
            unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
                // SAFETY: the `Allocator` contract: `ptr` was allocated by this
                // allocator (this pool) with `layout`; the engine works around
                // the block, so the pointer gets the engine's provenance back.
                unsafe { Backend::dealloc(*self, RawPool::rederive(ptr), layout) }
            }

            #[inline]
            unsafe fn grow(
                &self,
                ptr: NonNull<u8>,
                old: Layout,
                new: Layout,
            ) -> Result<NonNull<[u8]>, $api::alloc::AllocError> {
                // SAFETY: forwarded from the `Allocator` contract.
                unsafe { resize(*self, ptr, old, new) }.ok_or($api::alloc::AllocError)
            }

            /// The pool's `realloc` zeroes grown bytes, so this costs nothing more.
            #[inline]
            unsafe fn grow_zeroed(
                &self,
                ptr: NonNull<u8>,
                old: Layout,
                new: Layout,
            ) -> Result<NonNull<[u8]>, $api::alloc::AllocError> {
                // SAFETY: forwarded from the `Allocator` contract.
                unsafe { resize(*self, ptr, old, new) }.ok_or($api::alloc::AllocError)
            }

            #[inline]
            unsafe fn shrink(
                &self,
                ptr: NonNull<u8>,
                old: Layout,
                new: Layout,
            ) -> Result<NonNull<[u8]>, $api::alloc::AllocError> {
                // SAFETY: forwarded from the `Allocator` contract.
                unsafe { resize(*self, ptr, old, new) }.ok_or($api::alloc::AllocError)
            }
        }
    };
}

#[cfg(feature = "allocator-api2")]
pool_allocator!(allocator_api2, Pool);
#[cfg(all(feature = "allocator-api2", feature = "std"))]
pool_allocator!(allocator_api2, SyncPool);
#[cfg(feature = "allocator-api2-03")]
pool_allocator!(allocator_api2_03, Pool);
#[cfg(all(feature = "allocator-api2-03", feature = "std"))]
pool_allocator!(allocator_api2_03, SyncPool);
#[cfg(feature = "allocator-api2-04")]
pool_allocator!(allocator_api2_04, Pool);
#[cfg(all(feature = "allocator-api2-04", feature = "std"))]
pool_allocator!(allocator_api2_04, SyncPool);
