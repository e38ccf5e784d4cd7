"""Realism on layouts traced from real photographs: each 256² crop of a held-out photo is read into a label map by
the photo segmenter (checkpoints/segmenter-photo, gaugan/tracing.py), each model paints that map, and KID / Fréchet
distance (EfficientNet-Lite1) compare the paintings with the crops; the same segmenter reads each painting back, and
its mIoU against the traced map is the label fidelity. Also writes a sheet: traced layout | each model (the photos
themselves stay out of it: they are not ours to redistribute in the repository). `--renderer` adds the
photo-textured training renderer as a painter: how photographic the training scenes are on real layouts. A sketch
model (`kind: sketch`) paints each layout's line drawing (gaugan/data/landscape_sketch.py), as a person would
outline the photo.

python bench/photo_layouts.py --photos ~/.cache/gaugan/photos [--checkpoint DIR ...] [--without-style-prior]
                               [--renderer] [--first-seed N] [--sheet FILE]
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import common  # noqa: F401 (puts the repository on the path)
import numpy as np
import torch
from PIL import Image

from gaugan import GauGAN, load_sketch_model, shipped_checkpoint
from gaugan.data.landscape import random_look, render
from gaugan.data.landscape_sketch import line_sketch
from gaugan.data.texture_bank import render_photographic, shared_bank
from gaugan.evaluate import AnySegmenter, confusion, load_or_train_segmenter, miou, segmenter_config
from gaugan.imagenet import REALISM_NETWORK, ImageNetFeatures
from gaugan.labelmaps import colourize
from gaugan.realism import frechet_distance, held_out_crops, kid, photo_halves, pooled_features
from gaugan.sketch import model_kind
from gaugan.sketch_reader import ReadAndPaint
from gaugan.tracing import trace
from label_colors import PALETTES

SHEET_ROWS = 4
Painter = Callable[[np.ndarray, int], np.ndarray]  # (layout, seed) -> (H, W, 3) uint8 image


def read_back(segmenter: AnySegmenter, images: list[np.ndarray], batch: int = 16) -> np.ndarray:
    """(N, H, W) label maps the segmenter traces from images, in batches."""
    return np.concatenate([trace(segmenter, images[i:i + batch]) for i in range(0, len(images), batch)])


def model_painter(path: str | Path, style_prior: bool = True) -> Painter | None:
    """Paints a layout with a model folder's generator, with the seed given; a sketch model paints its outline
    (with that seed if its seed varies the photo: a read-and-paint model's does, a pix2pix model's only
    turns on the dropout noise that the reference tests without). style_prior=False: seeds draw style codes from
    N(0, I); None for a model whose seeds draw none (pix2pix, SPADE without a VAE)."""
    if model_kind(path) == "sketch":
        sketcher = load_sketch_model(path, device="cpu", style_prior=style_prior)
        if not style_prior and not isinstance(sketcher, ReadAndPaint):
            return None
        return lambda layout, seed: np.asarray(sketcher.generate(line_sketch(layout, np.random.default_rng(seed)),
                                                                 seed=seed if sketcher.varies_with_seed else None))
    model = GauGAN.from_checkpoint(path, device="cpu", style_prior=style_prior)
    if not style_prior and not model.preset.use_vae:
        return None
    return lambda layout, seed: np.asarray(model.generate(layout, seed=seed))


def renderer_painter(photos: str | Path) -> Painter:
    """Paints a layout as the trainer's photo-textured scenes do (noise textures where the bank has none)."""
    bank = shared_bank(photos)

    def paint(layout: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return render_photographic(layout, bank, rng, lambda: render(layout, random_look(rng), rng))
    return paint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", required=True, help="a folder from `gaugan data photos`")
    parser.add_argument("--checkpoint", action="append", help="model folder(s) to compare (default: the shipped one)")
    parser.add_argument("--without-style-prior", action="store_true", help="also paint with each model that draws "
                        "style codes, its seeds drawing them from N(0, I) instead of its style prior")
    parser.add_argument("--renderer", action="store_true", help="also paint each layout with the training renderer")
    parser.add_argument("--first-seed", type=int, default=0, help="crop i is painted with seed N + i (default: 0); "
                        "another N gives another set of seeds on the same layouts")
    parser.add_argument("--sheet", help="write layout | outputs for a few crops to this PNG")
    args = parser.parse_args()
    torch.set_num_threads(2)
    crops, ids = held_out_crops(args.photos)
    segmenter = load_or_train_segmenter(segmenter_config(photo_textures=True), progress=False, photos=args.photos)
    layouts = read_back(segmenter, crops)
    network = ImageNetFeatures(REALISM_NETWORK)
    real = pooled_features(crops, network)
    halves = photo_halves(real, ids)
    print(f"{len(crops)} crops of {len(set(ids))} held-out photos; real vs real: KID x1000 "
          f"{kid(*halves)[0] * 1000:.1f}, Fréchet {frechet_distance(*halves):.1f}")
    print(f"{'model':<40} {'KID x1000':>14} {'Fréchet':>8} {'mIoU':>6}")
    painters: dict[str, Painter] = {}
    for path in args.checkpoint or [shipped_checkpoint("landscape")]:
        painters[str(path)] = model_painter(path)
        if args.without_style_prior and (plain := model_painter(path, style_prior=False)):
            painters[f"{path}, seeds from N(0, I)"] = plain
    if args.renderer:
        painters["photo-textured renderer"] = renderer_painter(args.photos)
    outputs = []
    for name, paint in painters.items():
        images = [paint(layout, args.first_seed + i) for i, layout in enumerate(layouts)]
        fake = pooled_features(images, network)
        value, std = kid(fake, real)
        read = read_back(segmenter, images)
        fidelity = miou(sum(confusion(r, t, len(PALETTES["landscape"])) for r, t in zip(read, layouts)))
        print(f"{name[-40:]:<40} {value * 1000:8.1f} ± {std * 1000:4.1f} {frechet_distance(fake, real):8.1f} "
              f"{fidelity:6.3f}", flush=True)
        outputs.append(images)
    if args.sheet:
        rows = np.linspace(0, len(crops) - 1, SHEET_ROWS + 2)[1:-1].astype(int)
        sheet = np.concatenate([np.concatenate([colourize(layouts[i], PALETTES["landscape"]), *(o[i] for o in outputs)],
                                               1) for i in rows], 0)
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(args.sheet)
        print(f"wrote {args.sheet}: rows traced from {', '.join(ids[i] for i in rows)}")


if __name__ == "__main__":
    main()
