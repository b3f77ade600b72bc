"""A hypothesis state machine mirroring the Rust harness: contents, zeroing,
no overlap, size — against a plain model."""

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

import arenapool

sizes = st.one_of(st.integers(0, 64), st.integers(65, 4096), st.integers(4097, 20_000))


class PoolMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.pool = arenapool.Pool()
        self.model = {}  # id(allocation) -> (allocation, expected bytes)
        self.serial = 0

    @rule(number=st.integers(0, 8), elem_size=sizes)
    def alloc(self, number, elem_size):
        if number * elem_size > 60_000:
            return
        a = self.pool.alloc(number, elem_size)
        self.model[id(a)] = (a, bytes(number * elem_size))

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def free(self, data):
        key = data.draw(st.sampled_from(sorted(self.model)))
        a, _ = self.model.pop(key)
        self.pool.free(a)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), new_nbytes=sizes)
    def realloc(self, data, new_nbytes):
        key = data.draw(st.sampled_from(sorted(self.model)))
        a, expected = self.model.pop(key)
        b = self.pool.realloc(a, new_nbytes)
        self.model[id(b)] = (b, (expected + bytes(new_nbytes))[:new_nbytes])

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def write(self, data):
        key = data.draw(st.sampled_from(sorted(self.model)))
        a, expected = self.model[key]
        self.serial += 1
        pattern = bytes((self.serial * 31 + i * 7) % 251 + 1 for i in range(len(expected)))
        memoryview(a)[:] = pattern
        self.model[key] = (a, pattern)

    @invariant()
    def contents_match(self):
        for a, expected in self.model.values():
            assert bytes(a) == expected
            assert a.address % 16 == 0

    @invariant()
    def no_overlap(self):
        spans = sorted((a.address, len(a)) for a, _ in self.model.values() if len(a))
        for (x, n), (y, _) in zip(spans, spans[1:]):
            assert x + n <= y

    @invariant()
    def size_matches(self):
        assert self.pool.size == sum(len(e) for _, e in self.model.values())
        assert self.pool.stats()["live_allocations"] == len(self.model)


PoolMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestPool = PoolMachine.TestCase
