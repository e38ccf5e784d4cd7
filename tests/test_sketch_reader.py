"""Read-and-paint sketch models: the reader network, its training (resumable), strict loading of its folder, and
generation through the painter."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import ROOT, make_tiny_model
from PIL import Image

from gaugan import CheckpointError, InputError, Pix2Pix, ReadAndPaint, load_sketch_model
from gaugan.data.landscape import LABELS, SAND, SEA, TREE, landscape_layout
from gaugan.data.landscape_sketch import LAND, straightened, with_conifers, with_lake
from gaugan.networks.layout_reader import LayoutReader
from gaugan.reader_train import ReaderConfig, train_reader
from gaugan.shipped import named_model, shipped_checkpoint
from gaugan.sketch import model_kind, sketch_method
from gaugan.sketch_reader import source_folders
from gaugan.sketch_samples import HAND_DRAWN, draw_strokes

TINY = {"pairs": 6, "steps": 4, "batch_size": 2, "width": 4, "grid": 32}


def tiny_config(out, **changes) -> ReaderConfig:
    return ReaderConfig(out=str(out), **{**TINY, **changes})


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory):
    """A reader trained for 4 steps beside a copy of the shipped landscape painter: (checkpoints root, folder)."""
    root = tmp_path_factory.mktemp("checkpoints")
    (root / "landscape").symlink_to(ROOT / "checkpoints" / "landscape")
    model = train_reader(tiny_config(tmp_path_factory.mktemp("run")), workers=1, log=lambda _: None)
    shutil.copytree(model, root / "reader")
    return root, root / "reader"


def test_a_readers_sources_are_its_folder_and_its_painters(tiny_reader, tmp_path):
    root, folder = tiny_reader
    assert source_folders(folder) == [folder, root / "landscape"], "the painter beside it"
    alone = shutil.copytree(folder, tmp_path / "alone")
    shipped = shipped_checkpoint("landscape").resolve()
    assert [p.resolve() for p in source_folders(alone)] == [alone.resolve(), shipped], \
        "else the painter of that name as `gaugan models` lists it: here the shipped one"
    assert source_folders(ROOT / "checkpoints" / "landscape-sketch") == [ROOT / "checkpoints" / "landscape-sketch"]
    assert source_folders(root / "landscape") == [root / "landscape"], "a SPADE model has none"


def test_the_reader_gives_logits_at_the_sketch_size_for_any_shape():
    reader = LayoutReader(14, width=4, grid=32).eval()
    assert reader(torch.zeros(2, 1, 96, 160)).shape == (2, 14, 96, 160)
    assert reader(torch.zeros(1, 1, 17, 9)).shape == (1, 14, 17, 9)


def test_a_reader_folder_is_a_sketch_model_that_paints_through_its_painter(tiny_reader):
    root, folder = tiny_reader
    assert model_kind(folder) == "sketch"
    model = load_sketch_model(folder, device="cpu")
    assert isinstance(model, ReadAndPaint) and model.painter.name == "landscape"
    sketch = draw_strokes(HAND_DRAWN[2])
    labels = model.read(sketch)
    assert labels.shape == (256, 256) and set(np.unique(labels)) <= set(LABELS.values())
    painted = model.painter.generate(labels, seed=3)
    assert np.array_equal(np.asarray(model.generate(sketch, seed=3)), np.asarray(painted))
    assert np.array_equal(np.asarray(model.paint(labels, seed=3)), np.asarray(painted)), "paint() is the second half"
    assert np.array_equal(np.asarray(model.generate(sketch)), np.asarray(model.generate(sketch, seed=0))), \
        "no seed is seed 0, so the page's photo is repeatable"
    wide = np.ascontiguousarray(np.concatenate([sketch, sketch[:, :128]], 1))
    assert model.generate(wide, keep_aspect=True).size == (384, 256)
    assert model.read(Image.fromarray(wide)).shape == (256, 384)
    with pytest.raises(InputError, match="not class-conditional"):
        model.generate(sketch, class_id="mountain")
    with pytest.raises(CheckpointError, match="load_sketch_model"):
        Pix2Pix.from_checkpoint(folder)


def boundary_length(labels: np.ndarray) -> int:
    """Pixel edges between different labels."""
    return int((labels[:, 1:] != labels[:, :-1]).sum() + (labels[1:] != labels[:-1]).sum())


def test_straightened_layouts_keep_their_regions_with_fewer_corners():
    labels = landscape_layout(np.random.default_rng(4), 256, 256)
    straight = straightened(labels, np.random.default_rng(1))
    assert np.array_equal(straight, straightened(labels, np.random.default_rng(1))), "the same seed, the same map"
    assert set(np.unique(straight)) <= set(np.unique(labels)) and (straight == labels).mean() > 0.85
    assert boundary_length(straight) < boundary_length(labels), "straight strokes are shorter than wiggly outlines"


def test_conifers_stand_on_the_land_against_the_sky():
    stood = 0
    for seed in range(8):
        labels = landscape_layout(np.random.default_rng(seed), 256, 256)
        pines = with_conifers(labels, np.random.default_rng(seed))
        assert np.array_equal(pines, with_conifers(labels, np.random.default_rng(seed))), "the same seed, the same map"
        added = (pines == TREE) & (labels != TREE)
        assert (pines[~added] == labels[~added]).all(), "only tree triangles are added"
        stood += added.sum() > 100 and (added & ~np.isin(labels, LAND)).any()  # tips above the land's top edge
    assert stood >= 6
    sea = np.full((256, 256), SEA, np.uint8)
    assert np.array_equal(with_conifers(sea, np.random.default_rng(0)), sea), "no land, no pines"


def test_lakes_lie_inside_the_land_of_most_layouts():
    lakes = 0
    for seed in range(8):
        labels = landscape_layout(np.random.default_rng(seed), 256, 256)
        lake = with_lake(labels, np.random.default_rng(seed))
        water = (lake == SEA) & (labels != SEA)
        assert np.isin(labels[water], LAND).all(), "a lake lies within the land, never in the sky, sand or sea"
        assert set(np.unique(lake[lake != labels])) <= {SEA, SAND}
        lakes += water.sum() > 200
    assert lakes >= 5, "layouts with a stretch of land get one"


def test_training_resumes_into_the_same_reader(tmp_path):
    straight = train_reader(tiny_config(tmp_path / "straight"), workers=1, log=lambda _: None)
    stopped = train_reader(tiny_config(tmp_path / "resumed"), workers=1, time_limit=0, log=lambda _: None)
    assert stopped is None and not (tmp_path / "resumed" / "model").exists(), "the time limit stops after a step"
    assert torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)["step"] == 1
    resumed = train_reader(tiny_config(tmp_path / "resumed"), workers=1, log=lambda _: None)
    a, b = (torch.load(folder / "reader.pth", weights_only=True) for folder in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(InputError, match="state.pt holds a run with other settings"):
        train_reader(tiny_config(tmp_path / "resumed", steps=5), workers=1, log=lambda _: None)
    (tmp_path / "resumed" / "state.pt").unlink()
    with pytest.raises(InputError, match="pool holds sketches drawn with other settings"):
        train_reader(tiny_config(tmp_path / "resumed", seed=1), workers=1, log=lambda _: None)


@pytest.mark.parametrize("damage, message", [
    (lambda path, state: path.write_bytes(b"PK\x03\x04 not a state"),
     r"state\.pt: refused to load; expected a training state saved by `gaugan train-reader`"),
    (lambda path, state: torch.save([1, 2], path), r"expected a reader training state \(a dict of config, reader, "
                                                   r"optimiser, step\), found list"),
    (lambda path, state: torch.save({**state, "step": 10**9}, path), r"step must be in 0\.\.4, found int 1000000000"),
    (lambda path, state: torch.save({**state, "reader": {k: v.reshape(-1)[:1] for k, v in state["reader"].items()}},
                                    path), "state.pt does not fit this run's reader: Error"),
    (lambda path, state: torch.save({**state, "optimiser": {"state": {}, "param_groups": []}}, path),
     "state.pt is not the state of this run's optimiser"),
])
def test_a_damaged_or_foreign_reader_state_is_refused_by_name(tmp_path, damage, message):
    config = tiny_config(tmp_path / "run")
    train_reader(config, workers=1, time_limit=0, log=lambda _: None)
    path = tmp_path / "run" / "state.pt"
    damage(path, torch.load(path, weights_only=True))
    with pytest.raises(InputError, match=message):
        train_reader(config, workers=1, log=lambda _: None)


@pytest.mark.parametrize("changes, message", [({"folder_share": 1.5}, "folder_share must be in 0..1"),
                                              ({"width": 300}, "width must be in 1..256"),
                                              ({"grid": 1024}, "grid must be in 8..512"),
                                              ({"steps": 0}, "steps must be at least 1")])
def test_settings_a_reader_folder_could_not_hold_are_refused_before_training(tmp_path, changes, message):
    with pytest.raises(InputError, match=message):
        tiny_config(tmp_path, **changes)


def test_training_reads_a_folder_of_label_maps_and_refuses_foreign_ids(tmp_path):
    data = tmp_path / "data"
    (data / "labels").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((64, 96), LABELS["sea"], np.uint8)).save(data / "labels" / f"{i}.png")
    model = train_reader(tiny_config(tmp_path / "run", data=str(data), folder_share=1.0), workers=1, log=lambda _: None)
    pool = np.load(tmp_path / "run" / "pool" / "chunk_000.npz")
    assert (pool["labels"] == LABELS["sea"]).all(), "every layout comes from the folder at share 1"
    assert json.loads((model / "model.json").read_text())["training"]["reader"]["data"] == str(data)
    Image.fromarray(np.full((64, 96), 200, np.uint8)).save(data / "labels" / "1.png")
    with pytest.raises(InputError, match="1.png.*found id 200"):
        train_reader(tiny_config(tmp_path / "run2", data=str(data), folder_share=1.0), workers=1, log=lambda _: None)


def test_training_refuses_a_painter_with_other_labels(tmp_path):
    painter = make_tiny_model(tmp_path / "painter", use_vae=False)
    card = json.loads((painter / "model.json").read_text())
    card["labels"][0]["name"] = "water-other"
    (painter / "model.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="draws the landscape labels"):
        train_reader(tiny_config(tmp_path / "run", painter=str(painter)), workers=1, log=lambda _: None)


@pytest.mark.parametrize("change, message", [
    (lambda card: card.update(painter="../landscape"), "plain file name"),
    (lambda card: card.update(painter="nowhere"), "neither a folder beside it"),
    (lambda card: card["labels"].reverse(), "must be the same, in order .reader / painter: 0: 'dirt' / 'sky-other'"),
    (lambda card: card["network"].update(width=10**6), r"network.width must be an integer in 1..256"),
    (lambda card: card["network"].update(depth=3), "takes num_classes, width, grid"),
    (lambda card: card["network"].update(width=8), "size mismatch|shape"),
    (lambda card: card["files"].update(reader="/etc/passwd"), "plain file name"),
    (lambda card: card.update(files=["reader.pth"]), "files must be an object"),
    (lambda card: card["labels"].pop(), "labels must list the names of the 14 labels"),
    (lambda card: card.update(labels="sky"), "labels must list"),
    (lambda card: card.update(painter="landscape-sketch"), "must be a SPADE .label-map. model"),
    (lambda card: card.update(painter="broken"), "must be a SPADE .label-map. model"),
])
def test_a_broken_reader_folder_is_refused_by_name(tiny_reader, tmp_path, change, message):
    root, folder = tiny_reader
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    for name in ("landscape", "landscape-sketch"):
        (tmp_path / name).symlink_to(ROOT / "checkpoints" / name)
    card = json.loads((broken / "model.json").read_text())
    change(card)
    (broken / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=message):
        load_sketch_model(broken, device="cpu")


def test_a_weights_file_linked_from_outside_the_folder_is_refused(tiny_reader, tmp_path):
    _, folder = tiny_reader
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "model.json").write_text((folder / "model.json").read_text())
    (linked / "reader.pth").symlink_to(folder / "reader.pth")
    (tmp_path / "landscape").symlink_to(ROOT / "checkpoints" / "landscape")
    with pytest.raises(CheckpointError, match="leads outside the model folder"):
        load_sketch_model(linked, device="cpu")


def test_generate_names_the_json_error_of_a_broken_reader_card(tiny_reader, tmp_path):
    _, folder = tiny_reader
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "model.json").write_text((folder / "model.json").read_text().replace('"painter":', '"painter"'))
    Image.fromarray(draw_strokes(HAND_DRAWN[0])).save(tmp_path / "sketch.png")
    result = subprocess.run([sys.executable, "-m", "gaugan", "generate", "--checkpoint", str(broken), "--sketch",
                             str(tmp_path / "sketch.png"), "--out", str(tmp_path / "photo.png")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "model.json is not valid JSON" in result.stderr, result.stderr


def test_generate_and_models_commands_take_a_reader_folder(tiny_reader, tmp_path):
    root, folder = tiny_reader
    Image.fromarray(draw_strokes(HAND_DRAWN[0])).crop((0, 0, 256, 160)).save(tmp_path / "sketch.png")
    run = [sys.executable, "-m", "gaugan"]
    subprocess.run(run + ["generate", "--checkpoint", str(folder), "--sketch", str(tmp_path / "sketch.png"),
                          "--out", str(tmp_path / "photo.png"), "--seed", "5"], check=True, cwd=ROOT)
    expected = load_sketch_model(folder, device="cpu").generate(Image.open(tmp_path / "sketch.png"), seed=5,
                                                                keep_aspect=True)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "photo.png")), np.asarray(expected))
    listing = subprocess.run(run + ["models", "--root", str(root)], check=True, cwd=ROOT, capture_output=True,
                             text=True).stdout
    line = next(line for line in listing.splitlines() if line.split()[:2] == ["reader", "sketch"])
    assert "reader, painted by landscape beside it" in line


def test_a_listing_names_the_folder_a_readers_painter_comes_from_when_not_beside_it(tiny_reader, tmp_path):
    alone = shutil.copytree(tiny_reader[1], tmp_path / "alone")
    painter = named_model("landscape")
    assert painter.resolve() == shipped_checkpoint("landscape").resolve()
    assert sketch_method(alone) == f"reader, painted by {painter}", \
        "the folder, not a bare name that a folder of the user's own could take"



def test_the_shipped_reader_reads_hand_drawn_sketches_as_drawn():
    """The page's hand-drawn samples: sky above a horizon, sea under it, a mountain inside its outline, and on a
    blank page sky at the top only (the position ramp)."""
    model = load_sketch_model("landscape-sketch-reader", device="cpu")  # a shipped model by name
    sky = [LABELS["sky-other"], LABELS["clouds"]]
    beach = model.read(draw_strokes(HAND_DRAWN[2]))  # horizon at y 110, shore from y 165
    assert np.isin(beach[:100], sky).mean() > 0.95 and (beach[120:160] == LABELS["sea"]).mean() > 0.9
    lake = model.read(draw_strokes(HAND_DRAWN[0]))  # peak at (110, 40), lake between y 140 and 180
    assert (lake[60:115, 100:120] == LABELS["mountain"]).mean() > 0.9 and (lake[145:170] == LABELS["sea"]).mean() > 0.9
    blank = model.read(np.full((256, 256, 3), 255, np.uint8))
    assert np.isin(blank[:32], sky).all() and not np.isin(blank[-32:], sky).any()
