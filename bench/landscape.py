"""Procedural landscape throughput: scenes per second at 256², one thread (goal >= 50)."""
from __future__ import annotations

import common
import torch

from gaugan.data.landscape import landscape_scene


def main() -> None:
    torch.set_num_threads(1)
    count = 40
    for size in (128, 256):
        seconds = common.median_seconds(lambda size=size: [landscape_scene(s, (size, size)) for s in range(count)], repeats=3)
        print(f"{size}x{size}: {count / seconds:6.1f} scenes/s on one thread")


if __name__ == "__main__":
    main()
