"""Time training steps of the shipped landscape model's shape with glibc malloc's defaults and with freed memory kept
in the heap (what `gaugan train` sets, gaugan/allocator.py), each in its own process, the two alternating.

    python bench/train_memory.py [--rounds 3] [--steps 3] [--batch-size 8]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from common import ROOT
from train_step import shipped_shape

from gaugan.allocator import keep_freed_memory
from gaugan.train import Trainer, TrainConfig, precision_name

SETTINGS = ("default", "kept")


def child(setting: str, steps: int, batch_size: int) -> None:
    """Train steps + 1 (the first warms up) in this process, rendering its own batches (no workers), and print their
    seconds and this process's peak RSS as JSON."""
    if setting == "kept":
        keep_freed_memory()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(TrainConfig(out=out, data="landscape", batch_size=batch_size, **shipped_shape()),
                          torch.device("cpu"))
        trainer.batches.scan()
        seconds = []
        for step in range(steps + 1):
            batch = trainer.batches(step)
            begin = time.perf_counter()
            trainer.train_step(*batch)
            seconds.append(time.perf_counter() - begin)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds[1:], "peak_mb": peak_mb, "precision": precision_name(trainer.bf16)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="processes per setting, alternating")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process, after one warm-up step")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.batch_size)
        return
    runs: dict[str, list[dict]] = {setting: [] for setting in SETTINGS}
    for round_ in range(args.rounds):
        for setting in SETTINGS if round_ % 2 == 0 else SETTINGS[::-1]:
            command = [sys.executable, __file__, "--child", setting, "--steps", str(args.steps),
                       "--batch-size", str(args.batch_size)]
            output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
            runs[setting].append(json.loads(output.strip().splitlines()[-1]))
    print(f"one training step, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"{runs['kept'][0]['precision']}; {args.rounds} processes per setting, {args.steps} steps each")
    medians = {}
    for setting, results in runs.items():
        seconds = [s for result in results for s in result["seconds"]]
        medians[setting] = [statistics.median(result["seconds"]) for result in results]
        print(f"  {setting}: median {statistics.median(seconds):.2f} s, worst {max(seconds):.2f} s, "
              f"peak RSS {max(result['peak_mb'] for result in results):,.0f} MB")
    ratios = [d / k for d, k in zip(medians["default"], medians["kept"])]
    print(f"  default / kept, per pair of processes: median {statistics.median(ratios):.2f}×, "
          f"lowest {min(ratios):.2f}×")


if __name__ == "__main__":
    main()
