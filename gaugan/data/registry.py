"""The datasets `train` and `evaluate` take: built-in ones by name, or a folder of your own label/image pairs."""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from label_colors import PALETTES, Label

from ..errors import InputError
from .folder import LABEL_TABLE, LabelImageFolder, read_label_table
from .landscape import landscape_scene
from .texture_bank import shared_bank

Sample = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # labels (H, W), photo (H, W, 3), instances or None
FOLDER_SHARE = 0.5  # a folder mixed with photo-textured scenes gives every other sample
SPLITS = {"train": ("train",), "test": ("test", "val")}  # the sub-folders of a split folder dataset, first found wins


@dataclass(frozen=True)
class Dataset:
    """Numbered samples at any (height, width), and what training and evaluation need to know of them."""

    description: str  # written to the model card
    sample: Callable[[int, tuple[int, int]], Sample]
    held_out_start: int = 0  # evaluation reads samples from this index on
    count: Callable[[], int | None] = lambda: None  # how many distinct samples (a folder's pairs); None: unbounded
    scan: Callable[[tuple[int, int]], object] = lambda size: None  # reads and checks its files once (a folder's pairs)
    labels: list[Label] | None = None  # its label table; None: not known (a folder without labels.json)
    shipped_segmenter: str | None = None  # the shipped segmenter folder for it; None: train one, cached beside the data
    shipped_photo_segmenter: str | None = None  # the same for its scenes painted with photo textures


def _landscape(index: int, size: tuple[int, int]) -> Sample:
    labels, image = landscape_scene(index, size)
    return labels, image, None


DATASETS = {
    "landscape": Dataset(
        description="procedural landscapes from gaugan/data/landscape.py (seeds from 0 upward, 25% doodle layouts, "
                    "random time of day, season and haze), generated on the fly at the preset's output size",
        sample=_landscape, held_out_start=10_000_000, labels=PALETTES["landscape"], shipped_segmenter="segmenter",
        shipped_photo_segmenter="segmenter-photo"),  # training never reaches it
}


@functools.lru_cache(maxsize=8)
def _folder(root: str, size: tuple[int, int], dontcare: bool, table: Path,
            ids: frozenset[int] | None = None) -> LabelImageFolder:
    """One directory scan per (folder, size, dontcare, label table, ids checked), not one per sample."""
    return LabelImageFolder(root, size, dontcare, table, ids)


def split_folder(root: str | Path, split: str = "train") -> Path:
    """root/train for "train", root/test or root/val for "test", where root is split so; else root itself (the
    convention of sketch folders, gaugan/data/sketch.py)."""
    root = Path(root)
    found = next((root / name for name in SPLITS[split] if (root / name).is_dir()), None)
    splits = [f"{name}/" for names in SPLITS.values() for name in names if (root / name).is_dir()]
    if found is None and splits:
        raise InputError(f"{root} is split into {', '.join(splits)} but has no "
                         f"{' or '.join(name + '/' for name in SPLITS[split])} split to "
                         f"{'train' if split == 'train' else 'evaluate'} on")
    return found or root


def has_held_out_split(root: str | Path) -> bool:
    """Whether a folder dataset keeps pairs apart from training (test/ or val/)."""
    return any((Path(root) / name).is_dir() for name in SPLITS["test"])


def folder_dataset(data: str, split: str = "train", dontcare: bool = False, ids: frozenset[int] | None = None) -> Dataset:
    """The label/image pairs of one split of a folder, with the folder's label table (labels.json) if it has one; its
    ids are checked against `ids` where given (a run's own table), else that table. The folder is read when scanned,
    sampled or counted, so that a run trained on it exports where it is absent."""
    root = str(split_folder(data, split))
    table = Path(data) / LABEL_TABLE
    pairs = functools.partial(_folder, root, dontcare=dontcare, table=table, ids=ids)  # a split's too
    return Dataset(description=f"label/image pairs from {root}", sample=lambda index, size: pairs(size)[index],
                   count=lambda: len(pairs((1, 1))), scan=pairs,  # count at any size: it only resizes what it reads
                   labels=read_label_table(table) if table.is_file() else None)


def photo_textured_landscapes(photos: str) -> Dataset:
    """Procedural landscapes painted with real photo textures from a `data photos` folder (texture_bank.py)."""
    bank = shared_bank(photos)

    def sample(index: int, size: tuple[int, int]) -> Sample:
        labels, image = landscape_scene(index, size, bank=bank)
        return labels, image, None

    return dataclasses.replace(DATASETS["landscape"], sample=sample, description=(
        "procedural landscape layouts from gaugan/data/landscape.py (seeds from 0 upward, 25% doodle layouts) painted "
        "with real photo textures of each class (gaugan/data/texture_bank.py: boxes cut from the training photographs "
        "listed under training_photos), generated on the fly at the preset's output size"))


def with_photo_textured_landscapes(folder: str, photos: str, folder_share: float = FOLDER_SHARE,
                                   dontcare: bool = False, ids: frozenset[int] | None = None) -> Dataset:
    """A folder of landscape-labelled pairs (e.g. `data traced`) mixed with photo-textured scenes: a `folder_share`
    of the samples, evenly spread, from the folder in a fixed shuffled order, the others painted by the texture bank."""
    if not 0 < folder_share <= 1:
        raise InputError(f"the share of samples from --data {folder} must be in (0, 1]; found {folder_share}")
    table = Path(folder) / LABEL_TABLE
    found = read_label_table(table) if table.is_file() else None
    if found != PALETTES["landscape"]:
        raise InputError(f"--photos beside --data {folder} mixes its pairs with landscape scenes, so its labels.json "
                         f"must hold the landscape label table; found {table if found is None else 'a different table'}")
    landscapes = photo_textured_landscapes(photos)
    training_pairs = functools.partial(_folder, str(split_folder(folder)), dontcare=dontcare, table=table, ids=ids)

    def sample(index: int, size: tuple[int, int]) -> Sample:
        taken = math.ceil(index * folder_share)  # folder pairs among samples 0 .. index-1
        if math.ceil((index + 1) * folder_share) == taken:
            return landscapes.sample(index, size)
        pairs = training_pairs(size)
        return pairs[int(_shuffled(len(pairs))[taken % len(pairs)])]

    share = "one for one" if folder_share == 0.5 else f"as {folder_share:.0%} of the samples"
    return dataclasses.replace(landscapes, sample=sample, scan=training_pairs, description=(
        f"label/image pairs from {folder} interleaved {share} with {landscapes.description}"))


@functools.lru_cache(maxsize=4)
def _shuffled(count: int) -> np.ndarray:
    """A fixed permutation of a folder's pairs, so that consecutive samples come from different photos."""
    return np.random.default_rng(0).permutation(count)


def refuse_share_without_mix(data: str, photos: str, folder_share: float, mixing: bool) -> None:
    """An InputError for a --folder-share given where no --data folder is mixed with photo-textured scenes."""
    if folder_share != FOLDER_SHARE and not mixing:
        raise InputError(f"a share of {folder_share} mixes a --data folder with photo-textured scenes, so it needs "
                         f"--data FOLDER beside --photos; found --data {data}" + ("" if photos else " without --photos"))


def open_dataset(data: str, photos: str = "", folder_share: float = FOLDER_SHARE, split: str = "train",
                 dontcare: bool = False, ids: frozenset[int] | None = None) -> Dataset:
    """A built-in dataset by name (landscapes painted with photo textures when `photos` is given), or a folder (the
    pairs of its `split`, or its training pairs as `folder_share` of the samples mixed with photo-textured landscapes
    when `photos` is given); a folder's label ids must be in `ids` where given (else in its labels.json), and ids
    of 255 pass as dont-care only with `dontcare`."""
    refuse_share_without_mix(data, photos, folder_share, mixing=bool(photos) and data not in DATASETS)
    if photos:
        if data in DATASETS and data != "landscape":
            raise InputError(f"photo textures paint the procedural 'landscape' scenes; --data {data} has its own photos")
        if data == "landscape":
            return photo_textured_landscapes(photos)
        return with_photo_textured_landscapes(data, photos, folder_share, dontcare, ids)
    if data in DATASETS:
        return DATASETS[data]
    return folder_dataset(data, split, dontcare, ids)
