"""Generator presets: the numbers that define NVIDIA's released SPADE models (and our own)."""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields

import numpy as np

from label_colors import PALETTES

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}
DONTCARE_ID = 255  # the label id of "not labelled" pixels (its own input channel where a preset has one)

# COCO-Stuff 0-based ids 0..90 are "thing" classes; 91..181 are stuff.
COCO_THING_IDS = tuple(range(91))
# Cityscapes labelIds of the classes that have instances (person .. bicycle).
CITYSCAPES_THING_IDS = tuple(range(24, 34))


@dataclass(frozen=True)
class Preset:
    """Everything the generator's shape and input encoding depend on."""

    name: str
    label_nc: int
    contain_dontcare_label: bool
    use_instance: bool
    crop_size: int
    aspect_ratio: float = 1.0
    num_upsampling_layers: str = "normal"
    ngf: int = 64
    z_dim: int = 256
    use_vae: bool = False
    spade_hidden: int = 128
    thing_ids: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.num_upsampling_layers not in UPSAMPLING_LAYERS:
            raise ValueError(
                f"num_upsampling_layers must be one of {sorted(UPSAMPLING_LAYERS)}, "
                f"got {self.num_upsampling_layers!r}"
            )
        object.__setattr__(self, "thing_ids", tuple(int(t) for t in self.thing_ids))
        counts = ("label_nc", "crop_size", "ngf", "z_dim", "spade_hidden")
        if wrong := [f"{name} {getattr(self, name)!r}" for name in counts
                     if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool)]:
            raise ValueError(f"{', '.join(wrong)}: expected whole numbers")
        small = [f"{name} {getattr(self, name)}" for name in counts if getattr(self, name) < 1]
        if small or not self.aspect_ratio > 0:
            raise ValueError(f"{', '.join(small) or f'aspect_ratio {self.aspect_ratio}'}: expected a positive value")

    @property
    def grid_problem(self) -> str:
        """Why the generator cannot start from this preset's grid (crop_size / 2**layers across), or ""."""
        if self.sw >= 1 and self.sh >= 1:
            return ""
        return (f"crop_size {self.crop_size} is too small for {self.num_up_layers} upsampling layers at aspect ratio "
                f"{self.aspect_ratio}: the generator would start from a {self.sw}×{self.sh} grid")

    def takes_label_id(self, label_id: int) -> bool:
        """Whether a label table may hold this id: one of the input's label channels (the dont-care channel too:
        NVIDIA's ade20k weights were fed raw ADE20K values, so their class 150 lies in it), or DONTCARE_ID with a
        dont-care label."""
        return 0 <= label_id < self.label_channels or (self.contain_dontcare_label and label_id == DONTCARE_ID)

    @property
    def label_ids_text(self) -> str:
        """The ids takes_label_id accepts, for messages."""
        top = self.label_channels - 1
        return f"0..{top}" + (f" or {DONTCARE_ID} (dont-care)" if self.contain_dontcare_label else "")

    def unfit_labels(self, labels: list) -> str:
        """The labels (label_colors.Label) whose ids takes_label_id refuses, named for a message ("" if none)."""
        unfit = [f"{label.name!r} ({label.id})" for label in labels if not self.takes_label_id(label.id)]
        return ", ".join(unfit[:5]) + (f" and {len(unfit) - 5} more" if len(unfit) > 5 else "")

    @property
    def label_channels(self) -> int:
        """One-hot label channels of the input: the labels, + dont-care."""
        return self.label_nc + int(self.contain_dontcare_label)

    @property
    def semantic_nc(self) -> int:
        """Input channels: one-hot labels, + dont-care, + instance edges."""
        return self.label_channels + int(self.use_instance)

    @property
    def num_up_layers(self) -> int:
        return UPSAMPLING_LAYERS[self.num_upsampling_layers]

    @property
    def sw(self) -> int:
        """Width of the latent grid the generator starts from."""
        return self.crop_size // 2**self.num_up_layers

    @property
    def sh(self) -> int:
        """Height of the latent grid the generator starts from."""
        return round(self.sw / self.aspect_ratio)

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the generated image."""
        scale = 2**self.num_up_layers
        return self.sh * scale, self.sw * scale

    def to_dict(self) -> dict:
        data = asdict(self)
        data["thing_ids"] = list(self.thing_ids)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Preset":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown preset fields {unknown}; known fields are {sorted(known)}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"preset is missing the required fields {missing} (required: {required})")
        return cls(**data)


PRESETS: dict[str, Preset] = {
    "coco": Preset(
        name="coco", label_nc=182, contain_dontcare_label=True, use_instance=True,
        crop_size=256, thing_ids=COCO_THING_IDS,
    ),
    "ade20k": Preset(
        name="ade20k", label_nc=150, contain_dontcare_label=True, use_instance=False,
        crop_size=256,
    ),
    "cityscapes": Preset(
        name="cityscapes", label_nc=35, contain_dontcare_label=False, use_instance=True,
        crop_size=512, aspect_ratio=2.0, num_upsampling_layers="more",
        thing_ids=CITYSCAPES_THING_IDS,
    ),
}


def official_models_taking(labels: np.ndarray, other_than: str = "") -> str:
    """"NVIDIA's coco model" (or "coco or ade20k") when official presets other than other_than take every id in
    the label map, else "": a hint for a map made for another model."""
    ids = np.unique(labels).tolist()
    names = [name for name, preset in PRESETS.items()
             if name != other_than and all(preset.takes_label_id(i) for i in ids)]
    return f"NVIDIA's {' or '.join(names)} model" if names else ""


def landscape_preset(crop_size: int = 256, ngf: int = 8, spade_hidden: int = 16, z_dim: int = 64) -> Preset:
    """The compact landscape configuration: `gaugan train`'s default (the shipped model uses ngf 16, spade_hidden 64)."""
    return Preset(name="landscape", label_nc=len(PALETTES["landscape"]), contain_dontcare_label=False,
                  use_instance=False, crop_size=crop_size, ngf=ngf, z_dim=z_dim, use_vae=True,
                  spade_hidden=spade_hidden)
