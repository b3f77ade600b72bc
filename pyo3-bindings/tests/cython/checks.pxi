# Byte checks shared by the test extensions (`include "checks.pxi"`).

from libc.stdint cimport uint8_t


cdef int holds(const uint8_t* p, size_t n, uint8_t tag) noexcept nogil:
    cdef size_t i
    for i in range(n):
        if p[i] != tag:
            return 0
    return 1


cdef int zero_from(const uint8_t* p, size_t start, size_t n) noexcept nogil:
    cdef size_t i
    for i in range(start, n):
        if p[i] != 0:
            return 0
    return 1
