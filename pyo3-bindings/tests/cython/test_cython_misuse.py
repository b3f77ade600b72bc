"""Every misuse of the C-level API is a clean error with nothing changed
(capi_shim.pyx: each C call as a Python function, pointers as ints).

The plain forms return NULL (0 here) or -1; the raising forms raise as the
Python API does. After each misuse the pool's ``size`` and ``stats()`` are
what they were, and its blocks hold what they held.
"""

import pytest

import arenapool
from arenapool import InvalidAllocationError

LIMIT = 300 * 1024


@pytest.fixture
def shim(ext):
    return ext.capi_shim


class Probe:
    """A pool with a few live blocks of each kind, filled with known bytes,
    to check that a misuse changed nothing."""

    def __init__(self, shim, limit=None, small=0):
        self.shim = shim
        self.pool = arenapool.Pool(limit=limit)
        self.h = shim.handle(self.pool)
        self.blocks = []
        # `small` more 16-byte blocks: past the registry's few entries (8),
        # its blocks are listed in leaves, looked up by address arithmetic.
        for i, n in enumerate([1, 24, 100, 5000, 0] + [16] * small):
            p = shim.alloc_or_raise(self.h, 1, n)
            shim.fill(p, n, 0x40 + i)
            self.blocks.append((p, n, 0x40 + i))
        self.py = self.pool.alloc(1, 48)
        memoryview(self.py)[:] = b"p" * 48
        self.snapshot = self.state()

    def state(self):
        return self.pool.size, self.pool.stats(), self.shim.size(self.h)

    def resnap(self):
        """After legitimate calls of the test's own (the peak may move)."""
        self.snapshot = self.state()

    def unchanged(self):
        assert self.state() == self.snapshot
        for p, n, byte in self.blocks:
            assert self.shim.read(p, n) == bytes([byte]) * n
        assert bytes(self.py) == b"p" * 48
        return True


def test_a_malloc_pointer_is_refused_and_not_touched(shim):
    probe = Probe(shim)
    foreign = shim.malloc_block(64)
    try:
        shim.fill(foreign, 64, 0x5A)
        assert shim.free_(probe.h, foreign) == -1
        assert shim.realloc(probe.h, foreign, 128) == 0
        with pytest.raises(InvalidAllocationError):
            shim.free_or_raise(probe.h, foreign)
        with pytest.raises(InvalidAllocationError):
            shim.realloc_or_raise(probe.h, foreign, 16)
        assert shim.read(foreign, 64) == b"\x5a" * 64
        assert probe.unchanged()
    finally:
        shim.libc_free(foreign)


def test_another_pools_pointer_is_refused_in_both_pools_state(shim):
    probe = Probe(shim)
    other = Probe(shim)
    theirs, n, byte = other.blocks[2]
    assert shim.free_(probe.h, theirs) == -1
    assert shim.realloc(probe.h, theirs, 1000) == 0
    with pytest.raises(InvalidAllocationError):
        shim.free_or_raise(probe.h, theirs)
    with pytest.raises(InvalidAllocationError):
        shim.realloc_or_raise(probe.h, theirs, 1000)
    assert probe.unchanged() and other.unchanged()
    # In its own pool it is fine.
    assert shim.free_(other.h, theirs) == 0


@pytest.mark.parametrize("small", [0, 20], ids=["few", "leaves"])
def test_pointers_that_are_not_block_starts_are_refused(shim, small):
    probe = Probe(shim, small=small)
    start, n, _ = probe.blocks[3]
    mid, _, _ = probe.blocks[2]  # 100 bytes: granules after its first are inside it
    inside = [mid + 16, mid + 32, mid + 8, mid + 4]
    if small:
        first, _, _ = probe.blocks[5]  # a 16-byte block among its neighbours
        inside += [first + 8, first + 1, first + 15]
    for bad in inside + [start + 16, start + 1, start - 16, probe.py.address, 0, 16, 2**64 - 16]:
        assert shim.free_(probe.h, bad) == -1, hex(bad)
        with pytest.raises(InvalidAllocationError):
            shim.free_or_raise(probe.h, bad)
        if bad:  # realloc(NULL, n) allocates
            assert shim.realloc(probe.h, bad, 8) == 0
            with pytest.raises(InvalidAllocationError):
                shim.realloc_or_raise(probe.h, bad, 8)
    assert probe.unchanged()


@pytest.mark.parametrize("small", [0, 20], ids=["few", "leaves"])
def test_double_free_and_realloc_of_a_freed_pointer(shim, small):
    probe = Probe(shim, small=small)
    p = shim.alloc(probe.h, 3, 8)
    assert shim.free_(probe.h, p) == 0
    probe.resnap()
    for _ in range(2):
        assert shim.free_(probe.h, p) == -1
        assert shim.realloc(probe.h, p, 64) == 0
        with pytest.raises(InvalidAllocationError):
            shim.free_or_raise(probe.h, p)
        with pytest.raises(InvalidAllocationError):
            shim.realloc_or_raise(probe.h, p, 64)
    assert probe.unchanged()
    # A pointer reallocated away is freed too.
    q = shim.alloc(probe.h, 1, 16)
    r = shim.realloc(probe.h, q, 100_000)
    assert r != q
    probe.resnap()
    assert shim.free_(probe.h, q) == -1
    assert probe.unchanged()
    assert shim.free_(probe.h, r) == 0


def test_the_limit_refuses_and_the_pool_keeps_serving(shim):
    probe = Probe(shim, limit=LIMIT)
    victim, n, byte = probe.blocks[1]
    assert shim.alloc(probe.h, 1, 1 << 20) == 0
    assert shim.alloc_nogil(probe.h, 1 << 10, 1 << 10) == 0
    assert shim.realloc(probe.h, victim, 1 << 20) == 0
    with pytest.raises(MemoryError):
        shim.alloc_or_raise(probe.h, 1, 1 << 20)
    with pytest.raises(MemoryError):
        shim.realloc_or_raise(probe.h, victim, 1 << 20)
    assert probe.unchanged()
    p = shim.alloc_or_raise(probe.h, 1, 100)
    assert shim.free_(probe.h, p) == 0
    assert probe.pool.stats()["reserved_bytes"] <= LIMIT


def test_sizes_that_overflow_are_refused(shim):
    probe = Probe(shim)
    victim, n, byte = probe.blocks[2]
    size_max = shim.SIZE_MAX
    for number, elem_size in [(2**63, 2), (size_max, size_max), (2, 2**63 + 1), (1, 2**63), (1, size_max)]:
        assert shim.alloc(probe.h, number, elem_size) == 0
        with pytest.raises(OverflowError):
            shim.alloc_or_raise(probe.h, number, elem_size)
    for new_nbytes in (2**63, size_max, size_max - 15):
        assert shim.realloc(probe.h, victim, new_nbytes) == 0
        assert shim.realloc(probe.h, 0, new_nbytes) == 0
        with pytest.raises(OverflowError):
            shim.realloc_or_raise(probe.h, victim, new_nbytes)
    assert probe.unchanged()


def test_memory_the_system_refuses_is_a_memory_error(shim):
    probe = Probe(shim)
    assert shim.alloc(probe.h, 1 << 20, 1 << 30) == 0  # 1 PiB
    with pytest.raises(MemoryError):
        shim.alloc_or_raise(probe.h, 1 << 20, 1 << 30)
    assert probe.unchanged()


def test_c_pool_refuses_a_closed_pool_and_non_pools(shim):
    pool = arenapool.Pool()
    pool.close()
    with pytest.raises(ValueError, match="closed"):
        shim.handle(pool)
    live = arenapool.Pool()
    for bad in (None, 3, object(), "pool", live.alloc(1, 8), arenapool.Pool, arenapool.Address(1, 8)):
        with pytest.raises(TypeError, match="arenapool.Pool"):
            shim.handle(bad)
    assert live.size == 8 and live.stats()["live_allocations"] == 1


def test_a_closed_pool_refuses_the_raising_forms_with_value_error(shim):
    pool = arenapool.Pool()
    h = shim.handle(pool)
    p = shim.alloc_or_raise(h, 1, 8)
    pool.close()
    with pytest.raises(ValueError, match="closed"):
        shim.alloc_or_raise(h, 1, 8)
    with pytest.raises(ValueError, match="closed"):
        shim.realloc_or_raise(h, p, 16)
    with pytest.raises(ValueError, match="closed"):
        shim.free_or_raise(h, p)
    assert shim.size(h) == 0


def test_errors_are_exactly_the_python_apis(shim):
    assert issubclass(InvalidAllocationError, ValueError)
    probe = Probe(shim)
    with pytest.raises(InvalidAllocationError, match="C API"):
        shim.free_or_raise(probe.h, probe.py.address)
    assert probe.unchanged()
