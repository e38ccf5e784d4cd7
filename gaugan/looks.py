"""Built-in looks: named style codes (day, golden hour, dusk, overcast) that a model's card keeps, chosen among the
codes its seeds draw by measuring the light of what the model paints with each on several layouts."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .canvas import example_scene
from .errors import InputError
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
    "Golden hour": lambda c: c.sky_warmth + c.ground_warmth - 2 * max(0.0, 0.55 - c.sky_value),  # warm, not dark
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
    return Light(*np.mean([list(vars(c).values()) for c in lights], axis=0).tolist())


@dataclass(frozen=True)
class Choice:
    """A look's chosen style code: the seed that drew it and the mean light of the model's scenes with it."""

    seed: int
    code: torch.Tensor
    light: Light


def scene_lights(model: GauGAN, codes: list[torch.Tensor], layouts: int) -> list[Light]:
    """The mean light of the model's paintings of its first `layouts` example scenes (gaugan.canvas.example_scene)
    with each style code."""
    sky_ids = [label.id for label in model.labels if label.name in SKY_NAMES]
    if not sky_ids:
        raise InputError(f"model {model.name!r} has no sky label ({', '.join(SKY_NAMES)}): looks are told apart by "
                         "the light of the sky")
    scenes = [example_scene(seed, model.labels, model.preset.output_size)[0] for seed in range(layouts)]
    skies = [(scene, sky) for scene in scenes if (sky := np.isin(scene, sky_ids)).any() and not sky.all()]
    return [mean_light([light(np.asarray(model.generate(scene, style=code)), sky) for scene, sky in skies])
            for code in codes]


def choose_looks(model: GauGAN, candidates: int = 96, layouts: int = 6) -> dict[str, Choice]:
    """For each look, the style code among those seeds 0..candidates-1 draw whose scenes (scene_lights) best show
    its light; each code serves one look at most."""
    if not model.varies_with_seed:
        raise InputError(f"model {model.name!r} takes no style code (its preset's use_vae is false): it has no looks")
    codes = [model.style_code(seed, None) for seed in range(candidates)]
    lights = scene_lights(model, codes, layouts)
    chosen: dict[str, Choice] = {}
    for name, score in LOOKS.items():
        free = [seed for seed in range(candidates) if seed not in {c.seed for c in chosen.values()}]
        best = max(free, key=lambda seed: score(lights[seed]))
        chosen[name] = Choice(best, codes[best], lights[best])
    return chosen
