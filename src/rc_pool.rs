//! `RcPool`: a reference-counted pool whose handles keep it alive, for
//! owners that hold their pool and pointers into it side by side (spaCy's
//! `Doc`) without a lifetime parameter — the Rust twin of the Python
//! package's `Allocation`.

use alloc::rc::Rc;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use bytemuck::Zeroable;

use crate::error::unwrap_or_fail;
use crate::{AllocError, Handle, Pool};

/// A [`Pool`] behind an `Rc`: every call of `Pool` works on it (it derefs
/// to one), and [`keep`](Self::keep) turns a handle into an [`RcHandle`],
/// which holds a reference to the pool and so needs no lifetime.
///
/// An owner can then hold its pool and its arrays in one struct, return it
/// from a function and grow its arrays in place, with no `unsafe`:
///
/// ```
/// use arenapool::{RcHandle, RcPool, Zeroable};
///
/// #[derive(Clone, Copy, Zeroable)]
/// struct TokenC { lex: u32, head: i32 }
///
/// struct Doc {
///     mem: RcPool,
///     tokens: RcHandle<[TokenC]>,
///     len: usize,
/// }
///
/// impl Doc {
///     fn new() -> Doc {
///         let mem = RcPool::new();
///         let tokens = mem.keep(mem.alloc_slice_zeroed::<TokenC>(4));
///         Doc { mem, tokens, len: 0 }
///     }
///
///     fn push(&mut self, token: TokenC) {
///         if self.len == self.tokens.len() {
///             // Doubled in place where it can be; the tail comes zeroed.
///             self.mem.realloc(&mut self.tokens, self.len * 2);
///         }
///         self.tokens[self.len] = token;
///         self.len += 1;
///     }
/// }
///
/// fn parse(n: u32) -> Doc {
///     let mut doc = Doc::new();
///     for i in 0..n {
///         doc.push(TokenC { lex: i, head: -1 });
///     }
///     doc // pool and pointers leave the function together
/// }
///
/// let doc = parse(100);
/// assert_eq!((doc.len, doc.tokens[99].lex), (100, 99));
/// assert_eq!(doc.mem.size(), 128 * 8);
/// ```
///
/// `RcPool` is neither `Send` nor `Sync` (an `Rc`, and a [`Pool`] is not
/// `Sync`); its handles neither.
#[derive(Clone, Default)]
pub struct RcPool {
    pool: Rc<Pool>,
}

/// A block of an [`RcPool`] that keeps the pool alive: derefs to its `T`
/// like a [`Handle`], with no lifetime. Dropping it frees nothing (the pool
/// owns the memory); give it to [`RcPool::free`] to recycle the block early.
#[must_use = "a dropped handle keeps its block until the pool goes; give it to `free` to recycle it"]
pub struct RcHandle<T: ?Sized + 'static> {
    /// The pool; the block is one of its engine's.
    pool: Rc<Pool>,
    ptr: NonNull<T>,
    /// The handle's pool identity, as [`Handle`] carries it.
    tag: NonNull<()>,
}

impl RcPool {
    /// An empty pool with no limit (see [`Pool::new`]).
    ///
    /// ```
    /// let mem = arenapool::RcPool::new();
    /// assert_eq!(mem.size(), 0);
    /// ```
    pub fn new() -> Self {
        RcPool::from(Pool::new())
    }

    /// Turns a handle of this pool into an [`RcHandle`], which keeps the
    /// pool alive and has no lifetime. `T: 'static`: the handle outlives any
    /// borrow, so its value must borrow nothing.
    ///
    /// ```
    /// let mem = arenapool::RcPool::new();
    /// let name = mem.keep(mem.alloc_str("Vocab"));
    /// drop(mem);                // the handle keeps the pool alive
    /// assert_eq!(&*name, "Vocab");
    /// ```
    ///
    /// # Panics
    ///
    /// If `handle` was made by another pool.
    #[track_caller]
    pub fn keep<T: ?Sized + 'static>(&self, handle: Handle<'_, T>) -> RcHandle<T> {
        unwrap_or_fail(self.try_keep(handle))
    }

    /// Fallible [`keep`](Self::keep).
    ///
    /// # Errors
    ///
    /// [`AllocError::ForeignHandle`] if `handle` was made by another pool.
    ///
    /// ```
    /// let (a, b) = (arenapool::RcPool::new(), arenapool::RcPool::new());
    /// assert!(b.try_keep(a.alloc(1, 8)).is_err());
    /// ```
    pub fn try_keep<T: ?Sized + 'static>(
        &self,
        handle: Handle<'_, T>,
    ) -> Result<RcHandle<T>, AllocError> {
        if !self.pool.owns(&handle) {
            return Err(AllocError::ForeignHandle);
        }
        let tag = handle.pool_tag();
        Ok(RcHandle {
            pool: self.pool.clone(),
            ptr: handle.into_raw(),
            tag,
        })
    }

    /// The handle back, borrowing the pool (for a call of [`Pool`] that
    /// takes one).
    ///
    /// # Panics
    ///
    /// If `handle` belongs to another pool.
    #[track_caller]
    fn unkeep<T: ?Sized + 'static>(&self, handle: RcHandle<T>) -> Handle<'_, T> {
        if !Rc::ptr_eq(&self.pool, &handle.pool) {
            crate::backend::foreign_handle();
        }
        // `handle` holds a live `T` of this pool (`keep` checked the pool;
        // only `free` and `realloc` change a block, by value or `&mut`).
        // SAFETY: so, consumed here, the new handle is its only access, for
        // a borrow of the pool, which `self` keeps alive.
        unsafe { Handle::from_raw(handle.ptr, handle.pool_id()) }
    }

    /// Frees the block of `handle` ([`Pool::free`]).
    ///
    /// ```
    /// let mem = arenapool::RcPool::new();
    /// let block = mem.keep(mem.alloc(1, 64));
    /// mem.free(block);
    /// assert_eq!(mem.size(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// If `handle` belongs to another pool; as [`Pool::free`].
    #[track_caller]
    pub fn free<T: ?Sized + 'static>(&self, handle: RcHandle<T>) {
        self.pool.free(self.unkeep(handle));
    }

    /// Resizes the slice of `handle` ([`Pool::realloc`]: in place when it
    /// can be, the tail zeroed).
    ///
    /// ```
    /// let mem = arenapool::RcPool::new();
    /// let mut ids = mem.keep(mem.alloc_slice_copy(&[1u32, 2]));
    /// mem.realloc(&mut ids, 3);
    /// assert_eq!(*ids, [1, 2, 0]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `handle` belongs to another pool, or as [`Pool::realloc`].
    #[track_caller]
    pub fn realloc<T: Zeroable + Copy + 'static>(
        &self,
        handle: &mut RcHandle<[T]>,
        new_len: usize,
    ) {
        unwrap_or_fail(self.try_realloc(handle, new_len))
    }

    /// Fallible [`realloc`](Self::realloc); on error the handle is
    /// unchanged.
    ///
    /// # Errors
    ///
    /// [`AllocError::ForeignHandle`] for a handle of another pool, or as
    /// [`Pool::try_realloc`].
    ///
    /// ```
    /// let mem = arenapool::RcPool::from(arenapool::Pool::with_limit(64 * 1024));
    /// let mut ids = mem.keep(mem.alloc_slice_zeroed::<u8>(8));
    /// assert!(mem.try_realloc(&mut ids, 1 << 20).is_err());
    /// assert_eq!(ids.len(), 8);
    /// ```
    pub fn try_realloc<T: Zeroable + Copy + 'static>(
        &self,
        handle: &mut RcHandle<[T]>,
        new_len: usize,
    ) -> Result<(), AllocError> {
        if !Rc::ptr_eq(&self.pool, &handle.pool) {
            return Err(AllocError::ForeignHandle);
        }
        // SAFETY: as in `unkeep`; the handle is borrowed mutably for the
        // call, and takes the (possibly moved) block back below.
        let mut borrowed = unsafe { Handle::from_raw(handle.ptr, handle.pool_id()) };
        let result = self.pool.try_realloc(&mut borrowed, new_len);
        handle.ptr = borrowed.into_raw();
        result
    }

    /// The pool's `reset` ([`Pool::reset`]) if nothing else holds it — no
    /// other `RcPool` clone and no [`RcHandle`] — so that no handle can
    /// dangle; otherwise nothing happens. Returns whether it reset.
    ///
    /// ```
    /// let mut mem = arenapool::RcPool::new();
    /// let kept = mem.keep(mem.alloc(1, 64));
    /// assert!(!mem.reset());    // `kept` still points into it
    /// drop(kept);
    /// assert!(mem.reset() && mem.size() == 0);
    /// ```
    pub fn reset(&mut self) -> bool {
        match Rc::get_mut(&mut self.pool) {
            Some(pool) => {
                pool.reset();
                true
            }
            None => false,
        }
    }
}

impl From<Pool> for RcPool {
    /// Shares `pool` (made with a limit or a capacity, say).
    fn from(pool: Pool) -> Self {
        RcPool {
            pool: Rc::new(pool),
        }
    }
}

impl Deref for RcPool {
    type Target = Pool;

    fn deref(&self) -> &Pool {
        &self.pool
    }
}

impl fmt::Debug for RcPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RcPool").field(&*self.pool).finish()
    }
}

impl<T: ?Sized + 'static> RcHandle<T> {
    /// The pool's identity, as the handle it was made from carried it.
    fn pool_id(&self) -> NonNull<()> {
        self.tag
    }

    /// The pool this handle keeps alive.
    ///
    /// ```
    /// let mem = arenapool::RcPool::new();
    /// let block = mem.keep(mem.alloc(1, 8));
    /// assert_eq!(arenapool::RcHandle::pool(&block).size(), 8);
    /// ```
    pub fn pool(this: &Self) -> &Pool {
        &this.pool
    }
}

impl<T: ?Sized + 'static> Deref for RcHandle<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a live `T` of the pool `self.pool` keeps alive, reachable
        // only through this handle (`keep` consumed the `Handle`); shared for
        // the borrow of `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized + 'static> DerefMut for RcHandle<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, exclusive for the borrow of `self`.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: ?Sized + fmt::Debug + 'static> fmt::Debug for RcHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
