"""The models that come with the package: checkpoints/ in a checkout, gaugan/_shipped/ in an installed package."""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# pyproject.toml installs checkpoints/landscape and checkpoints/segmenter as gaugan/_shipped/.
SHIPPED_ROOTS = (PACKAGE / "_shipped", PACKAGE.parent / "checkpoints")


def shipped_checkpoint(name: str = "landscape") -> Path:
    """The folder of a shipped model: "landscape" (the default generator), "segmenter" or "segmenter-photo" (for
    evaluation)."""
    for root in SHIPPED_ROOTS:
        if (root / name).is_dir():
            return root / name
    raise ValueError(f"no shipped model {name!r}: looked in {', '.join(str(r) for r in SHIPPED_ROOTS)}; "
                     "reinstall the package or pass --checkpoint")


def shipped_root() -> Path | None:
    """The folder holding the shipped models (the installed copy first), or None in a checkout without them."""
    return next((root for root in SHIPPED_ROOTS if root.is_dir()), None)
