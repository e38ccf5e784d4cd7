"""A class-conditional sketch-to-photo generator (SketchyGAN-style), with plain or masked residual blocks.

The class enters twice: as learned constant planes beside the sketch (so the first layers already know
what to draw) and as an embedding concatenated at the bottleneck (so the global layout can depend on it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BLOCKS = ("conv", "mru")
LEVELS = range(2, 11)  # the depths ClassConditionalGenerator takes


class MRU(nn.Module):
    """Masked residual unit (SketchyGAN, Chen & Hays 2018).

    The sketch, resized to the current scale, enters every unit. A sigmoid mask m picks which incoming
    features the update convolution sees (together with the sketch); a sigmoid gate n then mixes that update
    with the incoming features per pixel: y = (1 - n) * x + n * update([m * x, sketch]). Deep layers
    can thus keep returning to the sketch instead of relying on what survived the earlier layers.
    """

    def __init__(self, channels: int, sketch_channels: int) -> None:
        super().__init__()
        both = channels + sketch_channels
        self.mask = nn.Conv2d(both, channels, 3, padding=1)
        self.gate = nn.Conv2d(both, channels, 3, padding=1)
        self.update = nn.Sequential(nn.Conv2d(both, channels, 3, padding=1), nn.InstanceNorm2d(channels, affine=True),
                                    nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor, sketch: torch.Tensor) -> torch.Tensor:
        s = F.interpolate(sketch, size=x.shape[-2:], mode="bilinear", align_corners=False)
        xs = torch.cat([x, s], 1)
        m, n = torch.sigmoid(self.mask(xs)), torch.sigmoid(self.gate(xs))
        return (1 - n) * x + n * self.update(torch.cat([m * x, s], 1))


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.InstanceNorm2d(cout, affine=True),
                         nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.InstanceNorm2d(cout, affine=True),
                         nn.ReLU())


class ClassConditionalGenerator(nn.Module):
    """U-shaped encoder/decoder conditioned on (sketch, class id); `block="mru"` adds an MRU at every scale."""

    def __init__(self, num_classes: int, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, depth: int = 4,
                 block: str = "conv", class_planes: int = 4, embed_dim: int = 32) -> None:
        super().__init__()
        if block not in BLOCKS or num_classes < 1 or depth not in LEVELS:
            raise ValueError(f"expected block in {BLOCKS}, num_classes >= 1 and depth 2..10, found {block!r}, "
                             f"{num_classes}, {depth}")
        self.config = {"num_classes": num_classes, "input_nc": input_nc, "output_nc": output_nc, "ngf": ngf,
                       "depth": depth, "block": block, "class_planes": class_planes, "embed_dim": embed_dim}
        widths = [ngf * min(2 ** i, 8) for i in range(depth)]
        self.class_planes = nn.Embedding(num_classes, class_planes)
        self.class_embedding = nn.Embedding(num_classes, embed_dim)
        self.down = nn.ModuleList(_down(cin, cout) for cin, cout in zip([input_nc + class_planes, *widths], widths))
        self.bottleneck = nn.Sequential(nn.Conv2d(widths[-1] + embed_dim, widths[-1], 3, padding=1), nn.ReLU())
        ups = [_up(2 * widths[i], widths[i - 1]) for i in range(depth - 1, 0, -1)]
        self.up = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * widths[0], output_nc, 4, stride=2, padding=1), nn.Tanh())
        use_mru = block == "mru"
        self.down_mru = nn.ModuleList(MRU(w, input_nc) for w in widths) if use_mru else None
        self.up_mru = nn.ModuleList(MRU(widths[i - 1], input_nc) for i in range(depth - 1, 0, -1)) if use_mru else None

    @property
    def grid(self) -> int:
        """The smallest input side the network divides evenly (2**depth); models train at their own size."""
        return 2 ** self.config["depth"]

    def forward(self, sketch: torch.Tensor, class_id: torch.Tensor) -> torch.Tensor:
        n, _, h, w = sketch.shape
        planes = self.class_planes(class_id)[:, :, None, None].expand(-1, -1, h, w)
        x, skips = torch.cat([sketch, planes], 1), []
        for i, down in enumerate(self.down):
            x = down(x)
            x = self.down_mru[i](x, sketch) if self.down_mru is not None else x
            skips.append(x)
        embedding = self.class_embedding(class_id)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        x = self.bottleneck(torch.cat([x, embedding], 1))
        for i, up in enumerate(self.up):
            x = up(torch.cat([x, skips[-1 - i]], 1))
            x = self.up_mru[i](x, sketch) if self.up_mru is not None else x
        return self.out(torch.cat([x, skips[0]], 1))
