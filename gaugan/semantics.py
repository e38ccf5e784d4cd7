"""Label maps -> instance maps -> the one-hot tensor the generator reads."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy import ndimage

from label_colors import canonical_name

from .errors import LabelMapError
from .presets import DONTCARE_ID, Preset, official_models_taking



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


def channel_ids(label: torch.Tensor, preset: Preset) -> torch.Tensor:
    """Label ids -> each pixel's input channel (dont-care 255 -> its own channel), or a ValueError naming the ids that
    have none."""
    channels = preset.label_channels
    if preset.contain_dontcare_label:
        label = torch.where(label == DONTCARE_ID, preset.label_nc, label)
    invalid = (label < 0) | (label >= channels)
    if bool(invalid.any()):
        bad = torch.unique(label[invalid])[:10].tolist()
        hint = (f" ({DONTCARE_ID} = dont-care needs a preset with a dont-care label)"
                if bool((label == DONTCARE_ID).any()) and not preset.contain_dontcare_label else "")
        raise ValueError(f"label ids must lie in {preset.label_ids_text} for preset {preset.name!r}, found {bad}{hint}")
    return label


def compact_semantics(
    label: torch.Tensor | np.ndarray,
    instance: torch.Tensor | np.ndarray | None,
    preset: Preset,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, 1, H, W) label ids -> each pixel's input channel (dont-care 255 -> its own channel), checked, and
    the instance edges (N, 1, H, W) for presets that use instances (else None): what the one-hot input encodes."""
    label = channel_ids(_as_label_tensor(label), preset)
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
    """A 2-D integer id map, or a LabelMapError that says what was found."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or min(labels.shape) == 0:
        raise LabelMapError(f"{name} must be a non-empty 2-D (H, W) array of label ids, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise LabelMapError(f"{name} must hold integer label ids, got dtype {labels.dtype}")
    return labels


def check_instance_array(instance: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A 2-D integer instance id map of the labels' shape, or a LabelMapError that says what was found."""
    instance = check_label_array(instance, "instance")
    if instance.shape != labels.shape:
        raise LabelMapError(f"instance map shape {instance.shape} differs from labels shape {labels.shape}")
    return instance


def encode(labels: np.ndarray, instance: np.ndarray | None, preset: Preset,
           size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A (H, W) label id map (and its instance map) -> the network's compact input at size (default: the preset's
    output size), as compact_semantics gives it. Presets that use instances derive them from the labels' thing
    blobs when none is given."""
    labels = check_label_array(labels)
    if labels.dtype == np.uint64 and labels.max() > np.iinfo(np.int64).max:  # named before int64 would wrap them
        raise LabelMapError(f"label ids must lie in {preset.label_ids_text} for preset {preset.name!r}, found "
                            f"[{labels.max()}]")
    labels = labels.astype(np.int64, copy=False)
    try:
        channel_ids(torch.from_numpy(labels), preset)  # every pixel's id, before the resize skips some
    except ValueError as exc:  # ids outside the model's classes: the caller's input, not a bug
        made_for = official_models_taking(labels, preset.name)
        hint = f"; these ids fit {made_for}, which `gaugan download` installs" if made_for else ""
        raise LabelMapError(f"{exc}{hint}") from None
    if instance is not None:  # checked even where the preset takes none, as keep_aspect's framing checks it
        instance = check_instance_array(instance, labels)
    size = preset.output_size if size is None else size
    small_instance = None
    if preset.use_instance:
        instance = instance_map(labels, preset.thing_ids) if instance is None else instance
        small_instance = torch.from_numpy(resize_nearest(instance.astype(np.int64), size))[None, None]
    return compact_semantics(torch.from_numpy(resize_nearest(labels, size))[None, None], small_instance, preset)


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
