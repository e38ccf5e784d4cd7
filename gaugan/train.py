"""SPADE training: single process or `torchrun` (DistributedDataParallel), with bit-exact resume.

A run folder holds state.pt (everything needed to resume), metrics.csv, and samples/step_N.png
(labels | real | generated). `export` turns a run into a model folder the pipeline loads.
"""
from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import platform
import signal
import threading
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from label_colors import PALETTES, Label

from .checkpoints import load_weights, save_model
from .data.folder import label_entries
from .data.registry import DATASETS, FOLDER_SHARE, open_dataset
from .data.sketch import LANDSCAPE_SKETCH
from .data.texture_bank import TextureBank
from .errors import CheckpointError, InputError
from .folders import check_model_destination, refuse_existing, replacing
from .imagenet import ImageNetFeatures, perceptual_loss
from .losses import feature_matching_loss, hinge_d_loss, hinge_g_loss, kl_loss
from .model_card import parse_labels, parse_preset, shown_value
from .networks import MultiscaleDiscriminator, SPADEGenerator, StyleEncoder
from .presets import Preset, landscape_preset
from .progress import Estimate
from .semantics import encode_semantics
from .state_dicts import load_failure
from .weight_averages import AVERAGE_SUFFIX, AVERAGE_UPDATES, AVERAGED, WeightAverages
from .whole_files import written_whole

STATE_FILE = "state.pt"
RUN_FILES = ("metrics.csv", "samples", STATE_FILE + ".tmp")  # what a run writes before its first state.pt
METRICS_COLUMNS = ("step", "wall_seconds")  # metrics.csv's first columns; the losses follow
# Options that fix the networks' shape: a run folder keeps those it was started with.
SHAPE_OPTIONS = ("preset", "labels", "ndf", "d_layers", "d_scales", "encoder_ndf")
# pix2pix options that shape its generator or fix what it learns (which half of a pair is the sketch)
SKETCH_SHAPE = ("network", "block", "ngf", "depth", "norm", "dropout", "class_planes", "embed_dim", "direction")
THIS_MACHINE = ("out", "workers")  # options a resumed run always takes from its command line (default or given)
PRECISIONS = ("auto", "bf16", "fp32")  # TrainConfig.precision's values
# Bounds on the options that size the discriminator and encoder, for a state.pt that comes from elsewhere.
SHAPE_LIMITS = {"ndf": (1, 1024), "d_layers": (1, 8), "d_scales": (1, 8), "encoder_ndf": (1, 1024)}
SKETCH_LIMITS = {"ngf": (1, 512), "depth": (1, 10), "class_planes": (1, 256), "embed_dim": (1, 1024),
                 "load_size": (1, 4096), "crop_size": (1, 4096)}  # ... and those of a pix2pix run's generator
MODULE_NAMES = ("generator", "discriminator", "encoder")


@dataclass
class TrainConfig:
    """Options of a training run; saved into state.pt and the exported model.json."""

    out: str = "runs/landscape"
    data: str = "landscape"
    model: str = "spade"  # or "pix2pix": sketch models (gaugan/sketch_train.py), options in `sketch`
    sketch: dict = field(default_factory=dict)
    preset: dict = field(default_factory=lambda: landscape_preset().to_dict())
    labels: list[dict] = field(default_factory=list)  # [{"id", "name", "rgb"}]; empty: the preset's palette
    batch_size: int = 8
    steps: int = 20000
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    lambda_feat: float = 10.0
    lambda_kl: float = 0.05
    lambda_l1: float = 2.0
    lambda_perceptual: float = 2.0
    ema_decay: float = 0.999  # exported weights average up to the last 1 / (1 - ema_decay) steps'; 0: the last's
    precision: str = "auto"  # "bf16" (autocast) or "fp32"; "auto": bf16 where it is native (uses_bf16)
    photos: str = ""
    folder_share: float = FOLDER_SHARE  # with --photos beside a --data folder: the share of samples taken from it
    workers: int = 0
    ndf: int = 32
    d_layers: int = 3
    d_scales: int = 2
    encoder_ndf: int = 16
    seed: int = 0
    sample_every: int = 250
    checkpoint_every: int = 100
    log_every: int = 10


def _check_option(name: str, value: object, default: object, what: str, limits: dict = SHAPE_LIMITS) -> None:
    """Refuse an option of another JSON type than its default's (any finite number for a float), or, for the
    network shape's options, one out of its limits."""
    kind = float if isinstance(default, float) else type(default)
    if kind is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    else:
        fits = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not fits:
        expected = "a finite number" if kind is float else {bool: "true or false", int: "an integer", str: "a string",
                                                            dict: "an object", list: "a list"}.get(kind, kind.__name__)
        raise InputError(f"{what}.{name} must be {expected}, found {shown_value(value)}")
    if name in limits and not limits[name][0] <= value <= limits[name][1]:
        low, high = limits[name]
        raise InputError(f"{what}.{name} must be an integer in {low}..{high}, found {value}")


def parse_run_config(data: object, what: str) -> dict:
    """The TrainConfig fields of a saved run, checked: known fields of their default's type (missing ones take the
    default), a preset and label table as model.json takes them, pix2pix options of the known names."""
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a JSON object of training options, found {shown_value(data)}")
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(TrainConfig)}
    unknown = sorted(str(k)[:40] for k in set(data) - set(defaults))
    if unknown:
        raise InputError(f"{what} has unknown training options {unknown}; known: {sorted(defaults)}")
    for name, value in data.items():
        _check_option(name, value, defaults[name], what)
    if not 0 <= data.get("ema_decay", 0) < 1:
        raise InputError(f"{what}.ema_decay must be at least 0 and under 1, found {data['ema_decay']}")
    if data.get("precision", "auto") not in PRECISIONS:
        raise InputError(f"{what}.precision must be one of {', '.join(PRECISIONS)}, found {shown_value(data['precision'])}")
    if data.get("model", "spade") not in ("spade", "pix2pix"):
        raise InputError(f"{what}.model must be 'spade' or 'pix2pix', found {shown_value(data['model'])}")
    try:
        preset = parse_preset(data.get("preset", defaults["preset"]))
        parse_labels(data.get("labels", []), preset)
    except CheckpointError as exc:
        raise InputError(f"{what}: {exc}") from None
    if data.get("model") == "pix2pix":
        from .sketch_train import SKETCH_DEFAULTS
        for name, value in data.get("sketch", {}).items():
            if name not in SKETCH_DEFAULTS:
                raise InputError(f"{what}.sketch has the unknown option {str(name)[:40]!r}; known: "
                                 f"{sorted(SKETCH_DEFAULTS)}")
            _check_option(name, value, SKETCH_DEFAULTS[name], f"{what}.sketch", SKETCH_LIMITS)
    return data


def _check_weights(state: dict, path: Path) -> None:
    """Refuse module entries (and their averages) that are not flat dicts of tensors, and an average count, step, time
    or RNG state of the wrong kind."""
    networks = (*MODULE_NAMES, *(name + AVERAGE_SUFFIX for name in AVERAGED))
    for name in (*networks, "opt_g", "opt_d"):
        if name in state and not isinstance(state[name], dict):
            raise InputError(f"{path}: {name} must be a dict, found {shown_value(state[name])}")
    for name in networks:
        weights = state.get(name, {})
        if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in weights.items()):
            raise InputError(f"{path}: {name} must map parameter names to tensors")
    if ("opt_g" in state) != ("opt_d" in state):
        raise InputError(f"{path}: holds {'opt_g' if 'opt_g' in state else 'opt_d'} without its pair: expected both "
                         "optimiser states, or neither (a compact state)")
    step, seconds, rng = state.get("step"), state.get("wall_seconds"), state.get("rng")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InputError(f"{path}: step must be an integer of at least 0, found {shown_value(step)}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
        raise InputError(f"{path}: wall_seconds must be a number of at least 0, found {shown_value(seconds)}")
    if AVERAGE_UPDATES in state:  # the start, then one update per step at most
        updates = state[AVERAGE_UPDATES]
        if isinstance(updates, bool) or not isinstance(updates, int) or not 1 <= updates <= step + 1:
            raise InputError(f"{path}: {AVERAGE_UPDATES} must be an integer from 1 to the step + 1 ({step + 1}), found "
                             f"{shown_value(updates)}")
        lacking = [name + AVERAGE_SUFFIX for name in AVERAGED if name in state and name + AVERAGE_SUFFIX not in state]
        if lacking:
            raise InputError(f"{path}: holds {AVERAGE_UPDATES} but not {', '.join(lacking)}")
    expected = torch.get_rng_state()
    if not torch.is_tensor(rng) or rng.dtype != expected.dtype or rng.shape != expected.shape:
        found = f"{rng.dtype} tensor of shape {tuple(rng.shape)}" if torch.is_tensor(rng) else shown_value(rng)
        raise InputError(f"{path}: rng must be torch's CPU random state (a uint8 tensor of shape "
                         f"{tuple(expected.shape)}), found {found}")
    if not isinstance(state.get("bf16", False), bool):
        raise InputError(f"{path}: bf16 must be true or false, found {shown_value(state['bf16'])}")
    if not isinstance(state.get("hardware", ""), str):
        raise InputError(f"{path}: hardware must be a string, found {shown_value(state['hardware'])}")


def load_state_file(path: Path, saved_by: str) -> object:
    """A training state file read with weights_only (memory-mapped), or an InputError naming it and the damage."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        raise InputError(f"{path}: refused to load; expected a training state saved by {saved_by} (read with "
                         f"weights_only=True: no code from the file runs), but loading failed: "
                         f"{load_failure(exc, path)}") from None


def read_run_state(run_dir: str | Path) -> tuple[dict, dict]:
    """A run folder's state.pt (weights_only, memory-mapped), checked before anything is built from it: (the state,
    its config as saved, by parse_run_config); else an InputError naming the file."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise InputError(f"{run_dir}: expected a run folder holding {STATE_FILE} (from `gaugan train --out`)")
    state = load_state_file(path, "`gaugan train`")
    if not isinstance(state, dict) or not isinstance(state.get("config"), str):
        found = f"a dict with keys {sorted(map(str, state))[:8]}" if isinstance(state, dict) else shown_value(state)
        raise InputError(f"{path}: expected a training state (a dict with the run's options as a JSON 'config' "
                         f"string, weights, step and rng), found {found}")
    try:
        config = json.loads(state["config"])
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: its config is not JSON ({str(exc)[:200]})") from None
    _check_weights(state, path)
    return state, parse_run_config(config, f"{path}: config")


def label_table(config: TrainConfig) -> list[Label]:
    """The run's labels (written to model.json): its own table, else the palette named like its preset."""
    preset = Preset.from_dict(config.preset)
    labels = [Label(e["id"], e["name"], tuple(e["rgb"])) for e in config.labels] or PALETTES.get(preset.name, [])
    if not labels:
        raise InputError(f"no label table for preset {preset.name!r}: put labels.json in the data folder or pass "
                         "--labels FILE (a JSON list of {\"id\", \"name\", \"rgb\"})")
    if unfit := preset.unfit_labels(labels):
        raise InputError(f"label ids must be {preset.label_ids_text} for preset {preset.name!r}; found {unfit}")
    return labels


def smallest_crop(preset: Preset) -> int:
    """The smallest crop whose start grid is at least 2×2 for the preset's upsampling and aspect ratio."""
    width = max(2, math.ceil(1.5 * preset.aspect_ratio))  # the grid's height is round(width / aspect ratio)
    while round(width / preset.aspect_ratio) < 2:
        width += 1
    return width * 2**preset.num_up_layers


def check_crop(preset: Preset) -> None:
    """Refuse a crop the SPADE generator cannot train at: it doubles a (crop / 2**k) grid k times, so batch and
    instance norm, which need more than one value, need that grid to be at least 2×2, and a crop that is no multiple
    of 2**k would paint a smaller image than asked for."""
    if preset.aspect_ratio <= 0:
        raise InputError(f"aspect_ratio {preset.aspect_ratio}: expected a positive width / height ratio")
    scale, crop = 2**preset.num_up_layers, preset.crop_size
    high = f"that / {preset.aspect_ratio:g} high" if preset.aspect_ratio != 1 else "high"
    grid = (f"the generator ({preset.num_upsampling_layers!r} upsampling) starts from a grid crop / {scale} wide and "
            f"{high} ({preset.sw}×{preset.sh} here) and doubles it {preset.num_up_layers} times")
    if min(preset.sh, preset.sw) < 2:
        raise InputError(f"crop size {crop}: {grid}; batch and instance norm need that grid to be at least 2×2: use "
                         f"{smallest_crop(preset)} or a larger multiple of {scale}")
    if crop % scale:
        raise InputError(f"crop size {crop}: {grid}, so it would paint {preset.sw * scale} pixels wide: use a multiple "
                         f"of {scale}, such as {crop // scale * scale} or {(crop // scale + 1) * scale}")


class Batches:
    """Deterministic batches: batch k on rank r is a pure function of (seed, k, r)."""

    def __init__(self, config: TrainConfig, preset: Preset, rank: int = 0, world: int = 1) -> None:
        self.config, self.preset, self.rank, self.world = config, preset, rank, world
        self.size = preset.output_size
        self.dataset = open_dataset(config.data, config.photos, config.folder_share,
                                    dontcare=preset.contain_dontcare_label,
                                    ids=frozenset(label.id for label in label_table(config)))

    def scan(self) -> None:
        """Read and check the data's files once, here, before batches are drawn (worker processes inherit the scan)."""
        self.dataset.scan(self.size)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return self.dataset.sample(self.config.seed * 1_000_003 + index, self.size)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        first = (step * self.world + self.rank) * self.config.batch_size
        samples = [self.sample(first + i) for i in range(self.config.batch_size)]
        labels = torch.from_numpy(np.stack([s[0] for s in samples]).astype(np.int64))[:, None]
        images = torch.from_numpy(np.stack([s[1] for s in samples])).permute(0, 3, 1, 2).float() / 127.5 - 1
        instances = None
        if self.preset.use_instance:
            instances = torch.from_numpy(np.stack([s[2] if s[2] is not None else s[0] for s in samples]).astype(np.int64))[:, None]
        return labels, encode_semantics(labels, instances, self.preset), images


class _Steps(torch.utils.data.Dataset):
    """The batches of a range of steps, for rendering them in worker processes ahead of training."""

    def __init__(self, batches: Batches, steps: range) -> None:
        self.batches, self.steps = batches, steps

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.batches(self.steps[i])


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether a run computes in bfloat16 (autocast): "bf16", or "auto" on a GPU with bf16 or on a CPU with native
    bf16 instructions (AVX512-BF16 or AMX-BF16), where bf16 is the faster (docs/benchmarks.md)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, found {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu.get_capabilities()
    return device.type == "cpu" and bool(cpu.get("avx512_bf16") or cpu.get("amx_bf16"))


def precision_name(bf16: bool) -> str:
    """How messages and the card name what steps compute in."""
    return "bf16" if bf16 else "fp32"


def hardware(processes: int, *, bf16: bool) -> str:
    """Where a run trains (GPU, processes, CPU threads, torch, precision): the last machine to save its state, for
    the card."""
    gpu = f"{torch.cuda.get_device_name()}, " if torch.cuda.is_available() else ""
    many = f"{processes} processes, " if processes > 1 else ""
    return (f"{many}{gpu}{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads, torch "
            f"{torch.__version__}, {precision_name(bf16)}")


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def check_run_folder(out: Path) -> None:
    """Refuse an --out folder that holds files of the user's: a run goes into a new or empty folder, or into its own
    run folder (state.pt, or only what a run writes before it; hidden files are left alone)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: expected a new or empty folder, or a run folder of `gaugan train`")
    if not out.is_dir() or (out / STATE_FILE).is_file():
        return
    foreign = sorted(repr(path.name) for path in out.iterdir() if not path.name.startswith(".") and (
        path.name not in RUN_FILES or path.name == "metrics.csv" and not _is_metrics_file(path)))
    if foreign:
        raise InputError(f"--out {out} holds {', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''}: expected a "
                         "new or empty folder, or a run folder of `gaugan train` (with state.pt); nothing was "
                         "written: give another --out")


def _is_metrics_file(path: Path) -> bool:
    """Whether a metrics.csv starts with the header a run writes."""
    with path.open("rb") as f:
        return f.readline(256).startswith(",".join(METRICS_COLUMNS).encode() + b",")


class TrainingStopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training between two steps, with the state saved; the message says how to continue,
    and `signum` is the signal's number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class StopRequest:
    """Within the block, Ctrl-C (SIGINT) or SIGTERM (as a job scheduler or `kill` sends it) asks training to stop once
    the current step is done; a second one of the same signal acts as it would without the block.

    Only in a single process's main thread, where Python handles signals: several processes must stop at the same
    step. A signal that the process was started ignoring (SIGINT in a background job) stays ignored.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool) -> None:
        main = enabled and threading.current_thread() is threading.main_thread()
        self.handled = [s for s in self.SIGNALS if main and signal.getsignal(s) not in (signal.SIG_IGN, None)]
        self.signum: int | None = None  # the signal that asked to stop
        self.previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> StopRequest:
        self.previous = {s: signal.signal(s, self._request) for s in self.handled}
        return self

    def _request(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum
        signal.signal(signum, self.previous[signum])

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


def load_optimizer(optimizer: torch.optim.Optimizer, saved: dict, source: str) -> None:
    """optimizer.load_state_dict, refused in one line (naming source) unless it holds this optimiser's parameter
    groups and moments shaped like their parameters."""
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{source} is not the state of this run's optimiser: {str(exc)[:200]}") from None
    for group in optimizer.param_groups:
        for param in group["params"]:
            moments = optimizer.state.get(param, {})
            wrong = [k for k, v in moments.items() if torch.is_tensor(v) and v.dim() and v.shape != param.shape]
            if wrong:
                raise CheckpointError(f"{source}: {wrong[0]} of a parameter of shape {tuple(param.shape)} has shape "
                                      f"{tuple(moments[wrong[0]].shape)}")


class Trainer:
    """Owns the networks, optimisers and run folder; `run()` trains to config.steps."""

    def __init__(self, config: TrainConfig, device: torch.device | None = None) -> None:
        check_run_folder(Path(config.out))
        self.config = config
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if device is None:
            device = torch.device("cuda", self.rank % torch.cuda.device_count()) if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.build()
        self.averages = WeightAverages(self.modules(), config.ema_decay)
        self.step = 0
        self.wall_seconds = 0.0
        self.out = Path(config.out)
        self.bf16 = uses_bf16(config.precision, self.device)
        self.saved_bf16: bool | None = None  # whether the state resumed from computed in bf16 (None: not recorded)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        self._load_state()
        wrap = (lambda m: DistributedDataParallel(m)) if self.distributed else (lambda m: m)  # noqa: E731
        self.g, self.d = wrap(self.generator), wrap(self.discriminator)
        self.e = wrap(self.encoder) if self.encoder is not None else None

    def build(self) -> None:
        """Networks, optimisers and batches of this model kind (gaugan/sketch_train.py builds pix2pix's)."""
        config = self.config
        self.preset = Preset.from_dict(config.preset)
        self.generator = SPADEGenerator(self.preset).to(self.device)
        self.encoder = StyleEncoder(self.preset.z_dim, config.encoder_ndf).to(self.device) if self.preset.use_vae else None
        self.discriminator = MultiscaleDiscriminator(self.preset.semantic_nc + 3, config.ndf, config.d_layers,
                                                     config.d_scales).to(self.device)
        g_params = list(self.generator.parameters()) + (list(self.encoder.parameters()) if self.encoder else [])
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(g_params, lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)
        self.batches = Batches(config, self.preset, self.rank, self.world)
        self.features = ImageNetFeatures().to(self.device) if config.lambda_perceptual else None

    def modules(self) -> dict[str, torch.nn.Module]:
        named = {"generator": self.generator, "discriminator": self.discriminator}
        if self.encoder is not None:
            named["encoder"] = self.encoder
        return named

    def _load_state(self) -> None:
        path = self.out / STATE_FILE
        if not path.is_file():
            self.averages.load({}, path)
            return
        state = read_run_state(self.out)[0]
        for name, module in self.modules().items():
            if name not in state:
                raise InputError(f"{path} holds no {name} weights, which this run's networks need")
            load_weights(module, state[name], f"{path} ({name})")
        self.averages.load(state, path)
        if "opt_g" in state:  # a compact state (see compact_state) restarts the Adam moments
            load_optimizer(self.opt_g, state["opt_g"], f"{path} (opt_g)")
            load_optimizer(self.opt_d, state["opt_d"], f"{path} (opt_d)")
        self.step, self.wall_seconds = state["step"], float(state["wall_seconds"])
        self.saved_bf16 = state.get("bf16")
        torch.set_rng_state(state["rng"])

    def save_state(self) -> None:
        if self.rank:
            return
        state = {name: m.state_dict() for name, m in self.modules().items()}
        state.update(self.averages.state())
        state.update(opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(), step=self.step,
                     wall_seconds=self.wall_seconds, rng=torch.get_rng_state(), config=json.dumps(asdict(self.config)),
                     hardware=hardware(self.world, bf16=self.bf16), bf16=self.bf16)
        tmp = self.out / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out / STATE_FILE)

    def _style(self, images: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        if self.e is None:
            return None, torch.zeros((), device=self.device)
        mu, logvar = self.e(images)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return z, kl_loss(mu, logvar)

    def train_step(self, labels: torch.Tensor, seg: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
        """One generator update, then one discriminator update (SPADE's order); labels only serve other kinds."""
        cfg = self.config
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            z, kl = self._style(images)
            fake = self.g(seg, z)
            pred_fake = self.d(torch.cat([seg, fake], 1))
            pred_real = self.d(torch.cat([seg, images], 1))
            g_gan = hinge_g_loss(pred_fake)
            g_feat = feature_matching_loss(pred_real, pred_fake)
            g_l1 = torch.nn.functional.l1_loss(fake, images)
            g_total = g_gan + cfg.lambda_feat * g_feat + cfg.lambda_kl * kl + cfg.lambda_l1 * g_l1
            g_perceptual = perceptual_loss(self.features, fake, images) if self.features else torch.zeros(())
            g_total = g_total + cfg.lambda_perceptual * g_perceptual
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        self.opt_g.step()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            d_loss = hinge_d_loss(self.d(torch.cat([seg, images], 1)), self.d(torch.cat([seg, fake.detach()], 1)))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return {"g_gan": g_gan.item(), "g_feat": g_feat.item(), "g_l1": g_l1.item(),
                "g_perceptual": float(g_perceptual.detach()), "kl": float(kl.detach()), "d": d_loss.item()}

    def write_sample(self, labels: torch.Tensor, seg: torch.Tensor, images: torch.Tensor) -> Path:
        """A PNG grid, one row per example: colour labels | real | generated."""
        palette = np.zeros((256, 3), np.uint8)
        for label in label_table(self.config):
            palette[label.id] = label.rgb
        sampled = [m for m in (self.generator, self.encoder) if m is not None]
        for module in sampled:  # in training mode a forward pass would move spectral-norm and batch-norm buffers
            module.eval()
        with torch.no_grad():
            z = self.encoder(images[:4].to(self.device))[0] if self.encoder is not None else None
            fake = self.generator(seg[:4].to(self.device), z).cpu()
        for module in sampled:
            module.train()
        to_np = lambda t: ((t.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)  # noqa: E731
        rows = [np.concatenate([palette[labels[i, 0].numpy() % 256], to_np(images[:4])[i], to_np(fake)[i]], 1)
                for i in range(min(4, len(labels)))]
        path = self.out / "samples" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(path)
        return path

    def log(self, metrics: dict[str, float]) -> None:
        path = self.out / "metrics.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=[*METRICS_COLUMNS, *metrics])
            if new:
                writer.writeheader()
            writer.writerow({"step": self.step, "wall_seconds": round(self.wall_seconds, 1), **metrics})

    def drop_records_after_step(self) -> None:
        """Drop metrics.csv rows and samples/step_N.png past the step the run starts or resumes from: those steps are
        trained again (or belong to an abandoned run that saved no state)."""
        path = self.out / "metrics.csv"
        if path.is_file():
            header, *rows = path.read_text().splitlines(keepends=True) or [""]
            kept = [row for row in rows if row.split(",", 1)[0].isdigit() and int(row.split(",", 1)[0]) <= self.step]
            if len(kept) < len(rows):
                path.write_text(header + "".join(kept))
        for sample in (self.out / "samples").glob("step_*.png"):
            if sample.stem[5:].isdigit() and int(sample.stem[5:]) > self.step:
                sample.unlink()

    def _batch_stream(self):
        """Batches for the remaining steps, rendered ahead by config.workers processes (0: in this one), forked so
        that they inherit the data's one scan (where processes are spawned, as on macOS and Windows by default, they
        could not take the data at all)."""
        steps = range(self.step, self.config.steps)
        if not self.config.workers:
            return map(self.batches, steps)
        if "fork" not in multiprocessing.get_all_start_methods():
            raise InputError(f"--workers {self.config.workers} renders batches in forked processes, which this "
                             "platform cannot start; use --workers 0")
        return torch.utils.data.DataLoader(_Steps(self.batches, steps), batch_size=None, num_workers=self.config.workers,
                                           prefetch_factor=4, worker_init_fn=_one_thread,
                                           multiprocessing_context="fork")

    def run(self, progress: bool = True, time_limit: float | None = None) -> dict[str, float]:
        """Train until config.steps (or until time_limit seconds have passed), checkpointing, sampling and logging;
        Ctrl-C or SIGTERM saves the state after the current step and raises TrainingStopped."""
        cfg = self.config
        if self.step >= cfg.steps:
            raise InputError(f"{self.out} has already trained {self.step:,} steps and --steps is {cfg.steps:,}: nothing to "
                             "train (--steps is the total to reach, not a number of further steps)")
        self.batches.scan()  # a bad file is named in one line here, not in a worker process's traceback
        say = tqdm.write if progress and self.rank == 0 else (lambda message: None)
        say(f"training {self.out} from step {self.step:,} to step {cfg.steps:,} (batch {cfg.batch_size}); Ctrl-C stops "
            "after the current step with the state saved, and the same command continues")
        if self.saved_bf16 is not None and self.saved_bf16 != self.bf16:
            say(f"the steps up to {self.step:,} computed in {precision_name(self.saved_bf16)}; from here they compute "
                f"in {precision_name(self.bf16)} (--precision {cfg.precision}{' on this machine' if cfg.precision == 'auto' else ''})")
        if self.averages.dropped:
            say(f"--ema-decay 0: the weight averages in {self.out / STATE_FILE} go at its next save, and export writes "
                "the last step's weights")
        if self.rank == 0:
            self.drop_records_after_step()
        estimate = Estimate(cfg.steps - self.step, f"step {cfg.steps:,}", say)
        deadline = time.monotonic() + time_limit if time_limit else None
        metrics: dict[str, float] = {}
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not progress or self.rank != 0, desc="train")
        started = time.perf_counter()
        with StopRequest(enabled=not self.distributed) as stop:
            for labels, seg, images in self._batch_stream():
                metrics = self.train_step(labels, seg.to(self.device), images.to(self.device))
                self.averages.update()
                self.step += 1
                now = time.perf_counter()
                self.wall_seconds, started = self.wall_seconds + now - started, now
                bar.update(1)
                estimate.step()
                bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items()})
                if self.rank == 0:
                    if self.step % cfg.log_every == 0:
                        self.log(metrics)
                    if self.step % cfg.sample_every == 0:
                        self.write_sample(labels, seg, images)
                    if self.step % cfg.checkpoint_every == 0:
                        self.save_state()
                if deadline and time.monotonic() > deadline:
                    self.write_sample(labels, seg, images) if self.rank == 0 else None
                    break
                if stop.requested:
                    break
        bar.close()
        if self.rank == 0 and self.step % cfg.log_every:  # short or stopped runs log their last step too
            self.log(metrics)
        self.save_state()
        if stop.requested:
            raise TrainingStopped(f"stopped at step {self.step:,}, state saved in {self.out / STATE_FILE}: the same "
                                  "command continues from there", stop.signum)
        return metrics


class LastLosses(dict[str, float]):
    """A run's last losses, as `main` returns them; printed, they are the line `gaugan train` ends with (which says
    so when the time limit stopped the run short of its steps)."""

    def __init__(self, out: str, losses: dict[str, float], step: int, steps: int) -> None:
        super().__init__(losses)
        self.out, self.step, self.steps = out, step, steps

    def __str__(self) -> str:
        shown = ", ".join(f"{name} {value:.3f}" for name, value in self.items())
        done = (f"trained {self.out}" if self.step >= self.steps else
                f"stopped {self.out} at step {self.step:,} of {self.steps:,} (time limit), state saved: the same "
                "command continues")
        samples = " and samples/ are" if (Path(self.out) / "samples").is_dir() else " is"
        return f"{done}; last losses {shown}; metrics.csv{samples} in {self.out}"


def with_run_shape(config: TrainConfig, given: set[str]) -> TrainConfig:
    """The config of the run already in config.out, changed only by the options this command line gives.

    given: the option names set on the command line (TrainConfig fields, Preset fields such as ngf, pix2pix options
    such as depth). One that would reshape the network (SHAPE_OPTIONS and the preset for SPADE, SKETCH_SHAPE for
    pix2pix) and differs from the run's is an InputError; every other option left out (but THIS_MACHINE's) keeps the
    run's value, so a shorter command continues the same run. A new run's config comes back unchanged.
    """
    path = Path(config.out) / STATE_FILE
    if not path.is_file():
        return config
    saved = read_run_state(config.out)[1]
    kind = saved.get("model", "spade")
    if kind != config.model:
        raise InputError(f"{config.out} holds a {kind} run, not {config.model}: add --model {kind} to continue it, or "
                         "give a new --out")
    if config.model == "spade":
        mine, theirs = {**asdict(config), **config.preset}, {**saved, **saved.get("preset", {})}
        shape = (set(SHAPE_OPTIONS) | set(config.preset)) - {"name"}
    else:
        from .sketch_train import SKETCH_DEFAULTS
        mine, theirs = config.sketch, {**SKETCH_DEFAULTS, **saved.get("sketch", {})}
        shape = set(SKETCH_SHAPE)
    differences = [("another label table than --data or --labels gives" if name == "labels"
                    else f"{name} {theirs[name]}, not {mine[name]}")
                   for name in sorted(given & shape) if name in theirs and mine[name] != theirs[name]]
    if differences:
        raise InputError(f"{config.out} holds a run trained with {'; '.join(differences)}: leave those options out to "
                         "continue it, or give a new --out")
    kept = {name: value for name, value in saved.items() if name not in given and name not in THIS_MACHINE}
    if config.model != "spade":
        kept["sketch"] = {**theirs, **{name: config.sketch[name] for name in given if name in config.sketch}}
    return replace(config, **kept)


def trainer_for(config: TrainConfig) -> Trainer:
    """The trainer of the config's model kind: SPADE here, pix2pix in gaugan/sketch_train.py."""
    if config.model == "pix2pix":
        from .sketch_train import Pix2PixTrainer
        return Pix2PixTrainer(config)
    if config.model != "spade":
        raise ValueError(f"unknown model kind {config.model!r}: expected 'spade' or 'pix2pix'")
    return Trainer(config)


def compact_state(run_dir: str | Path, dest: str | Path, overwrite: bool = False) -> Path:
    """state.pt without optimiser moments (a third of the size, or less), its networks holding the weights export
    writes (the averages, where the run keeps them): small enough to commit, resumable anywhere, and it continues the
    exported model; an existing dest is replaced only with overwrite.

    Copy it to RUN/state.pt and train again; Adam's moments restart, the averages start again from its weights, and
    everything else continues. It is written whole or not at all (a temporary file renamed over dest).
    """
    dest = Path(dest)
    check_compact_destination(run_dir, dest, overwrite)
    state = read_run_state(run_dir)[0]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dropped = {"opt_g", "opt_d", AVERAGE_UPDATES, *(name + AVERAGE_SUFFIX for name in AVERAGED)}
    averages = {name: state[name + AVERAGE_SUFFIX] for name in AVERAGED
                if name + AVERAGE_SUFFIX in state and AVERAGE_UPDATES in state}  # what export takes as averages
    with written_whole(dest) as partial:
        torch.save({**{k: v for k, v in state.items() if k not in dropped}, **averages}, partial)
    return dest


def check_compact_destination(run_dir: str | Path, dest: Path, overwrite: bool, model_dir: Path | None = None) -> None:
    """Refuse a compact state's destination that is no .pt file, lies in the run folder (whose state it would
    replace) or in the model folder being exported (model_dir), or exists (unless overwrite)."""
    if dest.suffix != ".pt":
        raise InputError(f"--resume-state {dest}: a training state is a .pt file; name one")
    for folder, what in ((Path(run_dir), "the run folder, whose files it would replace"),
                         (model_dir, "the model folder, which holds model.json and weights only")):
        if folder is not None and folder.resolve() in dest.resolve().parents:
            raise InputError(f"--resume-state {dest} lies in {what}: name a file elsewhere, such as "
                             f"training/{Path(run_dir).resolve().name}_state.pt")
    refuse_existing([dest], overwrite)


def export(run_dir: str | Path, model_dir: str | Path, extra_card: dict | None = None, overwrite: bool = False) -> Path:
    """Write a run's model into a model folder: a new or empty folder, or (overwrite) a model folder, replaced whole."""
    model_dir = Path(model_dir)
    check_model_destination(model_dir, overwrite)
    state, saved = read_run_state(run_dir)  # on the CPU: GPU runs export anywhere
    unaveraged = {} if AVERAGE_UPDATES in state else {"ema_decay": 0.0}  # the card says the weights are the last's
    trainer = trainer_for(TrainConfig(**{**saved, "out": str(run_dir), **unaveraged}))  # it may have moved
    if trainer.config.model == "spade":
        write = export_spade
    else:
        from .sketch_train import export_sketch as write
    trainer.averages.put_in_place()
    with replacing(model_dir) as folder:
        write(trainer, folder, extra_card, hardware=state.get("hardware", "not recorded"))
    return model_dir


def export_spade(trainer: Trainer, model_dir: Path, extra_card: dict | None = None, *, hardware: str) -> Path:
    """Write a SPADE run's generator (+ style encoder) and model.json into a model folder."""
    labels = label_table(trainer.config)
    card = {
        "description": open_dataset(trainer.config.data, trainer.config.photos, trainer.config.folder_share).description,
        "labels": label_entries(labels),
        "training": {**{k: v for k, v in asdict(trainer.config).items() if k != "labels"}, "steps_done": trainer.step, "wall_seconds": round(trainer.wall_seconds),
                     "hardware": hardware},
        **(extra_card or {}),
    }
    if trainer.config.photos:
        card["training_photos"] = TextureBank.credits(trainer.config.photos)
    extra = {"encoder": trainer.encoder} if trainer.encoder is not None else {}
    return save_model(model_dir, trainer.generator.eval(), card, extra)


def with_absolute_paths(config: TrainConfig) -> TrainConfig:
    """The config with its data folder, photos folder and a sketch run's --init as absolute paths, so that the run
    resumes from any working directory; dataset names (landscape, landscape-sketch) stay names."""
    def absolute(path: str) -> str:
        return os.path.abspath(path) if path else path

    data = config.data if config.data in (*DATASETS, LANDSCAPE_SKETCH) else absolute(config.data)
    sketch = {**config.sketch, "init": absolute(config.sketch["init"])} if config.sketch.get("init") else config.sketch
    return replace(config, data=data, photos=absolute(config.photos), sketch=sketch)


def check_run_preset(config: TrainConfig) -> Preset:
    """The run's preset, checked before training as export checks it in model.json (its name too: a compact preset
    is named after the --data folder)."""
    try:
        return parse_preset(config.preset, "the run's preset")
    except CheckpointError as exc:
        raise InputError(f"{exc}; it goes into the exported model.json (a compact preset is named after the --data "
                         "folder: rename the folder, or give --preset-json with a name)") from None


def main(config: TrainConfig, progress: bool = True, time_limit: float | None = None) -> LastLosses:
    """Entry point for `python -m gaugan train` and `torchrun -m gaugan train`; time_limit in seconds."""
    config = with_absolute_paths(config)
    if config.model == "spade" and not (Path(config.out) / STATE_FILE).is_file():  # a saved state has trained
        check_crop(Preset.from_dict(config.preset))
    if config.model == "spade":
        check_run_preset(config)
    label_table(config)  # fail before training, not at export
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        trainer = trainer_for(config)
        losses = trainer.run(progress, time_limit)
        return LastLosses(config.out, losses, trainer.step, config.steps)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
