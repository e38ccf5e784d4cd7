"""Read-and-paint sketch models: a reader turns a line drawing into a label map, a SPADE model paints it.

The folder holds reader.pth and a model.json of SKETCH_FORMAT whose network has type "reader" and whose "painter"
names the SPADE model folder that paints: a folder beside this one, else a shipped model of that name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoints import adopt_weights
from .errors import CheckpointError, InputError
from .model_card import MODEL_CARD, plain_file_name, shown_value
from .networks.layout_reader import LayoutReader
from .pipeline import GauGAN
from .shipped import checkpoints_root, named_model
from .sketch import (READER_TYPE, SKETCH_FORMAT, SKETCH_KIND, SPADE_KIND, as_rgb_array, card_file, model_kind,
                     read_sketch_card)
from .state_dicts import open_state_dict
from .whole_files import write_json_whole

READER_WEIGHTS = "reader.pth"
MAX_READ_SIDE = 512  # the reader's logits are computed at most this large; the map is then enlarged (nearest)
READER_LIMITS = {"num_classes": (1, 1024), "width": (1, 256), "grid": (8, 512)}  # also what training may ask for


def painter_folder(folder: Path, name: object) -> Path:
    """The SPADE model a reader's card names as its painter: the folder of that name beside the reader's, else the
    model of that name as `gaugan models` lists it (gaugan.shipped.named_model)."""
    name = plain_file_name(name, f"{folder / MODEL_CARD}: painter")
    beside = folder.resolve().parent / name
    found = beside if beside.is_dir() else named_model(name)
    if found is None:
        raise CheckpointError(f"{folder}: its painter {name!r} is neither a folder beside it ({beside}) nor a model "
                              f"of that name in {checkpoints_root()} or shipped; put the painter's model folder "
                              "beside it")
    if found.resolve() == folder.resolve() or model_kind(found) != SPADE_KIND:
        raise CheckpointError(f"{folder}: its painter {name!r} must be a SPADE (label-map) model, but {found} is a "
                              "sketch model")
    return found


def source_folders(folder: Path) -> list[Path]:
    """The folders a model's output depends on: its own, and a reader's painter's (where its card names one that
    is there; loading the model says what is wrong otherwise)."""
    try:
        card = read_sketch_card(folder)
        if card is not None and card["network"]["type"] == READER_TYPE:
            return [folder, painter_folder(folder, card.get("painter"))]
    except CheckpointError:
        pass
    return [folder]


def reader_network(card: dict, source: str) -> LayoutReader:
    """The reader a card's "network" entry describes, built on the meta device (the weights file supplies the
    tensors), once the card's label names fit it."""
    arguments = {k: v for k, v in card["network"].items() if k != "type"}
    if set(arguments) != set(READER_LIMITS):
        raise CheckpointError(f"{source}: a reader's network takes {', '.join(READER_LIMITS)}, found "
                              f"{', '.join(arguments) or 'none'}")
    for key, (low, high) in READER_LIMITS.items():
        value = arguments[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise CheckpointError(f"{source}: network.{key} must be an integer in {low}..{high}, found "
                                  f"{shown_value(value)}")
    labels = card.get("labels")
    if not isinstance(labels, list) or len(labels) != arguments["num_classes"] or not all(
            isinstance(name, str) for name in labels):
        raise CheckpointError(f"{source}: labels must list the names of the {arguments['num_classes']} labels the "
                              f"reader reads, found {str(labels)[:200]}")
    try:
        with torch.device("meta"):
            return LayoutReader(**arguments)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from None


class ReadAndPaint:
    """A sketch model made of a reader and a SPADE painter; generate() takes what Pix2Pix.generate takes."""

    conditional = False
    classes: list[str] = []
    direction = "AtoB"

    def __init__(self, reader: LayoutReader, painter: GauGAN, card: dict, painter_folder: Path | None = None) -> None:
        names = [label.name for label in painter.labels]
        read = card.get("labels")
        if read != names:
            differ = [f"{i}: {a!r} / {b!r}" for i, (a, b) in enumerate(zip(read, names)) if a != b][:5]
            raise CheckpointError(f"the reader reads {len(read)} labels and its painter {painter.name!r} paints "
                                  f"{len(names)}; they must be the same, in order (reader / painter: "
                                  f"{', '.join(differ) or 'the longer list goes on'})")
        self.reader = reader.eval().to(painter.device)
        self.painter = painter
        self.painter_folder = painter_folder  # where the painter was loaded from, if from a folder
        self.card = card
        self.ids = np.array([label.id for label in painter.labels], dtype=np.int64)
        self.input_size = painter.preset.crop_size

    @property
    def varies_with_seed(self) -> bool:
        """Whether seeds give different photos: the seed picks the painter's style, where it takes style codes."""
        return self.painter.varies_with_seed

    @classmethod
    def from_checkpoint(cls, folder: str | Path, device: torch.device | str | None = None) -> "ReadAndPaint":
        """Load the reader and its painter (strictly, as GauGAN.from_checkpoint does)."""
        folder = Path(folder)
        card = read_sketch_card(folder)
        if card is None or card["network"]["type"] != READER_TYPE:
            raise CheckpointError(f"{folder}: expected a read-and-paint sketch model ({MODEL_CARD} with a network of "
                                  f"type {READER_TYPE!r})")
        return cls.from_card(folder, card, device)

    @classmethod
    def from_card(cls, folder: Path, card: dict, device: torch.device | str | None = None,
                  style_prior: bool = True) -> "ReadAndPaint":
        """Load the reader a validated sketch card (gaugan.sketch.read_sketch_card) describes, and its painter
        (style_prior=False: the painter's seeds draw style codes from N(0, I), see GauGAN.from_checkpoint)."""
        source = str(folder / MODEL_CARD)
        reader = reader_network(card, source)
        weights = card_file(folder, card, "reader", READER_WEIGHTS)
        adopt_weights(reader, weights, open_state_dict(weights))
        painter = painter_folder(folder, card.get("painter"))
        return cls(reader, GauGAN.from_checkpoint(painter, device=device, style_prior=style_prior), card, painter)

    def class_index(self, class_id: int | str | None) -> None:
        """None: the painter draws whatever the sketch shows; a class is refused."""
        if class_id is not None:
            raise InputError(f"this sketch model is not class-conditional: it takes no class, found {class_id!r}")

    @torch.inference_mode()
    def read(self, sketch: Image.Image | np.ndarray) -> np.ndarray:
        """The label map (H, W) of painter ids that the reader sees in a sketch of size (H, W)."""
        grey = Image.fromarray(as_rgb_array(sketch)).convert("L")
        width, height = grey.size
        scale = min(1.0, MAX_READ_SIDE / max(width, height))
        small = grey.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BOX)
        x = torch.from_numpy(np.asarray(small, dtype=np.float32) / 127.5 - 1)[None, None].to(self.painter.device)
        labels = self.ids[self.reader(x)[0].argmax(0).cpu().numpy()]
        rows, cols = (np.arange(n) * small // n for n, small in zip((height, width), labels.shape))
        return labels[rows][:, cols]  # nearest, to the sketch's size

    def generate(self, sketch: Image.Image | np.ndarray, seed: int | None = None,
                 class_id: int | str | None = None, keep_aspect: bool = False) -> Image.Image:
        """A photo of the sketch's size: the painter's image of the label map read from it. seed=None is seed 0
        (deterministic, as Pix2Pix); keep_aspect as GauGAN.generate."""
        self.class_index(class_id)
        return self.paint(self.read(sketch), seed, keep_aspect)

    def paint(self, labels: np.ndarray, seed: int | None = None, keep_aspect: bool = False) -> Image.Image:
        """The painter's image of a label map read earlier (read()); seed=None is seed 0."""
        return self.painter.generate(labels, seed=0 if seed is None else seed, keep_aspect=keep_aspect)


def save_reader_model(directory: str | Path, reader: LayoutReader, painter: str, labels: list[str],
                      card: dict) -> Path:
    """Write reader.pth and model.json (format, kind, network, painter, the labels it reads, then the caller's card)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(reader.state_dict(), directory / READER_WEIGHTS)
    full = {"format": SKETCH_FORMAT, "kind": SKETCH_KIND, "network": {"type": READER_TYPE, **reader.config},
            "painter": painter, "labels": labels, **card, "files": {"reader": READER_WEIGHTS}}
    write_json_whole(directory / MODEL_CARD, full)
    return directory
