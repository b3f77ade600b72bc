//! The typed calls of [`Pool`](crate::Pool) and [`SyncPool`](crate::SyncPool),
//! written once: [`typed_calls!`] expands to the same methods, docs and
//! examples inside each pool's `impl`, over the shared bodies in
//! `crate::backend`, so that the two surfaces cannot drift.

/// The values whose destructor a pool runs — when they are freed, or the
/// pool resets or drops: the bound of [`Pool::alloc_value`](crate::Pool::alloc_value)
/// and [`alloc_with`](crate::Pool::alloc_with) (and of `SyncPool`'s).
///
/// `Send` because the pool, and so the destructor, may move to another
/// thread (a `SyncPool` drops a value on whichever thread frees it);
/// `'static` because a destructor the pool runs must not see borrowed data,
/// which may be gone by then. Values that are neither — `Cell`-linked graph
/// nodes, data borrowing from the pool — go in with
/// [`alloc_nodrop`](crate::Pool::alloc_nodrop), whose destructor never runs
/// (bumpalo's `alloc`), or [`alloc_copy`](crate::Pool::alloc_copy).
///
/// Every `Send + 'static` type has it; it exists so that the compiler's
/// error for any other says why.
///
/// ```compile_fail
/// let pool = arenapool::Pool::new();
/// let _ = pool.alloc_value(std::rc::Rc::new(1)); // error: not `Send`
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a value whose destructor the pool runs: it is not `Send`",
    label = "the pool drops this value when it is freed or the pool goes, maybe on another thread",
    note = "for a value the pool never drops (bumpalo's `alloc`), use `alloc_nodrop`"
)]
pub trait DroppedByPool: Send + 'static {}

impl<T: Send + 'static> DroppedByPool for T {}

/// The methods every pool has, for `$Pool` (which implements
/// `crate::backend::Backend`). Each example is compiled for both pools.
macro_rules! typed_calls {
    ($Pool:ident) => {
        // --- bytes (cymem's call) ------------------------------------------

        /// Allocates `number * elem_size` zeroed bytes aligned to 16 — cymem's
        /// `Pool.alloc(number, elem_size)`. A zero-size request is valid and
        /// reserves nothing.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let block = pool.alloc(10, 8);
        /// assert_eq!((block.len(), block.as_ptr() as usize % 16), (80, 0));
        /// ```
        ///
        /// # Panics
        ///
        /// If `number * elem_size` overflows or exceeds `isize::MAX`, or the
        /// pool's limit would be exceeded; see [`try_alloc`](Self::try_alloc).
        #[inline]
        #[track_caller]
        pub fn alloc(&self, number: usize, elem_size: usize) -> Handle<'_, [u8]> {
            backend::alloc(self, number, elem_size)
        }

        /// Fallible [`alloc`](Self::alloc).
        ///
        /// # Errors
        ///
        /// [`AllocError::SizeOverflow`] when `number * elem_size` overflows —
        /// never a short block — [`AllocError::LayoutTooLarge`],
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        /// use arenapool::AllocError;
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert!(matches!(pool.try_alloc(1 << 62, 8), Err(AllocError::SizeOverflow { .. })));
        /// ```
        #[inline]
        pub fn try_alloc(
            &self,
            number: usize,
            elem_size: usize,
        ) -> Result<Handle<'_, [u8]>, AllocError> {
            backend::try_alloc(self, number, elem_size)
        }

        // --- values whose destructors the pool runs --------------------------

        /// Moves `value` into the pool. Its destructor runs exactly once: when
        /// the handle is given to [`free`](Self::free), or when the pool resets
        /// or drops.
        ///
        /// `T` is [`DroppedByPool`](crate::DroppedByPool): `Send + 'static`,
        /// which a destructor the pool runs needs. For values that are
        /// neither — `Cell`-linked graph nodes, data that borrows from the
        /// pool — use [`alloc_nodrop`](Self::alloc_nodrop), or
        /// [`alloc_copy`](Self::alloc_copy) for `Copy` data.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let names = pool.alloc_value(vec![String::from("Doc")]);
        /// assert_eq!(names[0], "Doc"); // the Vec and its String drop with the pool
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_value<T: DroppedByPool>(&self, value: T) -> Handle<'_, T> {
            unwrap_or_fail(self.try_alloc_value(value))
        }

        /// Fallible [`alloc_value`](Self::alloc_value); on error `value` is
        /// dropped.
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(0);")]
        /// assert!(pool.try_alloc_value(String::from("x")).is_err());
        /// ```
        #[inline]
        pub fn try_alloc_value<T: DroppedByPool>(
            &self,
            value: T,
        ) -> Result<Handle<'_, T>, AllocError> {
            backend::try_alloc_value(self, value)
        }

        /// Allocates the value `f` returns, built in the pool's memory where
        /// the compiler can (bumpalo's `alloc_with`): a large value need not
        /// pass through the stack. A value with drop glue is made first and
        /// then moved in, so that a panic in `f` leaves nothing for the pool
        /// to drop. Destructors as for [`alloc_value`](Self::alloc_value).
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let table = pool.alloc_with(|| [0u64; 4096]);
        /// assert_eq!(table.len(), 4096);
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded (then `f` is not called), or
        /// if `f` panics.
        #[inline(always)]
        #[track_caller]
        pub fn alloc_with<T: DroppedByPool>(&self, f: impl FnOnce() -> T) -> Handle<'_, T> {
            unwrap_or_fail(self.try_alloc_with(f))
        }

        /// Fallible [`alloc_with`](Self::alloc_with).
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`];
        /// `f` is then not called (for a type without drop glue) or its value
        /// dropped.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(0);")]
        /// assert!(pool.try_alloc_with(|| [1u8; 64]).is_err());
        /// ```
        #[inline(always)]
        pub fn try_alloc_with<T: DroppedByPool>(
            &self,
            f: impl FnOnce() -> T,
        ) -> Result<Handle<'_, T>, AllocError> {
            backend::try_alloc_with(self, f)
        }

        // --- values the pool never drops (bumpalo's `alloc`) -----------------

        /// Moves `value` into the pool and returns a plain reference to it,
        /// for as long as the pool is borrowed. Any `T` goes — neither `Send`
        /// nor `'static` is needed — because its destructor **never runs**:
        /// the memory is reclaimed with the pool, as bumpalo's `alloc` does.
        /// It cannot be freed early (there is no handle).
        ///
        /// This is the call for graphs whose nodes point at each other:
        ///
        /// ```
        /// use std::cell::Cell;
        ///
        /// struct Node<'a> {
        ///     name: &'a str,
        ///     parent: Cell<Option<&'a Node<'a>>>,
        /// }
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let root: &Node = pool.alloc_nodrop(Node { name: "root", parent: Cell::new(None) });
        /// let leaf: &Node = pool.alloc_nodrop(Node { name: "leaf", parent: Cell::new(None) });
        /// leaf.parent.set(Some(root));
        /// assert_eq!(leaf.parent.get().unwrap().name, "root");
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded.
        #[inline(always)]
        #[track_caller]
        #[allow(clippy::mut_from_ref)]
        #[must_use = "the value stays in the pool, never dropped, until the pool goes"]
        pub fn alloc_nodrop<T>(&self, value: T) -> &mut T {
            unwrap_or_fail(backend::try_alloc_nodrop_with(self, || value))
        }

        /// [`alloc_nodrop`](Self::alloc_nodrop) of the value `f` returns,
        /// built in place where the compiler can.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let counts = pool.alloc_nodrop_with(|| [0u32; 1024]);
        /// counts[3] += 1;
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded (then `f` is not called), or
        /// if `f` panics.
        #[inline(always)]
        #[track_caller]
        #[allow(clippy::mut_from_ref)]
        #[must_use = "the value stays in the pool, never dropped, until the pool goes"]
        pub fn alloc_nodrop_with<T>(&self, f: impl FnOnce() -> T) -> &mut T {
            unwrap_or_fail(backend::try_alloc_nodrop_with(self, f))
        }

        /// Fallible [`alloc_nodrop`](Self::alloc_nodrop); on error `value` is
        /// dropped.
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(0);")]
        /// assert!(pool.try_alloc_nodrop(std::rc::Rc::new(1)).is_err());
        /// ```
        #[inline(always)]
        #[allow(clippy::mut_from_ref)]
        pub fn try_alloc_nodrop<T>(&self, value: T) -> Result<&mut T, AllocError> {
            backend::try_alloc_nodrop_with(self, || value)
        }

        // --- Copy data and slices ----------------------------------------------

        /// Copies a `Copy` value into the pool. Any lifetime is fine — arena
        /// data may point at other arena data — because the pool never needs to
        /// drop it.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let word = pool.alloc_str("hello").into_mut();
        /// let token = pool.alloc_copy((&*word, 5usize)); // borrows pool data
        /// assert_eq!(token.0, "hello");
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_copy<T: Copy>(&self, value: T) -> Handle<'_, T> {
            unwrap_or_fail(self.try_alloc_copy(value))
        }

        /// Fallible [`alloc_copy`](Self::alloc_copy).
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(*pool.try_alloc_copy(3u8).unwrap(), 3);
        /// ```
        #[inline]
        pub fn try_alloc_copy<T: Copy>(&self, value: T) -> Result<Handle<'_, T>, AllocError> {
            backend::try_alloc_copy(self, value)
        }

        /// Copies a slice of `Copy` values into the pool.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let ids = pool.alloc_slice_copy(&[3u32, 1, 4]);
        /// assert_eq!(*ids, [3, 1, 4]);
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Handle<'_, [T]> {
            unwrap_or_fail(self.try_alloc_slice_copy(src))
        }

        /// Fallible [`alloc_slice_copy`](Self::alloc_slice_copy).
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(pool.try_alloc_slice_copy(b"ab").unwrap().len(), 2);
        /// ```
        #[inline]
        pub fn try_alloc_slice_copy<T: Copy>(
            &self,
            src: &[T],
        ) -> Result<Handle<'_, [T]>, AllocError> {
            backend::try_alloc_slice_copy(self, src)
        }

        /// Clones a slice into the pool. `T` must have no drop glue (a
        /// compile error otherwise: the pool runs the destructors of single
        /// values only, so put a `Vec<T>` in with
        /// [`alloc_value`](Self::alloc_value) instead); `Cell`s and other
        /// `Clone`-but-not-`Copy` types of plain data go.
        ///
        /// ```
        /// use std::cell::Cell;
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let counters = pool.alloc_slice_clone(&[Cell::new(1u32), Cell::new(2)]);
        /// counters[0].set(5);
        /// assert_eq!(counters[0].get() + counters[1].get(), 7);
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded, or a `clone` panics.
        #[inline]
        #[track_caller]
        pub fn alloc_slice_clone<T: Clone>(&self, src: &[T]) -> Handle<'_, [T]> {
            unwrap_or_fail(self.try_alloc_slice_clone(src))
        }

        /// Fallible [`alloc_slice_clone`](Self::alloc_slice_clone).
        ///
        /// # Errors
        ///
        /// [`AllocError::SizeOverflow`], [`AllocError::LayoutTooLarge`],
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(0);")]
        /// assert!(pool.try_alloc_slice_clone(&[1u8, 2]).is_err());
        /// ```
        #[inline]
        pub fn try_alloc_slice_clone<T: Clone>(
            &self,
            src: &[T],
        ) -> Result<Handle<'_, [T]>, AllocError> {
            backend::try_alloc_slice_clone(self, src)
        }

        /// Allocates `len` copies of `value`.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(*pool.alloc_slice_fill_copy(3, -1i32), [-1, -1, -1]);
        /// ```
        ///
        /// # Panics
        ///
        /// If `len` elements overflow `isize::MAX` bytes, or the pool's limit
        /// would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_slice_fill_copy<T: Copy>(&self, len: usize, value: T) -> Handle<'_, [T]> {
            unwrap_or_fail(backend::try_alloc_slice_fill_with(self, len, |_| value))
        }

        /// Allocates `len` elements, element `i` made by `f(i)`. `T` must have
        /// no drop glue, as for [`alloc_slice_clone`](Self::alloc_slice_clone).
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(*pool.alloc_slice_fill_with(4, |i| i * i), [0, 1, 4, 9]);
        /// ```
        ///
        /// # Panics
        ///
        /// If `len` elements overflow `isize::MAX` bytes, the pool's limit
        /// would be exceeded, or `f` panics.
        #[inline]
        #[track_caller]
        pub fn alloc_slice_fill_with<T>(
            &self,
            len: usize,
            f: impl FnMut(usize) -> T,
        ) -> Handle<'_, [T]> {
            unwrap_or_fail(self.try_alloc_slice_fill_with(len, f))
        }

        /// Fallible [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).
        ///
        /// # Errors
        ///
        /// [`AllocError::SizeOverflow`], [`AllocError::LayoutTooLarge`],
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`]; `f`
        /// is then not called.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert!(pool.try_alloc_slice_fill_with(usize::MAX, |_| 0u16).is_err());
        /// ```
        #[inline]
        pub fn try_alloc_slice_fill_with<T>(
            &self,
            len: usize,
            f: impl FnMut(usize) -> T,
        ) -> Result<Handle<'_, [T]>, AllocError> {
            backend::try_alloc_slice_fill_with(self, len, f)
        }

        /// Allocates the items of an exact-size iterator, in order. `T` must
        /// have no drop glue, as for
        /// [`alloc_slice_clone`](Self::alloc_slice_clone).
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let lengths = pool.alloc_slice_fill_iter(["a", "bcd"].iter().map(|w| w.len()));
        /// assert_eq!(*lengths, [1, 3]);
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded, or the iterator yields fewer
        /// items than its `len()` said (more are ignored).
        #[inline]
        #[track_caller]
        pub fn alloc_slice_fill_iter<T, I>(&self, iter: I) -> Handle<'_, [T]>
        where
            I: IntoIterator<Item = T>,
            I::IntoIter: ExactSizeIterator,
        {
            unwrap_or_fail(self.try_alloc_slice_fill_iter(iter))
        }

        /// Fallible [`alloc_slice_fill_iter`](Self::alloc_slice_fill_iter).
        ///
        /// # Errors
        ///
        /// As for [`try_alloc_slice_fill_with`](Self::try_alloc_slice_fill_with).
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(0);")]
        /// assert!(pool.try_alloc_slice_fill_iter(0..10u8).is_err());
        /// ```
        #[inline]
        pub fn try_alloc_slice_fill_iter<T, I>(&self, iter: I) -> Result<Handle<'_, [T]>, AllocError>
        where
            I: IntoIterator<Item = T>,
            I::IntoIter: ExactSizeIterator,
        {
            backend::try_alloc_slice_fill_iter(self, iter)
        }

        // --- strings -----------------------------------------------------------

        /// Copies a string into the pool.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let s = pool.alloc_str("Vocab");
        /// assert_eq!(s, "Vocab");
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_str(&self, src: &str) -> Handle<'_, str> {
            unwrap_or_fail(self.try_alloc_str(src))
        }

        /// Fallible [`alloc_str`](Self::alloc_str).
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(pool.try_alloc_str("é").unwrap().len(), 2);
        /// ```
        #[inline]
        pub fn try_alloc_str(&self, src: &str) -> Result<Handle<'_, str>, AllocError> {
            backend::try_alloc_str(self, src)
        }

        /// Formats into the pool: `format!` without a heap `String`
        /// (bumpalo's `format!(in bump, ..)`). The text grows in place as it
        /// is written, and the block is trimmed to its length.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let id = pool.alloc_fmt(format_args!("doc-{}-{:02}", 7, 3));
        /// assert_eq!(id, "doc-7-03");
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded, or a formatting trait
        /// implementation returns an error (as `format!` does).
        #[inline]
        #[track_caller]
        pub fn alloc_fmt(&self, args: core::fmt::Arguments<'_>) -> Handle<'_, str> {
            unwrap_or_fail(self.try_alloc_fmt(args))
        }

        /// Fallible [`alloc_fmt`](Self::alloc_fmt); on error nothing stays
        /// allocated.
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(0);")]
        /// assert!(pool.try_alloc_fmt(format_args!("{}", 12345)).is_err());
        /// ```
        #[inline]
        pub fn try_alloc_fmt(
            &self,
            args: core::fmt::Arguments<'_>,
        ) -> Result<Handle<'_, str>, AllocError> {
            backend::try_alloc_fmt(self, args)
        }

        // --- zeroed plain data ---------------------------------------------------

        /// Allocates a zeroed `T` — any type for which all-zero bytes are a
        /// valid value ([`Zeroable`](crate::Zeroable); derive it with
        /// `#[derive(arenapool::Zeroable)]`).
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let counts = pool.alloc_zeroed::<[u64; 8]>();
        /// assert_eq!(*counts, [0; 8]);
        /// ```
        ///
        /// # Panics
        ///
        /// If the pool's limit would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_zeroed<T: Zeroable + Copy>(&self) -> Handle<'_, T> {
            unwrap_or_fail(self.try_alloc_zeroed())
        }

        /// Fallible [`alloc_zeroed`](Self::alloc_zeroed).
        ///
        /// # Errors
        ///
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(*pool.try_alloc_zeroed::<f32>().unwrap(), 0.0);
        /// ```
        #[inline]
        pub fn try_alloc_zeroed<T: Zeroable + Copy>(&self) -> Result<Handle<'_, T>, AllocError> {
            backend::try_alloc_zeroed(self)
        }

        /// Allocates `len` zeroed `T`s.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let heads = pool.alloc_slice_zeroed::<i32>(5);
        /// assert_eq!(*heads, [0; 5]);
        /// ```
        ///
        /// # Panics
        ///
        /// If `len * size_of::<T>()` overflows or exceeds `isize::MAX`, or the
        /// pool's limit would be exceeded.
        #[inline]
        #[track_caller]
        pub fn alloc_slice_zeroed<T: Zeroable + Copy>(&self, len: usize) -> Handle<'_, [T]> {
            unwrap_or_fail(self.try_alloc_slice_zeroed(len))
        }

        /// Fallible [`alloc_slice_zeroed`](Self::alloc_slice_zeroed).
        ///
        /// # Errors
        ///
        /// [`AllocError::SizeOverflow`], [`AllocError::LayoutTooLarge`],
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert!(pool.try_alloc_slice_zeroed::<u64>(usize::MAX / 4).is_err());
        /// ```
        #[inline]
        pub fn try_alloc_slice_zeroed<T: Zeroable + Copy>(
            &self,
            len: usize,
        ) -> Result<Handle<'_, [T]>, AllocError> {
            backend::try_alloc_slice_zeroed(self, len)
        }

        // --- free, realloc, owns -----------------------------------------------

        /// Gives an allocation back: runs its value's destructor, if it has one,
        /// and recycles the memory for later requests. Consuming the handle makes
        /// use after free and double free compile errors.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let block = pool.alloc(1, 64);
        /// pool.free(block);
        /// assert_eq!(pool.size(), 0);
        /// ```
        ///
        /// # Panics
        ///
        /// If `handle` was made by another pool (nothing is freed then). A panic
        /// of the value's destructor propagates; the memory is recycled anyway.
        #[inline]
        #[track_caller]
        pub fn free<T: ?Sized>(&self, handle: Handle<'_, T>) {
            if backend::try_free(self, handle).is_err() {
                backend::foreign_handle();
            }
        }

        /// Resizes a slice allocation to `new_len` elements (bytes, for a byte
        /// block), keeping the contents up to the smaller length and zeroing any
        /// new tail. In place when it can be (see
        /// [`RawPool::realloc`](crate::raw::RawPool::realloc)); the handle then
        /// points at the resized block.
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// let mut tokens = pool.alloc_slice_copy(&[1u32, 2]);
        /// pool.realloc(&mut tokens, 4);
        /// assert_eq!(*tokens, [1, 2, 0, 0]);
        /// ```
        ///
        /// # Panics
        ///
        /// If `handle` was made by another pool, or as
        /// [`try_realloc`](Self::try_realloc) errs.
        #[inline]
        #[track_caller]
        pub fn realloc<T: Zeroable + Copy>(&self, handle: &mut Handle<'_, [T]>, new_len: usize) {
            unwrap_or_fail(self.try_realloc(handle, new_len))
        }

        /// Fallible [`realloc`](Self::realloc). On error the handle and its
        /// contents are exactly as they were.
        ///
        /// # Errors
        ///
        /// [`AllocError::ForeignHandle`] for a handle of another pool,
        /// [`AllocError::SizeOverflow`], [`AllocError::LayoutTooLarge`],
        /// [`AllocError::LimitExceeded`] or [`AllocError::OutOfMemory`].
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::with_limit(64 * 1024);")]
        /// let mut block = pool.alloc(1, 16);
        /// assert!(pool.try_realloc(&mut block, 1 << 20).is_err());
        /// assert_eq!(block.len(), 16);
        /// ```
        pub fn try_realloc<T: Zeroable + Copy>(
            &self,
            handle: &mut Handle<'_, [T]>,
            new_len: usize,
        ) -> Result<(), AllocError> {
            backend::try_realloc(self, handle, new_len)
        }

        /// Whether `handle` was made by this pool.
        ///
        /// ```
        #[doc = concat!("let (a, b) = (arenapool::", stringify!($Pool), "::new(), arenapool::", stringify!($Pool), "::new());")]
        /// let h = a.alloc(1, 1);
        /// assert!(a.owns(&h) && !b.owns(&h));
        /// ```
        #[inline]
        pub fn owns<T: ?Sized>(&self, handle: &Handle<'_, T>) -> bool {
            backend::owns(self, handle)
        }

        /// Bytes the pool holds from the system allocator — chunks, large
        /// blocks and bookkeeping — as bumpalo's `allocated_bytes` (the
        /// `reserved_bytes` of [`stats`](Self::stats), without the rest).
        ///
        /// ```
        #[doc = concat!("let pool = arenapool::", stringify!($Pool), "::new();")]
        /// assert_eq!(pool.allocated_bytes(), 0);
        /// let _block = pool.alloc(1, 64);
        /// assert!(pool.allocated_bytes() >= 64);
        /// ```
        #[inline]
        pub fn allocated_bytes(&self) -> usize {
            backend::Backend::reserved_bytes(self)
        }
    };
}

pub(crate) use typed_calls;
