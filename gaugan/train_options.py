"""`gaugan train`'s options for SPADE runs -> a TrainConfig: the label table, the preset (a --preset-json file, or
the compact landscape preset sized to the table), and which options a command line sets (a resumed run keeps the
rest). pix2pix's are in sketch_train.pix2pix_config_from_args."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

from label_colors import PALETTES

from .data.folder import LABEL_TABLE, label_entries, read_label_table
from .data.registry import DATASETS
from .errors import InputError
from .model_card import MAX_CARD_BYTES, preset_file_fields, read_json, read_preset_file
from .presets import DONTCARE_ID, Preset, landscape_preset
from .train import TrainConfig, check_crop

TRAIN_DEFAULTS, LANDSCAPE = TrainConfig(), landscape_preset()


def read_preset_json(path: str) -> Preset:
    """--preset-json's preset, read as generate --preset reads a preset file, with training's own refusal of a start
    grid that is too small (refuse_small_grid)."""
    try:
        return read_preset_file(Path(path), f"--preset-json {path}: preset")
    except InputError:
        data = preset_file_fields(read_json(Path(path), "preset file", MAX_CARD_BYTES))
        if isinstance(data, dict):
            refuse_small_grid({"name": Path(path).stem, **data})
        raise


def refuse_small_grid(data: dict) -> None:
    """Training's own refusal (check_crop, which names the crop to use) of preset fields whose start grid is too
    small; nothing for fields of the wrong kind, which parse_preset names."""
    try:
        check_crop(Preset.from_dict(data))
    except InputError:
        raise
    except (TypeError, ValueError, ArithmeticError):
        pass


def training_labels(args: argparse.Namespace) -> list[dict]:
    """The label table: --labels, else DATA/labels.json for a folder; none (the landscape palette) for a built-in
    dataset or a folder mixed with photo-textured landscapes (--photos)."""
    if args.labels:
        table = read_label_table(args.labels)
        built_in = (args.data or TRAIN_DEFAULTS.data) in DATASETS and not args.preset_json  # else the preset sizes it
        if built_in and (lacking := builtin_ids_lacking(table)):
            raise InputError(f"--labels {args.labels}: the built-in landscape scenes paint ids "
                             f"0..{max(label.id for label in PALETTES['landscape'])}, but the table "
                             f"lacks {', '.join(lacking[:6])}{' …' if len(lacking) > 6 else ''}: give each of them a "
                             "name and colour, or train on a folder of your own label maps (--data FOLDER)")
    elif (args.data or TRAIN_DEFAULTS.data) in DATASETS or args.photos:
        return []
    elif not Path(args.data).is_dir():
        raise InputError(f"--data {args.data}: no such folder; expected {' or '.join(DATASETS)} or a folder of "
                         "labels/ and images/ with labels.json")
    elif (Path(args.data) / LABEL_TABLE).is_file():
        table = read_label_table(Path(args.data) / LABEL_TABLE)
    elif args.preset_json:
        return []  # the palette named like the preset, if there is one (checked before training)
    else:
        raise InputError(f"{Path(args.data) / LABEL_TABLE} not found: a folder dataset needs its label table, a JSON "
                         'list of {"id", "name", "rgb"} (or name one with --labels FILE)')
    return label_entries(table)


def builtin_ids_lacking(table: list) -> list[str]:
    """The landscape labels (as "name (id)") whose ids a label table (label_colors.Label) leaves out."""
    ids = {label.id for label in table}
    return [f"{label.name} ({label.id})" for label in PALETTES["landscape"] if label.id not in ids]


def given_options(args: argparse.Namespace) -> set[str]:
    """The options this command line sets; a resumed run keeps its own values for all the others."""
    given = {name for name, value in vars(args).items() if value is not None and value is not False}
    if args.data:  # what goes with the data comes with it: the label table, and photos or edges as given
        given |= {"labels", "photos", "folder_share", "edges_from_photos"}
    if args.preset_json:
        given |= {f.name for f in fields(Preset)}
    return given


def spade_config_from_args(args: argparse.Namespace, note: Callable[[str], None]) -> TrainConfig:
    """The config for `gaugan train` (SPADE): the options given, the label table (training_labels) and the preset:
    --preset-json's, else the compact landscape preset, sized to a folder's label table; note() gets remarks."""
    config = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(TrainConfig)} and v is not None}
    config["labels"] = training_labels(args)
    if args.preset_json:
        if args.crop_size or args.ngf or args.spade_hidden:
            raise InputError("--preset-json gives the whole preset: put crop_size, ngf and spade_hidden in the file "
                             "rather than beside it")
        preset = read_preset_json(args.preset_json)
    else:
        preset = landscape_preset(args.crop_size or LANDSCAPE.crop_size, args.ngf or LANDSCAPE.ngf,
                                  args.spade_hidden or LANDSCAPE.spade_hidden)
        if config["labels"]:  # the compact configuration, sized to your label table
            preset = replace(preset, name=Path(args.data or TRAIN_DEFAULTS.data).resolve().name,
                             label_nc=max(label["id"] for label in config["labels"]) + 1)
            if dontcare := next((l for l in config["labels"] if l["id"] == DONTCARE_ID), None):
                note(f"the label table lists id {DONTCARE_ID} ({dontcare['name']}), so the generator "
                     f"takes {DONTCARE_ID + 1} label channels; if {DONTCARE_ID} marks unlabelled pixels, leave it out "
                     "of the table and give --preset-json with contain_dontcare_label (README: Training on your own "
                     "data)")
    return TrainConfig(**config, preset=preset.to_dict())
