//! Listed blocks: an engine and the [`Registry`] of the blocks it handed
//! out by bare pointer, operated together.
//!
//! Callers that give back bare pointers — the C-level API (`crate::capi`,
//! one engine and registry per lane) and the cymem-compatible pools
//! (`crate::cymem_abi`, one per pool, under the GIL) — make, resize and
//! free their blocks here, so that the rules live in one place:
//!
//! - every block is zeroed, 16-byte aligned and listed with the size asked
//!   for; a zero-size request is a 1-byte engine block listed with size 0,
//!   so that it has an address of its own;
//! - the registry's room is made sure of before a block is made or moved,
//!   so that listing it can neither fail nor allocate;
//! - on an error, nothing changed.
//!
//! Looking an address up ([`Registry::get`]) before calling [`realloc`] or
//! [`free`] is the caller's part: it is what lets a foreign pointer be
//! refused without being read.

use std::alloc::Layout;
use std::ptr::{self, NonNull};

use arenapool::raw::{RawPool, SMALL_MAX};
use arenapool::AllocError;

use crate::accounting::Tracked;
use crate::registry::Registry;

/// The alignment of every listed block, as `malloc` promises.
pub const ALIGN: usize = 16;

/// The engine layout of a block of `nbytes`: a zero-size one takes one
/// byte, so that it has an address of its own (see `crate::registry`).
pub fn layout_of(nbytes: usize) -> Result<Layout, AllocError> {
    Layout::from_size_align(nbytes.max(1), ALIGN).map_err(|_| AllocError::LayoutTooLarge {
        size: nbytes,
        align: ALIGN,
    })
}

/// The engine layout of a listed block of `nbytes` (a size that
/// [`layout_of`] accepted when the block was made).
fn listed_layout(nbytes: usize) -> Layout {
    // SAFETY: `layout_of` accepted this size (a listed block's) before.
    unsafe { Layout::from_size_align_unchecked(nbytes.max(1), ALIGN) }
}

/// `nbytes` zeroed bytes, 16-byte aligned, listed in `blocks`: by
/// [`alloc_fast`] if it can, else out of line.
#[inline(always)]
pub fn alloc(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    nbytes: usize,
) -> Result<NonNull<u8>, AllocError> {
    match alloc_fast(tracked, blocks, nbytes) {
        Some(block) => Ok(block),
        None => alloc_slow(tracked, blocks, nbytes),
    }
}

/// [`alloc`]'s fast path, which calls nothing: a small block from the
/// engine's own fast path (which never changes the reserve, so there is
/// nothing to report), listed where the registry has room already. `None`,
/// with nothing changed, when either needs more: the caller then calls
/// [`alloc`].
#[inline(always)]
pub fn alloc_fast(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    nbytes: usize,
) -> Option<NonNull<u8>> {
    let layout = layout_of(nbytes).ok()?;
    let block = tracked.steady(|raw| raw.alloc_fast(layout, true))?;
    if blocks.insert_fast(block.as_ptr().addr(), nbytes) {
        return Some(block);
    }
    // The registry needs room made: the block goes back to the engine (to
    // its free list, or the span if it is the newest), and the long way
    // makes one anew.
    // SAFETY: just made by this engine with `layout`, unused, not listed.
    let freed = tracked.steady(|raw| unsafe { raw.dealloc_fast(block, layout) });
    debug_assert!(freed, "alloc_fast made a block dealloc_fast refuses");
    None
}

/// [`alloc`] past its fast path.
#[cold]
#[inline(never)]
fn alloc_slow(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    nbytes: usize,
) -> Result<NonNull<u8>, AllocError> {
    let layout = layout_of(nbytes)?;
    let block = tracked.with(|raw| raw.alloc(layout))?;
    list_made(tracked, blocks, block, layout, nbytes)
}

/// Lists `block`, just made with `layout` for `nbytes` and not listed yet,
/// making the registry's room first; on an error the block is freed and
/// nothing changed.
fn list_made(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    block: NonNull<u8>,
    layout: Layout,
    nbytes: usize,
) -> Result<NonNull<u8>, AllocError> {
    tracked.with(|raw| {
        if let Err(err) = blocks.prepare(raw, block.as_ptr().addr(), nbytes) {
            // SAFETY: just made by this engine with `layout`, unused.
            unsafe { raw.dealloc(block, layout) };
            return Err(err);
        }
        Ok(())
    })?;
    blocks.insert(block.as_ptr().addr(), nbytes);
    Ok(block)
}

/// Resizes a listed block of `old_nbytes` to `new_nbytes`: contents kept,
/// new tail zeroed, in place when the engine can. On an error the block is
/// as it was.
///
/// # Safety
///
/// `blocks.get(block.addr())` just gave `Some(old_nbytes)`, and `blocks`
/// lists the blocks of `tracked`'s engine.
pub unsafe fn realloc(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    block: NonNull<u8>,
    old_nbytes: usize,
    new_nbytes: usize,
) -> Result<NonNull<u8>, AllocError> {
    let new = layout_of(new_nbytes)?;
    let address = block.as_ptr().addr();
    let old = listed_layout(old_nbytes);
    // The address is listed, so it is a live block of this engine (made
    // here) with layout `old` (caller): an entry goes when its block is
    // freed or moved, and the registry is emptied only with the engine.
    let block = RawPool::rederive(block);
    let moved = tracked.with(|raw| -> Result<NonNull<u8>, AllocError> {
        if let Ok(made_spare) = blocks.prepare_anywhere(raw, new_nbytes) {
            // SAFETY: `block` as argued above; on success only `moved` is
            // used.
            let moved = match unsafe { raw.realloc(block, old, new.size()) } {
                Ok(moved) => moved,
                Err(err) => {
                    if made_spare {
                        blocks.drop_spare(raw); // nothing changed
                    }
                    return Err(err);
                }
            };
            blocks.relist(raw, address, old_nbytes, moved.as_ptr().addr(), new_nbytes);
            return Ok(moved);
        }
        // No room for a spare leaf (the limit, near). A resize within the
        // block's size class stays where it is: its leaf is there.
        if RawPool::resizes_in_place(old, new.size()) {
            // SAFETY: `block` as argued above; it does not move.
            let kept = unsafe { raw.realloc(block, old, new.size()) }?;
            blocks.relist(raw, address, old_nbytes, kept.as_ptr().addr(), new_nbytes);
            return Ok(kept);
        }
        // Otherwise move to a block whose listing is made sure of first, so
        // that nothing can fail once the old block is gone. (Growth in place
        // of the newest or a large block, which would need no leaf, is given
        // up in this corner.)
        let moved = raw.alloc(new)?;
        if let Err(err) = blocks.prepare(raw, moved.as_ptr().addr(), new_nbytes) {
            // SAFETY: just made by this engine with `new`, unused.
            unsafe { raw.dealloc(moved, new) };
            return Err(err);
        }
        // SAFETY: two live, distinct blocks of this engine, the bytes copied
        // within both layouts, the new one zeroed (so its tail); the old one
        // freed once with its layout, and unlisted below.
        unsafe {
            ptr::copy_nonoverlapping(block.as_ptr(), moved.as_ptr(), old_nbytes.min(new_nbytes));
            raw.dealloc(block, old);
        }
        blocks.relist(raw, address, old_nbytes, moved.as_ptr().addr(), new_nbytes);
        Ok(moved)
    })?;
    if old_nbytes == 0 && new_nbytes > 0 {
        // A zero-size block's hidden byte is kept by the engine; the caller's
        // new bytes must all be zero.
        // SAFETY: `moved` has `new.size()` >= 1 writable bytes.
        unsafe { moved.as_ptr().write(0) };
    }
    Ok(moved)
}

/// Unlists and frees a listed block of `nbytes`.
///
/// # Safety
///
/// As for [`realloc`]: `blocks.get(block.addr())` just gave `Some(nbytes)`.
#[inline]
pub unsafe fn free(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    block: NonNull<u8>,
    nbytes: usize,
) {
    let address = block.as_ptr().addr();
    tracked.with(|raw| {
        blocks.remove(raw, address, nbytes);
        // SAFETY: the address was listed (caller): a live block of this
        // engine with this layout, now unlisted, so freed once.
        unsafe { raw.dealloc(RawPool::rederive(block), listed_layout(nbytes)) };
    });
}

/// Frees `block` if it is listed, small, and the lookup is quick
/// ([`Registry::take_fast`]), giving its size; calls nothing. `None`, with
/// nothing changed, otherwise, and the caller looks it up the long way
/// ([`Registry::get`], then [`free`]). A pointer not listed is never read.
///
/// # Safety
///
/// `blocks` lists the blocks of `tracked`'s engine (as every lane's and
/// cymem-compatible pool's pair does).
#[inline(always)]
pub unsafe fn free_fast(
    tracked: &mut Tracked,
    blocks: &mut Registry,
    block: NonNull<u8>,
) -> Option<usize> {
    let nbytes = blocks.take_fast(block.as_ptr().addr(), SMALL_MAX)?;
    let layout = listed_layout(nbytes);
    // The address was listed (just unlisted): a live block of this engine
    // (caller) with this layout, so freed once, here; a small one, which
    // `dealloc_fast` frees.
    let block = RawPool::rederive(block);
    // SAFETY: as argued above.
    let freed = tracked.steady(|raw| unsafe { raw.dealloc_fast(block, layout) });
    debug_assert!(freed, "a small listed block that dealloc_fast refused");
    Some(nbytes)
}
