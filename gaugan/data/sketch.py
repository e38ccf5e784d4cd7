"""Sketch/photo pairs for sketch models, from one of four sources (`--data`):

    landscape-sketch      procedural landscapes outlined as line drawings (gaugan/data/landscape_sketch.py)
    DIR/*.jpg|png         "A | B" side by side (each half W/2 wide), --direction AtoB|BtoA picks the input half
    DIR/sketches/NAME.*   + DIR/images/NAME.* paired by stem; optional DIR/classes.json {"NAME": "class", ...}
    DIR/*.jpg|png         photos with --edges-from-photos: sketches are their Canny edges, thinned (scikit-image)
    DIR/labels/ + images/ landscape-labelled pairs (e.g. `gaugan data traced`) with --photos: their label maps
                          outlined as the procedural ones are, mixed with photo-textured landscape sketches

A folder with train/ and test/ (or val/) sub-folders trains on train/ and evaluates on test/.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from .folder import IMAGE_SUFFIXES, LABEL_TABLE
from .landscape_sketch import EVAL_SEED_OFFSET, landscape_sketch_pair, line_sketch
from .registry import FOLDER_SHARE, refuse_share_without_mix, with_photo_textured_landscapes
from .texture_bank import shared_bank

LANDSCAPE_SKETCH = "landscape-sketch"
DIRECTIONS = ("AtoB", "BtoA")
MAX_PIXELS = 4096 * 4096  # larger files are refused rather than decoded


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8, refusing absurd sizes before decoding."""
    with Image.open(path) as image:
        if image.width * image.height > MAX_PIXELS:
            raise ValueError(f"{path}: {image.width}x{image.height} is larger than the {MAX_PIXELS} pixels allowed")
        return np.asarray(image.convert("RGB"))


def split_aligned(pair: np.ndarray, direction: str = "AtoB") -> tuple[np.ndarray, np.ndarray]:
    """(input, target) halves of an "A | B" image; BtoA swaps them."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, found {direction!r}")
    width = pair.shape[1]
    if width < 2 or width % 2:
        raise ValueError(f"an 'A | B' image must have an even width (two halves side by side), found {width}")
    a, b = pair[:, : width // 2], pair[:, width // 2:]
    return (a, b) if direction == "AtoB" else (b, a)


def edges_sketch(photo: np.ndarray, sigma: float = 2.0, width: int = 1) -> np.ndarray:
    """Black-on-white (H, W, 3) line drawing of a photo: Canny edges, thinned to one pixel, then widened."""
    from skimage.color import rgb2gray
    from skimage.feature import canny
    from skimage.morphology import dilation, disk, thin

    lines = thin(canny(rgb2gray(photo), sigma=sigma))
    if width > 1:
        lines = dilation(lines, disk(width // 2))
    grey = np.where(lines, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


class SketchSource:
    """Indexable (sketch, photo, class index) pairs of one split; `classes` names the class indices."""

    def __init__(self, data: str, split: str = "train", direction: str = "AtoB", edges_from_photos: bool = False,
                 size: int = 256, photos: str = "", folder_share: float = FOLDER_SHARE) -> None:
        self.data, self.split, self.direction, self.size = data, split, direction, size
        self.edges_from_photos = edges_from_photos
        traced = data != LANDSCAPE_SKETCH and (Path(data) / LABEL_TABLE).is_file()
        refuse_share_without_mix(data, photos, folder_share, mixing=traced and bool(photos))
        if photos and data != LANDSCAPE_SKETCH and not traced:
            raise InputError(f"--photos paints the procedural scenes of '{LANDSCAPE_SKETCH}' or mixes them with a "
                             f"folder of landscape label maps ({LABEL_TABLE}, labels/, images/); --data {data} is "
                             "neither")
        self.bank = shared_bank(photos) if photos else None
        self.classes: list[str] = []
        self.items: list = []
        if traced and photos:  # held-out photos are never traced: evaluation reads held-out procedural sketches
            self.layout = "traced" if split == "train" else LANDSCAPE_SKETCH
            self.mixed = with_photo_textured_landscapes(data, photos, folder_share)
        else:
            self.layout = LANDSCAPE_SKETCH if data == LANDSCAPE_SKETCH else self._scan(Path(data))

    def _scan(self, root: Path) -> str:
        if not root.is_dir():
            raise ValueError(f"--data {root}: expected '{LANDSCAPE_SKETCH}' or a folder (see gaugan/data/sketch.py)")
        names = ("train",) if self.split == "train" else ("test", "val")
        root = next((root / n for n in names if (root / n).is_dir()), root)
        if (root / "sketches").is_dir() and (root / "images").is_dir():
            photos = {p.stem: p for p in _images(root / "images")}
            self.items = [(s, photos[s.stem]) for s in _images(root / "sketches") if s.stem in photos]
            self._read_classes(root / "classes.json")
            layout = "sketches+images"
        else:
            self.items = _images(root / "images" if (root / "images").is_dir() else root)
            layout = "edges" if self.edges_from_photos else "aligned"
        if not self.items:
            raise ValueError(f"{root}: found no {layout} pairs; expected 'A | B' images, sketches/ + images/ with "
                             f"matching names, or photos with --edges-from-photos")
        return layout

    def _read_classes(self, path: Path) -> None:
        if not path.is_file():
            return
        mapping = json.loads(path.read_text())
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ValueError(f"{path}: expected a JSON object {{\"file stem\": \"class name\"}}")
        missing = [s.stem for s, _ in self.items if s.stem not in mapping]
        if missing:
            raise ValueError(f"{path} gives no class for {len(missing)} pair(s), e.g. {missing[:3]}")
        self.classes = sorted(set(mapping[s.stem] for s, _ in self.items))
        self.items = [(s, p, self.classes.index(mapping[s.stem])) for s, p in self.items]

    def __len__(self) -> int:
        return len(self.items) if self.items else EVAL_SEED_OFFSET

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        if self.layout == LANDSCAPE_SKETCH:
            seed = index + (EVAL_SEED_OFFSET if self.split != "train" else 0)
            return (*landscape_sketch_pair(seed, (self.size, self.size), self.bank), 0)
        if self.layout == "traced":
            labels, photo, _ = self.mixed.sample(index, (self.size, self.size))
            return line_sketch(labels, np.random.default_rng([index, 1])), photo, 0
        item = self.items[index % len(self.items)]
        if self.layout == "aligned":
            return (*split_aligned(read_rgb(item), self.direction), 0)
        if self.layout == "edges":
            photo = read_rgb(item)
            return edges_sketch(photo, width=max(1, round(2 * max(photo.shape[:2]) / 256))), photo, 0
        return read_rgb(item[0]), read_rgb(item[1]), item[2] if len(item) > 2 else 0


def augment(sketch: np.ndarray, photo: np.ndarray, rng: np.random.Generator, load: int,
            crop: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's jitter: resize both to load x load, the same random crop x crop, a random horizontal flip."""
    resized = [np.asarray(Image.fromarray(a).resize((load, load), Image.BICUBIC)) for a in (sketch, photo)]
    top, left = rng.integers(0, load - crop + 1, 2)
    flip = rng.random() < 0.5
    out = [a[top:top + crop, left:left + crop] for a in resized]
    return tuple(a[:, ::-1] if flip else a for a in out)
