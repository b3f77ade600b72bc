# A cymem client compiled against upstream cymem's own cymem.pxd (fetched
# from cymem's sdist on PyPI by fetch_cymem_pxd.py): the binary interface
# spaCy, thinc and preshed were built with. Under the switch it runs on
# arenapool.cymem; the tests call every vtable slot and read every declared
# field through it, so a layout or order mistake fails a test.

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uintptr_t
from libc.stdlib cimport abort
from libc.string cimport memcmp, memcpy, memset

from cymem.cymem cimport Address, Pool, PyFree, PyMalloc, WrapFree, WrapMalloc

cdef size_t mallocs = 0
cdef size_t frees = 0


cdef void* counting_malloc(size_t n) noexcept:
    global mallocs
    mallocs += 1
    return PyMem_Malloc(n)


cdef void counting_free(void* p) noexcept:
    global frees
    frees += 1
    PyMem_Free(p)


def counts():
    """(mallocs, frees) made through the counting pair."""
    return mallocs, frees


def module_of_pool():
    """The module the compiled client bound its Pool type to."""
    return Pool.__module__


def layout(Pool mem):
    """Every field of a Pool read from memory, as clients read them."""
    return {
        "size": mem.size,
        "addresses": mem.addresses,
        "refs": mem.refs,
        "pymalloc": mem.pymalloc,
        "pyfree": mem.pyfree,
        "malloc_is_pymem": mem.pymalloc.malloc == <void*>PyMem_Malloc,
        "free_is_pymem": mem.pyfree.free == <void*>PyMem_Free,
    }


def address_layout(Address a, size_t nbytes):
    """Every field of an Address read from memory."""
    cdef unsigned char* p = <unsigned char*>a.ptr
    cdef size_t i
    zero = all(p[i] == 0 for i in range(nbytes))
    return {
        "ptr": <uintptr_t>a.ptr,
        "addr": a.addr,
        "zero": zero,
        "aligned": (<uintptr_t>a.ptr) % 16 == 0,
        "pymalloc": a.pymalloc,
        "pyfree": a.pyfree,
        "malloc_is_pymem": a.pymalloc.malloc == <void*>PyMem_Malloc,
    }


def new_address(size_t number, size_t elem_size):
    """An Address made from compiled code (as spaCy makes them)."""
    cdef Address a = Address(number, elem_size)
    return a


def new_pool():
    """A Pool made from compiled code (as spaCy's __init__ methods do)."""
    cdef Pool mem = Pool()
    return mem


def counting_pool():
    """A Pool on the counting allocator pair (WrapMalloc / WrapFree)."""
    return Pool(WrapMalloc(counting_malloc), WrapFree(counting_free))


def set_slots():
    """PyMalloc._set and PyFree._set through their vtables, and the
    wrapped functions read back from memory."""
    cdef PyMalloc m = PyMalloc()
    cdef PyFree f = PyFree()
    unset = m.malloc == NULL and f.free == NULL
    m._set(counting_malloc)
    f._set(counting_free)
    cdef PyMalloc wm = WrapMalloc(counting_malloc)
    cdef PyFree wf = WrapFree(counting_free)
    return {
        "unset_before": unset,
        "malloc_set": m.malloc == <void*>counting_malloc,
        "free_set": f.free == <void*>counting_free,
        "wrap_malloc": wm.malloc == <void*>counting_malloc,
        "wrap_free": wf.free == <void*>counting_free,
        "types": (type(m), type(f), type(wm), type(wf)),
    }


def alloc(Pool mem, size_t number, size_t elem_size):
    """Pool.alloc through the vtable: the address (raises as cymem does)."""
    return <uintptr_t>mem.alloc(number, elem_size)


def free(Pool mem, uintptr_t address):
    mem.free(<void*>address)


def realloc(Pool mem, uintptr_t address, size_t new_size):
    return <uintptr_t>mem.realloc(<void*>address, new_size)


def size_field(Pool mem):
    return mem.size


def write(uintptr_t address, bytes data):
    memcpy(<void*>address, <const char*>data, len(data))


def read(uintptr_t address, size_t n):
    return (<char*>address)[:n]


def is_zero(uintptr_t address, size_t n):
    cdef unsigned char* p = <unsigned char*>address
    cdef size_t i
    for i in range(n):
        if p[i] != 0:
            return False
    return True


def malloc_block(size_t n):
    """A block from PyMem_Malloc (a foreign pointer for the pool)."""
    return <uintptr_t>PyMem_Malloc(n)


def pymem_free(uintptr_t address):
    PyMem_Free(<void*>address)


cdef struct TokenC:
    int lex
    int idx
    long spacy
    double vector


def grow_tokens(Pool mem, int n):
    """spaCy's Doc pattern: a TokenC array grown one token at a time with
    realloc, every token checked after each growth; the moves counted."""
    cdef TokenC* tokens = <TokenC*>mem.alloc(1, sizeof(TokenC))
    cdef TokenC* grown
    cdef int i, j
    moves = 0
    tokens[0].lex = 0
    tokens[0].idx = 0
    for i in range(1, n):
        grown = <TokenC*>mem.realloc(tokens, (i + 1) * sizeof(TokenC))
        if grown != tokens:
            moves += 1
        tokens = grown
        if tokens[i].lex != 0 or tokens[i].idx != 0 or tokens[i].spacy != 0 or tokens[i].vector != 0:
            raise AssertionError(f"token {i}: the new tail is not zero")
        tokens[i].lex = i
        tokens[i].idx = 3 * i
        for j in range(i + 1):
            if tokens[j].lex != j or tokens[j].idx != 3 * j:
                raise AssertionError(f"token {j} lost after growth to {i + 1}")
    if mem.size != n * sizeof(TokenC):
        raise AssertionError(f"size {mem.size} after growth to {n} tokens")
    mem.free(tokens)
    return moves


cdef class Owner:
    """A spaCy-style owner: its own Pool, an array in it, and a __dealloc__
    that reads the array (spaCy-era code assumed the memory stayed: cymem
    leaked it when a collection cleared the pool first). It records what it
    read in DEALLOCS, or, with ``abort_if_freed`` (for owners that go at
    interpreter exit, when no Python can run), aborts the process on a
    byte that changed."""
    cdef Pool mem
    cdef int* data
    cdef int n
    cdef bint abort_if_freed
    cdef public object other

    def __init__(self, int n, bint abort_if_freed=False):
        self.mem = Pool()
        self.n = n
        self.abort_if_freed = abort_if_freed
        self.data = <int*>self.mem.alloc(n, sizeof(int))
        cdef int i
        for i in range(n):
            self.data[i] = i * 7

    def __dealloc__(self):
        cdef int i
        cdef bint intact = True
        for i in range(self.n):
            if self.data[i] != i * 7:
                intact = False
        if self.abort_if_freed:
            if not intact:
                abort()
            return
        from arenapool.cymem import _native
        DEALLOCS.append((intact, _native._deferred()))


DEALLOCS = []


cdef class Reader:
    """Kept by its pool's own_pyref, and reads the pool's array when it goes
    (as an owner's helper object might)."""
    cdef int* data
    cdef int n

    def __dealloc__(self):
        cdef int i
        intact = True
        for i in range(self.n):
            if self.data[i] != i * 5:
                intact = False
        import arenapool
        # Whether the pool's memory was still held when this went.
        DEALLOCS.append((intact, arenapool.total_reserved()))


def reader_of(Pool mem, int n):
    """An array in `mem` read by a Reader that `mem` keeps (own_pyref)."""
    cdef Reader reader = Reader()
    cdef int i
    reader.data = <int*>mem.alloc(n, sizeof(int))
    reader.n = n
    for i in range(n):
        reader.data[i] = i * 5
    mem.own_pyref(reader)


def bench_pairs(Pool mem, int n):
    """n x (alloc(1, 16) + free) through the vtable; the loop of the bench."""
    cdef int i
    cdef void* p
    for i in range(n):
        p = mem.alloc(1, 16)
        mem.free(p)


def bench_kept(int n):
    """n x alloc(1, 16) kept, then the pool dropped."""
    cdef Pool mem = Pool()
    cdef int i
    for i in range(n):
        mem.alloc(1, 16)
    mem = None
