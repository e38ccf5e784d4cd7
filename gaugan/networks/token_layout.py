"""Per-resolution layout of a label map for the fast generator: which pixels need real SPADE convolutions
(the band along label boundaries), their distinct 5×5 token patterns, and the gather indices."""
from __future__ import annotations

import torch
import torch.nn.functional as F

KERNEL_TAPS = 9  # a 3×3 kernel's taps, everywhere in row-major order (dy, then dx)
DENSE_FRACTION = 0.5  # band share of the pixels above which SPADE convolutions run densely


class Tokens:
    """Per-resolution layout shared by every SPADE layer at that size: tokens, band pixels and their distinct
    5×5 patterns, gather indices.

    When most pixels lie in the band (coarse resolutions, busy layouts) the layout is `dense`: every SPADE
    convolution then runs as one dense convolution, which beats gathering patches for nearly every pixel.
    """

    def __init__(self, tokens: torch.Tensor, token_inputs: torch.Tensor) -> None:
        """tokens: (N, H, W) ids into token_inputs, the (P, S) one-hot input vectors of the tokens in use."""
        n, h, w = tokens.shape
        self.shape = (n, h, w)
        self.token_inputs = token_inputs
        pad_token = len(token_inputs)
        flat = tokens.reshape(-1)
        tap_offsets = torch.arange(KERNEL_TAPS, device=tokens.device) * (pad_token + 1)
        band = ~uniform_windows(tokens, 2)  # pixels whose γ, β are not their token's
        self.band = band.reshape(-1).nonzero().squeeze(1)
        self.dense = len(self.band) > DENSE_FRACTION * flat.numel()
        # each pixel's row in the (N, H/2, W/2) map it is the nearest ×2 upsampling of (read without upsampling)
        image, y, x = (torch.arange(size, device=tokens.device) for size in (n, h, w))
        self.half_res_source = ((image[:, None, None] * (h // 2) + y[:, None] // 2) * (w // 2) + x // 2).reshape(-1)
        if self.dense:  # every pixel's 3×3 neighbourhood, as rows of the hidden map (index N·H·W: zero padding)
            every = torch.arange(n * h * w, device=tokens.device)
            # (N·H·W, 9) rows into the per-tap token tables stacked as (9·(P+1), hidden), summed by embedding_bag
            self.taps = neighbourhoods(tokens, every, 1, pad_token) + tap_offsets
            self.band_slots = neighbourhoods(every.view(n, h, w), every, 1, n * h * w)
            return
        # band pixels with the same 5×5 token neighbourhood get the same γ and β: each neighbourhood is computed
        # once, at one pixel that has it (conv padding shows as pad_token, so border positions are told apart)
        patterns, pattern_of = distinct_windows(tokens, self.band, 2, pad_token)
        chosen = torch.empty(patterns, dtype=torch.long, device=tokens.device)
        chosen = self.band[chosen.scatter_(0, pattern_of, torch.arange(len(self.band), device=tokens.device))]
        # pixels whose hidden activation the chosen pixels' 3×3 convs read: those pixels grown by one
        grown = torch.zeros(n * h * w, dtype=torch.bool, device=tokens.device)
        grown[chosen] = True
        self.needed = dilate(grown.view(n, h, w)).reshape(-1).nonzero().squeeze(1)
        self.taps = neighbourhoods(tokens, self.needed, 1, pad_token) + tap_offsets  # as for dense layouts
        slot = torch.full((n * h * w,), len(self.needed), dtype=torch.long, device=tokens.device)  # last: padding
        slot[self.needed] = torch.arange(len(self.needed), device=tokens.device)
        self.band_slots = neighbourhoods(slot.view(n, h, w), chosen, 1, len(self.needed))  # (patterns, 9)
        # each pixel's row in a SPADE's [per-token table; per-pattern rows] modulation table
        self.rows = flat.clone()
        self.rows[self.band] = pad_token + pattern_of


def distinct_windows(tokens: torch.Tensor, pixels: torch.Tensor, radius: int, pad_value: int) -> tuple[int, torch.Tensor]:
    """How many distinct (2r+1)² token windows the listed pixels (flat N·H·W indices) have, and each pixel's
    window's index among them (sorted order; pad_value outside the image). Exact: the window's tokens are
    folded into one int64 key, renumbered whenever the next token could overflow it."""
    n, h, w = tokens.shape
    values = max(int(tokens.max()), pad_value) + 1
    padded = F.pad(tokens, (radius,) * 4, value=pad_value).reshape(-1)
    corner = window_corners(pixels, h, w, radius)
    keys = torch.zeros(len(pixels), dtype=torch.long, device=tokens.device)
    bound = 1  # keys < bound
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            if bound * values >= 2**62:
                distinct, keys = torch.unique(keys, return_inverse=True)
                bound = len(distinct)
            keys = keys * values + padded[corner + dy * (w + 2 * radius) + dx]
            bound *= values
    distinct, keys = torch.unique(keys, return_inverse=True)
    return len(distinct), keys


def window_corners(pixels: torch.Tensor, h: int, w: int, radius: int) -> torch.Tensor:
    """Flat N·H·W pixel indices -> the index of their window's top-left in the map padded by radius."""
    image, y, x = pixels // (h * w), pixels % (h * w) // w, pixels % w
    return (image * (h + 2 * radius) + y) * (w + 2 * radius) + x


def neighbourhoods(tokens: torch.Tensor, pixels: torch.Tensor, radius: int, pad_value: int) -> torch.Tensor:
    """(len(pixels), (2r+1)²): the tokens in each listed pixel's (2r+1)² window (flat N·H·W indices), pad_value
    outside the image."""
    n, h, w = tokens.shape
    padded = F.pad(tokens, (radius,) * 4, value=pad_value).reshape(-1)
    steps = torch.arange(2 * radius + 1, device=tokens.device)
    offsets = (steps[:, None] * (w + 2 * radius) + steps).reshape(-1)
    return padded[window_corners(pixels, h, w, radius)[:, None] + offsets]


def nearest(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Nearest resize of (..., H, W) to (h, w) as F.interpolate's "nearest" does, reading only the kept pixels."""
    rows = torch.arange(h, device=x.device) * x.shape[-2] // h
    cols = torch.arange(w, device=x.device) * x.shape[-1] // w
    return x[..., rows, :][..., cols]


def uniform_windows(tokens: torch.Tensor, radius: int) -> torch.Tensor:
    """(N, H, W) bool: True where the (2r+1)² window around a pixel lies inside the image and holds one token."""
    n, h, w = tokens.shape
    uniform = torch.zeros(n, h, w, dtype=torch.bool, device=tokens.device)
    if h <= 2 * radius or w <= 2 * radius:
        return uniform
    cols = slice(radius, w - radius)
    offsets = range(-radius, radius + 1)
    # every row of the window uniform around the centre column, and those rows' centres equal the pixel
    row_runs = torch.stack([tokens[:, :, radius + d:w - radius + d] == tokens[:, :, cols] for d in offsets]).all(0)
    centre = tokens[:, radius:h - radius, cols]
    uniform[:, radius:h - radius, cols] = torch.stack(
        [row_runs[:, radius + d:h - radius + d] & (tokens[:, radius + d:h - radius + d, cols] == centre)
         for d in offsets]).all(0)
    return uniform


def dilate(mask: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool mask grown by one pixel in all 8 directions."""
    wide = mask.clone()
    wide[:, :, 1:] |= mask[:, :, :-1]
    wide[:, :, :-1] |= mask[:, :, 1:]
    grown = wide.clone()
    grown[:, 1:] |= wide[:, :-1]
    grown[:, :-1] |= wide[:, 1:]
    return grown
