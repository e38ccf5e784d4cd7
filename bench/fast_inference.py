"""Reference vs fast path per preset at ngf 64 (random weights with non-trivial statistics) and for the shipped
landscape model, CPU, 2 threads.

Prints median ms of each path, the ratio to the reference, the max and mean abs difference of the outputs
from the reference, and each path's peak RSS. Every path starts from the same label ids (compact_semantics):
the reference encodes them one-hot, as NVIDIA's code does, the fast path reads them. "fast-bf16" is the
opt-in bf16-convolution variant.

Timing: reference, fast and fast-bf16 run in one process, interleaved pass by pass, so drift of a shared
machine hits them alike. Peak RSS: each path in its own process (load, fold, two passes). GauGAN tunes
glibc malloc once its network is built (gaugan/allocator.py), and so do these paths; "reference-plain-malloc"
is the reference as a plain script runs it (its own process, timed there). "ratio" is against the tuned
reference; "vs plain" against the plain one.   python bench/fast_inference.py
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import common

ROOT = common.ROOT
sys.path.insert(0, str(ROOT / "tests"))
TUNED_PATHS = ("reference", "fast", "fast-bf16")


def build(preset_name: str, path: str):
    """The network for a path and its input: (network, channels, edges, z)."""
    import numpy as np
    import torch
    from helpers import coco_sample, coco_sample_names, randomize_

    from gaugan import PRESETS, SPADEGenerator, instance_map, load_generator
    from gaugan.data.landscape import landscape_layout
    from gaugan.networks import FastSPADEGenerator
    from gaugan.pipeline import resize_nearest
    from gaugan.samples import HELD_OUT_SEED
    from gaugan.semantics import compact_semantics

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
    size = preset.output_size
    small = torch.from_numpy(resize_nearest(label.astype(np.int64), size))[None, None]
    instance = torch.from_numpy(resize_nearest(instance_map(label, preset.thing_ids), size))[None, None]
    channels, edges = compact_semantics(small, instance, preset)
    z = torch.randn(1, preset.z_dim, generator=torch.Generator().manual_seed(0)) if preset.use_vae else None
    return network, channels, edges, z


def tune_malloc() -> None:
    """What GauGAN does once its network is built."""
    from gaugan.allocator import keep_freed_memory, release_free_memory

    release_free_memory()
    keep_freed_memory()


def child_peak_rss(preset_name: str, path: str, repeats: int) -> None:
    """One path alone: median time and peak RSS over loading, folding and the passes."""
    import torch

    torch.set_num_threads(2)
    network, channels, edges, z = build(preset_name, path)
    if path != "reference-plain-malloc":
        tune_malloc()
    with torch.inference_mode():
        seconds = common.median_seconds(lambda: network.from_compact(channels, edges, z), repeats)
    print(f"{seconds * 1000:.1f} {common.peak_rss_gib():.3f}")


def child_interleaved(preset_name: str, repeats: int, out: str) -> None:
    """Reference and fast paths in one process, timed pass by pass in turn; saves their outputs."""
    import torch

    torch.set_num_threads(2)
    runs = {path: build(preset_name, path) for path in TUNED_PATHS}
    tune_malloc()
    times: dict[str, list[float]] = {path: [] for path in TUNED_PATHS}
    outputs = {}
    with torch.inference_mode():
        for round_ in range(repeats + 1):  # the first round warms up
            for path, (network, channels, edges, z) in runs.items():
                start = time.perf_counter()
                outputs[path] = network.from_compact(channels, edges, z)
                if round_:
                    times[path].append(time.perf_counter() - start)
    torch.save(outputs, out)
    print(" ".join(f"{statistics.median(times[path]) * 1000:.1f}" for path in TUNED_PATHS))


def run_child(*args: str) -> list[str]:
    return subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True,
                          text=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--presets", nargs="+", default=["coco", "ade20k", "cityscapes", "landscape"],
                        help="official presets at ngf 64 (random weights) and/or 'landscape' (the shipped model)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, name, repeats, *out = args.child
        if kind == "interleaved":
            child_interleaved(name, int(repeats), out[0])
        else:
            child_peak_rss(name, kind, int(repeats))
        return
    import torch

    print(f"{'preset':<11} {'path':<22} {'ms':>7} {'ratio':>6} {'vs plain':>8} {'max|diff|':>10} {'mean|diff|':>11} "
          f"{'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            out = f"{tmp}/{name}.pt"
            ms = dict(zip(TUNED_PATHS, map(float, run_child("interleaved", name, str(args.repeats), out))))
            outputs = torch.load(out, weights_only=True)
            rss = {path: float(run_child(path, name, "1")[1]) for path in TUNED_PATHS}  # timed in the interleaved run
            plain_ms, rss["reference-plain-malloc"] = map(float, run_child("reference-plain-malloc", name, str(args.repeats)))
            ms["reference-plain-malloc"] = plain_ms
            for path in ("reference-plain-malloc", *TUNED_PATHS):
                diff = (outputs["reference"] - outputs.get(path, outputs["reference"])).abs()
                print(f"{name:<11} {path:<22} {ms[path]:7.0f} {ms['reference'] / ms[path]:6.2f} {plain_ms / ms[path]:8.2f} "
                      f"{diff.max().item():10.2e} {diff.mean().item():11.2e} {rss[path]:8.2f}G", flush=True)


if __name__ == "__main__":
    main()
