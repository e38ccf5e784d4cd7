"""The SPADE generator: label map (and optional style code) -> image in [-1, 1]."""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..presets import Preset
from ..semantics import one_hot_semantics
from .spade import LRELU_SLOPE, SPADEResnetBlock


class SPADEGenerator(nn.Module):
    """NVIDIA's SPADEGenerator with identical state_dict keys; `ngf` overrides the preset's."""

    def __init__(self, preset: Preset, ngf: int | None = None) -> None:
        super().__init__()
        self.preset = preset if ngf is None else replace(preset, ngf=ngf)
        nf, snc, hidden = self.preset.ngf, self.preset.semantic_nc, self.preset.spade_hidden
        self.sh, self.sw = self.preset.sh, self.preset.sw
        if self.preset.use_vae:
            self.fc = nn.Linear(self.preset.z_dim, 16 * nf * self.sh * self.sw)
        else:
            self.fc = nn.Conv2d(snc, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, snc, hidden)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, snc, hidden)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, snc, hidden)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, snc, hidden)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, snc, hidden)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, snc, hidden)
        self.up_3 = SPADEResnetBlock(2 * nf, nf, snc, hidden)
        final_nc = nf
        if self.preset.num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(nf, nf // 2, snc, hidden)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

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
        x = self.head_0(x, seg)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_0(x, seg)
        if self.preset.num_upsampling_layers in ("more", "most"):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_1(x, seg)
        blocks = [self.up_0, self.up_1, self.up_2, self.up_3]
        if self.preset.num_upsampling_layers == "most":
            blocks.append(self.up_4)
        for block in blocks:
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), seg)
        x = self.conv_img(F.leaky_relu(x, LRELU_SLOPE))
        return torch.tanh(x)
