"""The raising forms keep the GIL from start to end, as cymem does."""

import sys
import threading


def test_raising_forms_never_release_the_gil_mid_call(ext):
    # Found by review: `arenapool_realloc_or_raise` of a large block released
    # the GIL while it moved the array, so another Python thread running a
    # method of the same owner read the array after it was freed (a
    # segfault). A cymem port's methods count on holding the GIL throughout.
    buffer = ext.gil_owner.Buffer(2 << 20)
    stop = threading.Event()
    pages = []

    def touch():
        while not stop.is_set():
            pages.append(buffer.touch())

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=touch)
    thread.start()
    try:
        for i in range(300):
            buffer.resize((32 << 20) if i % 2 == 0 else (2 << 20))
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)
    assert pages and all(count in ((2 << 20) // 4096, (32 << 20) // 4096) for count in pages)
