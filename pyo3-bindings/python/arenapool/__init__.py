"""Arena-backed memory pools owned by Python objects.

A :class:`Pool` owns every allocation made through it and frees them all
when it is closed or collected (reference cycles included). Allocations are
zero-copy buffers (``memoryview``, ``numpy.frombuffer``) that keep their
pool alive; every misuse raises instead of crashing.

Cython and C code reach the same pools at C speed, with the GIL released,
through ``cimport arenapool`` (``arenapool/__init__.pxd``) and the header
``arenapool.h``, found with :func:`get_include`.
"""

import os

from ._arenapool import Address, Allocation, InvalidAllocationError, Pool, total_reserved

__all__ = ["Address", "Allocation", "InvalidAllocationError", "Pool", "get_include", "total_reserved"]


def get_include() -> str:
    """The directory that holds ``arenapool.h``, for C or Cython builds.

    ``cythonize(..., include_dirs=[arenapool.get_include()])``, as with
    ``numpy.get_include()``.
    """
    return os.path.dirname(os.path.abspath(__file__))
