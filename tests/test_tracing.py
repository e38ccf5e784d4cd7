"""Pairs traced from photographs (gaugan/tracing.py) and their mix with photo-textured scenes for training."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import TINY_TRAINING

from gaugan.__main__ import main as cli
from gaugan.data.folder import LabelImageFolder, label_entries, read_label_table
from gaugan.data.landscape import landscape_scene
from gaugan.data.landscape_sketch import EVAL_SEED_OFFSET, landscape_sketch_pair, line_sketch
from gaugan.data.photos import SOURCES
from gaugan.data.registry import open_dataset
from gaugan.data.sketch import SketchSource
from gaugan.data.texture_bank import TextureBank, is_held_out, load_boxes, shared_bank
from gaugan.errors import InputError
from gaugan.evaluate import load_or_train_segmenter, segmenter_config
from gaugan.sketch_train import pix2pix_config
from gaugan import tracing
from gaugan.train import export, trainer_for
from gaugan.tracing import SCALES, load_photo_classes, photo_crops, snow_mask, trace_photo
from label_colors import PALETTES

IDS = {label.name: label.id for label in PALETTES["landscape"]}


def sky_over_grass(seed: int, size=(360, 720)) -> np.ndarray:
    """A clear sky gradient over the horizon at mid-height, grainy green grass below."""
    rng = np.random.default_rng(seed)
    h, w = size
    t = np.linspace(0, 1, h // 2)[:, None, None]
    sky = np.broadcast_to(np.array([70, 130, 220]) * (1 - t) + np.array([170, 200, 240]) * t, (h // 2, w, 3))
    grass = np.array([70, 120, 40]) + rng.normal(0, 25, (h - h // 2, w, 3))
    return np.clip(np.concatenate([sky, grass]), 0, 255).astype(np.uint8)


def photos_showing(*names: str) -> list[str]:
    """The training photos whose listed classes include all of `names`, sorted."""
    return sorted(pid for pid, classes in load_photo_classes().items() if set(names) <= set(classes))


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """(photos folder: two training photos and a held-out one, its traced folder, their ids)."""
    photos = tmp_path_factory.mktemp("photos")
    (photos / "photos").mkdir()
    training = photos_showing("sky-other", "grass")[:2]
    held = next(f"held{i}" for i in range(100) if is_held_out(f"held{i}"))
    manifest = []
    for seed, pid in enumerate([*training, held]):
        Image.fromarray(sky_over_grass(seed)).save(photos / "photos" / f"{pid}.png")
        manifest.append({"id": pid, "file": f"photos/{pid}.png", "package": "fake-photos", "version": "1.0-1",
                         "licence": "public-domain", "author": "Somebody", "licence_note": ""})
    (photos / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path_factory.mktemp("traced")
    cli(["data", "traced", "--photos", str(photos), "--out", str(out)])
    return photos, out, training, held


def test_every_fetched_training_photo_lists_its_classes_in_palette_order_and_its_boxes_agree():
    classes = load_photo_classes()
    fetched = {pid for pid in TextureBank.training_photo_ids() if not any(s.skips(pid) for s in SOURCES)}
    assert set(classes) == fetched
    order = [label.name for label in PALETTES["landscape"]]
    for pid, names in classes.items():
        assert names and names == sorted(set(names), key=order.index), pid  # known names, once each, in order
    for box in load_boxes():
        assert box["photo"] not in classes or box["label"] in classes[box["photo"]], box


@pytest.fixture(scope="module")
def segmenter(traced):
    return load_or_train_segmenter(segmenter_config(photo_textures=True), progress=False, photos=traced[0])


def test_tracing_chooses_only_among_the_classes_a_photo_shows(segmenter):
    crops = photo_crops(Image.fromarray(sky_over_grass(1)))[:3]
    labels = trace_photo(segmenter, crops, ["sky-other", "clouds", "sand"])
    assert set(np.unique(labels)) <= {IDS["sky-other"], IDS["clouds"], IDS["sand"]}
    assert (labels[:, :120] == IDS["sky-other"]).mean() > 0.97
    assert (labels[:, 136:] == IDS["sand"]).mean() > 0.9, "grass is not listed: its pixels take the next class"


def test_bright_colourless_ground_is_snow_where_a_photo_shows_snow(segmenter):
    rng = np.random.default_rng(2)
    ground = np.concatenate([rng.normal((226, 232, 242), 6, (256, 128, 3)),  # sunlit snow | dark rock
                             rng.normal((88, 84, 80), 12, (256, 128, 3))], axis=1)
    crop = np.clip(ground, 0, 255).astype(np.uint8)
    snowy = trace_photo(segmenter, [crop], ["mountain", "snow", "rock"])[0]
    assert (snowy[:, :120] == IDS["snow"]).mean() > 0.97 and IDS["snow"] not in snowy[:, 136:]
    assert IDS["snow"] not in trace_photo(segmenter, [crop], ["mountain", "rock"])[0], "no snow unless listed"
    overcast = sky_over_grass(3)[:256, :256]
    overcast[:128] = np.clip(rng.normal((214, 217, 222), 4, (128, 256, 3)), 0, 255)
    labels = trace_photo(segmenter, [overcast], ["sky-other", "clouds", "snow", "grass"])[0]
    assert np.isin(labels[:120], [IDS["sky-other"], IDS["clouds"]]).all(), "a white sky stays sky"


@pytest.mark.parametrize("colour, snow", [((236, 238, 244), True), ((168, 184, 212), True), ((241, 207, 113), False),
                                          ((120, 118, 116), False), ((210, 230, 160), False)])
def test_snow_is_bright_and_nearly_colourless(colour, snow):
    """Sunlit and shaded snow are snow; sand, grey rock and pale grass are not."""
    assert snow_mask(np.full((16, 16, 3), colour, np.uint8)).all() == snow


def test_photo_crops_cover_each_scale_across_the_photo():
    photo = Image.fromarray(sky_over_grass(0))  # 720 x 360
    crops = photo_crops(photo)
    assert len(crops) == 3 + 4 + 5 + 6 and {c.shape for c in crops} == {(256, 256, 3)}  # widths 512 .. 896
    nearest = np.asarray(photo.resize((512, SCALES[0]), Image.Resampling.LANCZOS))
    farthest = np.asarray(photo.resize((896, SCALES[-1]), Image.Resampling.LANCZOS))
    assert np.array_equal(crops[0], nearest[:, :256]) and np.array_equal(crops[2], nearest[:, 256:])
    assert np.array_equal(crops[-1], farthest[96:352, 640:])  # vertically centred, flush with the right edge


def test_traced_pairs_are_training_photo_crops_labelled_where_they_are(traced):
    photos, out, training, held = traced
    names = sorted(p.stem for p in (out / "labels").glob("*.png"))
    assert {n.rsplit("_", 1)[0] for n in names} == set(training), "held-out photos are never traced"
    assert len(names) == 2 * len(photo_crops(Image.fromarray(sky_over_grass(0))))
    assert read_label_table(out / "labels.json") == PALETTES["landscape"]
    assert json.loads((out / "traced.json").read_text())["photo_ids"] == training
    crops = photo_crops(Image.open(photos / "photos" / f"{training[0]}.png").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(out / "images" / f"{training[0]}_05.png")), crops[5])
    for name in names:  # the horizon sits at mid-height in every crop: sky above, grass below
        labels = np.asarray(Image.open(out / "labels" / f"{name}.png"))
        assert labels.shape == (256, 256)
        assert (labels[:120] == IDS["sky-other"]).mean() > 0.97, name
        assert (labels[136:] == IDS["grass"]).mean() > 0.97, name
    pairs = LabelImageFolder(out, (256, 256))
    assert len(pairs) == len(names)


@pytest.mark.parametrize("share", [0.5, 0.25])
def test_a_traced_folder_is_mixed_evenly_with_photo_textured_scenes(traced, tmp_path, share):
    photos, out, _, _ = traced
    mix = open_dataset(str(out), str(photos), folder_share=share)
    folder = LabelImageFolder(out, (128, 128))
    every = round(1 / share)
    matches, stems = [], set()
    for index in range(0, 20 * every, every):
        labels, image, _ = mix.sample(index, (128, 128))
        match = [i for i in range(len(folder)) if np.array_equal(folder[i][1], image)]
        assert len(match) == 1 and np.array_equal(folder[match[0]][0], labels)
        matches.append(match[0])
        stems.add(folder.pairs[match[0]][0].stem.rsplit("_", 1)[0])
    assert len(set(matches)) == 20, "consecutive folder samples walk through its pairs, none repeated"
    assert len(stems) == 2, "a shuffled order: both photos within the first 20 pairs"
    for index in (i for i in range(3 * every) if i % every):
        labels, image, _ = mix.sample(index, (128, 128))
        expected = landscape_scene(index, (128, 128), bank=shared_bank(photos))
        assert np.array_equal(labels, expected[0]) and np.array_equal(image, expected[1])
    assert str(out) in mix.description and "photo textures" in mix.description
    assert ("one for one" if share == 0.5 else "as 25% of the samples") in mix.description


def test_a_folder_mixed_with_photo_textured_scenes_needs_the_landscape_table_and_a_share(traced, tmp_path):
    photos, out, _, _ = traced
    with pytest.raises(InputError, match=r"must be in \(0, 1\]; found 0"):
        open_dataset(str(out), str(photos), folder_share=0)
    with pytest.raises(InputError, match="needs --data FOLDER beside --photos; found --data landscape$"):
        open_dataset("landscape", str(photos), folder_share=0.25)
    with pytest.raises(InputError, match=f"found --data {out} without --photos"):
        open_dataset(str(out), folder_share=0.25)
    other = tmp_path / "other"
    for sub in ("labels", "images"):
        (other / sub).mkdir(parents=True)
    (other / "labels.json").write_text(json.dumps([{"id": 0, "name": "road", "rgb": [1, 2, 3]}]))
    with pytest.raises(InputError, match="must hold the landscape label table"):
        open_dataset(str(other), str(photos))


def test_a_landscape_run_continues_on_traced_pairs_and_credits_their_photos(traced, tmp_path):
    photos, out, training, _ = traced
    run, model = tmp_path / "run", tmp_path / "model"
    cli(["train", "--out", str(run), "--steps", "1", *TINY_TRAINING])
    cli(["train", "--out", str(run), "--data", str(out), "--photos", str(photos), "--folder-share", "0.25",
         "--steps", "3", "--quiet"])
    cli(["export", "--run", str(run), "--out", str(model)])
    card = json.loads((model / "model.json").read_text())
    assert card["training"]["steps_done"] == 3 and card["training"]["data"] == str(out)
    assert card["labels"] == label_entries(PALETTES["landscape"]) and card["training"]["preset"]["ngf"] == 4
    assert f"label/image pairs from {out} interleaved as 25% of the samples" in card["description"]
    assert card["training"]["folder_share"] == 0.25
    assert [group["photos"] for group in card["training_photos"]] == [training]


def test_tracing_a_folder_without_photos_says_what_it_expected(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exited:
        cli(["data", "traced", "--photos", str(tmp_path), "--out", str(tmp_path / "out")])
    assert "no manifest.json in" in str(exited.value.code) and "gaugan data photos" in str(exited.value.code)
    (tmp_path / "manifest.json").write_text(json.dumps([{"id": "not-a-training-photo", "file": "photos/x.png"}]))
    with pytest.raises(SystemExit) as exited:
        cli(["data", "traced", "--photos", str(tmp_path), "--out", str(tmp_path / "out")])
    assert "lists none of the texture bank's training photos" in str(exited.value.code)
    classes = load_photo_classes()
    unlisted = sorted(TextureBank.training_photo_ids())[0]
    monkeypatch.setattr(tracing, "load_photo_classes", lambda: {k: v for k, v in classes.items() if k != unlisted})
    (tmp_path / "manifest.json").write_text(json.dumps([{"id": unlisted, "file": "photos/x.png"}]))
    with pytest.raises(SystemExit) as exited:
        cli(["data", "traced", "--photos", str(tmp_path), "--out", str(tmp_path / "out")])
    assert f"photo_classes.json lists no classes for the training photos {unlisted}" in str(exited.value.code)
    assert not (tmp_path / "out").exists()


def test_a_share_without_a_folder_to_mix_is_refused_before_training(traced, tmp_path):
    photos, out, _, _ = traced
    run = tmp_path / "run"
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--out", str(run), "--photos", str(photos), "--folder-share", "0.25", "--steps", "1", "--quiet"])
    assert "needs --data FOLDER beside --photos; found --data landscape" in str(exited.value.code)
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--model", "pix2pix", "--out", str(run), "--data", str(out), "--folder-share", "0.25",
             "--steps", "1", "--quiet"])
    assert f"needs --data FOLDER beside --photos; found --data {out} without --photos" in str(exited.value.code)
    assert not run.exists()


def tiny_sketch_model(folder: Path, photos: Path) -> Path:
    """A pix2pix model trained one step on landscape sketches painted with the photos' textures."""
    config = pix2pix_config({"depth": 6, "ngf": 4, "load_size": 72, "crop_size": 64}, out=str(folder / "run"),
                            steps=1, batch_size=2, ndf=8, photos=str(photos))
    trainer_for(config).run(progress=False)
    return export(folder / "run", folder / "model")


@pytest.mark.slow
def test_a_sketch_model_evaluated_with_photos_adds_the_realism_figures(traced, tmp_path, capsys):
    photos, _, _, held = traced
    model = tiny_sketch_model(tmp_path, photos)
    with pytest.raises(SystemExit, match="pass the `data photos` folder"):
        cli(["evaluate", "--checkpoint", str(model), "-n", "4"])
    with pytest.raises(SystemExit, match="need at least two held-out photographs .* found 1"):
        cli(["evaluate", "--checkpoint", str(model), "-n", "4", "--photos", str(photos)])
    shutil.copytree(photos, tmp_path / "photos")
    second = next(f"held{i}" for i in range(int(held[4:]) + 1, 200) if is_held_out(f"held{i}"))
    Image.fromarray(sky_over_grass(9)).save(tmp_path / "photos" / "photos" / f"{second}.png")
    manifest = json.loads((photos / "manifest.json").read_text())
    manifest.append({**manifest[-1], "id": second, "file": f"photos/{second}.png"})
    (tmp_path / "photos" / "manifest.json").write_text(json.dumps(manifest))
    cli(["evaluate", "--checkpoint", str(model), "-n", "4", "--photos", str(tmp_path / "photos"), "--record"])
    printed = capsys.readouterr().out
    assert "crops of 2 held-out photos (efficientnet-lite1 features)" in printed and "KID x1000" in printed
    realism = json.loads((model / "model.json").read_text())["evaluation"]["realism"]
    assert realism["generated"] == 4 and realism["real_photos"] == 2 and realism["frechet"] > 0


@pytest.mark.slow
def test_sketch_training_outlines_traced_label_maps_among_photo_textured_sketches(traced, tmp_path):
    photos, out, _, _ = traced
    source = SketchSource(str(out), "train", size=128, photos=str(photos), folder_share=0.5)
    folder = LabelImageFolder(out, (128, 128))
    pairs = [folder[i][:2] for i in range(len(folder))]
    from_folder = 0
    for index in range(12):
        sketch, photo, _ = source[index]
        assert np.array_equal(sketch, source[index][0]) and np.array_equal(photo, source[index][1])
        labels = next((labels for labels, image in pairs if np.array_equal(photo, image)), None)
        if labels is None:
            continue
        from_folder += 1  # a traced photo, drawn as the procedural layouts are: its label map's outlines
        assert np.array_equal(sketch, line_sketch(labels, np.random.default_rng([index, 1])))
    assert from_folder == 6
    held_out = SketchSource(str(out), "test", size=128, photos=str(photos))
    expected = landscape_sketch_pair(EVAL_SEED_OFFSET, (128, 128), shared_bank(photos))
    assert all(np.array_equal(a, b) for a, b in zip(held_out[0][:2], expected))  # never a traced photo
    run = tmp_path / "run"
    cli(["train", "--model", "pix2pix", "--out", str(run), "--data", str(out), "--photos", str(photos),
         "--folder-share", "0.5", "--steps", "1", "--ngf", "4", "--depth", "6", "--crop-size", "64", "--quiet"])
    cli(["export", "--run", str(run), "--out", str(tmp_path / "model")])
    description = json.loads((tmp_path / "model" / "model.json").read_text())["description"]
    assert description.startswith(f"line sketches (gaugan/data/landscape_sketch.py) of label/image pairs from {out}")
