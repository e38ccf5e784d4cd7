"""Canvas -> label map conversion time (to_label_map), one thread, for 256² and 512² doodles (goal <= 10 ms at 512²)."""
from __future__ import annotations

import common
import numpy as np

from gaugan import to_label_map
from gaugan.data.landscape import doodle_layout
from label_colors import PALETTES


def canvas(size: int, seed: int = 0) -> np.ndarray:
    """A doodle painted with the landscape palette; strokes antialiased over a transparent canvas."""
    from scipy import ndimage

    labels = doodle_layout(np.random.default_rng(seed), size, size)
    colours = np.array([l.rgb for l in PALETTES["landscape"]], np.uint8)[labels]
    alpha = np.where(labels == 0, 0.0, 255.0)  # label 0 (sky) left unpainted
    return np.dstack([colours, ndimage.uniform_filter(alpha, 3)]).astype(np.uint8)


def main() -> None:
    palette = PALETTES["landscape"]
    for size in (256, 512):
        rgba = canvas(size)
        seconds = common.median_seconds(lambda rgba=rgba: to_label_map(rgba, palette, 0), repeats=15, warmup=2)
        print(f"{size}x{size}: {seconds * 1000:6.2f} ms per conversion (median of 15)")


if __name__ == "__main__":
    main()
