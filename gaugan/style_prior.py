"""The Gaussian a model's seeds draw style codes from, fitted to the codes its encoder gives real photographs.

A VAE-trained generator is usually sampled with z ~ N(0, I). With a weak KL term the encoder's codes of photographs
do not fill that normal: their means sit in a smaller, shifted region, and z drawn from a Gaussian fitted to them
paints images that look more like those photographs (the figures are in docs/model_card.md).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .errors import InputError
from .images import read_photo

STYLE_PRIOR_WEIGHTS = "style_prior.pth"
RIDGE = 1e-4  # added to the covariance's diagonal: keeps its Cholesky factor defined for nearly flat directions
MAX_VALUE = 1e3  # style codes are a few units long; a prior beyond this paints saturated noise


class StylePrior(nn.Module):
    """z = mean + scale_tril @ noise, held as buffers so that it is saved and loaded like weights."""

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(z_dim))
        self.register_buffer("scale_tril", torch.eye(z_dim))

    def sample(self, noise: torch.Tensor) -> torch.Tensor:
        """Style codes (N, z_dim) from standard normal noise of that shape."""
        return self.mean + noise.to(self.mean) @ self.scale_tril.T

    def problem(self) -> str | None:
        """Why these values are no usable Gaussian (beyond ±MAX_VALUE, or a scale_tril that is not lower-triangular
        with a positive diagonal), or None; finite values are checked where weights are read (read_state_dict)."""
        if max(self.mean.abs().max(), self.scale_tril.abs().max()) > MAX_VALUE:
            return f"it holds values beyond ±{MAX_VALUE:g} (style codes are a few units long)"
        if not torch.equal(self.scale_tril, self.scale_tril.tril()):
            return "its scale_tril has values above the diagonal (expected a lower-triangular Cholesky factor)"
        if not (self.scale_tril.diagonal() > 0).all():
            return "its scale_tril's diagonal is not all positive (expected a Cholesky factor)"
        return None


def fit_style_prior(codes: torch.Tensor) -> StylePrior:
    """The Gaussian of style codes (N, z_dim): their mean, and the Cholesky factor of their covariance."""
    count, z_dim = codes.shape
    if not torch.isfinite(codes).all():
        raise InputError("the style encoder gave NaN or infinite codes for some photographs: no Gaussian can be fitted to them")
    distinct = len(torch.unique(codes.round(decimals=4), dim=0))
    if distinct < 2 * z_dim:
        found = f"{count}" if distinct == count else f"{count}, with only {distinct} distinct style codes"
        raise InputError(f"fitting a style prior of {z_dim} dimensions takes at least {2 * z_dim} different "
                         f"photographs (hundreds or more give a steadier fit), found {found}")
    codes = codes.double()
    covariance = torch.cov(codes.T) + RIDGE * torch.eye(z_dim, dtype=codes.dtype)
    prior = StylePrior(z_dim)
    prior.mean.copy_(codes.mean(0))
    prior.scale_tril.copy_(torch.linalg.cholesky(covariance))
    return prior



def style_codes(encode: Callable[[Image.Image], torch.Tensor], photos: Iterable[Path]) -> torch.Tensor:
    """(N, z_dim) codes of photo files, each read with images.read_photo (up to MAX_PHOTO_PIXELS) and encoded (e.g.
    GauGAN.encode_style); photos that cannot be read are all read on past, then named in one InputError."""
    codes, refused = [], []
    for photo in photos:
        try:
            codes.append(encode(read_photo(photo)).cpu())
        except InputError as exc:
            refused.append(f"{photo.name} ({exc})")
    if refused:
        raise InputError(f"{len(refused)} of {len(codes) + len(refused)} photographs refused, nothing written: "
                         f"{'; '.join(refused[:5])}{' …' if len(refused) > 5 else ''}")
    return torch.cat(codes)
