"""Quality numbers for a sketch model on held-out sketch/photo pairs: L1 to the real photo, and realism as the
Fréchet distance between generated and real photos in the shipped landscape segmenter's feature space
(gaugan/evaluate.py; the distance between two disjoint real sets is the floor). With the `data photos` folder,
also KID and Fréchet distance to held-out photographs (gaugan/realism.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .data.registry import has_held_out_split
from .data.sketch import LANDSCAPE_SKETCH, SketchSource
from .errors import InputError
from .evaluate import SegmenterConfig, format_frechet, frechet_figures, load_or_train_segmenter, predict
from .model_card import MODEL_CARD, read_card_json
from .realism import format_realism, realism
from .sketch import load_sketch_model
from .whole_files import write_json_whole


def evaluate_sketch(checkpoint: str | Path, data: str | None = None, n: int = 200, out: str | Path | None = None,
                    progress: bool = True, record: bool = False, photos: str | Path = "") -> dict:
    """L1 (0-255 scale) and Fréchet distance on n held-out pairs (the test/ split of a folder, or held-out seeds).

    `data` defaults to the data the model was trained on; a model trained with photo textures needs the `data photos`
    folder (`photos`) to paint its held-out scenes alike; with `photos` the results add the realism figures against the
    held-out photographs. record=True stores the results in its model.json.
    """
    model = load_sketch_model(checkpoint)
    trained = model.card.get("training", {})
    data = data or trained.get("data", LANDSCAPE_SKETCH)
    edges = trained.get("sketch", {}).get("edges_from_photos", False)
    if trained.get("photos") and not photos:
        raise InputError("this sketch model learnt scenes painted with photo textures: pass the `data photos` folder "
                         "(--photos) so that its held-out scenes are painted alike")
    source = SketchSource(data, "test", model.direction, edges, size=model.input_size, photos=str(photos or ""))
    if n > len(source):
        if progress:
            tqdm.write(f"note: -n {n} is more than the {len(source)} pairs of {data}: evaluating those {len(source)}",
                       file=sys.stderr)
        n = len(source)
    has_floor = len(source) >= 2 * n
    segmenter = load_or_train_segmenter(SegmenterConfig(), progress=progress)
    errors, features, cases = [], {"real": [], "fake": [], "floor": []}, []
    for i in tqdm(range(n), disable=not progress, desc="evaluate"):
        sketch, real, label = source[i]
        fake = np.asarray(model.generate(sketch, seed=i if model.varies_with_seed else None,
                                         class_id=label if model.conditional else None))
        if real.shape != fake.shape:
            real = np.asarray(Image.fromarray(real).resize(fake.shape[1::-1], Image.BICUBIC))
        error = float(np.abs(fake.astype(np.float32) - real).mean())
        errors.append(error)
        images = [real, fake] + ([source[n + i][1]] if has_floor else [])
        for name, feature in zip(("real", "fake", "floor"), predict(segmenter, images)[1]):
            features[name].append(feature)
        cases.append((error, sketch, real, fake))
    procedural = source.layout == LANDSCAPE_SKETCH  # held-out seeds (a traced folder holds no held-out pairs)
    results = {"n": n, "data": LANDSCAPE_SKETCH if procedural else data, "held_out": procedural or has_held_out_split(data),
               "checkpoint": str(checkpoint), "l1": float(np.mean(errors)), "frechet": frechet_figures(features)}
    if photos:
        results["realism"] = realism([case[3] for case in cases], photos)
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(json.dumps(results, indent=2) + "\n")
        worst = sorted(cases, key=lambda c: -c[0])[:6]
        rows = [np.concatenate([np.asarray(Image.fromarray(a).resize((128, 128))) for a in c[1:]], 1) for c in worst]
        Image.fromarray(np.concatenate(rows, 0)).save(out / "worst_cases.png")
    if record:
        card_path = Path(checkpoint) / MODEL_CARD
        card = read_card_json(card_path)
        card["evaluation"] = {k: v for k, v in results.items() if k != "checkpoint"}
        write_json_whole(card_path, card)
    return results


def format_sketch_table(results: dict) -> str:
    pairs = f"{results['n']} from {results['data']}"
    lines = [
        f"held-out pairs: {pairs}" if results["held_out"] else
        f"training pairs: {pairs}, not held out (it has no test/ or val/ sub-folder)",
        f"L1 to the real photo (0-255): {results['l1']:.2f}",
        format_frechet(results["frechet"]),
    ]
    return "\n".join(lines + (format_realism(results["realism"]) if "realism" in results else []))
