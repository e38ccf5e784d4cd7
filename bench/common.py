"""Helpers shared by the bench scripts: timing medians and peak memory."""
from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timings(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall times of fn over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn over `repeats` runs after `warmup` runs."""
    return statistics.median(timings(fn, repeats, warmup))


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, in GiB. Linux: VmHWM, which starts afresh at exec (getrusage's
    peak would count a parent's memory inherited through fork)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
