/*
 * arenapool.h: the C-level API of the Python package arenapool.
 *
 * Self-contained: it includes what it needs (Python.h, stddef.h) and may be
 * included from C or C++, by Cython (`cimport arenapool`, see __init__.pxd)
 * or by hand. Find it with `arenapool.get_include()`:
 *
 *     cythonize(..., include_dirs=[arenapool.get_include()])
 *
 * Use:
 *
 *     if (arenapool_import() < 0) return NULL;     once per module (init)
 *     arenapool_pool *p = arenapool_c_pool(pool);  pool: an arenapool.Pool
 *     T *a = arenapool_alloc(p, n, sizeof(T));     nogil; NULL on failure
 *     a = arenapool_realloc(p, a, 2 * n * sizeof(T));
 *     arenapool_free(p, a);
 *
 * The calls reach the extension module arenapool._arenapool through a table
 * of function pointers in the capsule arenapool._arenapool._C_API, fetched
 * once per translation unit by arenapool_import() (as numpy's
 * import_array()). All the work runs in the extension: memory is always
 * made and freed by the module that owns the pool.
 *
 * Blocks. Zeroed, 16-byte aligned, `number * elem_size` bytes (an overflow
 * is an error, never a short block); a zero size is a valid block with an
 * address of its own. realloc keeps the contents up to the smaller size,
 * zeroes any new tail, moves the block only when it must, and on failure
 * leaves it as it was; realloc(p, NULL, n) allocates. free and realloc
 * refuse a pointer this pool did not hand out through these calls (one from
 * malloc, from another pool, from Pool.alloc) or one already freed, without
 * reading or writing the memory it points at; NULL is refused by free. A
 * block freed and handed out again is a live block again, as with malloc.
 * These blocks share the pool's size, stats(), limit and lifetime with its
 * Python-level allocations: all of them go when the Pool is closed or
 * collected (reference cycles included).
 *
 * Lifetime. A handle is valid while its Pool object is alive. Once the Pool
 * is closed, the calls fail cleanly (NULL / -1, size 0) as long as the
 * object lives. A handle, like every pointer into the pool, does NOT keep
 * the Pool alive, as a cymem pointer does not keep its cymem.Pool alive:
 * hold the Pool in the object that uses its memory (`self.mem = Pool()`).
 *
 * Threads. The plain calls (arenapool_alloc, _realloc, _free, _size) use no
 * Python object and never need the GIL: call them from `with nogil:` blocks,
 * from any number of threads at once on one pool (each thread works in a
 * lane of its own, with its own lock; close() waits for calls in flight).
 * They may also be called with the GIL held.
 * The _or_raise calls need the GIL and raise instead of returning NULL / -1:
 * MemoryError (limit or memory), OverflowError (size), ValueError (pool
 * closed), arenapool.InvalidAllocationError (a pointer not this pool's).
 *
 * Versions. ARENAPOOL_C_API_VERSION is the version of the table this header
 * describes. Later versions of arenapool only APPEND fields to the table (and
 * raise the version): a module compiled against this header keeps working
 * with a newer arenapool; arenapool_import() raises ImportError if the
 * installed arenapool's table is older than this header's.
 */
#ifndef ARENAPOOL_H
#define ARENAPOOL_H

#include <Python.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ARENAPOOL_C_API_VERSION 1
#define ARENAPOOL_C_API_CAPSULE "arenapool._arenapool._C_API"

/* The opaque C handle of one arenapool.Pool. */
typedef struct arenapool_pool arenapool_pool;

/* The capsule's table. Append only: never reorder, remove or retype. */
typedef struct arenapool_c_api {
    size_t version;
    /* version 1 */
    arenapool_pool *(*c_pool)(PyObject *pool);
    void *(*pool_alloc)(arenapool_pool *p, size_t number, size_t elem_size);
    void *(*pool_realloc)(arenapool_pool *p, void *ptr, size_t new_nbytes);
    int (*pool_free)(arenapool_pool *p, void *ptr);
    size_t (*pool_size)(arenapool_pool *p);
    void *(*alloc_or_raise)(arenapool_pool *p, size_t number, size_t elem_size);
    void *(*realloc_or_raise)(arenapool_pool *p, void *ptr, size_t new_nbytes);
    int (*free_or_raise)(arenapool_pool *p, void *ptr);
    /* later versions: new fields here */
} arenapool_c_api;

/* The table, once arenapool_import() has fetched it (one per translation
 * unit: a Cython module is one). */
static const arenapool_c_api *arenapool_api_table = NULL;

/* Imports arenapool._arenapool and fetches its table. 0 on success; -1 with
 * an exception set (ImportError if the module cannot be imported or its
 * table is older than this header). Call it once per module, with the GIL,
 * before any other call (Cython: at module level, as numpy's import_array()).
 * Calling it again is cheap. */
static inline int arenapool_import(void) {
    const arenapool_c_api *api;
    if (arenapool_api_table != NULL) {
        return 0;
    }
    api = (const arenapool_c_api *)PyCapsule_Import(ARENAPOOL_C_API_CAPSULE, 0);
    if (api == NULL) {
        return -1;
    }
    if (api->version < ARENAPOOL_C_API_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "arenapool: this module was compiled against version %d of arenapool's "
                     "C API, but the installed arenapool provides version %zu; "
                     "upgrade arenapool, or rebuild the module against the installed one",
                     ARENAPOOL_C_API_VERSION, api->version);
        return -1;
    }
    arenapool_api_table = api;
    return 0;
}

/* The handle of an open arenapool.Pool (with the GIL). NULL with TypeError
 * if `pool` is not an arenapool.Pool, ValueError if it is closed, or
 * RuntimeError if arenapool_import() was not called in this module. */
static inline arenapool_pool *arenapool_c_pool(PyObject *pool) {
    if (arenapool_api_table == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "arenapool: call arenapool_import() once in this module before "
                        "arenapool_c_pool()");
        return NULL;
    }
    return arenapool_api_table->c_pool(pool);
}

/* ---- No Python object, no GIL needed. NULL / -1 on failure, nothing
 * changed; `p` is a handle from arenapool_c_pool() whose Pool is alive.
 * Every module that calls these runs arenapool_import() first, even one
 * given its handles by another module (the table is per module); before it,
 * the calls fail (NULL / -1 / 0) instead of crashing. Using a handle after
 * its Pool was collected is undefined behaviour, as with cymem: in a
 * `__dealloc__` of an owner that GC cycles may clear, touch neither the
 * handle nor pool memory (or mark the class @cython.no_gc_clear). */

/* `number * elem_size` zeroed bytes, 16-byte aligned. NULL if the size
 * overflows, the pool's limit or the system refuses, or the pool is closed. */
static inline void *arenapool_alloc(arenapool_pool *p, size_t number, size_t elem_size) {
    if (arenapool_api_table == NULL) {
        return NULL; /* arenapool_import() was not called in this module */
    }
    return arenapool_api_table->pool_alloc(p, number, elem_size);
}

/* Resizes a block of this pool to `new_nbytes` (contents kept, new tail
 * zeroed, moved only when it must). NULL `ptr` allocates. NULL on failure:
 * the block is then unchanged and still valid. */
static inline void *arenapool_realloc(arenapool_pool *p, void *ptr, size_t new_nbytes) {
    if (arenapool_api_table == NULL) {
        return NULL;
    }
    return arenapool_api_table->pool_realloc(p, ptr, new_nbytes);
}

/* Frees a block of this pool: 0, or -1 (and nothing freed) for a pointer it
 * did not hand out through these calls, one already freed, NULL, or a closed
 * pool. */
static inline int arenapool_free(arenapool_pool *p, void *ptr) {
    if (arenapool_api_table == NULL) {
        return -1;
    }
    return arenapool_api_table->pool_free(p, ptr);
}

/* The pool's live bytes (its Python-level `size`, C and Python blocks
 * together); 0 once the pool is closed. */
static inline size_t arenapool_size(arenapool_pool *p) {
    if (arenapool_api_table == NULL) {
        return 0;
    }
    return arenapool_api_table->pool_size(p);
}

/* ---- With the GIL: as above, but raising (cymem's behaviour). They keep
 * the GIL from start to end, whatever the size, as cymem does; to release it
 * for a large block, call a plain form in a `with nogil:` block. */

/* RuntimeError for a module that calls before arenapool_import(). */
static inline int arenapool_not_imported(void) {
    PyErr_SetString(PyExc_RuntimeError,
                    "arenapool: call arenapool_import() once in this module before "
                    "calling arenapool's C API");
    return -1;
}

/* As arenapool_alloc; NULL with MemoryError, OverflowError or ValueError. */
static inline void *arenapool_alloc_or_raise(arenapool_pool *p, size_t number, size_t elem_size) {
    if (arenapool_api_table == NULL) {
        arenapool_not_imported();
        return NULL;
    }
    return arenapool_api_table->alloc_or_raise(p, number, elem_size);
}

/* As arenapool_realloc; NULL with InvalidAllocationError (not this pool's
 * block), MemoryError, OverflowError or ValueError. */
static inline void *arenapool_realloc_or_raise(arenapool_pool *p, void *ptr, size_t new_nbytes) {
    if (arenapool_api_table == NULL) {
        arenapool_not_imported();
        return NULL;
    }
    return arenapool_api_table->realloc_or_raise(p, ptr, new_nbytes);
}

/* As arenapool_free; -1 with InvalidAllocationError or ValueError. */
static inline int arenapool_free_or_raise(arenapool_pool *p, void *ptr) {
    if (arenapool_api_table == NULL) {
        return arenapool_not_imported();
    }
    return arenapool_api_table->free_or_raise(p, ptr);
}

#ifdef __cplusplus
}
#endif

#endif /* ARENAPOOL_H */
