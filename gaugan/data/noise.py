"""Fractal value noise, vectorised with torch's bilinear upsampling."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def fbm(rng: np.random.Generator, height: int, width: int, base: int = 4, octaves: int = 4,
        persistence: float = 0.5, channels: int = 1) -> np.ndarray:
    """(channels, H, W) fractal noise in roughly [-1, 1]: octaves of smoothly upsampled random grids."""
    total = np.zeros((channels, height, width), dtype=np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        cells = base * 2**octave
        grid = rng.standard_normal((1, channels, max(2, cells * height // max(height, width)) + 1,
                                    max(2, cells * width // max(height, width)) + 1)).astype(np.float32)
        up = F.interpolate(torch.from_numpy(grid), size=(height, width), mode="bilinear", align_corners=True)
        total += amplitude * up[0].numpy()
        norm += amplitude
        amplitude *= persistence
    return total / norm


def fbm_1d(rng: np.random.Generator, length: int, base: int = 4, octaves: int = 5, persistence: float = 0.5) -> np.ndarray:
    """(length,) fractal noise for ridge lines and shorelines."""
    return fbm(rng, 1, length, base, octaves, persistence)[0, 0]
