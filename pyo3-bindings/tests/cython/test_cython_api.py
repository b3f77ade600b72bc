"""What the C-level calls promise (capi_shim.pyx), the files the package
ships for them, the header on its own, and the table's version check."""

import ctypes
import os
import re
import subprocess
import sys
import sysconfig

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import arenapool
import arenapool._arenapool as extension


@pytest.fixture
def shim(ext):
    return ext.capi_shim


# ---- the files


def test_get_include_holds_the_header_and_the_pxd():
    include = arenapool.get_include()
    assert os.path.isabs(include)
    assert include == os.path.dirname(os.path.abspath(arenapool.__file__))
    assert {"arenapool.h", "__init__.pxd"} <= set(os.listdir(include))


@pytest.mark.parametrize(
    "compiler,flags",
    [("cc", ["-x", "c", "-std=c11"]), ("c++", ["-x", "c++", "-std=c++11"])],
)
def test_the_header_compiles_alone_in_c_and_cpp(tmp_path, compiler, flags):
    """Self-contained: a file that includes only arenapool.h and calls each
    function compiles without a warning, as C and as C++."""
    source = tmp_path / "use.c"
    source.write_text(
        "#include \"arenapool.h\"\n"
        "int use(PyObject *pool) {\n"
        "    arenapool_pool *p;\n"
        "    void *a;\n"
        "    if (arenapool_import() < 0) return -1;\n"
        "    p = arenapool_c_pool(pool);\n"
        "    if (p == NULL) return -1;\n"
        "    a = arenapool_alloc(p, 2, 8);\n"
        "    a = arenapool_realloc(p, a, 64);\n"
        "    if (arenapool_free(p, a) != 0) return -1;\n"
        "    a = arenapool_alloc_or_raise(p, 1, 1);\n"
        "    a = arenapool_realloc_or_raise(p, a, 2);\n"
        "    if (arenapool_free_or_raise(p, a) < 0) return -1;\n"
        "    return (int)arenapool_size(p) + ARENAPOOL_C_API_VERSION;\n"
        "}\n"
    )
    command = [
        compiler, *flags, "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
        "-I", arenapool.get_include(), "-I", sysconfig.get_paths()["include"], str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---- the table


class Table(ctypes.Structure):
    _fields_ = [("version", ctypes.c_size_t)] + [(f"f{i}", ctypes.c_void_p) for i in range(8)]


def _capsule_of(table, name):
    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return new(ctypes.addressof(table), ctypes.addressof(name), None)


def _real_table():
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return Table.from_address(get(extension._C_API, b"arenapool._arenapool._C_API"))


def test_the_capsule_holds_the_version_then_the_functions():
    table = _real_table()
    assert table.version == 1
    assert all(getattr(table, f"f{i}") for i in range(8))


def _header_fields():
    """The fields of arenapool.h's `arenapool_c_api` struct, in order."""
    with open(os.path.join(arenapool.get_include(), "arenapool.h")) as f:
        header = f.read()
    body = re.search(r"typedef struct arenapool_c_api \{(.*?)\} arenapool_c_api;", header, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [re.search(r"\(\*(\w+)\)|(\w+)\s*$", decl.strip()).group(1) or decl.split()[-1]
            for decl in body.split(";") if decl.strip()]


def test_each_table_field_calls_its_own_function(shim):
    """Through each field of the real table, in the header's order, a call
    shows that field's own behaviour (a swapped pair of pointers fails): the
    plain forms return NULL / -1 with no exception, the raising forms raise,
    and each does its own work (alloc sizes, realloc keeps contents, free
    frees once, size reads the size)."""
    fields = _header_fields()
    assert fields == [
        "version", "c_pool", "pool_alloc", "pool_realloc", "pool_free", "pool_size",
        "alloc_or_raise", "realloc_or_raise", "free_or_raise",
    ]
    p_, sz = ctypes.c_void_p, ctypes.c_size_t
    # PYFUNCTYPE: called with the GIL held, and raises the exception a call
    # left set (a plain form must leave none).
    kinds = {
        "c_pool": ctypes.PYFUNCTYPE(p_, ctypes.py_object),
        "pool_alloc": ctypes.PYFUNCTYPE(p_, p_, sz, sz),
        "pool_realloc": ctypes.PYFUNCTYPE(p_, p_, p_, sz),
        "pool_free": ctypes.PYFUNCTYPE(ctypes.c_int, p_, p_),
        "pool_size": ctypes.PYFUNCTYPE(sz, p_),
        "alloc_or_raise": ctypes.PYFUNCTYPE(p_, p_, sz, sz),
        "realloc_or_raise": ctypes.PYFUNCTYPE(p_, p_, p_, sz),
        "free_or_raise": ctypes.PYFUNCTYPE(ctypes.c_int, p_, p_),
    }

    class Api(ctypes.Structure):
        _fields_ = [("version", ctypes.c_size_t)] + [(name, kinds[name]) for name in fields[1:]]

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    _check_table(Api.from_address(get(extension._C_API, b"arenapool._arenapool._C_API")), shim)


def _check_table(api, shim):
    assert api.version == shim.VERSION == 1
    pool = arenapool.Pool()
    # c_pool: the handle of a Pool; TypeError for anything else.
    h = api.c_pool(pool)
    assert h == shim.handle(pool)
    with pytest.raises(TypeError):
        api.c_pool(object())
    foreign = shim.malloc_block(64)
    huge = (1 << 63) + 1
    try:
        # pool_alloc: 3 * 8 zeroed bytes; NULL, no exception, on overflow.
        a = api.pool_alloc(h, 3, 8)
        assert a and a % 16 == 0 and shim.is_zero(a, 24) and pool.size == 24
        assert api.pool_alloc(h, huge, 2) is None
        # pool_size: the pool's live bytes.
        assert api.pool_size(h) == 24
        # pool_realloc: contents kept, the size changed; NULL, no exception,
        # for a pointer not the pool's.
        shim.fill(a, 24, 0x42)
        a = api.pool_realloc(h, a, 100)
        assert shim.read(a, 24) == b"B" * 24 and shim.is_zero(a + 24, 76)
        assert pool.size == 100 == api.pool_size(h)
        assert api.pool_realloc(h, foreign, 8) is None
        # pool_free: 0 once, then -1 with no exception.
        assert api.pool_free(h, a) == 0 and pool.size == 0
        assert api.pool_free(h, a) == -1
        # alloc_or_raise: 5 * 7 bytes; OverflowError on overflow.
        b = api.alloc_or_raise(h, 5, 7)
        assert b and shim.is_zero(b, 35) and pool.size == 35 == api.pool_size(h)
        with pytest.raises(OverflowError):
            api.alloc_or_raise(h, huge, 2)
        # realloc_or_raise: grows, keeps contents; InvalidAllocationError
        # for a pointer not the pool's.
        shim.fill(b, 35, 0x43)
        b = api.realloc_or_raise(h, b, 300)
        assert shim.read(b, 35) == b"C" * 35 and shim.is_zero(b + 35, 265) and pool.size == 300
        with pytest.raises(arenapool.InvalidAllocationError):
            api.realloc_or_raise(h, foreign, 8)
        # free_or_raise: 0 once, then InvalidAllocationError.
        assert api.free_or_raise(h, b) == 0 and pool.size == 0
        with pytest.raises(arenapool.InvalidAllocationError):
            api.free_or_raise(h, b)
        assert api.pool_size(h) == 0 and pool.stats()["live_allocations"] == 0
    finally:
        shim.libc_free(foreign)


# Tables handed to version_check's arenapool_import(), alive for the session.
_KEEP = []


def test_import_checks_the_version_once(ext, monkeypatch):
    module = ext.version_check
    pool = arenapool.Pool()
    with pytest.raises(RuntimeError, match="arenapool_import"):
        module.c_pool(pool)  # before arenapool_import(): a clear error, no crash
    name = ctypes.create_string_buffer(b"arenapool._arenapool._C_API")
    _KEEP.append(name)
    # A newer table (functions appended) will be accepted: the real functions.
    newer = Table.from_buffer_copy(_real_table())
    newer.version = module.HEADER_VERSION + 1
    _KEEP.append(newer)  # the module keeps pointing at it
    old = Table(0)
    monkeypatch.setattr(extension, "_C_API", _capsule_of(old, name))
    with pytest.raises(ImportError, match="version 1 of arenapool's C API.*provides version 0"):
        module.do_import()
    monkeypatch.setattr(extension, "_C_API", _capsule_of(newer, name))
    assert module.do_import() == 0
    monkeypatch.undo()
    assert module.alloc_free(pool) == 0
    # Fetched once: a later bad capsule does not matter any more.
    monkeypatch.setattr(extension, "_C_API", _capsule_of(old, name))
    assert module.do_import() == 0


# ---- the blocks


def test_blocks_are_zeroed_aligned_and_sized(shim):
    pool = arenapool.Pool()
    h = shim.handle(pool)
    total = 0
    for number, elem_size in [(1, 1), (10, 8), (3, 7), (1, 4096), (2, 5000), (1, 1 << 21)]:
        for alloc in (shim.alloc, shim.alloc_nogil, shim.alloc_or_raise):
            p = alloc(h, number, elem_size)
            assert p % 16 == 0 and shim.is_zero(p, number * elem_size)
            shim.fill(p, number * elem_size, 0xFF)
            total += number * elem_size
    assert pool.size == total == shim.size(h)
    # Recycled blocks come back zeroed too.
    p = shim.alloc(h, 1, 64)
    shim.fill(p, 64, 0xEE)
    assert shim.free_(h, p) == 0
    q = shim.alloc(h, 1, 64)
    assert q == p and shim.is_zero(q, 64)


def test_zero_size_blocks_have_their_own_address_and_count_zero_bytes(shim):
    pool = arenapool.Pool()
    h = shim.handle(pool)
    zeros = {shim.alloc(h, 0, 8) for _ in range(50)} | {shim.alloc_or_raise(h, 8, 0) for _ in range(50)}
    assert len(zeros) == 100 and 0 not in zeros and all(p % 16 == 0 for p in zeros)
    assert pool.size == 0 == shim.size(h)
    stats = pool.stats()
    assert stats["live_allocations"] == 100 and stats["live_bytes"] == 0
    assert stats["peak_live_bytes"] == 0
    # They free, and twice is refused.
    p = zeros.pop()
    assert shim.free_(h, p) == 0 and shim.free_(h, p) == -1
    # Grown from zero: all new bytes zero; shrunk to zero: a valid block.
    q = zeros.pop()
    q = shim.realloc(h, q, 40)
    assert q and shim.is_zero(q, 40) and pool.size == 40
    shim.fill(q, 40, 0x11)
    q = shim.realloc(h, q, 0)
    assert q and pool.size == 0
    q = shim.realloc(h, q, 40)
    assert shim.is_zero(q, 40), "a zero-size block grown again must be all zero"
    for p in zeros:
        assert shim.free_or_raise(h, p) == 0
    assert shim.free_(h, q) == 0
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_realloc_keeps_contents_zeroes_the_tail_and_moves_only_when_it_must(shim):
    pool = arenapool.Pool()
    h = shim.handle(pool)
    p = shim.alloc(h, 1, 10)
    shim.fill(p, 10, 0x61)
    q = shim.realloc(h, p, 16)  # same size class: in place
    assert q == p and shim.read(q, 10) == b"a" * 10 and shim.is_zero(q + 10, 6)
    # The newest block of the arena grows in place.
    r = shim.realloc(h, q, 200)
    assert r == q and shim.read(r, 10) == b"a" * 10 and shim.is_zero(r + 10, 190)
    # Not the newest any more: it moves, contents kept.
    other = shim.alloc(h, 1, 32)
    s = shim.realloc(h, r, 3000)
    assert s != r and shim.read(s, 10) == b"a" * 10 and shim.is_zero(s + 10, 2990)
    # Shrinks keep the prefix.
    t = shim.realloc_or_raise(h, s, 4)
    assert shim.read(t, 4) == b"aaaa"
    # Large blocks grow and shrink through the system.
    u = shim.realloc_or_raise(h, t, 4 << 20)
    assert shim.read(u, 4) == b"aaaa" and shim.is_zero(u + 4, (4 << 20) - 4)
    v = shim.realloc(h, u, 100)
    assert shim.read(v, 4) == b"aaaa"
    assert pool.size == 100 + 32
    # realloc(NULL, n) allocates.
    w = shim.realloc(h, 0, 24)
    x = shim.realloc_or_raise(h, 0, 24)
    assert w and x and w != x and shim.is_zero(w, 24) and pool.size == 100 + 32 + 48
    for block in (v, other, w, x):
        shim.free_or_raise(h, block)
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_c_blocks_go_with_the_pool(shim):
    before = arenapool.total_reserved()
    pool = arenapool.Pool()
    h = shim.handle(pool)
    for i in range(1000):
        shim.alloc(h, 1, 16 + i)
    shim.alloc(h, 1, 8 << 20)
    assert arenapool.total_reserved() > before
    del pool
    assert arenapool.total_reserved() == before


# ---- a model


class CModel(RuleBasedStateMachine):
    """C-level and Python-level calls on one pool against a plain model:
    contents, zeroing, sizes, refusals. Blocks are drawn by creation serial
    (addresses differ from run to run)."""

    shim = None

    def __init__(self):
        super().__init__()
        self.pool = arenapool.Pool()
        self.h = self.shim.handle(self.pool)
        self.c = {}  # serial -> (address, expected bytes)
        self.py = []  # (Allocation, expected bytes)
        self.dead = []  # addresses freed or reallocated away, oldest first
        self.serial = 0

    def _new(self, address, n):
        self.serial += 1
        tag = self.serial % 250 + 1
        self.shim.fill(address, n, tag)
        self.c[self.serial] = (address, bytes([tag]) * n)

    def _live(self):
        return {address for address, _ in self.c.values()}

    @rule(n=st.integers(0, 5000), raising=st.booleans())
    def alloc(self, n, raising):
        p = (self.shim.alloc_or_raise if raising else self.shim.alloc)(self.h, 1, n)
        assert p and p % 16 == 0 and p not in self._live()
        assert self.shim.is_zero(p, n)
        self._new(p, n)

    @rule(n=st.integers(0, 300))
    def py_alloc(self, n):
        a = self.pool.alloc(1, n)
        memoryview(a)[:] = b"y" * n
        self.py.append((a, b"y" * n))

    @precondition(lambda self: self.c)
    @rule(data=st.data(), n=st.integers(0, 20000), raising=st.booleans())
    def realloc(self, data, n, raising):
        key = data.draw(st.sampled_from(sorted(self.c)))
        p, old = self.c.pop(key)
        q = (self.shim.realloc_or_raise if raising else self.shim.realloc)(self.h, p, n)
        assert q and q % 16 == 0
        keep = min(len(old), n)
        assert self.shim.read(q, keep) == old[:keep] and self.shim.is_zero(q + keep, n - keep)
        self._new(q, n)
        # Listed whether or not the block moved (free_dead skips live
        # addresses): what Hypothesis draws must not depend on addresses,
        # which differ between its runs of a case.
        self.dead.append(p)

    @precondition(lambda self: self.c)
    @rule(data=st.data())
    def free(self, data):
        key = data.draw(st.sampled_from(sorted(self.c)))
        p, expected = self.c.pop(key)
        assert self.shim.read(p, len(expected)) == expected
        assert self.shim.free_(self.h, p) == 0
        self.dead.append(p)

    @precondition(lambda self: self.dead)
    @rule(data=st.data())
    def free_dead(self, data):
        p = self.dead[data.draw(st.integers(0, len(self.dead) - 1))]
        if p in self._live():
            return  # handed out again since: a live block
        assert self.shim.free_(self.h, p) == -1
        assert self.shim.realloc(self.h, p, 8) == 0

    @invariant()
    def sizes(self):
        expected = sum(len(e) for _, e in self.c.values()) + sum(len(e) for _, e in self.py)
        assert self.pool.size == expected == self.shim.size(self.h)
        stats = self.pool.stats()
        assert stats["live_allocations"] == len(self.c) + len(self.py)
        assert stats["live_bytes"] == expected

    def teardown(self):
        for p, expected in self.c.values():
            assert self.shim.read(p, len(expected)) == expected
        for a, expected in self.py:
            assert bytes(a) == expected
        self.pool.close()


def test_c_model(shim):
    CModel.shim = shim
    state_machine = CModel.TestCase
    state_machine.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
    state_machine().runTest()


def test_a_module_that_never_imported_the_api_fails_cleanly(ext):
    # Found by review: the header called through the per-module table
    # without checking it was fetched, so a module given its handles by
    # another one crashed on its first call.
    pool = arenapool.Pool()
    handle = ext.capi_shim.handle(pool)
    assert ext.no_import.plain_calls(handle) == (0, 0, -1, 0)
    with pytest.raises(RuntimeError, match="arenapool_import"):
        ext.no_import.raising_alloc(handle)
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0
