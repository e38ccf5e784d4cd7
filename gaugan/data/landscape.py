"""Procedural landscapes: (label map, photo-like image) pairs from a seed, with no files.

A layout function draws labels (a composed landscape, or a doodle of blobby strokes); one renderer
paints every class from the labels with noise textures under a random global look (time of day,
season, haze), so image and labels align pixel for pixel and one layout has many plausible photos.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from label_colors import PALETTES

from .noise import fbm, fbm_1d
from .texture_bank import TextureBank, render_photographic

LABELS = {label.name: label.id for label in PALETTES["landscape"]}
SKY, CLOUDS, MOUNTAIN, HILL, SNOW, ROCK, TREE, BUSH, GRASS, FLOWER, SAND, SEA, RIVER, DIRT = (
    LABELS[n] for n in ("sky-other", "clouds", "mountain", "hill", "snow", "rock", "tree", "bush",
                        "grass", "flower", "sand", "sea", "river", "dirt"))
NUM_CLASSES = len(LABELS)


@dataclass(frozen=True)
class Look:
    """Global appearance: sky gradient, light colour, season colours and haze."""

    sky_top: np.ndarray
    sky_horizon: np.ndarray
    light: np.ndarray
    foliage: np.ndarray
    grass: np.ndarray
    haze: float


TIMES_OF_DAY = {  # sky top, sky at the horizon, light
    "day": ((40, 100, 200), (170, 205, 240), (255, 250, 240)),
    "golden": ((70, 90, 170), (250, 180, 110), (255, 210, 150)),
    "dusk": ((30, 30, 80), (220, 110, 90), (200, 150, 170)),
    "overcast": ((130, 140, 150), (190, 195, 200), (210, 210, 215)),
}
SEASONS = {  # foliage, grass
    "summer": ((40, 90, 35), (90, 150, 50)),
    "spring": ((70, 130, 50), (120, 180, 70)),
    "autumn": ((170, 90, 30), (150, 140, 60)),
}


def look(time_of_day: str, season: str, rng: np.random.Generator, haze: float | None = None) -> Look:
    """The look of a time of day and a season, its colours jittered by rng."""
    sky_top, sky_horizon, light = TIMES_OF_DAY[time_of_day]
    foliage, grass = SEASONS[season]
    jitter = lambda c: np.clip(np.array(c, np.float32) + rng.normal(0, 12, 3), 0, 255) / 255  # noqa: E731
    return Look(jitter(sky_top), jitter(sky_horizon), jitter(light), jitter(foliage), jitter(grass),
                float(rng.uniform(0.0, 0.5)) if haze is None else haze)


def random_look(rng: np.random.Generator) -> Look:
    """A time of day and a season, jittered."""
    time_of_day = rng.choice(["day", "day", "golden", "dusk", "overcast"])
    season = rng.choice(["summer", "summer", "spring", "autumn"])
    return look(str(time_of_day), str(season), rng)


def _blobs(rng: np.random.Generator, mask: np.ndarray, count: int, radius: tuple[float, float],
           ys: tuple[float, float], perspective: bool = True) -> np.ndarray:
    """A boolean map of `count` noisy discs centred at random rows in ys (fractions of H)."""
    h, w = mask.shape
    out = np.zeros((h, w), dtype=bool)
    wobble = fbm(rng, h, w, base=8, octaves=3)[0]
    for _ in range(count):
        cy, cx = rng.uniform(*ys) * h, rng.uniform(0, w)
        r = rng.uniform(*radius) * h * ((0.4 + cy / h) if perspective else 1.0)
        reach = r * 1.35
        y0, y1 = max(0, int(cy - 1.3 * reach)), min(h, int(cy + 1.3 * reach) + 1)
        x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        out[y0:y1, x0:x1] |= np.hypot((yy - cy) / 1.3, xx - cx) < r * (1 + 0.35 * wobble[y0:y1, x0:x1])
    return out & mask


def landscape_layout(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A composed landscape: sky and clouds, ridges with snow, water or fields, beaches, trees."""
    labels = np.full((height, width), SKY, dtype=np.uint8)
    rows = np.arange(height, dtype=np.float32)[:, None]
    horizon = rng.uniform(0.4, 0.65) * height
    clouds = fbm(rng, height, width, base=3, octaves=4)[0] > rng.uniform(0.15, 0.6)
    labels[clouds & (rows < horizon - 0.05 * height)] = CLOUDS
    if rng.random() < 0.85:
        ridge = horizon - (0.1 + 0.45 * rng.random()) * height * (0.55 + 0.45 * fbm_1d(rng, width, base=3))
        labels[rows >= ridge[None, :]] = MOUNTAIN
        snow_line = ridge.min() + rng.uniform(0.05, 0.25) * height
        snow_edge = snow_line + 0.05 * height * fbm(rng, height, width, base=6, octaves=3)[0]
        if rng.random() < 0.6:
            labels[(labels == MOUNTAIN) & (rows < snow_edge)] = SNOW
    if rng.random() < 0.6:
        hills = horizon - rng.uniform(0.02, 0.12) * height * (1 + fbm_1d(rng, width, base=2))
        labels[rows >= hills[None, :]] = HILL
    ground = rows >= horizon
    labels[np.broadcast_to(ground, labels.shape)] = GRASS
    scene = rng.choice(["coast", "river", "fields"])
    if scene == "coast":
        shore = horizon + rng.uniform(0.1, 0.4) * height * (1 + 0.5 * fbm_1d(rng, width, base=2))
        beach = shore + rng.uniform(0.03, 0.12) * height
        labels[ground & (rows < beach[None, :])] = SAND
        labels[ground & (rows < shore[None, :])] = SEA
    elif scene == "river":
        centre = width * (0.5 + 0.3 * fbm_1d(rng, height, base=2))[:, None]
        half = (0.01 + 0.12 * np.clip((rows - horizon) / (height - horizon), 0, 1)) * width
        cols = np.arange(width, dtype=np.float32)[None, :]
        labels[ground & (np.abs(cols - centre) < half)] = RIVER
        labels[ground & (np.abs(cols - centre) >= half) & (np.abs(cols - centre) < half * 1.25)] = SAND
    else:
        path = fbm(rng, height, width, base=2, octaves=3)[0]
        labels[ground & (np.abs(path) < 0.04)] = DIRT
    grass = labels == GRASS
    labels[_blobs(rng, grass, rng.integers(0, 4), (0.02, 0.06), (horizon / height, 1.0))] = ROCK
    labels[_blobs(rng, labels == GRASS, rng.integers(0, 8), (0.03, 0.08), (horizon / height, 1.0))] = BUSH
    labels[_blobs(rng, labels == GRASS, rng.integers(0, 10), (0.04, 0.12), (horizon / height, 1.0))] = TREE
    specks = fbm(rng, height, width, base=32, octaves=2)[0] > rng.uniform(0.45, 0.9)
    labels[(labels == GRASS) & specks] = FLOWER
    return labels


def doodle_layout(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """What people draw: a sky/ground split, then a few thick blobby strokes of random labels."""
    labels = np.full((height, width), SKY, dtype=np.uint8)
    split = int(rng.uniform(0.3, 0.7) * height)
    labels[split:] = rng.choice([GRASS, SEA, SAND, DIRT, MOUNTAIN])
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(rng.integers(1, 7)):
        label = rng.integers(0, NUM_CLASSES)
        points = np.cumsum(rng.normal(0, 0.15, (rng.integers(2, 6), 2)), axis=0) + rng.uniform(0, 1, 2)
        points *= (height, width)
        radius = rng.uniform(0.03, 0.15) * height
        stroke = np.zeros((height, width), dtype=bool)
        for (y0, x0), (y1, x1) in zip(points[:-1], points[1:]):
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0)) / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-6), 0, 1)
            stroke |= np.hypot(yy - (y0 + t * (y1 - y0)), xx - (x0 + t * (x1 - x0))) < radius
        labels[stroke] = label
    return labels


def render(labels: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Paint a (H, W) label map as a (H, W, 3) uint8 image under the given look."""
    h, w = labels.shape
    row = np.broadcast_to(np.linspace(0, 1, h, dtype=np.float32)[:, None], (h, w))
    coarse, mid, fine = (fbm(rng, h, w, base=b, octaves=o)[0] for b, o in ((4, 3), (16, 3), (64, 2)))
    streaks = np.repeat(fbm(rng, h, -(-w // 8), base=24, octaves=2)[0], 8, axis=1)[:, :w]

    def sky(m):
        t = np.clip(row[m] * 1.6, 0, 1)[:, None] ** 0.8
        return look.sky_top + (look.sky_horizon - look.sky_top) * t

    def water(m):
        return 0.55 * sky(m) + 0.45 * np.array([0.05, 0.2, 0.35], np.float32)

    def shade(colour, *terms):
        return lambda m: np.asarray(colour, np.float32) * (terms[0] + sum(a * t[m] for a, t in terms[1:]))[:, None]

    grey = np.array([0.45, 0.42, 0.42], np.float32)
    painters = {
        SKY: sky,
        CLOUDS: shade(0.65 * look.light + 0.35 * look.sky_horizon, 0.9, (0.1, mid)),
        MOUNTAIN: shade(grey, 0.8, (0.3, mid), (0.15, coarse)),
        HILL: shade(0.5 * look.grass + 0.5 * look.foliage, 0.85, (0.25, coarse)),
        SNOW: shade((0.93, 0.95, 0.98), 0.88, (0.12, mid)),
        ROCK: shade((0.5, 0.48, 0.46), 0.75, (0.35, fine), (0.1, mid)),
        TREE: shade(look.foliage * 0.7, 0.75, (0.45, fine), (0.2, mid)),
        BUSH: shade(look.foliage, 0.8, (0.4, fine)),
        GRASS: shade(look.grass, 0.85, (0.2, coarse), (0.15, streaks)),
        FLOWER: lambda m: np.stack([0.9 + 0.1 * fine[m], 0.45 + 0.4 * np.sign(mid[m]), 0.3 + 0.4 * (coarse[m] > 0)], -1),
        SAND: shade((0.85, 0.76, 0.55), 0.9, (0.1, fine)),
        SEA: lambda m: water(m) * (0.85 + 0.3 * streaks[m])[:, None],
        RIVER: lambda m: (0.8 * water(m) + 0.2 * look.grass) * (0.85 + 0.3 * streaks[m])[:, None],
        DIRT: shade((0.5, 0.38, 0.25), 0.85, (0.25, fine)),
    }
    image = np.zeros((h, w, 3), dtype=np.float32)
    for label in np.unique(labels):
        mask = labels == label
        colour = painters[int(label)](mask)
        if label != SKY:
            haze = (look.haze * np.clip(1.2 - row[mask] * 1.5, 0, 1))[:, None]
            colour = colour * (0.6 + 0.4 * look.light) * (1 + 0.15 * (look.light.mean() - 0.8))
            colour = colour * (1 - haze) + look.sky_horizon * haze
        image[mask] = colour
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def landscape_scene(seed: int, size: tuple[int, int] = (256, 256), doodle_fraction: float = 0.25,
                    bank: TextureBank | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels (H, W) uint8, image (H, W, 3) uint8) for a seed; a doodle layout with doodle_fraction odds.

    With a texture bank the image is painted with photo textures (noise textures only where it has none).
    """
    rng = np.random.default_rng(seed)
    height, width = size
    layout = doodle_layout if rng.random() < doodle_fraction else landscape_layout
    labels = layout(rng, height, width)
    look = random_look(rng)
    if bank is None:
        return labels, render(labels, look, rng)
    fallback_rng = np.random.default_rng([seed, 1])
    return labels, render_photographic(labels, bank, rng, lambda: render(labels, look, fallback_rng))
