"""Find, validate and load generator checkpoints (always weights_only): NVIDIA's folders, our model folders
(model.json beside the weights), and other SPADE generators given a preset."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.nn.utils.spectral_norm import SpectralNorm

from label_colors import PALETTES, Label, validate_palette

from .errors import CheckpointError
from .model_card import (GENERATOR_WEIGHTS, MODEL_CARD, MODEL_FORMAT, ModelCard, parse_card, read_card, read_preset_file,
                         write_card)
from .networks import SPADEGenerator, StyleEncoder
from .presets import PRESETS, Preset
from .shipped import checkpoint_argument, shipped_root
from .state_dicts import mapped_state_dict, open_state_dict, read_values, shown_key
from .style_prior import STYLE_PRIOR_WEIGHTS, StylePrior
from .whole_files import keep_mode, temporary_file

OFFICIAL_WEIGHTS = "latest_net_G.pth"


def input_channels(state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(semantic input channels, ngf) read from a SPADE generator's tensor shapes."""
    try:
        semantic_nc = state["head_0.norm_0.mlp_shared.0.weight"].shape[1]
        conv = state.get("head_0.conv_0.weight_orig", state.get("head_0.conv_0.weight"))
        outputs = conv.shape[0]
    except (KeyError, AttributeError, IndexError):
        keys = ", ".join(shown_key(str(key)) for key in list(state)[:3]) + (" …" if len(state) > 3 else "")
        raise CheckpointError(f"not a SPADE generator: it has no head_0.norm_0.mlp_shared.0.weight or "
                              f"head_0.conv_0.weight_orig (its keys: {keys or 'none'})") from None
    if outputs < 16 or outputs % 16:
        raise CheckpointError(f"head_0.conv_0 has {outputs} output channels; a SPADE generator's has 16 × its width "
                              "(ngf), so this is not one")
    return semantic_nc, outputs // 16


def card_misfit(preset: Preset, state: dict[str, torch.Tensor]) -> str:
    """What in model.json's preset may not fit a generator's weights, as a clause to add to the misfit: its input
    channels and width against theirs."""
    try:
        semantic_nc, ngf = input_channels(state)
    except CheckpointError:  # not a SPADE generator at all: the misfit says enough
        return ""
    if (semantic_nc, ngf) != (preset.semantic_nc, preset.ngf):
        return (f"; {MODEL_CARD}'s preset makes {preset.semantic_nc} input channels and ngf {preset.ngf}, the weights "
                f"take {semantic_nc} and ngf {ngf}: check its label_nc, contain_dontcare_label, use_instance and ngf")
    return (f"; {MODEL_CARD}'s preset may not be the one the weights were trained with: check its crop_size, "
            "aspect_ratio, num_upsampling_layers, z_dim, use_vae and spade_hidden")


def _variants(preset: Preset) -> list[Preset]:
    """The preset as released, then with the dont-care channel and instance edges switched on or off."""
    flags = [(preset.contain_dontcare_label, preset.use_instance)]
    flags += [(d, i) for d in (False, True) for i in (False, True) if (d, i) not in flags]
    return [replace(preset, contain_dontcare_label=d, use_instance=i) for d, i in flags]


def _describe(preset: Preset) -> str:
    parts = [f"{preset.label_nc} labels", "dont-care" if preset.contain_dontcare_label else "no dont-care",
             "instance edges" if preset.use_instance else "no instance edges"]
    return f"{preset.name} ({', '.join(parts)})"


def fit_preset(bases: list[Preset], state: dict[str, torch.Tensor], notes: list[str]) -> Preset:
    """The base preset (as released, else with dont-care/instance switched) whose input channels and width fit
    the tensor shapes; ambiguity or no fit is a CheckpointError."""
    semantic_nc, ngf = input_channels(state)
    released = [p for p in bases if p.semantic_nc == semantic_nc]
    fitting = released[:1] or [v for p in bases for v in _variants(p)[1:] if v.semantic_nc == semantic_nc]
    if not fitting:
        known = ", ".join(f"{p.name}={p.semantic_nc}" for p in bases)
        raise CheckpointError(f"a generator with {semantic_nc} semantic input channels matches no official preset "
                              f"({known}, each ±1 or 2 without the dont-care channel / instance edges); "
                              "give a model.json or a preset JSON")
    if len(fitting) > 1:
        raise CheckpointError(f"a generator with {semantic_nc} semantic input channels fits "
                              f"{' or '.join(map(_describe, fitting))}: give a preset JSON that says which")
    preset = fitting[0]
    if not released:
        notes.append(f"recognised from its {semantic_nc} input channels as {_describe(preset)}")
    if "up_4.conv_0.bias" in state:
        preset = replace(preset, num_upsampling_layers="most")
    return replace(preset, ngf=ngf)


def infer_preset(state: dict[str, torch.Tensor], name_hint: str = "", notes: list[str] | None = None) -> Preset:
    """Guess the official preset and ngf from tensor shapes (a folder name like coco_pretrained breaks ties).

    Shapes cannot tell "normal" from "more" upsampling; the matching official preset decides it
    (cityscapes uses "more"), and callers who know better pass their own preset.
    """
    hinted = sorted(PRESETS.values(), key=lambda p: not name_hint.startswith(p.name))
    return fit_preset(hinted, state, [] if notes is None else notes)


def preset_argument(value: Preset | str, state: dict[str, torch.Tensor], notes: list[str]) -> Preset:
    """A Preset as given; a preset JSON file's; or an official preset's name, fitted to the tensor shapes."""
    if isinstance(value, Preset):
        return value
    if value in PRESETS:
        return fit_preset([PRESETS[value]], state, notes)
    path = Path(value)
    if path.suffix != ".json":
        raise CheckpointError(f"preset must be one of {sorted(PRESETS)} or a preset .json file, found {value!r}")
    if not path.is_file():
        raise CheckpointError(f"no preset file {value}")
    return read_preset_file(path, str(path), CheckpointError)


def describe_mismatch(model: torch.nn.Module, state: dict[str, torch.Tensor], limit: int = 8) -> str:
    """Name the missing, unexpected and wrongly shaped keys between a model and a state_dict."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    parts = []
    missing = [k for k in expected if k not in found]
    unexpected = [shown_key(k) for k in found if k not in expected]
    shaped = [f"{k}: expected {expected[k]}, found {found[k]}" for k in expected if k in found and expected[k] != found[k]]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shaped)):
        if items:
            more = f" … and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{len(items)} {title}: " + "; ".join(items[:limit]) + more)
    return " | ".join(parts) or "keys and shapes agree"


def check_fit(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse a state_dict whose names or shapes strict loading would refuse, before any load hook runs (spectral
    norm's computes with the values, at a cost set by their shapes), naming two keys of each kind.

    Files of older torch may lack what its hooks derive on loading: a batch norm's num_batches_tracked and, beside
    the normalised `weight` that spectral norm kept before torch 1.1 (of weight_orig's shape), its weight_v.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    legacy = {k for k in state if k not in expected and k + "_orig" in expected}
    derived = {k + "_v" for k in legacy} | {k for k in expected if k.endswith(".num_batches_tracked")}
    fits = (all(tuple(v.shape) == expected.get(k, expected.get(k + "_orig")) for k, v in state.items())
            and all(k in state or k in derived for k in expected))
    if not fits:
        raise CheckpointError(f"{source} does not fit a {model.__class__.__name__}: "
                              f"{describe_mismatch(model, state, limit=2)}")


def _spectral_norms(model: torch.nn.Module) -> dict[str, int]:
    """The weights spectral norm reparametrises in model, by state_dict name ("head_0.conv_0.weight"), with the
    dimension it takes their matrix along."""
    return {f"{name}.{hook.name}".lstrip("."): hook.dim for name, module in model.named_modules()
            for hook in module._forward_pre_hooks.values() if isinstance(hook, SpectralNorm)}


def _from_old_spectral_norm(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Convert, in place, spectral norm's layout before torch 1.1 (the normalised `weight` beside weight_orig and
    weight_u, no weight_v) to the current one, which is all evaluation reads: sigma = |weight_orig| / |weight| and
    v = W^T u sigma / |W^T u|^2, so that u^T W v = sigma. torch's own conversion pseudo-inverts W^T W (minutes for
    a wide layer) and divides by the weights (NaN where one is 0)."""
    for key, dim in _spectral_norms(model).items():
        if key in state and key + "_v" not in state:
            weight, normalised, u = state[key + "_orig"], state.pop(key), state[key + "_u"]
            matrix = weight.movedim(dim, 0).reshape(weight.shape[dim], -1)
            sigma = weight.norm() / normalised.norm()
            direction = matrix.t() @ u
            v = direction * sigma / direction.dot(direction)
            if not bool(torch.isfinite(v).all()):
                raise CheckpointError(f"{source}: {key} in the layout of torch before 1.1 cannot be converted (its "
                                      "weights or their normalised copy are all zero); the weights are damaged")
            state[key + "_v"] = v


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str, assign: bool = False) -> None:
    """load_state_dict(strict=True) after check_fit, turning a mismatch into a CheckpointError that names the keys;
    spectral norm's layout of torch before 1.1 is converted first (_from_old_spectral_norm).

    assign=True adopts the loaded tensors (for a model built on the meta device: no second copy in memory).
    """
    check_fit(model, state, source)
    _from_old_spectral_norm(model, state, source)
    try:
        model.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError:
        raise CheckpointError(f"{source} does not fit a {model.__class__.__name__}: {describe_mismatch(model, state)}") from None


def adopt_weights(network: torch.nn.Module, path: Path, state: dict[str, torch.Tensor],
                  notes: list[str] | None = None) -> None:
    """Load a weights file into a network (built on the meta device: it adopts the tensors) after checking the names
    and shapes of its opened state (open_state_dict), so weights that do not fit cost no memory. A mapped file's
    values are then read anew, so that a file changed meanwhile is an error rather than a fault on a mapped page."""
    check_fit(network, state, str(path))
    notes = [] if notes is None else notes
    load_weights(network, read_values(path, state, notes), str(path), assign=True)


def meta_network(build: Callable[[], torch.nn.Module], what: str) -> torch.nn.Module:
    """A network built on the meta device (no memory for weights); a shape it cannot be built with (from a card, or
    inferred from a file's tensors) is a CheckpointError naming `what`, unless build raised one itself."""
    try:
        with torch.device("meta"):
            return build()
    except CheckpointError:
        raise
    except (RuntimeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{what} describes a network that cannot be built: {str(exc)[:200]}") from None


def weights_file(path_or_dir: str | Path) -> Path:
    """The generator weights inside a checkpoint folder (or the file itself)."""
    path = Path(path_or_dir)
    if path.is_file():
        return path
    for name in (GENERATOR_WEIGHTS, OFFICIAL_WEIGHTS):
        if (path / name).is_file():
            return path / name
    raise CheckpointError(
        f"no generator weights in {path}: expected {GENERATOR_WEIGHTS} with {MODEL_CARD} (our models) "
        f"or {OFFICIAL_WEIGHTS} (NVIDIA's checkpoints/<name>_pretrained folders)"
    )


def card_folder(path: Path) -> Path:
    """Where a checkpoint's model.json would be: the folder itself, or a weights file's folder."""
    return path if path.is_dir() else path.parent


def file_in_folder(folder: Path, name: str) -> Path:
    """folder/name, refused unless it is a file that really lies in folder (no link out of it)."""
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise CheckpointError(f"{path} leads outside the model folder {folder}; model files must lie inside it")
    if not path.is_file():
        raise CheckpointError(f"{folder / MODEL_CARD} names {name!r}, but there is no such file in {folder}")
    return path


def load_encoder(path: Path, z_dim: int, notes: list[str]) -> StyleEncoder:
    """A style encoder whose width and depth are read from its weights, loaded strictly."""
    state = open_state_dict(path, notes)
    convs = [k for k in state if k.startswith("features.") and k.endswith(".weight_orig")]
    if not convs or state[convs[0]].dim() != 4:
        raise CheckpointError(f"{path} holds no style encoder (no features.*.weight_orig convolutions)")
    encoder = meta_network(lambda: StyleEncoder(z_dim, ndf=state[convs[0]].shape[0], layers=len(convs)), str(path))
    adopt_weights(encoder, path, state, notes)
    return encoder.eval()


def load_style_prior(path: Path, z_dim: int, notes: list[str]) -> StylePrior:
    """A style prior of z_dim dimensions, loaded strictly and checked to be a usable Gaussian."""
    prior = StylePrior(z_dim)
    adopt_weights(prior, path, open_state_dict(path, notes), notes)
    if problem := prior.problem():
        raise CheckpointError(f"{path} is not a usable style prior: {problem}")
    return prior


@dataclass
class LoadedModel:
    """What a checkpoint holds: the generator, its style encoder and style prior if any, its labels, its card, and
    notes."""

    generator: SPADEGenerator
    encoder: StyleEncoder | None
    labels: list[Label]
    card: ModelCard | None
    notes: list[str] = field(default_factory=list)
    style_prior: StylePrior | None = None


def spade_summary(folder: Path) -> str:
    """A SPADE checkpoint folder in a few words for listings: "SPADE generator", or "unreadable: " and why (its
    model.json, a weights file missing or not from torch.save, or tensors that do not fit the generator its card
    describes), found without reading the weights' values."""
    try:
        card = read_card(folder)
        weights = (file_in_folder(folder, card.files["generator"]) if card
                   else weights_file(folder))
        if not weights.is_file():
            raise CheckpointError(f"no {weights.name}, which {MODEL_CARD} names")
        state = mapped_state_dict(weights)
        if state is not None:  # the legacy format cannot be mapped: its names and shapes are checked when it loads
            preset = card.preset if card else infer_preset(state, folder.name)
            try:
                check_fit(meta_network(lambda: SPADEGenerator(preset), weights.name), state, weights.name)
            except CheckpointError as exc:
                raise CheckpointError(f"{exc}{card_misfit(preset, state) if card else ''}") from None
        for role in ("encoder", "style_prior") if card else ():  # the other files the card names, as files
            if role in card.files:
                mapped_state_dict(file_in_folder(folder, card.files[role]))
    except CheckpointError as exc:
        return f"unreadable: {exc}"
    return "SPADE generator"


def load_model(path: str | Path, preset: Preset | str | None = None, style_prior: bool = True) -> LoadedModel:
    """Load a model folder (model.json), an NVIDIA <name>_pretrained folder, a weights file or a model's name (a
    folder in checkpoints_root(), else a shipped model), all validated.

    preset (a Preset, an official preset's name, or a preset .json file) overrides the card and shape inference:
    e.g. a generator trained without the dont-care channel or instance edges; style_prior=False leaves the style
    prior the card lists unread.
    """
    path = checkpoint_argument(str(path))  # a model's name, as `gaugan models` lists it, too
    folder = card_folder(path)
    card, notes = read_card(folder), []
    if card and path.is_dir():
        weights = file_in_folder(folder, card.files["generator"])
    else:
        weights = weights_file(path)
    state = open_state_dict(weights, notes)
    if preset is not None:
        chosen = preset_argument(preset, state, notes)
    else:
        chosen = card.preset if card else infer_preset(state, folder.name, notes)
    generator = meta_network(lambda: SPADEGenerator(chosen), str(weights))  # no memory until its tensors are assigned
    try:
        adopt_weights(generator, weights, state, notes)
    except CheckpointError as exc:
        inferred = (f"; its preset was inferred from the tensor shapes ({_describe(chosen)}, ngf {chosen.ngf}): give "
                    "--preset FILE (preset= in Python) for one made with other settings, such as spade_hidden")
        hint = "" if preset is not None else card_misfit(chosen, state) if card else inferred
        raise CheckpointError(f"{exc}{hint}") from None
    encoder = None
    if card and "encoder" in card.files:
        encoder = load_encoder(file_in_folder(folder, card.files["encoder"]), chosen.z_dim, notes)
    prior = None
    if card and "style_prior" in card.files and style_prior:
        if not chosen.use_vae:
            raise CheckpointError(f"{folder / MODEL_CARD} lists a style prior, but its generator takes no style code "
                                  "(its preset's use_vae is false); remove files.style_prior")
        try:
            prior = load_style_prior(file_in_folder(folder, card.files["style_prior"]), chosen.z_dim, notes)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}; refit it with `gaugan style-prior`, or remove files.style_prior from "
                                  f"{MODEL_CARD} to draw seeds' style codes from N(0, I)") from None
    labels = (card.labels if card else []) or builtin_palette(chosen, notes)
    return LoadedModel(generator.eval(), encoder, labels, card, notes, prior)


def builtin_palette(preset: Preset, notes: list[str]) -> list[Label]:
    """The preset's palette from label_colors.py (which users edit), checked by validate_palette, less the labels
    whose ids the generator has no input channel for (noted); empty for presets without one."""
    labels = PALETTES.get(preset.name, [])
    try:
        validate_palette(labels)
    except ValueError as exc:
        raise CheckpointError(f"label_colors.py, palette {preset.name!r}: {exc}") from None
    if unfit := preset.unfit_labels(labels):
        notes.append(f"label_colors.py, palette {preset.name!r}: left out {unfit}: this generator takes label ids "
                     f"{preset.label_ids_text}")
    return [label for label in labels if preset.takes_label_id(label.id)]


def load_generator(path_or_dir: str | Path, preset: Preset | str | None = None) -> SPADEGenerator:
    """Build the right SPADEGenerator for a checkpoint and load it strictly, in eval mode."""
    return load_model(path_or_dir, preset).generator


def save_model(directory: str | Path, generator: SPADEGenerator, card: dict,
               extra_weights: dict[str, torch.nn.Module] | None = None) -> Path:
    """Write generator.pth (+ extra modules) and a model.json that carries the preset; an invalid card writes nothing."""
    directory = Path(directory)
    files = {"generator": GENERATOR_WEIGHTS, **{name: f"{name}.pth" for name in extra_weights or {}}}
    full_card = {"format": MODEL_FORMAT, **card, "preset": generator.preset.to_dict(), "files": files}
    parse_card(full_card, str(directory / MODEL_CARD))
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(generator.state_dict(), directory / GENERATOR_WEIGHTS)
    for name, module in (extra_weights or {}).items():
        torch.save(module.state_dict(), directory / files[name])
    write_card(directory, full_card)
    return directory


def update_card(folder: str | Path, **entries: object) -> Path:
    """Set top-level entries (e.g. evaluation results) in an existing model folder's model.json."""
    card = read_card(Path(folder))
    if card is None:
        raise CheckpointError(f"{Path(folder) / MODEL_CARD} does not exist: only our own model folders have a card")
    return write_card(Path(folder), {**card.raw, **entries})


def write_style_prior(folder: str | Path, prior: StylePrior, fitted_on: str) -> Path:
    """Save a style prior into a model folder and list it in model.json (files.style_prior, and what it was fitted
    on under "style_prior"), dropping the card's evaluation, which the old seeds gave; the file it writes. A failure
    (an OSError, or torch.save's RuntimeError) puts the old prior and card back."""
    folder = Path(folder)
    card = read_card(folder)
    if card is None:
        raise CheckpointError(f"{folder / MODEL_CARD} does not exist: a style prior goes into our own model "
                              "folders, beside the generator and style encoder it was fitted for")
    path = folder / STYLE_PRIOR_WEIGHTS
    new, old = temporary_file(path), temporary_file(path)
    try:
        torch.save(prior.state_dict(), new)
        keep_mode(new, path)
        had_prior = path.exists()
        if had_prior:
            os.replace(path, old)
        try:
            os.replace(new, path)
            write_card(folder, {**{k: v for k, v in card.raw.items() if k != "evaluation"},
                                "files": {**card.files, "style_prior": STYLE_PRIOR_WEIGHTS},
                                "style_prior": {"fitted_on": fitted_on}})
        except BaseException:
            if had_prior:
                os.replace(old, path)
            else:
                path.unlink(missing_ok=True)
            raise
    finally:
        new.unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return path


def find_checkpoints(root: str | Path) -> dict[str, Path]:
    """Checkpoint folders directly under root: ours (model.json) and NVIDIA's (latest_net_G.pth)."""
    root = Path(root)
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if is_model_folder(folder):
            found[folder.name] = folder
    return found


def is_model_folder(folder: Path) -> bool:
    """Whether a folder holds a model: ours (model.json) or NVIDIA's or pix2pix's (latest_net_G.pth)."""
    return (folder / MODEL_CARD).is_file() or (folder / OFFICIAL_WEIGHTS).is_file()


def available_checkpoints(root: str | Path) -> dict[str, Path]:
    """The checkpoint folders under root, then the shipped models (a folder under root wins a name clash)."""
    found = find_checkpoints(root)
    shipped = shipped_root()
    return found | {name: folder for name, folder in (find_checkpoints(shipped) if shipped else {}).items()
                    if name not in found}
