"""Python threads sharing one pool."""

import random
import threading

import arenapool


def test_eight_threads_mixed_work_end_with_nothing_live():
    pool = arenapool.Pool()
    errors = []

    def work(seed):
        rng = random.Random(seed)
        live = []
        try:
            for _ in range(3000):
                r = rng.random()
                if r < 0.45 or not live:
                    a = pool.alloc(1, rng.randint(0, 9000))
                    tag = rng.randint(1, 255)
                    memoryview(a)[:] = bytes([tag]) * len(a)
                    live.append((a, tag))
                elif r < 0.8:
                    a, tag = live.pop(rng.randrange(len(live)))
                    assert bytes(a) == bytes([tag]) * len(a)
                    pool.free(a)
                else:
                    i = rng.randrange(len(live))
                    a, tag = live[i]
                    old = len(a)
                    b = pool.realloc(a, rng.randint(0, 9000))
                    keep = min(old, len(b))
                    assert bytes(b)[:keep] == bytes([tag]) * keep
                    memoryview(b)[:] = bytes([tag]) * len(b)
                    live[i] = (b, tag)
            for a, _ in live:
                pool.free(a)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert pool.size == 0
    assert pool.stats()["live_allocations"] == 0
