"""Realism and fidelity of the shipped landscape model as its seeds draw style codes from different Gaussians.

The Gaussians come from the style encoder's codes of photographs (the traced training crops): the standard normal
that training's KL term aims at, that normal shifted to the photographs' mean code, a truncated normal, and the
Gaussian of the photographs' codes (what `gaugan style-prior` fits). Each becomes the style prior of a copy of the
model folder, measured on 200 held-out procedural layouts (`gaugan evaluate --photos`) and on the layouts traced
from the held-out photos (photo_layouts.py). --sheet FILE instead draws the sample sheet's layouts with seeds from
N(0, I) and from the fitted Gaussian, side by side (layout | N(0, I) | fitted, two scenes a row).

python bench/style_priors.py --photos ~/.cache/gaugan/photos --images ~/.cache/gaugan/traced/images
python bench/style_priors.py --images ~/.cache/gaugan/traced/images --sheet docs/style_prior.png
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import common  # noqa: F401 (puts the repository on the path)
import numpy as np
import torch
from PIL import Image
from photo_layouts import model_painter, read_back

from gaugan import GauGAN, shipped_checkpoint
from gaugan.checkpoints import write_style_prior
from gaugan.data.landscape import landscape_layout
from gaugan.evaluate import confusion, evaluate, load_or_train_segmenter, miou, segmenter_config
from gaugan.images import image_files
from gaugan.imagenet import REALISM_NETWORK, ImageNetFeatures
from gaugan.labelmaps import colourize
from gaugan.realism import held_out_crops, kid, pooled_features
from gaugan.samples import HAND_DRAWN_KINDS, HELD_OUT_SEED, hand_drawn
from gaugan.style_prior import StylePrior, fit_style_prior, style_codes
from label_colors import PALETTES


def gaussians(codes: torch.Tensor) -> dict[str, StylePrior]:
    """The priors compared, by what they are."""
    z_dim = codes.shape[1]
    fitted = fit_style_prior(codes)
    normal, shifted, truncated = StylePrior(z_dim), StylePrior(z_dim), StylePrior(z_dim)
    shifted.mean.copy_(fitted.mean)
    truncated.scale_tril.mul_(0.7)
    return {"N(0, I)": normal, "N(0, I) shifted to the photographs' mean code": shifted,
            "N(0, 0.7² I), a truncation": truncated, "the Gaussian of the photographs' codes": fitted}


def write_sheet(model: GauGAN, prior: StylePrior, out: Path) -> None:
    """layout | seed from N(0, I) | the same seed through the prior, for 3 held-out layouts and the hand-drawn scenes."""
    rng = np.random.default_rng(HELD_OUT_SEED)
    layouts = [landscape_layout(rng, 256, 256) for _ in range(3)] + [hand_drawn(k) for k in range(HAND_DRAWN_KINDS)]
    tiles = []
    for seed, layout in enumerate(layouts):
        noise = model.style_code(seed, None)  # N(0, I): the model was loaded without its prior
        tiles.append(np.concatenate([colourize(layout, model.labels), np.asarray(model.generate(layout, style=noise)),
                                     np.asarray(model.generate(layout, style=prior.sample(noise)))], 1))
    Image.fromarray(np.concatenate([np.concatenate(tiles[i:i + 2], 1) for i in range(0, len(tiles), 2)], 0)).save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", help="a folder from `gaugan data photos` (for the figures)")
    parser.add_argument("--images", required=True, help="the photographs to fit to (the images/ of `data traced`)")
    parser.add_argument("--sheet", help="write the side-by-side sheet to this PNG instead of measuring")
    args = parser.parse_args()
    if not (args.photos or args.sheet):
        parser.error("--photos is needed for the figures (or --sheet FILE for the sheet alone)")
    torch.set_num_threads(2)
    shipped = shipped_checkpoint("landscape")
    model = GauGAN.from_checkpoint(shipped, device="cpu", style_prior=False)
    codes = style_codes(model.encode_style, image_files(Path(args.images).expanduser()))
    if args.sheet:
        write_sheet(model, fit_style_prior(codes), Path(args.sheet))
        print(f"wrote {args.sheet}")
        return
    crops, _ = held_out_crops(args.photos)
    segmenter = load_or_train_segmenter(segmenter_config(photo_textures=True), progress=False, photos=args.photos)
    layouts = read_back(segmenter, crops)
    network = ImageNetFeatures(REALISM_NETWORK)
    real = pooled_features(crops, network)
    print(f"{len(codes)} photographs' codes; {len(crops)} held-out crops")
    print(f"{'seeds draw style codes from':<48} {'KID x1000':>13} {'mIoU':>6} {'traced KID':>13} {'mIoU':>6}")
    with tempfile.TemporaryDirectory() as work:
        for name, prior in gaussians(codes).items():
            folder = Path(work) / "model"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(shipped, folder)
            write_style_prior(folder, prior, name)
            results = evaluate(folder, photos=args.photos, progress=False)
            paint = model_painter(folder)
            images = [paint(layout, i) for i, layout in enumerate(layouts)]
            traced, traced_std = kid(pooled_features(images, network), real)
            read = read_back(segmenter, images)
            fidelity = miou(sum(confusion(r, t, len(PALETTES["landscape"])) for r, t in zip(read, layouts)))
            realism = results["realism"]
            print(f"{name:<48} {realism['kid'] * 1000:6.1f} ± {realism['kid_std'] * 1000:4.1f} "
                  f"{results['generated']['miou']:6.3f} {traced * 1000:6.1f} ± {traced_std * 1000:4.1f} {fidelity:6.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
