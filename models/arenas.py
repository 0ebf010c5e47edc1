"""Cap glibc's malloc arenas, so a thread pool does not multiply the beam search's memory.

Under contention glibc gives each allocating thread an arena of its own (up to
eight per core) and keeps what is freed there for reuse. A wide beam search
allocates tens of MB for one final, so with the server's thread pool every
thread that ever decoded keeps a peak of its own: 12 threads decoding at width
256 took a process from 198 to 472 MB resident, and from 198 to 259 MB with two
arenas (measured by decoding the tuning slice in 12 threads). Two arenas cost a
little allocator contention and keep memory flat. A ``MALLOC_ARENA_MAX`` in the
environment wins, and only glibc has the knob: elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """True when glibc took the cap; it applies to arenas made from now on, so call it before threads start."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc
        return False
