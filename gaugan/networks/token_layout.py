"""Per-resolution layouts of a label map for the fast generator, shared by every SPADE layer at that size.

A token is a pixel's input vector (its label, and whether it lies on an instance edge). SPADE's γ and β at a pixel
depend on the tokens of its 5×5 neighbourhood only. Two layouts:
- DenseLayout: the SPADE convolutions run over every pixel (coarse resolutions, busy maps);
- BandLayout: γ, β are per-token constants wherever the 5×5 neighbourhood is one token inside the image; the
  others (the band along label boundaries and image borders) are computed once per distinct 5×5 pattern.
Which one a resolution gets is decided in fast_plan.py.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

KERNEL_TAPS = 9  # a 3×3 kernel's taps, everywhere in row-major order (dy, then dx)
SPADE_RADIUS = 2  # γ, β at a pixel read tokens up to 2 pixels away (two stacked 3×3 convolutions)


def first_of_each(count: int, group_of: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """One pixel of each of `count` groups: pixels[i] for one i with group_of[i] == g, for every g."""
    chosen = torch.empty(count, dtype=torch.long, device=pixels.device)
    return pixels[chosen.scatter_(0, group_of, torch.arange(len(pixels), device=pixels.device))]


def hidden_windows(tokens: torch.Tensor, pixels: torch.Tensor, pad_token: int) -> tuple[torch.Tensor, torch.Tensor]:
    """mlp_shared's output at a pixel depends on its 3×3 token window only: the distinct windows of the listed
    pixels as (K, 9) rows of the per-tap token tables stacked as (9·(P+1), hidden) (summed by embedding_bag they
    give mlp_shared's input), and the (N·H·W) map of each listed pixel's window id (K at the others)."""
    n, h, w = tokens.shape
    count, window_of = distinct_windows(tokens, pixels, 1, pad_token)
    taps = neighbourhoods(tokens, first_of_each(count, window_of, pixels), 1, pad_token)
    taps = taps + torch.arange(KERNEL_TAPS, device=tokens.device) * (pad_token + 1)
    window_map = torch.full((n * h * w,), count, dtype=torch.long, device=tokens.device)
    window_map[pixels] = window_of
    return taps, window_map


def band_pixels(tokens: torch.Tensor) -> torch.Tensor:
    """Flat N·H·W indices of the pixels whose γ, β are not their token's (5×5 window not uniform or not inside)."""
    return (~uniform_windows(tokens, SPADE_RADIUS)).reshape(-1).nonzero().squeeze(1)


class DenseLayout:
    """SPADE's γ, β computed at every pixel."""

    def __init__(self, tokens: torch.Tensor, token_inputs: torch.Tensor, band: torch.Tensor) -> None:
        """tokens: (N, H, W) ids into token_inputs, the (P, S) one-hot input vectors of the tokens in use;
        band: band_pixels(tokens)."""
        n, h, w = tokens.shape
        self.shape = (n, h, w)
        self.token_inputs = token_inputs
        self.band = band
        every = torch.arange(n * h * w, device=tokens.device)
        self.taps, self.pixel_window = hidden_windows(tokens, every, len(token_inputs))
        # (N·H·W, 9): the window ids of each pixel's 3×3 neighbours, K (a zero hidden row) outside the image
        self.slots = neighbourhoods(self.pixel_window.view(n, h, w), every, 1, len(self.taps))


class BandLayout:
    """Band pixels grouped by their 5×5 token pattern: what the per-pattern γ, β read, and each pixel's row in a
    SPADE's [per-token rows; per-pattern rows] scale and shift tables."""

    def __init__(self, tokens: torch.Tensor, token_inputs: torch.Tensor, band: torch.Tensor) -> None:
        """As for DenseLayout."""
        n, h, w = tokens.shape
        self.shape = (n, h, w)
        self.token_inputs = token_inputs
        self.band = band
        pad_token = len(token_inputs)
        # each pattern is computed at one pixel that has it (conv padding shows as pad_token: borders told apart)
        self.patterns, pattern_of = distinct_windows(tokens, band, SPADE_RADIUS, pad_token)
        chosen = first_of_each(self.patterns, pattern_of, band)
        # the hidden activations the chosen pixels' 3×3 convolutions read: at those pixels grown by one
        grown = torch.zeros(n * h * w, dtype=torch.bool, device=tokens.device)
        grown[chosen] = True
        needed = dilate(grown.view(n, h, w)).reshape(-1).nonzero().squeeze(1)
        self.taps, window_map = hidden_windows(tokens, needed, pad_token)
        self.slots = neighbourhoods(window_map.view(n, h, w), chosen, 1, len(self.taps))  # (patterns, 9)
        self.rows = tokens.reshape(-1).clone()  # uniform pixels: their token's row
        self.rows[band] = pad_token + pattern_of
        # each pixel's row in the (N, H/2, W/2) map it is the nearest ×2 upsampling of (read without upsampling)
        image, y, x = (torch.arange(size, device=tokens.device) for size in (n, h, w))
        self.half_res_source = ((image[:, None, None] * (h // 2) + y[:, None] // 2) * (w // 2) + x // 2).reshape(-1)


Layout = DenseLayout | BandLayout


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


def pixel_rows(x: torch.Tensor) -> torch.Tensor:
    """A channels_last (N, C, H, W) tensor as a (N·H·W, C) view (an error, never a copy, for other layouts)."""
    return x.permute(0, 2, 3, 1).view(-1, x.shape[1])


def as_channels_last(rows: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """(N·H·W, C) pixel rows -> the (N, C, H, W) channels_last tensor viewing them."""
    return rows.view(n, h, w, -1).permute(0, 3, 1, 2)
