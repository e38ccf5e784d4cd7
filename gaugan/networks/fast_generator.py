"""An exact, faster SPADE generator for eval: same outputs (to float rounding) as SPADEGenerator.

Built once from a loaded SPADEGenerator:
- spectral-norm σ and batch-norm running statistics are folded into plain weights and tables (prepacked.py);
- it reads label ids ("tokens": label and instance edge) instead of the one-hot tensor (fast_spade.py);
- per resolution, SPADE's γ, β are computed densely or only along label boundaries (token_layout.py), and each
  block's conv_0 runs densely, by row tiles or in sub-pixel form (conv_0.py), as the plan decides (fast_plan.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conv_0 import SubpixelConv, conv_0_by_row_tiles, conv_0_dense
from .fast_plan import CONV_0_DENSE, CONV_0_SUBPIXEL, SUBPIXEL_WEIGHTS, BlockPlan, explain, plan
from .fast_spade import FastSPADE
from .generator import SPADEGenerator
from .prepacked import Affine, folded_conv, folded_weight
from .spade import LRELU_SLOPE, SPADEResnetBlock
from .token_layout import nearest


class FastBlock(nn.Module):
    """SPADEResnetBlock with folded, prepacked convolutions (3×3 ones in conv_dtype) and FastSPADE norms."""

    def __init__(self, block: SPADEResnetBlock, conv_dtype: torch.dtype = torch.float32, in_place: bool = False) -> None:
        super().__init__()
        self.learned_shortcut = block.learned_shortcut
        weight_0 = folded_weight(block.conv_0, in_place)
        self.conv_0 = folded_conv(block.conv_0, conv_dtype, weight=weight_0)
        self.conv_1 = folded_conv(block.conv_1, conv_dtype, in_place)
        # small float32 conv_0s also get the forms that read a nearest-upsampled input from the map itself
        small = conv_dtype == torch.float32 and weight_0.numel() <= SUBPIXEL_WEIGHTS
        self.subpixel = SubpixelConv(weight_0, block.conv_0.bias.detach()) if small else None
        self.norm_0 = FastSPADE(block.norm_0)
        self.norm_1 = FastSPADE(block.norm_1)
        if self.learned_shortcut:  # conv_s is 1×1: a per-pixel product, fused into norm_s
            self.conv_s = Affine(folded_weight(block.conv_s, in_place).flatten(1), None)
            self.norm_s = FastSPADE(block.norm_s)

    def forward(self, x: torch.Tensor, step: BlockPlan) -> torch.Tensor:
        """The block on x (on its nearest ×2 upsampling when step.spec.upsample), the way step says."""
        layout = step.layout
        if step.spec.upsample and not step.read_half_resolution:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        half = step.read_half_resolution
        shortcut = self.norm_s(x, layout, upsample=half, project=self.conv_s) if self.learned_shortcut else x
        if step.conv_0 == CONV_0_DENSE:
            dx = conv_0_dense(self.conv_0, self.norm_0, x, layout)
        elif step.conv_0 == CONV_0_SUBPIXEL:
            dx = self.subpixel(self.norm_0, x, layout, step.recompute)
        else:
            dx = conv_0_by_row_tiles(self.conv_0, self.norm_0, x, layout, half)
        return self.conv_1(self.norm_1(dx, layout, LRELU_SLOPE, out=dx), add_to=shortcut)


class FastSPADEGenerator(nn.Module):
    """Eval-only twin of a SPADEGenerator: the same image from the same one-hot input, or from the label ids."""

    def __init__(self, generator: SPADEGenerator, release_source: bool = False,
                 conv_dtype: torch.dtype = torch.float32) -> None:
        """release_source=True folds into the source's weights and frees each source block once folded (the source
        generator is unusable after).

        conv_dtype=torch.bfloat16 runs the main 3×3 convolutions in bf16: faster, no longer exact (opt-in).
        """
        super().__init__()
        self.preset = generator.preset
        self.fc = generator.fc if self.preset.use_vae else folded_conv(generator.fc)  # VAE models: a Linear
        self.sh, self.sw = generator.sh, generator.sw
        preset = self.preset
        self.label_channels = preset.label_channels
        self.edge_states = 2 if preset.use_instance else 1
        # token t = label * edge_states + edge; its one-hot input vector, as rows of (T, semantic_nc)
        token_inputs = torch.zeros(self.label_channels * self.edge_states, preset.semantic_nc)
        for label in range(self.label_channels):
            for edge in range(self.edge_states):
                token_inputs[label * self.edge_states + edge, label] = 1
                if edge:
                    token_inputs[label * self.edge_states + edge, -1] = 1
        self.register_buffer("token_inputs", token_inputs)
        self.schedule = generator.schedule
        self.blocks = nn.ModuleDict()
        with torch.no_grad():
            for spec in self.schedule:
                self.blocks[spec.name] = FastBlock(getattr(generator, spec.name), conv_dtype, in_place=release_source)
                if release_source:
                    setattr(generator, spec.name, nn.Identity())
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

    def compact_tokens(self, channels: torch.Tensor, edges: torch.Tensor | None) -> torch.Tensor:
        """compact_semantics' output -> (N, H, W) token ids, without building the one-hot input."""
        tokens = channels[:, 0] * self.edge_states
        if self.edge_states == 2:
            tokens = tokens + (edges[:, 0] > 0.5).long()
        return tokens

    def from_compact(self, channels: torch.Tensor, edges: torch.Tensor | None,
                     z: torch.Tensor | None = None) -> torch.Tensor:
        """The image from compact_semantics' output."""
        return self.from_tokens(self.compact_tokens(channels, edges), z)

    def plan(self, tokens: torch.Tensor) -> list[BlockPlan]:
        """How each block runs on (N, H, W) token ids (see tokens()): layouts built for the tokens in use."""
        present = torch.bincount(tokens.reshape(-1), minlength=len(self.token_inputs)) > 0
        in_use, compact = present.nonzero().squeeze(1), (present.cumsum(0) - 1)[tokens]
        return plan(self.schedule, self.blocks, compact, self.token_inputs[in_use], (self.sh, self.sw))

    def explain(self, tokens: torch.Tensor) -> str:
        """The plan for tokens as a table (see fast_plan.explain)."""
        return explain(self.plan(tokens), self.blocks)

    def from_tokens(self, tokens: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """The image from (N, H, W) token ids (see tokens())."""
        if self.preset.use_vae:
            if z is None:
                z = torch.randn(tokens.shape[0], self.preset.z_dim, device=tokens.device)
            x = self.fc(z).view(-1, 16 * self.preset.ngf, self.sh, self.sw)
        else:  # the one-hot input at (sh, sw), rebuilt from the tokens there
            x = self.fc(self.token_inputs[nearest(tokens, self.sh, self.sw)].permute(0, 3, 1, 2))
        x = x.contiguous(memory_format=torch.channels_last)
        for step in self.plan(tokens):
            x = self.blocks[step.spec.name](x, step)
        return torch.tanh(self.conv_img(F.leaky_relu_(x, LRELU_SLOPE))).contiguous()
