"""A block's conv_0(leaky_relu(norm_0(x))) three ways, and the weight forms they rely on; fast_plan.py picks one.

- conv_0_dense: norm_0 over the whole map, then the convolution (DenseLayout).
- conv_0_by_row_tiles: norm_0 fused into tiles of rows fed to the convolution; the full input is never stored, and
  an upsampled input is read from the half-resolution map (BandLayout).
- SubpixelConv: for an upsampled input on a BandLayout, wherever a 2×2 block of the input is modulated alike the
  input is the upsampling of a half-resolution map, so the 3×3 convolution is four 2×2 ones on that map (16 instead
  of 36 multiply-adds per pixel); the pixels near blocks modulated unlike are recomputed exactly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .prepacked import Affine, PrepackedConv
from .spade import LRELU_SLOPE
from .token_layout import KERNEL_TAPS, BandLayout, DenseLayout, dilate, neighbourhoods, pixel_rows

if TYPE_CHECKING:
    from .fast_spade import FastSPADE

IM2COL_CHUNK = 2**20  # values per im2col matrix of the sub-pixel path's exactly recomputed pixels
CONV_TILE = 2**20  # values per row tile of modulated input fed to the convolution


def conv_0_dense(conv: PrepackedConv, norm: FastSPADE, x: torch.Tensor, layout: DenseLayout) -> torch.Tensor:
    """conv(leaky_relu(norm(x))) on a dense layout, x at the layout's resolution."""
    return conv(norm(x, layout, LRELU_SLOPE))


def conv_0_by_row_tiles(conv: PrepackedConv, norm: FastSPADE, x: torch.Tensor, layout: BandLayout,
                        upsample: bool) -> torch.Tensor:
    """conv(leaky_relu(norm(x))) tile by tile of rows, each tile modulated with its neighbour rows (zeros outside
    the image: the convolution's vertical padding). upsample=True: x is at half the layout's resolution."""
    n, h, w = layout.shape
    c = x.shape[1]
    tables = norm.tables(layout)
    x_rows = pixel_rows(x)
    out = torch.empty(n, conv.bias.shape[0], h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    tile_rows = max(1, CONV_TILE // (w * c))
    buffer = torch.empty(1, c, min(tile_rows, h) + 2, w, dtype=x.dtype, device=x.device,
                         memory_format=torch.channels_last)
    for image in range(n):
        for top in range(0, h, tile_rows):
            bottom = min(h, top + tile_rows)
            tile = buffer[:, :, :bottom - top + 2]  # rows top-1 .. bottom
            first, last = max(0, top - 1), min(h, bottom + 1)
            if top == 0:
                tile[:, :, 0].zero_()
            if bottom == h:
                tile[:, :, -1].zero_()
            rows = pixel_rows(tile)[(first - top + 1) * w:(last - top + 1) * w]
            pixels = slice(image * h * w + first * w, image * h * w + last * w)
            norm.modulate(x_rows if upsample else x_rows[pixels], tables, layout.rows[pixels], rows, LRELU_SLOPE,
                          layout.half_res_source[pixels] if upsample else None)
            out[image:image + 1, :, top:bottom] = conv(tile, padding=[0, 1])
    return out


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """(Cout, Cin, 3, 3) -> (4·Cout, Cin, 2, 2): a 3×3 convolution of a nearest ×2 upsampled map as four 2×2
    kernels over the map itself, one per output phase 2a+b (output pixel (2Y+a, 2X+b) reads map rows Y-1+a and
    Y+a, columns likewise)."""
    # fold[a, i, t]: whether kernel tap t (dy = t-1) of an output in phase a reads the map's row i of the two
    fold = weight.new_tensor([[[1, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])
    return torch.einsum("ait,bju,octu->abocij", fold, fold, weight).reshape(-1, weight.shape[1], 2, 2)


def subpixel_recompute(layout: BandLayout) -> torch.Tensor:
    """Flat N·H·W indices of the output pixels whose 3×3 window reads an input pixel modulated unlike its 2×2
    block (a block's top-left pixel stands for it: row 2Y, column 2X): the sub-pixel form is wrong there."""
    n, h, w = layout.shape
    rows = layout.rows.view(n, h, w)
    unlike = rows != rows[:, ::2, ::2].repeat_interleave(2, 1).repeat_interleave(2, 2)
    return dilate(unlike).reshape(-1).nonzero().squeeze(1)


class SubpixelConv(nn.Module):
    """conv_0 of a nearest-upsampled, modulated input, read from the half-resolution map (exact)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """weight, bias: the folded (Cout, Cin, 3, 3) convolution."""
        super().__init__()
        self.phases = PrepackedConv(subpixel_weight(weight), bias.repeat(4), [0, 1])  # phase k: channels k·Cout..
        self.rows = Affine(weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1), bias)  # im2col rows, taps dy, dx

    def forward(self, norm: FastSPADE, x: torch.Tensor, layout: BandLayout, recompute: torch.Tensor) -> torch.Tensor:
        """conv(leaky_relu(norm(upsample(x)))) from the half-resolution x; recompute: subpixel_recompute(layout)."""
        n, h, w = layout.shape
        c, half_h, half_w = x.shape[1], h // 2, w // 2
        cout = self.rows.out_features
        tables = norm.tables(layout)
        block_rows = layout.rows.view(n, h, w)[:, ::2, ::2]
        out = torch.empty(n, cout, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        # one image's modulated half-resolution map between zero rows (the vertical conv padding)
        padded = x.new_zeros(1, c, half_h + 2, half_w).contiguous(memory_format=torch.channels_last)
        tile_rows = max(1, CONV_TILE // ((half_w + 1) * 4 * cout))
        for image in range(n):
            norm.modulate(pixel_rows(x[image:image + 1]), tables, block_rows[image].reshape(-1),
                          pixel_rows(padded[:, :, 1:-1]), LRELU_SLOPE)
            for top in range(0, half_h + 1, tile_rows):  # rows of phase outputs: phase 2a+b at (Y+a, X+b)
                bottom = min(half_h + 1, top + tile_rows)
                phases = self.phases(padded[:, :, top:bottom + 1])
                for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):
                    first, last = max(top - a, 0), min(bottom - a, half_h)  # the tile's Y for this phase
                    k = 2 * a + b
                    out[image:image + 1, :, 2 * first + a:2 * last + a:2, b::2] = \
                        phases[:, k * cout:(k + 1) * cout, first + a - top:last + a - top, b:b + half_w]
        if len(recompute):
            self._recompute(norm, x, layout, tables, recompute, out)
        return out

    def _recompute(self, norm: FastSPADE, x: torch.Tensor, layout: BandLayout, tables: tuple[torch.Tensor, torch.Tensor],
                   pixels: torch.Tensor, out: torch.Tensor) -> None:
        """out at pixels by exact im2col products, from the modulated full-resolution input around them."""
        n, h, w = layout.shape
        c = x.shape[1]
        everywhere = torch.arange(n * h * w, device=x.device)
        around = neighbourhoods(everywhere.view(n, h, w), pixels, 1, n * h * w)  # (F, 9); N·H·W: outside
        outside = around == n * h * w
        around = around.masked_fill(outside, 0)
        x_rows, out_rows = pixel_rows(x), pixel_rows(out)
        step = max(1, IM2COL_CHUNK // (KERNEL_TAPS * c))
        patches = x.new_empty(min(step, len(pixels)) * KERNEL_TAPS, c)
        for start in range(0, len(pixels), step):
            part = slice(start, start + step)
            taps = around[part].reshape(-1)
            patch = patches[:len(taps)]
            norm.modulate(x_rows, tables, layout.rows[taps], patch, LRELU_SLOPE, layout.half_res_source[taps])
            patch[outside[part].reshape(-1)] = 0  # conv padding
            out_rows[pixels[part]] = self.rows(patch.view(-1, KERNEL_TAPS * c))
