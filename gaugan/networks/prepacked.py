"""Eval-time weights for CPU inference: spectral norm folded in, prepacked once for oneDNN where it applies."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def onednn_ready(weight: torch.Tensor) -> bool:
    """Whether weight can be prepacked for oneDNN (float32 on a CPU build with oneDNN)."""
    return weight.dtype == torch.float32 and weight.device.type == "cpu" and torch.backends.mkldnn.is_available()


class Affine(nn.Module):
    """rows @ weight.T (+ bias); on CPU through oneDNN with the weight prepacked once (~2.5x MKL's sgemm here)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features = weight.shape[0]
        self.prepacked = onednn_ready(weight)
        self.register_buffer("weight", torch.ops.mkldnn._reorder_linear_weight(weight) if self.prepacked else weight)
        self.register_buffer("bias", bias)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        if self.prepacked:
            return torch.ops.mkldnn._linear_pointwise(rows, self.weight, self.bias, "none", [], "")
        return rows @ self.weight.T if self.bias is None else torch.addmm(self.bias, rows, self.weight.T)


def folded_weight(conv: nn.Conv2d, in_place: bool) -> torch.Tensor:
    """A spectral-norm convolution's weight with σ (from the stored u and v, as in eval mode) divided out.

    in_place=True divides the source's weight_orig itself (no second copy; the source is spent)."""
    w = conv.weight_orig.detach()
    sigma = torch.dot(conv.weight_u, w.reshape(w.shape[0], -1) @ conv.weight_v)
    return w.div_(sigma) if in_place else w / sigma


class PrepackedConv(nn.Module):
    """A stride-1 convolution for eval from a given weight. On CPU in float32 the weight is reordered once into
    oneDNN's blocked layout, which F.conv2d would otherwise redo on every call (most of the time of a
    1024-channel convolution at 16×16)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, padding: list[int]) -> None:
        super().__init__()
        self.padding = list(padding)
        self.prepacked = onednn_ready(weight)
        if self.prepacked:
            weight = torch._C._nn.mkldnn_reorder_conv2d_weight(weight.to_mkldnn(), self.padding, [1, 1], [1, 1], 1)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor, add_to: torch.Tensor | None = None,
                padding: list[int] | None = None) -> torch.Tensor:
        """conv(x); with add_to: add_to += conv(x), in place (fused into the convolution on oneDNN).

        padding overrides the convolution's own (e.g. [0, 1] for a row tile that carries its neighbour rows)."""
        padding = self.padding if padding is None else padding
        if self.prepacked and add_to is None:
            return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, padding, [1, 1], [1, 1], 1,
                                                           "none", [], "")
        if self.prepacked:
            return torch.ops.mkldnn._convolution_pointwise_.binary(add_to, x, self.weight, self.bias, padding,
                                                                   [1, 1], [1, 1], 1, "add", 1.0, None, [], None)
        y = F.conv2d(x.to(self.weight.dtype), self.weight, self.bias, padding=padding).to(x.dtype)
        return y if add_to is None else add_to.add_(y)


def folded_conv(conv: nn.Conv2d, dtype: torch.dtype = torch.float32, in_place: bool = False,
                weight: torch.Tensor | None = None) -> PrepackedConv:
    """A source convolution for eval; a spectral-norm one gets σ folded into its weight (see folded_weight),
    unless its folded weight is given."""
    if weight is None:
        weight = folded_weight(conv, in_place) if hasattr(conv, "weight_orig") else conv.weight.detach()
    bias = None if conv.bias is None else conv.bias.detach().to(dtype)
    return PrepackedConv(weight.to(dtype), bias, list(conv.padding))
