"""Arena-backed memory pools owned by Python objects.

A :class:`Pool` owns every allocation made through it and frees them all
when it is closed or collected (reference cycles included). Allocations are
zero-copy buffers (``memoryview``, ``numpy.frombuffer``) that keep their
pool alive; every misuse raises instead of crashing.
"""

from ._arenapool import Address, Allocation, InvalidAllocationError, Pool, total_reserved

__all__ = ["Address", "Allocation", "InvalidAllocationError", "Pool", "total_reserved"]
