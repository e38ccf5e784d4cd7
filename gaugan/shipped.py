"""The models that come with the package: checkpoints/ in a checkout, gaugan/_shipped/ in an installed package."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from .errors import CheckpointError
from .model_card import GENERATOR_WEIGHTS

PACKAGE = Path(__file__).resolve().parent
# pyproject.toml installs checkpoints/landscape and checkpoints/segmenter as gaugan/_shipped/.
SHIPPED_ROOTS = (PACKAGE / "_shipped", PACKAGE.parent / "checkpoints")
CHECKPOINTS_ENV = "GAUGAN_CHECKPOINTS"  # names the folder of the user's model folders


def shipped_checkpoint(name: str = "landscape") -> Path:
    """The folder of a shipped model: "landscape" (the default generator), "landscape-sketch" and
    "landscape-sketch-reader" (sketch models), "segmenter" or "segmenter-photo" (for evaluation)."""
    found = _shipped(name)
    if found:
        return found
    raise CheckpointError(f"no shipped model {name!r}: looked in {', '.join(str(r) for r in SHIPPED_ROOTS)}; "
                          "reinstall the package, or load a model folder by its path")


def shipped_root() -> Path | None:
    """The folder holding the shipped models (the installed copy first), or None in a checkout without them."""
    return next((root for root in SHIPPED_ROOTS if root.is_dir()), None)


def shipped_copies(name: str) -> list[Path]:
    """Every place a shipped model of that name lives or would live (the installed copy, the checkout's), resolved."""
    return [(root / name).resolve() for root in SHIPPED_ROOTS]


def checkpoints_root(default: str | Path = "checkpoints") -> Path:
    """The folder of the user's model folders, which `gaugan models` and the page list: $GAUGAN_CHECKPOINTS if set,
    else default."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or default)


def checkpoint_argument(value: str | None) -> Path:
    """A --checkpoint value: the shipped landscape model when absent; a path to a file or a folder of weights (a model
    folder, or generator weights without a card); else a name as `gaugan models` lists it (a folder in
    checkpoints_root(), else a shipped model), which also wins over a folder of that name here that holds no model (a
    data folder, say); else the path, for the loader to say what it is."""
    from .checkpoints import is_model_folder  # here: gaugan.checkpoints imports this module

    if value is None:
        return shipped_checkpoint()
    path = Path(value)
    if path.is_file() or path.is_dir() and (is_model_folder(path) or (path / GENERATOR_WEIGHTS).is_file()):
        return path
    found = named_model(value) if path.name == value else None
    if found:
        return found
    if path.exists():
        return path
    raise CheckpointError(f"{value}: no such model folder or weights file, no model folder of that name in "
                          f"{checkpoints_root()}, and no shipped model of that name (`gaugan models` lists them)"
                          f"{closest_name(value) if path.name == value else ''}")


def closest_name(value: str) -> str:
    """"; did you mean NAME?" for the model name `gaugan models` lists that value most likely mistypes, else ""."""
    from .checkpoints import available_checkpoints  # here: gaugan.checkpoints imports this module

    close = difflib.get_close_matches(value, available_checkpoints(checkpoints_root()), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


def named_model(name: str) -> Path | None:
    """The model folder a name stands for, as `gaugan models` lists it: a model folder of that name in
    checkpoints_root(), else a shipped one; None if neither."""
    from .checkpoints import find_checkpoints  # here: gaugan.checkpoints imports this module

    return find_checkpoints(checkpoints_root()).get(name) or _shipped(name)


def _shipped(name: str) -> Path | None:
    """The first shipped-model root holding a folder of that name, joined to it; None if none does."""
    return next((root / name for root in SHIPPED_ROOTS if (root / name).is_dir()), None)
