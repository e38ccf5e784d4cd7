"""The fast path against its peers on real layouts, per preset at ngf 64, CPU, 2 threads.

Layouts: every COCO-Stuff sample in ../shared/coco_samples with its instance map (coco); the same maps' geometry
with ids folded into ADE20K's 150 classes (ade20k) or, cut to a 1:2 strip, into Cityscapes' 35 with things kept
as things (cityscapes); and two doodles (a hand-drawn scene, a stroke doodle) for each preset. Weights: random
with non-trivial statistics (NVIDIA's are not shipped), so outputs are not saturated.

Paths, timed interleaved pass by pass in one process so that drift of a shared machine hits them alike:
- reference: SPADEGenerator layer by layer from the label ids, one-hot encoded as NVIDIA's code does;
- fast: FastSPADEGenerator from the label ids;
- onnxruntime, openvino: the same network (spectral norm removed) exported to ONNX, fed the one-hot input
  (encoded outside the timing); the optional `bench` requirements (requirements-bench.txt). Missing ones are named.
Every path gets the same input from semantics.encode. Prints per-layout medians, then per preset the median and
worst (lowest) ratio of each path's time to the fast path's over the layouts, the largest |output - reference| of
each path, and its peak RSS (each path in its own process: load, fold or compile, two passes).
Shared-machine caveat: only ratios from one interleaved run mean anything.

    python bench/fast_inference.py [--presets coco ade20k cityscapes] [--maps 13] [--repeats 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import torch
from PIL import Image

from gaugan import PRESETS, Preset, SPADEGenerator
from gaugan.allocator import tune_for_inference
from gaugan.data.landscape import doodle_layout
from gaugan.networks import FastSPADEGenerator
from gaugan.networks.random_init import randomize_
from gaugan.samples import HELD_OUT_SEED, hand_drawn
from gaugan.semantics import encode, one_hot_semantics, resize_nearest

COCO_SAMPLES = common.ROOT.parent / "shared" / "coco_samples"
PEERS = {"onnxruntime": "onnxruntime", "openvino": "openvino"}  # path -> module it needs
THREADS = 2


def coco_maps() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, label, instance) of every COCO-Stuff sample."""
    names = sorted(p.name for p in (COCO_SAMPLES / "label").glob("*.png"))
    return [(name.removesuffix(".png"), np.array(Image.open(COCO_SAMPLES / "label" / name)),
             np.array(Image.open(COCO_SAMPLES / "instance" / name))) for name in names]


def as_ade20k(label: np.ndarray) -> np.ndarray:
    """A COCO-Stuff map's regions with ids folded into ADE20K's 150 classes (255 stays dont-care)."""
    return np.where(label == 255, 255, label % 150)


def as_cityscapes(label: np.ndarray, instance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The middle 1:2 strip of a COCO-Stuff map, things folded into Cityscapes' thing ids 24..33 and stuff into
    0..23 (unlabelled -> 0), with the matching strip of the instance map."""
    h, w = label.shape
    top = max(0, (h - w // 2) // 2)
    label, instance = label[top:top + w // 2], instance[top:top + w // 2]
    ids = np.where(label < 91, 24 + label % 10, np.where(label == 255, 0, label % 24))
    return ids, instance


def layouts(preset: Preset, maps: int) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(name, label ids, instance ids or None) for a preset: real maps first, then the two doodles."""
    found = coco_maps()[:maps]
    if preset.name == "coco":
        real = found
    elif preset.name == "ade20k":
        real = [(name, as_ade20k(label), None) for name, label, _ in found]
    else:
        real = [(name, *as_cityscapes(label, instance)) for name, label, instance in found]
    h, w = preset.output_size
    doodles = [("doodle-hand-drawn", resize_nearest(hand_drawn(0), (h, w)), None),
               ("doodle-strokes", doodle_layout(np.random.default_rng(HELD_OUT_SEED), h, w), None)]
    return real + doodles


def reference_network(preset: Preset) -> SPADEGenerator:
    """The preset's generator at ngf 64 with random, non-trivial weights (the same for every path)."""
    return randomize_(SPADEGenerator(preset), seed=0).eval()


def export_onnx(preset: Preset, path: Path) -> None:
    """The reference network, spectral norm removed (its eval-mode weights kept), as ONNX for the peers."""
    network = reference_network(preset)
    for module in network.modules():
        if hasattr(module, "weight_orig"):
            torch.nn.utils.remove_spectral_norm(module)
    seg = torch.zeros(1, preset.semantic_nc, *preset.output_size)
    torch.onnx.export(network, (seg,), str(path), dynamo=False, opset_version=17, input_names=["seg"])


def runner(path: str, preset: Preset, onnx_file: Path):
    """A function from (channels, edges, seg) to the image as a tensor, for one path."""
    if path == "reference":
        network = reference_network(preset)
        return lambda channels, edges, seg: network.from_compact(channels, edges)
    if path == "fast":
        network = FastSPADEGenerator(reference_network(preset), release_source=True)
        return lambda channels, edges, seg: network.from_compact(channels, edges)
    if path == "onnxruntime":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads yield to other paths
        session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        return lambda channels, edges, seg: torch.from_numpy(session.run(None, {"seg": seg.numpy()})[0])
    import openvino

    compiled = openvino.Core().compile_model(str(onnx_file), "CPU", {"INFERENCE_NUM_THREADS": THREADS,
                                                                     "INFERENCE_PRECISION_HINT": "f32"})
    return lambda channels, edges, seg: torch.from_numpy(compiled(seg.numpy())[0].copy())


def inputs(preset: Preset, maps: int) -> list[tuple[str, torch.Tensor, torch.Tensor | None, torch.Tensor]]:
    """(name, channels, edges, one-hot seg) per layout, all from semantics.encode."""
    encoded = []
    for name, label, instance in layouts(preset, maps):
        channels, edges = encode(label, instance, preset)
        encoded.append((name, channels, edges, one_hot_semantics(channels, edges, preset)))
    return encoded


def child_peak_rss(preset_name: str, path: str, onnx_file: str) -> None:
    """One path alone: build it, two passes on the first layout, print peak RSS in GiB."""
    torch.set_num_threads(THREADS)
    preset = PRESETS[preset_name]
    run = runner(path, preset, Path(onnx_file))
    tune_for_inference()
    name, channels, edges, seg = inputs(preset, 1)[0]
    with torch.inference_mode():
        for _ in range(2):
            run(channels, edges, seg)
    print(f"{common.peak_rss_gib():.3f}")


def interleaved(preset: Preset, paths: list[str], onnx_file: Path, maps: int, repeats: int) -> dict:
    """{layout: {path: (median seconds, max |output - reference|)}}, paths timed in turn pass by pass."""
    runs = {path: runner(path, preset, onnx_file) for path in paths}
    tune_for_inference()
    results = {}
    encoded = inputs(preset, maps)
    with torch.inference_mode():
        for run in runs.values():  # one warm-up pass each
            run(*encoded[0][1:])
        for name, channels, edges, seg in encoded:
            times: dict[str, list[float]] = {path: [] for path in paths}
            outputs = {}
            for _ in range(repeats):
                for path, run in runs.items():
                    start = time.perf_counter()
                    outputs[path] = run(channels, edges, seg)
                    times[path].append(time.perf_counter() - start)
            assert outputs["reference"].std() > 0.05, "saturated output would hide differences"
            results[name] = {path: (statistics.median(times[path]),
                                    float((outputs[path] - outputs["reference"]).abs().max())) for path in paths}
            print(f"{preset.name:<11} {name:<20} " + " ".join(f"{path} {1000 * results[name][path][0]:7.0f} ms"
                                                              for path in paths), flush=True)
    return results


def summary(preset: Preset, results: dict, rss: dict[str, float]) -> list[str]:
    """Per path: median and worst ratio of its time to the fast path's over the layouts, max diff, peak RSS."""
    lines = []
    for path in next(iter(results.values())):
        ratios = [layout[path][0] / layout["fast"][0] for layout in results.values()]
        worst_diff = max(layout[path][1] for layout in results.values())
        lines.append(f"| {preset.name} | {path} | {statistics.median(ratios):.2f} | {min(ratios):.2f} | "
                     f"{worst_diff:.1e} | {rss.get(path, float('nan')):.2f} |")
    return lines


def run_child(*args: str) -> str:
    return subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["coco", "ade20k", "cityscapes"], choices=sorted(PRESETS))
    parser.add_argument("--maps", type=int, default=13, help="real maps per preset (COCO-Stuff samples, at most 13)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per layout and path")
    parser.add_argument("--no-rss", action="store_true", help="skip the per-path peak RSS processes")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    if args.child:
        child_peak_rss(*args.child)
        return
    paths = ["reference", "fast"]
    for path, module in PEERS.items():
        if importlib.util.find_spec(module) is None:
            print(f"{path}: not installed (pip install -r requirements-bench.txt); left out")
        else:
            paths.append(path)
    table = ["| preset | path | median time / fast | worst (lowest) | max abs diff vs reference | peak RSS GiB |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            preset = PRESETS[name]
            onnx_file = Path(tmp) / f"{name}.onnx"
            if len(paths) > 2:
                export_onnx(preset, onnx_file)
            results = interleaved(preset, paths, onnx_file, args.maps, args.repeats)
            rss = {} if args.no_rss else {path: float(run_child(name, path, str(onnx_file))) for path in paths}
            table += summary(preset, results, rss)
    print("\n".join(table))


if __name__ == "__main__":
    main()
