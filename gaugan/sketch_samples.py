"""A sample sheet for people to judge a landscape sketch model: held-out line sketches and hand-drawn ones."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .data.sketch import LANDSCAPE_SKETCH, SketchSource
from .labelmaps import colourize
from .sketch import load_sketch_model
from .sketch_reader import ReadAndPaint

def loop(cx: float, cy: float, rx: float, ry: float, wobble: float = 0.08) -> list[tuple[float, float]]:
    """A closed, slightly uneven round stroke (a tree crown, a cloud, the sun)."""
    t = np.linspace(0, 2 * np.pi, 25)
    r = 1 + wobble * np.sin(3 * t + cx)
    return list(zip(cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)))


# Pen strokes as a person draws them on the page's 256 x 256 canvas: (pen width, [(x, y), ...]) each.
HAND_DRAWN = [
    [  # mountains over a lake, two trees
        (4, [(0, 120), (40, 70), (70, 95), (110, 40), (150, 90), (180, 65), (256, 115)]),
        (4, [(0, 140), (256, 140)]),
        (3, [(0, 185), (60, 175), (140, 190), (256, 180)]),
        (3, [(40, 155), (70, 158)]), (3, [(120, 165), (160, 162)]),
        (4, loop(212, 214, 20, 22)), (4, [(212, 236), (212, 252)]),
        (4, loop(40, 220, 17, 19)), (4, [(40, 239), (40, 254)]),
    ],
    [  # rolling hills, a winding river, a cloud
        (4, [(0, 130), (60, 100), (130, 120), (200, 95), (256, 110)]),
        (3, [(120, 125), (110, 160), (135, 200), (100, 256)]),
        (3, [(135, 125), (140, 160), (170, 205), (150, 256)]),
        (4, loop(78, 42, 38, 14, wobble=0.2)),
        (3, [(30, 200), (35, 190), (40, 200)]), (3, [(210, 220), (215, 210), (220, 220)]),
    ],
    [  # a beach: horizon, shore, waves, sun
        (4, [(0, 110), (256, 110)]),
        (4, [(0, 190), (80, 175), (170, 185), (256, 165)]),
        (3, [(30, 135), (60, 132)]), (3, [(140, 150), (175, 147)]), (3, [(80, 160), (110, 157)]),
        (4, loop(208, 45, 17, 17, wobble=0.03)),
    ],
    [  # pines along a ridge line, one in front
        (4, [(0, 150), (70, 135), (150, 145), (256, 130)]),
        *[(3, [(x - 9, y), (x, y - h), (x + 9, y)]) for x, y, h in
          ((25, 143, 30), (50, 139, 40), (80, 136, 28), (110, 140, 36), (190, 138, 32), (225, 133, 42))],
        (4, [(150, 230), (172, 160), (194, 230), (150, 230)]),
    ],
    [  # a lake in a meadow under distant hills
        (4, [(0, 110), (70, 90), (150, 105), (256, 95)]),
        (4, loop(120, 180, 75, 28, wobble=0.05)),
        (3, [(80, 175), (110, 173)]), (3, [(140, 190), (170, 188)]),
        (3, [(30, 230), (35, 220), (40, 230)]), (3, [(220, 140), (225, 130), (230, 140)]),
    ],
    [  # snowy peaks, a snow line, pines at their foot
        (4, [(0, 140), (60, 50), (100, 90), (160, 30), (256, 130)]),
        (3, [(38, 80), (60, 72), (80, 82), (130, 60), (160, 52), (190, 65)]),
        (4, [(0, 160), (256, 160)]),
        *[(3, [(x - 8, 160), (x, 160 - h), (x + 8, 160)]) for x, h in ((30, 30), (55, 38), (200, 34), (232, 28))],
    ],
]
HELD_OUT = 3


def draw_strokes(strokes: list[tuple[int, list[tuple[int, int]]]], size: int = 256) -> np.ndarray:
    """Black pen strokes on white, (size, size, 3) uint8."""
    image = Image.new("RGB", (size, size), "white")
    pen = ImageDraw.Draw(image)
    scale = size / 256
    for width, points in strokes:
        pen.line([(x * scale, y * scale) for x, y in points], fill="black", width=max(1, round(width * scale)),
                 joint="curve")
    return np.asarray(image)


def sketch_sample_sheet(checkpoint: str | Path, out: str | Path, columns: int = 3) -> Path:
    """PNG grid of (sketch | generated) pairs, (sketch | read | generated) for read-and-paint models: held-out
    landscape sketches, then the hand-drawn ones."""
    model = load_sketch_model(checkpoint)
    held_out = SketchSource(LANDSCAPE_SKETCH, "test", size=model.input_size)
    sketches = [held_out[i][0] for i in range(HELD_OUT)] + [draw_strokes(s, model.input_size) for s in HAND_DRAWN]

    def read(sketch: np.ndarray) -> list[np.ndarray]:
        return [colourize(model.read(sketch), model.painter.labels)] if isinstance(model, ReadAndPaint) else []
    tiles = [np.concatenate([s, *read(s), np.asarray(model.generate(s))], 1) for s in sketches]
    rows = [np.concatenate(tiles[r:r + columns], 1) for r in range(0, len(tiles), columns)]
    Image.fromarray(np.concatenate(rows, 0)).save(out)
    return Path(out)
