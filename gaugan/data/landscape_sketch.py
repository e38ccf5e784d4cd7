"""Line sketches of the procedural landscapes, as a person would outline them, paired with their renders.

Outlines are the label boundaries of a slightly warped, de-speckled layout (some boundaries left out, as
people skip them), plus interior strokes: ridge lines on mountains, waves on water, crown arcs in trees.
Line width varies from sketch to sketch and along each line. Black ink on white, (H, W, 3) uint8.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line, polygon
from skimage.filters.rank import majority
from skimage.measure import approximate_polygon, find_contours
from skimage.measure import label as connected_regions
from skimage.morphology import disk

from .landscape import (BUSH, CLOUDS, DIRT, FLOWER, GRASS, HILL, MOUNTAIN, RIVER, ROCK, SAND, SEA, SKY, SNOW,
                        TREE, landscape_scene)
from .noise import fbm
from .texture_bank import TextureBank

EVAL_SEED_OFFSET = 10_000_000  # held-out scenes (as for the SPADE evaluation): training seeds stay below
LAND = (HILL, GRASS, FLOWER, BUSH, TREE, ROCK, DIRT)  # where pines stand and lakes lie (not on sand or water)


def _warp(labels: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """The layout displaced by a smooth random field (hand jitter), nearest-sampled."""
    h, w = labels.shape
    shift = fbm(rng, h, w, base=4, octaves=3, channels=2) * amount
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    return ndimage.map_coordinates(labels, [rows + shift[0], cols + shift[1]], order=0, mode="nearest")


def _outline(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boundary pixels between labels, skipping the boundaries of a few randomly chosen label pairs."""
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        low, high = np.minimum(a, b).astype(np.int32), np.maximum(a, b).astype(np.int32)
        codes.append(np.where(a != b, low * 64 + high, -1))
    pairs = np.unique(np.concatenate([c.ravel() for c in codes]))
    pairs = pairs[pairs >= 0]
    kept = pairs[rng.random(len(pairs)) > 0.15]
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= np.isin(codes[0], kept)
    edge[:-1, :] |= np.isin(codes[1], kept)
    return edge


def _strokes(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Interior strokes clipped to their regions: ridges, waves, tree crowns, grass tufts."""
    h, w = labels.shape
    ink = np.zeros((h, w), bool)

    def polyline(points: np.ndarray, region: np.ndarray) -> None:
        for (y0, x0), (y1, x1) in zip(points[:-1], points[1:]):
            rr, cc = line(int(y0), int(x0), int(y1), int(x1))
            keep = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            rr, cc = rr[keep], cc[keep]
            hit = region[rr, cc]
            ink[rr[hit], cc[hit]] = True

    def seeds(mask: np.ndarray, count: int) -> np.ndarray:
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return np.zeros((0, 2))
        pick = rng.integers(0, len(ys), count)
        return np.stack([ys[pick], xs[pick]], 1).astype(np.float32)

    scale = h / 256
    mountain = np.isin(labels, (MOUNTAIN, SNOW))
    for y, x in seeds(mountain, rng.integers(0, 5)):  # ridge lines running down the slopes
        side = rng.choice([-1, 1])
        length = rng.uniform(15, 45) * scale
        polyline(np.array([[y, x], [y + length * 0.6, x + side * length * 0.5],
                           [y + length, x + side * length * rng.uniform(0.6, 1.1)]]), mountain)
    water = np.isin(labels, (SEA, RIVER))
    for y, x in seeds(water, rng.integers(0, 7)):  # waves: short flat arcs
        length = rng.uniform(8, 22) * scale
        t = np.linspace(-1, 1, 7)
        polyline(np.stack([y - 2.5 * scale * np.cos(t * 1.4), x + t * length], 1), water)
    for y, x in seeds(labels == TREE, rng.integers(0, 8)):  # crown arcs
        radius = rng.uniform(3, 7) * scale
        t = np.linspace(0.2, np.pi - 0.2, 6)
        polyline(np.stack([y + radius * np.sin(t) * 0.6, x + radius * np.cos(t)], 1), labels == TREE)
    for y, x in seeds(labels == GRASS, rng.integers(0, 6)):  # tufts: a small "v"
        size = rng.uniform(3, 6) * scale
        polyline(np.array([[y - size, x - size * 0.6], [y, x], [y - size, x + size * 0.6]]), labels == GRASS)
    return ink


def straightened(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The layout with each region's outline simplified to a few straight strokes, as people draw with a pen: every
    connected region, largest first, is filled again as its polygon simplified by 2..8 pixels (at 256²)."""
    h, w = labels.shape
    regions = connected_regions(labels.astype(np.int32) + 1, background=0, connectivity=1)
    sizes = np.bincount(regions.ravel())
    straight = labels.copy()
    for region in np.argsort(-sizes):
        if region == 0 or sizes[region] == 0:
            continue
        inside = regions == region
        tolerance = rng.uniform(2, 8) * h / 256
        for contour in find_contours(np.pad(inside, 1).astype(np.float32), 0.5):
            corners = approximate_polygon(contour, tolerance) - 1
            rows, cols = polygon(corners[:, 0], corners[:, 1], (h, w))
            straight[rows, cols] = labels[inside][0]
    return straight


def with_conifers(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The layout with a row of conifers (tree triangles) standing on the land's top edge against the sky or the
    mountains, and a few larger ones on the land in front, as people draw pines."""
    h, w = labels.shape
    out = labels.copy()
    land = np.isin(labels, LAND)
    top = np.where(land.any(axis=0), land.argmax(axis=0), h)  # each column's first land row
    start, span = rng.uniform(-0.2, 0.6) * w, rng.uniform(0.3, 1.2) * w
    stands = [(x, top[int(np.clip(x, 0, w - 1))] + rng.uniform(0, 0.02) * h, rng.uniform(0.05, 0.16) * h)
              for x in np.sort(rng.uniform(start, start + span, rng.integers(3, 14)))]
    stands = [stand for stand in stands if stand[1] < h]  # none where a column has no land
    ys, xs = np.nonzero(land & (np.arange(h)[:, None] > top[None, :] + 0.15 * h))
    for i in rng.integers(0, len(ys), rng.integers(0, 4)) if len(ys) else []:
        stands.append((xs[i], ys[i], rng.uniform(0.12, 0.3) * h))
    for x, base, height in stands:
        half = height * rng.uniform(0.22, 0.4)
        rows, cols = polygon([base - height, base, base], [x, x - half, x + half], (h, w))
        out[rows, cols] = TREE
    return out


def with_lake(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The layout with a lake (sea) lying inside the land below the horizon, now and then rimmed with sand."""
    h, w = labels.shape
    land = np.isin(labels, LAND)
    rows = np.flatnonzero(land.mean(axis=1) > 0.6)
    if len(rows) == 0 or rows[0] + 0.1 * h >= h:
        return labels
    cy, cx = rng.uniform(rows[0] + 0.1 * h, h), rng.uniform(0.15, 0.85) * w
    rx = rng.uniform(0.1, 0.35) * w
    ry = rx * rng.uniform(0.15, 0.45)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wobble = 1 + 0.25 * fbm(rng, h, w, base=4, octaves=2)[0]
    lake = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < wobble) & land
    out = labels.copy()
    if rng.random() < 0.3:
        out[ndimage.binary_dilation(lake, iterations=max(1, round(rng.uniform(2, 5) * h / 256))) & land] = SAND
    out[lake] = SEA
    return out


def line_sketch(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A black-on-white (H, W, 3) uint8 line drawing of a landscape layout."""
    h, w = labels.shape
    simple = np.where(labels == FLOWER, GRASS, labels).astype(np.uint8)  # nobody outlines every flower
    simple = np.where(np.isin(simple, (BUSH, ROCK)) & (rng.random() < 0.3), GRASS, simple).astype(np.uint8)
    simple = majority(simple, disk(max(1, round(3 * h / 256))))  # drop specks a person would not draw
    simple = np.where((simple == CLOUDS) & (rng.random() < 0.3), SKY, simple).astype(np.uint8)
    warped = _warp(simple, rng, amount=rng.uniform(1.0, 4.0) * h / 256)
    centre = _outline(warped, rng) | _strokes(warped, rng)
    distance = ndimage.distance_transform_edt(~centre)
    width = rng.uniform(0.6, 2.2) * h / 256 * (1 + 0.35 * fbm(rng, h, w, base=6, octaves=2)[0])
    ink = np.clip(width - distance + 0.5, 0, 1) * rng.uniform(0.75, 1.0)
    grey = (255 * (1 - ink)).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def landscape_sketch_pair(seed: int, size: tuple[int, int] = (256, 256),
                          bank: TextureBank | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sketch, photo) for a seed: the procedural scene's render (painted with photo textures if a bank is given)
    and a line drawing of its layout."""
    labels, photo = landscape_scene(seed, size, doodle_fraction=0.0, bank=bank)
    return line_sketch(labels, np.random.default_rng([seed, 1])), photo
