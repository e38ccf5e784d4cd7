"""Time and peak memory of loading model folders, each load in a fresh process, the cases interleaved run by run.

Cases: the shipped landscape and landscape-sketch folders; the landscape folder with its generator saved in
spectral norm's layout of torch 1.0 (a normalised `weight`, no `weight_v`); and with one extra tensor of --extra-mb
that fits no network (refused before its values are read). Prints the median and worst of each over --runs.

python bench/weights_loading.py [--runs 5] [--extra-mb 400]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import common
import torch

LOAD = """
import sys, time
sys.path.insert(0, {root!r})
import common
from gaugan import load_model
from gaugan.errors import CheckpointError
from gaugan.sketch import load_sketch_network
start = time.perf_counter()
try:
    (load_sketch_network if {sketch} else load_model)({folder!r})
    outcome = "loaded"
except CheckpointError:
    outcome = "refused"
print(time.perf_counter() - start, common.peak_rss_gib(), outcome)
"""


def old_layout_copy(source: Path, folder: Path) -> Path:
    """The model folder with its generator in torch 1.0's spectral-norm layout."""
    shutil.copytree(source, folder)
    state = torch.load(folder / "generator.pth", weights_only=True)
    old = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            continue
        old[key] = value
        if key.endswith(".weight_orig"):
            name = key[: -len("_orig")]
            sigma = torch.dot(state[name + "_u"], value.reshape(value.shape[0], -1) @ state[name + "_v"])
            old[name] = value / sigma
    torch.save(old, folder / "generator.pth")
    return folder


def padded_copy(source: Path, folder: Path, extra_mb: int) -> Path:
    """The model folder with one extra float16 tensor of extra_mb in its generator."""
    shutil.copytree(source, folder)
    state = torch.load(folder / "generator.pth", weights_only=True)
    state["extra"] = torch.zeros(extra_mb * 2**19, dtype=torch.float16)
    torch.save(state, folder / "generator.pth")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra-mb", type=int, default=400)
    args = parser.parse_args()
    shipped = common.ROOT / "checkpoints"
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"landscape": (shipped / "landscape", False),
                 "landscape-sketch": (shipped / "landscape-sketch", True),
                 "landscape, torch 1.0 layout": (old_layout_copy(shipped / "landscape", Path(tmp) / "old"), False),
                 f"landscape + {args.extra_mb} MB misfit": (
                     padded_copy(shipped / "landscape", Path(tmp) / "padded", args.extra_mb), False)}
        results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, (folder, sketch) in cases.items():
                code = LOAD.format(root=str(common.ROOT / "bench"), folder=str(folder), sketch=sketch)
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                seconds, peak, outcome = out.stdout.split()
                results[name].append((float(seconds), float(peak), outcome))
    print(f"{'case':<32} {'outcome':<8} {'load s median/worst':>20} {'peak GiB median/worst':>22}")
    for name, runs in results.items():
        seconds, peaks = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{name:<32} {runs[0][2]:<8} {statistics.median(seconds):>10.2f} / {max(seconds):<7.2f} "
              f"{statistics.median(peaks):>11.2f} / {max(peaks):<7.2f}")


if __name__ == "__main__":
    main()
