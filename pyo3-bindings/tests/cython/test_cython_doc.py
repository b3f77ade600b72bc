"""A spaCy-like Doc and Vocab (doc.pyx) on the C-level API, with the GIL."""

import gc
import random

import pytest

import arenapool

WORDS = ["the", "cat", "sat", "on", "a", "mat", "", "naïve", "über", "東京", "x" * 300]


def test_doc_grows_token_by_token_with_contents_checked_after_every_growth(ext):
    vocab = ext.doc.Vocab()
    doc = ext.doc.Doc(vocab)
    assert len(doc) == 0 and doc.mem.size == 0  # the empty array: a zero-size block
    assert doc.mem.stats()["live_allocations"] == 1
    rng = random.Random(7)
    words = [rng.choice(WORDS) for _ in range(2000)]
    for n, word in enumerate(words, 1):
        doc.push_back(word, check=True)  # every token checked after every growth
        assert doc.mem.size == n * ext.doc.TOKEN_SIZE == doc.c_size()
    # One block (the array); every scratch buffer was freed by pointer.
    assert doc.mem.stats()["live_allocations"] == 1
    assert doc.text() == " ".join(words)
    assert [doc[i] for i in range(len(doc))] == words
    # Most growths stay in place (the newest block of the arena, or a large
    # block the system resizes); cymem's realloc always moves.
    assert doc.moves < len(words) // 4, doc.moves
    vocab.check()


def test_vocab_interns_strings_in_pool_memory(ext):
    vocab = ext.doc.Vocab()
    doc = ext.doc.Doc(vocab, WORDS * 3)
    assert len(vocab) == len(WORDS)
    assert [vocab.text(i) for i in range(len(vocab))] == WORDS
    # A LexemeC and the NUL-terminated UTF-8 copy of each word.
    expected = sum(ext.doc.LEXEME_SIZE + len(w.encode()) + 1 for w in WORDS)
    assert vocab.mem.size == expected
    assert vocab.mem.stats()["live_allocations"] == 2 * len(WORDS)
    doc.check()
    vocab.check()


def test_c_blocks_and_python_allocations_share_the_pool(ext):
    vocab = ext.doc.Vocab()
    doc = ext.doc.Doc(vocab, ["one", "two"])
    a = doc.mem.alloc(10, 8)
    assert doc.mem.size == 2 * ext.doc.TOKEN_SIZE + 80 == doc.c_size()
    stats = doc.mem.stats()
    assert stats["live_allocations"] == 2 and stats["live_bytes"] == doc.mem.size
    doc.mem.free(a)
    assert doc.mem.size == 2 * ext.doc.TOKEN_SIZE


def test_a_closed_pool_refuses_cleanly(ext):
    vocab = ext.doc.Vocab()
    doc = ext.doc.Doc(vocab, ["still", "here"])
    doc.mem.close()
    assert doc.c_size() == 0
    with pytest.raises(ValueError, match="closed"):
        doc.push_back("more")
    assert len(doc) == 2


def test_owner_dropped_frees_its_c_blocks(ext):
    vocab = ext.doc.Vocab()
    gc.collect()
    before = arenapool.total_reserved()
    vocab_before = vocab.mem.stats()["reserved_bytes"]
    doc = ext.doc.Doc(vocab, ["w%d" % i for i in range(20000)])
    assert doc.mem.stats()["reserved_bytes"] > 20000 * ext.doc.TOKEN_SIZE
    del doc
    # The doc's pool went with the doc; the vocab keeps its new lexemes.
    vocab_growth = vocab.mem.stats()["reserved_bytes"] - vocab_before
    assert arenapool.total_reserved() == before + vocab_growth
    vocab.check()
