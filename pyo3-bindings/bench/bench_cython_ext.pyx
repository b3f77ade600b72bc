# cython: language_level=3, boundscheck=False, wraparound=False
"""The loops of bench_cython.py, in C: arenapool's C-level API against
cymem's cdef Pool.alloc/free/realloc. Each function returns the nanoseconds
its loop took (CLOCK_MONOTONIC), so that Python's call overhead stays out."""

from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from cymem.cymem cimport Pool as CymemPool

cimport arenapool as ap

import arenapool

ap.arenapool_import()


cdef struct TokenC:           # 24 bytes
    const void* lex
    int32_t idx
    int32_t head
    int32_t i
    int32_t flags


TOKEN_SIZE = sizeof(TokenC)


cdef inline int64_t now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


# ---- alloc(1, 16) + free, n times


def arenapool_pairs_raise(pool, int n):
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int i
    cdef void* q
    t = now()
    for i in range(n):
        q = ap.arenapool_alloc_or_raise(p, 1, 16)
        ap.arenapool_free_or_raise(p, q)
    return now() - t


cdef int64_t _pairs_nogil(ap.arenapool_pool* p, int n) noexcept nogil:
    cdef int i
    cdef void* q
    cdef int64_t t = now()
    for i in range(n):
        q = ap.arenapool_alloc(p, 1, 16)
        ap.arenapool_free(p, q)
    return now() - t


def arenapool_pairs_nogil(pool, int n):
    """The plain forms, in a `with nogil:` loop."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int64_t elapsed
    with nogil:
        elapsed = _pairs_nogil(p, n)
    return elapsed


def arenapool_pairs_nogil_span(pool, int n):
    """As arenapool_pairs_nogil, returning (start, end) for the thread runs."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int64_t start, elapsed
    with nogil:
        start = now()
        elapsed = _pairs_nogil(p, n)
    return start, start + elapsed


def libc_pairs_nogil_span(pool, int n):
    """malloc + memset + free in a `with nogil:` loop, (start, end): the
    machine's own scaling for the thread runs (pool unused)."""
    global sink
    cdef int i
    cdef void* q
    cdef int64_t start, end
    cdef uintptr_t seen = 0
    with nogil:
        start = now()
        for i in range(n):
            q = malloc(16)
            memset(q, 0, 16)
            # A local, not `sink`: two threads storing to one global would
            # share its cache line on every pair, and measure that instead.
            seen ^= <uintptr_t>q
            free(q)
        end = now()
    sink ^= seen
    return start, end


def cymem_pairs(int n):
    cdef CymemPool mem = CymemPool()
    cdef int i
    cdef void* q
    t = now()
    for i in range(n):
        q = mem.alloc(1, 16)
        mem.free(q)
    return now() - t


cdef volatile uintptr_t sink = 0


cdef extern from *:
    """
    static int arenapool_bench_flag;
    /* A lane's lock and unlock, alone: an xchg and a release store. */
    static inline void arenapool_bench_lock_pair(void) {
        (void)__atomic_exchange_n(&arenapool_bench_flag, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&arenapool_bench_flag, 0, __ATOMIC_RELEASE);
    }
    """
    void arenapool_bench_lock_pair() nogil


def lock_floor_pairs(int n):
    """Two lane lock/unlock pairs per iteration (an alloc and a free each
    take one): the floor of any design that locks once per call."""
    cdef int i
    t = now()
    with nogil:
        for i in range(n):
            arenapool_bench_lock_pair()
            arenapool_bench_lock_pair()
    return now() - t


def libc_pairs(int n):
    """malloc + memset + free, for reference (the pointer escapes through a
    volatile, so that the compiler keeps the calls)."""
    global sink
    cdef int i
    cdef void* q
    t = now()
    with nogil:
        for i in range(n):
            q = malloc(16)
            memset(q, 0, 16)
            sink = <uintptr_t>q
            free(q)
    return now() - t


# ---- n x alloc(1, 16) kept, then the owner (its pool) dropped


def arenapool_keep_then_drop_raise(int n):
    cdef int i
    t = now()
    pool = arenapool.Pool()
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    for i in range(n):
        ap.arenapool_alloc_or_raise(p, 1, 16)
    pool = None
    return now() - t


def arenapool_keep_then_drop_nogil(int n):
    cdef int i
    t = now()
    pool = arenapool.Pool()
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    with nogil:
        for i in range(n):
            ap.arenapool_alloc(p, 1, 16)
    pool = None
    return now() - t


def cymem_keep_then_drop(int n):
    cdef int i
    t = now()
    cdef CymemPool mem = CymemPool()
    for i in range(n):
        mem.alloc(1, 16)
    mem = None
    return now() - t


# ---- a TokenC array grown one element at a time, to n elements


def arenapool_grow(int n):
    cdef int i
    t = now()
    pool = arenapool.Pool()
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef TokenC* c = <TokenC*>ap.arenapool_alloc_or_raise(p, 1, sizeof(TokenC))
    for i in range(1, n):
        c = <TokenC*>ap.arenapool_realloc_or_raise(p, c, (i + 1) * sizeof(TokenC))
        c[i].i = i
    elapsed = now() - t
    assert c[n - 1].i == n - 1 and c[n // 2].i == n // 2
    return elapsed


def arenapool_grow_nogil(int n):
    """The plain form, GIL released for the whole loop."""
    cdef int i
    cdef int64_t elapsed
    t = now()
    pool = arenapool.Pool()
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef TokenC* c = <TokenC*>ap.arenapool_alloc_or_raise(p, 1, sizeof(TokenC))
    with nogil:
        for i in range(1, n):
            c = <TokenC*>ap.arenapool_realloc(p, c, (i + 1) * sizeof(TokenC))
            c[i].i = i
    elapsed = now() - t
    assert c[n - 1].i == n - 1 and c[n // 2].i == n // 2
    return elapsed


def cymem_grow(int n):
    cdef int i
    t = now()
    cdef CymemPool mem = CymemPool()
    cdef TokenC* c = <TokenC*>mem.alloc(1, sizeof(TokenC))
    for i in range(1, n):
        c = <TokenC*>mem.realloc(c, (i + 1) * sizeof(TokenC))
        c[i].i = i
    elapsed = now() - t
    assert c[n - 1].i == n - 1 and c[n // 2].i == n // 2
    return elapsed


def libc_grow(int n):
    """libc realloc (no zeroing of the tail), for reference."""
    cdef int i
    t = now()
    cdef TokenC* c = <TokenC*>malloc(sizeof(TokenC))
    for i in range(1, n):
        c = <TokenC*>realloc(c, (i + 1) * sizeof(TokenC))
        c[i].i = i
    elapsed = now() - t
    free(c)
    return elapsed
