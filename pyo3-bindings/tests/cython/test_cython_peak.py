"""peak_live_bytes of a pool whose C blocks include zero-size ones and
registry leaves: exact, whatever hidden bytes the engine counts."""

import pytest

import arenapool


@pytest.fixture
def shim(ext):
    return ext.capi_shim


def test_the_peak_is_exact_with_zero_size_blocks_made_after_it(shim):
    pool = arenapool.Pool()
    h = shim.handle(pool)
    big = shim.alloc(h, 1, 100)
    assert pool.stats()["peak_live_bytes"] == 100
    assert shim.free_(h, big) == 0
    # 60 zero-size blocks: the engine counts a hidden byte for each (60 >
    # 0 live bytes, but < 100): the pool's peak must stay 100, not 100 - 60.
    zeros = [shim.alloc(h, 0, 1) for _ in range(60)]
    stats = pool.stats()
    assert stats["live_bytes"] == 0 and stats["peak_live_bytes"] == 100
    for p in zeros:
        assert shim.free_(h, p) == 0
    assert pool.stats()["peak_live_bytes"] == 100


def test_the_peak_counts_neither_registry_leaves_nor_hidden_bytes(shim):
    pool = arenapool.Pool()
    h = shim.handle(pool)
    # Blocks spread over many 4 KiB regions: many registry leaves (each a
    # 1 KiB engine block), none of them live bytes of the pool.
    blocks = [shim.alloc(h, 1, 4000) for _ in range(200)]
    assert pool.size == 200 * 4000
    assert pool.stats()["peak_live_bytes"] == 200 * 4000
    for p in blocks[:100]:
        assert shim.free_(h, p) == 0
    stats = pool.stats()
    assert stats["live_bytes"] == 100 * 4000
    assert stats["peak_live_bytes"] == 200 * 4000
    assert stats["live_allocations"] == 100
    for p in blocks[100:]:
        assert shim.free_(h, p) == 0
    stats = pool.stats()
    assert (stats["live_bytes"], stats["live_allocations"], stats["large_blocks"]) == (0, 0, 0)
    assert stats["reserved_bytes"] > 0  # chunks and the spare leaves stay until close
