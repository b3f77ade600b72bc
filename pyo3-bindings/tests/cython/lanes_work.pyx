# cython: language_level=3
"""Helpers for the lane and registry tests (test_cython_lanes.py): blocks
made on one thread and grown or freed on another, with the GIL released,
and many blocks kept in C memory.

Handles and block pointers cross to Python as ints.
"""

from libc.stdint cimport uint8_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cimport arenapool as ap

ap.arenapool_import()


cdef inline ap.arenapool_pool* _h(uintptr_t handle) noexcept nogil:
    return <ap.arenapool_pool*>handle


include "checks.pxi"


# ---- one call each, with the GIL released


def alloc_nogil(uintptr_t h, size_t number, size_t elem_size):
    cdef void* q
    with nogil:
        q = ap.arenapool_alloc(_h(h), number, elem_size)
    return <uintptr_t>q


def realloc_nogil(uintptr_t h, uintptr_t ptr, size_t new_nbytes):
    cdef void* q
    with nogil:
        q = ap.arenapool_realloc(_h(h), <void*>ptr, new_nbytes)
    return <uintptr_t>q


def free_nogil(uintptr_t h, uintptr_t ptr):
    cdef int rc
    with nogil:
        rc = ap.arenapool_free(_h(h), <void*>ptr)
    return rc


def size_nogil(uintptr_t h):
    cdef size_t n
    with nogil:
        n = ap.arenapool_size(_h(h))
    return n


def free_then_alloc(uintptr_t h, uintptr_t ptr, size_t nbytes):
    """Frees `ptr`, then allocates `nbytes` and frees that block, all with
    the GIL released: (free's result, the new block's address, its free's
    result). A block goes back to the lane that made it, so the new block
    is `ptr` again only if this thread allocates from that lane too."""
    cdef int first, second
    cdef void* q
    with nogil:
        first = ap.arenapool_free(_h(h), <void*>ptr)
        q = ap.arenapool_alloc(_h(h), 1, nbytes)
        second = ap.arenapool_free(_h(h), q) if q != NULL else -2
    return first, <uintptr_t>q, second


# ---- blocks crossing threads


def grow_check_free(uintptr_t h, list blocks, int tag, size_t top):
    """For each (address, nbytes) block, made by another thread and filled
    with `tag`: checks it, grows it by reallocs up to `top` bytes (each time
    the old bytes kept, the new tail zero, then filled with `tag`), and frees
    it, with the GIL released. 0, or the (negative) number of the first
    check that failed."""
    cdef size_t n = len(blocks), i, old, new
    cdef uintptr_t* ptrs = <uintptr_t*>malloc(n * sizeof(uintptr_t) + 1)
    cdef size_t* sizes = <size_t*>malloc(n * sizeof(size_t) + 1)
    cdef uint8_t* q
    cdef uint8_t* r
    cdef int status = 0
    if ptrs == NULL or sizes == NULL:
        free(ptrs)
        free(sizes)
        raise MemoryError()
    for i, (address, nbytes) in enumerate(blocks):
        ptrs[i] = address
        sizes[i] = nbytes
    with nogil:
        for i in range(n):
            q = <uint8_t*>ptrs[i]
            old = sizes[i]
            if not holds(q, old, <uint8_t>tag):
                status = -1
                break
            new = old
            while new < top:
                new = new * 3 + 100
                if new > top:
                    new = top
                r = <uint8_t*>ap.arenapool_realloc(_h(h), q, new)
                if r == NULL:
                    status = -2
                    break
                if not holds(r, old, <uint8_t>tag) or not zero_from(r, old, new):
                    status = -3
                    break
                memset(r + old, tag, new - old)
                q = r
                old = new
            if status != 0:
                break
            if ap.arenapool_free(_h(h), q) != 0:
                status = -4
                break
    free(ptrs)
    free(sizes)
    return status


def make_tagged(uintptr_t h, int count, int tag, int seed):
    """`count` blocks of assorted sizes (some large) made with the GIL
    released, each filled with `tag`: [(address, nbytes)], or None if an
    allocation failed or a block was not zeroed."""
    cdef uintptr_t* ptrs = <uintptr_t*>malloc(count * sizeof(uintptr_t) + 1)
    cdef size_t* sizes = <size_t*>malloc(count * sizeof(size_t) + 1)
    cdef int i, ok = 1
    cdef size_t n
    cdef unsigned int state = <unsigned int>seed * 2654435761u + 1
    cdef uint8_t* q
    if ptrs == NULL or sizes == NULL:
        free(ptrs)
        free(sizes)
        raise MemoryError()
    with nogil:
        for i in range(count):
            state = state * 1103515245u + 12345u
            n = (state >> 8) % 3000
            if i % 10 == 9:
                n += 20000  # a large block now and then
            q = <uint8_t*>ap.arenapool_alloc(_h(h), n, 1)
            if q == NULL or not zero_from(q, 0, n):
                ok = 0
                break
            memset(q, tag, n)
            ptrs[i] = <uintptr_t>q
            sizes[i] = n
    result = [(ptrs[j], sizes[j]) for j in range(count)] if ok else None
    free(ptrs)
    free(sizes)
    return result


def check_and_free_or_raise(uintptr_t h, list blocks, int tag):
    """Checks that each block holds only `tag` and frees it with
    arenapool_free_or_raise (the GIL held; raises if refused); the number of
    blocks that did not hold their tag."""
    cdef int bad = 0
    cdef uint8_t* q
    for address, nbytes in blocks:
        q = <uint8_t*><uintptr_t>address
        if not holds(q, nbytes, <uint8_t>tag):
            bad += 1
        ap.arenapool_free_or_raise(_h(h), q)
    return bad


def holds_tag(uintptr_t ptr, size_t nbytes, int tag):
    return bool(holds(<const uint8_t*>ptr, nbytes, <uint8_t>tag))


# ---- many blocks kept


cdef class Blocks:
    """Up to `capacity` C blocks of one pool, their pointers kept in malloc
    memory (no Python object per block)."""

    cdef uintptr_t* ptrs
    cdef size_t n
    cdef size_t capacity

    def __cinit__(self, size_t capacity):
        self.ptrs = <uintptr_t*>malloc(capacity * sizeof(uintptr_t) + 1)
        if self.ptrs == NULL:
            raise MemoryError()
        self.n = 0
        self.capacity = capacity

    def __dealloc__(self):
        free(self.ptrs)  # the pool's blocks go with the pool

    def __len__(self):
        return self.n

    def alloc(self, uintptr_t h, size_t count, size_t nbytes):
        """Up to `count` more blocks of `nbytes` with arenapool_alloc (GIL
        released), stopping at the first NULL; the number made."""
        cdef size_t made = 0
        cdef void* q
        if count > self.capacity - self.n:
            count = self.capacity - self.n
        with nogil:
            while made < count:
                q = ap.arenapool_alloc(_h(h), 1, nbytes)
                if q == NULL:
                    break
                self.ptrs[self.n] = <uintptr_t>q
                self.n += 1
                made += 1
        return made

    def free_every(self, uintptr_t h, size_t step=1):
        """Frees the blocks at positions 0, step, 2*step, ... (all for 1) and
        keeps the others; the number of frees refused."""
        cdef size_t i, kept = 0
        cdef int refused = 0
        with nogil:
            for i in range(self.n):
                if i % step == 0:
                    if ap.arenapool_free(_h(h), <void*>self.ptrs[i]) != 0:
                        refused += 1
                else:
                    self.ptrs[kept] = self.ptrs[i]
                    kept += 1
            self.n = kept
        return refused

    def addresses(self):
        return [self.ptrs[i] for i in range(self.n)]
