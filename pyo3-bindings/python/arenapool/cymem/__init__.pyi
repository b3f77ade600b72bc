# Stubs of arenapool.cymem: cymem's Python-level surface on arenapool engines.
from typing import Any, Final, final

__all__ = [
    "Address",
    "Default_Free",
    "Default_Malloc",
    "PyFree",
    "PyMalloc",
    "Pool",
    "WARN_ZERO_ALLOC",
    "install",
    "installed",
]

@final
class PyMalloc:
    """cymem's allocator wrapper: a malloc_t for a Pool."""

@final
class PyFree:
    """cymem's free wrapper: a free_t for a Pool."""

@final
class Pool:
    """cymem's Pool on an arenapool engine."""

    def __new__(cls, pymalloc: PyMalloc | None = None, pyfree: PyFree | None = None) -> Pool: ...
    @property
    def size(self) -> int:
        """Live bytes: the sum of the sizes of the blocks not freed."""
    @property
    def addresses(self) -> dict[int, int]:
        """An empty dict, kept for cymem's layout."""
    @property
    def refs(self) -> list[Any]:
        """The objects kept alive by own_pyref."""
    @property
    def pymalloc(self) -> PyMalloc: ...
    @property
    def pyfree(self) -> PyFree: ...
    def own_pyref(self, obj: object, /) -> None:
        """Keep ``obj`` alive as long as the pool."""

@final
class Address:
    """number * elem_size zeroed bytes owned by this object."""

    def __new__(cls, number: int, elem_size: int) -> Address: ...
    @property
    def addr(self) -> int: ...
    @property
    def pymalloc(self) -> PyMalloc: ...
    @property
    def pyfree(self) -> PyFree: ...

Default_Malloc: PyMalloc
Default_Free: PyFree
__pyx_capi__: dict[str, Any]
WARN_ZERO_ALLOC: bool
CYMEM_VERSION: Final[str]

def installed() -> bool: ...
def install() -> None: ...
