"""Median seconds per image and peak RSS of each official preset at ngf 64 (random weights), CPU, batch 1.

Each preset runs in its own process so peak RSS is per preset:  python bench/generator.py [--repeats N]
"""
from __future__ import annotations

import argparse
import subprocess
import sys

import common


def measure(preset_name: str, repeats: int) -> None:
    import torch

    from gaugan import PRESETS, SPADEGenerator, encode_semantics

    torch.set_num_threads(2)
    preset = PRESETS[preset_name]
    generator = SPADEGenerator(preset).eval()
    label = torch.randint(0, preset.label_nc, (1, 1, *preset.output_size), generator=torch.Generator().manual_seed(0))
    seg = encode_semantics(label, label, preset)
    with torch.inference_mode():
        seconds = common.median_seconds(lambda: generator(seg), repeats)
    h, w = preset.output_size
    print(f"{preset_name:<11} {h}x{w:<5} {seconds:8.3f} s  {common.peak_rss_gib():6.2f} GiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.preset:
        measure(args.preset, args.repeats)
        return
    print(f"{'preset':<11} {'size':<9} {'median':>10}  {'peak RSS':>9}   (ngf 64, random weights, 2 threads, batch 1)")
    for name in ("coco", "ade20k", "cityscapes"):
        subprocess.run([sys.executable, __file__, "--preset", name, "--repeats", str(args.repeats)], check=True)


if __name__ == "__main__":
    main()
