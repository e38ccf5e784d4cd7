"""Label fidelity of the shipped landscape model's built-in looks beside the codes of its first seeds.

Each style code paints the same held-out photo-textured layouts (`gaugan evaluate --photos`' scenes); the photo
segmenter reads each painting back. Printed per code: mIoU over all layouts, and the median and worst per-layout
mIoU, with the sea's IoU.

python bench/looks.py --photos ~/.cache/gaugan/photos [-n 40] [--seeds 12]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import common  # noqa: F401 (puts the repository on the path)
import numpy as np

from gaugan import GauGAN, shipped_checkpoint
from gaugan.evaluate import (class_iou, confusion, held_out, load_or_train_segmenter, miou, predict,
                             segmenter_config, segmenter_target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, help="the folder of `gaugan data photos`")
    parser.add_argument("-n", type=int, default=40, help="held-out layouts")
    parser.add_argument("--seeds", type=int, default=12, help="seeds 0..N-1 as peers")
    args = parser.parse_args()
    photos = str(Path(args.photos).expanduser())
    model = GauGAN.from_checkpoint(shipped_checkpoint("landscape"))
    classes = model.preset.label_channels
    segmenter = load_or_train_segmenter(segmenter_config("landscape", classes, photo_textures=True), None, False,
                                        photos)
    samples = held_out("landscape", args.n, photos, dontcare=False)
    start = samples.dataset.held_out_start
    layouts = [samples.dataset.sample(start + i, model.preset.output_size)[0] for i in range(args.n)]
    sea = next(label.id for label in model.labels if label.name == "sea")
    codes = {**{f"look {name}": code for name, code in model.looks.items()},
             **{f"seed {seed}": model.style_code(seed, None) for seed in range(args.seeds)}}
    print(f"{len(layouts)} held-out photo-textured layouts, read back by the photo segmenter")
    print(f"{'style code':<20} {'mIoU':>6} {'median':>7} {'worst':>6} {'sea IoU':>8}")
    for name, code in codes.items():
        matrices = []
        for layout in layouts:
            painted = np.asarray(model.generate(layout, style=code))
            matrices.append(confusion(predict(segmenter, [painted])[0][0], segmenter_target(layout), classes))
        per_layout = [miou(m) for m in matrices]
        total = sum(matrices)
        print(f"{name:<20} {miou(total):>6.3f} {np.median(per_layout):>7.3f} {min(per_layout):>6.3f} "
              f"{class_iou(total)[sea]:>8.3f}")


if __name__ == "__main__":
    main()
