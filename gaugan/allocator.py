"""Process memory-allocator tuning for CPU inference.

A forward pass allocates and frees tensors of tens of MB. glibc's malloc returns such blocks to the
kernel at once and gets them back as fresh pages, and first-touch page faults then cost more than the
arithmetic (most in VMs, where faults are slow). Keeping freed blocks for reuse avoids that; it does not
raise the peak, only how soon memory goes back to the system.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # blocks up to this size come from the reusable heap (glibc's maximum)
TRIM_THRESHOLD = 2**30  # free memory at the heap's top kept before giving it back


def keep_freed_memory() -> bool:
    """Ask glibc malloc to reuse freed blocks instead of unmapping them; False where it does not apply."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
