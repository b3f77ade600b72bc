"""cymem's binary interface under the switch, through a client compiled
against upstream cymem's ``cymem.pxd``: every vtable slot called, every
declared field read from memory, and cymem's observable behaviour."""

import gc
import os
import subprocess
import sys
import warnings
import weakref

import pytest

import arenapool
import arenapool.cymem as acymem


def test_the_client_bound_cymem_cymem_to_arenapool(client):
    assert sys.modules["cymem.cymem"] is acymem
    assert client.module_of_pool() == "arenapool.cymem"
    import cymem
    import cymem.cymem

    assert cymem.cymem is acymem and cymem.cymem.Pool is acymem.Pool


def test_sizes_are_cymems():
    assert [t.__basicsize__ for t in (acymem.PyMalloc, acymem.PyFree, acymem.Pool, acymem.Address)] == [32, 32, 64, 40]
    for t in (acymem.PyMalloc, acymem.PyFree, acymem.Pool):
        assert type(t.__dict__["__pyx_vtable__"]).__name__ == "PyCapsule"


@pytest.mark.parametrize("made_by", ["python", "compiled"])
def test_every_pool_field_read_from_memory(client, made_by):
    mem = acymem.Pool() if made_by == "python" else client.new_pool()
    assert type(mem) is acymem.Pool
    fields = client.layout(mem)
    assert fields["size"] == 0
    assert type(fields["addresses"]) is dict and fields["addresses"] == {}
    assert type(fields["refs"]) is list and fields["refs"] == []
    assert fields["pymalloc"] is acymem.Default_Malloc and fields["pyfree"] is acymem.Default_Free
    assert fields["malloc_is_pymem"] and fields["free_is_pymem"]
    # The Python-level attributes are the same objects.
    assert (mem.size, mem.addresses, mem.refs, mem.pymalloc, mem.pyfree) == (
        0,
        fields["addresses"],
        fields["refs"],
        fields["pymalloc"],
        fields["pyfree"],
    )


def test_each_vtable_slot_does_its_own_job(client):
    mem = acymem.Pool()
    p = client.alloc(mem, 3, 8)
    assert p % 16 == 0 and client.is_zero(p, 24)
    assert client.size_field(mem) == 24 == mem.size
    client.write(p, b"abcdefgh" * 3)
    q = client.realloc(mem, p, 100)
    assert client.read(q, 24) == b"abcdefgh" * 3 and client.is_zero(q + 24, 76)
    assert client.size_field(mem) == 100
    client.free(mem, q)
    assert client.size_field(mem) == 0


def test_pymalloc_and_pyfree_slots(client):
    got = client.set_slots()
    assert got.pop("types") == (acymem.PyMalloc, acymem.PyFree, acymem.PyMalloc, acymem.PyFree)
    assert all(got.values()), got


@pytest.mark.parametrize("made_by", ["python", "compiled"])
def test_every_address_field_read_from_memory(client, made_by):
    a = acymem.Address(3, 8) if made_by == "python" else client.new_address(3, 8)
    fields = client.address_layout(a, 24)
    assert fields["ptr"] == fields["addr"] == a.addr != 0
    assert fields["zero"] and fields["aligned"] and fields["malloc_is_pymem"]
    assert fields["pymalloc"] is acymem.Default_Malloc and fields["pyfree"] is acymem.Default_Free
    big = acymem.Address(1000, 8)
    assert client.address_layout(big, 8000)["zero"]


def test_address_memory_is_counted_and_freed():
    gc.collect()
    before = arenapool.total_reserved()
    kept = [acymem.Address(100, 8) for _ in range(100)]
    assert arenapool.total_reserved() - before >= 100 * 800
    del kept
    assert arenapool.total_reserved() == before


def test_a_custom_pair_is_honoured(client):
    mallocs, frees = client.counts()
    mem = client.counting_pool()
    assert mem.pymalloc is not acymem.Default_Malloc
    p = client.alloc(mem, 4, 4)
    assert client.is_zero(p, 16) and client.counts() == (mallocs + 1, frees)
    client.write(p, b"x" * 16)
    q = client.realloc(mem, p, 64)
    assert client.read(q, 16) == b"x" * 16 and client.is_zero(q + 16, 48)
    assert client.counts() == (mallocs + 2, frees + 1)
    client.free(mem, q)
    assert client.counts() == (mallocs + 2, frees + 2) and mem.size == 0
    for _ in range(5):
        client.alloc(mem, 1, 8)
    with pytest.raises(KeyError):
        client.free(mem, 16)  # not a block of the pair
    del mem
    assert client.counts() == (mallocs + 7, frees + 7), "the pool's blocks go with it"


def test_free_of_a_pointer_not_handed_out_raises_keyerror_and_changes_nothing(client):
    mem, other = acymem.Pool(), acymem.Pool()
    kept = client.alloc(mem, 2, 8)
    client.write(kept, b"k" * 16)
    foreign = client.malloc_block(32)
    client.write(foreign, b"f" * 32)
    theirs = client.alloc(other, 1, 16)
    for pointer in (foreign, theirs, kept + 16, kept + 1, 0):
        with pytest.raises(KeyError):
            client.free(mem, pointer)
        with pytest.raises(ValueError):
            client.realloc(mem, pointer, 64)
    assert client.read(foreign, 32) == b"f" * 32, "the foreign block was not touched"
    assert client.read(kept, 16) == b"k" * 16 and mem.size == 16 and other.size == 16
    client.pymem_free(foreign)
    client.free(mem, kept)
    with pytest.raises(KeyError):
        client.free(mem, kept)  # twice
    with pytest.raises(ValueError):
        client.realloc(mem, kept, 8)  # after it was freed
    assert mem.size == 0


def test_sizes_that_cannot_exist_raise(client):
    mem = acymem.Pool()
    with pytest.raises(OverflowError):
        client.alloc(mem, 1 << 62, 8)  # cymem returned a short block
    with pytest.raises((MemoryError, OverflowError)):
        client.alloc(mem, 1 << 62, 1)
    p = client.alloc(mem, 1, 8)
    with pytest.raises((MemoryError, OverflowError)):
        client.realloc(mem, p, 1 << 62)
    assert mem.size == 8
    client.free(mem, p)


def test_zero_size_blocks_have_addresses_of_their_own(client):
    mem = acymem.Pool()
    blocks = [client.alloc(mem, 0, 8) for _ in range(3)] + [client.alloc(mem, 4, 0)]
    assert len(set(blocks)) == 4 and all(blocks) and mem.size == 0
    grown = client.realloc(mem, blocks[0], 32)
    assert client.is_zero(grown, 32) and mem.size == 32
    for p in [grown, *blocks[1:]]:
        client.free(mem, p)
    assert mem.size == 0


def test_warn_zero_alloc_warns_as_cymem_does(client):
    mem = acymem.Pool()
    acymem.WARN_ZERO_ALLOC = True
    try:
        with pytest.warns(UserWarning, match="Allocating zero bytes"):
            p = client.alloc(mem, 0, 16)
        client.free(mem, p)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(UserWarning):
                client.alloc(mem, 0, 16)
        assert mem.size == 0
    finally:
        acymem.WARN_ZERO_ALLOC = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.free(mem, client.alloc(mem, 0, 16))


def test_token_array_grows_mostly_in_place(client):
    mem = acymem.Pool()
    moves = client.grow_tokens(mem, 2000)
    # cymem's realloc moves on every call: 1,999 moves.
    assert moves < 100, moves
    assert mem.size == 0


def test_pool_memory_is_counted_and_goes_with_the_pool(client):
    gc.collect()
    acymem._native._trim()
    before = arenapool.total_reserved()
    mem = acymem.Pool()
    for _ in range(1000):
        client.alloc(mem, 4, 16)
    assert arenapool.total_reserved() - before >= 64_000
    del mem
    # At most its engine's newest chunk stays, cached for the next pool.
    assert arenapool.total_reserved() - before <= 64 << 10
    acymem._native._trim()
    assert arenapool.total_reserved() == before


def test_dead_pools_engines_are_reused_within_a_bound(client):
    """Pools made and dropped one after another reuse a few cached engines:
    the memory held stays within the cache's bound, and _trim gives it all
    back."""
    gc.collect()
    acymem._native._trim()
    before = arenapool.total_reserved()
    addresses = set()
    for _ in range(1000):
        mem = acymem.Pool()
        p = client.alloc(mem, 1, 3600)
        assert client.is_zero(p, 3600), "a reused engine's block is zeroed"
        client.write(p, b"x" * 3600)
        addresses.add(p)
        del mem
    assert len(addresses) <= 4, "the cached engines' chunks were reused"
    assert arenapool.total_reserved() - before <= 4 * (64 << 10)
    acymem._native._trim()
    assert arenapool.total_reserved() == before


def test_owners_in_cycles_are_freed_and_read_live_memory_in_dealloc(client):
    gc.collect()
    acymem._native._trim()
    before = arenapool.total_reserved()
    del client.DEALLOCS[:]
    for _ in range(200):
        a, b = client.Owner(500), client.Owner(500)
        a.other, b.other = b, a
    del a, b
    gc.collect()
    assert len(client.DEALLOCS) == 400
    assert all(intact for intact, _ in client.DEALLOCS), "an owner's __dealloc__ read freed memory"
    # Cython's tp_clear dropped some pools before their owners' __dealloc__:
    # those engines waited for the end of the collection.
    assert any(deferred for _, deferred in client.DEALLOCS)
    assert acymem._native._deferred() == 0
    assert arenapool.total_reserved() == before, "cymem leaked these pools' memory"


def test_own_pyref_keeps_objects_and_its_cycles_are_collected():
    class Owner:
        pass

    mem = acymem.Pool()
    owner = Owner()
    owner.mem = mem
    mem.own_pyref(owner)
    assert mem.refs == [owner]
    alive = weakref.ref(owner)
    del owner, mem
    assert alive() is not None
    gc.collect()
    assert alive() is None


def test_constructor_arguments_are_checked():
    assert type(acymem.Pool(acymem.Default_Malloc, acymem.Default_Free)) is acymem.Pool
    assert acymem.Pool(pymalloc=None).pymalloc is acymem.Default_Malloc
    with pytest.raises(TypeError):
        acymem.Pool(object())
    with pytest.raises(TypeError):
        acymem.Pool(acymem.Default_Malloc, acymem.Default_Free, 3)
    with pytest.raises(TypeError):
        acymem.Pool(nope=1)
    with pytest.raises(TypeError):
        acymem.PyMalloc(1)
    with pytest.raises(OverflowError):
        acymem.Address(-1, 8)
    with pytest.raises(TypeError):
        class Sub(acymem.Pool):  # the vtable pointer is the engine's: final
            pass


def test_objects_kept_by_own_pyref_go_before_the_pool_memory(client):
    del client.DEALLOCS[:]
    gc.collect()
    mem = acymem.Pool()
    client.reader_of(mem, 1000)
    held = arenapool.total_reserved()
    del mem
    # The reader went while the pool's memory was still held, and read it.
    assert client.DEALLOCS == [(True, held)], "a kept object read freed memory"


def test_owners_alive_at_exit_read_live_memory_in_dealloc(client):
    """The exit-time collections call no gc.callbacks: without the atexit
    hook, owners in cycles read (4 MiB of) freed pool memory there."""
    # The cycles stay alive (in a module-level list) until the interpreter
    # clears the module at exit: then only the exit-time collection sees them.
    script = (
        "import gc, abi_client\n"
        "keep = []\n"
        "for _ in range(4):\n"
        "    a, b = abi_client.Owner(1 << 20, True), abi_client.Owner(1 << 20, True)\n"
        "    a.other, b.other = b, a\n"
        "    keep.append(a)\n"
        "del a, b\n"
        "gc.disable()\n"
        "print('exiting')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(client.__file__)}
    done = subprocess.run(
        [sys.executable, "-c", "import arenapool.cymem as c\nc.install()\n" + script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and "exiting" in done.stdout, (done.returncode, done.stderr[-2000:])


def test_a_collection_that_never_ends_does_not_leak_every_later_pool(client):
    """The hook taken out of gc.callbacks between a collection's start and
    its stop: the next pool made sees it gone and ends the collection."""
    gc.collect()
    acymem._native._trim()
    before = arenapool.total_reserved()
    hook = acymem._native._gc_phase
    doomed = acymem.Pool()
    client.alloc(doomed, 1000, 8)
    gc.callbacks.remove(hook)
    try:
        hook("start", {})  # as if a collection began, with no stop to come
        del doomed  # deferred: a collection seems under way
        assert acymem._native._deferred() == 1
        fresh = acymem.Pool()  # sees the hook gone: the collection is over
        assert acymem._native._deferred() == 0
        client.alloc(fresh, 1000, 8)
        del fresh
        assert acymem._native._deferred() == 0
        acymem._native._trim()
        assert arenapool.total_reserved() == before
    finally:
        gc.callbacks.append(hook)
