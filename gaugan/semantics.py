"""Label maps -> instance maps -> the one-hot tensor the generator reads."""
from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np
import torch
from scipy import ndimage

from .presets import Preset

DONTCARE_VALUE = 255


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """1.0 where a pixel differs from a 4-neighbour (both sides of each change), else 0.0."""
    t = instance
    edge = torch.zeros_like(t, dtype=torch.bool)
    horizontal = t[..., :, 1:] != t[..., :, :-1]
    vertical = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    return edge.float()


def _as_label_tensor(label: torch.Tensor | np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(label) if not torch.is_tensor(label) else label)
    if tensor.dim() != 4 or tensor.shape[1] != 1:
        raise ValueError(f"label must have shape (N, 1, H, W), got {tuple(tensor.shape)}")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"label must hold integer ids, got dtype {tensor.dtype}")
    return tensor.long()


def compact_semantics(
    label: torch.Tensor | np.ndarray,
    instance: torch.Tensor | np.ndarray | None,
    preset: Preset,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, 1, H, W) label ids -> each pixel's input channel (dont-care 255 -> its own channel), checked, and
    the instance edges (N, 1, H, W) for presets that use instances (else None): what the one-hot input encodes."""
    label = _as_label_tensor(label)
    channels = preset.label_channels
    if preset.contain_dontcare_label:
        label = torch.where(label == DONTCARE_VALUE, preset.label_nc, label)
    invalid = (label < 0) | (label >= channels)
    if bool(invalid.any()):
        bad = torch.unique(label[invalid])[:10].tolist()
        hint = "" if preset.contain_dontcare_label else f" ({DONTCARE_VALUE} = dont-care needs a preset with a dont-care label)"
        raise ValueError(
            f"label ids must lie in 0..{channels - 1} for preset {preset.name!r}, "
            f"found {bad}{hint}"
        )
    if not preset.use_instance:
        return label, None
    if instance is None:
        raise ValueError(f"preset {preset.name!r} uses instance maps, but instance is None")
    instance = torch.as_tensor(np.asarray(instance) if not torch.is_tensor(instance) else instance)
    if instance.shape != label.shape:
        raise ValueError(f"instance shape {tuple(instance.shape)} differs from label shape {tuple(label.shape)}")
    return label, instance_edges(instance.to(label.device))


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-sampled nearest resize of a (H, W) map to (h, w), like PIL's NEAREST, for any int dtype."""
    h, w = size
    rows = np.minimum(((np.arange(h) + 0.5) * array.shape[0] / h).astype(np.int64), array.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * array.shape[1] / w).astype(np.int64), array.shape[1] - 1)
    return array[rows[:, None], cols[None, :]]


def check_label_array(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """A 2-D integer id map, or a ValueError that says what was found."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or min(labels.shape) == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (H, W) array of label ids, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer label ids, got dtype {labels.dtype}")
    return labels


def encode(labels: np.ndarray, instance: np.ndarray | None, preset: Preset,
           size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A (H, W) label id map (and its instance map) -> the network's compact input at size (default: the preset's
    output size), as compact_semantics gives it. Presets that use instances derive them from the labels' thing
    blobs when none is given."""
    labels = check_label_array(labels)
    size = preset.output_size if size is None else size
    small_instance = None
    if preset.use_instance:
        instance = instance_map(labels, preset.thing_ids) if instance is None else check_label_array(instance, "instance")
        if instance.shape != labels.shape:
            raise ValueError(f"instance map shape {instance.shape} differs from labels shape {labels.shape}")
        small_instance = torch.from_numpy(resize_nearest(instance.astype(np.int64), size))[None, None]
    small_labels = torch.from_numpy(resize_nearest(labels.astype(np.int64), size))[None, None]
    return compact_semantics(small_labels, small_instance, preset)


def one_hot_semantics(channels: torch.Tensor, edges: torch.Tensor | None, preset: Preset) -> torch.Tensor:
    """compact_semantics' output -> the generator's input: one-hot label channels, then the edge channel."""
    one_hot = torch.zeros(channels.shape[0], preset.label_channels, *channels.shape[2:], dtype=torch.float32, device=channels.device)
    one_hot.scatter_(1, channels, 1.0)
    return one_hot if edges is None else torch.cat([one_hot, edges], dim=1)


def encode_semantics(
    label: torch.Tensor | np.ndarray,
    instance: torch.Tensor | np.ndarray | None,
    preset: Preset,
) -> torch.Tensor:
    """One-hot label channels (+ dont-care) (+ instance edges, last), exactly as NVIDIA's preprocessing."""
    return one_hot_semantics(*compact_semantics(label, instance, preset), preset)


def instance_map(labels: np.ndarray, thing_ids: Iterable[int]) -> np.ndarray:
    """Each 8-connected blob of a thing label gets its own id; stuff pixels keep their label value."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D (H, W) map, got shape {labels.shape}")
    instances = labels.astype(np.int32, copy=True)
    things = np.isin(labels, np.fromiter(thing_ids, dtype=np.int64))
    next_id = int(labels.max(initial=0)) + 1
    for thing in np.unique(labels[things]):
        components, count = ndimage.label(labels == thing, structure=np.ones((3, 3), dtype=bool))
        mask = components > 0
        instances[mask] = components[mask] - 1 + next_id
        next_id += count
    return instances


ALPHA_THRESHOLD = 128
SEED_SEARCH_RADII = (2, 4)
GROWTH_ROUNDS = 2
NEAR_COLOUR_DISTANCE = 4.0  # a painted pixel this close to a palette colour shows that colour
NEIGHBOUR_OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _check_canvas(rgba: np.ndarray) -> np.ndarray:
    array = np.asarray(rgba)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) == 0:
        raise ValueError(f"expected an (H, W, 4) RGBA or (H, W, 3) RGB image, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        raise ValueError(f"expected uint8 colour values, got dtype {array.dtype}")
    if array.dtype != np.uint8 and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"colour values must lie in 0..255, found {array.min()}..{array.max()}")
    return array.astype(np.int32, copy=False)


@functools.lru_cache(maxsize=8)
def _colour_lookup(colours: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """A 2**24 table from packed RGB to palette index; len(colours) marks "no exact match"."""
    table = np.full(1 << 24, len(colours), dtype=np.uint8 if len(colours) < 255 else np.uint16)
    for i, (r, g, b) in enumerate(colours):
        table[(r << 16) | (g << 8) | b] = i
    return table


def _nearest_colour(colours: np.ndarray, rgb: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Index of the nearest palette colour for each (N, 3) pixel, in chunks to bound memory."""
    out = np.empty(len(rgb), dtype=np.int64)
    for start in range(0, len(rgb), chunk):
        part = rgb[start:start + chunk, None, :] - colours[None, :, :]
        out[start:start + chunk] = (part * part).sum(-1).argmin(axis=1)
    return out


def to_label_map(rgba: np.ndarray, palette: list, background_id: int, alpha_threshold: int = ALPHA_THRESHOLD) -> np.ndarray:
    """Canvas pixels -> label ids: transparent -> background_id, painted -> the palette colour it shows.

    Pixels inside a uniform 3x3 patch of one exact palette colour are trusted (seeds): a blend of two
    strokes can land exactly on a third colour. Every other painted pixel takes, in this order: the
    nearest colour among labels shown exactly in its 3x3 neighbourhood; the palette colour it shows
    within NEAR_COLOUR_DISTANCE; the nearest among labels decided around it; among seed labels within
    2, then 4 pixels; else the nearest of the whole palette. So antialiased edges and overlaps keep a
    label painted around them.
    """
    if not palette:
        raise ValueError("palette is empty")
    if isinstance(background_id, bool) or not isinstance(background_id, (int, np.integer)) or background_id < 0:
        raise ValueError(f"background_id must be a non-negative int, got {background_id!r}")
    array = _check_canvas(rgba)
    ids = np.array([label.id for label in palette] + [int(background_id)], dtype=np.int64)
    colours = np.array([label.rgb for label in palette], dtype=np.int32)
    background = len(palette)
    rgb = array[..., :3]
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    transparent = array[..., 3] < alpha_threshold if array.shape[2] == 4 else np.zeros(keys.shape, bool)
    keys[transparent] = -1
    exact = _colour_lookup(tuple(map(tuple, colours.tolist())))[np.maximum(keys, 0)].astype(np.int64)
    padded = np.pad(keys, 1, mode="edge")
    h, w = keys.shape
    uniform = np.ones(keys.shape, bool)
    for dy, dx in NEIGHBOUR_OFFSETS:
        uniform &= padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] == keys
    exact[(exact == len(palette)) | transparent] = -1
    index = np.where(uniform, exact, -1)
    index[transparent] = background
    ys, xs = np.nonzero(index < 0)
    for tier, radius in (("shown", 1), ("near", 0), *(("grown", 1),) * GROWTH_ROUNDS, *(("seeds", r) for r in SEED_SEARCH_RADII)):
        if not len(ys):
            break
        if tier == "near":
            nearest = _nearest_colour(colours, rgb[ys, xs])
            close = ((colours[nearest] - rgb[ys, xs]) ** 2).sum(-1) <= NEAR_COLOUR_DISTANCE**2
            index[ys[close], xs[close]] = nearest[close]
            ys, xs = ys[~close], xs[~close]
            continue
        source = exact if tier == "shown" else index
        padded = np.pad(source, radius, constant_values=-1)
        offsets = range(-radius, radius + 1)
        candidates = np.stack([padded[ys + radius + dy, xs + radius + dx] for dy in offsets for dx in offsets], axis=1)
        candidates[candidates == background] = -1
        difference = colours[np.maximum(candidates, 0)] - rgb[ys, xs][:, None, :]
        distance = (difference * difference).sum(-1).astype(np.float64)
        distance[candidates < 0] = np.inf
        best = distance.argmin(axis=1)
        found = np.isfinite(distance[np.arange(len(ys)), best])
        index[ys[found], xs[found]] = candidates[np.arange(len(ys)), best][found]
        ys, xs = ys[~found], xs[~found]
    if len(ys):
        index[ys, xs] = _nearest_colour(colours, rgb[ys, xs])
    return ids[index]


def canonical_name(name: str) -> str:
    """Label names compared across label spaces: 'sky-other' == 'Sky' == 'sky'."""
    name = name.strip().lower().replace("_", " ").replace("-", " ")
    for suffix in (" other", " merged", " stuff"):
        name = name.removesuffix(suffix)
    return name


def remap(labels: np.ndarray, from_palette: list, to_palette: list, fallback_id: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Move a drawing between label spaces by label name; returns (new ids, names with no counterpart).

    Pixels whose label has no counterpart take fallback_id (default: the first label of to_palette).
    """
    labels = np.asarray(labels)
    targets = {canonical_name(label.name): label.id for label in to_palette}
    fallback = to_palette[0].id if fallback_id is None else fallback_id
    out = np.full(labels.shape, fallback, dtype=np.int64)
    missing = []
    for label in from_palette:
        mask = labels == label.id
        if not mask.any():
            continue
        target = targets.get(canonical_name(label.name))
        if target is None:
            missing.append(label.name)
        else:
            out[mask] = target
    return out, missing
