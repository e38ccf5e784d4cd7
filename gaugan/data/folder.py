"""A dataset of your own: label PNGs, photos and optional instance PNGs with matching file stems.

Layout:
    DATA/labels/NAME.png      8-bit ids (mode L or P), same size as the photo
    DATA/images/NAME.jpg|png  the photo
    DATA/instances/NAME.png   optional instance ids (any integer mode)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


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
