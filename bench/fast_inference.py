"""Reference vs fast path per preset at ngf 64 (random weights with non-trivial statistics) and for the shipped
landscape model, CPU, 2 threads.

Prints median ms of each path (measured in this run), the ratio to the reference, the max and mean abs
difference of the outputs from the reference, and each path's peak RSS (each path runs in its own process).
Every path starts from the same label ids (compact_semantics): the reference encodes them one-hot, as
NVIDIA's code does, the fast path reads them.
"fast-bf16" is the opt-in bf16-convolution variant. GauGAN tunes glibc malloc (gaugan/allocator.py), so every
path runs so tuned, except "reference-plain-malloc": the reference as a plain script runs it. "ratio" is against
the tuned reference; "vs plain" against the plain one.   python bench/fast_inference.py
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

import common

ROOT = common.ROOT
sys.path.insert(0, str(ROOT / "tests"))


def run_path(preset_name: str, path: str, repeats: int, out: str) -> None:
    import numpy as np
    import torch
    from helpers import coco_sample, coco_sample_names, randomize_

    from gaugan import PRESETS, SPADEGenerator, instance_map, load_generator
    from gaugan.allocator import keep_freed_memory, release_free_memory
    from gaugan.semantics import compact_semantics
    from gaugan.data.landscape import landscape_layout
    from gaugan.samples import HELD_OUT_SEED
    from gaugan.networks import FastSPADEGenerator
    from gaugan.pipeline import resize_nearest

    torch.set_num_threads(2)
    if preset_name == "landscape":  # the shipped model, trained weights, on a held-out procedural layout
        network = load_generator(ROOT / "checkpoints" / "landscape")
        label = landscape_layout(np.random.default_rng(HELD_OUT_SEED), 256, 256)
    else:
        network = randomize_(SPADEGenerator(PRESETS[preset_name]), seed=0).eval()
        label, _ = coco_sample(coco_sample_names()[3])  # a real COCO-Stuff layout, ids folded into the label space
        label = np.where(label == 255, 0, label) % network.preset.label_nc if preset_name != "coco" else label
    preset = network.preset
    if path.startswith("fast"):
        dtype = torch.bfloat16 if path == "fast-bf16" else torch.float32
        network = FastSPADEGenerator(network, release_source=True, conv_dtype=dtype)
    if path != "reference-plain-malloc":  # as GauGAN does once its network is built
        release_free_memory()
        keep_freed_memory()
    size = preset.output_size
    small = torch.from_numpy(resize_nearest(label.astype(np.int64), size))[None, None]
    instance = torch.from_numpy(resize_nearest(instance_map(label, preset.thing_ids), size))[None, None]
    channels, edges = compact_semantics(small, instance, preset)
    z = torch.randn(1, preset.z_dim, generator=torch.Generator().manual_seed(0)) if preset.use_vae else None
    with torch.inference_mode():  # from the label ids: the reference encodes them one-hot, the fast path reads them
        seconds = common.median_seconds(lambda: network.from_compact(channels, edges, z), repeats)
        torch.save(network.from_compact(channels, edges, z), out)
    print(f"{seconds * 1000:.1f} {common.peak_rss_gib():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=["coco", "ade20k", "cityscapes", "landscape"],
                        help="official presets at ngf 64 (random weights) and/or 'landscape' (the shipped model)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_path(*args.child[:2], args.repeats, args.child[2])
        return
    import torch

    print(f"{'preset':<11} {'path':<22} {'ms':>7} {'ratio':>6} {'vs plain':>8} {'max|diff|':>10} {'mean|diff|':>11} "
          f"{'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            results = {}
            for path in ("reference-plain-malloc", "reference", "fast", "fast-bf16"):
                out = f"{tmp}/{name}_{path}.pt"
                line = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--child", name, path, out],
                                      check=True, capture_output=True, text=True).stdout.split()
                results[path] = (float(line[0]), float(line[1]), torch.load(out, weights_only=True))
            ref_ms, _, ref_y = results["reference"]
            plain_ms = results["reference-plain-malloc"][0]
            for path, (ms, rss, y) in results.items():
                diff = (ref_y - y).abs()
                print(f"{name:<11} {path:<22} {ms:7.0f} {ref_ms / ms:6.2f} {plain_ms / ms:8.2f} {diff.max().item():10.2e} "
                      f"{diff.mean().item():11.2e} {rss:8.2f}G", flush=True)


if __name__ == "__main__":
    main()
