"""Find, validate, load, save and download generator checkpoints (always weights_only)."""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import urllib.request
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from .networks import SPADEGenerator
from .presets import PRESETS, Preset

OFFICIAL_WEIGHTS = "latest_net_G.pth"
MODEL_CARD = "model.json"
GENERATOR_WEIGHTS = "generator.pth"
MODEL_FORMAT = "gaugan-model/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be found, read or matched to a generator."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a flat state_dict with weights_only=True; anything that would unpickle code is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: refused to load; expected a plain state_dict of tensors readable with "
            f"weights_only=True, but loading failed: {reason}"
        ) from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path}: expected a flat dict of tensors, found {type(state).__name__}")
    if all(k.startswith("module.") for k in state):
        stripped = {k[len("module."):]: v for k, v in state.items()}
        if hasattr(state, "_metadata"):
            stripped = _with_metadata(stripped, {k.removeprefix("module."): v for k, v in state._metadata.items()})
        state = stripped
    return state


def _with_metadata(state: dict, metadata: dict) -> dict:
    out = OrderedDict(state)
    out._metadata = metadata  # type: ignore[attr-defined]
    return out


def infer_preset(state: dict[str, torch.Tensor], name_hint: str = "") -> Preset:
    """Guess the official preset and ngf from tensor shapes (a folder name like coco_pretrained breaks ties).

    Shapes cannot tell "normal" from "more" upsampling; the matching official preset decides it
    (cityscapes uses "more"), and callers who know better pass their own preset.
    """
    try:
        semantic_nc = state["head_0.norm_0.mlp_shared.0.weight"].shape[1]
        conv = state.get("head_0.conv_0.weight_orig", state.get("head_0.conv_0.weight"))
        ngf = conv.shape[0] // 16
    except (KeyError, AttributeError):
        raise CheckpointError(
            "cannot infer the preset: the state_dict has no head_0.norm_0.mlp_shared.0.weight / "
            "head_0.conv_0.weight_orig, so it is not a SPADE generator; pass preset= explicitly"
        ) from None
    candidates = [p for p in PRESETS.values() if p.semantic_nc == semantic_nc]
    hinted = [p for p in candidates if name_hint.startswith(p.name)]
    if not candidates:
        known = ", ".join(f"{p.name}={p.semantic_nc}" for p in PRESETS.values())
        raise CheckpointError(
            f"a generator with {semantic_nc} semantic input channels matches no official preset "
            f"({known}); give a model.json or pass preset="
        )
    preset = (hinted or candidates)[0]
    if "up_4.conv_0.bias" in state:
        preset = replace(preset, num_upsampling_layers="most")
    return replace(preset, ngf=ngf)


def describe_mismatch(model: torch.nn.Module, state: dict[str, torch.Tensor], limit: int = 8) -> str:
    """Name the missing, unexpected and wrongly shaped keys between a model and a state_dict."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    parts = []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shaped = [f"{k}: expected {expected[k]}, found {found[k]}" for k in expected if k in found and expected[k] != found[k]]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shaped)):
        if items:
            more = f" … and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{len(items)} {title}: " + "; ".join(items[:limit]) + more)
    return " | ".join(parts) or "keys and shapes agree"


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str, assign: bool = False) -> None:
    """load_state_dict(strict=True), turning a mismatch into a CheckpointError that names the keys.

    assign=True adopts the loaded tensors (for a model built on the meta device: no second copy in memory).
    """
    try:
        model.load_state_dict(state, strict=True, assign=assign)
    except RuntimeError:
        raise CheckpointError(f"{source} does not fit a {model.__class__.__name__}: {describe_mismatch(model, state)}") from None


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


def read_model_card(path_or_dir: str | Path) -> dict | None:
    """The model.json beside the weights, or None for NVIDIA's folders."""
    path = Path(path_or_dir)
    card_path = (path if path.is_dir() else path.parent) / MODEL_CARD
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{card_path} is not valid JSON: {exc}") from None
    if card.get("format") != MODEL_FORMAT or "preset" not in card:
        raise CheckpointError(f"{card_path}: expected format {MODEL_FORMAT!r} with a 'preset', found {card.get('format')!r}")
    return card


def load_generator(path_or_dir: str | Path, preset: Preset | None = None) -> SPADEGenerator:
    """Build the right SPADEGenerator for a checkpoint and load it strictly, in eval mode."""
    weights = weights_file(path_or_dir)
    state = read_state_dict(weights)
    if preset is None:
        card = read_model_card(weights.parent)
        preset = Preset.from_dict(card["preset"]) if card else infer_preset(state, weights.parent.name)
    with torch.device("meta"):  # no weights allocated until the checkpoint's own tensors are assigned
        generator = SPADEGenerator(preset)
    load_weights(generator, state, str(weights), assign=True)
    return generator.eval()


def save_model(directory: str | Path, generator: SPADEGenerator, card: dict,
               extra_weights: dict[str, torch.nn.Module] | None = None) -> Path:
    """Write generator.pth (+ extra modules) and a model.json that carries the preset."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(generator.state_dict(), directory / GENERATOR_WEIGHTS)
    files = {"generator": GENERATOR_WEIGHTS}
    for name, module in (extra_weights or {}).items():
        torch.save(module.state_dict(), directory / f"{name}.pth")
        files[name] = f"{name}.pth"
    full_card = {"format": MODEL_FORMAT, **card, "preset": generator.preset.to_dict(), "files": files}
    (directory / MODEL_CARD).write_text(json.dumps(full_card, indent=2) + "\n")
    return directory


def find_checkpoints(root: str | Path) -> dict[str, Path]:
    """Checkpoint folders directly under root: ours (model.json) and NVIDIA's (latest_net_G.pth)."""
    root = Path(root)
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if (folder / MODEL_CARD).is_file() or (folder / OFFICIAL_WEIGHTS).is_file():
            found[folder.name] = folder
    return found


def _fetch(url_or_path: str, target: Path) -> None:
    """Copy a URL or local file to target with a progress bar."""
    if "://" in url_or_path:
        source = urllib.request.urlopen(url_or_path, timeout=60)  # noqa: S310 (user-chosen URL)
        total = int(source.headers.get("Content-Length") or 0) or None
    else:
        local = Path(url_or_path)
        if not local.is_file():
            raise CheckpointError(f"no file at {local}")
        source, total = local.open("rb"), local.stat().st_size
    with source, target.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(url_or_path: str, dest: str | Path = "checkpoints", sha256: str | None = None) -> Path:
    """Fetch weights or NVIDIA's checkpoints.tar.gz into dest, verified and safely extracted."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = Path(url_or_path.split("?")[0]).name or "download"
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        fetched = Path(tmp) / name
        _fetch(url_or_path, fetched)
        if sha256 and (actual := _sha256(fetched)) != sha256.lower():
            raise CheckpointError(f"checksum mismatch for {name}: expected sha256 {sha256}, found {actual}")
        if not tarfile.is_tarfile(fetched):
            return Path(shutil.move(fetched, dest / name))
        unpacked = Path(tmp) / "unpacked"
        try:
            with tarfile.open(fetched) as archive:
                archive.extractall(unpacked, filter="data")
        except tarfile.FilterError as exc:
            raise CheckpointError(f"{name}: refused to extract an unsafe archive member: {exc}") from None
        # NVIDIA's archive holds checkpoints/<name>_pretrained/...; keep the <name>_pretrained level.
        top = unpacked / "checkpoints" if (unpacked / "checkpoints").is_dir() else unpacked
        for item in top.iterdir():
            target = dest / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            shutil.move(item, target)
    return dest
