# cython: language_level=3, infer_types=True
"""A spaCy-like owner written against arenapool's C-level API.

`Vocab` interns strings: each new word gets a `LexemeC` struct and a copy of
its UTF-8 bytes, both in the vocab's pool. `Doc` holds a `TokenC*` array in
its own pool, grown one token at a time with `arenapool_realloc_or_raise`
(as a cymem port of spaCy's `Doc.push_back` would do, only without the
doubling), and uses a scratch buffer per token that it frees by pointer.
Every pool is owned by a Python object (`self.mem = arenapool.Pool()`);
nothing is freed in `__dealloc__`: the pools do it.
"""

from libc.stdint cimport int32_t, uint64_t, uintptr_t
from libc.string cimport memcpy

cimport arenapool as ap

import arenapool

ap.arenapool_import()


cdef struct LexemeC:
    uint64_t orth
    int32_t length
    int32_t id
    const char* text          # interned: in the vocab's pool


cdef struct TokenC:           # 24 bytes, as the benchmark's
    const LexemeC* lex
    int32_t idx               # character offset
    int32_t head
    int32_t i
    int32_t flags


TOKEN_SIZE = sizeof(TokenC)
LEXEME_SIZE = sizeof(LexemeC)


cdef uint64_t fnv1a(const char* s, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <unsigned char>s[i]) * 1099511628211ULL
    return h


cdef inline int aligned(const void* p) noexcept nogil:
    return (<uintptr_t>p) % 16 == 0


cdef class Vocab:
    cdef readonly object mem
    cdef ap.arenapool_pool* cmem
    cdef dict index                       # str -> address of its LexemeC
    cdef list lexemes                     # id -> address

    def __init__(self):
        self.mem = arenapool.Pool()
        self.cmem = ap.arenapool_c_pool(self.mem)
        self.index = {}
        self.lexemes = []

    cdef const LexemeC* get(self, str word) except NULL:
        found = self.index.get(word)
        if found is not None:
            return <const LexemeC*><uintptr_t>found
        data = word.encode("utf8")
        cdef const char* src = data
        cdef Py_ssize_t n = len(data)
        lex = <LexemeC*>ap.arenapool_alloc_or_raise(self.cmem, 1, sizeof(LexemeC))
        text = <char*>ap.arenapool_alloc_or_raise(self.cmem, n + 1, 1)
        if not aligned(lex) or not aligned(text):
            raise AssertionError("a block is not 16-byte aligned")
        if text[n] != 0 or lex.text != NULL or lex.length != 0:
            raise AssertionError("a new block is not zeroed")
        memcpy(text, src, n)              # text[n] stays 0: a C string
        lex.text = text
        lex.length = <int32_t>n
        lex.orth = fnv1a(text, n)
        lex.id = <int32_t>len(self.lexemes)
        self.index[word] = <uintptr_t>lex
        self.lexemes.append(<uintptr_t>lex)
        return lex

    def __len__(self):
        return len(self.lexemes)

    def text(self, int lex_id):
        """The interned string, read back from pool memory."""
        lex = <const LexemeC*><uintptr_t>self.lexemes[lex_id]
        return lex.text[:lex.length].decode("utf8")

    def check(self):
        """Every lexeme intact: its text, length and hash."""
        for word, address in self.index.items():
            lex = <const LexemeC*><uintptr_t>address
            data = word.encode("utf8")
            if lex.length != len(data) or lex.text[:lex.length] != data:
                raise AssertionError(f"lexeme {word!r} corrupted")
            if lex.orth != fnv1a(lex.text, lex.length) or lex.text[lex.length] != 0:
                raise AssertionError(f"lexeme {word!r} corrupted")


cdef class Doc:
    cdef readonly object mem
    cdef readonly Vocab vocab
    cdef ap.arenapool_pool* cmem
    cdef TokenC* c
    cdef readonly int length
    cdef readonly int moves               # growths that moved the array
    cdef public object other              # for reference cycles in tests

    def __init__(self, Vocab vocab, words=()):
        self.vocab = vocab
        self.mem = arenapool.Pool()
        self.cmem = ap.arenapool_c_pool(self.mem)
        # An empty array is a valid, zero-size block.
        self.c = <TokenC*>ap.arenapool_alloc_or_raise(self.cmem, 0, sizeof(TokenC))
        self.length = 0
        for word in words:
            self.push_back(word)

    def push_back(self, str word, bint check=False):
        """Appends a token: the array grows by exactly one element."""
        lex = self.vocab.get(word)
        # A scratch buffer (say, a normalised copy), freed by pointer.
        scratch = <char*>ap.arenapool_alloc_or_raise(self.cmem, lex.length + 1, 1)
        memcpy(scratch, lex.text, lex.length)
        cdef int idx = 0
        if self.length:
            last = &self.c[self.length - 1]
            idx = last.idx + last.lex.length + 1
        grown = <TokenC*>ap.arenapool_realloc_or_raise(
            self.cmem, self.c, (self.length + 1) * sizeof(TokenC))
        if grown != self.c:
            self.moves += 1
        self.c = grown
        if not aligned(self.c):
            raise AssertionError("the token array is not 16-byte aligned")
        t = &self.c[self.length]
        if t.lex != NULL or t.idx != 0 or t.head != 0 or t.i != 0 or t.flags != 0:
            raise AssertionError("the grown tail is not zeroed")
        t.lex = lex
        t.idx = idx
        t.i = self.length
        t.head = self.length // 2
        t.flags = <int32_t>(lex.orth & 0x7fffffff)
        if scratch[lex.length] != 0 or scratch[:lex.length] != lex.text[:lex.length]:
            raise AssertionError("scratch buffer corrupted")
        ap.arenapool_free_or_raise(self.cmem, scratch)
        self.length += 1
        if check:
            self.check()

    def check(self):
        """Every token as push_back wrote it."""
        cdef int i
        cdef int idx = 0
        for i in range(self.length):
            t = &self.c[i]
            if t.lex == NULL or t.i != i or t.head != i // 2 or t.idx != idx:
                raise AssertionError(f"token {i} corrupted")
            if t.flags != <int32_t>(t.lex.orth & 0x7fffffff):
                raise AssertionError(f"token {i} corrupted")
            idx += t.lex.length + 1

    def text(self):
        return " ".join(self[i] for i in range(self.length))

    def __getitem__(self, int i):
        if not 0 <= i < self.length:
            raise IndexError(i)
        lex = self.c[i].lex
        return lex.text[:lex.length].decode("utf8")

    def __len__(self):
        return self.length

    def tokens_address(self):
        return <uintptr_t>self.c

    def c_size(self):
        """arenapool_size of this doc's pool."""
        return ap.arenapool_size(self.cmem)
