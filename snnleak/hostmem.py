"""Keep freed host memory in the process, so that an attack's next evaluation reuses it.

An evaluation allocates and frees the same large tensors every time (a batched step's feature
maps are megabytes each). glibc's malloc serves a block above its mmap threshold (128 KiB at
start, raised only as such blocks are freed) with a fresh ``mmap`` and unmaps it on ``free``;
memory at the top of the heap beyond its trim threshold goes back to the kernel too. Every
reuse then touches new pages, one page fault per 4 KiB: 340,000 of them in 16 trials of the
bench's K = 16 iDLG run, about a tenth of its time (``docs/reproducing.md``). With the
thresholds raised, the freed blocks stay in the heap and are reused as they are, which
PyTorch's CPU tuning guide gets from an allocator swapped in with ``LD_PRELOAD`` (jemalloc,
tcmalloc); this gets it from glibc itself, with nothing to install.

It changes no number a computation gives, only where its memory comes from. The command line
applies it at start (and so does every worker process); a library user may call
:func:`keep_freed_memory` too. Elsewhere than on glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit): blocks above go to mmap
TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top kept, up to this much


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (``mallopt``) for this process, once; returns
    whether they were set (False off glibc, where the allocator is left as it is)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
