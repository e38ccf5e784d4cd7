"""Time one training step of the shipped landscape model's shape in bf16 (autocast) and in fp32, interleaved on the
same batches from the same weights: the figure behind `gaugan train --precision auto`.

    python bench/train_step.py [--batch-size 8] [--repeats 5] [--photos ~/.cache/gaugan/photos]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import torch
from common import ROOT

from gaugan.model_card import read_card
from gaugan.train import Trainer, TrainConfig, precision_name, uses_bf16

STEP_COST = ("ndf", "d_layers", "d_scales", "encoder_ndf", "lambda_perceptual")  # beside the preset: what a step costs


def shipped_shape() -> dict:
    """The shipped landscape model's preset and the training options a step's cost depends on, from its card."""
    card = read_card(ROOT / "checkpoints" / "landscape")
    return {name: card.raw["training"][name] for name in STEP_COST} | {"preset": card.raw["preset"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per precision, each on its own batch")
    parser.add_argument("--photos", default="", help="paint the scenes with photo textures (`gaugan data photos`)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(out=out, data="landscape", photos=args.photos, batch_size=args.batch_size, **shipped_shape())
        trainer = Trainer(config, torch.device("cpu"))
        trainer.batches.scan()
        start = {name: copy.deepcopy(module.state_dict()) for name, module in trainer.modules().items()}
        batches = [trainer.batches(step) for step in range(args.repeats + 1)]
        seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for index, batch in enumerate(batches):
            for precision in seconds:  # interleaved, each from the same weights
                for name, module in trainer.modules().items():
                    module.load_state_dict(start[name])
                trainer.bf16 = precision == "bf16"
                begin = time.perf_counter()
                trainer.train_step(*batch)
                if index:  # the first batch warms both up
                    seconds[precision].append(time.perf_counter() - begin)
    auto = precision_name(uses_bf16("auto", torch.device("cpu")))
    print(f"one training step, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()}; --precision auto picks {auto} here")
    for precision, values in seconds.items():
        print(f"  {precision}: median {statistics.median(values):.2f} s, worst {max(values):.2f} s")
    ratios = [a / b for a, b in zip(seconds["fp32"], seconds["bf16"])]
    print(f"  fp32 / bf16 per batch: median {statistics.median(ratios):.2f}×, lowest {min(ratios):.2f}×")


if __name__ == "__main__":
    main()
