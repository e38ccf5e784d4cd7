"""Metrics on known cases, the shipped segmenter on held-out scenes, the shipped model's fidelity, and what evaluation
reads, refuses and writes."""
import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import ROOT, make_tiny_model
from PIL import Image

import gaugan.evaluate
from gaugan import GauGAN
from gaugan.checkpoints import save_model
from gaugan.data.landscape import landscape_scene
from gaugan.data.registry import DATASETS
from gaugan.errors import InputError
from gaugan.evaluate import (SEGMENTER_SIZE, SegmenterConfig, class_iou, confusion, evaluate, fidelity, format_table,
                             frechet_distance, held_out, load_or_train_segmenter, miou, pixel_accuracy, predict,
                             sample_size_warning, segmenter_config, segmenter_target)
from gaugan.imagenet import ImageNetSegmenter
from gaugan.networks import SPADEGenerator
from gaugan.networks.random_init import randomize_
from gaugan.presets import Preset
from label_colors import PALETTES, Label

SEGMENTER_HELD_OUT_MIOU = 0.80  # stated in docs/evaluation.md (measured 0.823): the shipped segmenter on 32 held-out scenes
SHIPPED_MODEL_MIOU = 0.36  # the shipped generator read back by segmenter-photo on 12 held-out layouts (measured 0.379; 0.417 on 200)


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
    dontcare = confusion(np.append(predicted, 2), np.append(target, 255), 4)
    assert np.array_equal(dontcare, matrix), "dont-care target pixels are not scored"


def test_shuffled_labels_score_near_chance():
    rng = np.random.default_rng(2)
    target = landscape_scene(5, (128, 128))[0].astype(np.int64)
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
        labels, image = landscape_scene(DATASETS["landscape"].held_out_start + 5000 + i, SEGMENTER_SIZE)
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
        labels, _ = landscape_scene(DATASETS["landscape"].held_out_start + i, model.preset.output_size)
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


TABLE = [Label(0, "water", (20, 60, 200)), Label(1, "sand", (230, 210, 150)), Label(2, "rock", (90, 90, 90))]


def tiny_model_with_labels(folder, labels: list[Label], dontcare: bool = False):
    """A random-weight model of ours with its own label table (and a dont-care label)."""
    preset = Preset(name="mine", label_nc=max(label.id for label in labels) + 1, contain_dontcare_label=dontcare,
                    use_instance=False, crop_size=64, ngf=4, z_dim=8, spade_hidden=8)
    generator = randomize_(SPADEGenerator(preset), seed=1)
    card = {"labels": [{"id": l.id, "name": l.name, "rgb": list(l.rgb)} for l in labels], "description": "test"}
    return save_model(folder, generator, card)


def pair_folder(root, seeds, modulo: int = 3):
    """labels/ and images/ of a few procedural scenes, their ids folded into 0..modulo-1."""
    for sub in ("labels", "images"):
        (root / sub).mkdir(parents=True)
    for seed in seeds:
        labels, image = landscape_scene(seed, (64, 64))
        Image.fromarray((labels % modulo).astype(np.uint8)).save(root / "labels" / f"s{seed}.png")
        Image.fromarray(image).save(root / "images" / f"s{seed}.png")
    return root


@pytest.fixture
def tiny_segmenters(monkeypatch, tmp_path):
    """Segmenters trained in 2 steps, cached under a user cache in tmp_path."""
    config = gaugan.evaluate.segmenter_config
    monkeypatch.setattr(gaugan.evaluate, "segmenter_config",
                        lambda *a, **k: replace(config(*a, **k), width=4, steps=2, batch_size=2))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def no_training(*args, **kwargs):
    raise AssertionError("a segmenter was trained before the input was checked")


def shipped_segmenter_digest() -> str:
    return hashlib.sha256((ROOT / "checkpoints" / "segmenter" / "segmenter.pth").read_bytes()).hexdigest()


@pytest.mark.parametrize("labels", [
    [Label(i, f"class{i}", (i * 15, 255 - i * 15, 40)) for i in range(16)],  # more classes than the landscape table
    TABLE,  # fewer: its segmenter could not even read the landscape ids
])
def test_a_model_with_another_label_table_is_refused_before_any_segmenter_trains(tmp_path, monkeypatch, labels):
    model = tiny_model_with_labels(tmp_path / "model", labels)
    monkeypatch.setattr(gaugan.evaluate, "train_segmenter", no_training)
    before = shipped_segmenter_digest()
    with pytest.raises(InputError, match=r"label table \(\d+ labels\) differs from that of --data landscape \(14 labels"
                                         r".*--data FOLDER"):
        evaluate(model, n=2, progress=False)
    assert shipped_segmenter_digest() == before


def test_a_segmenter_for_other_data_is_cached_in_the_user_cache_never_over_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = shipped_segmenter_digest()
    other = SegmenterConfig(width=4, steps=2, batch_size=2)  # landscape scenes, but not the shipped config
    load_or_train_segmenter(other, progress=False)
    assert shipped_segmenter_digest() == before
    assert len(list((tmp_path / "cache" / "gaugan" / "segmenters").glob("*/segmenter.pth"))) == 1
    monkeypatch.setattr(gaugan.evaluate, "train_segmenter", no_training)
    with pytest.raises(InputError, match="holds a shipped segmenter trained with width 16 \\(needed: 4\\).*it is kept"):
        load_or_train_segmenter(other, ROOT / "checkpoints" / "segmenter", progress=False)
    assert shipped_segmenter_digest() == before


def test_a_segmenter_folder_that_cannot_be_written_is_refused_before_training(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setattr(gaugan.evaluate, "train_segmenter", no_training)
    config = SegmenterConfig(data=str(pair_folder(tmp_path / "data", range(2))), num_classes=3, width=4, steps=2)
    with pytest.raises(InputError, match="cannot create the segmenter folder .*afile/seg: Not a directory"):
        load_or_train_segmenter(config, tmp_path / "afile" / "seg", progress=False)


def test_a_folder_is_evaluated_on_its_test_split_or_on_its_training_pairs_said_so(tmp_path):
    split = tmp_path / "split"
    pair_folder(split / "train", range(3))
    pair_folder(split / "test", range(100, 102))
    samples = held_out(str(split), 2, say=no_training)
    assert samples.description == f"held-out pairs from {split / 'test'}" and (samples.n, samples.floor) == (2, False)
    expected = np.asarray(Image.open(split / "test" / "labels" / "s100.png"))
    assert np.array_equal(samples.dataset.sample(0, (64, 64))[0], expected)
    notes = []
    samples = held_out(str(split / "train"), 5, say=notes.append)
    assert notes == [f"note: -n 5 is more than the 3 pairs in {split / 'train'}: evaluating those 3"]
    assert samples.n == 3 and not samples.floor and "its training pairs, not held out" in samples.description
    assert held_out(str(split / "train"), 1, say=no_training).floor  # pairs 1..2 are disjoint from pair 0
    (split / "test").rename(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="split into train/ but has no test/ or val/ split to evaluate on"):
        held_out(str(split), 2, say=no_training)
    assert held_out("landscape", 7, say=no_training).description == "held-out layouts, procedural scenes"


def test_a_folder_with_dont_care_pixels_is_evaluated_for_a_model_with_a_dont_care_label(tmp_path, tiny_segmenters):
    data = pair_folder(tmp_path / "data", range(3))
    for path in (data / "labels").iterdir():
        labels = np.asarray(Image.open(path)).copy()
        labels[:8] = 255  # unlabelled, as COCO-Stuff stores it
        Image.fromarray(labels).save(path)
    (data / "labels.json").write_text(json.dumps([{"id": l.id, "name": l.name, "rgb": list(l.rgb)} for l in TABLE]))
    with pytest.raises(InputError, match=r"holds label ids \[255\].*dont-care only with a preset that has"):
        evaluate(tiny_model_with_labels(tmp_path / "plain", TABLE), str(data), n=3, progress=False)
    results = evaluate(tiny_model_with_labels(tmp_path / "model", TABLE, dontcare=True), str(data), n=3, progress=False)
    assert results["n"] == 3 and 0 <= results["generated"]["miou"] <= 1


def test_a_folder_without_a_split_says_it_reads_its_training_pairs_and_gives_no_floor_of_the_same_images(
        tmp_path, tiny_segmenters):
    data = pair_folder(tmp_path / "data", range(3))
    (data / "labels.json").write_text(json.dumps([{"id": l.id, "name": l.name, "rgb": list(l.rgb)} for l in TABLE]))
    results = evaluate(tiny_model_with_labels(tmp_path / "model", TABLE), str(data), n=3, progress=False)
    assert results["n"] == 3 and results["frechet"]["real_vs_real_floor"] is None
    table = format_table(results)
    assert table.startswith(f"3 pairs of {data}: its training pairs, not held out") and "procedural" not in table
    assert "real vs real floor: n/a" in table
    warning = sample_size_warning(3, pairs=3)
    assert "this folder holds only 3 pairs" in warning and "6.3" not in warning and "procedural" not in warning
    assert "between two sets of real procedural scenes it is 6.3 at n=10" in sample_size_warning(3)
