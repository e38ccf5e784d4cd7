"""A dataset of your own: label PNGs, photos and optional instance PNGs with matching file names.

Layout:
    DATA/labels/NAME.png      8-bit ids (mode L, or P read by index), each listed in labels.json (255 may also
                              mean dont-care, for presets that have a dont-care label), or the labels' exact
                              colours (RGB, or a palette PNG that shows only those colours)
    DATA/images/NAME.jpg|png  the photo (.jpg, .jpeg, .png or .webp, in any letter case); 16-bit greys are scaled
                              to 8 bits, transparent pixels are laid onto white
    DATA/instances/NAME.png   optional instance ids (any integer mode)
    DATA/labels.json          the label table: [{"id": 0, "name": "sky", "rgb": [110, 165, 245]}, ...]

A label map and its photo (and instance map) have the same size, or at least the same aspect ratio to within a
pixel (each is resized to the training size; different shapes would stretch one over the other, so they are
refused). Every pair is checked when the folder is opened, before the first step: each label map is decoded (its
mode and ids), each photo's header read (its format and size); a photo damaged past its header is named when it is
read. Files of labels/ and images/ without a partner are left out, named in a warning line.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from label_colors import Label, validate_palette

from ..errors import ImageError, InputError
from ..images import LOSSY_FORMATS, open_image, to_rgb
from ..labelmaps import ID_MODES, read_instance_map
from ..model_card import plain_text, read_json
from ..presets import DONTCARE_ID
from ..semantics import resize_nearest

COLOUR_MODES = ("RGB", "RGBA")  # a label map in its labels' colours, read through the label table
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
LABEL_TABLE = "labels.json"
MAX_LABEL_TABLE_BYTES = 1_000_000
MAX_PIXELS = 4096 * 4096  # training files larger than this are refused before decoding
NAMED_FILES = 3  # unpaired files named in a warning or error


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """Prefix the message of an ImageError raised inside with the file's path."""
    try:
        yield
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def image_size(path: Path, what: str) -> tuple[int, int]:
    """A training file's (width, height) from its header, refused if unreadable or too large."""
    with naming(path), open_image(path, what, MAX_PIXELS, decode=False) as image:
        return image.size


def open_rgb(path: Path, what: str) -> Image.Image:
    """A training file decoded within MAX_PIXELS as 8-bit RGB (images.to_rgb); errors name the file."""
    with naming(path):
        return to_rgb(open_image(path, what, MAX_PIXELS))


def check_aspect(first: Path, first_size: tuple[int, int], second: Path, second_size: tuple[int, int]) -> None:
    """Refuse two files of a pair whose aspect ratios differ by more than a pixel (both are resized alike)."""
    (w1, h1), (w2, h2) = first_size, second_size
    if abs(w1 * h2 - w2 * h1) > max(w1, h1, w2, h2):
        raise InputError(f"{first} is {w1}×{h1} but {second} is {w2}×{h2}: the files of a pair must have the same "
                         "size or aspect ratio (one would be stretched over the other)")


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder (IMAGE_SUFFIXES in any letter case), in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _by_stem(files: list[Path]) -> dict[str, Path]:
    by_stem: dict[str, Path] = {}
    for path in files:
        if path.stem in by_stem:
            raise InputError(f"{by_stem[path.stem]} and {path.name} have the same name: keep one of them")
        by_stem[path.stem] = path
    return by_stem


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _named(paths: list[Path]) -> str:
    """'3 files (a.png, b.png, c.png, …)', naming at most NAMED_FILES."""
    names = ", ".join(p.name for p in paths[:NAMED_FILES]) + (", …" if len(paths) > NAMED_FILES else "")
    return _count(len(paths), "file") + (f" ({names})" if paths else "")


def pair_by_stem(root: Path, inputs: str, what: str) -> list[tuple[Path, Path]]:
    """(input, photo) files of root/inputs and root/images with the same stem, in name order. The unpaired are
    counted and named in a warning line on stderr; an InputError says what each side holds if nothing pairs."""
    found = _by_stem(image_files(root / inputs))
    photos = _by_stem(image_files(root / "images"))
    pairs = [(found[stem], photos[stem]) for stem in sorted(found.keys() & photos.keys())]
    lonely = [found[stem] for stem in sorted(found.keys() - photos.keys())]
    orphans = [photos[stem] for stem in sorted(photos.keys() - found.keys())]
    if not pairs:
        raise InputError(f"{root}: no {what} in {inputs}/ has a photo of the same name in images/; found "
                         f"{_named(lonely)} in {inputs}/ and {_named(orphans)} in images/")
    unpaired = [f"{_named(files)} in {folder}/ without a {partner}" for files, folder, partner in
                ((lonely, inputs, "photo"), (orphans, "images", what)) if files]
    if unpaired:
        print(f"warning: {root}: left out {' and '.join(unpaired)}; using {_count(len(pairs), 'pair')}",
              file=sys.stderr)
    return pairs


def _packed(rgb: tuple[int, int, int] | np.ndarray) -> int | np.ndarray:
    """An (r, g, b) colour, or an array of r, g and b planes, as one integer per colour."""
    return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


def label_entries(labels: list[Label]) -> list[dict]:
    """Labels as a label table's JSON entries (labels.json, model.json)."""
    return [{"id": label.id, "name": label.name, "rgb": list(label.rgb)} for label in labels]


def _is_byte(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255


def _label(index: int, entry: object) -> Label:
    """One label-table entry: exactly an id and an rgb of integers in 0..255 (not booleans) and a plain-text name,
    as model.json requires them."""
    shown = json.dumps(entry)[:100]
    if not isinstance(entry, dict) or set(entry) != {"id", "name", "rgb"}:
        raise InputError(f"entry {index} has not exactly the keys id, name and rgb: {shown}")
    rgb = entry["rgb"]
    if not _is_byte(entry["id"]) or not (isinstance(rgb, list) and len(rgb) == 3 and all(map(_is_byte, rgb))):
        raise InputError(f"entry {index} has an id or rgb that is not integers in 0..255: {shown}")
    return Label(entry["id"], plain_text(entry["name"], f"entry {index}'s name"), tuple(rgb))


def read_label_table(path: str | Path) -> list[Label]:
    """A label table: a JSON list of {"id", "name", "rgb"} (ids 0..255), or a model.json holding one."""
    path = Path(path)
    table = read_json(path, "label table", MAX_LABEL_TABLE_BYTES)
    if isinstance(table, dict) and "labels" in table:
        table = table["labels"]
    try:
        if not isinstance(table, list) or not table:
            raise InputError(f"found {json.dumps(table)[:100]}")
        labels = [_label(index, entry) for index, entry in enumerate(table)]
    except InputError as exc:
        raise InputError(f'{path}: expected a non-empty JSON list of {{"id": 0..255, "name": str, "rgb": [r, g, b]}} '
                         f"entries; {exc}") from None
    try:
        validate_palette(labels)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return labels


class LabelImageFolder:
    """Pairs (labels, image[, instance]) by file stem, each checked when the folder is opened, resized to one
    training size; each id must be one of `ids` (a run's own label table), else of the label table file (default
    root/labels.json) where it exists, or be 255 with dontcare (a preset with a dont-care label). A label map in
    colours (RGB) is read through the label table file's colours."""

    def __init__(self, root: str | Path, size: tuple[int, int], dontcare: bool = False,
                 table: Path | None = None, ids: frozenset[int] | None = None) -> None:
        self.root = Path(root)
        self.size = size
        if not (self.root / "labels").is_dir() or not (self.root / "images").is_dir():
            raise InputError(f"{self.root}: expected sub-folders labels/ and images/ (README: 'Training on your own "
                             "data')")
        table = table or self.root / LABEL_TABLE
        self.table_name = "the run's label table" if ids is not None else str(table)  # for messages
        found = read_label_table(table) if table.is_file() else []
        listed = set(ids) if ids is not None else {label.id for label in found} if table.is_file() else None
        self.ids = listed | {DONTCARE_ID} if listed is not None and dontcare else listed
        self.colours = {_packed(label.rgb): label.id for label in found}  # distinct: validate_palette
        self._sorted_colours = np.array(sorted(self.colours), np.int64)  # for _ids_of_colours' lookup
        self._sorted_ids = np.array([self.colours[c] for c in self._sorted_colours.tolist()], np.uint8)
        self.pairs = pair_by_stem(self.root, "labels", "label map")
        for label_path, image_path in self.pairs:
            self._check(label_path, image_path)

    def _check(self, label_path: Path, image_path: Path) -> None:
        """Decode a pair's label map (and instance map) and read its photo's header: modes, ids and sizes."""
        size = self._labels(label_path).size
        check_aspect(label_path, size, image_path, image_size(image_path, "photo"))
        instance_path = self.root / "instances" / label_path.name
        if instance_path.is_file():
            instances = self._instances(instance_path)
            check_aspect(label_path, size, instance_path, instances.shape[::-1])

    def _labels(self, path: Path) -> Image.Image:
        """A decoded label map as ids: lossless, 8-bit ids (or the label table's colours), each in the label table (if
        the folder has one)."""
        with naming(path):
            image = open_image(path, "label map", MAX_PIXELS)
        if image.format in LOSSY_FORMATS:
            raise InputError(f"{path}: a label map must be a PNG of ids, found {image.format}, which blurs them")
        if (image.mode in COLOUR_MODES or self._paints_table_colours(image)) and self.colours:
            image = Image.fromarray(self._ids_of_colours(path, np.asarray(image.convert("RGB"))))
        elif image.mode not in ID_MODES:
            colours = f" or the colours of {LABEL_TABLE} (RGB)" if self.colours else ""
            raise InputError(f"{path}: expected 8-bit label ids (mode {' or '.join(ID_MODES)}){colours}, found mode "
                             f"{image.mode}; save the ids as an 8-bit greyscale PNG")
        if self.ids is not None:
            unknown = sorted(set(np.flatnonzero(np.bincount(np.asarray(image).ravel())).tolist()) - self.ids)
            if unknown:
                dontcare = f"; {DONTCARE_ID} is dont-care only with a preset that has a dont-care label"
                hint = dontcare if DONTCARE_ID in unknown else ""
                raise InputError(f"{path}: holds label ids {unknown[:10]} that {self.table_name} does not list (expected "
                                 f"one of {sorted(self.ids)}{hint})")
        return image

    def _paints_table_colours(self, image: Image.Image) -> bool:
        """Whether a palette image (mode P) shows only the label table's colours: a colour map an editor saved with a
        palette, whose indices need not be the ids (one whose palette shows other colours is read by index)."""
        if image.mode != "P" or not self.colours:
            return False
        palette = np.array(image.getpalette() or [], np.int64)
        palette = np.pad(palette, (0, 768 - len(palette)))[:768].reshape(256, 3)
        used = palette[np.flatnonzero(np.bincount(np.asarray(image).ravel(), minlength=256))]
        return all(colour in self.colours for colour in _packed(used.T).tolist())

    def _ids_of_colours(self, path: Path, rgb: np.ndarray) -> np.ndarray:
        """A colour label map's ids by the label table's exact colours (a lookup per pixel, no sort: it runs for every
        sample); a colour it does not list is refused."""
        packed = _packed(rgb.transpose(2, 0, 1).astype(np.int64))
        at = np.minimum(np.searchsorted(self._sorted_colours, packed), len(self._sorted_colours) - 1)
        listed = self._sorted_colours[at] == packed
        if not listed.all():
            unknown = np.unique(packed[~listed])
            raise InputError(f"{path}: holds colours {', '.join(f'#{c:06x}' for c in unknown[:5].tolist())} "
                             f"({1 - listed.mean():.1%} of its pixels) that {LABEL_TABLE} does not list; expected "
                             "exactly its labels' colours")
        return self._sorted_ids[at]

    def _instances(self, path: Path) -> np.ndarray:
        """A decoded instance map (integer ids)."""
        with naming(path):
            return read_instance_map(path, MAX_PIXELS)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        label_path, image_path = self.pairs[index % len(self.pairs)]
        height, width = self.size
        labels = np.asarray(self._labels(label_path).resize((width, height), Image.NEAREST))
        image = np.asarray(open_rgb(image_path, "photo").resize((width, height), Image.BICUBIC))
        instance_path = self.root / "instances" / label_path.name
        instance = resize_nearest(self._instances(instance_path), self.size) if instance_path.is_file() else None
        return labels, image, instance
