# cython: language_level=3
"""A module that calls arenapool's C API with handles another module made,
without running arenapool_import() itself."""
cimport arenapool as ap


def plain_calls(size_t handle):
    cdef ap.arenapool_pool* p = <ap.arenapool_pool*>handle
    return (
        <size_t>ap.arenapool_alloc(p, 1, 16),
        <size_t>ap.arenapool_realloc(p, NULL, 16),
        ap.arenapool_free(p, NULL),
        ap.arenapool_size(p),
    )


def raising_alloc(size_t handle):
    return <size_t>ap.arenapool_alloc_or_raise(<ap.arenapool_pool*>handle, 1, 16)
