"""Closing a pool while buffers of its allocations are exported: close(),
__exit__ and collection never fail because of them; what is exported stays
valid, its memory held until the last export is released, then freed."""

import ctypes
import gc
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import arenapool
from arenapool import InvalidAllocationError, Pool


def settled():
    gc.collect()
    return arenapool.total_reserved()


def test_a_with_block_ends_cleanly_with_a_numpy_array_alive():
    start = settled()
    with Pool() as pool:
        arr = np.frombuffer(pool.alloc(1000, 8), "f8")
        arr[:] = np.arange(1000)
        spare = pool.alloc(1, 64)
    # Closed without BufferError; the array still reads and writes its data.
    assert pool.closed
    assert arr[999] == 999.0
    arr[0] = -1.0
    assert arr[0] == -1.0
    with pytest.raises(ValueError):
        pool.alloc(1, 8)
    with pytest.raises(InvalidAllocationError):
        len(spare)  # an unexported allocation of a closed pool
    assert settled() > start  # held for the array
    del arr
    assert settled() == start


@pytest.mark.parametrize("kind", ["memoryview", "slice", "ctypes", "numpy"])
def test_every_kind_of_view_outlives_close(kind):
    start = settled()
    pool = Pool()
    a = pool.alloc(1, 256)
    memoryview(a)[:] = bytes(range(256))
    if kind == "memoryview":
        view = memoryview(a)
        read = lambda: bytes(view[250:256])  # noqa: E731
    elif kind == "slice":
        view = memoryview(a)[250:256]
        read = lambda: bytes(view)  # noqa: E731
    elif kind == "ctypes":
        view = (ctypes.c_ubyte * 256).from_buffer(a)
        read = lambda: bytes(view[250:256])  # noqa: E731
    else:
        view = np.frombuffer(a, "u1")[250:]
        read = lambda: view.tobytes()  # noqa: E731
    pool.close()
    assert read() == bytes(range(250, 256))
    with pytest.raises(ValueError):
        pool.free(a)
    del a
    assert settled() > start
    del view, read
    assert settled() == start


def test_the_bodys_exception_is_the_one_raised():
    start = settled()
    with pytest.raises(KeyError) as raised:
        with Pool() as pool:
            view = memoryview(pool.alloc(1, 16))
            raise KeyError("from the body")
    assert raised.value.__context__ is None
    assert pool.closed and bytes(view) == bytes(16)
    del view
    assert settled() == start


def test_collection_with_a_view_alive_frees_at_the_last_release():
    start = settled()
    pool = Pool()
    views = [memoryview(pool.alloc(1, 1 << 16)) for _ in range(3)]
    views[0][:4] = b"kept"
    del pool  # the views keep their allocations, and so the pool, alive
    assert settled() > start
    assert bytes(views[0][:4]) == b"kept"
    views.pop()
    views.pop()
    assert settled() > start
    views.clear()
    assert settled() == start


def test_memory_of_lanes_without_exports_is_freed_at_close():
    start = settled()
    pool = Pool()
    kept = np.frombuffer(pool.alloc(1, 64), "u1")
    import threading

    def other():
        # Another thread's lane: 4 MiB, none of it exported.
        blocks.append(pool.alloc(1, 4 << 20))

    blocks = []
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert settled() - start > 4 << 20
    pool.close()
    held = settled() - start
    assert 0 < held < 1 << 20, held  # the other lane is gone, this one held
    del kept, blocks
    assert settled() == start


def test_sys_exit_inside_a_with_block_exits_with_its_status():
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import arenapool
        with arenapool.Pool() as pool:
            arr = np.frombuffer(pool.alloc(10, 8), "f8")
            sys.exit(0)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "BufferError" not in done.stderr


def test_cast_gives_a_pinned_typed_view():
    start = settled()
    pool = Pool()
    a = pool.alloc(4, 4)
    ints = a.cast("i")
    ints[3] = -7
    assert ints.format == "i" and len(ints) == 4 and ints.tolist() == [0, 0, 0, -7]
    grid = a.cast("i", (2, 2))
    assert grid.shape == (2, 2) and grid[1, 1] == -7
    with pytest.raises(BufferError):
        pool.free(a)  # pinned by the views
    del grid
    pool.close()
    assert ints[3] == -7  # valid through close
    del a, ints
    assert settled() == start


def test_ctypes_from_buffer_is_the_pinned_route_for_ctypes():
    pool = Pool()
    a = pool.alloc(4, 4)
    arr = (ctypes.c_int * 4).from_buffer(a)
    arr[0] = 42
    assert a.cast("i")[0] == 42
    with pytest.raises(BufferError):
        pool.free(a)
    del arr
    gc.collect()
    pool.free(a)


def test_close_frees_every_unexported_block_of_a_lane_with_exports():
    # One thread, so one lane: 64 large blocks of 1 MiB and many small ones,
    # one large block exported. close() frees all the rest (the lane used
    # to keep everything until the view went: 64 MiB for an 8 KiB view).
    start = settled()
    pool = Pool()
    blocks = [pool.alloc(1, 1 << 20) for _ in range(64)]
    small = [pool.alloc(1, 48) for _ in range(10_000)]
    exported = pool.alloc(1000, 8)
    view = np.frombuffer(exported, "f8")
    view[:] = 7.0
    assert settled() - start > 64 << 20
    pool.close()
    held = settled() - start
    assert 8000 <= held < 8000 + 4096, held  # the exported block alone
    assert (view == 7.0).all()
    view[0] = 1.0  # still writable
    del view
    assert settled() == start
    del blocks, small, exported


def test_each_exported_block_is_freed_at_its_own_last_release():
    start = settled()
    pool = Pool()
    first, second = pool.alloc(1, 1 << 20), pool.alloc(1, 1 << 20)
    a = memoryview(first)
    b1, b2 = memoryview(second), np.frombuffer(second, "u1")
    pool.close()
    both = settled() - start
    assert 2 << 20 <= both < (2 << 20) + 4096, both
    del a  # first's memory goes now, not with the last view of the lane
    assert settled() - start < both - (1 << 20) + 4096
    del b1  # second still has an export
    b2[:4] = 1
    assert settled() - start >= 1 << 20
    del b2
    assert settled() == start


def test_a_small_exported_block_keeps_the_chunks_and_frees_the_large_blocks():
    # A small block lives in a chunk, which cannot be given back in part:
    # the chunks stay until its view goes; every large block goes at close.
    start = settled()
    pool = Pool()
    large = [pool.alloc(1, 1 << 20) for _ in range(16)]
    small = pool.alloc(1, 64)
    view = memoryview(small)
    view[:] = b"x" * 64
    before_close = settled() - start
    pool.close()
    held = settled() - start
    assert 64 <= held < 1 << 20, (held, before_close)
    assert bytes(view) == b"x" * 64
    del view
    assert settled() == start
    del large
