"""Realism figures: how far generated images sit from real photographs in an ImageNet network's features.

Real references are crops of the held-out photographs (`texture_bank.is_held_out`: never used for training).
Both figures use the pooled features of EfficientNet-Lite1, a different network from the training loss's
Lite0: the unbiased kernel inception distance (KID, cubic polynomial kernel, averaged over subsets) and the
Fréchet distance. Their floor is the same figure between two halves of the real crops (disjoint photos).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import linalg

from .data.photos import open_photo, read_manifest
from .data.texture_bank import is_held_out
from .errors import InputError
from .imagenet import REALISM_NETWORK, ImageNetFeatures

CROP_HEIGHTS = (256, 320, 384)  # each held-out photo is seen at three scales


def held_out_crops(photo_dir: str | Path, size: int = 256) -> tuple[list[np.ndarray], list[str]]:
    """(size x size uint8 crops of the held-out photos, the photo id of each), deterministic."""
    crops, ids = [], []
    for entry in sorted(read_manifest(photo_dir), key=lambda e: e["id"]):
        if not is_held_out(entry["id"]):
            continue
        photo = open_photo(photo_dir, entry)
        for crop_height in CROP_HEIGHTS:  # scaled to it, or more where the width would be under size
            scale = max(crop_height / photo.height, size / photo.width)
            width, height = max(size, round(photo.width * scale)), max(size, round(photo.height * scale))
            scaled = np.asarray(photo.resize((width, height), Image.Resampling.LANCZOS))
            for x in np.linspace(0, width - size, 3).astype(int):
                y = (height - size) // 2
                crops.append(scaled[y:y + size, x:x + size])
                ids.append(entry["id"])
    if len(set(ids)) < 2:  # the floor compares two disjoint halves of them
        raise InputError(f"the realism figures need at least two held-out photographs in {photo_dir} (one photo in "
                         f"five is held out, by its name: `gaugan data photos` fetches them); found {len(set(ids))}")
    return crops, ids


def pooled_features(images: list[np.ndarray], network: ImageNetFeatures, batch: int = 16) -> np.ndarray:
    """(N, D) float64 pooled features of uint8 (H, W, 3) images."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.stack(images[i:i + batch])).permute(0, 3, 1, 2).float() / 127.5 - 1
            out.append(network(x)[1].double().numpy())
    return np.concatenate(out)


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 100, seed: int = 0) -> tuple[float, float]:
    """Unbiased squared MMD with the kernel (x.y / d + 1)^3, mean and std over random subsets."""
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = 1 - np.eye(m)
        values.append((kxx * off).sum() / (m * (m - 1)) + (kyy * off).sum() / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # fewer samples than dimensions make the product singular, as expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def photo_halves(features: np.ndarray, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The crops' features split by alternate photo: two disjoint real sets, whose distance is the floor."""
    half = np.isin(ids, sorted(set(ids))[::2])
    return features[half], features[~half]


def realism(generated: list[np.ndarray], photo_dir: str | Path) -> dict:
    """KID and Fréchet distance of generated images to the held-out photo crops, with the real-vs-real floor."""
    network = ImageNetFeatures(REALISM_NETWORK)
    crops, ids = held_out_crops(photo_dir)
    real = pooled_features(crops, network)
    fake = pooled_features(generated, network)
    halves = photo_halves(real, ids)
    kid_fake, kid_fake_std = kid(fake, real)
    kid_floor, kid_floor_std = kid(*halves)
    return {
        "network": REALISM_NETWORK, "generated": len(fake), "real_crops": len(real), "real_photos": len(set(ids)),
        "kid": kid_fake, "kid_std": kid_fake_std, "kid_floor": kid_floor, "kid_floor_std": kid_floor_std,
        "frechet": frechet_distance(fake, real), "frechet_floor": frechet_distance(*halves),
    }


def format_realism(q: dict) -> list[str]:
    """The realism figures as the CLI prints them."""
    return [f"Realism vs {q['real_crops']} crops of {q['real_photos']} held-out photos ({q['network']} features):",
            f"  KID x1000 {1000 * q['kid']:.2f} ± {1000 * q['kid_std']:.2f}  (floor {1000 * q['kid_floor']:.2f})",
            f"  Fréchet {q['frechet']:.1f}  (floor {q['frechet_floor']:.1f})"]
