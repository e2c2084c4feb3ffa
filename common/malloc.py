"""glibc's allocator, told how a threaded server uses it.

A worker serves requests from several threads. glibc gives each thread that finds the main
arena busy an arena of its own (up to eight per core), and memory freed in one arena serves
only that arena's later allocations: a worker of four threads kept the high-water mark of each
(an Auth worker whose four threads had each checked a password held about 76 MB more for the
rest of its life). With one arena, memory freed by one request serves the next, whichever
thread takes it. Allocations happen with the GIL held for the most part, so the threads seldom
wait for the arena's lock; ``bench.memory`` prints the CPU next to the memory.
"""

from __future__ import annotations

import ctypes
from functools import cache

M_ARENA_MAX = -8  # glibc's mallopt parameter


@cache
def share_one_malloc_arena() -> bool:
    """Have every thread of this process (and of the processes it forks later) allocate from
    one glibc malloc arena; False where the C library has no ``mallopt`` (not glibc), which
    changes nothing. Called before any thread starts: arenas made before it stay."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def give_back_free_memory() -> bool:
    """Return the memory this process has freed to the system (glibc's ``malloc_trim``): after
    a large, short-lived cache (an import's SQLite page cache, :mod:`common.bulk_writes`), which
    glibc would otherwise keep for the process. False where there is no ``malloc_trim``."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim(0)
    return True
