"""Owners in reference cycles free their pools when collected (cymem leaks here)."""

import gc

import numpy as np

import arenapool


class Doc:
    """The spaCy pattern: an owner object holding its pool and arrays in it."""

    def __init__(self, n):
        self.mem = arenapool.Pool()
        self.tokens = self.mem.alloc(n, 24)
        self.view = np.frombuffer(self.tokens, dtype="u1")
        self.me = self  # a reference cycle


def test_owners_in_cycles_free_everything():
    gc.collect()
    before = arenapool.total_reserved()
    docs = [Doc(100 + i % 300) for i in range(2000)]
    for a, b in zip(docs, docs[1:]):
        a.next = b  # cycles across owners too
    docs[-1].next = docs[0]
    assert arenapool.total_reserved() > before
    del docs, a, b
    gc.collect()
    assert arenapool.total_reserved() == before


def test_allocations_alone_in_a_cycle_are_collected():
    gc.collect()
    before = arenapool.total_reserved()
    holder = []
    pool = arenapool.Pool()
    holder.append(pool.alloc(1, 10_000))
    holder.append(holder)
    del pool, holder
    gc.collect()
    assert arenapool.total_reserved() == before
