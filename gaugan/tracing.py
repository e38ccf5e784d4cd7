"""Training pairs traced from real photographs: crops of the training photos, labelled by the photo segmenter.

Photo-textured scenes (texture_bank.py) align labels and pixels exactly but look like collages; these pairs are
real photographs whose labels are the segmenter's reading of them (noisy, like hasty doodles), held to the classes
each photo shows (`photo_classes.json` beside the texture boxes, chosen by eye), with bright colourless ground read
as snow in the photos that show snow. `trace_photos`
writes them as a label/image folder (gaugan/data/folder.py) that `train --data FOLDER --photos DIR` interleaves
with the photo-textured scenes. Only the texture bank's training photos are traced: held-out photos stay unseen.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from label_colors import PALETTES

from .data.folder import LABEL_TABLE, label_entries
from .data.landscape import LABELS
from .data.photos import open_photo, read_manifest
from .data.texture_bank import TextureBank
from .errors import InputError
from .evaluate import AnySegmenter, load_or_train_segmenter, segmenter_batch, segmenter_config

CROP = 256
SCALES = (256, 320, 384, 448)  # photo heights the crops are cut at: near and far views of each scene
STRIDE = 128  # between crops along a scaled photo
SMOOTHING = 1.5  # Gaussian sigma on the segmenter's logits, in its pixels: drops single-pixel specks
SOURCE_FILE = "traced.json"
SNOW_VALUE, SNOW_SATURATION, SNOW_BLUR = 0.6, 0.25, 2.0  # HSV thresholds of snow, after a blur of this sigma
CLASSES_FILE = Path(__file__).parent / "data" / "photo_classes.json"  # {photo id: [label names]}


def photo_crops(photo: Image.Image) -> list[np.ndarray]:
    """CROP² crops of one photo at each scale, vertically centred, every STRIDE pixels across."""
    crops = []
    for height in SCALES:
        width = round(photo.width * height / photo.height)
        scaled = np.asarray(photo.resize((width, height), Image.Resampling.LANCZOS))
        y = (height - CROP) // 2
        for x in np.unique(np.linspace(0, width - CROP, max(1, (width - CROP) // STRIDE + 1)).astype(int)):
            crops.append(scaled[y:y + CROP, x:x + CROP])
    return crops


def traceable_photo(photo_dir: Path, entry: dict) -> Image.Image:
    """A manifest entry's photo (checked by open_photo), refused unless its crops fit across it at every scale."""
    photo = open_photo(photo_dir, entry)
    if photo.width * SCALES[0] < CROP * photo.height:
        raise InputError(f"{photo_dir / entry['file']} is {photo.width}×{photo.height}: expected a landscape photo, "
                         f"at least as wide as it is high, so that {CROP}² crops fit across it")
    return photo


def load_photo_classes(path: str | Path = CLASSES_FILE) -> dict[str, list[str]]:
    """The landscape classes each training photo shows, chosen by eye: {photo id: [label names]}."""
    return json.loads(Path(path).read_text())


def trace(segmenter: AnySegmenter, crops: list[np.ndarray], allowed: list[int] | None = None) -> np.ndarray:
    """(N, H, W) uint8 label maps of crops: smoothed logits at the segmenter's size, upsampled, argmax
    (over the `allowed` label ids only, when given)."""
    with torch.inference_mode():
        logits = segmenter(segmenter_batch(crops)).numpy()
    logits = ndimage.gaussian_filter(logits, sigma=(0, 0, SMOOTHING, SMOOTHING))
    full = F.interpolate(torch.from_numpy(logits), size=crops[0].shape[:2], mode="bilinear", align_corners=False)
    if allowed is not None:
        excluded = np.setdiff1d(np.arange(full.shape[1]), allowed)
        full[:, excluded] = -torch.inf
    return full.argmax(1).numpy().astype(np.uint8)


def snow_mask(crop: np.ndarray) -> np.ndarray:
    """Where a crop looks like snow: bright and nearly colourless (shaded snow is only slightly blue)."""
    rgb = ndimage.gaussian_filter(crop.astype(np.float32) / 255, sigma=(SNOW_BLUR, SNOW_BLUR, 0))
    value, low = rgb.max(-1), rgb.min(-1)
    return (value > SNOW_VALUE) & (value - low < SNOW_SATURATION * value)


def trace_photo(segmenter: AnySegmenter, crops: list[np.ndarray], classes: list[str]) -> np.ndarray:
    """Label maps of one photo's crops, choosing only among the `classes` it shows; where it shows snow,
    bright colourless ground is snow (the segmenter reads snowfields as mountain)."""
    labels = trace(segmenter, crops, [LABELS[name] for name in classes])
    if "snow" in classes:
        ground = ~np.isin(labels, [LABELS["sky-other"], LABELS["clouds"]])
        labels[ground & np.stack([snow_mask(crop) for crop in crops])] = LABELS["snow"]
    return labels


def trace_photos(photo_dir: str | Path, out: str | Path, progress: bool = True) -> int:
    """Write out/labels/*.png, out/images/*.png, labels.json and traced.json (sources); returns the pair count."""
    photo_dir, out = Path(photo_dir), Path(out)
    training = TextureBank.training_photo_ids()
    entries = [e for e in sorted(read_manifest(photo_dir), key=lambda e: e["id"]) if e["id"] in training]
    if not entries:
        raise InputError(f"{photo_dir}: its manifest lists none of the texture bank's training photos "
                         "(expected a folder from `gaugan data photos`)")
    classes = load_photo_classes()
    unlisted = [e["id"] for e in entries if e["id"] not in classes]
    if unlisted:
        raise InputError(f"{CLASSES_FILE.name} lists no classes for the training photos {', '.join(unlisted)}")
    segmenter = load_or_train_segmenter(segmenter_config(photo_textures=True), progress=progress, photos=photo_dir)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    count = 0
    for entry in tqdm(entries, disable=not progress, desc="tracing"):
        crops = photo_crops(traceable_photo(photo_dir, entry))
        for i, (crop, labels) in enumerate(zip(crops, trace_photo(segmenter, crops, classes[entry["id"]]))):
            name = f"{entry['id']}_{i:02d}.png"
            Image.fromarray(labels, mode="L").save(out / "labels" / name)
            Image.fromarray(crop).save(out / "images" / name)
            count += 1
    (out / LABEL_TABLE).write_text(json.dumps(label_entries(PALETTES["landscape"]), indent=1) + "\n")
    (out / SOURCE_FILE).write_text(json.dumps({"photos": str(photo_dir.resolve()), "pairs": count,
                                               "photo_ids": [e["id"] for e in entries]}, indent=1) + "\n")
    return count
