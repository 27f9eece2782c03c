"""Fewer C allocator arenas for a process of many threads.

glibc's malloc gives each thread that allocates an arena of its own (up to eight per core), and
each keeps some memory it freed: with twenty threads copying tags at once, the process holds
about 10 MiB more than with one, although the interpreter lock lets one thread run at a time and
so gains nothing from them (measured on ``copy --all-tags``: 34 MiB peak with one thread, 45 MiB
with 4 jobs, 35 MiB with 4 jobs and two arenas; no slower). This is a setting of the whole
process: the command line makes it, the library never does.
"""

from __future__ import annotations

import os

#: mallopt's ``M_ARENA_MAX`` (``malloc.h``).
_M_ARENA_MAX = -8


def cap_arenas(count: int = 2) -> bool:
    """Let at most ``count`` malloc arenas serve the process's threads, as ``MALLOC_ARENA_MAX``
    does; call it before the threads start. Only on glibc, and never over a
    ``MALLOC_ARENA_MAX`` the environment sets. Whether the cap was set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"; an error where no glibc says so
    except (ValueError, OSError, AttributeError):
        return False
    if not libc or not libc.startswith("glibc"):
        return False
    import ctypes  # only here: a few milliseconds of import that most commands never need

    try:
        return bool(ctypes.CDLL(None).mallopt(_M_ARENA_MAX, count))
    except (OSError, AttributeError):
        return False
