"""A page's drawing as text a browser keeps between visits (the model in use, the label map and the sketch, a few
settings), and that text read back as untrusted input: bounded in size, every field checked."""
from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .canvas import MAX_ASPECT
from .errors import InputError
from .images import open_image

FORMAT = "gaugan-drawing/1"
MAX_TEXT = 2_000_000  # characters: two 1024² maps as PNG fit many times over
MAX_SIDE = 1024  # the page's canvases are at most 512 px a side
MAX_NAME = 255  # characters in a model (folder) name


@dataclass(frozen=True)
class SavedDrawing:
    """What the page restores after a reload: the chosen model, the label map (ids of label_model's table, with the
    canvas aspect it was given, None for the model's own), the (H, W, 3) sketch, and settings by name (as read:
    the page checks each value against what its widget takes)."""

    model: str | None = None
    label_model: str | None = None
    labels: np.ndarray | None = None
    aspect: float | None = None
    sketch: np.ndarray | None = None
    settings: dict[str, object] = field(default_factory=dict)

    def to_text(self) -> str:
        """The drawing as compact JSON, its pictures as base64 PNG (ids in 16 bits, the sketch in grey)."""
        labels = None if self.labels is None else _png(Image.fromarray(self.labels.astype(np.uint16)))
        sketch = None if self.sketch is None else _png(Image.fromarray(self.sketch).convert("L"))
        return json.dumps({"format": FORMAT, "model": self.model, "label_model": self.label_model, "labels": labels,
                           "aspect": self.aspect, "sketch": sketch, "settings": self.settings}, separators=(",", ":"))


def _png(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _picture(value: object, what: str, modes: tuple[str, ...]) -> np.ndarray | None:
    """A base64 PNG field decoded within MAX_SIDE², or None when the field is null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what}: expected base64 PNG text, found {type(value).__name__}")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: not base64 text") from None
    image = open_image(data, what, max_pixels=MAX_SIDE * MAX_SIDE, formats=("PNG",))
    if image.mode not in modes:
        raise InputError(f"{what}: expected a PNG in mode {'/'.join(modes)}, found {image.format} {image.mode}")
    if max(image.size) > MAX_SIDE:
        raise InputError(f"{what}: {image.width}×{image.height} is over {MAX_SIDE} pixels a side")
    return np.asarray(image)


def _name(value: object, what: str) -> str | None:
    if value is None or (isinstance(value, str) and 0 < len(value) <= MAX_NAME):
        return value
    raise InputError(f"{what}: expected a model name of 1 to {MAX_NAME} characters or null, found {value!r:.60}")


def read_saved_drawing(text: str) -> SavedDrawing:
    """The drawing in text written by SavedDrawing.to_text, or InputError saying what is wrong with it."""
    if len(text) > MAX_TEXT:
        raise InputError(f"the saved drawing is {len(text)} characters; at most {MAX_TEXT} are read")
    try:
        saved = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"the saved drawing is not valid JSON (at character {exc.pos})") from None
    except (ValueError, RecursionError):  # integers past Python's digit limit, nesting too deep
        raise InputError("the saved drawing holds numbers too long or nesting too deep to read") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise InputError(f"expected a saved drawing of format {FORMAT!r}, found {found!r:.60}")
    labels = _picture(saved.get("labels"), "saved label map", ("I;16", "I;16B", "I;16L", "L"))
    sketch = _picture(saved.get("sketch"), "saved sketch", ("L",))
    aspect = saved.get("aspect")
    if aspect is not None and not (type(aspect) in (int, float) and 1 / MAX_ASPECT <= aspect <= MAX_ASPECT):
        raise InputError(f"saved canvas aspect: expected a number from 1/{MAX_ASPECT:g} to {MAX_ASPECT:g} or null, "
                         f"found {aspect!r:.60}")
    settings = saved.get("settings", {})
    if not isinstance(settings, dict):
        raise InputError(f"saved settings: expected an object, found {type(settings).__name__}")
    return SavedDrawing(model=_name(saved.get("model"), "saved model"),
                        label_model=_name(saved.get("label_model"), "saved label-map model"),
                        labels=None if labels is None else labels.astype(np.int64),
                        aspect=None if aspect is None else float(aspect),
                        sketch=None if sketch is None else np.repeat(sketch[..., None], 3, axis=2),
                        settings=settings)
