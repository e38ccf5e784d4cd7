"""The shipped model through the public API: GauGAN.from_checkpoint(...).generate(...) at 256², 2 threads, fast
path vs reference, on held-out procedural layouts and hand-drawn scenes; --peer adds another model folder (say an
earlier model) to the same run. Scenes are timed in turn, every model and path on each scene before the next. Wide
(256×384) held-out layouts are also timed on the fast path stretched and with keep_aspect=True (the page's and
`gaugan generate`'s call: mirrored out to 384², painted, cut back).

Prints, per model and path, the load time and the median and worst over the scenes of the per-scene median ms of
generate() end to end (label map in, PIL image out). The live page needs generate() well under 250 ms.
python bench/shipped_model.py [--layouts 12] [--peer DIR]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common
import numpy as np
import torch

from gaugan import GauGAN
from gaugan.data.landscape import landscape_layout
from gaugan.samples import HAND_DRAWN_KINDS, HELD_OUT_SEED, hand_drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per scene (median taken)")
    parser.add_argument("--layouts", type=int, default=12, help="held-out procedural layouts")
    parser.add_argument("--peer", type=Path, help="another model folder to time in the same run")
    args = parser.parse_args()
    torch.set_num_threads(2)
    scenes = [landscape_layout(np.random.default_rng(HELD_OUT_SEED + i), 256, 256) for i in range(args.layouts)]
    scenes += [hand_drawn(kind) for kind in range(HAND_DRAWN_KINDS)]
    folders = {"shipped": common.ROOT / "checkpoints" / "landscape", **({"peer": args.peer} if args.peer else {})}
    models, loads = {}, {}
    for name, folder in folders.items():
        for fast in (True, False):
            started = time.perf_counter()
            models[name, fast] = GauGAN.from_checkpoint(folder, device="cpu", fast=fast)
            loads[name, fast] = time.perf_counter() - started
    times: dict[tuple[str, bool], list[float]] = {key: [] for key in models}
    for labels in scenes:
        for key, model in models.items():
            times[key].append(common.median_seconds(lambda: model.generate(labels, seed=0), args.repeats))
    wide = [landscape_layout(np.random.default_rng(HELD_OUT_SEED + i), 256, 384) for i in range(args.layouts)]
    wide_times: dict[tuple[str, bool], list[float]] = {(name, keep): [] for name in folders for keep in (False, True)}
    for labels in wide:
        for name, keep in wide_times:
            wide_times[name, keep].append(common.median_seconds(
                lambda: models[name, True].generate(labels, seed=0, keep_aspect=keep), args.repeats))
    print(f"{len(scenes)} scenes ({args.layouts} held-out layouts, {HAND_DRAWN_KINDS} hand-drawn), "
          f"{args.repeats} runs each; generate() ms")
    print(f"{'model':<8} {'path':<10} {'load s':>7} {'median':>8} {'worst':>8}")
    for (name, fast), values in times.items():
        print(f"{name:<8} {'fast' if fast else 'reference':<10} {loads[name, fast]:7.2f} "
              f"{statistics.median(values) * 1000:8.1f} {max(values) * 1000:8.1f}")
    print(f"{len(wide)} wide 256×384 held-out layouts, fast path; generate() ms")
    for (name, keep), values in wide_times.items():
        print(f"{name:<8} {'unstretched' if keep else 'stretched':<11} {'':>6} "
              f"{statistics.median(values) * 1000:8.1f} {max(values) * 1000:8.1f}")


if __name__ == "__main__":
    main()
