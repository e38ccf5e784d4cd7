"""The shipped model through the public API: GauGAN.from_checkpoint("checkpoints/landscape").generate(...) at 256²,
2 threads, fast path vs reference, on a held-out procedural layout and on a hand-drawn scene.

Prints the median ms of the network alone and of generate() end to end (label map in, PIL image out), and the
load time. Budget (issue 4): generator <= 60 ms.   python bench/shipped_model.py
"""
from __future__ import annotations

import argparse
import time

import common
import numpy as np
import torch

from gaugan import GauGAN
from gaugan.data.landscape import landscape_layout
from gaugan.samples import HELD_OUT_SEED, hand_drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    scenes = {"held-out layout": landscape_layout(np.random.default_rng(HELD_OUT_SEED), 256, 256),
              "hand-drawn": hand_drawn(2)}
    print(f"{'path':<10} {'scene':<16} {'load s':>7} {'network ms':>11} {'generate() ms':>14}")
    for fast in (True, False):
        started = time.perf_counter()
        model = GauGAN.from_checkpoint(common.ROOT / "checkpoints" / "landscape", device="cpu", fast=fast)
        load = time.perf_counter() - started
        for name, labels in scenes.items():
            (channels, edges), z = model.prepare(labels), model.style_code(0, None)
            with torch.inference_mode():
                network = common.median_seconds(lambda: model.network.from_compact(channels, edges, z), args.repeats)
            generate = common.median_seconds(lambda: model.generate(labels, seed=0), args.repeats)
            print(f"{'fast' if fast else 'reference':<10} {name:<16} {load:7.2f} {network * 1000:11.1f} "
                  f"{generate * 1000:14.1f}", flush=True)


if __name__ == "__main__":
    main()
