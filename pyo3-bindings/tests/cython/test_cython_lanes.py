"""The lanes of a Pool (pyo3-bindings/src/lane.rs) and the registry of its C
blocks (registry.rs), seen from Cython (lanes_work.pyx).

Each thread allocates from the lane of its slot; a block lives in the lane
that made it, and a free or realloc from another thread finds it there.
The registry's leaves are engine blocks, so they count in the pool's
reserved bytes, in total_reserved() and against its limit.
"""

import gc
import os
import queue
import threading

import pytest

import arenapool

LANES = 16  # lane.rs: LANES
REGION = 1 << 12  # registry.rs: a leaf covers one 4 KiB region
LEAF_BYTES = (REGION // 16 + 4) * 4  # a u32 per 16-byte granule, then the count
SPARE_LEAVES = 4  # registry.rs: empty leaves a lane keeps for reuse


class Worker:
    """A thread that runs the calls it is given, so that all of them come
    from one thread (one lane)."""

    def __init__(self):
        self.jobs = queue.Queue()
        self.results = queue.Queue()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            fn, args = job
            try:
                self.results.put((True, fn(*args)))
            except BaseException as err:  # handed to the caller
                self.results.put((False, err))

    def submit(self, fn, *args):
        self.jobs.put((fn, args))

    def result(self, timeout=60):
        ok, value = self.results.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def run(self, fn, *args):
        self.submit(fn, *args)
        return self.result()

    def stop(self):
        self.jobs.put(None)
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def workers():
    made = []

    def make(n):
        new = [Worker() for _ in range(n)]
        made.extend(new)
        return new

    yield make
    for w in made:
        w.stop()


def _state(pool):
    stats = pool.stats()
    return pool.size, stats["live_allocations"], stats["live_bytes"]


def test_blocks_cross_lanes_both_ways(ext, workers):
    """Blocks made by the main thread (the raising form, the GIL held) are
    checked, grown and freed by nogil threads of other lanes (the plain
    forms), while the main thread keeps using its lane; blocks those threads
    make are freed by the main thread; a second free from any thread is
    refused and changes nothing."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    pool = arenapool.Pool()
    h = shim.handle(pool)
    threads = workers(3)

    # Which threads allocate from another lane than the main thread's: a
    # block freed goes back to its maker's lane, so a thread of another lane
    # does not get it back from its next allocation; the main thread does.
    # Three new threads take three consecutive slots: at most one shares
    # the main thread's lane.
    others = []
    for w in threads:
        x = shim.alloc_or_raise(h, 1, 48)
        first, y, second = w.run(lanes.free_then_alloc, h, x, 48)
        assert first == 0 and y and second == 0
        z = shim.alloc_or_raise(h, 1, 48)
        assert z == x, "a block freed by another thread did not go back to its maker's lane"
        shim.free_or_raise(h, z)
        if y != x:
            others.append(w)
    assert len(others) >= 2, "at most one of three new threads may share the main thread's lane"
    assert _state(pool) == (0, 0, 0)

    # Main-made blocks, grown and freed elsewhere, while the main thread
    # allocates and frees in its own lane (the one their reallocs lock).
    given = []
    for i, w in enumerate(others):
        tag = 0x30 + i
        blocks = []
        for k in range(60):
            n = (k * 97) % 2500 + (20000 if k % 15 == 14 else 0)
            p = shim.alloc_or_raise(h, 1, n)
            shim.fill(p, n, tag)
            blocks.append((p, n))
        given.append((w, blocks, tag))
    for w, blocks, tag in given:
        w.submit(lanes.grow_check_free, h, blocks, tag, 12000)
        w.submit(lanes.make_tagged, h, 60, tag + 0x40, tag)
    while any(w.results.qsize() < 2 for w, _, _ in given):
        assert ext.nogil_work.raising_pairs(pool, 50) == 50
    made = []
    for w, blocks, tag in given:
        assert w.result() == 0, "a grown block lost its contents or a call failed"
        theirs = w.result()
        assert theirs is not None, "a nogil allocation failed or was not zeroed"
        made.append((theirs, tag + 0x40))
    live = sum(n for theirs, _ in made for _, n in theirs)
    assert _state(pool) == (live, sum(len(t) for t, _ in made), live)

    # Their blocks, freed by the main thread (the raising form).
    for theirs, tag in made:
        assert lanes.check_and_free_or_raise(h, theirs, tag) == 0
    assert _state(pool) == (0, 0, 0)
    assert shim.size(h) == 0

    # A second free, from another thread than the first one's, is refused.
    a, b = others[0], others[1]
    keep = shim.alloc_or_raise(h, 1, 40)
    shim.fill(keep, 40, 0x5A)
    x = shim.alloc_or_raise(h, 1, 40)
    assert a.run(lanes.free_nogil, h, x) == 0
    before = _state(pool)
    assert before == (40, 1, 40)
    assert b.run(lanes.free_nogil, h, x) == -1
    assert a.run(lanes.free_nogil, h, x) == -1
    assert b.run(lanes.realloc_nogil, h, x, 80) == 0
    with pytest.raises(arenapool.InvalidAllocationError):
        shim.free_or_raise(h, x)
    assert _state(pool) == before and b.run(lanes.size_nogil, h) == 40
    # ... and the other way: made by a nogil thread, freed by the main one.
    y = a.run(lanes.alloc_nogil, h, 1, 24)
    assert y and shim.free_or_raise(h, y) == 0
    assert a.run(lanes.free_nogil, h, y) == -1
    assert b.run(lanes.free_nogil, h, y) == -1
    assert shim.free_(h, y) == -1
    assert _state(pool) == before
    assert lanes.holds_tag(keep, 40, 0x5A)
    assert b.run(lanes.free_nogil, h, keep) == 0
    assert _state(pool) == (0, 0, 0)


def test_more_threads_than_lanes(ext):
    """40 threads at once (lanes are shared: 16 of them) churn on one pool
    with the GIL released, each block tagged with its thread; then each
    thread's blocks are checked and freed by the next thread."""
    work = ext.nogil_work
    count = 40
    assert count > 2 * LANES
    pool = arenapool.Pool()
    start = threading.Barrier(count)
    churned = [None] * count
    freed = [None] * count

    def run(i):
        start.wait()
        churned[i] = work.run_churn(pool, i + 1, 7000 + i, 1500, 16)
        start.wait()  # every thread's blocks made before any is freed
        j = (i + 1) % count
        freed[i] = work.check_and_free(pool, churned[j][1], j + 1)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    statuses = [c[0] for c in churned]
    assert statuses == [0] * count, statuses
    assert freed == [0] * count, freed
    # The blocks the threads had kept were all distinct and disjoint.
    spans = sorted((p, n) for _, kept in churned for p, n in kept)
    assert all(p + max(n, 1) <= q for (p, n), (q, _) in zip(spans, spans[1:]))
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_the_registry_is_counted_in_reserved_bytes(ext):
    """1e5 kept C blocks of 16 bytes: the registry's leaves (4 bytes per
    16-byte granule of each 4 KiB region used) are in the pool's
    reserved_bytes and total_reserved(), and left out of its live counts."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    n, size = 100_000, 16
    gc.collect()
    before = arenapool.total_reserved()
    pool = arenapool.Pool()
    h = shim.handle(pool)
    blocks = lanes.Blocks(n)
    assert blocks.alloc(h, n, size) == n
    regions = len({p // REGION for p in blocks.addresses()})
    assert regions >= n * size // REGION
    stats = pool.stats()
    assert stats["live_allocations"] == n and stats["live_bytes"] == n * size == pool.size
    assert stats["large_blocks"] == 0, "the leaves are not the pool's blocks"
    reserved = stats["reserved_bytes"]
    assert reserved >= n * size + regions * LEAF_BYTES
    assert arenapool.total_reserved() - before == reserved

    # The same blocks from Python (not listed): the difference is the leaves,
    # one per region used and a spare (each a large block of the engine, with
    # its header and the padding of its 128-byte alignment).
    plain = arenapool.Pool()
    kept = [plain.alloc(1, size) for _ in range(n)]
    leaves = reserved - plain.stats()["reserved_bytes"]
    assert regions * LEAF_BYTES <= leaves <= (regions + 1) * (LEAF_BYTES + 256)
    del kept
    plain.close()

    assert blocks.free_every(h) == 0
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0
    # Emptied leaves beyond a few spares went back to the system.
    assert pool.stats()["reserved_bytes"] <= reserved - (regions - SPARE_LEAVES - 1) * LEAF_BYTES
    del pool
    assert arenapool.total_reserved() == before


def _fill_to_the_limit(pool, h, blocks):
    """16-byte C blocks until the pool refuses one, checking reserved_bytes
    against the limit every 1024 blocks; the number made."""
    total = 0
    while True:
        made = blocks.alloc(h, 1024, 16)
        total += made
        assert pool.stats()["reserved_bytes"] <= pool.limit
        if made < 1024:
            return total


def test_a_limit_counts_the_registry_and_the_pool_serves_again(ext):
    shim, lanes = ext.capi_shim, ext.lanes_work
    limit = 1 << 20
    pool = arenapool.Pool(limit=limit)
    h = shim.handle(pool)
    blocks = lanes.Blocks(limit // 16)
    first = _fill_to_the_limit(pool, h, blocks)
    assert first > 0
    regions = len({p // REGION for p in blocks.addresses()})
    # The leaves are within the limit: fewer blocks than 16 bytes each allow.
    assert first * 16 + regions * LEAF_BYTES <= limit
    assert _state(pool) == (first * 16, first, first * 16)
    # The raising forms work in the GIL's lane, which may still fit a few
    # blocks where this thread's lane needed a new registry leaf: fill it.
    extra = []
    while len(extra) <= limit // 16:
        try:
            extra.append(shim.alloc_or_raise(h, 1, 16))
        except MemoryError:
            break
    assert len(extra) * 16 < limit // 16
    state = _state(pool)
    assert state == ((first + len(extra)) * 16, first + len(extra), (first + len(extra)) * 16)
    # Every kind of call fails cleanly at the limit, and changes nothing.
    # (Python-level: a block too large to fit; a small one may still fit
    # where a C block, which may need a registry leaf, does not.)
    assert shim.alloc(h, 1, 16) == 0 and lanes.alloc_nogil(h, 1, 16) == 0
    with pytest.raises(MemoryError):
        shim.alloc_or_raise(h, 1, 16)
    with pytest.raises(MemoryError):
        pool.alloc(1, 1 << 16)
    p = blocks.addresses()[0]
    assert shim.realloc(h, p, 1 << 20) == 0
    with pytest.raises(MemoryError):
        shim.realloc_or_raise(h, p, 1 << 20)
    assert _state(pool) == state
    assert pool.stats()["reserved_bytes"] <= limit

    # After the blocks are freed, the pool serves as many again.
    for q in extra:
        assert shim.free_(h, q) == 0
    assert blocks.free_every(h) == 0
    assert _state(pool) == (0, 0, 0)
    again = _fill_to_the_limit(pool, h, blocks)
    assert again >= first * 9 // 10
    assert blocks.free_every(h) == 0
    assert _state(pool) == (0, 0, 0)
    assert pool.stats()["reserved_bytes"] <= limit


def test_at_the_limit_freed_c_blocks_are_served_again(ext):
    """Fails on a09f0f1 (fixed by 15193e1): each C call first made sure of a
    spare registry leaf, even for a block landing in a region that has one,
    so that at the limit nothing was served from freed blocks until a region
    emptied."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    pool = arenapool.Pool(limit=1 << 20)
    h = shim.handle(pool)
    blocks = lanes.Blocks(1 << 16)
    first = _fill_to_the_limit(pool, h, blocks)
    # Every other block freed (no region emptied): those 16-byte slots wait
    # in the free lists, and their regions keep their leaves.
    assert blocks.free_every(h, 2) == 0
    half = first - len(blocks)
    assert blocks.alloc(h, half, 16) == half
    assert pool.stats()["reserved_bytes"] <= pool.limit
    assert _state(pool) == (first * 16, first, first * 16)


def test_at_the_limit_a_c_block_can_shrink(ext):
    shim, lanes = ext.capi_shim, ext.lanes_work
    pool = arenapool.Pool(limit=1 << 20)
    h = shim.handle(pool)
    blocks = lanes.Blocks(1 << 16)
    first = _fill_to_the_limit(pool, h, blocks)
    p = blocks.addresses()[1]
    shim.fill(p, 16, 0x77)
    q = shim.realloc(h, p, 8)  # needs no new memory (in place: same size class)
    assert q != 0 and shim.read(q, 8) == b"w" * 8
    assert _state(pool) == (first * 16 - 8, first, first * 16 - 8)


def test_alloc_free_cycles_do_not_grow_reserved_bytes(ext):
    shim, lanes = ext.capi_shim, ext.lanes_work
    n = 100_000
    pool = arenapool.Pool()
    h = shim.handle(pool)
    blocks = lanes.Blocks(n)
    full, empty = [], []
    for _ in range(5):
        assert blocks.alloc(h, n, 16) == n
        full.append(pool.stats()["reserved_bytes"])
        assert blocks.free_every(h) == 0
        empty.append(pool.stats()["reserved_bytes"])
        assert _state(pool) == (0, 0, 0)
    assert all(r <= full[0] for r in full[1:]), full
    assert all(r <= empty[0] for r in empty[1:]), empty
    assert empty[0] < full[0]


def test_a_thread_without_a_lane_yet_cannot_use_a_closed_pool(ext, workers):
    """Fails on a09f0f1 (fixed by 15193e1): close() shut only the lanes made
    so far, so a thread whose lane was not made yet got a new, open one
    afterwards and allocated from the closed pool."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    pool = arenapool.Pool()
    h = shim.handle(pool)
    (w,) = workers(1)
    assert w.run(lanes.alloc_nogil, h, 1, 8)  # the worker's lane, not this thread's
    pool.close()
    late = workers(1)[0]  # a new thread: a new slot, no lane yet
    results = {
        "main alloc": shim.alloc(h, 1, 8),
        "main alloc_or_raise": _raises(shim.alloc_or_raise, h, 1, 8),
        "main realloc(NULL)": shim.realloc(h, 0, 8),
        "new thread alloc": late.run(lanes.alloc_nogil, h, 1, 8),
        "main Pool.alloc": _raises(pool.alloc, 1, 8),
        "main size": shim.size(h),
    }
    assert results == {
        "main alloc": 0,
        "main alloc_or_raise": ValueError,
        "main realloc(NULL)": 0,
        "new thread alloc": 0,
        "main Pool.alloc": ValueError,
        "main size": 0,
    }


def _raises(fn, *args):
    try:
        return fn(*args)
    except Exception as err:
        return type(err)


# ---- the GIL's lane (lane.rs, "The GIL's lane")

GIL_LANE = LANES  # lane.rs: GIL_LANE, after the thread lanes


def _lanes(pool):
    return dict(arenapool._arenapool._lanes(pool))


def _ownable(shim):
    """Whether this process owns lanes at all (membarrier(2), and not
    ARENAPOOL_NO_MEMBARRIER): a fresh pool's first lane tells."""
    pool = arenapool.Pool()
    shim.free_or_raise(shim.handle(pool), shim.alloc_or_raise(shim.handle(pool), 1, 16))
    return _lanes(pool) == {GIL_LANE: True}


def test_gil_holders_on_any_thread_share_the_gils_lane_and_it_stays_owned(ext, workers):
    """Fails before the GIL's lane: each Python thread allocated in the
    lane of its own slot (so two lanes here), and the first free from the
    other thread ended that lane's ownership for good."""
    shim = ext.capi_shim
    ownable = _ownable(shim)
    pool = arenapool.Pool()
    h = shim.handle(pool)
    (w,) = workers(1)
    mine = [shim.alloc_or_raise(h, 1, 16 + i) for i in range(12)]
    theirs = [w.run(shim.alloc_or_raise, h, 1, 16 + i) for i in range(12)]
    for i, p in enumerate(mine + theirs):
        shim.fill(p, 16, i + 1)
    py_mine, py_theirs = pool.alloc(1, 40), w.run(pool.alloc, 1, 40)
    # Each thread frees what the other made, at both levels.
    for i, p in enumerate(theirs):
        assert shim.read(p, 16) == bytes([12 + i + 1]) * 16
        shim.free_or_raise(h, p)
    for i, p in enumerate(mine):
        assert w.run(shim.read, p, 16) == bytes([i + 1]) * 16
        w.run(shim.free_or_raise, h, p)
    pool.free(py_theirs)
    w.run(pool.free, py_mine)
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0
    assert _lanes(pool) == {GIL_LANE: ownable}


def test_a_plain_call_holding_the_gil_keeps_the_gils_lane_owned(ext):
    """A plain form called holding the GIL (a cdef function without
    nogil) frees a block of the GIL's lane as its owner would: found in
    the GIL's lane after its own thread lane, with the ownership kept."""
    shim = ext.capi_shim
    ownable = _ownable(shim)
    pool = arenapool.Pool()
    h = shim.handle(pool)
    p = shim.alloc_or_raise(h, 1, 100)
    q = shim.alloc(h, 1, 100)  # the plain form: this thread's lane
    assert shim.free_(h, p) == 0
    lanes = _lanes(pool)
    assert lanes[GIL_LANE] == ownable and len(lanes) == 2
    assert shim.free_or_raise(h, q) == 0
    assert pool.size == 0
    assert _lanes(pool)[GIL_LANE] == ownable


def test_a_nogil_free_of_a_gil_lane_block_ends_its_ownership_once(ext, workers):
    shim, lanes = ext.capi_shim, ext.lanes_work
    pool = arenapool.Pool()
    h = shim.handle(pool)
    blocks = [shim.alloc_or_raise(h, 1, 48) for _ in range(3)]
    for i, p in enumerate(blocks):
        shim.fill(p, 48, 0x61 + i)
    (w,) = workers(1)
    # Without the GIL a thread cannot be the GIL's lane's owner: it takes
    # the lane's lock, and ends the ownership for good.
    assert w.run(lanes.free_nogil, h, blocks[0]) == 0
    assert _lanes(pool)[GIL_LANE] is False
    # The lane serves on, through its lock, with every count exact.
    more = shim.alloc_or_raise(h, 1, 48)
    assert shim.is_zero(more, 48)
    assert pool.size == 3 * 48
    for i, p in enumerate(blocks[1:], 1):
        assert shim.read(p, 48) == bytes([0x61 + i]) * 48
        assert shim.free_or_raise(h, p) == 0
    assert w.run(lanes.free_nogil, h, more) == 0
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_large_python_level_blocks_work_without_the_gil_in_a_thread_lane(ext):
    """A new block of 1 MiB or more is made with the GIL released, in this
    thread's lane; a block of the GIL's lane grown that large is resized
    holding the GIL, in its own lane, whose ownership stays."""
    shim = ext.capi_shim
    ownable = _ownable(shim)
    pool = arenapool.Pool()
    small = pool.alloc(1, 64)
    memoryview(small)[:] = b"s" * 64
    large = pool.alloc(1, 2 << 20)
    lanes = _lanes(pool)
    assert len(lanes) == 2 and lanes[GIL_LANE] == ownable
    grown = pool.realloc(small, 3 << 20)
    assert bytes(memoryview(grown)[:64]) == b"s" * 64
    assert _lanes(pool) == lanes
    assert pool.size == (2 << 20) + (3 << 20)
    pool.free(grown)
    pool.free(large)
    assert pool.size == 0


# ---- owner slots go back when their threads end (lane.rs, OWNER_SLOTS)


def _thread_lanes(pool):
    return {i: owned for i, owned in _lanes(pool).items() if i != GIL_LANE}


def _pair_on_a_new_thread(shim, lanes):
    """A new pool, and one alloc + free of 16 B on a thread started and
    joined here: the free's return codes, and the pool's thread lanes read
    before `size` (which ends ownership)."""
    pool = arenapool.Pool()
    h = shim.handle(pool)
    rcs = []
    t = threading.Thread(target=lambda: rcs.append(lanes.free_nogil(h, lanes.alloc_nogil(h, 1, 16))))
    t.start()
    t.join(10)
    return pool, rcs, _thread_lanes(pool)


def test_threads_that_end_give_their_owned_lanes_to_the_next(ext):
    """Fails when slots are only ever counted up: after 16 threads in the
    process's life, every new thread shared a lane through its lock (two
    xchg a pair) and owned none, however few were alive."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    ownable = _ownable(shim)
    seen = []
    for _ in range(2 * LANES + 2):
        pool, rcs, made = _pair_on_a_new_thread(shim, lanes)
        assert rcs == [0] and pool.size == 0
        assert len(made) == 1, made
        ((index, owned),) = made.items()
        assert owned == ownable, (index, seen)
        seen.append(index)
    # One thread alive at a time: each took the same lowest free slot.
    assert len(set(seen)) == 1, seen


def test_threads_alive_together_own_distinct_lanes(ext):
    """Two threads alive at once never hold one owner slot: each made and
    owns a lane of its own, and each reads back what it wrote."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    ownable = _ownable(shim)
    pool = arenapool.Pool()
    h = shim.handle(pool)
    both = threading.Barrier(2)
    made = [None, None]

    def run(i):
        p = lanes.alloc_nogil(h, 1, 32)
        shim.fill(p, 32, 0x41 + i)
        both.wait()  # neither ends before the other has its slot
        made[i] = shim.read(p, 32)
        both.wait()
        assert lanes.free_nogil(h, p) == 0

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    lanes_made = _thread_lanes(pool)  # before `size`, which ends ownership
    assert made == [b"\x41" * 32, b"\x42" * 32]
    assert pool.size == 0
    assert len(lanes_made) == 2 and set(lanes_made.values()) == {ownable}, lanes_made


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forks_child_frees_the_slots_of_the_threads_it_left_behind(ext):
    """A thread alive at the fork does not exist in the child: its owner
    slot is free there, and the child's first new thread takes the lowest
    free slot, at most that thread's (it took the lowest free one)."""
    shim, lanes = ext.capi_shim, ext.lanes_work
    pool = arenapool.Pool()
    h = shim.handle(pool)
    holding, release, index = threading.Event(), threading.Event(), []

    def worker():
        lanes.free_nogil(h, lanes.alloc_nogil(h, 1, 16))
        index.append(next(iter(_thread_lanes(pool))))
        holding.set()
        release.wait(10)

    t = threading.Thread(target=worker)
    t.start()
    assert holding.wait(10)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _, got, made = _pair_on_a_new_thread(shim, lanes)
            code = 10 + next(iter(made)) if got == [0] and len(made) == 1 else 2
        finally:
            os._exit(code)
    release.set()
    t.join(10)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code >= 10, code
    assert code - 10 <= index[0], (code - 10, index[0])
