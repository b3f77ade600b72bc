//! The typed, lifetime-checked operations shared by [`Pool`](crate::Pool)
//! and [`SyncPool`](crate::SyncPool), written once over the engine calls each
//! pool routes to its engine(s).

use core::alloc::Layout;
use core::fmt;
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

    /// Bytes the pool holds from the system allocator.
    fn reserved_bytes(&self) -> usize;

    /// [`RawPool::alloc_fast`]: the small-block fast path alone, or `None`
    /// (then [`alloc_layout`](Self::alloc_layout) does the rest).
    #[inline(always)]
    fn alloc_fast(&self, layout: Layout, zeroed: bool) -> Option<NonNull<u8>> {
        let _ = (layout, zeroed);
        None
    }

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
    unsafe { Handle::from_raw(ptr, pool.id()) }.into_typed()
}

/// Wraps a block of the byte API (allocated with alignment 16).
///
/// # Safety
///
/// As for [`handle`], for `size` bytes `pool` allocated with alignment 16.
#[inline(always)]
unsafe fn byte_handle<B: Backend>(pool: &B, ptr: NonNull<[u8]>) -> Handle<'_, [u8]> {
    // SAFETY: forwarded; the plain identity marks a byte block.
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

/// The byte call's fast path: a small block from the engine's fast path,
/// or `None` (nothing changed).
#[inline(always)]
fn alloc_bytes_fast<B: Backend>(
    pool: &B,
    number: usize,
    elem_size: usize,
) -> Option<Handle<'_, [u8]>> {
    let size = number.checked_mul(elem_size)?;
    // The engine's fast path takes small sizes only: tested first, it also
    // lets the compiler drop `from_size_align`'s own overflow test.
    if size.wrapping_sub(1) >= crate::raw::SMALL_MAX {
        return None;
    }
    let layout = Layout::from_size_align(size, 16).ok()?;
    let block = pool.alloc_fast(layout, true)?;
    // SAFETY: `size` zeroed bytes (initialised `u8`s) of this pool, new.
    Some(unsafe { byte_handle(pool, NonNull::slice_from_raw_parts(block, size)) })
}

/// `Pool::alloc`: the fast path inline, everything else out of line, in
/// tail position (so the fast path saves no registers for it).
#[inline(always)]
#[track_caller]
pub(crate) fn alloc<B: Backend>(pool: &B, number: usize, elem_size: usize) -> Handle<'_, [u8]> {
    match alloc_bytes_fast(pool, number, elem_size) {
        Some(block) => block,
        None => alloc_slow(pool, number, elem_size),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn alloc_slow<B: Backend>(pool: &B, number: usize, elem_size: usize) -> Handle<'_, [u8]> {
    crate::error::unwrap_or_fail(try_alloc_slow(pool, number, elem_size))
}

/// `Pool::try_alloc`: as [`alloc`].
#[inline(always)]
pub(crate) fn try_alloc<B: Backend>(
    pool: &B,
    number: usize,
    elem_size: usize,
) -> Result<Handle<'_, [u8]>, AllocError> {
    match alloc_bytes_fast(pool, number, elem_size) {
        Some(block) => Ok(block),
        None => try_alloc_slow(pool, number, elem_size),
    }
}

#[cold]
#[inline(never)]
fn try_alloc_slow<B: Backend>(
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
    Ok(unsafe { byte_handle(pool, NonNull::slice_from_raw_parts(block, size)) })
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

#[inline(always)]
pub(crate) fn try_alloc_with<B: Backend, T: Send + 'static>(
    pool: &B,
    f: impl FnOnce() -> T,
) -> Result<Handle<'_, T>, AllocError> {
    if mem::needs_drop::<T>() {
        // Made before it is registered: a panic in `f` must not leave a
        // registered slot without a value for the pool to drop.
        return try_alloc_value(pool, f());
    }
    let slot = pool.alloc_layout(Layout::new::<T>(), false)?.cast::<T>();
    // SAFETY: fresh memory for a `T`, aligned for it; no engine is borrowed
    // while `f` runs, and if it panics the block stays allocated, unused.
    unsafe { slot.as_ptr().write(f()) };
    // SAFETY: an initialised `T` of this pool, no other access.
    Ok(unsafe { handle(pool, slot) })
}

#[inline(always)]
// The pool hands out fresh memory through `&self`, as bumpalo's `alloc`.
#[allow(clippy::mut_from_ref)]
pub(crate) fn try_alloc_nodrop_with<B: Backend, T>(
    pool: &B,
    f: impl FnOnce() -> T,
) -> Result<&mut T, AllocError> {
    let slot = pool.alloc_layout(Layout::new::<T>(), false)?.cast::<T>();
    // SAFETY: as in `try_alloc_with`.
    unsafe { slot.as_ptr().write(f()) };
    // An initialised `T` of this pool, reachable only through the reference,
    // which borrows the pool: the pool frees the memory (never dropping the
    // value) only when it resets or drops, which the borrow rules out.
    // SAFETY: so the reference is valid and exclusive for its lifetime.
    Ok(unsafe { &mut *slot.as_ptr() })
}

#[inline]
pub(crate) fn try_alloc_slice_fill_with<B: Backend, T>(
    pool: &B,
    len: usize,
    mut f: impl FnMut(usize) -> T,
) -> Result<Handle<'_, [T]>, AllocError> {
    const { assert!(!mem::needs_drop::<T>(), "{}", NEEDS_DROP) };
    let block = pool
        .alloc_layout(array_layout::<T>(len)?, false)?
        .cast::<T>();
    for i in 0..len {
        // SAFETY: element `i` of the new block, which has room for `len`;
        // no engine is borrowed while `f` runs, and if it panics the block
        // stays allocated, unused (`T` has no drop glue to leak).
        unsafe { block.as_ptr().add(i).write(f(i)) };
    }
    // SAFETY: `len` initialised `T`s of this pool, no other access.
    Ok(unsafe { handle(pool, NonNull::slice_from_raw_parts(block, len)) })
}

/// Why the slice calls take only types without drop glue.
const NEEDS_DROP: &str = "arenapool: the slice calls take types without drop glue (the pool \
runs destructors of single values only): put a Vec<T> in the pool with alloc_value instead";

#[inline]
pub(crate) fn try_alloc_slice_fill_iter<B: Backend, T, I>(
    pool: &B,
    iter: I,
) -> Result<Handle<'_, [T]>, AllocError>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: ExactSizeIterator,
{
    let mut iter = iter.into_iter();
    try_alloc_slice_fill_with(pool, iter.len(), |_| {
        iter.next().unwrap_or_else(|| {
            panic!("arenapool: an ExactSizeIterator yielded fewer items than its len()")
        })
    })
}

#[inline]
pub(crate) fn try_alloc_slice_clone<'p, B: Backend, T: Clone>(
    pool: &'p B,
    src: &[T],
) -> Result<Handle<'p, [T]>, AllocError> {
    try_alloc_slice_fill_with(pool, src.len(), |i| src[i].clone())
}

pub(crate) fn try_alloc_fmt<'p, B: Backend>(
    pool: &'p B,
    args: fmt::Arguments<'_>,
) -> Result<Handle<'p, str>, AllocError> {
    if let Some(text) = args.as_str() {
        return try_alloc_str(pool, text);
    }
    /// Formats into a byte block of the pool, grown by `realloc` (in place:
    /// it is the newest block while the formatting runs, unless the
    /// arguments allocate from the pool themselves).
    struct Writer<'p, B: Backend> {
        pool: &'p B,
        buf: Handle<'p, [u8]>,
        len: usize,
        error: Option<AllocError>,
    }
    impl<B: Backend> fmt::Write for Writer<'_, B> {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
            if end > self.buf.len() {
                let grown = end.max(self.buf.len().saturating_mul(2)).max(64);
                if let Err(err) = try_realloc(self.pool, &mut self.buf, grown) {
                    self.error = Some(err);
                    return Err(fmt::Error);
                }
            }
            self.buf[self.len..end].copy_from_slice(text.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    let mut writer = Writer {
        pool,
        // Not a byte block: the bytes become a `str`, freed as one.
        buf: try_alloc_slice_zeroed::<B, u8>(pool, 0)?,
        len: 0,
        error: None,
    };
    let written = fmt::write(&mut writer, args);
    let Writer {
        mut buf,
        len,
        error,
        ..
    } = writer;
    if let Err(fmt::Error) = written {
        let _ = try_free(pool, buf);
        match error {
            Some(err) => return Err(err),
            None => panic!("arenapool: a formatting trait implementation returned an error"),
        }
    }
    // Shrinking the newest block is in place and cannot fail.
    try_realloc(pool, &mut buf, len)?;
    let bytes = buf.into_raw();
    // SAFETY: the bytes `fmt::write` wrote, from `&str`s: valid UTF-8; `str`
    // has the layout of `[u8]`; a block of this pool with no other access.
    Ok(unsafe { handle(pool, NonNull::new_unchecked(bytes.as_ptr() as *mut str)) })
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

/// The layout `handle`'s block was allocated with (or last resized to):
/// its value's, with alignment 16 for a byte block. The alignment picks the
/// size class, so a block is freed and resized with the one it was made with.
#[inline(always)]
fn made_with<T: ?Sized>(handle: &Handle<'_, T>) -> Layout {
    let value = Layout::for_value::<T>(handle);
    // Only a `[u8]` (or `str`) handle can be a byte block: for any other
    // `T` the value's alignment says it, and the test folds away.
    let align = if value.align() == 1 {
        handle.min_align().max(1)
    } else {
        value.align()
    };
    // SAFETY: the block was allocated with this size and alignment (a byte
    // block with 16, other handles with their value's), which made a valid
    // layout then.
    unsafe { Layout::from_size_align_unchecked(value.size(), align) }
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
    let layout = made_with(&handle);
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
    let old = made_with(handle);
    let elem_size = mem::size_of::<T>();
    let size = new_len
        .checked_mul(elem_size)
        .ok_or(AllocError::SizeOverflow {
            number: new_len,
            elem_size,
        })?;
    let new =
        Layout::from_size_align(size, old.align()).map_err(|_| AllocError::LayoutTooLarge {
            size,
            align: old.align(),
        })?;
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
