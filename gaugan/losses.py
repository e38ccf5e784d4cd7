"""SPADE's training losses: hinge GAN, discriminator feature matching, and the VAE's KL term."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def hinge_d_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Discriminator hinge loss summed over scales (last feature of each scale is the score map)."""
    return sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real, fake))


def hinge_g_loss(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Generator hinge loss: raise the discriminator's score of generated images."""
    return sum(-f[-1].mean() for f in fake)


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of real and generated images, averaged over scales."""
    total = sum(F.l1_loss(f, r.detach()) for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1]))
    return total / len(real)


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, var) || N(0, 1)), summed over z and averaged over the batch."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]
