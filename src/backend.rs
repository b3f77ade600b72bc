//! The typed, lifetime-checked operations shared by [`Pool`](crate::Pool)
//! and [`SyncPool`](crate::SyncPool), written once over the engine calls each
//! pool routes to its engine(s).

use core::alloc::Layout;
use core::mem;
use core::ptr::{self, NonNull};

use bytemuck::Zeroable;

use crate::raw::{DropFn, RawPool};
use crate::{AllocError, Handle};

/// The engine calls a pool routes. Each is the `RawPool` call of the same
/// name, with the same contract, on the engine the pool picks for the layout.
pub(crate) trait Backend {
    /// The identity handles of this pool carry: stable while any handle
    /// borrows the pool.
    fn id(&self) -> NonNull<()>;

    /// [`RawPool::alloc`] (zeroed) or [`RawPool::alloc_uninit`].
    fn alloc_layout(&self, layout: Layout, zeroed: bool) -> Result<NonNull<u8>, AllocError>;

    /// [`RawPool::alloc_droppable`].
    ///
    /// # Safety
    ///
    /// As for [`RawPool::alloc_droppable`].
    unsafe fn alloc_droppable(
        &self,
        layout: Layout,
        drop_fn: DropFn,
    ) -> Result<NonNull<u8>, AllocError>;

    /// [`RawPool::dealloc`].
    ///
    /// # Safety
    ///
    /// As for [`RawPool::dealloc`], the block made by this pool.
    unsafe fn dealloc(&self, block: NonNull<u8>, layout: Layout);

    /// [`RawPool::dealloc_droppable`].
    ///
    /// # Safety
    ///
    /// As for [`RawPool::dealloc_droppable`], the value made by this pool.
    unsafe fn dealloc_droppable(&self, value: NonNull<u8>, layout: Layout);

    /// [`RawPool::realloc`].
    ///
    /// # Safety
    ///
    /// As for [`RawPool::realloc`], the block made by this pool.
    unsafe fn realloc(
        &self,
        block: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, AllocError>;
}

/// Drops the `T` registered in the block at `block`.
///
/// # Safety
///
/// `block` must start a block made by `RawPool::alloc_droppable` for
/// `Layout::new::<T>()`, holding an initialised `T` that nothing else uses.
unsafe fn drop_registered<T>(block: NonNull<u8>) {
    let offset = RawPool::droppable_offset(Layout::new::<T>());
    // SAFETY: the value sits `offset` bytes in and is ours to drop (caller).
    unsafe { block.add(offset).cast::<T>().drop_in_place() }
}

/// Wraps a block of `pool`.
///
/// # Safety
///
/// `ptr` must be a live, initialised `T` that `pool` allocated, not
/// reachable through any other handle or reference.
#[inline(always)]
unsafe fn handle<'p, B: Backend, T: ?Sized>(pool: &'p B, ptr: NonNull<T>) -> Handle<'p, T> {
    // SAFETY: forwarded; the handle borrows `pool`, so the pool outlives it.
    unsafe { Handle::from_raw(ptr, pool.id()) }
}

/// The layout of `len` `T`s, with the error the crate reports.
#[inline]
pub(crate) fn array_layout<T>(len: usize) -> Result<Layout, AllocError> {
    let elem_size = mem::size_of::<T>();
    let size = len.checked_mul(elem_size).ok_or(AllocError::SizeOverflow {
        number: len,
        elem_size,
    })?;
    Layout::from_size_align(size, mem::align_of::<T>()).map_err(|_| AllocError::LayoutTooLarge {
        size,
        align: mem::align_of::<T>(),
    })
}

#[inline]
pub(crate) fn try_alloc<B: Backend>(
    pool: &B,
    number: usize,
    elem_size: usize,
) -> Result<Handle<'_, [u8]>, AllocError> {
    let size = number
        .checked_mul(elem_size)
        .ok_or(AllocError::SizeOverflow { number, elem_size })?;
    let layout = Layout::from_size_align(size, 16)
        .map_err(|_| AllocError::LayoutTooLarge { size, align: 16 })?;
    let block = pool.alloc_layout(layout, true)?;
    // SAFETY: `size` zeroed bytes (initialised `u8`s) of this pool, new.
    Ok(unsafe { handle(pool, NonNull::slice_from_raw_parts(block, size)) })
}

#[inline]
pub(crate) fn try_alloc_value<B: Backend, T: Send + 'static>(
    pool: &B,
    value: T,
) -> Result<Handle<'_, T>, AllocError> {
    let layout = Layout::new::<T>();
    let slot = if mem::needs_drop::<T>() {
        // SAFETY: `value` — a `Send` `T` that `drop_registered::<T>` drops
        // soundly — is written below, before anything can reset or drop the
        // engine (that needs `&mut` to the pool).
        unsafe { pool.alloc_droppable(layout, drop_registered::<T>)? }
    } else {
        pool.alloc_layout(layout, false)?
    };
    let slot = slot.cast::<T>();
    // SAFETY: `slot` is fresh memory for a `T`, aligned for it.
    unsafe { slot.as_ptr().write(value) };
    // SAFETY: now an initialised `T` of this pool, with no other access.
    Ok(unsafe { handle(pool, slot) })
}

#[inline]
pub(crate) fn try_alloc_copy<B: Backend, T: Copy>(
    pool: &B,
    value: T,
) -> Result<Handle<'_, T>, AllocError> {
    let slot = pool.alloc_layout(Layout::new::<T>(), false)?.cast::<T>();
    // SAFETY: fresh memory for a `T`, aligned for it.
    unsafe { slot.as_ptr().write(value) };
    // SAFETY: an initialised `T` of this pool, with no other access.
    Ok(unsafe { handle(pool, slot) })
}

#[inline]
pub(crate) fn try_alloc_slice_copy<'p, B: Backend, T: Copy>(
    pool: &'p B,
    src: &[T],
) -> Result<Handle<'p, [T]>, AllocError> {
    let block = pool
        .alloc_layout(Layout::for_value(src), false)?
        .cast::<T>();
    // SAFETY: the block has room for `src.len()` `T`s, aligned, and is new,
    // so it cannot overlap `src`.
    unsafe { ptr::copy_nonoverlapping(src.as_ptr(), block.as_ptr(), src.len()) };
    // SAFETY: `src.len()` initialised `T`s of this pool, no other access.
    Ok(unsafe { handle(pool, NonNull::slice_from_raw_parts(block, src.len())) })
}

#[inline]
pub(crate) fn try_alloc_str<'p, B: Backend>(
    pool: &'p B,
    src: &str,
) -> Result<Handle<'p, str>, AllocError> {
    let bytes = try_alloc_slice_copy(pool, src.as_bytes())?;
    let ptr = bytes.into_raw();
    // SAFETY: a copy of `src`, so valid UTF-8; `str` has the layout of `[u8]`.
    Ok(unsafe { handle(pool, NonNull::new_unchecked(ptr.as_ptr() as *mut str)) })
}

#[inline]
pub(crate) fn try_alloc_zeroed<B: Backend, T: Zeroable + Copy>(
    pool: &B,
) -> Result<Handle<'_, T>, AllocError> {
    let block = pool.alloc_layout(Layout::new::<T>(), true)?;
    // SAFETY: zeroed memory for a `T`, and all-zero is a valid `T` (Zeroable).
    Ok(unsafe { handle(pool, block.cast::<T>()) })
}

#[inline]
pub(crate) fn try_alloc_slice_zeroed<B: Backend, T: Zeroable + Copy>(
    pool: &B,
    len: usize,
) -> Result<Handle<'_, [T]>, AllocError> {
    let layout = array_layout::<T>(len)?;
    let block = pool.alloc_layout(layout, true)?.cast::<T>();
    // SAFETY: zeroed memory for `len` `T`s, all-zero being valid (Zeroable).
    Ok(unsafe { handle(pool, NonNull::slice_from_raw_parts(block, len)) })
}

#[inline]
pub(crate) fn owns<B: Backend, T: ?Sized>(pool: &B, handle: &Handle<'_, T>) -> bool {
    handle.pool_id() == pool.id()
}

/// Frees `handle`, or gives it back if `pool` did not make it.
#[inline(always)]
pub(crate) fn try_free<'h, B: Backend, T: ?Sized>(
    pool: &B,
    handle: Handle<'h, T>,
) -> Result<(), Handle<'h, T>> {
    if !owns(pool, &handle) {
        return Err(handle);
    }
    let layout = Layout::for_value::<T>(&handle);
    let ptr = handle.into_raw();
    // The same test `try_alloc_value` used to register the value: for one
    // type it gives one answer, so a handle goes back the way it came.
    if mem::needs_drop::<T>() {
        /// Recycles the block after the destructor, even if it unwinds.
        struct Recycle<'a, B: Backend> {
            pool: &'a B,
            value: NonNull<u8>,
            layout: Layout,
        }
        impl<B: Backend> Drop for Recycle<'_, B> {
            fn drop(&mut self) {
                // SAFETY: only `alloc_value` makes handles whose `T` needs drop,
                // through `alloc_droppable` with this layout; the handle was
                // consumed and its value dropped.
                unsafe { self.pool.dealloc_droppable(self.value, self.layout) };
            }
        }
        let recycle = Recycle {
            pool,
            value: ptr.cast(),
            layout,
        };
        // SAFETY: the handle owned an initialised `T` and is consumed; no
        // engine is borrowed while the destructor runs, so it may even use
        // this pool.
        unsafe { ptr.as_ptr().drop_in_place() };
        drop(recycle);
    } else {
        // SAFETY: this pool made the block with `layout` (checked above; a
        // handle's layout changes only through `realloc`, which keeps it in
        // step) and the consumed handle was its only access.
        unsafe { pool.dealloc(ptr.cast(), layout) };
    }
    Ok(())
}

pub(crate) fn try_realloc<B: Backend, T: Zeroable + Copy>(
    pool: &B,
    handle: &mut Handle<'_, [T]>,
    new_len: usize,
) -> Result<(), AllocError> {
    if !owns(pool, handle) {
        return Err(AllocError::ForeignHandle);
    }
    let old = Layout::for_value::<[T]>(handle);
    let new = array_layout::<T>(new_len)?;
    // The handle's own pointer, not one derived from `&mut [T]`: an in-place
    // growth writes past the old length, where a reference grants no access.
    let block = handle.raw_ptr().cast::<u8>();
    // SAFETY: this pool made the block with `old` (checked above; the
    // handle's length is kept in step with every resize) and the handle,
    // borrowed mutably, is its only access; `new` has the same alignment.
    let moved = unsafe { pool.realloc(block, old, new.size())? };
    // SAFETY: `new_len` `T`s of this pool: the old ones kept, the rest zeroed,
    // which is a valid `T` (Zeroable).
    unsafe { handle.set_ptr(NonNull::slice_from_raw_parts(moved.cast::<T>(), new_len)) };
    Ok(())
}

#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn foreign_handle() -> ! {
    panic!("{}", AllocError::ForeignHandle)
}
