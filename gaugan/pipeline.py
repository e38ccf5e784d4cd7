"""GauGAN: a loaded generator plus the steps from a label map to a PIL image."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from label_colors import PALETTES, Label

from .checkpoints import CheckpointError, load_generator, load_weights, read_model_card, read_state_dict, weights_file
from .networks import FastSPADEGenerator, SPADEGenerator, StyleEncoder
from .semantics import encode, resize_nearest  # noqa: F401 (resize_nearest: re-exported for callers of pipeline)


def to_uint8_image(y: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor in [-1, 1] -> (H, W, 3) uint8, truncating like NVIDIA's tensor2im."""
    return ((y.float().cpu() + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class GauGAN:
    """A generator ready to turn label maps into images; load once, call generate() many times.

    Programs that serve many passes call allocator.tune_for_inference() once the model is loaded (1.3x on CPU).
    """

    def __init__(self, generator: SPADEGenerator, labels: list[Label], encoder: StyleEncoder | None = None,
                 device: torch.device | str | None = None, name: str = "", fast: bool = True,
                 bf16: bool = False) -> None:
        self.device = torch.device(device) if device else default_device()
        generator = generator.eval().to(self.device)
        conv_dtype = torch.bfloat16 if bf16 else torch.float32
        self.network = FastSPADEGenerator(generator, release_source=True, conv_dtype=conv_dtype) if fast else generator
        self.encoder = encoder.eval().to(self.device) if encoder is not None else None
        self.preset = generator.preset
        self.labels = labels
        self.name = name

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: torch.device | str | None = None, fast: bool = True,
                        bf16: bool = False) -> "GauGAN":
        """Load our model folder (model.json) or an NVIDIA <name>_pretrained folder.

        fast=False runs the layer-by-layer reference network instead of the exact fast path;
        bf16=True (fast path only) runs its main convolutions in bf16: faster, not exact.
        """
        path = Path(path)
        generator = load_generator(path)
        card = read_model_card(weights_file(path).parent) or {}
        labels = [Label(int(e["id"]), e["name"], tuple(e["rgb"])) for e in card.get("labels", [])]
        labels = labels or PALETTES.get(generator.preset.name, [])
        encoder = None
        if "encoder" in card.get("files", {}):
            encoder_path = weights_file(path).parent / card["files"]["encoder"]
            state = read_state_dict(encoder_path)
            convs = [k for k in state if k.startswith("features.") and k.endswith(".weight_orig")]
            if not convs:
                raise CheckpointError(f"{encoder_path} holds no style encoder (no features.*.weight_orig)")
            encoder = StyleEncoder(generator.preset.z_dim, ndf=state[convs[0]].shape[0], layers=len(convs))
            load_weights(encoder, state, str(encoder_path))
        return cls(generator, labels, encoder, device, name=path.name, fast=fast, bf16=bf16)

    @property
    def has_style_encoder(self) -> bool:
        return self.encoder is not None

    def encode_style(self, photo: Image.Image) -> torch.Tensor:
        """The style code (mean of the encoder's posterior) of an example photo."""
        if self.encoder is None:
            raise ValueError(f"model {self.name!r} has no style encoder; style images need a model trained with one")
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

    def style_code(self, seed: int | None, style: torch.Tensor | None) -> torch.Tensor | None:
        """z for VAE models: the given style code, else a normal sample drawn from the seed."""
        if not self.preset.use_vae:
            return None
        if style is not None:
            return style.to(self.device)
        rng = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
        return torch.randn(1, self.preset.z_dim, generator=rng).to(self.device)

    def generate(self, labels: np.ndarray, instance: np.ndarray | None = None, seed: int | None = None,
                 style: torch.Tensor | Image.Image | None = None) -> Image.Image:
        """Label ids (H, W) -> RGB image of the same size; the same seed gives the same image.

        style: an example photo (or its code from encode_style) whose look to copy; needs a style encoder.
        """
        if isinstance(style, Image.Image):
            style = self.encode_style(style)
        channels, edges = self.prepare(labels, instance)
        with torch.inference_mode():
            y = self.network.from_compact(channels, edges, self.style_code(seed, style))[0]
        image = Image.fromarray(to_uint8_image(y))
        height, width = np.asarray(labels).shape
        return image if image.size == (width, height) else image.resize((width, height), Image.BICUBIC)
