# cython: language_level=3
"""arenapool_import() on demand, not at module import, for the version and
not-imported tests."""

cimport arenapool as ap

HEADER_VERSION = ap.ARENAPOOL_C_API_VERSION


def do_import():
    return ap.arenapool_import()


def c_pool(pool):
    """arenapool_c_pool: RuntimeError before do_import()."""
    return <size_t>ap.arenapool_c_pool(pool)


def alloc_free(pool):
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    q = ap.arenapool_alloc_or_raise(p, 2, 8)
    ap.arenapool_free_or_raise(p, q)
    return ap.arenapool_size(p)
