"""Train a sketch reader for the landscape painter: line sketches of landscape layouts -> their label maps.

The layouts come from the procedural landscapes and, optionally, a folder of landscape label maps (such as
`gaugan data traced`); each is drawn once by the landscape sketcher (gaugan/data/landscape_sketch.py), half of
them with straightened outlines, into a pool kept in the run folder. Training samples the pool with flips and random pen thickening, so sketches drawn with a
wide pen read as well as thin ones. The run resumes from OUT/state.pt; the model folder is written to OUT/model.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from label_colors import PALETTES

from .data.folder import image_files
from .data.landscape import NUM_CLASSES, landscape_layout
from .data.landscape_sketch import line_sketch, straightened, with_conifers, with_lake
from .errors import InputError
from .images import open_image
from .model_card import shown_value
from .networks.layout_reader import LayoutReader
from .pipeline import GauGAN
from .shipped import checkpoint_argument
from .sketch_reader import READER_LIMITS, save_reader_model
from .train import load_optimizer, load_state_file

SIZE = 256  # sketches and layouts of the pool, as the landscape painter's crop
CHUNK = 100  # pairs per pool file
STATE_FILE = "state.pt"
MODEL_FOLDER = "model"  # OUT/model: the trained sketch model
POOL_VERSION = 4  # how pool_pair draws; a new drawing rule gets a new number
CONIFERS, LAKES = 0.3, 0.25  # the shares of layouts given a row of conifers, a lake inside the ground


@dataclass(frozen=True)
class ReaderConfig:
    """What a reader run trains on and how; stored in the model card."""

    out: str = "runs/reader"
    data: str = "landscape"  # or a folder with labels/ (landscape ids), mixed with procedural layouts
    folder_share: float = 0.6
    painter: str = "landscape"
    pairs: int = 2000
    steps: int = 2000
    batch_size: int = 8
    width: int = 16
    grid: int = 128
    lr: float = 2e-3
    seed: int = 0
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if not 0 <= self.folder_share <= 1:
            raise InputError(f"folder_share must be in 0..1, found {self.folder_share}")
        for name in ("pairs", "steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, found {getattr(self, name)}")
        for name in ("width", "grid"):  # what a reader folder may hold (gaugan.sketch_reader)
            low, high = READER_LIMITS[name]
            if not low <= getattr(self, name) <= high:
                raise InputError(f"{name} must be in {low}..{high}, found {getattr(self, name)}")

    def pool_settings(self) -> dict:
        """What the pool of sketches depends on: a pool drawn otherwise is not reused."""
        return {"sketcher": POOL_VERSION, **{k: getattr(self, k) for k in ("data", "folder_share", "pairs", "seed")}}


def folder_layouts(data: str) -> list[Path]:
    """The label maps of a folder (DATA/labels/*.png), sorted; an InputError when there are none."""
    files = image_files(Path(data) / "labels") if (Path(data) / "labels").is_dir() else []
    if not files:
        raise InputError(f"--data {data}: expected 'landscape' or a folder with labels/ holding landscape label maps "
                         "(as `gaugan data traced` writes), found none")
    return files


def read_layout(path: Path) -> np.ndarray:
    """A landscape label map from a file, resized (nearest) to SIZE²; ids past the landscape labels are refused."""
    labels = np.asarray(open_image(path, "label map").resize((SIZE, SIZE), Image.NEAREST))
    if labels.ndim != 2 or labels.max() >= NUM_CLASSES:
        raise InputError(f"{path}: expected a one-channel map of landscape ids 0..{NUM_CLASSES - 1}, found "
                         f"{'shape ' + str(labels.shape) if labels.ndim != 2 else 'id ' + str(labels.max())}")
    return labels


def pool_pair(config: ReaderConfig, files: list[Path], order: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(grey sketch, layout) number `index` of the pool: from the folder for an even `folder_share` of indices; some
    given conifers or a lake (shapes the layouts rarely hold); the outlines of half of them, chosen at random,
    straightened first, as a pen draws them."""
    share = config.folder_share if files else 0.0
    from_folder = int((index + 1) * share) > int(index * share)
    if from_folder:
        labels = read_layout(files[order[int(index * share) % len(files)]])
    else:
        labels = landscape_layout(np.random.default_rng([config.seed, index, 1]), SIZE, SIZE)
    rng = np.random.default_rng([config.seed, index, 2])
    labels = with_conifers(labels, rng) if rng.random() < CONIFERS else labels
    labels = with_lake(labels, rng) if rng.random() < LAKES else labels
    labels = straightened(labels, rng) if rng.random() < 0.5 else labels
    return line_sketch(labels, rng)[..., 0], labels.astype(np.uint8)


def write_chunk(config: ReaderConfig, chunk: int) -> Path:
    """Draw pool file `chunk` (CHUNK pairs) into OUT/pool/, written under a temporary name then renamed."""
    files = folder_layouts(config.data) if config.data != "landscape" else []
    order = np.random.default_rng(config.seed).permutation(len(files))
    pairs = [pool_pair(config, files, order, i) for i in range(chunk * CHUNK, min(config.pairs, (chunk + 1) * CHUNK))]
    path = Path(config.out) / "pool" / f"chunk_{chunk:03d}.npz"
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez(partial, sketches=np.stack([p[0] for p in pairs]), labels=np.stack([p[1] for p in pairs]))
    partial.replace(path)
    return path


def build_pool(config: ReaderConfig, workers: int, log: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """The pool's (sketches, layouts), drawing the chunks not yet on disk with `workers` processes."""
    folder = Path(config.out) / "pool"
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "settings.json"
    if settings.is_file() and json.loads(settings.read_text()) != config.pool_settings():
        raise InputError(f"{folder} holds sketches drawn with other settings ({settings.read_text().strip()}); choose "
                         "another --out or the same settings")
    settings.write_text(json.dumps(config.pool_settings()) + "\n")
    chunks = range(-(-config.pairs // CHUNK))
    missing = [c for c in chunks if not (folder / f"chunk_{c:03d}.npz").is_file()]
    if missing:
        sketches = sum(min(CHUNK, config.pairs - c * CHUNK) for c in missing)
        log(f"drawing {sketches} sketches into {len(missing)} pool file(s) of up to {CHUNK} in {folder}")
        # one thread per worker, as DataLoader workers: a forked child must not use the parent's thread pool
        with ProcessPoolExecutor(max(1, workers), initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for path in pool.map(write_chunk, [config] * len(missing), missing):
                log(f"  {path.name}")
    loaded = [np.load(folder / f"chunk_{c:03d}.npz") for c in chunks]
    return np.concatenate([f["sketches"] for f in loaded]), np.concatenate([f["labels"] for f in loaded])


def batch(sketches: np.ndarray, labels: np.ndarray, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch: horizontal flips, and the pen widened by 0, 2 or 4 pixels (a min filter on the grey ink)."""
    picks = rng.integers(0, len(sketches), size)
    flips = rng.random(size) < 0.5
    x = torch.from_numpy(np.stack([sketches[i][:, ::-1] if f else sketches[i] for i, f in zip(picks, flips)]).copy())
    y = torch.from_numpy(np.stack([labels[i][:, ::-1] if f else labels[i] for i, f in zip(picks, flips)]).astype(np.int64))
    x = x[:, None].float() / 127.5 - 1
    for i, radius in enumerate(rng.integers(0, 3, size)):
        if radius:
            x[i] = -F.max_pool2d(-x[i:i + 1], 2 * radius + 1, stride=1, padding=int(radius))[0]
    return x, y


def check_painter(config: ReaderConfig) -> GauGAN:
    """The painter, which must paint the landscape labels (the sketcher draws those) and must not share its folder
    name with the model folder (the model finds its painter beside it, by name)."""
    folder = checkpoint_argument(config.painter)
    if folder.name == MODEL_FOLDER:
        raise InputError(f"--painter {config.painter}: a painter folder named {MODEL_FOLDER!r} would be the trained "
                         "model's own name; rename the painter's folder")
    painter = GauGAN.from_checkpoint(folder, device="cpu")
    landscape = [label.name for label in PALETTES["landscape"]]
    if [label.name for label in painter.labels] != landscape:
        raise InputError(f"--painter {config.painter}: the sketcher draws the landscape labels ({', '.join(landscape)}); "
                         f"this painter paints {', '.join(label.name for label in painter.labels)[:300]}")
    return painter


def read_state(config: ReaderConfig) -> dict | None:
    """OUT/state.pt of an earlier run with these settings (weights_only), checked before use; None if there is none."""
    path = Path(config.out) / STATE_FILE
    if not path.is_file():
        return None
    state = load_state_file(path, "`gaugan train-reader`")
    parts = {"config": dict, "reader": dict, "optimiser": dict, "step": int}
    if not isinstance(state, dict) or any(not isinstance(state.get(k), kind) for k, kind in parts.items()):
        found = f"a dict with keys {sorted(map(str, state))[:8]}" if isinstance(state, dict) else shown_value(state)
        raise InputError(f"{path}: expected a reader training state (a dict of {', '.join(parts)}), found {found}")
    if {**state["config"], "out": config.out} != asdict(config):
        raise InputError(f"{path} holds a run with other settings: {shown_value(state['config'])}; choose another "
                         "--out or the same settings")
    if isinstance(state["step"], bool) or not 0 <= state["step"] <= config.steps:
        raise InputError(f"{path}: step must be in 0..{config.steps}, found {shown_value(state['step'])}")
    if not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state["reader"].items()):
        raise InputError(f"{path}: reader must map parameter names to tensors")
    return state


def train_reader(config: ReaderConfig, workers: int = 2, time_limit: float | None = None,
                 log: Callable[[str], None] = print) -> Path | None:
    """Train (or resume) a reader run; returns the model folder OUT/model once config.steps are done, None when the
    time limit stopped it first (the same call continues)."""
    out = Path(config.out)
    painter = check_painter(config)
    if config.data != "landscape":
        folder_layouts(config.data)
    state = read_state(config)
    sketches, labels = build_pool(config, workers, log)
    torch.manual_seed(config.seed)
    reader = LayoutReader(NUM_CLASSES, config.width, config.grid)
    optimiser = torch.optim.AdamW(reader.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=config.steps)
    step = 0
    if state:
        source = out / STATE_FILE
        try:
            reader.load_state_dict(state["reader"])
        except RuntimeError as exc:
            raise InputError(f"{source} does not fit this run's reader: {str(exc)[:300]}") from None
        load_optimizer(optimiser, state["optimiser"], str(source))
        step = state["step"]  # the schedule follows from it: nothing of the file's schedule is read
        schedule.load_state_dict({**schedule.state_dict(), "last_epoch": step, "_step_count": step + 1,
                                  "_last_lr": [group["lr"] for group in optimiser.param_groups]})
        log(f"resuming at step {step}")
    started = time.monotonic()
    reader.train()
    while step < config.steps:  # each step's batch comes from its own seed, so a resumed run is the same run
        x, y = batch(sketches, labels, np.random.default_rng([config.seed, step]), config.batch_size)
        loss = F.cross_entropy(reader(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        step += 1
        if step % 20 == 0:
            log(f"step {step}/{config.steps}  loss {loss.item():.3f}")
        out_of_time = time_limit is not None and time.monotonic() - started > time_limit
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            partial = out / (STATE_FILE + ".partial")
            torch.save({"config": asdict(config), "reader": reader.state_dict(), "optimiser": optimiser.state_dict(),
                        "step": step}, partial)
            partial.replace(out / STATE_FILE)
        if out_of_time and step < config.steps:
            log(f"stopped at step {step} (time limit); the same command continues")
            return None
    painter_name = checkpoint_argument(config.painter).name
    description = (f"It reads the regions your lines outline as the {painter_name!r} model's labels (sky, mountains, "
                   "water, trees …), and that model paints them; the seed changes the light.")
    return save_reader_model(out / MODEL_FOLDER, reader.eval(), painter_name,
                             [label.name for label in painter.labels],
                             {"description": description, "training": {"reader": asdict(config)}})
