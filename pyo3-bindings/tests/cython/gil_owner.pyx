# cython: language_level=3
"""A cymem-style owner whose methods count on holding the GIL throughout:
with cymem no other Python thread runs in the middle of one."""
cimport arenapool as ap
import arenapool

ap.arenapool_import()


cdef class Buffer:
    cdef object mem
    cdef ap.arenapool_pool* cmem
    cdef unsigned char* c
    cdef size_t n

    def __init__(self, size_t n):
        self.mem = arenapool.Pool()
        self.cmem = ap.arenapool_c_pool(self.mem)
        self.c = <unsigned char*>ap.arenapool_alloc_or_raise(self.cmem, n, 1)
        self.n = n

    def resize(self, size_t n):
        """Moves the array (large blocks move on growth) through the raising form."""
        self.c = <unsigned char*>ap.arenapool_realloc_or_raise(self.cmem, self.c, n)
        self.n = n

    def touch(self):
        """Writes and reads one byte a page of the current array."""
        cdef size_t i, total = 0
        cdef unsigned char* c = self.c
        for i in range(0, self.n, 4096):
            c[i] = 1
            total += c[i]
        return total
