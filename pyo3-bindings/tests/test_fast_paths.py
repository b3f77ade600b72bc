"""The hand-made call paths (``Address``, ``Allocation``, ``Pool()`` and
``Pool.alloc/free/realloc``): every way Python can call them parses as a
``def`` would, bad arguments raise the usual exceptions with the pool intact,
and what is not tracked by the cyclic GC is still freed."""

import gc
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import arenapool
from arenapool import Address, Allocation, Pool


def test_alloc_free_realloc_take_keywords_and_positions():
    pool = Pool()
    a = pool.alloc(number=2, elem_size=8)
    b = pool.alloc(2, elem_size=8)
    c = Pool.alloc(pool, 1, 16)  # through the class
    assert [len(x) for x in (a, b, c)] == [16, 16, 16]
    d = pool.realloc(allocation=a, new_nbytes=32)
    e = pool.realloc(b, new_nbytes=48)
    assert (len(d), len(e)) == (32, 48)
    pool.free(allocation=d)
    pool.free(e)
    pool.free(c)
    assert pool.size == 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.alloc(1), "missing required argument 'elem_size'"),
        (lambda p: p.alloc(1, 2, 3), "takes at most 2 arguments"),
        (lambda p: p.alloc(1, 2, number=3), "multiple values for argument 'number'"),
        (lambda p: p.alloc(1, size=2), "unexpected keyword argument 'size'"),
        (lambda p: p.free(), "missing required argument 'allocation'"),
        (lambda p: p.free(42), "expected Allocation, got 'int'"),
        (lambda p: p.realloc(memoryview(b"x"), 8), "expected Allocation, got 'memoryview'"),
        (lambda p: p.alloc(1.0, 2), "'float' object cannot be interpreted as an integer"),
        (lambda p: Pool.alloc(42, 1, 2), "doesn't apply to a 'int' object"),
        (lambda p: Pool("big"), "'str' object cannot be interpreted as an integer"),
        (lambda p: Pool(1, 2), "takes at most 1 argument "),
        (lambda p: Address(1), "missing required argument 'elem_size'"),
        (lambda p: Address(1, 2, elem_size=2), "multiple values for argument 'elem_size'"),
        (lambda p: Address(1, 2, 3), "takes at most 2 arguments"),
        (lambda p: Address(1, size=2), "unexpected keyword argument 'size'"),
    ],
)
def test_bad_arguments_raise_type_error_and_change_nothing(call, message):
    pool = Pool()
    kept = pool.alloc(1, 8)
    memoryview(kept)[:] = b"arenapoo"
    with pytest.raises(TypeError, match=message):
        call(pool)
    assert pool.size == 8 and bytes(kept) == b"arenapoo"


def test_sizes_accept_index_objects_and_refuse_negatives():
    pool = Pool(limit=np.int64(1 << 20))
    assert pool.limit == 1 << 20
    assert len(pool.alloc(np.int32(3), np.uint8(5))) == 15
    assert Address(np.int64(2), 8).nbytes == 16
    assert Address(True, 3).nbytes == 3  # bool is an int, as for a def
    for bad in (lambda: pool.alloc(-1, 1), lambda: Address(1, -1), lambda: Pool(-1)):
        with pytest.raises(OverflowError):
            bad()
    assert pool.size == 15


def test_address_inline_and_separate_blocks_are_zeroed_aligned_and_counted():
    gc.collect()
    before = arenapool.total_reserved()
    import ctypes

    # Small blocks live inside the object, large ones beside it.
    sizes = [0, 1, 15, 16, 17, 400, 464, 465, 4096, 1 << 20]
    addresses = [Address(1, n) for n in sizes]
    for address, n in zip(addresses, sizes):
        assert address.nbytes == n and address.addr % 16 == 0
        assert bytes((ctypes.c_char * max(n, 1)).from_address(address.addr)) == bytes(max(n, 1))
        ctypes.memset(address.addr, 0xAB, max(n, 1))  # writable, all of it
    counted = sum(max(16, -(-n // 16) * 16) for n in sizes)
    assert arenapool.total_reserved() - before == counted
    assert len({a.addr for a in addresses}) == len(sizes)
    del addresses, address
    assert arenapool.total_reserved() == before


def test_address_new_through_the_tuple_path():
    # ``Address.__new__`` is the slot (a tuple of arguments), not the vector
    # call ``Address(...)`` takes.
    a = Address.__new__(Address, 3, 4)
    b = Address.__new__(Address, number=1, elem_size=2)
    assert (a.nbytes, b.nbytes) == (12, 2)
    with pytest.raises(TypeError):
        Address.__new__(Address, 1)
    with pytest.raises(OverflowError):
        Address.__new__(Address, 2**62, 8)


def test_the_types_are_final_and_immutable():
    for ty in (Address, Allocation, Pool):
        with pytest.raises(TypeError):
            type("Sub", (ty,), {})
    with pytest.raises(TypeError):
        Allocation()  # made by Pool.alloc only
    with pytest.raises((TypeError, AttributeError)):
        Address.addr = 1


def test_allocations_and_addresses_are_not_gc_tracked_yet_owners_free_them():
    # No cycle can pass through an allocation (its one reference is to a
    # pool, which references nothing), so the collector never walks them;
    # an owner in a cycle still frees its allocations and pool.
    pool = Pool()
    a = pool.alloc(1, 16)
    assert not gc.is_tracked(a) and not gc.is_tracked(Address(1, 16))
    assert a.pool is pool
    gc.collect()
    before = arenapool.total_reserved()

    class Owner:
        pass

    owners = []
    for _ in range(100):
        owner = Owner()
        owner.mem = Pool()
        owner.blocks = [owner.mem.alloc(1, 64) for _ in range(10)]
        owner.me = owner
        owners.append(weakref.ref(owner))
    del owner
    assert arenapool.total_reserved() > before
    gc.collect()
    assert all(ref() is None for ref in owners)
    assert arenapool.total_reserved() == before


def test_an_allocation_keeps_its_pool_alive_and_the_last_one_frees_it():
    gc.disable()  # plain reference counting, no collector involved
    try:
        before = arenapool.total_reserved()
        pool = Pool()
        blocks = [pool.alloc(1, 1000) for _ in range(10)]
        held = arenapool.total_reserved()
        del pool
        assert arenapool.total_reserved() == held
        assert sys.getrefcount(blocks[0].pool) > 1
        del blocks
        assert arenapool.total_reserved() == before
    finally:
        gc.enable()


def test_deleting_the_module_attributes_frees_no_type_in_use():
    # Outside review: the module's attribute was the types' only owner, so
    # deleting it freed the type that Pool.alloc kept making objects of
    # (a later type took its place, then a segfault).
    code = textwrap.dedent("""
        import gc, arenapool, arenapool._arenapool as ext
        del arenapool.Allocation, ext.Allocation, arenapool.Address, ext.Address
        gc.collect()
        junk = [type("T%d" % i, (), {}) for i in range(2000)]
        pool = arenapool.Pool()
        a = pool.alloc(1, 16)
        assert type(a).__name__ == "Allocation" and type(a).__module__ == "arenapool", type(a)
        try:
            pool.free(junk[0]())
        except TypeError:
            pass
        else:
            raise AssertionError("an instance of another type was taken for an Allocation")
        pool.free(a)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
