"""Metrics on known cases, the shipped segmenter on held-out scenes, and the shipped model's fidelity."""
import json

import numpy as np
import pytest
import torch
from helpers import ROOT, make_tiny_model

from gaugan import GauGAN
from gaugan.data.registry import DATASETS
from gaugan.evaluate import (SEGMENTER_SIZE, SegmenterConfig, class_iou, confusion, evaluate, fidelity,
                             frechet_distance, load_or_train_segmenter, miou, pixel_accuracy, predict, scenes,
                             segmenter_config, segmenter_target)
from gaugan.imagenet import ImageNetSegmenter
from label_colors import PALETTES, Label

SEGMENTER_HELD_OUT_MIOU = 0.80  # stated in docs/evaluation.md (measured 0.823): the shipped segmenter on 32 held-out scenes
SHIPPED_MODEL_MIOU = 0.40  # the shipped generator read back by segmenter-photo on 12 held-out layouts (measured 0.433; 0.479 on 200)


def test_identical_feature_sets_are_at_distance_zero():
    features = np.random.default_rng(0).normal(size=(300, 16))
    assert abs(frechet_distance(features, features)) < 1e-6
    shifted = features + 1.0
    assert frechet_distance(features, shifted) == pytest.approx(16.0, rel=1e-6)


def test_perfect_predictions_score_one():
    target = np.random.default_rng(1).integers(0, 14, (64, 64))
    matrix = confusion(target, target, 14)
    assert miou(matrix) == 1.0 and pixel_accuracy(matrix) == 1.0


def test_each_class_iou_counts_its_misses_and_false_alarms():
    target, predicted = np.array([0, 0, 1, 1, 3]), np.array([0, 1, 1, 1, 3])
    matrix = confusion(predicted, target, 4)
    assert np.allclose(class_iou(matrix), [1 / 2, 2 / 3, np.nan, 1], equal_nan=True)  # class 2: nowhere
    assert miou(matrix) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    labels = [Label(i, name, (i, i, i)) for i, name in enumerate(["sky", "sea", "sand", "tree"])]
    assert fidelity(matrix, labels)["iou_by_class"] == {"sky": 0.5, "sea": 0.6667, "tree": 1.0}


def test_shuffled_labels_score_near_chance():
    rng = np.random.default_rng(2)
    target = scenes("landscape", (128, 128), 5)[0].astype(np.int64)
    shuffled = rng.permutation(target.ravel()).reshape(target.shape)
    frequencies = np.bincount(target.ravel(), minlength=14) / target.size
    present = frequencies > 0
    chance = float((frequencies[present] / (2 - frequencies[present])).mean())
    assert miou(confusion(shuffled, target, 14)) == pytest.approx(chance, abs=0.02)


@pytest.fixture(scope="module")
def segmenter():
    return load_or_train_segmenter(SegmenterConfig(), progress=False)


def test_shipped_segmenter_reads_held_out_scenes(segmenter):
    matrix = np.zeros((14, 14), np.int64)
    for i in range(32):
        labels, image = scenes("landscape", SEGMENTER_SIZE, DATASETS["landscape"].held_out_start + 5000 + i)
        predicted, _ = predict(segmenter, [image])
        matrix += confusion(predicted[0], labels, 14)
    assert miou(matrix) >= SEGMENTER_HELD_OUT_MIOU


@pytest.mark.slow
def test_evaluate_end_to_end_writes_json_and_worst_cases(tmp_path, segmenter):
    model_dir = make_tiny_model(tmp_path / "tiny")
    results = evaluate(model_dir, n=6, out=tmp_path / "eval", progress=False, record=True)
    saved = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert results["real"]["miou"] > results["generated"]["miou"], "random weights must score below real images"
    assert (tmp_path / "eval" / "worst_cases.png").is_file()
    card = json.loads((model_dir / "model.json").read_text())
    assert card["evaluation"]["generated"] == results["generated"]
    for scored in (results["real"], results["generated"]):
        by_class = scored["iou_by_class"]
        assert set(by_class) <= {label.name for label in PALETTES["landscape"]} and len(by_class) >= 5
        assert np.mean(list(by_class.values())) == pytest.approx(scored["miou"], abs=1e-4)


def test_shipped_model_paints_what_was_drawn():
    """Its images, read back by the segmenter of the photo-textured scenes it learnt from, match the layouts;
    coloured noise or a collapsed generator would be read back near chance (see the shuffled-labels test)."""
    model = GauGAN.from_checkpoint(ROOT / "checkpoints" / "landscape")
    segmenter = load_or_train_segmenter(segmenter_config(photo_textures=True), progress=False)
    matrix = np.zeros((14, 14), np.int64)
    for i in range(12):
        labels, _ = scenes("landscape", model.preset.output_size, DATASETS["landscape"].held_out_start + i)
        predicted, _ = predict(segmenter, [np.asarray(model.generate(labels, seed=i))])
        matrix += confusion(predicted[0], segmenter_target(labels), 14)
    assert miou(matrix) >= SHIPPED_MODEL_MIOU


def test_photo_textured_scenes_have_their_own_shipped_segmenter(tmp_path):
    """`evaluate --photos` reads labels back with an ImageNet-backed segmenter trained on photo-textured scenes; it
    ships (only its head), so it loads without the photos, and a new one cannot be trained without them."""
    shipped = load_or_train_segmenter(segmenter_config(photo_textures=True), progress=False)
    assert isinstance(shipped, ImageNetSegmenter)
    head = torch.load(ROOT / "checkpoints" / "segmenter-photo" / "segmenter.pth", weights_only=True)
    assert head.keys() == shipped.trained_state().keys() and not any(k.startswith("backbone.") for k in head)
    with pytest.raises(ValueError, match="segmenter head does not match"):
        shipped.load_trained_state({**head, "extra.weight": torch.zeros(1)})
    logits = shipped(torch.zeros(2, 3, *SEGMENTER_SIZE))
    assert logits.shape == (2, 14, *SEGMENTER_SIZE)
    with pytest.raises(ValueError, match="pass the `data photos` folder"):
        load_or_train_segmenter(segmenter_config(photo_textures=True), tmp_path / "new", progress=False)
