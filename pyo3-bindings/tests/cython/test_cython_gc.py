"""Owners in reference cycles: their pools, C blocks included, go when the
cyclic GC collects them (cymem leaks here: Cython's tp_clear empties its
address dict before dealloc walks it)."""

import gc

import arenapool


def test_docs_in_cycles_free_every_c_block(ext):
    gc.collect()
    before = arenapool.total_reserved()
    vocab = ext.doc.Vocab()
    docs = [ext.doc.Doc(vocab, ["w%d" % (j % 97) for j in range(i % 200)]) for i in range(2000)]
    for a, b in zip(docs, docs[1:]):
        a.other = b  # Doc -> Doc, around the ring
    docs[-1].other = docs[0]
    alone = ext.doc.Doc(vocab, ["me"] * 10)
    alone.other = alone  # and one doc that is its own cycle
    large = ext.doc.Doc(vocab, ["big"] * 60000)  # a large token array (1.4 MB)
    large.other = large
    held = arenapool.total_reserved()
    assert held > before
    del docs, a, b, alone, large
    assert arenapool.total_reserved() == held  # only cycles hold them: nothing went yet
    gc.collect()
    # What is left is the vocab's, which is not in a cycle and still alive.
    assert arenapool.total_reserved() == before + vocab.mem.stats()["reserved_bytes"]
    vocab.check()
    del vocab
    gc.collect()
    assert arenapool.total_reserved() == before


def test_a_vocab_reachable_only_from_a_cycle_goes_too(ext):
    gc.collect()
    before = arenapool.total_reserved()
    first = ext.doc.Doc(ext.doc.Vocab(), ["a", "b", "c"] * 100)
    second = ext.doc.Doc(first.vocab, ["d"] * 100)
    first.other, second.other = second, first
    del first, second
    gc.collect()
    assert arenapool.total_reserved() == before
