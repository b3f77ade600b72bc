"""cymem on arenapool: cymem's module at cymem's binary interface.

Code compiled against cymem (spaCy, thinc and preshed, as binary wheels)
reaches cymem only through the module ``cymem.cymem``: four types checked by
size at import, their vtables, and fields read straight from memory. This
module has the same four types at exactly that layout — ``PyMalloc``,
``PyFree``, ``Pool`` and ``Address`` — backed by arenapool engines, and
what cymem shows to Python: ``Pool()``, ``Pool(pymalloc, pyfree)``,
``Pool.own_pyref``, ``Address(number, elem_size)`` with ``.addr``,
``Default_Malloc``/``Default_Free``, ``WrapMalloc``/``WrapFree`` in
``__pyx_capi__`` and ``WARN_ZERO_ALLOC``.

The switch: :func:`install` makes every later ``import cymem.cymem`` (from
Python or from a compiled module) resolve here. For programs that cannot be
edited::

    python -m arenapool.cymem SCRIPT [ARGS...]
    python -m arenapool.cymem -m MODULE [ARGS...]

What changes for the clients: blocks come from arenapool engines (bump
allocation, size classes, reuse after free, growth in place); a pool's
memory goes when the pool goes, reference cycles included (cymem leaked it
when the collector cleared the pool first); an overflowing
``number * elem_size`` raises ``OverflowError`` (cymem returned a short
block); ``realloc`` may also shrink. What does not: zeroed blocks, ``size``,
``KeyError`` from ``free`` of a pointer the pool does not own, ``ValueError``
from ``realloc`` of one, custom allocator pairs, the GIL held in every call.
``Pool.addresses`` stays an empty dict.
"""

import atexit as _atexit
import gc as _gc
import sys as _sys
import types as _types

from .. import _arenapool

# The native half (cymem_abi.rs), a submodule of the extension.
_native = getattr(_arenapool, "_cymem")

PyMalloc = _native.PyMalloc
PyFree = _native.PyFree
Pool = _native.Pool
Address = _native.Address
Default_Malloc = _native.Default_Malloc
Default_Free = _native.Default_Free
__pyx_capi__ = _native.__pyx_capi__

#: As cymem's: warn on zero-size ``Pool.alloc`` requests when true.
WARN_ZERO_ALLOC = False

#: The version of cymem whose interface this module provides.
CYMEM_VERSION = "2.0.16"

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

# A pool that dies during a collection keeps its memory until the
# collection ends: owners collected with it were written against cymem.
# At exit (whose collections call no callbacks) dead pools' memory is left
# to the system.
_native._bind(globals(), _gc.callbacks, _native._gc_phase)
if _native._gc_phase not in _gc.callbacks:
    _gc.callbacks.append(_native._gc_phase)
_atexit.register(_native._finalizing)


def _make_package() -> _types.ModuleType:
    """The module ``cymem`` resolves to under the switch: a package whose
    ``cymem`` is this module, with cymem's ``about`` names."""
    package = _types.ModuleType("cymem", "cymem on arenapool (arenapool.cymem.install()).")
    for name, value in {
        "__path__": [],  # a package, with no directory of its own
        "cymem": _sys.modules[__name__],
        "__title__": "cymem",
        "__version__": CYMEM_VERSION,
        "__summary__": "cymem's interface on arenapool engines",
    }.items():
        setattr(package, name, value)
    return package


_package = None


def installed() -> bool:
    """Whether ``cymem.cymem`` resolves to this module."""
    return _sys.modules.get("cymem.cymem") is _sys.modules[__name__]


def install() -> None:
    """Make every later ``import cymem.cymem`` (and ``import cymem``) resolve
    to this module, for Python code and compiled modules alike.

    Idempotent. Raises :class:`RuntimeError` if another ``cymem.cymem`` was
    imported already: modules bound to it at their import cannot be moved.
    Call it before importing spaCy, thinc or preshed.
    """
    global _package
    this = _sys.modules[__name__]
    current = _sys.modules.get("cymem.cymem")
    if current is not None and current is not this:
        raise RuntimeError(
            "arenapool.cymem.install(): cymem.cymem was imported already "
            f"({getattr(current, '__file__', current)!r}); the modules bound to it "
            "cannot be moved. Install the switch before importing spaCy, thinc or "
            "preshed (or run the program with python -m arenapool.cymem)."
        )
    if _package is None:
        _package = _make_package()
    _sys.modules["cymem"] = _package
    _sys.modules["cymem.cymem"] = this
