"""What the Streamlit page needs beyond the pipeline: model discovery, canvas layers, examples.

Plain functions of arrays and files (no Streamlit), so the page stays layout and state only.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from label_colors import PALETTES, Label

from .checkpoints import find_checkpoints
from .data.landscape import landscape_layout
from .pipeline import resize_nearest
from .semantics import remap, to_label_map

SHIPPED_MODEL = "landscape"
NO_LABEL = 65535  # marks unpainted canvas pixels before the base map fills them


def list_models(root: str | Path) -> dict[str, Path]:
    """Checkpoint folders under root, the shipped model first."""
    found = find_checkpoints(root)
    return dict(sorted(found.items(), key=lambda item: (item[0] != SHIPPED_MODEL, item[0])))


def compose_labels(strokes_rgba: np.ndarray | None, base: np.ndarray, palette: list[Label]) -> np.ndarray:
    """The label map the user sees: painted strokes over the base map (a fill, an upload or an example)."""
    if strokes_rgba is None:
        return base.copy()
    if strokes_rgba.shape[:2] != base.shape:
        raise ValueError(f"canvas is {strokes_rgba.shape[1]}×{strokes_rgba.shape[0]} but the base map is "
                         f"{base.shape[1]}×{base.shape[0]}")
    painted = to_label_map(strokes_rgba, palette, NO_LABEL)
    return np.where(painted == NO_LABEL, base, painted)


def fit_label_map(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an uploaded map to the canvas (height, width)."""
    return resize_nearest(np.asarray(labels), size)


def example_scene(seed: int, palette: list[Label], size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A procedural landscape layout in the palette's label space, and the landscape labels it lacks."""
    layout = landscape_layout(np.random.default_rng(seed), *size)
    fallback = next((l.id for l in palette if l.name in ("grass", "sky-other", "sky")), palette[0].id)
    return remap(layout, PALETTES["landscape"], palette, fallback)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
