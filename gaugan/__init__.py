"""GauGAN / SPADE: semantic label maps to photos, with NVIDIA's released checkpoints or our own."""
from label_colors import to_label_map

from .checkpoints import load_generator, load_model
from .downloads import download
from .errors import CheckpointError, InputError
from .networks import SPADEGenerator
from .pipeline import GauGAN
from .presets import PRESETS, Preset
from .semantics import compact_semantics, encode_semantics, instance_map, remap
from .shipped import shipped_checkpoint
from .sketch import Pix2Pix, load_sketch_model
from .sketch_reader import ReadAndPaint

__all__ = [
    "PRESETS", "Preset", "SPADEGenerator", "compact_semantics", "encode_semantics", "instance_map", "load_generator",
    "download", "CheckpointError", "InputError", "load_model", "GauGAN", "Pix2Pix", "to_label_map", "remap",
    "shipped_checkpoint", "ReadAndPaint", "load_sketch_model",
]
