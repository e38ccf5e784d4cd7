"""Built-in looks: named style codes (day, golden hour, dusk, overcast) that a model's card keeps, chosen among the
codes its seeds draw by measuring the light of what the model paints with each on several layouts, and, where a
segmenter can read the model's labels back, how faithfully it paints them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from label_colors import PALETTES

from .canvas import example_scene
from .errors import InputError
from .evaluate import (AnySegmenter, confusion, default_segmenter_dir, load_segmenter, miou, predict, segmenter_config,
                       segmenter_target, trained_config)
from .pipeline import GauGAN

SKY_NAMES = ("sky", "sky-other", "clouds")  # the labels whose pixels are measured as sky; all others as ground


@dataclass(frozen=True)
class Light:
    """Mean colour measures of a painted scene's sky and ground, from RGB in 0..1: warmth is red minus blue, value
    the brightest channel, saturation the brightest minus the darkest."""

    sky_warmth: float
    sky_value: float
    sky_saturation: float
    ground_warmth: float
    ground_value: float
    ground_saturation: float


# What each look asks of the light, as a score (higher is better)
LOOKS: dict[str, Callable[[Light], float]] = {
    "Day": lambda c: c.sky_value - c.sky_warmth + c.ground_saturation,  # a bright blue sky over colourful land
    "Golden hour": lambda c: 2 * c.sky_warmth + c.ground_warmth - 2 * max(0.0, 0.55 - c.sky_value),  # a warm sky
    "Dusk": lambda c: -c.sky_value - c.ground_value,  # a dim sky over dim land
    "Overcast": lambda c: -3 * c.sky_saturation - abs(c.sky_value - 0.75) - c.ground_saturation,  # bright grey, muted
}


def light(image: np.ndarray, sky: np.ndarray) -> Light:
    """The light of an (H, W, 3) uint8 image whose sky pixels are marked in sky (H, W)."""
    rgb = image.astype(np.float32) / 255
    warmth, value, saturation = rgb[..., 0] - rgb[..., 2], rgb.max(-1), rgb.max(-1) - rgb.min(-1)
    part = lambda x, mask: float(x[mask].mean())  # noqa: E731
    return Light(part(warmth, sky), part(value, sky), part(saturation, sky),
                 part(warmth, ~sky), part(value, ~sky), part(saturation, ~sky))


def mean_light(lights: list[Light]) -> Light:
    return Light(*np.mean([list(asdict(c).values()) for c in lights], axis=0).tolist())


@dataclass(frozen=True)
class Choice:
    """A look's chosen style code: the seed that drew it, the mean light of the model's scenes with it, and the mIoU
    a segmenter reads back from them (None without one)."""

    seed: int
    code: torch.Tensor
    light: Light
    fidelity: float | None


def landscape_segmenter(model: GauGAN) -> AnySegmenter | None:
    """The shipped photo segmenter, which reads the landscape labels back from photos, for a model that paints that
    label table; else None."""
    if [(l.id, l.name) for l in model.labels] != [(l.id, l.name) for l in PALETTES["landscape"]]:
        return None
    config = segmenter_config("landscape", model.preset.label_channels, photo_textures=True)
    folder = default_segmenter_dir(config)
    return load_segmenter(folder, config) if trained_config(folder) == asdict(config) else None


def measure(model: GauGAN, code: torch.Tensor, scenes: list[tuple[np.ndarray, np.ndarray]],
            segmenter: AnySegmenter | None) -> tuple[Light, float | None]:
    """The mean light of the model's paintings of the (layout, sky mask) scenes with a style code, and the mIoU the
    segmenter reads back from them (None without one)."""
    images = [np.asarray(model.generate(layout, style=code)) for layout, _ in scenes]
    lit = mean_light([light(image, sky) for image, (_, sky) in zip(images, scenes)])
    if segmenter is None:
        return lit, None
    classes = model.preset.label_channels
    read = predict(segmenter, images)[0]
    matrix = sum(confusion(p, segmenter_target(layout), classes) for p, (layout, _) in zip(read, scenes))
    return lit, miou(matrix)


def sky_ids(model: GauGAN) -> list[int]:
    """The ids of the model's sky labels, or an InputError where it can have no looks: it takes no style code, or
    has no sky to tell looks apart by."""
    if not model.varies_with_seed:
        raise InputError(f"model {model.name!r} takes no style code (its preset's use_vae is false): it has no looks")
    ids = [label.id for label in model.labels if label.name in SKY_NAMES]
    if not ids:
        raise InputError(f"model {model.name!r} has no sky label ({', '.join(SKY_NAMES)}): looks are told apart by "
                         "the light of the sky")
    return ids


def choose_looks(model: GauGAN, candidates: int = 256, layouts: int = 6,
                 segmenter: AnySegmenter | None = None) -> dict[str, Choice]:
    """For each look, the style code among those seeds 0..candidates-1 draw whose paintings of the model's first
    `layouts` example scenes (gaugan.canvas.example_scene) best show its light; with a segmenter, only codes whose
    paintings it reads back at least as well as the median code's; each code serves one look at most."""
    sky = sky_ids(model)
    layouts_ = [example_scene(seed, model.labels, model.preset.output_size)[0] for seed in range(layouts)]
    scenes = [(layout, mask) for layout in layouts_ if (mask := np.isin(layout, sky)).any() and not mask.all()]
    codes = [model.style_code(seed, None) for seed in range(candidates)]
    measured = [measure(model, code, scenes, segmenter) for code in codes]
    fidelities = [f for _, f in measured if f is not None]
    floor = float(np.median(fidelities)) if fidelities else -np.inf
    chosen: dict[str, Choice] = {}
    for name, score in LOOKS.items():
        taken = {c.seed for c in chosen.values()}
        free = [s for s in range(candidates) if s not in taken and (measured[s][1] or 0) >= floor]
        best = max(free, key=lambda seed: score(measured[seed][0]))
        chosen[name] = Choice(best, codes[best], *measured[best])
    return chosen
