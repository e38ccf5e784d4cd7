"""Photographic training scenes: every labelled region painted with real photo texture of its class.

`texture_boxes.json` (beside this file) lists rectangles cut from the fetched photographs, each holding one
class only (chosen by eye; a test checks every box lies inside its photo). A `TextureBank` loads those crops
from the training photos; `render_photographic` fills each region of a layout with a crop of its class
large enough to cover it, fades clouds into the sky, shades tree and bush regions as crowns lit from one side with
their shadows on the ground, then grades the whole scene with one look (white balance, exposure, contrast), adds
haze towards the horizon and softens region seams, so labels and image align pixel for pixel.
Photos whose id falls in the held-out split (`is_held_out`) never enter the bank: evaluation uses them.
"""
from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from label_colors import PALETTES

from ..errors import InputError
from .noise import fbm
from .photos import open_photo, photo_credits, read_manifest

BOXES_FILE = Path(__file__).with_name("texture_boxes.json")
WORKING_HEIGHT = 360  # photos are decoded at this height (1440x720 -> 720x360): scene scale for 256² renders
HELD_OUT_FOLDS = 5
MAX_UPSCALE = 1.6  # a region takes a crop that covers it within this upscale, so textures keep their grain
MIN_CHOICES = 3  # ... or, where fewer crops do, one of the few that need the least


def is_held_out(photo_id: str) -> bool:
    """One photo in five, fixed by its name: never used for training, kept for the realism figures."""
    return zlib.crc32(photo_id.encode()) % HELD_OUT_FOLDS == 0


def load_boxes(path: str | Path = BOXES_FILE) -> list[dict]:
    """The texture boxes: [{"photo": id, "label": name, "box": [x0, y0, x1, y1] as fractions}]."""
    return json.loads(Path(path).read_text())


@functools.lru_cache(maxsize=1)
def _cached_bank(photo_dir: Path) -> "TextureBank":
    return TextureBank(photo_dir)


def shared_bank(photo_dir: str | Path) -> "TextureBank":
    """The texture bank of a `data photos` folder, loaded once per process and folder."""
    return _cached_bank(Path(photo_dir).resolve())


def load_photo(photo_dir: Path, entry: dict, height: int = WORKING_HEIGHT) -> np.ndarray:
    """A manifest entry's photo (checked by open_photo) as (H, W, 3) uint8 at the given height."""
    image = open_photo(photo_dir, entry)
    width = max(1, round(image.width * height / image.height))
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


class TextureBank:
    """Crops of real photographs per landscape label id, from the training photos only."""

    def __init__(self, photo_dir: str | Path, boxes: list[dict] | None = None, palette: str = "landscape") -> None:
        photo_dir = Path(photo_dir)
        entries = {e["id"]: e for e in read_manifest(photo_dir)}
        ids = {label.name: label.id for label in PALETTES[palette]}
        self.crops: dict[int, list[tuple[str, np.ndarray]]] = {}
        photos: dict[str, np.ndarray] = {}
        boxes = boxes if boxes is not None else load_boxes()
        training = self.training_photo_ids(boxes)
        for box in boxes:
            pid = box["photo"]
            if pid not in training or pid not in entries:
                continue
            if pid not in photos:
                photos[pid] = load_photo(photo_dir, entries[pid])
            photo = photos[pid]
            h, w = photo.shape[:2]
            x0, y0, x1, y1 = box["box"]
            crop = photo[int(y0 * h):int(np.ceil(y1 * h)), int(x0 * w):int(np.ceil(x1 * w))]
            self.crops.setdefault(ids[box["label"]], []).append((pid, np.ascontiguousarray(crop)))
        self.names = {i: name for name, i in ids.items()}
        self.ids = ids
        self.photo_ids = sorted(photos)
        if not self.crops:
            raise InputError(f"no texture box matched a training photo in {photo_dir}")

    @staticmethod
    def training_photo_ids(boxes: list[dict] | None = None) -> set[str]:
        """The photos whose boxes a bank takes (every boxed photo outside the held-out split)."""
        return {b["photo"] for b in (boxes if boxes is not None else load_boxes()) if not is_held_out(b["photo"])}

    @staticmethod
    def credits(photo_dir: str | Path) -> list[dict]:
        """Author and licence of every photo a bank of this folder takes: a model card's `training_photos`."""
        return photo_credits(photo_dir, TextureBank.training_photo_ids())

    def texture(self, label: int, height: int, width: int, rng: np.random.Generator,
                prefer: str | None = None) -> np.ndarray | None:
        """A (height, width, 3) float32 texture of `label` in [0, 1] (from photo `prefer` when it has one), or None."""
        name = self.names[label]
        if name in DERIVED:
            base, derive = DERIVED[name]
            texture = self.texture(self.ids[base], height, width, rng, prefer)
            return None if texture is None else derive(texture, rng)
        crops = self.crops.get(label)
        if not crops:
            return None
        crops = [c for p, c in crops if p == prefer] or [c for _, c in crops]
        covers = np.array([max(height / c.shape[0], width / c.shape[1]) for c in crops])  # scale that just covers
        choices = min(len(crops), max(MIN_CHOICES, int((covers <= MAX_UPSCALE).sum())))
        index = np.argsort(covers, kind="stable")[rng.integers(choices)]
        crop, cover = crops[index], covers[index]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        ch, cw = crop.shape[:2]
        scale = float(np.clip(cover * rng.uniform(1.0, 1.3), 0.5, MAX_UPSCALE))
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        resized = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR), np.float32) / 255
        pad_y, pad_x = max(0, height - size[1]), max(0, width - size[0])
        if pad_y or pad_x:  # mirror-tile what no crop covers within its upscale cap
            resized = np.pad(resized, ((0, pad_y), (0, pad_x), (0, 0)), mode="symmetric")
        y = rng.integers(resized.shape[0] - height + 1)
        x = rng.integers(resized.shape[1] - width + 1)
        return resized[y:y + height, x:x + width]


BLOSSOMS = np.array([(0.95, 0.85, 0.2), (0.95, 0.95, 0.92)], np.float32)  # buttercup yellow, daisy white


def _flowers(grass: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flower meadow: yellow and white blossom specks on grass texture.

    One fixed pair of colours, so that a model can commit to it rather than paint the brown mean of many.
    """
    h, w = grass.shape[:2]
    density = ndimage.uniform_filter(rng.random((h, w)).astype(np.float32), 2)
    speck = density > rng.uniform(0.5, 0.6)  # a quarter to a half of the region in bloom
    count = int(speck.sum())
    white = rng.random(count) < 0.3
    out = grass.copy()
    out[speck] = BLOSSOMS[white.astype(int)] * rng.uniform(0.75, 1.0, (count, 1))
    return out


# Classes painted from another class's texture: flowers are specks on grass.
DERIVED = {"flower": ("grass", _flowers)}


def _grade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One look for the whole scene: white balance, exposure, contrast and saturation, jittered."""
    balance = np.exp(rng.normal(0, 0.06, 3)).astype(np.float32)
    exposure = np.float32(np.exp(rng.normal(0, 0.15)))
    graded = np.clip(image * balance * exposure, 0, 1)
    grey = graded.mean(-1, keepdims=True)
    graded = grey + (graded - grey) * np.float32(rng.uniform(0.8, 1.2))
    mean = graded.mean()
    return np.clip(mean + (graded - mean) * np.float32(rng.uniform(0.85, 1.15)), 0, 1)


CROWNS = ("tree", "bush")  # drawn as round crowns, lit from one side, each casting a shadow on the ground
CLUMP = 10  # leaf clumps on a crown are about this many pixels across


def _sun(rng: np.random.Generator) -> np.ndarray:
    """A unit (row, column) direction in the image towards a sun above and to the left or right."""
    light = np.array([-0.6, rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.0)], np.float32)
    return light / np.linalg.norm(light)


def _light_crowns(image: np.ndarray, crowns: np.ndarray, sky: np.ndarray, light: np.ndarray, strength: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Shade each crown (a connected tree or bush region) as a leafy dome lit from `light` (_sun), its side towards
    the sun lighter by up to `strength`, and darken the ground (what is not sky) where it casts its shadow."""
    if not crowns.any():
        return image
    parts, count = ndimage.label(crowns)
    index = np.arange(1, count + 1)
    radius = np.sqrt(np.concatenate([[1.0], ndimage.sum(crowns, parts, index)]) / np.pi).astype(np.float32)
    centres = np.array([(0.0, 0.0)] + ndimage.center_of_mass(crowns, parts, index), np.float32)
    rows, cols = np.indices(crowns.shape, dtype=np.float32)
    along = ((rows - centres[parts, 0]) * light[0] + (cols - centres[parts, 1]) * light[1]) / radius[parts]
    relief = np.zeros(crowns.shape, np.float32)
    if min(crowns.shape) > 1:  # leaf clumps in relief, smoothed so that they have no creases
        noise = fbm(rng, *crowns.shape, base=max(2, max(crowns.shape) // CLUMP), octaves=2)[0]
        slope = np.gradient(ndimage.gaussian_filter(noise, CLUMP / 3))
        relief = slope[0] * light[0] + slope[1] * light[1]
        relief *= np.clip(radius[parts] / (2 * CLUMP), 0.25, 1) / max(float(relief[crowns].std()), 1e-6)
    shade = np.clip(1 + strength * (np.clip(along, -1, 1) + 0.3 * relief), 0.3, 1.8)
    image = np.where(crowns[..., None], image * shade[..., None], image)
    cast = np.zeros(crowns.shape, np.float32)
    for part, box in enumerate(ndimage.find_objects(parts), start=1):
        reach = float(radius[part])
        offset = (-0.5 * light[0] * reach, -light[1] * reach)  # away from the sun, by about the crown's radius
        blur = max(1.0, 0.2 * reach)
        pad = int(abs(offset[0]) + abs(offset[1]) + 3 * blur) + 1
        window = tuple(slice(max(0, b.start - pad), min(n, b.stop + pad)) for b, n in zip(box, crowns.shape))
        shadow = ndimage.shift((parts[window] == part).astype(np.float32), offset, order=0, cval=0.0)
        cast[window] = np.maximum(cast[window], ndimage.gaussian_filter(shadow, blur))
    return np.clip(image * (1 - 1.2 * strength * cast * (~crowns & ~sky))[..., None], 0, 1)


def _feather_clouds(image: np.ndarray, clouds: np.ndarray, sky: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fade clouds into the clear sky beside them over their outer 4 to 12 pixels (one width per scene), as real
    clouds thin out at their edges; where they meet the ground, they keep their edge."""
    if not clouds.any() or not sky.any():
        return image
    width = rng.uniform(2.0, 6.0)
    opacity = np.clip(ndimage.distance_transform_edt(~sky) / (2 * width), 0, 1).astype(np.float32) ** 0.7
    fade = clouds & (opacity < 1)
    if not fade.any():
        return image
    size = 2 * round(width) + 1
    reach = 3 * (size // 2) + 1  # of the blur below: only the fading pixels' surroundings are blurred
    (top, bottom), (left, right) = ((i.min(), i.max()) for i in np.nonzero(fade))
    window = (slice(max(0, top - reach), bottom + reach + 1), slice(max(0, left - reach), right + reach + 1))
    weight, around = sky[window].astype(np.float32), image[window] * sky[window][..., None]
    for _ in range(3):  # three box blurs: about a Gaussian of sigma `width`, at a cost that does not grow with it
        weight = ndimage.uniform_filter(weight, size)
        around = ndimage.uniform_filter(around, (size, size, 1))
    around /= np.maximum(weight, 1e-6)[..., None]
    mixed = around * (1 - opacity[window][..., None]) + image[window] * opacity[window][..., None]
    image = image.copy()
    image[window][fade[window]] = mixed[fade[window]]
    return image


def render_photographic(labels: np.ndarray, bank: TextureBank, rng: np.random.Generator,
                        fallback: Callable[[], np.ndarray]) -> np.ndarray:
    """Paint a (H, W) label map as a (H, W, 3) uint8 photo-textured image.

    `fallback()` gives a full (H, W, 3) uint8 image whose pixels paint the labels the bank has no texture for.
    """
    h, w = labels.shape
    image = np.zeros((h, w, 3), np.float32)
    painted_elsewise = None
    prefer = bank.photo_ids[rng.integers(len(bank.photo_ids))] if rng.random() < 0.6 else None
    for label in np.unique(labels):
        mask = labels == label
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        texture = bank.texture(int(label), y1 - y0, x1 - x0, rng, prefer)
        if texture is None:
            painted_elsewise = fallback() if painted_elsewise is None else painted_elsewise
            image[mask] = painted_elsewise[mask] / np.float32(255)
        else:
            image[y0:y1, x0:x1][mask[y0:y1, x0:x1]] = texture[mask[y0:y1, x0:x1]]
    named = lambda *names: np.isin(labels, [bank.ids[n] for n in names if n in bank.ids])  # noqa: E731
    sky = named("sky-other", "clouds")
    image = _feather_clouds(image, named("clouds"), named("sky-other"), rng)
    image = _light_crowns(image, named(*CROWNS), sky, _sun(rng), rng.uniform(0.3, 0.5), rng)
    if sky.any() and not sky.all():  # haze: far ground (just under the sky) fades towards the horizon's colour
        horizon_colour = image[sky].reshape(-1, 3)[-max(1, sky.sum() // 10):].mean(0)
        top_ground = np.argmax(~sky, axis=0).min()
        rows = np.arange(h, dtype=np.float32)[:, None]
        fade = np.clip(1 - (rows - top_ground) / max(1.0, 0.5 * (h - top_ground)), 0, 1)
        haze = np.where(sky, 0, fade * rng.uniform(0.0, 0.35)).astype(np.float32)[..., None]
        image = image * (1 - haze) + horizon_colour * haze
    image = _grade(image, rng)
    seams = ndimage.maximum_filter(labels, 3) != ndimage.minimum_filter(labels, 3)
    image[seams] = ndimage.uniform_filter(image, size=(3, 3, 1))[seams]
    return (image * 255 + 0.5).astype(np.uint8)
