"""The drawing page's work on arrays and files: model discovery, canvas layers (label maps and sketches), fills,
resizing, photos, looks.

Plain functions (no Streamlit), so the page stays layout and state only.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from label_colors import PALETTES, Label, to_label_map

from .checkpoints import available_checkpoints
from .data.landscape import landscape_layout
from .framing import pad_centred
from .pipeline import GauGAN
from .semantics import remap, resize_nearest

SHIPPED_MODEL = "landscape"
NO_LABEL = 65535  # marks unpainted canvas pixels before the base map fills them
INK_LEVEL = 200  # a sketch pixel darker than this in a channel is drawn
MAX_ASPECT = 3.0  # the canvas is at most 3:1 either way
BACKGROUND_NAMES = ("sky-other", "sky", "grass", "road", "wall")


def list_models(root: str | Path) -> dict[str, Path]:
    """The shipped models and the checkpoint folders under root (a folder there wins a name clash), the shipped
    landscape model first."""
    found = available_checkpoints(root)
    return dict(sorted(found.items(), key=lambda item: (item[0] != SHIPPED_MODEL, item[0])))


def background_label(palette: list[Label]) -> int:
    """The id unpainted pixels take by default: sky, grass, road or wall where the palette has one."""
    return next((l.id for name in BACKGROUND_NAMES for l in palette if l.name == name), palette[0].id)


def check_layers(strokes_rgba: np.ndarray, base: np.ndarray) -> None:
    """ValueError unless the canvas strokes and the picture under them have one size."""
    if strokes_rgba.shape[:2] != base.shape[:2]:
        raise ValueError(f"canvas is {strokes_rgba.shape[1]}×{strokes_rgba.shape[0]} but the picture under it is "
                         f"{base.shape[1]}×{base.shape[0]}")


def compose_labels(strokes_rgba: np.ndarray | None, base: np.ndarray, palette: list[Label]) -> np.ndarray:
    """The label map the user sees: painted strokes over the base map (a fill, an upload or an example)."""
    if strokes_rgba is None:
        return base.copy()
    check_layers(strokes_rgba, base)
    painted = to_label_map(strokes_rgba, palette, NO_LABEL)
    return np.where(painted == NO_LABEL, base, painted)


def blank_sketch(size: tuple[int, int]) -> np.ndarray:
    """White paper of (height, width): the base of a new sketch."""
    return np.full((*size, 3), 255, np.uint8)


def compose_sketch(strokes_rgba: np.ndarray | None, base: np.ndarray) -> np.ndarray:
    """The (H, W, 3) sketch the user sees: pen and eraser strokes over the base (white, or a kept sketch)."""
    if strokes_rgba is None:
        return base.copy()
    check_layers(strokes_rgba, base)
    alpha = strokes_rgba[..., 3:].astype(np.float32) / 255
    return (strokes_rgba[..., :3] * alpha + base * (1 - alpha)).round().astype(np.uint8)


def has_lines(sketch: np.ndarray) -> bool:
    """Whether anything is drawn: some pixel darker than light grey."""
    return bool((sketch < INK_LEVEL).any())


INK_LEVELS = (80.0, 208.0)  # after scaling a sketch, greys below the first are ink and above the second paper


def fit_sketch(sketch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A sketch scaled smoothly to (height, width), its levels stretched back to ink and paper so that lines stay
    crisp however often the canvas is resized."""
    scaled = np.asarray(Image.fromarray(sketch).resize(size[::-1], Image.BILINEAR), dtype=np.float32)
    low, high = INK_LEVELS
    return np.clip((scaled - low) * 255 / (high - low), 0, 255).round().astype(np.uint8)


def fit_label_map(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to the canvas (height, width)."""
    return resize_nearest(np.asarray(labels), size)


def pad_to_aspect(labels: np.ndarray, background_id: int) -> np.ndarray:
    """The map, padded with background_id where one side is over MAX_ASPECT times the other (never stretched)."""
    h, w = labels.shape
    frame = max(h, math.ceil(w / MAX_ASPECT)), max(w, math.ceil(h / MAX_ASPECT))
    return pad_centred(labels, frame, constant_values=background_id)[0]


def bucket_fill(labels: np.ndarray, point: tuple[int, int], label_id: int) -> np.ndarray:
    """The enclosed region under point (y, x): its 4-connected area of one label, painted label_id."""
    y, x = (min(max(int(v), 0), n - 1) for v, n in zip(point, labels.shape))
    region, _ = ndimage.label(labels == labels[y, x])
    return np.where(region == region[y, x], label_id, labels)


def example_scene(seed: int, palette: list[Label], size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A procedural landscape layout in the palette's label space, and the landscape labels it lacks."""
    layout = landscape_layout(np.random.default_rng(seed), *size)
    fallback = next((l.id for l in palette if l.name in ("grass", "sky-other", "sky")), palette[0].id)
    return remap(layout, PALETTES["landscape"], palette, fallback)


def mixed_style(model: GauGAN, code: torch.Tensor, seed: int, strength: float) -> torch.Tensor:
    """A style code mixed with the seed's own code: strength 1 copies the style, lower values vary with the seed.

    The mix keeps the prior's spread about its mean m: m + strength * (code - m) + sqrt(1 - strength²) * (seed's - m).
    """
    centre, drawn = model.style_centre.to(code.device), model.style_code(seed, None).to(code.device)
    return centre + strength * (code - centre) + (1 - strength**2) ** 0.5 * (drawn - centre)


def looks_layout(model: GauGAN) -> np.ndarray:
    """The layout that the page shows a model's built-in looks on: its first example scene."""
    return example_scene(0, model.labels, model.preset.output_size)[0]


def style_looks(model: GauGAN) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """The model's built-in looks (its card's, chosen by gaugan/looks.py): name -> (style code, the model's image of
    looks_layout in that look)."""
    layout = looks_layout(model)
    return {name: (code, np.asarray(model.generate(layout, style=code))) for name, code in model.looks.items()}


def thumbnail_png(image: Image.Image, side: int = 240, max_aspect: float = 2.0) -> bytes:
    """A PNG of the image scaled down to fit side×side; a strip longer than max_aspect : 1 shows its middle (its
    thumbnail would be a line a pixel thin, or none at all where a page shows it smaller)."""
    width, height = image.size
    keep_w, keep_h = min(width, math.ceil(height * max_aspect)), min(height, math.ceil(width * max_aspect))
    left, top = (width - keep_w) // 2, (height - keep_h) // 2
    small = image.crop((left, top, left + keep_w, top + keep_h))
    small.thumbnail((side, side))
    return png_bytes(small)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
