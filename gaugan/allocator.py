"""Process memory-allocator tuning for CPU inference and training.

A forward pass allocates and frees tensors of tens of MB. glibc's malloc serves blocks of 32 MiB and more
with fresh mappings and unmaps them when freed, so every pass pays first-touch page faults again, which
cost more than the arithmetic in VMs (a 48 MB copy: 16 ms into fresh pages, 5 ms into reused ones).
Serving every block from the heap and keeping freed memory there avoids that; for inference it does not
raise the peak, only how soon memory goes back to the system. release_free_memory() hands back what a
one-off step (loading, folding weights) left free.

These change the whole process, so only programs call them (the CLI, the page, the bench): tune_for_inference()
once their model is loaded, keep_freed_memory() before training (faster steps for a somewhat higher peak:
bench/train_memory.py, figures in docs/benchmarks.md); library constructors never do.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**30  # free memory at the heap's top kept before giving it back


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose malloc these settings are for), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def keep_freed_memory() -> bool:
    """Ask glibc malloc to serve all blocks from its heap and keep freed ones; False where it does not apply."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc's malloc_trim); does nothing elsewhere."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def tune_for_inference() -> bool:
    """Hand back what loading left free, then keep freed blocks for the passes to come; False where not glibc."""
    release_free_memory()
    return keep_freed_memory()
