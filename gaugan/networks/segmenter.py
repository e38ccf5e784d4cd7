"""A compact encoder-decoder segmenter, the yardstick for label fidelity and feature distances."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class Segmenter(nn.Module):
    """A small U-Net: image in [-1, 1] -> per-pixel class logits; `features` gives pooled bottleneck features."""

    def __init__(self, num_classes: int, width: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        self.down = nn.ModuleList(_stage(cin, cout) for cin, cout in zip([in_channels, *widths[:-1]], widths))
        self.up = nn.ModuleList(_stage(widths[i] + widths[i + 1], widths[i]) for i in reversed(range(3)))
        self.head = nn.Conv2d(width, num_classes, 1)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        x = image
        for i, stage in enumerate(self.down):
            x = stage(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        return skips

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 8·width) globally pooled bottleneck features, for Fréchet distances."""
        bottleneck = self.encode(image)[-1]
        return torch.cat([bottleneck.mean((2, 3)), bottleneck.std((2, 3))], dim=1)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Everything training changed (all weights): what a segmenter folder stores."""
        return self.state_dict()

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        self.load_state_dict(state)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        skips = self.encode(image)
        x = skips[-1]
        for stage, skip in zip(self.up, reversed(skips[:-1])):
            x = stage(torch.cat([F.interpolate(x, size=skip.shape[2:], mode="nearest"), skip], dim=1))
        return self.head(x)
