# cython: language_level=3
"""nogil functions working on shared pools through the plain C-level calls."""

from libc.stdint cimport uint32_t, uint8_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cimport arenapool as ap

import arenapool

ap.arenapool_import()


cdef struct Slot:
    uint8_t* ptr
    size_t nbytes


cdef inline uint32_t next_rand(uint32_t* state) noexcept nogil:
    # xorshift32
    cdef uint32_t x = state[0]
    x ^= x << 13
    x ^= x >> 17
    x ^= x << 5
    state[0] = x
    return x


include "checks.pxi"


cdef int churn(ap.arenapool_pool* p, uint8_t tag, uint32_t seed, int steps,
               Slot* slots, int nslots) noexcept nogil:
    """Random alloc / grow or shrink / free on `nslots` slots, each block
    filled with `tag` and checked at every step. Leaves the final blocks in
    `slots`. 0, or the (negative) number of the check that failed."""
    cdef uint32_t state = seed | 1
    cdef uint32_t r
    cdef int step, k
    cdef size_t n, keep
    cdef uint8_t* q
    for step in range(steps):
        k = next_rand(&state) % nslots
        r = next_rand(&state) % 8
        n = next_rand(&state) % 3000
        if r == 0:
            n = 40000 + next_rand(&state) % 40000       # now and then a large block
        if slots[k].ptr == NULL:
            q = <uint8_t*>ap.arenapool_alloc(p, n, 1)
            if q == NULL:
                return -1
            if (<uintptr_t>q) % 16 != 0 or not zero_from(q, 0, n):
                return -2
            memset(q, tag, n)
            slots[k].ptr = q
            slots[k].nbytes = n
        elif r < 4:
            if not holds(slots[k].ptr, slots[k].nbytes, tag):
                return -3
            q = <uint8_t*>ap.arenapool_realloc(p, slots[k].ptr, n)
            if q == NULL:
                return -4
            keep = slots[k].nbytes if slots[k].nbytes < n else n
            if not holds(q, keep, tag) or not zero_from(q, keep, n):
                return -5
            memset(q, tag, n)
            slots[k].ptr = q
            slots[k].nbytes = n
        else:
            if not holds(slots[k].ptr, slots[k].nbytes, tag):
                return -6
            if ap.arenapool_free(p, slots[k].ptr) != 0:
                return -7
            slots[k].ptr = NULL
            slots[k].nbytes = 0
    return 0


def run_churn(pool, int tag, int seed, int steps, int nslots=32):
    """`churn` with the GIL released; returns (status, [(address, nbytes)])
    for the blocks it left live."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef Slot* slots = <Slot*>malloc(nslots * sizeof(Slot))
    if slots == NULL:
        raise MemoryError()
    memset(slots, 0, nslots * sizeof(Slot))
    cdef int status
    with nogil:
        status = churn(p, <uint8_t>tag, <uint32_t>seed, steps, slots, nslots)
    kept = [(<uintptr_t>slots[i].ptr, slots[i].nbytes) for i in range(nslots) if slots[i].ptr != NULL]
    free(slots)
    return status, kept


def check_and_free(pool, list blocks, int tag):
    """Checks that each block holds `tag` only, then frees it, GIL released
    for each block; the number of blocks that did not hold their tag."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int bad = 0
    cdef uint8_t* q
    cdef size_t n
    for address, nbytes in blocks:
        q = <uint8_t*><uintptr_t>address
        n = nbytes
        with nogil:
            if not holds(q, n, <uint8_t>tag):
                bad += 1
            if ap.arenapool_free(p, q) != 0:
                bad += 1000
    return bad


def nogil_loop(pool, int n):
    """A `with nogil:` loop of alloc / realloc / free; the pool's size seen
    from C at the end (with the GIL released)."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int i, failures = 0
    cdef uint8_t* q
    cdef size_t live
    with nogil:
        for i in range(n):
            q = <uint8_t*>ap.arenapool_alloc(p, 1, 16 + i % 64)
            if q == NULL:
                failures += 1
                continue
            q[0] = 7
            q = <uint8_t*>ap.arenapool_realloc(p, q, 200 + i % 300)
            if q == NULL or q[0] != 7:
                failures += 1
                continue
            if ap.arenapool_free(p, q) != 0:
                failures += 1
        live = ap.arenapool_size(p)
    return failures, live


def until_closed(pool, int max_ops):
    """Calls only (no access to block memory, which a close frees) until the
    pool is closed under it: alloc, realloc, free, size. Returns (completed
    rounds, the call that failed: 'alloc', 'realloc', 'free', or 'none')."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int i = 0, failed = 0
    cdef void* q
    cdef void* r
    with nogil:
        while i < max_ops:
            q = ap.arenapool_alloc(p, 1, 64 + i % 5000)
            if q == NULL:
                failed = 1
                break
            r = ap.arenapool_realloc(p, q, 128 + i % 9000)
            if r == NULL:
                failed = 2
                break
            if ap.arenapool_free(p, r) != 0:
                failed = 3
                break
            ap.arenapool_size(p)
            i += 1
    return i, ("none", "alloc", "realloc", "free")[failed]


cdef volatile int flag = 0


def set_flag(int value):
    global flag
    flag = value


def spin_until_flag(pool, int max_rounds):
    """alloc/free pairs with the GIL released until another thread sets the
    flag (which it can only do with the GIL); the number of rounds, or -1 if
    a call failed."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int rounds = 0
    cdef void* q
    with nogil:
        while flag == 0 and rounds < max_rounds:
            q = ap.arenapool_alloc(p, 1, 16)
            if q == NULL or ap.arenapool_free(p, q) != 0:
                rounds = -1
                break
            rounds += 1
    return rounds


def pairs_with_gil(pool, int n):
    """alloc/free pairs through the plain forms with the GIL held."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int i
    cdef void* q
    for i in range(n):
        q = ap.arenapool_alloc(p, 1, 16)
        if q == NULL or ap.arenapool_free(p, q) != 0:
            return -1
    return n


def raising_pairs(pool, int n):
    """alloc/free pairs through the _or_raise forms (the GIL held)."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int i
    for i in range(n):
        q = ap.arenapool_alloc_or_raise(p, 1, 16 + i % 100)
        ap.arenapool_free_or_raise(p, q)
    return n


def busy_until_flag(pool, int max_rounds):
    """Like spin_until_flag, with a large realloc in each round (megabytes
    zeroed under the pool's lock), so that the lock is often held."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef int rounds = 0
    cdef void* q
    cdef void* r
    with nogil:
        while flag == 0 and rounds < max_rounds:
            q = ap.arenapool_alloc(p, 1, 64)
            if q == NULL:
                rounds = -1
                break
            r = ap.arenapool_realloc(p, q, (1 + rounds % 3) << 20)
            if r == NULL or ap.arenapool_free(p, r) != 0:
                rounds = -1
                break
            rounds += 1
    return rounds


# ---- a C-level counter, a C clock, and the GIL held in C


cdef extern from *:
    """
    #include <time.h>
    static long nogil_work_counter = 0;
    static int nogil_work_started = 0;
    static int nogil_work_stop = 0;
    static int nogil_work_in_call = 0;
    static inline long nogil_work_get(long *v) { return __atomic_load_n(v, __ATOMIC_SEQ_CST); }
    static inline void nogil_work_add(long *v) { __atomic_fetch_add(v, 1, __ATOMIC_SEQ_CST); }
    static inline void nogil_work_lset(long *v, long x) { __atomic_store_n(v, x, __ATOMIC_SEQ_CST); }
    static inline int nogil_work_iget(int *v) { return __atomic_load_n(v, __ATOMIC_SEQ_CST); }
    static inline void nogil_work_iset(int *v, int x) { __atomic_store_n(v, x, __ATOMIC_SEQ_CST); }
    static inline double nogil_work_now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
    }
    """
    long nogil_work_counter
    int nogil_work_started
    int nogil_work_stop
    int nogil_work_in_call
    long nogil_work_get(long* v) nogil
    void nogil_work_add(long* v) nogil
    void nogil_work_lset(long* v, long x) nogil
    int nogil_work_iget(int* v) nogil
    void nogil_work_iset(int* v, int x) nogil
    double nogil_work_now() nogil


def now():
    """CLOCK_MONOTONIC, in seconds (the clock the C-level timestamps use)."""
    return nogil_work_now()


def counter_reset():
    nogil_work_iset(&nogil_work_started, 0)
    nogil_work_iset(&nogil_work_stop, 0)
    nogil_work_iset(&nogil_work_in_call, 0)
    nogil_work_lset(&nogil_work_counter, 0)


def counter():
    return nogil_work_get(&nogil_work_counter)


def counter_started():
    return nogil_work_iget(&nogil_work_started) != 0


def counter_stop():
    nogil_work_iset(&nogil_work_stop, 1)


def count_pairs(pool, bint need_gil):
    """alloc/free pairs with the GIL released, the C-level counter advanced
    after each, until counter_stop(); with `need_gil`, each advance takes the
    GIL (a control: such a thread cannot advance while another holds the
    GIL). The number of pairs, or -1 if a call failed."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef long pairs = 0
    cdef void* q
    with nogil:
        nogil_work_iset(&nogil_work_started, 1)
        while nogil_work_iget(&nogil_work_stop) == 0:
            q = ap.arenapool_alloc(p, 1, 24)
            if q == NULL or ap.arenapool_free(p, q) != 0:
                pairs = -1
                break
            pairs += 1
            if need_gil:
                with gil:
                    nogil_work_add(&nogil_work_counter)
            else:
                nogil_work_add(&nogil_work_counter)
    return pairs


def hold_gil_until(pool, long target, double seconds):
    """Holds the GIL (never releasing it: a C loop, no Python code) until
    the C-level counter reaches `target` or `seconds` pass, doing raising
    alloc/free pairs on `pool` meanwhile: (reached, counter, pairs)."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef double deadline = nogil_work_now() + seconds
    cdef long pairs = 0
    cdef void* q
    while True:  # at least one pair
        q = ap.arenapool_alloc_or_raise(p, 1, 40)
        ap.arenapool_free_or_raise(p, q)
        pairs += 1
        if nogil_work_get(&nogil_work_counter) >= target or nogil_work_now() >= deadline:
            break
    cdef long reached = nogil_work_get(&nogil_work_counter)
    return reached >= target, reached, pairs


def long_calls_until_closed(pool, size_t small, size_t big, int max_rounds):
    """Rounds of alloc(`small`) / realloc to `big` (the engine copies the
    `small` bytes onto pages of the block's own with the lane locked: a
    long call, when `small` is tens of MB) / free, the GIL released,
    until a call fails (the pool closed under it). Each realloc is timed
    with the C clock just before it and just after it returns. Returns
    ([(start, end)] of the reallocs that succeeded, the call that failed:
    'alloc', 'realloc', 'free' or 'none')."""
    cdef ap.arenapool_pool* p = ap.arenapool_c_pool(pool)
    cdef double* starts = <double*>malloc(max_rounds * sizeof(double) + 8)
    cdef double* ends = <double*>malloc(max_rounds * sizeof(double) + 8)
    cdef int rounds = 0, failed = 0
    cdef void* q
    cdef void* r
    cdef double t0, t1
    if starts == NULL or ends == NULL:
        free(starts)
        free(ends)
        raise MemoryError()
    with nogil:
        while rounds < max_rounds:
            q = ap.arenapool_alloc(p, 1, small)
            if q == NULL:
                failed = 1
                break
            nogil_work_iset(&nogil_work_in_call, 1)
            t0 = nogil_work_now()
            r = ap.arenapool_realloc(p, q, big)
            t1 = nogil_work_now()
            if r == NULL:
                failed = 2
                break
            starts[rounds] = t0
            ends[rounds] = t1
            rounds += 1
            if ap.arenapool_free(p, r) != 0:
                failed = 3
                break
    timings = [(starts[i], ends[i]) for i in range(rounds)]
    free(starts)
    free(ends)
    return timings, ("none", "alloc", "realloc", "free")[failed]


def wait_in_call(double seconds):
    """Spins (the GIL held) until long_calls_until_closed starts its next
    realloc (it raises a flag just before each; this clears it first), or
    `seconds` pass; whether it did."""
    cdef double deadline = nogil_work_now() + seconds
    nogil_work_iset(&nogil_work_in_call, 0)
    while nogil_work_iget(&nogil_work_in_call) == 0:
        if nogil_work_now() > deadline:
            return False
    return True


def close_timed(pool):
    """pool.close(), with the C clock read just before and just after."""
    cdef double t0 = nogil_work_now()
    pool.close()
    cdef double t1 = nogil_work_now()
    return t0, t1
