"""Time estimates for long loops (training, a segmenter), said once after their first steps."""
from __future__ import annotations

import time
from collections.abc import Callable


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 40 s, 12 min, 85.3 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Estimate:
    """Call step() once per step; after `after` steps it says how long the rest of the loop will take."""

    def __init__(self, total: int, what: str, say: Callable[[str], object], after: int = 3) -> None:
        self.total, self.what, self.say, self.after = total, what, say, after
        self.done = 0
        self.started = time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if self.done == self.after and self.total > self.after:
            per_step = (time.perf_counter() - self.started) / self.done
            self.say(f"{per_step:.2f} s per step: {self.what} in about {duration(per_step * (self.total - self.done))}")
