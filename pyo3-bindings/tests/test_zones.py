"""Memory zones, the safe form of spaCy's `nlp.memory_zone()`: a Vocab and
StringStore (ported to Python) swap a zone of their long-lived pool in as
`self.mem`, put transient entries in it, and swap back in a `finally`; the
zone frees everything at the end of its `with` block. spaCy's own version
lets the zone's cymem Pool die under objects that still point into it (its
docs warn of segmentation faults); here an escaped allocation raises and an
escaped buffer view stays valid."""

import gc
from contextlib import contextmanager

import pytest

import arenapool
from arenapool import InvalidAllocationError, Pool

LEXEME = 32  # bytes of a lexeme struct


class StringStore:
    """Interned strings, each copied into pool memory."""

    def __init__(self, mem):
        self.mem = mem
        self.by_key = {}
        self.transient = None  # keys added inside a zone

    def add(self, text):
        key = hash(text)
        if key not in self.by_key:
            data = text.encode()
            block = self.mem.alloc(1, len(data))
            memoryview(block)[:] = data
            self.by_key[key] = block
            if self.transient is not None:
                self.transient.append(key)
        return key

    def __getitem__(self, key):
        return bytes(self.by_key[key]).decode()


class Vocab:
    """Lexemes (fixed-size structs in pool memory) and their strings."""

    def __init__(self):
        self.mem = Pool()
        self.strings = StringStore(self.mem)
        self.lexemes = {}
        self.transient = None

    def get(self, text):
        key = self.strings.add(text)
        if key not in self.lexemes:
            lex = self.mem.alloc(1, LEXEME)
            memoryview(lex)[:8] = key.to_bytes(8, "little", signed=True)
            self.lexemes[key] = lex
            if self.transient is not None:
                self.transient.append(key)
        return self.lexemes[key]

    @contextmanager
    def memory_zone(self):
        permanent = self.mem
        with permanent.zone() as zone:
            self.mem = self.strings.mem = zone
            self.transient, self.strings.transient = [], []
            try:
                yield zone
            finally:
                for key in self.transient:
                    del self.lexemes[key]
                for key in self.strings.transient:
                    del self.strings.by_key[key]
                self.transient = self.strings.transient = None
                self.mem = self.strings.mem = permanent


def settled():
    gc.collect()
    return arenapool.total_reserved()


def test_transient_entries_go_with_the_zone_and_permanent_ones_stay():
    vocab = Vocab()
    the = vocab.get("the")  # permanent
    with vocab.memory_zone():
        vocab.get("zonal")
        vocab.get("the")  # already permanent: found, not copied
        assert "zonal" in {vocab.strings[k] for k in vocab.strings.by_key}
        assert vocab.mem is not vocab.strings.by_key[hash("the")].pool
    assert set(vocab.strings.by_key) == {hash("the")}
    assert set(vocab.lexemes) == {hash("the")}
    assert vocab.strings[hash("the")] == "the" and bytes(the)[:8] == hash("the").to_bytes(8, "little", signed=True)
    assert vocab.mem.stats()["live_allocations"] == 2


def test_an_exception_inside_the_zone_still_frees_and_restores():
    vocab = Vocab()
    permanent = vocab.mem
    start = settled()
    with pytest.raises(RuntimeError, match="inside"):
        with vocab.memory_zone():
            vocab.get("transient")
            raise RuntimeError("inside the zone")
    assert vocab.mem is permanent and vocab.strings.mem is permanent
    assert not vocab.lexemes and not vocab.strings.by_key
    assert settled() == start


def test_a_thousand_zones_in_a_row_keep_memory_flat():
    vocab = Vocab()
    vocab.get("permanent")
    with vocab.memory_zone():
        vocab.get("warm")
    start = settled()
    for i in range(1000):
        with vocab.memory_zone():
            for j in range(20):
                vocab.get(f"word-{i}-{j}")
    assert settled() == start
    assert len(vocab.lexemes) == 1


def test_escaped_allocations_raise_and_escaped_views_stay_valid():
    vocab = Vocab()
    start = settled()
    with vocab.memory_zone():
        escaped = vocab.get("escaped")  # an Allocation kept past the zone
        view = memoryview(vocab.strings.by_key[hash("escaped")])  # a view kept too
    with pytest.raises(InvalidAllocationError):
        bytes(escaped)
    with pytest.raises(InvalidAllocationError):
        escaped.address
    with pytest.raises(ValueError):
        escaped.pool.alloc(1, 8)  # the zone itself is closed
    assert bytes(view) == b"escaped"
    del escaped
    assert settled() > start  # the view holds its lane's memory
    del view
    assert settled() == start


def test_a_zone_counts_against_its_pools_limit():
    pool = Pool(limit=1 << 20)
    kept = pool.alloc(1, 600 * 1024)
    with pool.zone() as zone:
        assert zone.limit == 1 << 20
        with pytest.raises(MemoryError):
            zone.alloc(1, 600 * 1024)  # would pass the limit shared with `pool`
        zone.alloc(1, 100 * 1024)
    # The zone's memory is back: the pool may use it.
    pool.alloc(1, 300 * 1024)
    assert len(kept) == 600 * 1024


def test_a_closed_pool_has_no_zones():
    pool = Pool()
    pool.close()
    with pytest.raises(ValueError):
        pool.zone()
