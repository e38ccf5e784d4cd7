"""Multi-scale PatchGAN discriminator with spectral norm (training only)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class PatchDiscriminator(nn.Module):
    """Judges overlapping patches of (labels, image); returns every layer's features for feature matching."""

    def __init__(self, in_channels: int, ndf: int = 64, layers: int = 4) -> None:
        super().__init__()
        stages: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2))]
        channels = ndf
        for i in range(1, layers):
            out = min(channels * 2, 512)
            stride = 1 if i == layers - 1 else 2
            stages.append(nn.Sequential(
                spectral_norm(nn.Conv2d(channels, out, 4, stride=stride, padding=2)),
                nn.InstanceNorm2d(out, affine=False), nn.LeakyReLU(0.2)))
            channels = out
        stages.append(nn.Conv2d(channels, 1, 4, stride=1, padding=2))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """The same PatchGAN at full and successively halved resolutions."""

    def __init__(self, in_channels: int, ndf: int = 64, layers: int = 4, scales: int = 2) -> None:
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, ndf, layers) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for i, discriminator in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
