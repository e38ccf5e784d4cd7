"""The fast generator's plan for one label map: per resolution a dense or band layout, per block how its upsampled
input and its conv_0 run. Every threshold that picks a path lives here; explain() prints a plan."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .conv_0 import subpixel_recompute
from .generator import BlockSpec
from .token_layout import BandLayout, DenseLayout, Layout, band_pixels, nearest

if TYPE_CHECKING:
    from .fast_generator import FastBlock

DENSE_FRACTION = 0.5  # band share of a resolution's pixels above which its SPADE convolutions run densely
SUBPIXEL_FRACTION = 0.35  # share of pixels the sub-pixel conv_0 would recompute above which row tiles run instead
SUBPIXEL_WEIGHTS = 2**21  # conv_0 weights up to this many values also keep their sub-pixel forms (2.8x the memory)
DIRECT_GAMMA_BETA_WEIGHTS = 2**18  # γ|β weights up to this many values keep a copy for direct dense convolutions

CONV_0_DENSE, CONV_0_ROW_TILES, CONV_0_SUBPIXEL = "dense", "row tiles", "sub-pixel"


@dataclass
class BlockPlan:
    """How one block runs on one label map."""

    spec: BlockSpec
    layout: Layout
    read_half_resolution: bool  # the upsampled input is read from the previous map, never stored whole
    conv_0: str  # CONV_0_DENSE, CONV_0_ROW_TILES or CONV_0_SUBPIXEL
    recompute: torch.Tensor | None = None  # sub-pixel conv_0: the output pixels recomputed exactly


def make_layout(tokens: torch.Tensor, token_inputs: torch.Tensor) -> Layout:
    """The layout of one resolution: dense when the band covers more than DENSE_FRACTION of the pixels."""
    band = band_pixels(tokens)
    if len(band) > DENSE_FRACTION * tokens.numel():
        return DenseLayout(tokens, token_inputs, band)
    return BandLayout(tokens, token_inputs, band)


def plan_block(spec: BlockSpec, block: FastBlock, layout: Layout) -> BlockPlan:
    """The paths of one block on one layout."""
    if isinstance(layout, DenseLayout):
        return BlockPlan(spec, layout, False, CONV_0_DENSE)
    # without a learned shortcut the shortcut is the upsampled input itself: it is stored whole anyway
    read_half = spec.upsample and block.learned_shortcut
    if read_half and block.subpixel is not None:
        recompute = subpixel_recompute(layout)
        if len(recompute) <= SUBPIXEL_FRACTION * layout.rows.numel():
            return BlockPlan(spec, layout, True, CONV_0_SUBPIXEL, recompute)
    return BlockPlan(spec, layout, read_half, CONV_0_ROW_TILES)


def plan(schedule: list[BlockSpec], blocks: dict[str, FastBlock], tokens: torch.Tensor, token_inputs: torch.Tensor,
         start: tuple[int, int]) -> list[BlockPlan]:
    """Each block's plan, in running order, for (N, H, W) tokens (ids into token_inputs, the tokens in use); the
    first block runs at `start` (sh, sw). Blocks at one resolution share its layout."""
    layouts: dict[tuple[int, int], Layout] = {}
    plans = []
    h, w = start
    for spec in schedule:
        h, w = (2 * h, 2 * w) if spec.upsample else (h, w)
        if (h, w) not in layouts:
            layouts[h, w] = make_layout(nearest(tokens, h, w), token_inputs)
        plans.append(plan_block(spec, blocks[spec.name], layouts[h, w]))
    return plans


def explain(plans: list[BlockPlan], blocks: dict[str, FastBlock]) -> str:
    """A plan as text: one line per block (resolution, layout, band share, distinct 5×5 patterns and 3×3 windows,
    upsampling, conv_0, where γ|β rows are computed)."""
    lines = [f"{'block':<11} {'size':>9} {'layout':<6} {'band':>6} {'patterns':>8} {'windows':>8}  "
             f"{'upsampled input':<20} {'conv_0':<24} γ|β"]
    for p in plans:
        n, h, w = p.layout.shape
        band = isinstance(p.layout, BandLayout)
        share = len(p.layout.band) / (n * h * w)
        patterns = str(p.layout.patterns) if band else "-"
        upsampled = "-" if not p.spec.upsample else "read from half-res" if p.read_half_resolution else "stored whole"
        conv_0 = p.conv_0
        if p.recompute is not None:
            conv_0 += f" ({len(p.recompute) / (n * h * w):.0%} exact)"
        direct = blocks[p.spec.name].norm_0.gb_conv is not None
        gamma_beta = "per pattern" if band else "direct conv" if direct else "per pixel"
        lines.append(f"{p.spec.name:<11} {f'{h}x{w}':>9} {'band' if band else 'dense':<6} {share:6.0%} {patterns:>8} "
                     f"{len(p.layout.taps):>8}  {upsampled:<20} {conv_0:<24} {gamma_beta}")
    return "\n".join(lines)
