"""Label-map files: PNGs of ids (mode L or P) or of palette colours (RGB/RGBA), read and written safely."""
from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from .semantics import to_label_map

MAX_PIXELS = 4096 * 4096
ID_MODES = ("L", "P")
COLOUR_MODES = ("RGB", "RGBA")


def colourize(labels: np.ndarray, palette: list) -> np.ndarray:
    """(H, W) ids -> (H, W, 3) uint8 palette colours (unknown ids are black)."""
    lut = np.zeros((max(int(np.max(labels, initial=0)), max(l.id for l in palette)) + 1, 3), np.uint8)
    for label in palette:
        lut[label.id] = label.rgb
    return lut[np.asarray(labels)]


def read_label_map(source: str | Path | BinaryIO | bytes, palette: list, background_id: int | None = None) -> np.ndarray:
    """A PNG of ids (L/P) or palette colours (RGB/RGBA) -> (H, W) int64 ids, refusing odd or huge files."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        image = Image.open(source)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"refused: {exc}") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"label map is {width}×{height} = {width * height} pixels; at most {MAX_PIXELS} are accepted")
    if image.mode in ID_MODES:
        return np.asarray(image, dtype=np.int64)
    if image.mode in COLOUR_MODES:
        background = palette[0].id if background_id is None else background_id
        return to_label_map(np.asarray(image), palette, background)
    raise ValueError(
        f"label map has mode {image.mode} ({'16-bit' if '16' in image.mode or image.mode == 'I' else 'unsupported'}); "
        f"accepted are 8-bit ids ({', '.join(ID_MODES)}) or palette colours ({', '.join(COLOUR_MODES)})"
    )


def label_map_png(labels: np.ndarray, palette: list | None = None) -> bytes:
    """PNG bytes: 8-bit ids (palette None) or the palette's colours."""
    labels = np.asarray(labels)
    if palette is None:
        if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
            raise ValueError(f"id PNGs hold 0..255, labels span {labels.min()}..{labels.max()}")
        image = Image.fromarray(labels.astype(np.uint8), mode="L")
    else:
        image = Image.fromarray(colourize(labels, palette))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_label_map(path: str | Path, labels: np.ndarray, palette: list | None = None) -> None:
    """Write ids (palette None) or colours to a PNG file."""
    Path(path).write_bytes(label_map_png(labels, palette))
