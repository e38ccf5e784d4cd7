"""Sketch -> photo models: pix2pix U-Nets (ours or the reference's released `<name>_pix2pix` folders) and
class-conditional sketch generators; loading, saving, telling them apart from SPADE models, and generating.

Our sketch model folders hold generator.pth and a model.json with format SKETCH_FORMAT, "kind": "sketch",
the network's constructor arguments, the input size, the class names (if conditional) and the data direction.
A network of type "reader" is a read-and-paint model instead (gaugan/sketch_reader.py); load_sketch_model loads
either kind.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .checkpoints import (OFFICIAL_WEIGHTS, adopt_weights, available_checkpoints, card_folder, check_fit,
                          file_in_folder, meta_network)
from .data.sketch import DIRECTIONS, LANDSCAPE_SKETCH
from .errors import CheckpointError, InputError
from .framing import blur_note, paint_unstretched
from .images import open_image, to_rgb
from .model_card import (GENERATOR_WEIGHTS, MAX_DESCRIPTION_LENGTH, MODEL_CARD, MODEL_FORMAT, SKETCH_FORMAT,
                         checked_integer, plain_file_name, plain_text, read_card_json, shown_value)
from .networks import ClassConditionalGenerator, UnetGenerator
from .networks.conditional import LEVELS as CONDITIONAL_LEVELS
from .networks.unet import LEVELS as UNET_LEVELS
from .networks.unet import unet_config_from_state
from .pipeline import check_seed
from .shipped import checkpoint_argument
from .state_dicts import mapped_state_dict, open_state_dict
from .whole_files import write_json_whole

if TYPE_CHECKING:
    from .sketch_reader import ReadAndPaint

SKETCH_KIND, SPADE_KIND = "sketch", "spade"
RELEASED_SUFFIX = "_pix2pix"  # the reference's released folders: <name>_pix2pix/latest_net_G.pth
MAX_INPUT_SIZE = 2048
NETWORKS = {"unet": UnetGenerator, "conditional": ClassConditionalGenerator}
DEPTHS = {"unet": UNET_LEVELS, "conditional": CONDITIONAL_LEVELS}  # the depths each of NETWORKS takes
READER_TYPE = "reader"  # a read-and-paint model (gaugan/sketch_reader.py)
# Bounds on the integer arguments of NETWORKS a card may give (training asks for less: gaugan.train.SKETCH_LIMITS).
NETWORK_LIMITS = {"input_nc": (1, 4), "output_nc": (1, 4), "ngf": (1, 1024), "num_classes": (1, 4096),
                  "class_planes": (1, 256), "embed_dim": (1, 1024)}


def _is_unet_state_file(path: Path) -> bool:
    """Whether a weights file has the reference U-Net's first key (read lazily, without loading the tensors); legacy
    (non-zip) files cannot be mapped: the folder's name alone decides for them."""
    try:
        return "model.model.0.weight" in (mapped_state_dict(path) or {})
    except Exception:  # any file that is not one: the loader says what is wrong with it
        return False


def model_kind(folder: str | Path) -> str:
    """'sketch' for our sketch models and released pix2pix folders, 'spade' for every other checkpoint folder."""
    folder = Path(folder)
    card_path = folder / MODEL_CARD
    if card_path.is_file():
        try:
            card = read_card_json(card_path)
        except CheckpointError:
            return SPADE_KIND  # the SPADE loader reports what is wrong with the file
        return SKETCH_KIND if isinstance(card, dict) and card.get("kind") == SKETCH_KIND else SPADE_KIND
    weights = folder / OFFICIAL_WEIGHTS
    if folder.name.endswith(RELEASED_SUFFIX) or (weights.is_file() and _is_unet_state_file(weights)):
        return SKETCH_KIND
    return SPADE_KIND


def is_sketch_model(folder: str | Path) -> bool:
    """Whether a checkpoint folder holds a sketch model (model_kind)."""
    return model_kind(folder) == SKETCH_KIND


def model_kinds(root: str | Path) -> dict[str, tuple[Path, str]]:
    """The shipped models and every checkpoint folder under root (gaugan.checkpoints.available_checkpoints) with
    its kind: spade or sketch."""
    return {name: (folder, model_kind(folder)) for name, folder in available_checkpoints(root).items()}


def sketch_method(folder: Path) -> str:
    """How a sketch model folder turns outlines into a photo, in a few words for listings: its network (pix2pix's
    U-Net, class-conditional), or a reader and the folder of the painter it hands its reading to (a listed name can
    stand for another folder); or "unreadable: " and why (its model.json, its painter, or weights missing or not
    fitting the network it describes, found without reading their values)."""
    try:
        card = read_sketch_card(folder)
        if card is None:
            weights, method = folder / OFFICIAL_WEIGHTS, "pix2pix U-Net (released)"
        elif card["network"]["type"] == READER_TYPE:
            from .sketch_reader import painter_folder  # here: gaugan.sketch_reader imports this module
            painter = painter_folder(folder, card.get("painter"))
            beside = painter.parent == folder.resolve().parent
            return f"reader, painted by {painter.name} beside it" if beside else f"reader, painted by {painter}"
        else:
            weights = card_file(folder, card, "generator", GENERATOR_WEIGHTS)
            method = {"unet": "pix2pix U-Net", "conditional": "class-conditional U-Net"}[card["network"]["type"]]
        state = mapped_state_dict(weights)
        if state is not None:  # names and shapes against the network; a legacy file's are checked when it loads
            network = meta_network(lambda: sketch_network(card, state), str(folder / MODEL_CARD) if card else weights.name)
            check_fit(network, state, weights.name)
        return method
    except CheckpointError as exc:
        return f"unreadable: {exc}"


def network_limits(kind: str) -> dict[str, tuple[int, int]]:
    """The bounds on the integer arguments a card may give a network of this kind: NETWORK_LIMITS and its depths."""
    return {**NETWORK_LIMITS, "depth": (DEPTHS[kind][0], DEPTHS[kind][-1])}


def sketch_network(card: dict | None, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The generator a sketch card describes or, without a card, the U-Net a released file's shapes give (within
    NETWORK_LIMITS; else the reference's, so that loading names the keys that differ)."""
    if card is not None:
        return build_network(card["network"])
    try:
        config = unet_config_from_state(state)
    except ValueError:
        return UnetGenerator()
    for key, (low, high) in network_limits("unet").items():
        if key in config:
            checked_integer(config[key], f"the U-Net's {key}, read from its tensor names and shapes", low, high)
    return UnetGenerator(**config)


def read_sketch_card(folder: Path) -> dict | None:
    """Our sketch model.json, validated, or None when the folder has no model.json."""
    path = folder / MODEL_CARD
    if not path.is_file():
        return None
    card = read_card_json(path)
    card = card if isinstance(card, dict) else {}
    if card.get("format") == MODEL_FORMAT:
        raise CheckpointError(f"{path}: this is a label-map (SPADE) model (label maps -> photo); this takes sketch "
                              "models, such as landscape-sketch-reader (GauGAN.from_checkpoint loads label-map models)")
    network = card.get("network")
    types = (*NETWORKS, READER_TYPE)
    if card.get("format") != SKETCH_FORMAT or not isinstance(network, dict) or network.get("type") not in types:
        raise CheckpointError(f"{path}: expected a JSON object of format {SKETCH_FORMAT!r} with a 'network' of type "
                              f"{'/'.join(types)}, found format {shown_value(card.get('format'))}")
    try:
        _check_text_fields(card)
        if network["type"] != READER_TYPE:  # a reader's network is checked by gaugan.sketch_reader.reader_network
            _check_network_card(card)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return card


def _check_text_fields(card: dict) -> None:
    """Refuse a card whose direction is not one of DIRECTIONS or whose description is not plain text."""
    if card.get("direction", DIRECTIONS[0]) not in DIRECTIONS:
        raise CheckpointError(f"direction must be one of {', '.join(DIRECTIONS)}, "
                              f"found {shown_value(card['direction'])}")
    if card.get("description") is not None:
        plain_text(card["description"], "description", MAX_DESCRIPTION_LENGTH, lines=True)


def _check_network_card(card: dict) -> None:
    """Refuse a U-Net or class-conditional card whose integer network arguments are out of NETWORK_LIMITS, whose
    input_size is not an integer up to MAX_INPUT_SIZE, or whose classes are not distinct names (none unless the
    network is conditional, at most one per class)."""
    network = card["network"]
    for key, (low, high) in network_limits(network["type"]).items():
        if key in network:
            checked_integer(network[key], f"network.{key}", low, high)
    if card.get("input_size") is not None:
        checked_integer(card["input_size"], "input_size", 1, MAX_INPUT_SIZE)
    classes = card.get("classes", [])
    if not isinstance(classes, list):
        raise CheckpointError(f"classes must be a list of class names, found {shown_value(classes)}")
    most = network.get("num_classes", 0) if network["type"] == "conditional" else 0
    if len(classes) > most:
        expected = (f"at most {most} names (one per class)" if most
                    else f"empty (a {network['type']} network takes no class)")
        raise CheckpointError(f"classes must be {expected}, found {shown_value(classes)}")
    names = [plain_text(name, f"classes[{i}]") for i, name in enumerate(classes)]
    if len(set(names)) < len(names):
        raise CheckpointError(f"classes must be distinct names, found {shown_value(classes)}")


def card_file(folder: Path, card: dict, role: str, default: str) -> Path:
    """The file a sketch card's "files" names for a role (default if unnamed), refused unless it lies in folder."""
    files = card.get("files", {})
    if not isinstance(files, dict):
        raise CheckpointError(f"{folder / MODEL_CARD}: files must be an object mapping roles to file names, found "
                              f"{type(files).__name__}")
    return file_in_folder(folder, plain_file_name(files.get(role, default), f"{folder / MODEL_CARD}: files.{role}"))


def build_network(network: dict) -> torch.nn.Module:
    """A generator from a card's 'network' entry ({"type": ..., constructor arguments})."""
    kwargs = {k: v for k, v in network.items() if k != "type"}
    try:
        return NETWORKS[network["type"]](**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"model.json 'network' has arguments the {network['type']} network does not take: {exc}") from None


def load_sketch_network(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """(generator, card) for our sketch model folder, a released <name>_pix2pix folder or a bare .pth file.

    Loading is strict: a file that does not fit raises CheckpointError naming the missing, unexpected and
    wrongly shaped keys. A `module.` prefix (from DataParallel) is accepted. The network is built on the meta
    device and adopts the file's tensors, so a card cannot make it allocate more than the file holds.
    """
    path = Path(path)
    folder = card_folder(path)
    card = read_sketch_card(folder) if path.is_dir() else None
    if card is not None and card["network"]["type"] == READER_TYPE:
        raise CheckpointError(f"{folder} is a read-and-paint sketch model: load it with gaugan.load_sketch_model")
    if card is not None:
        weights = card_file(folder, card, "generator", GENERATOR_WEIGHTS)
    else:
        weights = path if path.is_file() else folder / OFFICIAL_WEIGHTS
        if not weights.is_file():
            raise CheckpointError(f"no sketch model in {folder}: expected {MODEL_CARD} + {GENERATOR_WEIGHTS} (ours) "
                                  f"or {OFFICIAL_WEIGHTS} (a released <name>{RELEASED_SUFFIX} folder)")
    state = open_state_dict(weights)
    network = meta_network(lambda: sketch_network(card, state), str(folder / MODEL_CARD) if card else str(weights))
    if card is None:
        card = {"kind": SKETCH_KIND, "network": {"type": "unet", **network.config}, "input_size": network.grid,
                "classes": [], "direction": "AtoB", "description": f"released pix2pix generator ({folder.name})"}
    adopt_weights(network, weights, state)
    return network, card


def as_rgb_array(sketch: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image, or a uint8 array of grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4) pixels, as (H, W, 3) uint8
    (transparency laid onto white, images.to_rgb); else an InputError saying what was found."""
    if isinstance(sketch, Image.Image):
        return np.asarray(to_rgb(sketch))
    if isinstance(sketch, (str, Path)):
        raise InputError(f"a sketch must be a PIL image or a uint8 array, found the path {str(sketch)[:200]!r}: open "
                         "it first (PIL.Image.open)")
    array = np.asarray(sketch)
    if array.dtype != np.uint8 or not (array.ndim == 2 or array.ndim == 3 and array.shape[2] in (3, 4)) \
            or min(array.shape[:2]) == 0:
        raise InputError(f"a sketch must be a PIL image or a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), "
                         f"found shape {array.shape} dtype {array.dtype}")
    return array if array.ndim == 3 and array.shape[2] == 3 else np.asarray(to_rgb(Image.fromarray(array)))


class Pix2Pix:
    """A sketch model ready to turn drawings into photos: load once, call generate() many times."""

    # Whether the page and `generate` offer seeds for variety: no, since the reference paints sketches without
    # noise; a seed given all the same turns the U-Net's dropout on, which does change the image
    varies_with_seed = False

    def __init__(self, network: torch.nn.Module, card: dict, eval_mode: bool = True,
                 device: torch.device | str | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.network = network.eval().to(self.device)
        self.card = card
        self.eval_mode = eval_mode
        self.classes: list[str] = list(card.get("classes") or [])
        self.input_size = int(card.get("input_size") or network.grid)
        if not network.grid <= self.input_size <= MAX_INPUT_SIZE or self.input_size % network.grid:
            raise CheckpointError(f"input_size must be a multiple of {network.grid} up to {MAX_INPUT_SIZE}, "
                                  f"found {self.input_size}")
        self.direction = card.get("direction", "AtoB")

    @classmethod
    def from_checkpoint(cls, folder: str | Path, eval_mode: bool = True,
                        device: torch.device | str | None = None) -> "Pix2Pix":
        """Load our sketch model folder or a released <name>_pix2pix folder (or its latest_net_G.pth).

        eval_mode=True is the reference's `--eval` (running batch-norm statistics); False normalises with each
        image's own statistics, as the reference's test script does by default.
        """
        network, card = load_sketch_network(folder)
        return cls(network, card, eval_mode, device)

    @property
    def conditional(self) -> bool:
        return isinstance(self.network, ClassConditionalGenerator)

    def class_index(self, class_id: int | str | None) -> int | None:
        """The class number for an id or a class name; None for unconditional models."""
        if not self.conditional:
            if class_id is not None:
                raise InputError(f"this sketch model is not class-conditional: it takes no class, found {class_id!r}")
            return None
        if class_id is None:
            count = self.network.config["num_classes"]  # the card may name fewer (read_sketch_card)
            named = f" or a name such as {self.classes[0]!r}" if self.classes else ""
            raise InputError(f"this model draws one of {count} classes: pass --class (class_id in Python): "
                             f"0..{count - 1}{named}")
        if isinstance(class_id, str):
            if class_id not in self.classes:
                raise InputError(f"unknown class {class_id!r}; this model knows {', '.join(self.classes[:20])}")
            return self.classes.index(class_id)
        if not 0 <= int(class_id) < self.network.config["num_classes"]:
            raise InputError(f"class_id must be in 0..{self.network.config['num_classes'] - 1}, found {class_id}")
        return int(class_id)

    @torch.inference_mode()
    def generate(self, sketch: Image.Image | np.ndarray, seed: int | None = None,
                 class_id: int | str | None = None, keep_aspect: bool = False) -> Image.Image:
        """A photo of the sketch's size. seed=None is deterministic; a seed turns the reference's dropout noise
        on (U-Nets with dropout), repeatably for that seed. keep_aspect: a sketch that is not square is painted
        unstretched (gaugan.framing); by default it is resized to the network's square and the photo back."""
        array = as_rgb_array(sketch)
        if keep_aspect:
            return paint_unstretched(lambda framed: self.generate(framed, seed, class_id),
                                     (self.input_size, self.input_size), array)
        index = self.class_index(class_id)
        height, width = array.shape[:2]
        side = self.input_size
        grid = Image.fromarray(array).resize((side, side), Image.BICUBIC) if (height, width) != (side, side) else array
        if self.network.config["input_nc"] == 1:  # grey models read the sketch's luma, as the reference's loader
            grid = np.asarray(Image.fromarray(np.asarray(grid)).convert("L"))[..., None]
        x = torch.from_numpy(np.asarray(grid).copy()).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(check_seed(seed))
            if isinstance(self.network, UnetGenerator):
                y = self.network.set_inference(self.eval_mode, dropout=seed is not None)(x)
            else:
                y = self.network(x, torch.tensor([index], device=self.device))
        out = ((y[0].float().cpu() + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        image = Image.fromarray(out[..., 0] if out.shape[2] == 1 else out).convert("RGB")
        return image if image.size == (width, height) else image.resize((width, height), Image.BICUBIC)


def load_sketch_model(path: str | Path, device: torch.device | str | None = None,
                      style_prior: bool = True) -> Pix2Pix | ReadAndPaint:
    """Any sketch model (a folder, a weights file or a shipped model's name): a read-and-paint folder as
    gaugan.sketch_reader.ReadAndPaint (style_prior: as ReadAndPaint.from_card), else Pix2Pix (the same generate()
    signature)."""
    from .sketch_reader import ReadAndPaint  # it builds on this module

    path = checkpoint_argument(str(path))  # a shipped model's name too
    card = read_sketch_card(path) if path.is_dir() else None
    if card is not None and card["network"]["type"] == READER_TYPE:
        return ReadAndPaint.from_card(path, card, device, style_prior)
    return Pix2Pix.from_checkpoint(path, device=device)


MIN_LIGHT_SHARE = 0.5  # an outline sketch is mostly light paper; a photo or a coloured map is not
MAX_SHADED_SHARE = 0.3  # an outline sketch is mid-grey only along its lines; a photo is shaded throughout


def reads_outlines(model: Pix2Pix | ReadAndPaint) -> bool:
    """Whether a sketch model learnt from dark outlines on light paper (a read-and-paint model, or pix2pix trained on
    landscape sketches or on edges drawn from photos), as its model.json says; other pix2pix models may take any
    picture (a facade's label colours, a day photo)."""
    network, training = model.card.get("network"), model.card.get("training")
    if isinstance(network, dict) and network.get("type") == READER_TYPE:
        return True
    options = training.get("sketch") if isinstance(training, dict) else None
    return isinstance(training, dict) and (training.get("data") == LANDSCAPE_SKETCH or (
        isinstance(options, dict) and options.get("edges_from_photos") is True))


def outline_note(sketch: Image.Image) -> str | None:
    """A note when a picture given to an outline model is not light paper with dark lines (a photo or a coloured
    map): too little of it is light, or too much is mid-grey (over 30%: a bright photo; sketches have under 20%)."""
    grey = np.asarray(sketch.convert("L").resize((64, 64)))
    light, shaded = float((grey >= 200).mean()), float(((grey > 60) & (grey < 200)).mean())
    if light < MIN_LIGHT_SHARE:
        found = f"only {light:.0%} of it is light"
    elif shaded > MAX_SHADED_SHARE:
        found = f"{shaded:.0%} of it is mid-grey, as in a photo"
    else:
        return None
    return (f"{found}; this model paints dark outlines on light paper, so a photo or a coloured map comes out as "
            "colour noise")


def sketch_converter(checkpoint: str | Path, seed: int | None = None, class_id: str | None = None,
                     keep_aspect: bool = True, note: Callable[[str], None] = lambda text: None,
                     style_prior: bool = True) -> Callable[[Path, Path], None]:
    """convert(sketch file, photo file) with a sketch model loaded once (the `generate` command; style_prior: as
    load_sketch_model); remarks on a file (blurred by its shape, not an outline drawing) go to note as "NAME: remark"."""
    model = load_sketch_model(checkpoint, style_prior=style_prior)
    chosen = int(class_id) if class_id is not None and class_id.isdigit() else class_id
    model.class_index(chosen)  # refuse a wrong --class before any file is read
    if not style_prior and not model.varies_with_seed:
        note("--no-style-prior ignored: this model draws no style codes")

    outlines = reads_outlines(model)

    def convert(source: Path, target: Path) -> None:
        sketch = open_image(source, "sketch")
        notes = [blur_note(sketch.size[::-1], (model.input_size, model.input_size)) if keep_aspect else None,
                 outline_note(sketch) if outlines else None]
        for remark in filter(None, notes):
            note(f"{source.name}: {remark}")
        model.generate(sketch, seed, chosen, keep_aspect).save(target)
    return convert


def save_sketch_model(directory: str | Path, network: torch.nn.Module, card: dict) -> Path:
    """Write generator.pth and model.json (format, kind, network arguments, then the caller's card); a card that
    loading would refuse writes nothing."""
    directory = Path(directory)
    kind = "unet" if isinstance(network, UnetGenerator) else "conditional"
    full = {"format": SKETCH_FORMAT, "kind": SKETCH_KIND, "network": {"type": kind, **network.config},
            "input_size": network.grid, "classes": [], "direction": "AtoB", **card,
            "files": {"generator": GENERATOR_WEIGHTS}}
    try:
        _check_text_fields(full)
        _check_network_card(full)
    except CheckpointError as exc:
        raise CheckpointError(f"{directory / MODEL_CARD}: {exc}") from None
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), directory / GENERATOR_WEIGHTS)
    write_json_whole(directory / MODEL_CARD, full)
    return directory
