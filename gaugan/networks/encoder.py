"""Style encoder (VAE): photo -> mean and log-variance of a style code z."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class StyleEncoder(nn.Module):
    """Strided convs with instance norm, pooled to 4×4, then linear heads for mu and logvar."""

    def __init__(self, z_dim: int = 256, ndf: int = 32, layers: int = 5) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = 3
        for i in range(layers):
            out = ndf * min(2**i, 8)
            blocks += [spectral_norm(nn.Conv2d(channels, out, 3, stride=2, padding=1)),
                       nn.InstanceNorm2d(out, affine=False), nn.LeakyReLU(0.2)]
            channels = out
        self.features = nn.Sequential(*blocks)
        self.fc_mu = nn.Linear(channels * 16, z_dim)
        self.fc_var = nn.Linear(channels * 16, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.adaptive_avg_pool2d(self.features(image), 4).flatten(1)
        return self.fc_mu(x), self.fc_var(x)
