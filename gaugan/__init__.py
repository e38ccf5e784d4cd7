"""GauGAN / SPADE: semantic label maps to photos, with NVIDIA's released checkpoints or our own."""
from .checkpoints import CheckpointError, download, load_generator
from .networks import SPADEGenerator
from .pipeline import GauGAN
from .presets import PRESETS, Preset
from .semantics import compact_semantics, encode_semantics, instance_map, remap, to_label_map
from .sketch import Pix2Pix

__all__ = [
    "PRESETS", "Preset", "SPADEGenerator", "compact_semantics", "encode_semantics", "instance_map", "load_generator",
    "download", "CheckpointError", "GauGAN", "Pix2Pix", "to_label_map", "remap",
]
