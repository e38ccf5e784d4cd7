"""The pix2pix U-Net generator, laid out so that the reference implementation's state_dicts load unchanged.

Nested skip blocks (outermost first): each inner block is [LeakyReLU, Conv 4x4/2, norm] + inner block +
[ReLU, ConvTranspose 4x4/2, norm (+ Dropout 0.5)] and returns cat([x, block(x)]); the innermost has no
norm after its down convolution; the outermost ends with Tanh and does not concatenate. As in the reference,
the first LeakyReLU acts in place, so the skip half of the concatenation is LeakyReLU(x), not x.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = {"unet_256": 8, "unet_128": 7}
NORMS = ("batch", "instance")
LEVELS = range(5, 11)  # the depths UnetGenerator takes


class _ImageStatistics:
    """Mixin for norm layers: in eval mode, optionally normalise with each image's own statistics."""

    image_statistics = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.image_statistics:
            return super().forward(x)
        return F.instance_norm(x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps)


class BatchNorm(_ImageStatistics, nn.BatchNorm2d):
    """nn.BatchNorm2d (same state_dict) that can use per-image statistics at inference."""


class InstanceNorm(_ImageStatistics, nn.InstanceNorm2d):
    """nn.InstanceNorm2d without affine, tracking running statistics (the reference's layout)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=False, track_running_stats=True)


class SkipBlock(nn.Module):
    """One level of the U-Net; `model` is the Sequential whose indices give the reference key names."""

    def __init__(self, outer: int, inner: int, submodule: nn.Module | None = None, in_channels: int | None = None,
                 out_channels: int | None = None, norm: str = "batch", dropout: bool = False) -> None:
        super().__init__()
        self.outermost = out_channels is not None
        make_norm = BatchNorm if norm == "batch" else InstanceNorm
        bias = norm == "instance"  # batch norm's shift makes a convolution bias redundant
        down = nn.Conv2d(in_channels or outer, inner, 4, stride=2, padding=1, bias=bias)
        if self.outermost:
            up = nn.ConvTranspose2d(inner * 2, out_channels, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:  # innermost
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, make_norm(inner), submodule, nn.ReLU(True), up, make_norm(outer)]
            layers += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # The reference's LeakyReLU works in place, so its skip connection carries the activated input.
        x = self.model[0](x)
        return torch.cat([x, self.model[1:](x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix U-Net: `depth` stride-2 levels (8 = unet_256, 7 = unet_128), widths ngf·(1, 2, 4, 8, 8, ...)."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, depth: int = 8, ngf: int = 64, norm: str = "batch",
                 dropout: bool = True) -> None:
        super().__init__()
        if norm not in NORMS or depth not in LEVELS:
            raise ValueError(f"expected norm in {NORMS} and depth 5..10, found norm={norm!r} depth={depth}")
        self.config = {"input_nc": input_nc, "output_nc": output_nc, "depth": depth, "ngf": ngf, "norm": norm,
                       "dropout": dropout}
        block = SkipBlock(ngf * 8, ngf * 8, norm=norm)
        for _ in range(depth - 5):
            block = SkipBlock(ngf * 8, ngf * 8, block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = SkipBlock(ngf * mult, ngf * mult * 2, block, norm=norm)
        self.model = SkipBlock(output_nc, ngf, block, in_channels=input_nc, out_channels=output_nc, norm=norm)

    @property
    def grid(self) -> int:
        """The input side the reference trains at (2**depth: 256 or 128)."""
        return 2 ** self.config["depth"]

    def set_inference(self, eval_mode: bool = True, dropout: bool = False) -> "UnetGenerator":
        """Inference modes: eval_mode=True uses running statistics; False each image's own statistics.

        dropout=True keeps the reference's dropout noise on (seed torch's generator for repeatable images).
        """
        self.eval()
        for module in self.modules():
            if isinstance(module, _ImageStatistics):
                module.image_statistics = not eval_mode
            elif isinstance(module, nn.Dropout):
                module.train(dropout)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def unet_config_from_state(state: dict[str, torch.Tensor]) -> dict:
    """Reconstruct UnetGenerator arguments from a reference state_dict's keys and shapes."""
    first = state.get("model.model.0.weight")
    last = state.get("model.model.3.weight")
    if first is None or last is None or first.dim() != 4 or last.dim() != 4:
        raise ValueError("not a pix2pix U-Net state_dict: model.model.0.weight / model.model.3.weight are missing")
    depth = max(k.split(".").count("model") for k in state) - 1
    norm = "instance" if "model.model.0.bias" in state else "batch"  # batch norm makes conv biases redundant
    dropout = True  # dropout has no weights; the reference's released U-Nets all use it
    return {"input_nc": int(first.shape[1]), "output_nc": int(last.shape[1]), "depth": depth,
            "ngf": int(first.shape[0]), "norm": norm, "dropout": dropout}
