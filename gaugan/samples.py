"""A sample sheet for people to judge a landscape model: held-out layouts and hand-drawn-like doodles."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .data.landscape import LABELS, doodle_layout, landscape_layout
from .labelmaps import colourize
from .pipeline import GauGAN

HELD_OUT_SEED = 20_000_000  # never used in training or evaluation
HAND_DRAWN_KINDS = 3  # beach, snowy mountain over a lake, meadow with trees


def hand_drawn(kind: int, size: int = 256) -> np.ndarray:
    """Simple scenes as a person would paint them: a few flat regions."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    labels = np.full((size, size), LABELS["sky-other"])
    if kind == 0:  # beach: sea, sand, a cloud
        labels[yy > 0.55] = LABELS["sea"]
        labels[yy > 0.75 + 0.05 * np.sin(xx * 9)] = LABELS["sand"]
        labels[(yy - 0.2) ** 2 * 6 + (xx - 0.35) ** 2 < 0.02] = LABELS["clouds"]
    elif kind == 1:  # snowy mountain over a lake
        ridge = 0.55 - 0.35 * np.maximum(0, 1 - np.abs(xx - 0.5) * 2.5)
        labels[yy > ridge] = LABELS["mountain"]
        labels[(yy > ridge) & (yy < ridge + 0.1)] = LABELS["snow"]
        labels[yy > 0.6] = LABELS["river"]
        labels[yy > 0.85] = LABELS["grass"]
    else:  # meadow with trees and a hill
        labels[yy > 0.5 - 0.1 * np.exp(-((xx - 0.7) ** 2) * 20)] = LABELS["hill"]
        labels[yy > 0.6] = LABELS["grass"]
        for cx in (0.15, 0.4, 0.85):
            labels[(yy - 0.62) ** 2 + (xx - cx) ** 2 < 0.01] = LABELS["tree"]
        labels[(yy > 0.8) & ((xx * 40).astype(int) % 3 == 0) & ((yy * 40).astype(int) % 3 == 0)] = LABELS["flower"]
    return labels


def sample_sheet(checkpoint: str | Path, out: str | Path, columns: int = 3) -> Path:
    """PNG grid of (labels | generated) pairs: 3 held-out layouts, 3 doodles, 3 hand-drawn scenes."""
    model = GauGAN.from_checkpoint(checkpoint)
    rng = np.random.default_rng(HELD_OUT_SEED)
    layouts = [landscape_layout(rng, 256, 256) for _ in range(3)]
    layouts += [doodle_layout(rng, 256, 256) for _ in range(3)]
    layouts += [hand_drawn(kind) for kind in range(HAND_DRAWN_KINDS)]
    tiles = [np.concatenate([colourize(l, model.labels), np.asarray(model.generate(l, seed=i))], 1)
             for i, l in enumerate(layouts)]
    rows = [np.concatenate(tiles[r:r + columns], 1) for r in range(0, len(tiles), columns)]
    Image.fromarray(np.concatenate(rows, 0)).save(out)
    return Path(out)
