"""SPADE for the fast generator: batch norm folded into the modulation, mlp_shared read from token tables.

mlp_shared's input is one-hot, so its 3×3 convolution is a sum of gathered kernel columns (one per tap and token),
computed once per distinct 3×3 token window. γ|β are per-token constants away from label boundaries (see
token_layout.py); elsewhere the 3×3 γ|β convolution is a sum over its 9 taps of W_tap · hidden, and hidden takes one
value per distinct window: W_tap · hidden is computed once per (window, tap), and each γ|β row sums 9 of them.
The modulation x · scale + shift and its activation run fused, chunk by chunk, from a per-pixel row index.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fast_plan import DIRECT_GAMMA_BETA_WEIGHTS
from .prepacked import Affine
from .spade import SPADE
from .token_layout import KERNEL_TAPS, BandLayout, DenseLayout, Layout, as_channels_last, pixel_rows

MODULATION_CHUNK = 2**18  # values per chunk of the per-pixel modulation (small temporaries stay in cache)


class FastSPADE(nn.Module):
    """SPADE with folded batch norm and token tables; out = x * scale + shift."""

    def __init__(self, spade: SPADE) -> None:
        super().__init__()
        bn = spade.param_free_norm
        a = torch.rsqrt(bn.running_var + bn.eps)
        shared = spade.mlp_shared[0]
        # shared.weight (hidden, S, 3, 3) -> (S, 9·hidden): what each input channel adds to hidden, per tap
        self.register_buffer("shared_per_tap", shared.weight.detach().permute(1, 2, 3, 0).reshape(shared.in_channels, -1))
        self.register_buffer("shared_bias", shared.bias.detach().clone())
        gb_weight = torch.cat([spade.mlp_gamma.weight, spade.mlp_beta.weight]).detach()  # (2C, hidden, 3, 3)
        gb_bias = torch.cat([spade.mlp_gamma.bias, spade.mlp_beta.bias]).detach()
        self.gb_channels = gb_weight.shape[0]
        # the 3×3 γ|β convolution's taps stacked as a (9·2C, hidden) matrix, taps in row-major order (dy, then dx)
        self.gamma_beta_per_tap = Affine(gb_weight.permute(2, 3, 0, 1).reshape(-1, gb_weight.shape[1]), None)
        self.register_buffer("gb_bias", gb_bias)
        # small layers run dense layouts as one direct convolution (faster there than im2col; the copy is cheap)
        direct = gb_weight.numel() <= DIRECT_GAMMA_BETA_WEIGHTS
        self.register_buffer("gb_conv", gb_weight.contiguous(memory_format=torch.channels_last) if direct else None)
        self.register_buffer("gb_summed", gb_weight.sum((2, 3)).T.contiguous())  # (hidden, 2C): γ|β, uniform map
        self.register_buffer("a", a)
        self.register_buffer("b", -bn.running_mean * a)

    def _scale_shift(self, gamma_beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, 2C) gamma|beta -> (rows, C) scale and shift, batch norm folded in."""
        gamma, beta = gamma_beta.chunk(2, dim=1)
        return self.a * (1 + gamma), self.b * (1 + gamma) + beta

    def _token_taps(self, layout: Layout) -> torch.Tensor:
        """(9, P, hidden): what each token in use adds to mlp_shared's output from each tap."""
        hidden = self.shared_bias.shape[0]
        return (layout.token_inputs @ self.shared_per_tap).view(-1, KERNEL_TAPS, hidden).transpose(0, 1)

    def _hidden(self, layout: Layout, token_taps: torch.Tensor) -> torch.Tensor:
        """(K, hidden): mlp_shared's output for each of the layout's distinct 3×3 token windows."""
        table = F.pad(token_taps, (0, 0, 0, 1)).flatten(0, 1)  # (9·(P+1), hidden); each tap's last row: padding
        return F.relu(F.embedding_bag(layout.taps, table, mode="sum") + self.shared_bias)

    def _gamma_beta_rows(self, layout: Layout, token_taps: torch.Tensor) -> torch.Tensor:
        """(len(layout.slots), 2C) γ|β, one row per band pattern (per pixel when dense): the sum over the 9 taps of
        W_tap · hidden at the tap's window (window id K: outside the image, zero)."""
        hidden = F.pad(self._hidden(layout, token_taps), (0, 0, 0, 1))  # window K: zero (outside the image)
        table = self.gamma_beta_per_tap(hidden).view(-1, self.gb_channels)  # row 9k + t: W_t · hidden_k
        index = layout.slots * KERNEL_TAPS + torch.arange(KERNEL_TAPS, device=table.device)
        return F.embedding_bag(index, table, mode="sum").add_(self.gb_bias)

    def forward(self, x: torch.Tensor, layout: Layout, slope: float | None = None, upsample: bool = False,
                project: Affine | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """SPADE(x), then a leaky ReLU with `slope` when given; x and the result are channels_last.

        upsample=True (band layouts only): x is at half the layout's resolution and is read as its nearest ×2
        upsampling. project: a per-pixel product (a 1×1 convolution) applied to the result, chunk by chunk, so the
        full SPADE output is never stored. out: the tensor to write into (x itself is allowed).
        """
        if isinstance(layout, DenseLayout):
            if upsample:
                raise ValueError("dense layouts take x at their own resolution")
            return self._dense(x, layout, slope, project, out)
        n, h, w = layout.shape
        out_channels = x.shape[1] if project is None else project.out_features
        if out is None:
            out = torch.empty(n, out_channels, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        self.modulate(pixel_rows(x), self.tables(layout), layout.rows, pixel_rows(out), slope,
                      layout.half_res_source if upsample else None, project)
        return out

    def _dense(self, x: torch.Tensor, layout: DenseLayout, slope: float | None, project: Affine | None,
               out: torch.Tensor | None) -> torch.Tensor:
        """forward() on a dense layout: γ|β for every pixel (a direct convolution when kept, else im2col)."""
        n, h, w = layout.shape
        token_taps = self._token_taps(layout)
        if self.gb_conv is not None:
            hidden = as_channels_last(self._hidden(layout, token_taps)[layout.pixel_window], n, h, w)
            gamma_beta = F.conv2d(hidden, self.gb_conv, self.gb_bias, padding=1)
            gamma_beta = gamma_beta.permute(0, 2, 3, 1).reshape(-1, self.gb_channels)
        else:
            gamma_beta = self._gamma_beta_rows(layout, token_taps)
        scale, shift = (as_channels_last(t, n, h, w) for t in self._scale_shift(gamma_beta))
        result = torch.addcmul(shift, x, scale, out=out if project is None else None)
        if slope is not None:
            F.leaky_relu_(result, slope)
        return result if project is None else as_channels_last(project(pixel_rows(result)), n, h, w)

    def tables(self, layout: BandLayout) -> tuple[torch.Tensor, torch.Tensor]:
        """(P + patterns, C) scale and shift: one row per token in use (its 5×5 neighbourhood uniform: every tap
        sees that token), then one per band pattern; layout.rows indexes them."""
        token_taps = self._token_taps(layout)
        uniform_hidden = F.relu(token_taps.sum(0) + self.shared_bias)
        gamma_beta = torch.addmm(self.gb_bias, uniform_hidden, self.gb_summed)
        if layout.patterns:
            gamma_beta = torch.cat([gamma_beta, self._gamma_beta_rows(layout, token_taps)])
        return self._scale_shift(gamma_beta)

    def modulate(self, x_rows: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor,
                 out_rows: torch.Tensor, slope: float | None = None, source: torch.Tensor | None = None,
                 project: Affine | None = None) -> None:
        """out_rows[i] = act(x_rows[source[i]] · scale[rows[i]] + shift[rows[i]]) (x_rows[i] without source), then
        project when given; scale, shift = tables (see tables()). Fused, chunk by chunk."""
        scale, shift = tables
        c = x_rows.shape[1]
        step = max(1, MODULATION_CHUNK // c)
        buffers = x_rows.new_empty(4, min(step, len(rows)), c)  # reused by every chunk
        for start in range(0, len(rows), step):
            chunk = slice(start, start + step)
            row_chunk = rows[chunk]
            scale_chunk, shift_chunk, x_chunk, result = buffers[:, :len(row_chunk)]
            torch.index_select(scale, 0, row_chunk, out=scale_chunk)
            torch.index_select(shift, 0, row_chunk, out=shift_chunk)
            if source is None:
                x_chunk = x_rows[chunk]
            else:
                torch.index_select(x_rows, 0, source[chunk], out=x_chunk)
            if project is None:
                result = out_rows[chunk]
            torch.addcmul(shift_chunk, x_chunk, scale_chunk, out=result)
            if slope is not None:
                F.leaky_relu_(result, slope)
            if project is not None:
                out_rows[chunk] = project(result)
