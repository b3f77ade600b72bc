//! `Handle`: a pointer into a pool that cannot outlive it.

use core::borrow::{Borrow, BorrowMut};
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

/// Exclusive access to one allocation of a pool, for as long as the pool is
/// borrowed (`'p`).
///
/// A handle derefs to its `T`. It borrows the pool that made it, so it
/// cannot outlive that pool, nor survive [`Pool::reset`](crate::Pool::reset):
/// both are compile errors. Dropping a handle frees nothing — the pool owns
/// the memory, as cymem's pool owns its pointers; give the handle to
/// [`Pool::free`](crate::Pool::free) to recycle the memory early, which
/// consumes it, so a double free does not compile either.
///
/// A handle is not `Clone` or `Copy`. It is `Send`/`Sync` exactly when
/// `&mut T` is, so it can be handed to a scoped thread while its pool stays
/// with the owner.
///
/// ```
/// use arenapool::Pool;
///
/// let pool = Pool::new();
/// let mut tokens = pool.alloc_slice_zeroed::<u32>(4);
/// tokens[1] = 7;
/// assert_eq!(*tokens, [0, 7, 0, 0]);
/// pool.free(tokens);
/// ```
#[must_use = "a dropped handle keeps its block until the pool goes; give it to `free` to recycle it"]
pub struct Handle<'p, T: ?Sized> {
    ptr: NonNull<T>,
    /// The engine that made the block, only compared, never dereferenced;
    /// bit 0 set for a block of a typed call, clear for a block of the byte
    /// API (`alloc(number, elem_size)`), which is 16-aligned whatever its
    /// length: the engine frees and resizes that one with alignment 16 (see
    /// [`min_align`](Self::min_align)). (The byte API's handles carry the
    /// plain address, so its fast path spends nothing on the mark.)
    pool: NonNull<()>,
    /// Borrows the pool for `'p` and owns a `T` in it like `&'p mut T`.
    _marker: PhantomData<&'p mut T>,
}

// SAFETY: a handle is exclusive access to a `T` (like `&mut T`); the pool
// pointer in it is only compared, so sending the handle shares nothing else.
unsafe impl<T: ?Sized + Send> Send for Handle<'_, T> {}
// SAFETY: `&Handle` gives only `&T` (as `&&mut T` does).
unsafe impl<T: ?Sized + Sync> Sync for Handle<'_, T> {}

/// The bit of [`Handle`]'s pool identity that marks a block of a typed
/// call (clear: a byte block).
const TYPED: usize = 1;

impl<'p, T: ?Sized> Handle<'p, T> {
    /// Wraps a block of `pool` (an identity from [`Backend::id`], or a
    /// handle's [`pool_tag`](Self::pool_tag)).
    ///
    /// [`Backend::id`]: crate::backend::Backend::id
    ///
    /// # Safety
    ///
    /// `ptr` must be a live, initialised `T` allocated by the engine at
    /// `pool`, which stays alive and unreset for `'p`, and to which no other
    /// handle or reference exists.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(ptr: NonNull<T>, pool: NonNull<()>) -> Self {
        Handle {
            ptr,
            pool,
            _marker: PhantomData,
        }
    }

    /// The identity of the engine that made this handle.
    #[inline(always)]
    pub(crate) fn pool_id(&self) -> NonNull<()> {
        self.pool.map_addr(|addr| {
            // SAFETY: an engine's address (at least 8-aligned, non-zero)
            // with bit 0 perhaps set: clearing that bit leaves it non-zero.
            unsafe { core::num::NonZeroUsize::new_unchecked(addr.get() & !TYPED) }
        })
    }

    /// The identity with the typed-call bit, to make a handle of the same
    /// kind from (see [`from_raw`](Self::from_raw)).
    #[inline(always)]
    pub(crate) fn pool_tag(&self) -> NonNull<()> {
        self.pool
    }

    /// The alignment the block was allocated with at least: 16 for a block
    /// of the byte API, else 0 (`T`'s own alignment says it).
    #[inline(always)]
    pub(crate) fn min_align(&self) -> usize {
        (!self.pool.addr().get() & TYPED) << 4
    }

    /// Marks the handle as made by a typed call.
    #[inline(always)]
    pub(crate) fn into_typed(mut self) -> Self {
        self.pool = self.pool.map_addr(|addr| addr | TYPED);
        self
    }

    /// The pointer the engine handed out (with its provenance: the whole
    /// block, not just the value's current extent).
    #[inline(always)]
    pub(crate) fn raw_ptr(&self) -> NonNull<T> {
        self.ptr
    }

    /// The raw pointer, giving up the handle (the block stays allocated).
    #[inline(always)]
    pub(crate) fn into_raw(self) -> NonNull<T> {
        self.ptr
    }

    /// Points the handle at a resized block.
    ///
    /// # Safety
    ///
    /// As for [`from_raw`](Self::from_raw), for the same pool.
    #[inline(always)]
    pub(crate) unsafe fn set_ptr(&mut self, ptr: NonNull<T>) {
        self.ptr = ptr;
    }

    /// A raw pointer to the value, for FFI (C, Cython, ctypes). It stays
    /// valid until the handle is freed or reallocated, or the pool resets
    /// or drops.
    ///
    /// An associated function, so that it does not shadow a method of `T`.
    ///
    /// ```
    /// use arenapool::{Handle, Pool};
    ///
    /// let pool = Pool::new();
    /// let block = pool.alloc(4, 8);
    /// assert_eq!(Handle::as_ptr(&block).cast::<u8>() as usize % 16, 0);
    /// ```
    #[inline]
    pub fn as_ptr(this: &Self) -> *const T {
        this.ptr.as_ptr()
    }

    /// A mutable raw pointer to the value; see [`as_ptr`](Self::as_ptr).
    ///
    /// ```
    /// use arenapool::{Handle, Pool};
    ///
    /// let pool = Pool::new();
    /// let mut n = pool.alloc_copy(1u64);
    /// // SAFETY: the pointer is valid and no reference to the value is live.
    /// unsafe { *Handle::as_mut_ptr(&mut n) += 1 };
    /// assert_eq!(*n, 2);
    /// ```
    #[inline]
    pub fn as_mut_ptr(this: &mut Self) -> *mut T {
        this.ptr.as_ptr()
    }

    /// Gives up the handle for a plain reference that lives as long as the
    /// pool's borrow. The value stays in the pool (its destructor, if any,
    /// runs when the pool resets or drops); it can no longer be freed early.
    ///
    /// ```
    /// use arenapool::Pool;
    ///
    /// let pool = Pool::new();
    /// let name: &mut str = pool.alloc_str("token").into_mut();
    /// name.make_ascii_uppercase();
    /// assert_eq!(name, "TOKEN");
    /// ```
    #[inline]
    pub fn into_mut(self) -> &'p mut T {
        // SAFETY: the handle was the only access to a live `T` (`from_raw`),
        // which stays allocated while the pool is borrowed for `'p`; the
        // handle is consumed, so the reference is exclusive.
        unsafe { &mut *self.ptr.as_ptr() }
    }
}

impl<T: ?Sized> Deref for Handle<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: a live, initialised `T` to which the handle is the only
        // access (`from_raw`); shared for the borrow of `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for Handle<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, exclusive for the borrow of `self`.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Handle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized> AsRef<T> for Handle<'_, T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized> AsMut<T> for Handle<'_, T> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}

impl<T: ?Sized> Borrow<T> for Handle<'_, T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: ?Sized> BorrowMut<T> for Handle<'_, T> {
    fn borrow_mut(&mut self) -> &mut T {
        self
    }
}

/// Shows the value, as `Box` does.
///
/// ```
/// let pool = arenapool::Pool::new();
/// assert_eq!(pool.alloc_str("Doc").to_string(), "Doc");
/// ```
impl<T: ?Sized + fmt::Display> fmt::Display for Handle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Compares the values, as `Box` does (also across pools).
///
/// ```
/// let pool = arenapool::Pool::new();
/// assert_eq!(pool.alloc_str("a"), pool.alloc_str("a"));
/// ```
impl<T: ?Sized + PartialEq<U>, U: ?Sized> PartialEq<Handle<'_, U>> for Handle<'_, T> {
    fn eq(&self, other: &Handle<'_, U>) -> bool {
        **self == **other
    }
}

/// Compares the value with a reference, so that `assert_eq!(h, "abc")`
/// and `h == &[1, 2][..]` work.
///
/// ```
/// let pool = arenapool::Pool::new();
/// assert_eq!(pool.alloc_str("abc"), "abc");
/// assert!(pool.alloc_copy(5u8) == &5);
/// ```
impl<T: ?Sized + PartialEq<U>, U: ?Sized> PartialEq<&U> for Handle<'_, T> {
    fn eq(&self, other: &&U) -> bool {
        **self == **other
    }
}

impl<T: ?Sized + Eq> Eq for Handle<'_, T> {}

/// Orders by value.
///
/// ```
/// let pool = arenapool::Pool::new();
/// assert!(pool.alloc_str("a") < pool.alloc_str("b"));
/// ```
impl<T: ?Sized + PartialOrd<U>, U: ?Sized> PartialOrd<Handle<'_, U>> for Handle<'_, T> {
    fn partial_cmp(&self, other: &Handle<'_, U>) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: ?Sized + Ord> Ord for Handle<'_, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

/// Hashes the value, as `Box` does, so a handle and its value hash alike
/// (with `Borrow`, a `HashSet<Handle<str>>` is searched with a `&str`).
///
/// ```
/// use std::collections::HashSet;
/// let pool = arenapool::Pool::new();
/// let words: HashSet<_> = ["a", "b"].into_iter().map(|w| pool.alloc_str(w)).collect();
/// assert!(words.contains("b"));
/// ```
impl<T: ?Sized + Hash> Hash for Handle<'_, T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}
