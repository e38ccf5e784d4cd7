"""A sketch model through the public API: load_sketch_model("checkpoints/landscape-sketch").generate(sketch) at
256², 2 threads, on held-out landscape sketches and the sample sheet's hand-drawn ones; --peer adds another sketch
model folder (say the read-and-paint landscape-sketch-reader) to the same run. Sketches are timed in turn, every
model on each sketch before the next.

Prints, per model, its folder's size on disk (a read-and-paint model's painter not counted), the load time and the
median and worst over the sketches of the per-sketch median ms of the U-Net alone (pix2pix) or of reading the
sketch (read-and-paint), and of generate() end to end (sketch in, PIL image out).
Budget (issue 13): <= 150 ms per image, <= 25 MB.
    python bench/sketch_model.py [--sketches 12] [--peer DIR]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common
import torch

from gaugan import Pix2Pix, load_sketch_model
from gaugan.data.sketch import LANDSCAPE_SKETCH, SketchSource
from gaugan.sketch_samples import HAND_DRAWN, draw_strokes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=common.ROOT / "checkpoints" / "landscape-sketch")
    parser.add_argument("--peer", type=Path, help="another sketch model folder to time in the same run")
    parser.add_argument("--sketches", type=int, default=12, help="held-out landscape sketches")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per sketch (median taken)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    held_out = SketchSource(LANDSCAPE_SKETCH, "test")
    sketches = [held_out[i][0] for i in range(args.sketches)] + [draw_strokes(strokes) for strokes in HAND_DRAWN]
    folders = {"shipped": args.checkpoint, **({"peer": args.peer} if args.peer else {})}
    models, loads = {}, {}
    for name, folder in folders.items():
        started = time.perf_counter()
        models[name] = load_sketch_model(folder, device="cpu")
        loads[name] = time.perf_counter() - started
    first = {name: "network" if isinstance(model, Pix2Pix) else "read()" for name, model in models.items()}
    times = {(name, part): [] for name in models for part in (first[name], "generate()")}
    for sketch in sketches:
        x = torch.tensor(sketch).permute(2, 0, 1)[None].float() / 127.5 - 1
        for name, model in models.items():
            with torch.inference_mode():
                alone = (lambda: model.network(x)) if first[name] == "network" else (lambda: model.read(sketch))
                times[name, first[name]].append(common.median_seconds(alone, args.repeats))
            times[name, "generate()"].append(common.median_seconds(lambda: model.generate(sketch), args.repeats))
    print(f"{len(sketches)} sketches ({args.sketches} held-out, {len(HAND_DRAWN)} hand-drawn), 256x256, "
          f"{args.repeats} runs each, {torch.get_num_threads()} threads; ms")
    print(f"{'model':<8} {'MB':>5} {'load s':>7} {'part':<11} {'median':>8} {'worst':>8}")
    for (name, part), values in times.items():
        size_mb = sum(p.stat().st_size for p in folders[name].iterdir()) / 1e6
        print(f"{name:<8} {size_mb:5.1f} {loads[name]:7.2f} {part:<11} {statistics.median(values) * 1000:8.1f} "
              f"{max(values) * 1000:8.1f}")


if __name__ == "__main__":
    main()
