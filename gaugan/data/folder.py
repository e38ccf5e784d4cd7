"""A dataset of your own: label PNGs, photos and optional instance PNGs with matching file stems.

Layout:
    DATA/labels/NAME.png      8-bit ids (mode L or P), same size as the photo
    DATA/images/NAME.jpg|png  the photo
    DATA/instances/NAME.png   optional instance ids (any integer mode)
    DATA/labels.json          the label table: [{"id": 0, "name": "sky", "rgb": [110, 165, 245]}, ...]
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from label_colors import Label, validate_palette

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
LABEL_TABLE = "labels.json"
MAX_LABEL_TABLE_BYTES = 1_000_000


def label_entries(labels: list[Label]) -> list[dict]:
    """Labels as a label table's JSON entries (labels.json, model.json)."""
    return [{"id": label.id, "name": label.name, "rgb": list(label.rgb)} for label in labels]


def read_label_table(path: str | Path) -> list[Label]:
    """A label table: a JSON list of {"id", "name", "rgb"} (ids 0..255), or a model.json holding one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such label table (a JSON list of {{\"id\", \"name\", \"rgb\"}})")
    if path.stat().st_size > MAX_LABEL_TABLE_BYTES:
        raise InputError(f"{path}: {path.stat().st_size:,} bytes is too large for a label table")
    try:
        table = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON label table ({exc})") from None
    if isinstance(table, dict) and "labels" in table:
        table = table["labels"]
    entries_ok = isinstance(table, list) and table and all(
        isinstance(e, dict) and set(e) == {"id", "name", "rgb"} and isinstance(e["id"], int) and 0 <= e["id"] <= 255
        and isinstance(e["rgb"], list) for e in table)
    if not entries_ok:
        raise InputError(f"{path}: expected a non-empty JSON list of {{\"id\": 0..255, \"name\": str, \"rgb\": [r, g, b]}} "
                         f"entries, found {json.dumps(table)[:200]}")
    labels = [Label(e["id"], e["name"], tuple(e["rgb"])) for e in table]
    try:
        validate_palette(labels)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return labels


class LabelImageFolder:
    """Pairs (labels, image[, instance]) by file stem, resized to one training size."""

    def __init__(self, root: str | Path, size: tuple[int, int]) -> None:
        self.root = Path(root)
        self.size = size
        labels_dir, images_dir = self.root / "labels", self.root / "images"
        if not labels_dir.is_dir() or not images_dir.is_dir():
            raise InputError(f"{self.root}: expected sub-folders labels/ and images/ (see gaugan/data/folder.py)")
        images = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        self.pairs = [(p, images[p.stem]) for p in sorted(labels_dir.glob("*.png")) if p.stem in images]
        if not self.pairs:
            raise InputError(f"{self.root}: no label PNG in labels/ has a photo with the same name in images/")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        label_path, image_path = self.pairs[index % len(self.pairs)]
        height, width = self.size
        labels = np.asarray(Image.open(label_path).resize((width, height), Image.NEAREST))
        if labels.ndim != 2:
            raise InputError(f"{label_path}: label PNGs must be single-channel ids, found mode {Image.open(label_path).mode}")
        image = np.asarray(Image.open(image_path).convert("RGB").resize((width, height), Image.BICUBIC))
        instance_path = self.root / "instances" / label_path.name
        instance = np.asarray(Image.open(instance_path).resize((width, height), Image.NEAREST)) if instance_path.is_file() else None
        return labels, image, instance
