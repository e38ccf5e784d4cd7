"""model.json, the card beside a model's weights: validated where it is read (it is data from a folder that
may come from anyone), and written whole or not at all."""
from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from label_colors import Label, validate_palette

from .errors import CheckpointError, InputError
from .presets import Preset
from .whole_files import write_json_whole

MODEL_CARD = "model.json"
MODEL_FORMAT = "gaugan-model/1"
SKETCH_FORMAT = "gaugan-sketch-model/1"  # a sketch model's model.json (gaugan/sketch.py)
GENERATOR_WEIGHTS = "generator.pth"  # a model folder's generator weights, unless its card names another file
MAX_CARD_BYTES = 1 << 20
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 2000
MAX_LOOKS, MAX_CODE_VALUE = 8, 100.0  # built-in looks a card may name, and how far from 0 a style code may reach
# Bounds that keep a preset's generator and its images a sane size (NVIDIA's largest preset: 512 wide, 184 inputs).
PRESET_LIMITS = {"label_nc": (1, 1024), "crop_size": (8, 2048), "ngf": (1, 1024), "z_dim": (1, 4096),
                 "spade_hidden": (1, 4096), "aspect_ratio": (0.25, 4.0)}


@dataclass(frozen=True)
class ModelCard:
    """The validated content of a model.json; raw keeps every field as read (for display and rewriting)."""

    preset: Preset
    labels: list[Label]
    files: dict[str, str]
    description: str
    raw: dict
    looks: dict[str, tuple[float, ...]]  # built-in looks: style codes by name (gaugan/looks.py)


def plain_text(value: object, what: str, max_length: int = MAX_NAME_LENGTH, lines: bool = False) -> str:
    """A non-empty string of at most max_length characters without control characters (newlines if lines)."""
    if not isinstance(value, str) or not value.strip():
        raise CheckpointError(f"{what} must be a non-empty string, found {shown_value(value)}")
    if len(value) > max_length:
        raise CheckpointError(f"{what} must be at most {max_length} characters, found {len(value)}")
    allowed = "\n\t" if lines else ""
    bad = sorted({c for c in value if unicodedata.category(c).startswith("C") and c not in allowed})
    if bad:
        raise CheckpointError(f"{what} must be plain text, found control characters {[hex(ord(c)) for c in bad]}")
    return value


def plain_file_name(value: object, what: str) -> str:
    """A file name with no folder part, so it can only name a file inside the model folder."""
    name = plain_text(value, what, 255)
    if name in (".", "..") or "/" in name or "\\" in name or Path(name).name != name:
        raise CheckpointError(f"{what} must be a plain file name inside the model folder, found {name!r}")
    return name


def shown_value(value: object) -> str:
    """An untrusted value as an error message shows it: its type and at most 60 characters of it."""
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def checked_integer(value: object, what: str, low: int, high: int) -> int:
    """value if it is an integer in low..high (not a bool); else CheckpointError naming what and what was found."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError(f"{what} must be an integer in {low}..{high}, found {shown_value(value)}")
    if not low <= value <= high:
        raise CheckpointError(f"{what} must be an integer in {low}..{high}, found {value}")
    return value


def preset_file_fields(data: object) -> object:
    """What a preset .json file holds: the Preset fields, or a model.json whose "preset" object holds them."""
    return data.get("preset", data) if isinstance(data, dict) else data


def read_preset_file(path: Path, what: str, error: type[InputError] = InputError) -> Preset:
    """A preset .json file's Preset (preset_file_fields); without "name", the file's stem names it."""
    return parse_preset(preset_file_fields(read_json(path, "preset file", MAX_CARD_BYTES, error)), what, path.stem)


def parse_preset(data: object, what: str = "preset", name: str | None = None) -> Preset:
    """A Preset from untrusted JSON data: every field typed and bounded, no unknown fields; name names it where the
    data does not (a preset file's stem)."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} must be an object with the preset's fields, found {shown_value(data)}")
    data = {"name": name, **data} if name is not None else data
    known = {f.name: f for f in fields(Preset)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise CheckpointError(f"{what} has unknown fields {unknown}; known fields are {sorted(known)}")
    missing = [n for n, f in known.items() if n not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise CheckpointError(f"{what} lacks the required fields {missing}")
    values = {}
    for name, value in data.items():
        kind, label = known[name].type, f"{what}.{name}"
        if kind == "bool":
            if not isinstance(value, bool):
                raise CheckpointError(f"{label} must be true or false, found {shown_value(value)}")
        elif kind == "int":
            value = checked_integer(value, label, *PRESET_LIMITS.get(name, (0, 1 << 16)))
        elif kind == "float":
            low, high = PRESET_LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                raise CheckpointError(f"{label} must be a number in {low}..{high}, found {shown_value(value)}")
        elif kind == "str":
            value = plain_text(value, label)
        else:  # thing_ids: tuple[int, ...]
            if not isinstance(value, list):
                raise CheckpointError(f"{label} must be a list of label ids, found {shown_value(value)}")
            value = [checked_integer(v, f"{label}[{i}]", 0, 1 << 16) for i, v in enumerate(value)]
        values[name] = value
    try:
        preset = Preset(**values)
    except ValueError as exc:
        raise CheckpointError(f"{what}: {exc}") from None
    if preset.grid_problem:
        raise CheckpointError(f"{what}: {preset.grid_problem}")
    return preset


def parse_labels(data: object, preset: Preset) -> list[Label]:
    """The label table: unique integer ids within the preset's classes, unique sane names, unique 0..255 colours."""
    if not isinstance(data, list):
        raise CheckpointError(f"labels must be a list of {{id, name, rgb}} objects, found {shown_value(data)}")
    labels, ids, colours, names = [], {}, {}, {}
    for i, entry in enumerate(data):
        what = f"labels[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"id", "name", "rgb"}:
            raise CheckpointError(f"{what} must be an object with exactly id, name and rgb, found {shown_value(entry)}")
        label_id = entry["id"]
        if isinstance(label_id, bool) or not isinstance(label_id, int) or not preset.takes_label_id(label_id):
            found = label_id if type(label_id) is int else shown_value(label_id)
            raise CheckpointError(f"{what}.id must be an integer in {preset.label_ids_text}, found {found}")
        name = plain_text(entry["name"], f"{what}.name")
        rgb = entry["rgb"]
        if not isinstance(rgb, list) or len(rgb) != 3:
            raise CheckpointError(f"{what}.rgb must be [r, g, b], found {shown_value(rgb)}")
        rgb = tuple(checked_integer(c, f"{what}.rgb", 0, 255) for c in rgb)
        for seen, key, kind in ((ids, label_id, "id"), (colours, rgb, "colour"), (names, name.strip().casefold(), "name")):
            if key in seen:
                raise CheckpointError(f"{what} ({name!r}) repeats the {kind} {key} of {seen[key]!r}; each must be unique")
            seen[key] = name
        labels.append(Label(label_id, name, rgb))
    try:
        validate_palette(labels)  # colours far enough apart to tell in a map, as training requires
    except ValueError as exc:
        raise CheckpointError(f"labels: {exc}") from None
    return labels


def parse_card(data: object, source: str) -> ModelCard:
    """Validate a parsed model.json; the error names the file, the field, what was expected and what was found."""
    try:
        if not isinstance(data, dict):
            raise CheckpointError(f"expected a JSON object, found {shown_value(data)}")
        if data.get("format") == SKETCH_FORMAT:
            raise CheckpointError("this is a sketch model (outlines -> photo); this takes label-map (SPADE) models, "
                                  "such as landscape")
        if data.get("format") != MODEL_FORMAT:
            found = shown_value(data["format"]) if "format" in data else "no \"format\" field"
            raise CheckpointError(f"expected format {MODEL_FORMAT!r}, found {found}")
        if "preset" not in data:
            raise CheckpointError("expected a 'preset' object, found none")
        preset = parse_preset(data["preset"])
        labels = parse_labels(data.get("labels", []), preset)
        files = data.get("files", {})
        if not isinstance(files, dict):
            raise CheckpointError(f"files must be an object mapping roles to file names, found {shown_value(files)}")
        files = {"generator": GENERATOR_WEIGHTS,  # where the card names none
                 **{plain_text(role, "a files key"): plain_file_name(name, f"files.{role}") for role, name in files.items()}}
        description = data.get("description", "")
        if description:
            description = plain_text(description, "description", MAX_DESCRIPTION_LENGTH, lines=True)
        looks = parse_looks(data.get("looks", {}), preset)
    except CheckpointError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    return ModelCard(preset, labels, files, description, data, looks)


def parse_looks(data: object, preset: Preset) -> dict[str, tuple[float, ...]]:
    """A card's built-in looks: at most MAX_LOOKS names, each with a style code of the preset's z_dim finite numbers
    within ±MAX_CODE_VALUE; refused on a generator that takes no style code."""
    if not isinstance(data, dict) or len(data) > MAX_LOOKS:
        raise CheckpointError(f"looks must be an object of at most {MAX_LOOKS} names, each with a style code (a list "
                              f"of numbers), found {shown_value(data)}")
    if data and not preset.use_vae:
        raise CheckpointError("looks are style codes, but this generator takes none (its preset's use_vae is false)")
    looks = {}
    for name, code in data.items():
        name = plain_text(name, "a look's name")
        numbers = isinstance(code, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in code)
        outside = [v for v in code if not abs(v) <= MAX_CODE_VALUE] if numbers else []  # NaN too
        if not numbers or len(code) != preset.z_dim or outside:
            found = shown_value(code) if not numbers else (
                f"{len(code)} numbers, {len(outside)} of them outside it ({shown_value(outside[0])})" if outside
                else f"{len(code)} numbers")
            raise CheckpointError(f"looks[{name!r}] must be a style code: a list of {preset.z_dim} numbers within "
                                  f"±{MAX_CODE_VALUE:g}, found {found}")
        looks[name] = tuple(float(v) for v in code)
    return looks


def read_json(path: Path, what: str, max_bytes: int, error: type[InputError] = InputError) -> object:
    """A JSON file of at most max_bytes (UTF-8, a byte-order mark allowed), parsed; else an `error` naming it."""
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    if path.stat().st_size > max_bytes:
        raise error(f"{path} is {path.stat().st_size} bytes; a {what} is at most {max_bytes}")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a JSON {what} ({path.name} is not UTF-8 text: {str(exc)[:200]})") from None
    except (ValueError, RecursionError) as exc:  # a JSON error, a number past Python's digit limit; nesting
        raise error(f"{path}: not a JSON {what} ({path.name} is not valid JSON: {str(exc)[:200]})") from None


def read_card_json(path: Path) -> object:
    """A model.json file's JSON value, of bounded size; CheckpointError if it is not JSON in UTF-8."""
    return read_json(path, "model card", MAX_CARD_BYTES, CheckpointError)


def read_card(folder: Path) -> ModelCard | None:
    """The validated model.json in folder, or None when there is none (NVIDIA's folders)."""
    path = folder / MODEL_CARD
    if not path.is_file():
        return None
    return parse_card(read_card_json(path), str(path))


def write_card(folder: Path, card: dict) -> Path:
    """Write a SPADE model's model.json, after checking it reads back; whole or not at all (a temporary file of its
    own, renamed over it)."""
    parse_card(card, f"the card for {folder}")
    return write_json_whole(folder / MODEL_CARD, card)
