# cython: language_level=3
"""Every C-level call of arenapool, one Python function each, for the tests.

Handles and block pointers cross to Python as ints. `malloc_block`, `fill`,
`read` and `libc_free` handle memory the pool does not own (and peek at the
pool's blocks).
"""

from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cimport arenapool as ap

ap.arenapool_import()

SIZE_MAX = <size_t>-1
VERSION = ap.ARENAPOOL_C_API_VERSION


cdef inline ap.arenapool_pool* _h(uintptr_t handle) noexcept nogil:
    return <ap.arenapool_pool*>handle


def handle(pool):
    """arenapool_c_pool(pool), as an int."""
    return <uintptr_t>ap.arenapool_c_pool(pool)


# ---- the plain forms: NULL / -1 come back as 0 / -1


def alloc(uintptr_t h, size_t number, size_t elem_size):
    return <uintptr_t>ap.arenapool_alloc(_h(h), number, elem_size)


def realloc(uintptr_t h, uintptr_t ptr, size_t new_nbytes):
    return <uintptr_t>ap.arenapool_realloc(_h(h), <void*>ptr, new_nbytes)


def free_(uintptr_t h, uintptr_t ptr):
    return ap.arenapool_free(_h(h), <void*>ptr)


def size(uintptr_t h):
    return ap.arenapool_size(_h(h))


def alloc_nogil(uintptr_t h, size_t number, size_t elem_size):
    """arenapool_alloc with the GIL released around the call."""
    cdef void* block
    with nogil:
        block = ap.arenapool_alloc(_h(h), number, elem_size)
    return <uintptr_t>block


# ---- the raising forms


def alloc_or_raise(uintptr_t h, size_t number, size_t elem_size):
    return <uintptr_t>ap.arenapool_alloc_or_raise(_h(h), number, elem_size)


def realloc_or_raise(uintptr_t h, uintptr_t ptr, size_t new_nbytes):
    return <uintptr_t>ap.arenapool_realloc_or_raise(_h(h), <void*>ptr, new_nbytes)


def free_or_raise(uintptr_t h, uintptr_t ptr):
    return ap.arenapool_free_or_raise(_h(h), <void*>ptr)


# ---- memory helpers


def fill(uintptr_t ptr, size_t nbytes, int byte):
    memset(<void*>ptr, byte, nbytes)


def read(uintptr_t ptr, size_t nbytes):
    return (<char*>ptr)[:nbytes]


def is_zero(uintptr_t ptr, size_t nbytes):
    cdef const unsigned char* p = <const unsigned char*>ptr
    cdef size_t i
    for i in range(nbytes):
        if p[i] != 0:
            return False
    return True


def malloc_block(size_t nbytes):
    cdef void* p = malloc(nbytes)
    if p == NULL:
        raise MemoryError()
    return <uintptr_t>p


def libc_free(uintptr_t ptr):
    free(<void*>ptr)
