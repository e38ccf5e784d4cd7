"""A sketch reader: a line drawing -> per-pixel label logits, so a SPADE generator can paint what was outlined."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .segmenter import Segmenter


class LayoutReader(nn.Module):
    """A small U-Net over the sketch (area-resized to grid²) and a vertical position ramp; its logits come back
    bilinearly resized to the sketch's size. The ramp lets large unmarked regions be read by where they are."""

    def __init__(self, num_classes: int, width: int = 16, grid: int = 128) -> None:
        super().__init__()
        if grid % 8:
            raise ValueError(f"grid must be a multiple of 8, found {grid}")
        self.config = {"num_classes": num_classes, "width": width, "grid": grid}
        self.segmenter = Segmenter(num_classes, width, in_channels=2)

    def forward(self, sketch: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) grey sketch in [-1, 1] (white paper = 1) -> (N, num_classes, H, W) logits."""
        grid = self.config["grid"]
        small = F.interpolate(sketch, size=(grid, grid), mode="area")
        ramp = torch.linspace(-1, 1, grid, device=sketch.device, dtype=sketch.dtype).view(1, 1, grid, 1)
        logits = self.segmenter(torch.cat([small, ramp.expand(len(sketch), 1, grid, grid)], 1))
        return F.interpolate(logits, size=sketch.shape[2:], mode="bilinear", align_corners=False)
