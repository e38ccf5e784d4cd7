"""The SPADE generator: label map (and optional style code) -> image in [-1, 1]."""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..presets import PRESETS, Preset
from ..semantics import one_hot_semantics
from .spade import LRELU_SLOPE, SPADEResnetBlock


class BlockSpec(NamedTuple):
    """One residual block of the generator: its attribute name, channels, and whether its input is the nearest ×2
    upsampling of the previous block's output."""

    name: str
    fin: int
    fout: int
    upsample: bool


def block_schedule(preset: Preset) -> list[BlockSpec]:
    """The generator's residual blocks in running order (the order of NVIDIA's state_dict keys too)."""
    nf, more = preset.ngf, preset.num_upsampling_layers in ("more", "most")
    blocks = [BlockSpec("head_0", 16 * nf, 16 * nf, False), BlockSpec("G_middle_0", 16 * nf, 16 * nf, True),
              BlockSpec("G_middle_1", 16 * nf, 16 * nf, more)]
    blocks += [BlockSpec(f"up_{i}", 16 * nf >> i, 8 * nf >> i, True) for i in range(4)]
    if preset.num_upsampling_layers == "most":
        blocks.append(BlockSpec("up_4", nf, nf // 2, True))
    return blocks


class SPADEGenerator(nn.Module):
    """NVIDIA's SPADEGenerator with identical state_dict keys; preset is a Preset or an official one's name ("coco",
    "ade20k", "cityscapes"); `ngf` overrides the preset's."""

    def __init__(self, preset: Preset | str, ngf: int | None = None) -> None:
        super().__init__()
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ValueError(f"expected a Preset or one of {sorted(PRESETS)}, found {preset!r}")
            preset = PRESETS[preset]
        if not isinstance(preset, Preset):
            raise TypeError(f"expected a Preset or one of {sorted(PRESETS)}, found {type(preset).__name__}")
        if preset.grid_problem:
            raise ValueError(preset.grid_problem)
        self.preset = preset if ngf is None else replace(preset, ngf=ngf)
        nf, snc, hidden = self.preset.ngf, self.preset.semantic_nc, self.preset.spade_hidden
        self.sh, self.sw = self.preset.sh, self.preset.sw
        if self.preset.use_vae:
            self.fc = nn.Linear(self.preset.z_dim, 16 * nf * self.sh * self.sw)
        else:
            self.fc = nn.Conv2d(snc, 16 * nf, 3, padding=1)
        self.schedule = block_schedule(self.preset)
        for spec in self.schedule:
            setattr(self, spec.name, SPADEResnetBlock(spec.fin, spec.fout, snc, hidden))
        self.conv_img = nn.Conv2d(self.schedule[-1].fout, 3, 3, padding=1)

    def initial_features(self, seg: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """The (16·ngf, sh, sw) tensor the blocks start from: from z (VAE) or the downsampled labels."""
        if self.preset.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.preset.z_dim, device=seg.device, dtype=seg.dtype)
            return self.fc(z).view(-1, 16 * self.preset.ngf, self.sh, self.sw)
        return self.fc(F.interpolate(seg, size=(self.sh, self.sw), mode="nearest"))

    def from_compact(self, channels: torch.Tensor, edges: torch.Tensor | None,
                     z: torch.Tensor | None = None) -> torch.Tensor:
        """The image from compact_semantics' output (encoded one-hot here, as NVIDIA's code does)."""
        return self(one_hot_semantics(channels, edges, self.preset), z)

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        x = self.initial_features(seg, z)
        for spec in self.schedule:
            if spec.upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = getattr(self, spec.name)(x, seg)
        x = self.conv_img(F.leaky_relu(x, LRELU_SLOPE))
        return torch.tanh(x)
