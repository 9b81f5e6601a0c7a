"""Keep freed tensor memory in the process instead of handing it back to the OS each step.

A training step of a batch of small networks allocates and frees a few dozen tensors of a few
hundred kilobytes. glibc's malloc serves blocks above its (adaptive) mmap threshold with fresh
``mmap`` pages, so every step pays page faults for memory it just freed, and how often depends
on the history of the heap: measured on 30 networks of 4 x 5, 2,000 steps, the same run took
2.7 to 8.5 s. A fixed threshold of 16 MB (and a trim threshold of 256 MB) keeps such blocks in
the heap: 1.9 to 3.4 s over repeated runs on the same (noisy, virtual) machine. The Levenberg-
Marquardt Jacobians of a batch are larger than any threshold glibc accepts (30 networks of 250
weights on 2,048 points: 123 MB each), so mmap is switched off altogether (``M_MMAP_MAX`` 0, a
trim threshold of 1 GB): tent-warp with 30 knots at 5 seeds then took 37 s instead of 43 (9.0 s
of system time, 1.2 after), tent-lm at depth 12 24 s instead of 29, auto at depth 8 106 s instead
of 124, for about 10% more peak memory. This is done once per process, on Linux with glibc
only, unless ``TENTNET_NO_MALLOPT=1``. ``import tentnet`` changes nothing in the host process:
the ``tentnet`` command and the worker processes of ``tentnet reproduce`` apply it, and a
program that trains through the library can call ``tentnet.keep_freed_memory()`` once.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_done = False


def keep_freed_memory() -> bool:
    """Apply the thresholds (once); True if they are in force."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("TENTNET_NO_MALLOPT") == "1":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = all(
        mallopt(option, value) == 1
        for option, value in (
            (_M_MMAP_THRESHOLD, 16 << 20),
            (_M_MMAP_MAX, 0),
            (_M_TRIM_THRESHOLD, 1 << 30),
        )
    )
    _done = ok
    return ok
