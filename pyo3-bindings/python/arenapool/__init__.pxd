# arenapool's C-level API for Cython: `cimport arenapool`.
#
# The declarations of arenapool.h (shipped beside this file). Build with the
# header on the include path:
#
#     cythonize(..., include_dirs=[arenapool.get_include()])
#
# A module that cimports a .pxd which itself uses these types (a library
# whose `cdef class` declares an `arenapool_pool*` field, say) includes
# arenapool.h too, so it needs the same include_dirs.
#
#     cimport arenapool as ap
#     import arenapool
#
#     ap.arenapool_import()               # once per module, at module level
#
#     cdef class Doc:
#         cdef object mem                 # the owner: an arenapool.Pool
#         cdef ap.arenapool_pool* cmem    # its handle, valid while mem lives
#         cdef TokenC* c
#
#         def __init__(self, n):
#             self.mem = arenapool.Pool()
#             self.cmem = ap.arenapool_c_pool(self.mem)
#             self.c = <TokenC*>ap.arenapool_alloc_or_raise(self.cmem, n, sizeof(TokenC))
#
# Blocks are zeroed and 16-byte aligned; a zero size is a valid block. They
# share the Pool's size, stats(), limit and lifetime with its Python-level
# allocations, and all go when the Pool is closed or collected (reference
# cycles included). A handle or a block pointer does NOT keep the Pool
# alive (as with cymem): the object holding the Pool must outlive every use
# of them. Once the Pool is closed, the calls fail cleanly (NULL / -1, size
# 0) while the Pool object lives.

cdef extern from "arenapool.h":
    # Bumped only when functions are appended (see arenapool.h).
    enum: ARENAPOOL_C_API_VERSION

    # The opaque C handle of one arenapool.Pool.
    ctypedef struct arenapool_pool

    # Imports arenapool._arenapool and fetches its function table: call once
    # per module (as numpy's import_array()), before any other call.
    # ImportError if the installed arenapool's C API is older than the
    # header this module was built against.
    int arenapool_import() except -1

    # The handle of an open Pool. TypeError if `pool` is not an
    # arenapool.Pool, ValueError if it is closed.
    arenapool_pool* arenapool_c_pool(object pool) except NULL

    # ---- nogil: no Python object; NULL / -1 on failure, nothing changed.
    # Callable from `with nogil:` blocks and from several threads at once on
    # one pool; also callable with the GIL.

    # `number * elem_size` zeroed, 16-byte aligned bytes. NULL if the size
    # overflows, the limit or the system refuses, or the pool is closed.
    void* arenapool_alloc(arenapool_pool* p, size_t number, size_t elem_size) nogil

    # Resizes a block of this pool (contents kept, new tail zeroed, moved only
    # when it must); NULL `ptr` allocates. NULL on failure, the block intact.
    # A pointer this pool's C API did not hand out, or already freed, is
    # refused without being dereferenced.
    void* arenapool_realloc(arenapool_pool* p, void* ptr, size_t new_nbytes) nogil

    # Frees a block of this pool: 0, or -1 for a pointer it did not hand out
    # through these calls (malloc's, another pool's, Pool.alloc's), one
    # already freed, NULL, or a closed pool.
    int arenapool_free(arenapool_pool* p, void* ptr) nogil

    # The pool's live bytes (Pool.size), 0 once closed.
    size_t arenapool_size(arenapool_pool* p) nogil

    # ---- With the GIL: cymem's behaviour, raising instead of NULL / -1, and
    # holding the GIL from start to end whatever the size (release it for a
    # large block by calling a plain form in a `with nogil:` block).
    # MemoryError (limit or memory), OverflowError (size), ValueError (pool
    # closed), arenapool.InvalidAllocationError (a pointer not this pool's).
    void* arenapool_alloc_or_raise(arenapool_pool* p, size_t number, size_t elem_size) except NULL
    void* arenapool_realloc_or_raise(arenapool_pool* p, void* ptr, size_t new_nbytes) except NULL
    int arenapool_free_or_raise(arenapool_pool* p, void* ptr) except -1
