"""The shipped sketch model through the public API: Pix2Pix.from_checkpoint("checkpoints/landscape-sketch")
.generate(sketch) at 256², 2 threads, on a held-out landscape sketch.

Prints the median and best ms of the network alone and of generate() end to end (sketch in, PIL image out),
the model folder's size and the load time. Budget (issue 13): <= 150 ms per image, <= 25 MB.
    python bench/sketch_model.py [--checkpoint DIR]
"""
from __future__ import annotations

import argparse
import time

import common
import numpy as np
import torch

from gaugan import Pix2Pix
from gaugan.data.sketch import LANDSCAPE_SKETCH, SketchSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=str(common.ROOT / "checkpoints" / "landscape-sketch"))
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    size_mb = sum(p.stat().st_size for p in common.Path(args.checkpoint).iterdir()) / 1e6
    started = time.perf_counter()
    model = Pix2Pix.from_checkpoint(args.checkpoint, device="cpu")
    load = time.perf_counter() - started
    sketch = SketchSource(LANDSCAPE_SKETCH, "test")[0][0]
    x = torch.from_numpy(sketch).permute(2, 0, 1)[None].float() / 127.5 - 1
    times = {}
    with torch.inference_mode():
        times["network"] = common.timings(lambda: model.network(x), args.repeats)
    times["generate()"] = common.timings(lambda: model.generate(sketch), args.repeats)
    print(f"{args.checkpoint}: {size_mb:.1f} MB on disk, loaded in {load:.2f} s, {torch.get_num_threads()} threads")
    for name, values in times.items():
        print(f"{name:<11} median {np.median(values) * 1000:7.1f} ms   best {min(values) * 1000:7.1f} ms  (256x256)")


if __name__ == "__main__":
    main()
