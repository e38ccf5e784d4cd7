"""GauGAN: a loaded generator plus the steps from a label map to a PIL image."""
from __future__ import annotations

import operator
import secrets
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from label_colors import Label

from .checkpoints import load_model
from .errors import InputError, SeedError
from .networks import FastSPADEGenerator, SPADEGenerator, StyleEncoder
from .presets import Preset
from .framing import paint_unstretched
from .model_card import shown_value
from .semantics import check_instance_array, check_label_array, encode
from .style_prior import StylePrior


def to_uint8_image(y: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor in [-1, 1] -> (H, W, 3) uint8, truncating like NVIDIA's tensor2im."""
    return ((y.float().cpu() + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


MAX_SEED = 2**63 - 1  # seeds are integers 0..MAX_SEED (what torch.Generator.manual_seed takes without wrapping)


def check_seed(seed: object) -> int:
    """A Python or NumPy integer in 0..MAX_SEED as an int, or a SeedError saying what was found."""
    try:
        value = operator.index(seed) if not isinstance(seed, (bool, np.bool_)) else None
    except TypeError:
        value = None
    if value is None:
        raise SeedError(f"seed must be an integer in 0..{MAX_SEED}, found {type(seed).__name__} {str(seed)[:40]}")
    if not 0 <= value <= MAX_SEED:
        raise SeedError(f"seed must be an integer in 0..{MAX_SEED} (2**63 - 1), found {str(value)[:40]}")
    return value


def _shown_input(value: object) -> str:
    """An input of the wrong kind as an error shows it: a tensor or array by its dtype and shape, else shown_value."""
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        return f"a {value.dtype} {'tensor' if torch.is_tensor(value) else 'array'} of shape {tuple(value.shape)}"
    return shown_value(value)


def _own_copy(generator: SPADEGenerator) -> SPADEGenerator:
    """A generator of the same preset holding a copy of the given one's weights (deepcopy refuses the spectral-norm
    weights a forward pass with autograd leaves in the graph)."""
    own = SPADEGenerator(generator.preset).to(next(generator.parameters()).device)
    own.load_state_dict(generator.state_dict())
    return own


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GauGAN:
    """A generator ready to turn label maps into images; load once, call generate() many times.

    Programs that serve many passes call allocator.tune_for_inference() once the model is loaded (1.3x on CPU).
    The fast path works on its own copy of the generator given to it, which it leaves as it was, unless
    release_generator lets it fold that generator's weights in place and free its blocks (from_checkpoint does: it
    owns the generator it loads). fast=False runs the given generator itself, in eval mode on the device.
    """

    def __init__(self, generator: SPADEGenerator, labels: list[Label], encoder: StyleEncoder | None = None,
                 device: torch.device | str | None = None, name: str = "", fast: bool = True,
                 bf16: bool = False, notes: list[str] | None = None, style_prior: StylePrior | None = None,
                 looks: dict[str, torch.Tensor] | None = None, release_generator: bool = False) -> None:
        if not isinstance(generator, SPADEGenerator):
            raise InputError(f"GauGAN takes a SPADEGenerator, found {_shown_input(generator)}; "
                             "GauGAN.from_checkpoint loads one from a folder, a file or a model's name")
        if unfit := generator.preset.unfit_labels(labels):
            raise InputError(f"labels {unfit} have no input channel in this generator, which takes label ids "
                             f"{generator.preset.label_ids_text}")
        if bf16 and not fast:
            raise InputError("bf16 runs the fast path's convolutions in bf16; the reference network (fast=False, "
                             "--reference) runs in float32: choose one")
        self.device = torch.device(device) if device else default_device()
        if fast:
            source = (generator if release_generator else _own_copy(generator)).eval().to(self.device)
            conv_dtype = torch.bfloat16 if bf16 else torch.float32
            self.network = FastSPADEGenerator(source, release_source=True, conv_dtype=conv_dtype)
        else:
            self.network = generator.eval().to(self.device)
        self.encoder = encoder.eval().to(self.device) if encoder is not None else None
        if style_prior is not None and style_prior.mean.numel() != generator.preset.z_dim:
            raise ValueError(f"a style prior of {style_prior.mean.numel()} dimensions for style codes of "
                             f"{generator.preset.z_dim}")
        self.style_prior = style_prior.to(self.device) if style_prior is not None else None
        self.preset = generator.preset
        self.labels = labels
        self.name = name
        self.notes = list(notes or [])  # remarks from loading (casts, unwrapped weights, a recognised preset)
        self.looks = {name: code.to(self.device) for name, code in (looks or {}).items()}  # style codes by name
        for code in self.looks.values():
            self.check_style_code(code)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str | None = None, fast: bool = True,
                        bf16: bool = False, preset: Preset | str | None = None, style_prior: bool = True) -> "GauGAN":
        """Load our model folder (model.json), an NVIDIA <name>_pretrained folder, a weights file, or a model by the
        name `gaugan models` lists ("landscape", or a folder's name in $GAUGAN_CHECKPOINTS, else ./checkpoints).

        preset: a Preset, an official preset's name or a preset .json file, for generators without a card;
        fast=False runs the layer-by-layer reference network instead of the exact fast path;
        bf16=True (fast path only) runs its main convolutions in bf16: faster, not exact;
        style_prior=False draws seeds' style codes from N(0, I) even where the folder holds a fitted style prior.
        """
        loaded = load_model(path, preset, style_prior)
        looks = {name: torch.tensor([code]) for name, code in loaded.card.looks.items()} if loaded.card else {}
        return cls(loaded.generator, loaded.labels, loaded.encoder, device, name=Path(path).name, fast=fast,
                   bf16=bf16, notes=loaded.notes, style_prior=loaded.style_prior, looks=looks, release_generator=True)

    @property
    def has_style_encoder(self) -> bool:
        return self.encoder is not None

    @property
    def varies_with_seed(self) -> bool:
        """Whether seeds give different images: only a generator that takes style codes (NVIDIA's take none)."""
        return self.preset.use_vae

    @property
    def style_centre(self) -> torch.Tensor:
        """The mean (1, z_dim) of the style codes seeds draw: the style prior's, else zeros."""
        if self.style_prior is None:
            return torch.zeros(1, self.preset.z_dim, device=self.device)
        return self.style_prior.mean[None]

    def encode_style(self, photo: Image.Image) -> torch.Tensor:
        """The style code (mean of the encoder's posterior) of an example photo (a PIL image: images.read_photo reads
        one from a file, bounded)."""
        if self.encoder is None:
            raise InputError(f"model {self.name!r} has no style encoder; style images need a model trained with one")
        if not isinstance(photo, Image.Image):
            raise InputError(f"a style photo must be a PIL image (gaugan.images.read_photo reads a file into one), "
                             f"found {_shown_input(photo)}")
        h, w = self.preset.output_size
        array = np.asarray(photo.convert("RGB").resize((w, h), Image.BICUBIC), dtype=np.float32)
        x = torch.from_numpy(array).permute(2, 0, 1)[None].to(self.device) / 127.5 - 1
        with torch.inference_mode():
            mu, _ = self.encoder(x)
        return mu

    def prepare(self, labels: np.ndarray, instance: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Resize labels (and instances) to the model's grid: the network's compact input (see compact_semantics)."""
        channels, edges = encode(labels, instance, self.preset)
        return channels.to(self.device), None if edges is None else edges.to(self.device)

    def check_style_code(self, style: object) -> None:
        """Refuse a style that is neither None nor a code of this model's shape (1, z_dim), as encode_style gives."""
        expected = (1, self.preset.z_dim)
        if style is None or (torch.is_tensor(style) and tuple(style.shape) == expected and style.is_floating_point()
                             and bool(torch.isfinite(style).all())):
            return
        finite = not torch.is_tensor(style) or not style.is_floating_point() or bool(torch.isfinite(style).all())
        raise InputError(f"style must be a photo (a PIL image) whose look to copy or its code from encode_style (a "
                         f"finite float tensor of shape {expected}), found {_shown_input(style)}"
                         f"{'' if finite else ' holding NaN or infinite values'}")

    def style_code(self, seed: int | None, style: torch.Tensor | None) -> torch.Tensor | None:
        """z for VAE models: the given style code, else one drawn from the seed: from the model's style prior
        (gaugan/style_prior.py) where it has one, else from N(0, I)."""
        if not self.preset.use_vae:
            return None
        if style is not None:
            return style.to(self.device, torch.float32)
        rng = torch.Generator().manual_seed(secrets.randbelow(MAX_SEED + 1) if seed is None else check_seed(seed))
        noise = torch.randn(1, self.preset.z_dim, generator=rng).to(self.device)
        return noise if self.style_prior is None else self.style_prior.sample(noise)

    def generate(self, labels: np.ndarray, instance: np.ndarray | None = None, seed: int | None = None,
                 style: torch.Tensor | Image.Image | None = None, native_size: bool = False,
                 keep_aspect: bool = False) -> Image.Image:
        """Label ids (H, W) -> RGB image of the same size (or at the model's own scale if native_size).

        instance: an (H, W) instance-id map for presets that use instance edges (COCO's, Cityscapes'); without one,
        each connected blob of a thing label is one instance. Other models take none.
        seed: an integer 0..MAX_SEED (Python or NumPy); the same seed gives the same image; None draws one.
        style: an example photo (or its code from encode_style, or one of self.looks) whose look to copy; a photo
        needs a style encoder.
        keep_aspect: a map whose aspect ratio differs from the model's is painted unstretched (gaugan.framing);
        by default it is resized to the model's shape and the image back, as NVIDIA's test script does.
        """
        if keep_aspect:
            labels = check_label_array(labels)
            arrays = (labels,) if instance is None else (labels, check_instance_array(instance, labels))
            return paint_unstretched(lambda framed, framed_instance=None: self.generate(
                framed, framed_instance, seed, style, native_size), self.preset.output_size, *arrays)
        if seed is not None:
            seed = check_seed(seed)
        if isinstance(style, Image.Image):
            style = self.encode_style(style)
        self.check_style_code(style)
        channels, edges = self.prepare(labels, instance)
        with torch.inference_mode():
            y = self.network.from_compact(channels, edges, self.style_code(seed, style))[0]
        image = Image.fromarray(to_uint8_image(y))
        height, width = np.asarray(labels).shape
        if native_size or image.size == (width, height):
            return image
        return image.resize((width, height), Image.BICUBIC)
