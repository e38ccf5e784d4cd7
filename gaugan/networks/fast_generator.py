"""An exact, faster SPADE generator for eval: same outputs (to float rounding) as SPADEGenerator.

Built once from a loaded SPADEGenerator:
- spectral-norm σ and batch-norm running statistics are folded into plain weights and tables;
- it reads label ids ("tokens": label and instance edge) instead of the one-hot tensor, so SPADE's first
  conv (mlp_shared) is a sum of gathered kernel columns;
- where a pixel's 5×5 neighbourhood is one label (and inside the image) gamma and beta are per-label
  constants; only the bands along label boundaries and image borders get real 3×3 convolutions, once
  per distinct 5×5 neighbourhood, as matrix products (or one dense convolution where the band covers
  most pixels);
- the modulation and its activation run fused, chunk by chunk, from a per-pixel row index, straight
  from the half-resolution map in upsampled blocks, into the 1×1 shortcut or into row tiles of conv_0;
- in upsampled blocks, conv_0 of a nearest-upsampled input is four 2×2 convolutions of the half-resolution
  map (sub-pixel form), with the pixels near label boundaries recomputed exactly.
Weights: prepacked.py; per-resolution layouts (band, patterns, indices): token_layout.py.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..allocator import release_free_memory
from .generator import SPADEGenerator
from .prepacked import Affine, PrepackedConv, folded_conv, folded_weight, subpixel_weight
from .spade import LRELU_SLOPE, SPADE, SPADEResnetBlock
from .token_layout import KERNEL_TAPS, Tokens, dilate, neighbourhoods, nearest

BAND_CHUNK = 2048  # band pixels per im2col matrix product
IM2COL_CHUNK = 2**20  # values per im2col matrix of conv_0's exactly recomputed pixels
MODULATION_CHUNK = 2**18  # values per chunk of the per-pixel modulation (small temporaries stay in cache)
CONV_TILE = 2**20  # values per row tile of SPADE output fed to conv_0 (the whole output is never stored)
SUBPIXEL_WEIGHTS = 2**21  # conv_0 weights up to this many values also keep their sub-pixel forms (2.8x the memory)
SUBPIXEL_FRACTION = 0.35  # share of pixels to recompute exactly above which conv_0 runs directly instead
SMALL_GAMMA_BETA = 2**18  # γ|β weights up to this many values also keep a plain copy for dense 3×3 convolutions


class FastSPADE(nn.Module):
    """SPADE with folded batch norm and token tables; out = x * scale + shift."""

    def __init__(self, spade: SPADE) -> None:
        super().__init__()
        bn = spade.param_free_norm
        a = torch.rsqrt(bn.running_var + bn.eps)
        b = -bn.running_mean * a
        shared = spade.mlp_shared[0]
        # shared.weight (hidden, S, 3, 3) -> (S, 9·hidden): what each input channel adds to hidden, per tap
        self.register_buffer("shared_per_tap", shared.weight.detach().permute(1, 2, 3, 0).reshape(shared.in_channels, -1))
        self.register_buffer("shared_bias", shared.bias.detach().clone())
        gb_weight = torch.cat([spade.mlp_gamma.weight, spade.mlp_beta.weight]).detach()  # (2C, hidden, 3, 3)
        gb_bias = torch.cat([spade.mlp_gamma.bias, spade.mlp_beta.bias]).detach()
        # the 3×3 γ|β convolution as a matrix over im2col rows (9·hidden, taps in row-major order)
        self.gamma_beta = Affine(gb_weight.permute(0, 2, 3, 1).reshape(gb_weight.shape[0], -1), gb_bias)
        # small layers run dense layouts as one direct convolution (faster there than im2col; the copy is cheap)
        small = gb_weight.numel() <= SMALL_GAMMA_BETA
        self.register_buffer("gb_conv", gb_weight.contiguous(memory_format=torch.channels_last) if small else None)
        self.register_buffer("gb_summed", gb_weight.sum((2, 3)).T.contiguous())  # (hidden, 2C): γ|β of a uniform map
        self.register_buffer("a", a)
        self.register_buffer("b", b)

    def _scale_shift(self, gamma_beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, 2C) gamma|beta -> (rows, C) scale and shift, batch norm folded in."""
        gamma, beta = gamma_beta.chunk(2, dim=1)
        return self.a * (1 + gamma), self.b * (1 + gamma) + beta

    def _token_taps(self, layout: Tokens) -> torch.Tensor:
        """(9, P, hidden): what each token in use adds to mlp_shared's output from each tap."""
        hidden = self.shared_bias.shape[0]
        return (layout.token_inputs @ self.shared_per_tap).view(-1, KERNEL_TAPS, hidden).transpose(0, 1)

    def _hidden(self, layout: Tokens, token_taps: torch.Tensor) -> torch.Tensor:
        """mlp_shared's output at the layout's tap rows (every pixel, or around one pixel of each band pattern)."""
        table = F.pad(token_taps, (0, 0, 0, 1)).flatten(0, 1)  # (9·(P+1), hidden); each tap's last row: padding
        return F.relu(F.embedding_bag(layout.taps, table, mode="sum") + self.shared_bias)

    def _band_gamma_beta(self, layout: Tokens, token_taps: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(patterns, 2C) gamma|beta, one row per band pattern (per pixel when dense), by 3×3 convolution of the
        hidden patches around them; written into out when given."""
        hidden = F.pad(self._hidden(layout, token_taps), (0, 0, 0, 1))  # the zero row stands for conv padding
        if out is None:
            out = torch.empty(len(layout.band_slots), self.gamma_beta.out_features, dtype=hidden.dtype, device=hidden.device)
        for start in range(0, len(layout.band_slots), BAND_CHUNK):  # chunks bound im2col memory
            slots = layout.band_slots[start:start + BAND_CHUNK]
            out[start:start + len(slots)] = self.gamma_beta(F.embedding(slots, hidden).flatten(1))
        return out

    def forward(self, x: torch.Tensor, layout: Tokens, slope: float | None = None, upsample: bool = False,
                project: Affine | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
        """SPADE(x), then a leaky ReLU with `slope` when given; x and the result are channels_last.

        upsample=True: x is at half the layout's resolution and is read as its nearest ×2 upsampling (not for
        dense layouts). project: a per-pixel product (a 1×1 convolution) applied to the result, chunk by
        chunk, so the full SPADE output is never stored. out: the tensor to write into (x itself is allowed).
        """
        n, h, w = layout.shape
        c = x.shape[1]
        token_taps = self._token_taps(layout)
        if layout.dense:
            if upsample:
                raise ValueError("dense layouts take x at their own resolution")
            if self.gb_conv is not None:
                hidden = as_channels_last(self._hidden(layout, token_taps), n, h, w)
                gamma_beta = F.conv2d(hidden, self.gb_conv, self.gamma_beta.bias, padding=1)
                gamma_beta = gamma_beta.permute(0, 2, 3, 1).reshape(-1, 2 * c)
            else:
                gamma_beta = self._band_gamma_beta(layout, token_taps)
            scale, shift = (as_channels_last(t, n, h, w) for t in self._scale_shift(gamma_beta))
            result = torch.addcmul(shift, x, scale, out=out if project is None else None)
            if slope is not None:
                F.leaky_relu_(result, slope)
            return result if project is None else as_channels_last(project(pixel_rows(result)), n, h, w)
        out_channels = c if project is None else project.out_features
        if out is None:
            out = torch.empty(n, out_channels, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        self.modulate(pixel_rows(x), self.tables(layout, token_taps), layout.rows, pixel_rows(out), slope,
                      layout.half_res_source if upsample else None, project)
        return out

    def tables(self, layout: Tokens, token_taps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(P + patterns, C) scale and shift for a layout that is not dense: one row per token in use (its 5×5
        neighbourhood uniform: every tap sees that token), then one per band pattern; layout.rows indexes them."""
        token_taps = self._token_taps(layout) if token_taps is None else token_taps
        tokens = token_taps.shape[1]
        gamma_beta = torch.empty(tokens + len(layout.band_slots), self.gamma_beta.out_features, dtype=token_taps.dtype,
                                 device=token_taps.device)
        uniform_hidden = F.relu(token_taps.sum(0) + self.shared_bias)
        torch.addmm(self.gamma_beta.bias, uniform_hidden, self.gb_summed, out=gamma_beta[:tokens])
        if len(layout.band_slots):
            self._band_gamma_beta(layout, token_taps, out=gamma_beta[tokens:])
        return self._scale_shift(gamma_beta)

    def modulate(self, x_rows: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor,
                 out_rows: torch.Tensor, slope: float | None = None, source: torch.Tensor | None = None,
                 project: Affine | None = None) -> None:
        """out_rows[i] = act(x_rows[source[i]] · scale[rows[i]] + shift[rows[i]]) (x_rows[i] without source), then
        project when given; scale, shift = tables (see tables()). Fused, chunk by chunk."""
        scale, shift = tables
        c = x_rows.shape[1]
        step = max(1, MODULATION_CHUNK // c)
        buffers = torch.empty(4, min(step, len(rows)), c, dtype=x_rows.dtype, device=x_rows.device)  # reused
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


def as_channels_last(rows: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """(N·H·W, C) pixel rows -> the (N, C, H, W) channels_last tensor viewing them."""
    return rows.view(n, h, w, -1).permute(0, 3, 1, 2)


def pixel_rows(x: torch.Tensor) -> torch.Tensor:
    """A channels_last (N, C, H, W) tensor as a (N·H·W, C) view (an error, never a copy, for other layouts)."""
    return x.permute(0, 2, 3, 1).view(-1, x.shape[1])


class FastBlock(nn.Module):
    """SPADEResnetBlock with folded, prepacked convolutions (3×3 ones in conv_dtype) and FastSPADE norms."""

    def __init__(self, block: SPADEResnetBlock, conv_dtype: torch.dtype = torch.float32, in_place: bool = False) -> None:
        super().__init__()
        self.learned_shortcut = block.learned_shortcut
        weight_0 = folded_weight(block.conv_0, in_place)
        self.conv_0 = folded_conv(block.conv_0, conv_dtype, weight=weight_0)
        self.conv_1 = folded_conv(block.conv_1, conv_dtype, in_place)
        # small conv_0s also get the forms that read a nearest-upsampled input from the map itself (exact)
        self.subpixel = conv_dtype == torch.float32 and weight_0.numel() <= SUBPIXEL_WEIGHTS
        if self.subpixel:
            bias = block.conv_0.bias.detach()
            self.conv_0_phases = PrepackedConv(subpixel_weight(weight_0), bias.repeat(4), [0, 1])
            self.conv_0_rows = Affine(weight_0.permute(0, 2, 3, 1).reshape(weight_0.shape[0], -1), bias)
        self.norm_0 = FastSPADE(block.norm_0)
        self.norm_1 = FastSPADE(block.norm_1)
        if self.learned_shortcut:  # conv_s is 1×1: a per-pixel product, fused into norm_s
            self.conv_s = Affine(folded_weight(block.conv_s, in_place).flatten(1), None)
            self.norm_s = FastSPADE(block.norm_s)

    def forward(self, x: torch.Tensor, layout: Tokens, upsample: bool = False) -> torch.Tensor:
        """The block on x; upsample=True: on x's nearest ×2 upsampling, read from x where the layout allows."""
        if upsample and (layout.dense or not self.learned_shortcut):  # upsampled x is needed whole
            x, upsample = F.interpolate(x, scale_factor=2, mode="nearest"), False
        shortcut = self.norm_s(x, layout, upsample=upsample, project=self.conv_s) if self.learned_shortcut else x
        if layout.dense:
            dx = self.conv_0(self.norm_0(x, layout, LRELU_SLOPE))
        else:
            dx = self._conv_0_subpixel(x, layout) if upsample and self.subpixel else None
            dx = self._conv_0_by_row_tiles(x, layout, upsample) if dx is None else dx
        return self.conv_1(self.norm_1(dx, layout, LRELU_SLOPE, out=dx), add_to=shortcut)

    def _conv_0_subpixel(self, x: torch.Tensor, layout: Tokens) -> torch.Tensor | None:
        """conv_0(leaky_relu(norm_0(upsample(x)))) from the half-resolution x: wherever a 2×2 block of the input
        is modulated alike, the input is the upsampling of a half-resolution map and the 3×3 convolution becomes
        four 2×2 ones on that map (16 instead of 36 multiply-adds per pixel); pixels near blocks modulated unlike
        are recomputed exactly. None when those are too many to gain."""
        n, h, w = layout.shape
        rows = layout.rows.view(n, h, w)
        block_rows = rows[:, ::2, ::2]  # each 2×2 block's top-left row stands for the block
        unlike = rows != block_rows.repeat_interleave(2, 1).repeat_interleave(2, 2)
        fix = dilate(unlike).reshape(-1).nonzero().squeeze(1)  # output pixels that read a pixel unlike its block
        if len(fix) > SUBPIXEL_FRACTION * n * h * w:
            return None
        c, half_h, half_w = x.shape[1], h // 2, w // 2
        tables = self.norm_0.tables(layout)
        cout = self.conv_0_rows.out_features
        out = torch.empty(n, cout, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        # one image's modulated half-resolution map between zero rows (the vertical conv padding)
        padded = x.new_zeros(1, c, half_h + 2, half_w).contiguous(memory_format=torch.channels_last)
        tile_rows = max(1, CONV_TILE // ((half_w + 1) * 4 * cout))
        for image in range(n):
            self.norm_0.modulate(pixel_rows(x[image:image + 1]), tables, block_rows[image].reshape(-1),
                                 pixel_rows(padded[:, :, 1:-1]), LRELU_SLOPE)
            for top in range(0, half_h + 1, tile_rows):  # rows of phase outputs: phase 2a+b at (Y+a, X+b)
                bottom = min(half_h + 1, top + tile_rows)
                phases = self.conv_0_phases(padded[:, :, top:bottom + 1])
                for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):
                    first, last = max(top - a, 0), min(bottom - a, half_h)  # the tile's Y for this phase
                    k = 2 * a + b
                    out[image:image + 1, :, 2 * first + a:2 * last + a:2, b::2] = \
                        phases[:, k * cout:(k + 1) * cout, first + a - top:last + a - top, b:b + half_w]
        if len(fix):  # exact im2col products, from the modulated full-resolution input around those pixels
            everywhere = torch.arange(n * h * w, device=x.device)
            around = neighbourhoods(everywhere.view(n, h, w), fix, 1, n * h * w)  # (F, 9); N·H·W: outside
            outside = around == n * h * w
            around = around.masked_fill(outside, 0)
            x_rows, out_rows = pixel_rows(x), pixel_rows(out)
            step = max(1, IM2COL_CHUNK // (KERNEL_TAPS * c))
            patches = x.new_empty(min(step, len(fix)) * KERNEL_TAPS, c)
            for start in range(0, len(fix), step):
                part = slice(start, start + step)
                pixels = around[part].reshape(-1)
                patch = patches[:len(pixels)]
                self.norm_0.modulate(x_rows, tables, layout.rows[pixels], patch, LRELU_SLOPE,
                                     layout.half_res_source[pixels])
                patch[outside[part].reshape(-1)] = 0  # conv padding
                out_rows[fix[part]] = self.conv_0_rows(patch.view(-1, KERNEL_TAPS * c))
        return out

    def _conv_0_by_row_tiles(self, x: torch.Tensor, layout: Tokens, upsample: bool) -> torch.Tensor:
        """conv_0(leaky_relu(norm_0(x))) computed tile by tile of rows, each tile with its neighbour rows."""
        n, h, w = layout.shape
        c = x.shape[1]
        tables = self.norm_0.tables(layout)
        x_rows = pixel_rows(x)
        out = torch.empty(n, self.conv_0.bias.shape[0], h, w, dtype=x.dtype, device=x.device,
                          memory_format=torch.channels_last)
        tile_rows = max(1, CONV_TILE // (w * c))
        buffer = torch.empty(1, c, min(tile_rows, h) + 2, w, dtype=x.dtype, device=x.device,
                             memory_format=torch.channels_last)
        for image in range(n):
            for top in range(0, h, tile_rows):
                bottom = min(h, top + tile_rows)
                tile = buffer[:, :, :bottom - top + 2]  # rows top-1 .. bottom; zeros outside the image
                first, last = max(0, top - 1), min(h, bottom + 1)
                if top == 0:
                    tile[:, :, 0].zero_()
                if bottom == h:
                    tile[:, :, -1].zero_()
                rows = pixel_rows(tile)[(first - top + 1) * w:(last - top + 1) * w]
                pixels = slice(image * h * w + first * w, image * h * w + last * w)
                self.norm_0.modulate(x_rows if upsample else x_rows[pixels], tables, layout.rows[pixels], rows,
                                     LRELU_SLOPE, layout.half_res_source[pixels] if upsample else None)
                out[image:image + 1, :, top:bottom] = self.conv_0(tile, padding=[0, 1])
        return out


class FastSPADEGenerator(nn.Module):
    """Eval-only twin of a SPADEGenerator: the same image from the same one-hot input, or from the label ids."""

    def __init__(self, generator: SPADEGenerator, release_source: bool = False,
                 conv_dtype: torch.dtype = torch.float32) -> None:
        """release_source=True frees each source block once folded and returns the memory (the source generator is
        unusable after).

        conv_dtype=torch.bfloat16 runs the main 3×3 convolutions in bf16: faster, no longer exact (opt-in).
        """
        super().__init__()
        self.preset = generator.preset
        self.fc = generator.fc if self.preset.use_vae else folded_conv(generator.fc)  # VAE models: a Linear
        self.sh, self.sw = generator.sh, generator.sw
        preset = self.preset
        self.label_channels = preset.label_nc + int(preset.contain_dontcare_label)
        self.edge_states = 2 if preset.use_instance else 1
        # token t = label * edge_states + edge; its one-hot input vector, as rows of (T, semantic_nc)
        token_inputs = torch.zeros(self.label_channels * self.edge_states, preset.semantic_nc)
        for label in range(self.label_channels):
            for edge in range(self.edge_states):
                token_inputs[label * self.edge_states + edge, label] = 1
                if edge:
                    token_inputs[label * self.edge_states + edge, -1] = 1
        self.register_buffer("token_inputs", token_inputs)
        names = ["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"]
        if preset.num_upsampling_layers == "most":
            names.append("up_4")
        self.blocks = nn.ModuleDict()
        with torch.no_grad():
            for name in names:
                self.blocks[name] = FastBlock(getattr(generator, name), conv_dtype, in_place=release_source)
                if release_source:
                    setattr(generator, name, nn.Identity())
                    release_free_memory()  # keeps the load's peak near the source model's size
        self.conv_img = folded_conv(generator.conv_img)
        self.eval().requires_grad_(False)

    def tokens(self, seg: torch.Tensor) -> torch.Tensor:
        """(N, S, H, W) one-hot input -> (N, H, W) token ids; anything not one-hot is refused."""
        one_hot = seg[:, : self.label_channels]
        weights = torch.stack([torch.ones(self.label_channels), torch.arange(self.label_channels)]).to(seg)
        total, ids = torch.einsum("nshw,ks->knhw", one_hot, weights)  # one pass: channel sum and label id
        # every pixel sums to exactly 1 and there are as many nonzeros as pixels: one 1 per pixel, zeros elsewhere
        if not (bool((total == 1).all()) and int(torch.count_nonzero(one_hot)) == total.numel()):
            raise ValueError("the fast generator needs a one-hot label input (use the reference path otherwise)")
        tokens = ids.round().long() * self.edge_states
        if self.edge_states == 2:
            tokens = tokens + (seg[:, -1] > 0.5).long()
        return tokens

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.from_tokens(self.tokens(seg), z)

    def from_compact(self, channels: torch.Tensor, edges: torch.Tensor | None,
                     z: torch.Tensor | None = None) -> torch.Tensor:
        """The image from compact_semantics' output, without building the one-hot input."""
        tokens = channels[:, 0] * self.edge_states
        if self.edge_states == 2:
            tokens = tokens + (edges[:, 0] > 0.5).long()
        return self.from_tokens(tokens, z)

    def from_tokens(self, tokens: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """The image from (N, H, W) token ids (see tokens())."""
        # the tokens in use (SPADE tables are built for these alone) and the map renumbered into them
        present = torch.bincount(tokens.reshape(-1), minlength=len(self.token_inputs)) > 0
        in_use, compact = present.nonzero().squeeze(1), (present.cumsum(0) - 1)[tokens]
        layouts: dict[tuple[int, int], Tokens] = {}

        def layout(h: int, w: int) -> Tokens:
            if (h, w) not in layouts:
                layouts[h, w] = Tokens(nearest(compact, h, w), self.token_inputs[in_use])
            return layouts[h, w]

        if self.preset.use_vae:
            if z is None:
                z = torch.randn(tokens.shape[0], self.preset.z_dim, device=tokens.device)
            x = self.fc(z).view(-1, 16 * self.preset.ngf, self.sh, self.sw)
        else:  # the one-hot input at (sh, sw), rebuilt from the tokens there
            x = self.fc(self.token_inputs[nearest(tokens, self.sh, self.sw)].permute(0, 3, 1, 2))
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.blocks["head_0"](x, layout(self.sh, self.sw))
        upsampled = ["G_middle_0", "G_middle_1"] if self.preset.num_upsampling_layers in ("more", "most") else ["G_middle_0"]
        for name, block in self.blocks.items():
            if name != "head_0":
                upsample = name in upsampled or name.startswith("up_")
                x = block(x, layout(x.shape[2] * (1 + upsample), x.shape[3] * (1 + upsample)), upsample)
        return torch.tanh(self.conv_img(F.leaky_relu_(x, LRELU_SLOPE))).contiguous()
