# The loops of bench_spacy.py's client rows: a cymem client compiled against
# upstream cymem's own cymem.pxd, timed inside C (clock_gettime), the same
# binary run on real cymem and under the switch (arenapool.cymem).

from libc.stdint cimport int64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from cymem.cymem cimport Pool


cdef int64_t now() noexcept:
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec * 1_000_000_000 + t.tv_nsec


def pairs(int n):
    """ns for n x (mem.alloc(1, 16) + mem.free(p)) on one Pool."""
    cdef Pool mem = Pool()
    cdef int i
    cdef void* p
    cdef int64_t start = now()
    for i in range(n):
        p = mem.alloc(1, 16)
        mem.free(p)
    return now() - start


def kept(int n):
    """ns for n x mem.alloc(1, 16) kept, then the Pool dropped."""
    cdef Pool mem = Pool()
    cdef int i
    cdef int64_t start = now()
    for i in range(n):
        mem.alloc(1, 16)
    mem = None
    return now() - start


cdef struct TokenC:
    int lex
    int idx
    long spacy
    double vector


def grow(int n):
    """ns for a TokenC array grown one token at a time to n by realloc."""
    cdef Pool mem = Pool()
    cdef TokenC* tokens = <TokenC*>mem.alloc(1, sizeof(TokenC))
    cdef int i
    cdef int64_t start = now()
    for i in range(1, n):
        tokens = <TokenC*>mem.realloc(tokens, (i + 1) * sizeof(TokenC))
        tokens[i].lex = i
    return now() - start


def lifecycles(int n, size_t nbytes):
    """ns for n x (Pool(), one alloc of nbytes, the Pool dropped): a spaCy
    Doc's pool, whose one block is its token array."""
    cdef Pool mem
    cdef int i
    cdef int64_t start = now()
    for i in range(n):
        mem = Pool()
        mem.alloc(1, nbytes)
        mem = None
    return now() - start
