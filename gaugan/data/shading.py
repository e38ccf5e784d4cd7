"""Sunlight on the blobs that stand on the ground (tree crowns, bushes, boulders) of a photo-textured scene.

Each blob is read as a dome whose height grows with the distance from its outline: its sun side is lit, its far
side falls into shade, and it casts a soft shadow on the ground beside and below it. Labels are unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

STANDING = ("tree", "bush", "rock")  # classes drawn as blobs that stand up from the ground
SHADOW_RECEIVERS = ("grass", "flower", "dirt", "sand", "hill", "snow")


def sun_direction(rng: np.random.Generator) -> np.ndarray:
    """A unit vector towards the sun in image axes (x right, y down, z towards the viewer), from above left or right."""
    side = rng.choice([-1.0, 1.0])
    sun = np.array([side * rng.uniform(0.3, 0.9), -rng.uniform(0.3, 0.8), rng.uniform(0.5, 0.8)])
    return (sun / np.linalg.norm(sun)).astype(np.float32)


def shade_standing(image: np.ndarray, labels: np.ndarray, standing: list[int], receivers: list[int],
                   sun: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """`image` (H, W, 3) float in [0, 1] with the `standing` label blobs lit by `sun` and shadowing `receivers`.

    `strength` scales light and shadow: 1 for direct sun, towards 0 for an overcast sky.
    """
    blobs = np.isin(labels, standing)
    if not blobs.any():
        return image
    parts, count = ndimage.label(blobs)
    depth = ndimage.distance_transform_edt(blobs).astype(np.float32)
    radius = np.asarray(ndimage.maximum(depth, parts, np.arange(1, count + 1)), np.float32)
    inside = parts > 0
    rim = np.zeros_like(depth)
    rim[inside] = 1 - depth[inside] / radius[parts[inside] - 1]
    height = np.where(inside, np.sqrt(np.clip(1 - rim ** 2, 0, 1)), 0) * np.where(inside, radius[parts - 1], 0)
    grad_y, grad_x = np.gradient(ndimage.gaussian_filter(height, 1.0))
    normal = np.stack([-grad_x, -grad_y, np.ones_like(height)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = 1 + strength * (0.85 * np.clip(normal @ sun, 0, 1) - 0.55)
    out = image.copy()
    out[inside] *= light[inside, None]

    shadow = np.zeros(labels.shape, np.float32)
    for index, slices in enumerate(ndimage.find_objects(parts)):
        r = float(radius[index])
        dy, dx = round(0.35 * r), round(-np.sign(sun[0]) * 0.8 * r)
        part = parts[slices] == index + 1
        ys, xs = np.nonzero(part)
        ys, xs = ys + slices[0].start + dy, xs + slices[1].start + dx
        keep = (ys >= 0) & (ys < labels.shape[0]) & (xs >= 0) & (xs < labels.shape[1])
        shadow[ys[keep], xs[keep]] = 1
    shadow = ndimage.gaussian_filter(shadow, 1.5) * np.isin(labels, receivers) * ~blobs
    return np.clip(out * (1 - 0.45 * strength * shadow[..., None]), 0, 1)
