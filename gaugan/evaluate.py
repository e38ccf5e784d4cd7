"""Reproducible quality numbers for a checkpoint, in the spirit of the SPADE paper's protocol.

A compact segmenter, trained once on real images of the dataset (procedural landscapes by default),
reads the labels back from generated images (mIoU, pixel accuracy; its score on the real images is
the upper bound), and its pooled bottleneck features give a Fréchet distance between generated and
real images (the distance between two disjoint real sets is the floor).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from label_colors import Label

from .checkpoints import update_card, weights_file
from .data.registry import DATASETS, Dataset, has_held_out_split, open_dataset, split_folder
from .errors import CheckpointError, InputError
from .folders import writable_folder
from .imagenet import REALISM_NETWORK, ImageNetSegmenter
from .labelmaps import colourize
from .model_card import MAX_CARD_BYTES, read_json
from .networks.segmenter import Segmenter
from .pipeline import GauGAN
from .presets import DONTCARE_ID
from .progress import Estimate
from .realism import format_realism, frechet_distance, realism
from .shipped import shipped_checkpoint, shipped_copies
from .state_dicts import read_state_dict

SEGMENTER_SIZE = (128, 128)
SEGMENTER_WEIGHTS, SEGMENTER_CARD = "segmenter.pth", "segmenter.json"  # what a segmenter folder holds
AnySegmenter = Segmenter | ImageNetSegmenter
# Between two disjoint sets of n real procedural scenes the distance is 6.3 at n=10, 1.4 at 50, 0.64 at 100 and
# 0.38 at 200 (means of 5 draws): below 100 it is mostly sampling noise.
MIN_FRECHET_N = 100


@dataclass
class SegmenterConfig:
    data: str = "landscape"
    photo_textures: bool = False  # landscapes painted with the photo textures of a `data photos` folder
    backbone: str = "unet"  # or an ImageNet network's name: its frozen stages under a trained head
    num_classes: int = 14
    width: int = 16
    steps: int = 1200
    batch_size: int = 8
    lr: float = 2e-3
    seed: int = 0


def sample_size_warning(n: int, pairs: int | None = None) -> str | None:
    """What to say when n is too small for the Fréchet distance to tell models apart; pairs: a folder's pair count
    (None: procedural scenes, whose real-vs-real figures are known)."""
    if n >= MIN_FRECHET_N:
        return None
    if pairs is None:
        return (f"-n {n} is too few for the Fréchet distance to mean much (between two sets of real procedural scenes "
                f"it is 6.3 at n=10 and 0.38 at n=200); use -n {MIN_FRECHET_N} or more, and compare figures only at "
                "the same n")
    more = f"use -n {MIN_FRECHET_N} or more" if pairs >= MIN_FRECHET_N else f"this folder holds only {pairs} pairs"
    return (f"-n {n} is too few for the Fréchet distance to mean much (below {MIN_FRECHET_N} images it is mostly "
            f"sampling noise); {more}; compare figures only at the same n")


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def segmenter_config(data: str = "landscape", num_classes: int = 14, photo_textures: bool = False) -> SegmenterConfig:
    """The yardstick for a dataset: the small U-Net for procedural scenes and folders; for photo-textured scenes,
    EfficientNet-Lite1's frozen stages under a trained head (texture is what tells their classes apart)."""
    if not photo_textures:
        return SegmenterConfig(data=data, num_classes=num_classes)
    return SegmenterConfig(data=data, photo_textures=True, backbone=REALISM_NETWORK, num_classes=num_classes, width=32)


def new_segmenter(config: SegmenterConfig) -> AnySegmenter:
    """An untrained segmenter of the config's kind."""
    if config.backbone == "unet":
        return Segmenter(config.num_classes, config.width)
    return ImageNetSegmenter(config.num_classes, config.width, config.backbone)


def train_segmenter(config: SegmenterConfig, progress: bool = True, photos: str | Path = "") -> AnySegmenter:
    """Deterministic training on real images (seeds 0.. of the dataset; photo_textures needs the photos folder)."""
    if config.photo_textures and not photos:
        raise ValueError("a segmenter for photo-textured scenes trains on them: pass the `data photos` folder")
    torch.manual_seed(config.seed)
    model = new_segmenter(config)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps)
    dataset = open_dataset(config.data, str(photos) if config.photo_textures else "", dontcare=True)
    estimate = Estimate(config.steps, "segmenter trained", tqdm.write if progress else lambda message: None)
    for step in tqdm(range(config.steps), disable=not progress, desc="segmenter"):
        batch = [dataset.sample(step * config.batch_size + i, SEGMENTER_SIZE) for i in range(config.batch_size)]
        labels = torch.from_numpy(np.stack([b[0] for b in batch]).astype(np.int64))
        loss = F.cross_entropy(model(to_tensor([b[1] for b in batch])), labels, ignore_index=DONTCARE_ID)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        estimate.step()
    return model.eval()


def user_cache() -> Path:
    """gaugan's folder in the user's cache: $XDG_CACHE_HOME/gaugan, else ~/.cache/gaugan."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gaugan"


def trained_config(folder: Path) -> dict | None:
    """The config of the segmenter in a folder (from its segmenter.json, checked); None where it holds none."""
    card = folder / SEGMENTER_CARD
    if not (folder / SEGMENTER_WEIGHTS).is_file() or not card.is_file():
        return None
    data = read_json(card, "segmenter card", MAX_CARD_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        found = f"an object with keys {sorted(map(str, data))[:6]}" if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{card}: expected a JSON object with the segmenter's training options under \"config\" (as "
                         f"evaluation writes it), found {found}; name another --segmenter folder, or delete {folder} "
                         "if it is a cache")
    return data["config"]


def load_segmenter(folder: Path, config: SegmenterConfig) -> AnySegmenter:
    """The segmenter of this config cached in folder: its weights read as a checkpoint (read_state_dict), loaded
    strictly; a file that does not fit is a CheckpointError naming it."""
    path = folder / SEGMENTER_WEIGHTS
    state = read_state_dict(path)
    model = new_segmenter(config)
    try:
        model.load_trained_state(state)
    except (RuntimeError, CheckpointError) as exc:
        reason = " ".join(str(exc).replace("\t", " ").split())[:300]
        raise CheckpointError(f"{path} does not fit the segmenter {SEGMENTER_CARD} describes: {reason}") from None
    return model.eval()


def shipped_segmenters() -> list[Path]:
    """Every place a shipped segmenter lives (installed or in the checkout), resolved: never written to."""
    names = {n for d in DATASETS.values() for n in (d.shipped_segmenter, d.shipped_photo_segmenter) if n}
    return [copy for name in sorted(names) for copy in shipped_copies(name)]


def default_segmenter_dir(config: SegmenterConfig) -> Path:
    """The shipped segmenter where it was trained with this config; else a cache, one folder per config: beside the
    data for a folder dataset, in the user cache (user_cache) for a built-in one."""
    dataset = DATASETS.get(config.data)
    shipped = dataset and (dataset.shipped_photo_segmenter if config.photo_textures else dataset.shipped_segmenter)
    if shipped and trained_config(shipped_checkpoint(shipped)) == asdict(config):
        return shipped_checkpoint(shipped)
    digest = hashlib.sha1(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:10]
    return (user_cache() / "segmenters" if dataset else Path(config.data) / ".gaugan_segmenter") / digest


def segmenter_cache(folder: Path, config: SegmenterConfig) -> Path:
    """A folder to cache a newly trained segmenter in, checked before training: writable, and neither a shipped
    segmenter folder nor one holding a segmenter trained otherwise (which would be lost)."""
    found = trained_config(folder)
    shipped = folder.resolve() in shipped_segmenters()
    if found is None and not shipped:
        return writable_folder(folder, "the segmenter folder")
    trained = "" if found is None else " trained with " + ", ".join(
        f"{k} {repr(found.get(k))[:60]} (needed: {v!r})" for k, v in asdict(config).items() if found.get(k) != v)
    raise InputError(f"{folder} holds {'a shipped' if shipped else 'a'} segmenter{trained}, not the one this evaluation "
                     "needs; it is kept: name another --segmenter folder, or leave --segmenter out to cache a new one")


def load_or_train_segmenter(config: SegmenterConfig, folder: Path | None = None, progress: bool = True,
                            photos: str | Path = "") -> AnySegmenter:
    """The segmenter cached in `folder` (default: default_segmenter_dir) if it matches config; else train and cache it
    (photo_textures: on scenes painted with the textures of `photos`)."""
    folder = Path(folder) if folder else default_segmenter_dir(config)
    if trained_config(folder) == asdict(config):
        return load_segmenter(folder, config)
    segmenter_cache(folder, config)
    if progress:
        tqdm.write(f"no segmenter for this data in {folder}: training one on its real images ({config.steps:,} steps "
                   f"of {config.batch_size}; once, then cached there)")
    model = train_segmenter(config, progress, photos)
    torch.save(model.trained_state(), folder / SEGMENTER_WEIGHTS)
    (folder / SEGMENTER_CARD).write_text(json.dumps({"config": asdict(config)}, indent=2) + "\n")
    return model


def confusion(predicted: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) pixel counts: rows = target class, columns = predicted class; targets outside 0..C-1 (dont-care 255)
    are not counted."""
    target, predicted = target.astype(np.int64).ravel(), predicted.astype(np.int64).ravel()
    scored = target < num_classes
    index = target[scored] * num_classes + predicted[scored]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def class_iou(matrix: np.ndarray) -> np.ndarray:
    """Each class's IoU; NaN for a class in neither the targets nor the predictions."""
    intersection = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def miou(matrix: np.ndarray) -> float:
    """Mean IoU over the classes present in the targets or the predictions."""
    iou = class_iou(matrix)
    return float(np.nanmean(iou)) if not np.isnan(iou).all() else 1.0


def fidelity(matrix: np.ndarray, labels: list[Label]) -> dict:
    """mIoU, pixel accuracy and the IoU of each label present, by name."""
    iou = class_iou(matrix)
    by_name = {label.name: round(float(iou[label.id]), 4) for label in labels if not np.isnan(iou[label.id])}
    return {"miou": miou(matrix), "pixel_accuracy": pixel_accuracy(matrix), "iou_by_class": by_name}


def pixel_accuracy(matrix: np.ndarray) -> float:
    return float(np.diag(matrix).sum() / max(1, matrix.sum()))


def segmenter_target(labels: np.ndarray) -> np.ndarray:
    """A layout at the segmenter's size (nearest), to score its predictions against."""
    return np.asarray(Image.fromarray(labels.astype(np.uint8)).resize(SEGMENTER_SIZE[::-1], Image.NEAREST))


def segmenter_batch(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) images resized to the segmenter's size, as one tensor in [-1, 1]."""
    h, w = SEGMENTER_SIZE
    return to_tensor([np.asarray(Image.fromarray(i).resize((w, h), Image.BICUBIC)) for i in images])


def predict(segmenter: AnySegmenter, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N, H, W), pooled features (N, D)) of images resized to the segmenter's size."""
    batch = segmenter_batch(images)
    with torch.inference_mode():
        return segmenter(batch).argmax(1).numpy(), segmenter.features(batch).numpy()


@dataclass(frozen=True)
class HeldOut:
    """The samples an evaluation reads: n from the dataset's held_out_start on, and (floor) n more, disjoint from them,
    for the real-vs-real floor."""

    dataset: Dataset
    n: int
    floor: bool
    description: str  # what they are, for the printed table and evaluation.json


def held_out(data: str, n: int, photos: str = "", say: Callable[[str], None] = print,
             dontcare: bool = False) -> HeldOut:
    """Held-out layouts of a built-in dataset; a folder's test/ (or val/) pairs, or the pairs of a folder that is not
    split, said to be its training pairs; n above a folder's pairs is capped with a note (`say`); dontcare: ids of
    255 pass (a model with a dont-care label), and are left out of the scores."""
    dataset = open_dataset(data, photos, split="test", dontcare=dontcare)
    pairs = dataset.count()
    if pairs is None:
        scenes = "photo-textured" if photos else "procedural"
        return HeldOut(dataset, n, True, f"held-out layouts, {scenes} scenes")
    root = split_folder(data, "test")
    if n > pairs:
        say(f"note: -n {n} is more than the {pairs} pairs in {root}: evaluating those {pairs}")
        n = pairs
    description = (f"held-out pairs from {root}" if has_held_out_split(data) else
                   f"pairs of {root}: its training pairs, not held out (it has no test/ or val/ sub-folder)")
    return HeldOut(dataset, n, 2 * n <= pairs, description)


def check_label_tables(model: GauGAN, dataset: Dataset, data: str) -> None:
    """Refuse data whose label ids name other classes than the model's: the segmenter reads its images back as ids."""
    if dataset.labels is None:
        return
    mine, theirs = ({label.id: label.name for label in table} for table in (model.labels, dataset.labels))
    if mine == theirs:
        return
    differ = [f"{i} {mine.get(i, '-')}/{theirs.get(i, '-')}" for i in sorted(mine.keys() | theirs.keys())
              if mine.get(i) != theirs.get(i)]
    raise InputError(f"the model's label table ({len(mine)} labels) differs from that of --data {data} "
                     f"({len(theirs)} labels; id model/data: {', '.join(differ[:5])}{' …' if len(differ) > 5 else ''}): "
                     "a model is evaluated on data with its own label table; --data FOLDER evaluates a model trained "
                     "on a folder on that folder's pairs")


def evaluate(checkpoint: str | Path, data: str = "landscape", n: int = 200, out: str | Path | None = None,
             progress: bool = True, record: bool = False, segmenter_dir: str | Path | None = None,
             photos: str | Path | None = None) -> dict:
    """Label fidelity and Fréchet distance of a checkpoint on n held-out samples of `data` (held_out).

    With `photos` (a folder from `data photos`) the real scenes are painted with its photo textures, the segmenter is
    one trained on such scenes, and the results add the realism figures against the held-out photographs
    (gaugan/realism.py). record=True stores the results under "evaluation" in the checkpoint's
    model.json; segmenter_dir: where the segmenter is (or is cached once trained), default_segmenter_dir's choice by default.
    Notes and warnings go to stderr when progress is on.
    """
    photos = str(photos or "")
    say = (lambda message: tqdm.write(message, file=sys.stderr)) if progress else (lambda message: None)
    model = GauGAN.from_checkpoint(checkpoint)
    samples = held_out(data, n, photos, say, dontcare=model.preset.contain_dontcare_label)
    check_label_tables(model, samples.dataset, data)
    if warning := sample_size_warning(samples.n, samples.dataset.count()):
        say(f"warning: {warning}")
    if out:
        writable_folder(out, "the output folder")
    if record:  # model.json is rewritten whole, by a file written beside it
        writable_folder(weights_file(checkpoint).parent, "the model folder")
    num_classes = model.preset.label_channels
    config = segmenter_config(data, num_classes, photo_textures=bool(photos))
    segmenter = load_or_train_segmenter(config, segmenter_dir, progress, photos)
    size = model.preset.output_size
    real_matrix = np.zeros((num_classes, num_classes), np.int64)
    fake_matrix = np.zeros_like(real_matrix)
    features: dict[str, list] = {"real": [], "fake": [], "floor": []}
    cases, generated = [], []
    first = samples.dataset.held_out_start
    for i in tqdm(range(samples.n), disable=not progress, desc="evaluate"):
        labels, real, _ = samples.dataset.sample(first + i, size)
        fake = np.asarray(model.generate(labels, seed=i))
        others = [samples.dataset.sample(first + samples.n + i, size)[1]] if samples.floor else []
        (real_pred, fake_pred, *_), found = predict(segmenter, [real, fake, *others])
        target = segmenter_target(labels)
        real_matrix += confusion(real_pred, target, num_classes)
        fake_case = confusion(fake_pred, target, num_classes)
        fake_matrix += fake_case
        for name, feature in zip(("real", "fake", "floor"), found):
            features[name].append(feature)
        cases.append((miou(fake_case), target, fake, fake_pred))
        generated.append(fake)
    results = {
        "n": samples.n, "data": data, "samples": samples.description, "checkpoint": str(checkpoint),
        "generated": fidelity(fake_matrix, model.labels),
        "real": fidelity(real_matrix, model.labels),
        "frechet": frechet_figures(features),
    }
    if photos:
        results["realism"] = realism(generated, photos)
    if out:
        (Path(out) / "evaluation.json").write_text(json.dumps(results, indent=2) + "\n")
        write_worst_cases(cases, model, Path(out) / "worst_cases.png")
    if record:
        update_card(weights_file(checkpoint).parent, evaluation={k: v for k, v in results.items() if k != "checkpoint"})
    return results


def frechet_figures(features: dict[str, list]) -> dict:
    """Fréchet distance of generated to real features, and between two disjoint real sets (the floor; None without
    the second set)."""
    real = np.array(features["real"])
    floor = frechet_distance(np.array(features["floor"]), real) if features["floor"] else None
    return {"generated_vs_real": frechet_distance(np.array(features["fake"]), real), "real_vs_real_floor": floor}


def format_frechet(figures: dict) -> str:
    """The Fréchet line of a results table."""
    floor = figures["real_vs_real_floor"]
    shown = f"{floor:.3f}" if floor is not None else "n/a: fewer than twice n real images"
    return f"Fréchet distance generated vs real: {figures['generated_vs_real']:.3f}  (real vs real floor: {shown})"


def write_worst_cases(cases: list, model: GauGAN, path: Path, count: int = 6) -> None:
    """A grid of the lowest-mIoU examples: input labels | generated | what the segmenter read back."""
    rows = []
    for _, target, fake, predicted in sorted(cases, key=lambda c: c[0])[:count]:
        h, w = target.shape
        fake_small = np.asarray(Image.fromarray(fake).resize((w, h), Image.BICUBIC))
        rows.append(np.concatenate([colourize(target, model.labels), fake_small, colourize(predicted, model.labels)], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def format_table(results: dict) -> str:
    """The results as the CLI prints them: fidelity (overall, then each class from the worst painted), realism."""
    g, r = results["generated"], results["real"]
    lines = [
        f"{results['n']} {results['samples']}",
        f"{'':<28}{'mIoU':>8}{'pixel acc':>11}",
        f"{'generated images':<28}{g['miou']:8.3f}{g['pixel_accuracy']:11.3f}",
        f"{'real images (upper bound)':<28}{r['miou']:8.3f}{r['pixel_accuracy']:11.3f}",
    ]
    by_class = [(name, g["iou_by_class"].get(name, 0.0), r["iou_by_class"].get(name, 0.0))
                for name in {**g["iou_by_class"], **r["iou_by_class"]}]  # absent from one: predicted there only
    lines.append(f"{'IoU by class, worst first':<26}{'generated':>10}{'real':>11}")
    lines += [f"  {name:<24}{fake:10.3f}{real:11.3f}" for name, fake, real in sorted(by_class, key=lambda c: c[1])]
    lines.append(format_frechet(results["frechet"]))
    if "realism" in results:
        lines += format_realism(results["realism"])
    return "\n".join(lines)
