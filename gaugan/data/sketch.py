"""Sketch/photo pairs for sketch models, from one of four sources (`--data`):

    landscape-sketch      procedural landscapes outlined as line drawings (gaugan/data/landscape_sketch.py)
    DIR/*.jpg|png         "A | B" side by side (each half W/2 wide, about square), --direction AtoB|BtoA picks the
                          input half
    DIR/sketches/NAME.*   + DIR/images/NAME.* paired by stem; optional DIR/classes.json {"NAME": "class", ...}
    DIR/*.jpg|png         photos with --edges-from-photos: sketches are their Canny edges, thinned (scikit-image)
    DIR/labels/ + images/ landscape-labelled pairs (e.g. `gaugan data traced`) with --photos: their label maps
                          outlined as the procedural ones are, mixed with photo-textured landscape sketches

A folder with train/ and test/ (or val/) sub-folders trains on train/ and evaluates on test/. Files are read as
gaugan/data/folder.py reads a label folder's photos (any letter case of .jpg/.jpeg/.png/.webp; 16-bit greys scaled to
8 bits; transparency laid onto white, so black lines on a transparent background stay black on white), and are
checked when the folder is opened: every file's header (format, size; an "A | B" image's even width, about twice
its height; a sketch and its photo of the same size or aspect ratio), classes.json's entries. A folder of plain
photos (not 2:1) without --edges-from-photos, or of labels/ + images/ without --photos, is refused rather than read
as "A | B" images. Sketches or photos without a partner are left out, named in a warning line.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..model_card import plain_text, read_json
from .folder import LABEL_TABLE, check_aspect, image_files, image_size, open_rgb, pair_by_stem
from .landscape_sketch import EVAL_SEED_OFFSET, landscape_sketch_pair, line_sketch
from .registry import FOLDER_SHARE, refuse_share_without_mix, split_folder, with_photo_textured_landscapes
from .texture_bank import shared_bank

LANDSCAPE_SKETCH = "landscape-sketch"
DIRECTIONS = ("AtoB", "BtoA")
CLASSES = "classes.json"
MAX_CLASSES_BYTES = 32_000_000  # a million pairs' classes


def read_rgb(path: Path, what: str = "image") -> np.ndarray:
    """An image file as (H, W, 3) uint8 (folder.open_rgb: bounded, errors naming the file)."""
    return np.asarray(open_rgb(path, what))


def split_aligned(pair: np.ndarray, direction: str = "AtoB") -> tuple[np.ndarray, np.ndarray]:
    """(input, target) halves of an "A | B" image; BtoA swaps them."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, found {direction!r}")
    width = pair.shape[1]
    if width < 2 or width % 2:
        raise ValueError(f"an 'A | B' image must have an even width (two halves side by side), found {width}")
    a, b = pair[:, : width // 2], pair[:, width // 2:]
    return (a, b) if direction == "AtoB" else (b, a)


PIX2PIX_LAYOUTS = "sketches/ + images/ pairs with matching names, 'A | B' images, or photos with --edges-from-photos"
PAIR_ASPECT = (1.8, 2.2)  # an "A | B" image's width / height: two about square halves side by side


def refuse_label_maps(root: Path, data: Path) -> None:
    """Refuse a label-map (SPADE) folder read as "A | B" images: its photos would be cut in half."""
    if (root / "labels").is_dir() or (data / LABEL_TABLE).is_file():
        raise InputError(f"--data {data} holds labels/ and images/ (a label-map dataset): pix2pix trains on "
                         f"{PIX2PIX_LAYOUTS}; give --photos DIR to outline landscape label maps (with {LABEL_TABLE}) "
                         "into sketches, or train a label-map model with --model spade")


def check_aligned(paths: list[Path], sizes: list[tuple[int, int]]) -> None:
    """Refuse a folder whose images are not "A | B" pairs: an odd width, or a width not about twice the height."""
    for path, (width, _) in zip(paths, sizes):
        if width % 2:
            raise InputError(f"{path}: an 'A | B' image holds two halves side by side, so its width must be "
                             f"even; found {width} (or give --edges-from-photos if these are photos)")
    odd = [(path, w, h) for path, (w, h) in zip(paths, sizes) if not PAIR_ASPECT[0] <= w / h <= PAIR_ASPECT[1]]
    if odd:
        path, width, height = odd[0]
        raise InputError(f"{path} is {width}×{height} ({len(odd)} of {len(paths)} images are not 2:1): an "
                         "'A | B' image holds two about square halves side by side, so its width must be about twice "
                         "its height; give --edges-from-photos if these are photos, or put pairs of other shapes in "
                         "sketches/ + images/")


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
        """Find this split's files, check each one's header, and name the layout."""
        if not root.is_dir():
            raise InputError(f"--data {root}: expected '{LANDSCAPE_SKETCH}' or a folder (docs/sketch.md)")
        root = split_folder(root, "train" if self.split == "train" else "test")
        if (root / "sketches").is_dir() and (root / "images").is_dir():
            self.items = pair_by_stem(root, "sketches", "sketch")
            for sketch, photo in self.items:
                check_aspect(sketch, image_size(sketch, "sketch"), photo, image_size(photo, "photo"))
            self._read_classes(root / CLASSES)
            return "sketches+images"
        layout = "edges" if self.edges_from_photos else "aligned"
        if layout == "aligned":
            refuse_label_maps(root, Path(self.data))
        folder = root / "images" if (root / "images").is_dir() else root
        self.items = image_files(folder)
        if not self.items:
            raise InputError(f"{folder}: found no {layout} pairs; expected {PIX2PIX_LAYOUTS} "
                             "(docs/sketch.md)")
        sizes = [image_size(path, "photo" if layout == "edges" else "'A | B' image") for path in self.items]
        if layout == "aligned":
            check_aligned(self.items, sizes)
        return layout

    def _read_classes(self, path: Path) -> None:
        """Each pair's class index from classes.json {"file stem": "class name"}, when the folder has one."""
        if not path.is_file():
            return
        mapping = read_json(path, "class table", MAX_CLASSES_BYTES)
        if not isinstance(mapping, dict):
            raise InputError(f'{path}: expected a JSON object {{"file stem": "class name"}}, found '
                             f"{json.dumps(mapping)[:100]}")
        missing = [s.stem for s, _ in self.items if s.stem not in mapping]
        if missing:
            raise InputError(f"{path} gives no class for {len(missing)} pair(s), e.g. {missing[:3]}")
        names = {s.stem: plain_text(mapping[s.stem], f"{path}: the class of {s.stem!r}") for s, _ in self.items}
        self.classes = sorted(set(names.values()))
        self.items = [(s, p, self.classes.index(names[s.stem])) for s, p in self.items]

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
            return (*split_aligned(read_rgb(item, "'A | B' image"), self.direction), 0)
        if self.layout == "edges":
            photo = read_rgb(item, "photo")
            return edges_sketch(photo, width=max(1, round(2 * max(photo.shape[:2]) / 256))), photo, 0
        return read_rgb(item[0], "sketch"), read_rgb(item[1], "photo"), item[2] if len(item) > 2 else 0


def augment(sketch: np.ndarray, photo: np.ndarray, rng: np.random.Generator, load: int,
            crop: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's jitter: resize both to load x load, the same random crop x crop, a random horizontal flip."""
    resized = [np.asarray(Image.fromarray(a).resize((load, load), Image.BICUBIC)) for a in (sketch, photo)]
    top, left = rng.integers(0, load - crop + 1, 2)
    flip = rng.random() < 0.5
    out = [a[top:top + crop, left:left + crop] for a in resized]
    return tuple(a[:, ::-1] if flip else a for a in out)
