"""Unit tests of the Python face: allocation, buffers, errors, lifetimes."""

import gc
import sys

import numpy as np
import pytest

import arenapool
from arenapool import Address, InvalidAllocationError, Pool


def test_alloc_is_zeroed_aligned_and_sized():
    pool = Pool()
    for number, elem_size in [(1, 1), (10, 8), (3, 7), (1, 4096), (2, 5000), (0, 8), (8, 0)]:
        a = pool.alloc(number, elem_size)
        assert len(a) == a.nbytes == number * elem_size
        assert a.address % 16 == 0
        assert bytes(a) == bytes(number * elem_size)
    assert pool.size == 80 + 21 + 4096 + 10000 + 1 + 0


def test_memoryview_and_numpy_are_zero_copy_and_writable():
    pool = Pool()
    a = pool.alloc(4, 8)
    view = memoryview(a)
    assert not view.readonly and view.nbytes == 32
    view[0] = 9
    arr = np.frombuffer(a, dtype="i8")
    arr[1] = -5
    assert bytes(a)[0] == 9
    assert np.frombuffer(a, dtype="i8")[1] == -5
    assert arr.ctypes.data == a.address


def test_free_recycles_and_invalidates():
    pool = Pool()
    a = pool.alloc(1, 64)
    addr = a.address
    pool.free(a)
    assert pool.size == 0
    b = pool.alloc(1, 64)
    assert b.address == addr and bytes(b) == bytes(64)
    for use in (len, bytes, memoryview, lambda x: x.address, lambda x: x.nbytes):
        with pytest.raises(InvalidAllocationError):
            use(a)
    with pytest.raises(InvalidAllocationError):
        pool.free(a)
    with pytest.raises(InvalidAllocationError):
        pool.realloc(a, 10)
    assert "invalid" in repr(a)


def test_realloc_keeps_contents_zeroes_tail_and_invalidates_the_old():
    pool = Pool()
    a = pool.alloc(1, 10)
    memoryview(a)[:] = b"0123456789"
    b = pool.realloc(a, 100_000)
    assert bytes(b)[:10] == b"0123456789" and bytes(b)[10:] == bytes(99_990)
    with pytest.raises(InvalidAllocationError):
        len(a)
    c = pool.realloc(b, 4)
    assert bytes(c) == b"0123"
    assert pool.size == 4
    assert pool.stats()["live_allocations"] == 1


def test_foreign_allocations_are_refused():
    p, q = Pool(), Pool()
    a = p.alloc(1, 8)
    with pytest.raises(InvalidAllocationError):
        q.free(a)
    with pytest.raises(InvalidAllocationError):
        q.realloc(a, 16)
    assert len(a) == 8 and p.size == 8 and q.size == 0


def test_bad_sizes_raise():
    pool = Pool()
    with pytest.raises(OverflowError):
        pool.alloc(-1, 8)
    with pytest.raises(OverflowError):
        pool.alloc(2**62, 8)
    with pytest.raises(OverflowError):
        pool.alloc(2**64, 1)
    with pytest.raises(OverflowError):
        pool.alloc(1, sys.maxsize)
    with pytest.raises(TypeError):
        pool.alloc(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pool.alloc("3", 2)  # type: ignore[arg-type]
    with pytest.raises(MemoryError):
        pool.alloc(2**20, 2**30)
    a = pool.alloc(1, 8)
    with pytest.raises(OverflowError):
        pool.realloc(a, -1)
    with pytest.raises(OverflowError):
        pool.realloc(a, sys.maxsize)
    assert len(a) == 8
    assert pool.size == 8


def test_limit_raises_memory_error_and_keeps_serving():
    pool = Pool(limit=300 * 1024)
    assert pool.limit == 300 * 1024
    a = pool.alloc(1, 1000)
    memoryview(a)[:4] = b"keep"
    with pytest.raises(MemoryError):
        pool.alloc(1, 1 << 20)
    with pytest.raises(MemoryError):
        pool.realloc(a, 1 << 20)
    assert bytes(a)[:4] == b"keep" and len(a) == 1000
    assert pool.alloc(1, 100).nbytes == 100
    assert pool.stats()["reserved_bytes"] <= 300 * 1024


def test_buffer_exports_pin_their_allocation():
    pool = Pool()
    a = pool.alloc(1, 16)
    view = memoryview(a)
    with pytest.raises(BufferError):
        pool.free(a)
    with pytest.raises(BufferError):
        pool.realloc(a, 32)
    arr = np.frombuffer(a, dtype="u1")
    view.release()
    with pytest.raises(BufferError):
        pool.free(a)
    del arr
    gc.collect()
    pool.free(a)
    pool.close()


def test_close_and_context_manager():
    with Pool() as pool:
        a = pool.alloc(1, 8)
        assert not pool.closed
    assert pool.closed
    with pytest.raises(InvalidAllocationError):
        len(a)
    with pytest.raises(InvalidAllocationError):
        memoryview(a)
    for call in (lambda: pool.alloc(1, 1), lambda: pool.size, pool.stats, lambda: pool.free(a)):
        with pytest.raises(ValueError):
            call()
    assert "closed" in repr(pool)
    pool.close()  # closing twice is fine


def test_allocations_keep_their_pool_alive():
    before = arenapool.total_reserved()
    pool = Pool()
    a = pool.alloc(1, 1 << 16)
    arr = np.frombuffer(a, dtype="u1")
    held = arenapool.total_reserved()
    assert held > before
    del pool, a
    gc.collect()
    arr[:] = 7  # memory still alive through the array -> view -> allocation -> pool
    assert arenapool.total_reserved() == held
    assert arr.base is not None and arr.sum() == 7 * (1 << 16)
    del arr
    gc.collect()
    assert arenapool.total_reserved() == before


def test_allocation_pool_and_repr():
    pool = Pool()
    a = pool.alloc(2, 8)
    assert a.pool is pool
    assert "nbytes=16" in repr(a)
    assert "live_allocations=1" in repr(pool) and "live_bytes=16" in repr(pool)
    assert set(pool.stats()) == {
        "live_allocations", "live_bytes", "reserved_bytes", "free_list_bytes",
        "peak_live_bytes", "chunks", "large_blocks",
    }


def test_address_is_cymem_compatible():
    before = arenapool.total_reserved()
    addr = Address(1, 16)
    assert addr.addr % 16 == 0 and addr.nbytes == 16
    assert repr(addr) == f"<arenapool.Address addr={addr.addr:#x} nbytes=16>"
    import ctypes
    assert bytes((ctypes.c_char * 16).from_address(addr.addr)) == bytes(16)
    assert arenapool.total_reserved() > before
    del addr
    gc.collect()
    assert arenapool.total_reserved() == before
    with pytest.raises(OverflowError):
        Address(2**62, 8)
    with pytest.raises(OverflowError):
        Address(-1, 1)


def test_large_requests_release_the_gil_and_work():
    pool = Pool()
    a = pool.alloc(1, 8 << 20)
    assert np.frombuffer(a, dtype="u8").sum() == 0
    memoryview(a)[:4] = b"big!"
    b = pool.realloc(a, 16 << 20)  # grow, GIL released
    assert len(b) == 16 << 20 and bytes(b)[:4] == b"big!"
    c = pool.realloc(b, 2 << 20)  # shrink, still large
    d = pool.realloc(c, 100)  # shrink to a small block
    assert bytes(d)[:4] == b"big!" and len(d) == 100
    e = pool.alloc(1, 3 << 20)
    pool.free(e)
    pool.free(d)
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_no_panic_exception_ever_reaches_python():
    pool = Pool(limit=0)
    assert pool.alloc(0, 1).nbytes == 0
    for args, expected in [((1, 1), MemoryError), ((2**63, 2), OverflowError), ((1, 2**63), OverflowError)]:
        # pytest.raises lets a PanicException (a BaseException) through: it would fail the test.
        with pytest.raises(expected):
            pool.alloc(*args)
