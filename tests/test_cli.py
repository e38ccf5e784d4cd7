"""The command line's edges: output paths, defaults in --help, presets, label tables, resuming, evaluation notes."""
import argparse
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance
from skimage import data as skimage_data

from helpers import ROOT, TINY_TRAINING, cli_error, make_tiny_model
from label_colors import Label, PALETTES

from gaugan.__main__ import IMAGE_EXTENSIONS, build_parser, main as cli
from gaugan.train_options import given_options
from gaugan.data.landscape import landscape_scene
from gaugan.data.landscape_sketch import landscape_sketch_pair
from gaugan.data.sketch import edges_sketch
from gaugan.evaluate import SegmenterConfig, load_or_train_segmenter
from gaugan.labelmaps import write_label_map
from gaugan.pipeline import GauGAN
from gaugan.presets import Preset, landscape_preset
from gaugan.sketch import outline_note
from gaugan.sketch_samples import HAND_DRAWN, draw_strokes
from gaugan.sketch_train import SKETCH_DEFAULTS
from gaugan.train import Trainer, TrainConfig

TINY = dict(crop_size=64, ngf=4, spade_hidden=8, z_dim=8)


@pytest.fixture
def doodle_png(tmp_path):
    labels = np.zeros((40, 56), np.uint8)
    labels[25:] = 2  # mountain under sky
    write_label_map(tmp_path / "doodle.png", labels)
    return tmp_path / "doodle.png"


def test_generate_creates_missing_folders_with_the_shipped_model(tmp_path, doodle_png):
    out = tmp_path / "new" / "deeper" / "photo.png"
    cli(["generate", "--labels", str(doodle_png), "--out", str(out)])
    assert Image.open(out).size == (56, 40)


def test_generate_without_an_extension_lists_the_formats(tmp_path, doodle_png):
    message = cli_error(["generate", "--labels", str(doodle_png), "--out", str(tmp_path / "photo")])
    assert "error: --out" in message and all(extension in message for extension in IMAGE_EXTENSIONS)
    assert not (tmp_path / "photo").exists()
    for extension in IMAGE_EXTENSIONS:  # each one offered works
        Image.new("RGB", (4, 4)).save(tmp_path / f"photo{extension}")


def test_unwritable_outputs_are_refused_in_one_line_before_the_model_loads(tmp_path, doodle_png):
    (tmp_path / "folder.png").mkdir()
    assert "error: cannot create the output folder" in cli_error(
        ["generate", "--labels", str(doodle_png), "--out", str(doodle_png / "photo.png")])  # its "folder" is a file
    assert "is a folder; name an image file" in cli_error(
        ["generate", "--labels", str(doodle_png), "--out", str(tmp_path / "folder.png")])
    assert "is a folder; name an image file" in cli_error(["generate", "--labels", str(doodle_png), "--out", str(tmp_path)])
    assert "error: cannot create the output folder" in cli_error(["samples", "--out", str(doodle_png / "s.png")])
    assert "the extension picks the image format" in cli_error(["samples", "--out", str(tmp_path / "sheet")])


def test_an_instance_map_for_a_model_without_instances_is_noted(tmp_path, doodle_png, capsys):
    cli(["generate", "--labels", str(doodle_png), "--instance", str(doodle_png), "--out", str(tmp_path / "p.png")])
    assert "note: --instance ignored: this model's preset (landscape) takes no instance map" in capsys.readouterr().err


def test_a_folder_with_an_unreadable_file_converts_the_rest_and_names_it(tmp_path, doodle_png, capsys):
    folder = tmp_path / "maps"
    folder.mkdir()
    (folder / "doodle.png").write_bytes(doodle_png.read_bytes())
    (folder / "notes.png").write_text("not an image")
    message = cli_error(["generate", "--labels", str(folder), "--out", str(tmp_path / "photos")])
    assert message == "error: 1 of 2 inputs refused: notes.png"
    assert "error: notes.png: not a readable image" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "photos").iterdir()] == ["doodle.png"]
    assert str(folder / "notes.png") in cli_error(
        ["generate", "--labels", str(folder / "notes.png"), "--out", str(tmp_path / "one.png")])
    message = cli_error(["generate", "--labels", str(folder), "--out", str(tmp_path / "one.png")])
    assert f"--out {tmp_path / 'one.png'} names an image file, but {folder} is a folder of label maps" in message
    assert not (tmp_path / "one.png").exists()


def test_a_folder_of_sketches_takes_every_image_suffix_in_any_case(tmp_path):
    folder = tmp_path / "sketches"
    folder.mkdir()
    sketch = Image.new("RGB", (48, 40), "white")
    for name in ("a.JPG", "b.png", "c.webp", "d.bmp", "e.TIFF", "f.gif"):  # every format one file may be in
        sketch.save(folder / name)
    (folder / "notes.txt").write_text("not a sketch")
    cli(["generate", "--checkpoint", "landscape-sketch", "--sketch", str(folder), "--out", str(tmp_path / "photos")])
    written = sorted(p.name for p in (tmp_path / "photos").iterdir())
    assert written == ["a.JPG", "b.png", "c.webp", "d.bmp", "e.TIFF", "f.gif.png"], "a GIF's photo is a PNG"
    assert all(Image.open(tmp_path / "photos" / name).size == (48, 40) for name in written)
    (tmp_path / "empty").mkdir()
    assert "no label maps in" in cli_error(["generate", "--labels", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit):
        cli(["--version"])
    assert capsys.readouterr().out.startswith("gaugan ")


def test_the_shipped_sketch_model_is_named_as_models_lists_it_and_refuses_bad_input_in_one_line(tmp_path):
    Image.new("RGB", (48, 40), "white").save(tmp_path / "sketch.png")
    (tmp_path / "text.png").write_text("not an image")
    run = ["generate", "--checkpoint", "landscape-sketch", "--out", str(tmp_path / "photo.png")]
    cli([*run, "--sketch", str(tmp_path / "sketch.png")])
    assert Image.open(tmp_path / "photo.png").size == (48, 40)
    assert cli_error(run) == "error: --sketch is required for sketch models: a sketch PNG or a folder of them"
    assert cli_error([*run, "--labels", str(tmp_path / "sketch.png")]) == \
        "error: sketch models take --sketch (a sketch PNG or a folder of them), not --labels"
    assert "label-map (SPADE) models take --labels, not --sketch" in cli_error(
        ["generate", "--sketch", str(tmp_path / "sketch.png"), "--out", str(tmp_path / "x.png")])
    assert "text.png: not a readable image: expected a sketch" in cli_error([*run, "--sketch", str(tmp_path / "text.png")])
    assert "not class-conditional" in cli_error([*run, "--sketch", str(tmp_path / "sketch.png"), "--class", "tree"])
    assert "seed must be an integer in 0.." in cli_error([*run, "--sketch", str(tmp_path / "sketch.png"), "--seed", "-5"])
    assert "no such model folder or weights file" in cli_error(
        ["generate", "--checkpoint", str(tmp_path / "missing"), "--sketch", str(tmp_path / "sketch.png"),
         "--out", str(tmp_path / "x.png")])
    assert cli_error(["generate", "--checkpoint", "landscpae-sketch", "--sketch", str(tmp_path / "sketch.png"),
                      "--out", str(tmp_path / "x.png")]).endswith("; did you mean landscape-sketch?")
    assert "expected a run folder holding state.pt" in cli_error(
        ["export", "--run", str(tmp_path / "missing"), "--out", str(tmp_path / "model")])


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "-n", "1"], "argument -n: expected an integer of at least 2, found 1"),
    (["train", "--crop-size", "7"], "argument --crop-size: expected an integer of at least 32, found 7"),
    (["train", "--batch-size", "0"], "argument --batch-size: expected an integer of at least 1, found 0"),
    (["train", "--steps", "-1"], "argument --steps: expected an integer of at least 1, found -1"),
    (["train", "--ngf", "x"], "argument --ngf: expected an integer, found 'x'"),
])
def test_counts_below_what_works_are_refused_by_the_parser(argv, message, capsys):
    assert cli_error(argv) == "2"
    assert message in capsys.readouterr().err


def test_every_option_with_a_default_shows_it_in_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        for action in command._actions:
            if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
                assert "%(default)s" in (action.help or ""), f"{name} {action.option_strings[0]} hides its default"
    for action in commands["train"]._actions:  # pix2pix options default to None (unset keeps the paper's value)
        paper = SKETCH_DEFAULTS.get(action.dest)
        if paper not in (None, "", False):
            assert f"{paper})" in action.help, f"train {action.option_strings[0]} hides pix2pix's default {paper}"
    train_help = commands["train"].format_help()
    assert "total steps to reach" in train_help and f"(default: {TrainConfig.steps})" in train_help


def test_preset_without_a_name_is_named_by_its_file_or_explained(tmp_path):
    with pytest.raises(ValueError, match=r"missing the required fields \['name'\]"):
        Preset.from_dict({k: v for k, v in landscape_preset().to_dict().items() if k != "name"})
    nameless = {k: v for k, v in landscape_preset(**TINY).to_dict().items() if k != "name"}
    (tmp_path / "mine.json").write_text(json.dumps(nameless))
    cli(["train", "--out", str(tmp_path / "run"), "--steps", "1", "--preset-json", str(tmp_path / "mine.json"),
         "--labels", str(write_table(tmp_path / "labels.json", PALETTES["landscape"])), "--batch-size", "1", "--quiet"])
    config = json.loads(torch.load(tmp_path / "run" / "state.pt", weights_only=True)["config"])
    assert config["preset"]["name"] == "mine"
    weights = tmp_path / "loose.pth"  # loose weights of that shape, read with the file
    shutil.copy(make_tiny_model(tmp_path / "tiny") / "generator.pth", weights)
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 14).astype(np.uint8)).save(tmp_path / "ids.png")
    cli(["generate", "--checkpoint", str(weights), "--preset", str(tmp_path / "mine.json"), "--labels",
         str(tmp_path / "ids.png"), "--out", str(tmp_path / "photo.png")])
    assert Image.open(tmp_path / "photo.png").size == (64, 64), "8-bit ids need no label table"


def test_train_never_writes_into_a_folder_of_the_users(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    assert cli_error(["train", "--out", str(notes), "--steps", "1", *TINY_TRAINING]) == (
        f"error: --out {notes} holds 'todo.txt': expected a new or empty folder, or a run folder of `gaugan train` "
        "(with state.pt); nothing was written: give another --out")
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]
    assert cli_error(["train", "--out", str(notes / "todo.txt"), "--steps", "1", *TINY_TRAINING]).startswith(
        f"error: --out {notes / 'todo.txt'} is a file")
    (notes / "todo.txt").unlink()
    (notes / "metrics.csv").write_text("date,weight\n")  # the user's, by its header
    (notes / ".DS_Store").write_text("")  # hidden files are no one's data
    assert cli_error(["train", "--out", str(notes), "--steps", "1", *TINY_TRAINING]).startswith(
        f"error: --out {notes} holds 'metrics.csv': expected a new or empty folder")
    run = tmp_path / "run"  # a run stopped before its first state.pt: the same command starts it again
    (run / "samples").mkdir(parents=True)
    (run / "metrics.csv").write_text("step,wall_seconds,g_gan\n")
    (run / ".DS_Store").write_text("")
    cli(["train", "--out", str(run), "--steps", "1", *TINY_TRAINING])
    assert (run / "state.pt").is_file()


def test_short_runs_write_metrics_and_a_lower_step_count_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    cli(["train", "--out", str(run), "--steps", "2", *TINY_TRAINING])
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("2,"), "a run shorter than log_every logs its last step"
    assert "trained" in capsys.readouterr().out
    message = cli_error(["train", "--out", str(run), "--steps", "1", *TINY_TRAINING])
    assert "already trained 2 steps" in message and "--steps is the total" in message


def test_training_says_where_it_goes_and_how_long_it_takes(tmp_path, capsys):
    preset = landscape_preset(**TINY).to_dict()
    Trainer(TrainConfig(out=str(tmp_path), preset=preset, batch_size=1, steps=4, ndf=8, encoder_ndf=4)).run()
    said = capsys.readouterr().out
    assert "from step 0 to step 4" in said and "s per step: step 4 in about" in said


def test_trainer_honours_the_device_it_is_given(tmp_path):
    config = TrainConfig(out=str(tmp_path), preset=landscape_preset(**TINY).to_dict(), ndf=8, encoder_ndf=4)
    trainer = Trainer(config, device="meta")  # a device other than the default, on any machine
    assert trainer.device == torch.device("meta") and next(trainer.generator.parameters()).is_meta


def write_table(path, labels: list[Label]):
    path.write_text(json.dumps([{"id": l.id, "name": l.name, "rgb": list(l.rgb)} for l in labels]))
    return path


def label_image_folder(root, count: int = 2):
    for sub in ("labels", "images"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        labels, image = landscape_scene(i, (64, 64))
        Image.fromarray((labels % 3).astype(np.uint8)).save(root / "labels" / f"s{i}.png")
        Image.fromarray(image).save(root / "images" / f"s{i}.jpg")
    return root


def test_a_label_table_that_lists_255_gets_a_note_on_what_that_costs(tmp_path, capsys):
    data = label_image_folder(tmp_path / "data")
    write_table(data / "labels.json", [Label(0, "water", (20, 60, 200)), Label(1, "sand", (230, 210, 150)),
                                       Label(2, "rock", (90, 90, 90)), Label(255, "unlabeled", (0, 0, 0))])
    cli(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1", *TINY_TRAINING])
    assert ("note: the label table lists id 255 (unlabeled), so the generator takes 256 label channels; if 255 marks "
            "unlabelled pixels, leave it out of the table and give --preset-json with contain_dontcare_label") in \
        capsys.readouterr().err


def test_a_folder_model_carries_its_label_table_to_generate(tmp_path):
    data = label_image_folder(tmp_path / "data")
    message = cli_error(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1", *TINY_TRAINING])
    assert "labels.json not found" in message
    table = [Label(0, "water", (20, 60, 200)), Label(1, "sand", (230, 210, 150)), Label(2, "rock", (90, 90, 90))]
    write_table(data / "labels.json", table)
    cli(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1", *TINY_TRAINING])
    cli(["train", "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "1", "--quiet"])  # resumes on DATA
    assert json.loads(torch.load(tmp_path / "run" / "state.pt", weights_only=True)["config"])["data"] == str(data)
    assert "holds a run trained with another label table than --data or --labels gives" in cli_error(
        ["train", "--out", str(tmp_path / "run"), "--steps", "3", "--data", "landscape", "--quiet"])
    cli(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "model")])
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["labels"] == [{"id": l.id, "name": l.name, "rgb": list(l.rgb)} for l in table]
    assert card["preset"]["label_nc"] == 3 and card["preset"]["name"] == "data"
    colours = np.zeros((30, 30, 3), np.uint8)
    colours[:, :15], colours[:, 15:] = table[0].rgb, table[2].rgb  # a colour PNG in the model's own palette
    Image.fromarray(colours).save(tmp_path / "colours.png")
    cli(["generate", "--checkpoint", str(tmp_path / "model"), "--labels", str(tmp_path / "colours.png"),
         "--out", str(tmp_path / "photo.png")])
    assert Image.open(tmp_path / "photo.png").size == (30, 30)
    assert [l.name for l in GauGAN.from_checkpoint(tmp_path / "model").labels] == ["water", "sand", "rock"]


@pytest.mark.parametrize("content, message", [
    ("not json", "not a JSON label table"),
    ('[{"id": 0, "name": "sky"}]', "expected a non-empty JSON list"),
    ('[{"id": 0, "name": "a", "rgb": [1, 2, 3]}, {"id": 0, "name": "b", "rgb": [90, 2, 3]}]', "duplicate id 0"),
])
def test_bad_label_tables_say_what_was_expected(tmp_path, content, message):
    (tmp_path / "labels.json").write_text(content)
    assert message in cli_error(["train", "--labels", str(tmp_path / "labels.json"), "--out", str(tmp_path / "run")])


def test_label_ids_beyond_the_preset_are_refused_before_training(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(replace(landscape_preset(**TINY), label_nc=2).to_dict()))
    table = write_table(tmp_path / "labels.json", [Label(0, "a", (0, 0, 0)), Label(5, "b", (200, 0, 0))])
    message = cli_error(["train", "--preset-json", str(tmp_path / "p.json"), "--labels", str(table),
                         "--out", str(tmp_path / "run"), "--batch-size", "1", "--quiet"])
    assert "label ids must be 0..1 for preset 'landscape'; found 'b' (5)" in message
    assert not (tmp_path / "run").exists()


def test_preset_files_are_read_bounded_and_as_json_with_or_without_a_byte_order_mark(tmp_path):
    preset = tmp_path / "p.json"
    run = ["train", "--preset-json", str(preset), "--out", str(tmp_path / "run"), "--batch-size", "1", "--quiet"]
    preset.write_text(" " * (1 << 20) + "{}")
    assert "p.json is 1048578 bytes; a preset file is at most 1048576" in cli_error(run)
    preset.write_text('{"label_nc": ')
    assert "p.json: not a JSON preset file (p.json is not valid JSON" in cli_error(run)
    preset.write_text(json.dumps(replace(landscape_preset(**TINY), label_nc=2).to_dict()), encoding="utf-8-sig")
    table = write_table(tmp_path / "labels.json", [Label(0, "a", (0, 0, 0)), Label(5, "b", (200, 0, 0))])
    assert "label ids must be 0..1 for preset 'landscape'; found 'b' (5)" in cli_error([*run, "--labels", str(table)]), \
        "a preset file with a byte-order mark is read"


def test_evaluate_warns_that_few_images_make_a_noisy_frechet_distance(tmp_path, capsys):
    cli(["evaluate", "--checkpoint", str(make_tiny_model(tmp_path / "tiny")), "-n", "2"])
    captured = capsys.readouterr()
    assert "warning: -n 2 is too few for the Fréchet distance" in captured.err
    assert "generated images" in captured.out
    table = captured.out.split("IoU by class, worst first")[1].split("Fréchet")[0].splitlines()[1:]
    generated = [float(line.split()[-2]) for line in table]
    assert len(generated) >= 3 and generated == sorted(generated)


def test_models_lists_the_shipped_ones_anywhere_and_notes_only_a_missing_root_that_was_asked_for(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no checkpoints/ here
    cli(["models"])
    listed = capsys.readouterr()
    assert listed.out.split()[:2] == ["landscape", "spade"] and listed.err == ""
    cli(["models", "--root", "elsewhere"])
    listed = capsys.readouterr()
    assert "landscape-sketch" in listed.out and listed.err == "note: no folder elsewhere; listing the shipped models\n"
    (tmp_path / "checkpoints" / "odd").mkdir(parents=True)
    (tmp_path / "checkpoints" / "odd" / "model.json").write_text('{"kind": "sketch", "format": "other/1"}')
    cli(["models"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "SPADE generator" in lines["landscape"] and "pix2pix U-Net" in lines["landscape-sketch"]
    assert "reader, painted by landscape beside it" in lines["landscape-sketch-reader"]
    assert "sketch  unreadable:" in lines["odd"] and "found format str \"other/1\"" in lines["odd"]
    for name, file, text in (("junk_pretrained", "latest_net_G.pth", "junk\n"), ("badjson", "model.json", "{bad"),
                             ("nogen", "model.json", (ROOT / "checkpoints" / "landscape" / "model.json").read_text()),
                             ("emptyzip_pretrained", "latest_net_G.pth", "PK\x05\x06" + "\0" * 18)):
        (tmp_path / "checkpoints" / name).mkdir()
        (tmp_path / "checkpoints" / name / file).write_text(text)
    cli(["models"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "spade   unreadable: latest_net_G.pth is not a file saved by torch.save (it starts with b'junk\\n')" in \
        lines["junk_pretrained"]
    assert "spade   unreadable: latest_net_G.pth is not a file saved by torch.save (it starts with b'PK\\x05\\x06" in \
        lines["emptyzip_pretrained"]
    assert "unreadable:" in lines["badjson"] and "model.json is not valid JSON" in lines["badjson"]
    assert "unreadable:" in lines["nogen"] and "generator.pth" in lines["nogen"]
    cut = tmp_path / "checkpoints" / "cut_pretrained"
    cut.mkdir()
    whole = (ROOT / "checkpoints" / "landscape" / "generator.pth").read_bytes()
    (cut / "latest_net_G.pth").write_bytes(whole[: len(whole) // 2])  # a download that stopped halfway
    cli(["models"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "spade   unreadable: latest_net_G.pth is cut short (its zip directory is missing): download or copy it again" in \
        lines["cut_pretrained"]
    for name, card, weights in (("swapped", "landscape", "landscape-sketch"), ("swapped_sketch", "landscape-sketch",
                                                                                "landscape")):
        (tmp_path / "checkpoints" / name).mkdir()  # one model's card beside the other's weights
        shutil.copy(ROOT / "checkpoints" / card / "model.json", tmp_path / "checkpoints" / name)
        shutil.copy(ROOT / "checkpoints" / weights / "generator.pth", tmp_path / "checkpoints" / name)
    cli(["models"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "spade   unreadable: generator.pth does not fit a SPADEGenerator: 234 missing: fc.weight; fc.bias … and " \
        "232 more | 82 unexpected: 'model.model.0.weight'" in lines["swapped"]
    assert "sketch  unreadable: generator.pth does not fit a UnetGenerator: 82 missing: model.model.0.weight" in \
        lines["swapped_sketch"]
    assert "SPADE generator" in lines["landscape"] and "pix2pix U-Net" in lines["landscape-sketch"]


def test_a_model_is_found_by_the_name_models_lists_it_under_and_a_folder_of_the_users_wins_over_a_shipped_one(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GAUGAN_CHECKPOINTS", raising=False)
    make_tiny_model(tmp_path / "checkpoints" / "mine")
    make_tiny_model(tmp_path / "checkpoints" / "landscape")  # an export over the shipped model's name
    make_tiny_model(tmp_path / "elsewhere" / "other")
    write_label_map(tmp_path / "doodle.png", np.zeros((64, 64), np.uint8), PALETTES["landscape"])
    for name in ("mine", "landscape"):
        for given, out in ((name, "by_name.png"), (f"checkpoints/{name}", "by_path.png")):
            cli(["generate", "--checkpoint", given, "--labels", "doodle.png", "--out", out, "--seed", "3"])
        assert np.array_equal(np.asarray(Image.open("by_name.png")), np.asarray(Image.open("by_path.png"))), name
    cli(["generate", "--labels", "doodle.png", "--out", "shipped.png", "--seed", "3"])
    assert Image.open("shipped.png").size == (64, 64) and not np.array_equal(
        np.asarray(Image.open("shipped.png")), np.asarray(Image.open("by_name.png"))), "the tiny model painted by_name"
    cli(["models"])
    lines = {line.split()[0]: line.split()[-1] for line in capsys.readouterr().out.splitlines()}
    assert lines["mine"] == lines["landscape"].replace("landscape", "mine") == "checkpoints/mine"
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(tmp_path / "elsewhere"))
    cli(["models"])
    listed = capsys.readouterr().out.split()
    assert "other" in listed and "mine" not in listed
    cli(["generate", "--checkpoint", "other", "--labels", "doodle.png", "--out", "other.png"])
    assert cli_error(["generate", "--checkpoint", "mine", "--labels", "doodle.png", "--out", "x.png"]) == (
        f"error: mine: no such model folder or weights file, no model folder of that name in "
        f"{tmp_path / 'elsewhere'}, and no shipped model of that name (`gaugan models` lists them)")
    (tmp_path / "elsewhere" / "landscape-sketch").mkdir()  # no model folder: not listed, so no stand-in either
    (tmp_path / "landscape-sketch").mkdir()  # nor is a data folder of that name here
    cli(["generate", "--checkpoint", "landscape-sketch", "--sketch", "doodle.png", "--out", "sketched.png"])


def test_models_lists_a_folder_whose_encoder_is_cut_short_or_missing_as_unreadable(tmp_path, capsys):
    cut = make_tiny_model(tmp_path / "root" / "cut")
    whole = (cut / "encoder.pth").read_bytes()
    (cut / "encoder.pth").write_bytes(whole[: len(whole) // 2])
    (make_tiny_model(tmp_path / "root" / "gone") / "encoder.pth").unlink()
    cli(["models", "--root", str(tmp_path / "root")])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "spade   unreadable: encoder.pth is cut short (its zip directory is missing)" in lines["cut"]
    assert "spade   unreadable:" in lines["gone"] and "names 'encoder.pth', but there is no such file" in lines["gone"]
    for name in ("cut", "gone"):
        assert "error:" in cli_error(["generate", "--checkpoint", str(tmp_path / "root" / name), "--labels",
                                      str(ROOT / "docs" / "samples_landscape.png"), "--out", str(tmp_path / "x.png")])


def test_models_lists_sketch_folders_with_junk_weights_or_an_unbuildable_card_as_unreadable(tmp_path, capsys):
    root = tmp_path / "checkpoints"
    sketch_card = json.loads((ROOT / "checkpoints" / "landscape-sketch" / "model.json").read_text())
    for name, weights in (("page_pix2pix", b"<html>404</html>"), ("empty_pix2pix", b""), ("page", b"<html>")):
        (root / name).mkdir(parents=True)
        (root / name / ("generator.pth" if name == "page" else "latest_net_G.pth")).write_bytes(weights)
    (root / "page" / "model.json").write_text(json.dumps(sketch_card))
    (root / "flat_pix2pix").mkdir()
    torch.save({"model.model.0.weight": torch.zeros(8, 3, 4, 4), "model.model.3.weight": torch.zeros(5)},
               root / "flat_pix2pix" / "latest_net_G.pth")
    (root / "odd_arg").mkdir()
    (root / "odd_arg" / "model.json").write_text(json.dumps({**sketch_card, "network": {"type": "unet", "colour": 1}}))
    shutil.copy(ROOT / "checkpoints" / "landscape-sketch" / "generator.pth", root / "odd_arg")
    cli(["models", "--root", str(root)])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "sketch  unreadable: latest_net_G.pth is not a file saved by torch.save (it starts with b'<html>404</html>')" \
        in lines["page_pix2pix"]
    assert "sketch  unreadable: latest_net_G.pth is not a file saved by torch.save (it is empty)" in lines["empty_pix2pix"]
    assert "sketch  unreadable: generator.pth is not a file saved by torch.save (it starts with b'<html>')" in lines["page"]
    assert "sketch  unreadable: latest_net_G.pth does not fit a UnetGenerator: " in lines["flat_pix2pix"]
    assert ("sketch  unreadable: model.json 'network' has arguments the unet network does not take: "
            "UnetGenerator.__init__() got an unexpected keyword argument 'colour' ") in lines["odd_arg"]


def test_evaluate_refuses_missing_data_before_any_work(tmp_path, capsys):
    message = cli_error(["evaluate", "--data", str(tmp_path / "missing"), "-n", "2"])
    assert message == f"error: --data {tmp_path / 'missing'}: expected landscape or landscape-sketch or a folder of pairs"
    assert "segmenter" not in capsys.readouterr().err


def test_a_folder_segmenter_is_announced_with_an_estimate_and_cached(tmp_path, capsys):
    data = label_image_folder(tmp_path / "data")
    config = SegmenterConfig(data=str(data), num_classes=3, width=4, steps=5, batch_size=2)
    load_or_train_segmenter(config, progress=True)
    said = capsys.readouterr().out
    assert "no segmenter for this data" in said and "s per step: segmenter trained in about" in said
    assert len(list((data / ".gaugan_segmenter").glob("*/segmenter.pth"))) == 1
    load_or_train_segmenter(config, progress=True)
    assert "no segmenter" not in capsys.readouterr().out


def test_export_reads_the_run_folder_it_is_given_after_a_move(tmp_path):
    cli(["train", "--out", str(tmp_path / "here"), "--steps", "1", *TINY_TRAINING])
    (tmp_path / "here").rename(tmp_path / "moved")
    cli(["export", "--run", str(tmp_path / "moved"), "--out", str(tmp_path / "model")])
    assert json.loads((tmp_path / "model" / "model.json").read_text())["training"]["steps_done"] == 1
    assert not (tmp_path / "here").exists()


def test_a_resumed_run_keeps_its_options_and_says_which_option_conflicts(tmp_path, monkeypatch):
    run = tmp_path / "run"
    cli(["train", "--out", str(run), "--steps", "1", "--ndf", "8", "--lambda-perceptual", "0", *TINY_TRAINING])
    monkeypatch.chdir(tmp_path)
    cli(["train", "--out", "run", "--steps", "2", "--quiet"])  # the options left out are the run's
    config = json.loads(torch.load(run / "state.pt", weights_only=True)["config"])
    assert (config["preset"]["ngf"], config["batch_size"], config["lambda_perceptual"]) == (4, 1, 0.0)
    cli(["train", "--out", "run", "--steps", "3", "--lambda-perceptual", "0.5", "--quiet"])  # given anew: applies
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 3 and json.loads(state["config"])["lambda_perceptual"] == 0.5
    message = cli_error(["train", "--out", str(run), "--steps", "4", "--ngf", "8", "--ndf", "8", "--quiet"])
    assert "holds a run trained with ngf 4, not 8: leave those options out" in message
    assert "holds a spade run, not pix2pix: add --model spade" in cli_error(
        ["train", "--model", "pix2pix", "--out", str(run), "--steps", "4", "--quiet"])
    (tmp_path / "p.json").write_text(json.dumps(landscape_preset(**TINY).to_dict()))
    assert "put crop_size, ngf and spade_hidden in the file" in cli_error(
        ["train", "--preset-json", str(tmp_path / "p.json"), "--ngf", "8", "--out", str(tmp_path / "new")])


def test_a_resumed_pix2pix_run_keeps_its_generator_and_refuses_another(tmp_path):
    run, tiny = tmp_path / "p2p", ["--model", "pix2pix", "--data", "landscape-sketch", "--quiet"]
    cli(["train", "--out", str(run), "--steps", "1", "--crop-size", "64", "--load-size", "80", "--depth", "6",
         "--ngf", "8", *tiny])
    cli(["train", "--out", str(run), "--steps", "2", *tiny])  # no shape options: the run's, not the paper's
    config = json.loads(torch.load(run / "state.pt", weights_only=True)["config"])
    assert {k: config["sketch"][k] for k in ("crop_size", "load_size", "depth", "ngf")} == \
        {"crop_size": 64, "load_size": 80, "depth": 6, "ngf": 8}
    for option, value, saved in (("--direction", "BtoA", "AtoB"), ("--norm", "instance", "batch")):
        message = cli_error(["train", "--out", str(run), "--steps", "3", option, value, *tiny])
        assert f"holds a run trained with {option[2:]} {saved}, not {value}: leave those options out" in message
    cli(["train", "--out", str(run), "--steps", "3", "--crop-size", "64", *tiny])  # checked at the run's depth, 6
    config = json.loads(torch.load(run / "state.pt", weights_only=True)["config"])
    assert config["sketch"]["load_size"] == 80, "the run's load size, not one derived from the crop given again"


def test_options_that_go_with_the_data_come_with_a_new_data_option():
    given = given_options(build_parser().parse_args(["train", "--data", "landscape"]))
    assert {"data", "labels", "photos", "folder_share", "edges_from_photos"} <= given
    assert not {"photos", "edges_from_photos"} & given_options(build_parser().parse_args(["train", "--steps", "9"]))


@pytest.mark.slow
def test_the_shipped_state_holds_the_shipped_model_and_trains_on_with_no_data_options(tmp_path):
    """training/landscape_state.pt, as the model card's "Training it further" uses it: its weights are the shipped
    checkpoint's, and a copy continues on any machine without --data (it names data that exists everywhere)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.pt").write_bytes((ROOT / "training" / "landscape_state.pt").read_bytes())
    state = torch.load(run / "state.pt", weights_only=True)
    for part in ("generator", "encoder"):
        shipped = torch.load(ROOT / "checkpoints" / "landscape" / f"{part}.pth", weights_only=True)
        assert shipped.keys() == state[part].keys() and all(torch.equal(shipped[k], state[part][k]) for k in shipped)
    cli(["train", "--out", str(run), "--steps", str(state["step"] + 1), "--batch-size", "1", "--quiet"])
    assert torch.load(run / "state.pt", weights_only=True)["step"] == state["step"] + 1


def test_export_records_the_hardware_the_run_trained_on(tmp_path):
    run = tmp_path / "run"
    cli(["train", "--out", str(run), "--steps", "1", "--ndf", "8", *TINY_TRAINING])
    state = torch.load(run / "state.pt", weights_only=True)
    assert "CPU threads, torch" in state["hardware"]
    for hardware in ("NVIDIA H200, x86_64, 16 CPU threads, torch 2.11.0", None):  # another machine; not recorded
        state.pop("hardware", None)
        torch.save({**state, **({"hardware": hardware} if hardware else {})}, run / "state.pt")
        cli(["export", "--run", str(run), "--out", str(tmp_path / "model"), "--force"])
        card = json.loads((tmp_path / "model" / "model.json").read_text())
        assert card["training"]["hardware"] == (hardware or "not recorded")


def test_a_time_limit_says_where_it_stopped_and_out_of_range_numbers_are_refused(tmp_path, capsys):
    run = tmp_path / "run"
    cli(["train", "--out", str(run), "--steps", "500", "--time-limit", "0.5", *TINY_TRAINING])
    step = torch.load(run / "state.pt", weights_only=True)["step"]
    assert step < 500, "the time limit stopped the run short of its steps"
    said = capsys.readouterr().out
    assert f"stopped {run} at step {step} of 500 (time limit), state saved: the same command continues" in said
    for option, value, expected in (("--time-limit", "0", "a number above 0"),
                                    ("--time-limit", "-1", "a number above 0"),
                                    ("--time-limit", "nan", "a number above 0"),
                                    ("--lambda-perceptual", "-1", "a number of at least 0")):
        with pytest.raises(SystemExit):
            cli(["train", "--out", str(tmp_path / "new"), option, value])
        assert f"{option}: expected {expected}, found {value}" in capsys.readouterr().err


def test_options_of_the_other_model_kind_are_refused_or_noted(tmp_path, doodle_png, capsys):
    message = cli_error(["train", "--out", str(tmp_path / "run"), "--direction", "BtoA", "--depth", "6"])
    assert message == "error: --depth, --direction: pix2pix options; add --model pix2pix to train a sketch model, " \
                      "or leave them out"
    assert "--data nothere: no such folder" in cli_error(["train", "--out", str(tmp_path / "run"), "--data", "nothere"])
    assert cli_error(["train", "--model", "pix2pix", "--out", str(tmp_path / "p"), "--spade-hidden", "8"]) == \
        "error: --spade-hidden: SPADE options; pix2pix takes --ngf and --depth, or leave them out"
    sketch = tmp_path / "sketch.png"
    Image.fromarray(draw_strokes(HAND_DRAWN[0])).save(sketch)
    cli(["generate", "--checkpoint", "landscape-sketch", "--sketch", str(sketch), "--out", str(tmp_path / "o.png"),
         "--reference", "--native-size"])
    assert "note: --reference, --native-size ignored: label-map (SPADE) models take them" in capsys.readouterr().err
    assert (tmp_path / "o.png").is_file()


def test_a_map_far_from_the_models_shape_is_painted_with_a_note_that_it_blurs(tmp_path, capsys):
    Image.fromarray(np.zeros((20, 400), np.uint8)).save(tmp_path / "wide.png")  # 20:1 against the model's 1:1
    cli(["generate", "--labels", str(tmp_path / "wide.png"), "--out", str(tmp_path / "photo.png")])
    assert Image.open(tmp_path / "photo.png").size == (400, 20)
    assert ("note: wide.png: it is 400×20, so it is painted in a 256×256 picture mirrored out from it, and its height "
            "gets 13 of that picture's 256 pixels: the photo is blurred") in capsys.readouterr().err
    for size, noted in (((400, 20), True), ((100, 40), False)):  # 20:1 and 2.5:1
        Image.new("RGB", size, "white").save(tmp_path / "sketch.png")
        cli(["generate", "--checkpoint", "landscape-sketch", "--sketch", str(tmp_path / "sketch.png"), "--out",
             str(tmp_path / "s.png")])
        assert ("note: sketch.png: it is 400×20" in capsys.readouterr().err if noted else
                "note" not in capsys.readouterr().err)


def test_outline_models_note_bright_photos_but_no_sketch():
    bright = ImageEnhance.Brightness(Image.fromarray(skimage_data.coffee())).enhance(2.5)  # over half of it light
    assert outline_note(bright).startswith("35% of it is mid-grey, as in a photo; this model paints dark outlines")
    sketches = [draw_strokes(s) for s in HAND_DRAWN] + [landscape_sketch_pair(seed)[0] for seed in range(30)]
    sketches += [edges_sketch(getattr(skimage_data, name)()) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    assert [outline_note(Image.fromarray(s)) for s in sketches] == [None] * len(sketches)


def test_a_photo_given_to_an_outline_model_is_painted_with_a_note(tmp_path, capsys):
    photo = np.random.default_rng(0).integers(0, 200, (64, 64, 3), dtype=np.uint8)  # dark and coloured, like a photo
    Image.fromarray(photo).save(tmp_path / "photo.png")
    sketch = np.full((64, 64, 3), 255, np.uint8)
    sketch[30:33] = 0  # a horizon on paper
    Image.fromarray(sketch).save(tmp_path / "sketch.png")
    for model in ("landscape-sketch", "landscape-sketch-reader"):
        cli(["generate", "--checkpoint", model, "--sketch", str(tmp_path / "photo.png"), "--out", str(tmp_path / "p.png")])
        assert "note: photo.png: only 0% of it is light; this model paints dark outlines" in capsys.readouterr().err
        cli(["generate", "--checkpoint", model, "--sketch", str(tmp_path / "sketch.png"), "--out", str(tmp_path / "s.png")])
        assert "note" not in capsys.readouterr().err
    other = tmp_path / "facades-like"  # a pix2pix model whose card says nothing of outlines may take any picture
    shutil.copytree(ROOT / "checkpoints" / "landscape-sketch", other)
    card = json.loads((other / "model.json").read_text())
    (other / "model.json").write_text(json.dumps({k: v for k, v in card.items() if k != "training"}))
    cli(["generate", "--checkpoint", str(other), "--sketch", str(tmp_path / "photo.png"), "--out", str(tmp_path / "o.png")])
    assert "note" not in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback():
    import subprocess
    import sys

    run = subprocess.Popen([sys.executable, "-m", "gaugan", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           cwd=ROOT)
    run.stdout.close()  # as `gaugan models | head -0` does, before the command has written anything
    _, err = run.communicate(timeout=120)
    assert err == b"" and run.returncode == 1, err.decode()


def test_a_broken_pipe_inside_a_command_is_not_taken_for_a_reader_that_stopped(monkeypatch):
    import gaugan.__main__ as command_line

    def broken(args):
        raise BrokenPipeError("a worker's pipe")
    monkeypatch.setattr(command_line, "cmd_models", broken)
    with pytest.raises(BrokenPipeError, match="a worker's pipe"):
        cli(["models"])


def test_generate_never_writes_over_the_maps_it_reads(tmp_path, doodle_png):
    folder = tmp_path / "maps"
    folder.mkdir()
    shutil.copy(doodle_png, folder / "a.png")
    before = (folder / "a.png").read_bytes()
    message = cli_error(["generate", "--labels", str(folder), "--out", str(folder)])
    assert message == "error: --out would write over files it reads (a.png): give --out another file or folder"
    one = str(folder / "a.png")
    assert "would write over" in cli_error(["generate", "--labels", one, "--out", one])
    (folder / "b.png").symlink_to(folder / "a.png")  # another name for the same file
    assert "would write over files it reads (b.png)" in cli_error(
        ["generate", "--labels", str(doodle_png), "--instance", str(folder / "b.png"), "--out", str(folder / "a.png")])
    assert (folder / "a.png").read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["a.png", "b.png"]


def test_a_folder_refusal_counts_the_inputs_it_does_not_name(tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    for i in range(13):
        (folder / f"junk{i:02d}.png").write_text("not an image")
    message = cli_error(["generate", "--labels", str(folder), "--out", str(tmp_path / "photos")])
    assert message.startswith("error: 13 of 13 inputs refused: junk00.png, ") and "junk09.png" in message
    assert message.endswith(" and 3 more (each named above)") and "junk10.png" not in message


def test_options_a_model_cannot_use_are_noted_or_refused(tmp_path, doodle_png, capsys):
    plain_model = make_tiny_model(tmp_path / "plain", use_vae=False)
    out = tmp_path / "p.png"
    cli(["generate", "--checkpoint", str(plain_model), "--labels", str(doodle_png), "--out", str(out), "--seed", "3",
         "--class", "2", "--no-style-prior"])
    err = capsys.readouterr().err
    assert "note: --seed ignored: this model has no style codes, so it paints one image per label map" in err
    assert "note: --no-style-prior ignored: this model draws no style codes" in err and "note: --class ignored" in err
    first = out.read_bytes()
    cli(["generate", "--checkpoint", str(plain_model), "--labels", str(doodle_png), "--out", str(out), "--seed", "4"])
    assert out.read_bytes() == first, "what the note says: another seed, the same image"
    for checkpoint in ("landscape", str(ROOT / "checkpoints" / "landscape" / "generator.pth")):
        message = cli_error(["generate", "--checkpoint", checkpoint, "--labels", str(doodle_png), "--out", str(out),
                             "--preset", "coco"])
        assert message.startswith("error: --preset is for weights without model.json; ") and "has one" in message
    capsys.readouterr()
    cli(["generate", "--labels", str(doodle_png), "--out", str(out), "--seed", "3", "--no-style-prior"])
    assert "note:" not in capsys.readouterr().err, "the shipped model takes both: nothing to note"
    cli(["generate", "--checkpoint", "landscape-sketch", "--sketch", str(doodle_png), "--out", str(out),
         "--no-style-prior"])
    assert "note: --no-style-prior ignored: this model draws no style codes" in capsys.readouterr().err


def test_commands_that_write_into_a_model_take_its_path_and_say_which_path_a_name_stands_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GAUGAN_CHECKPOINTS", raising=False)
    make_tiny_model(tmp_path / "checkpoints" / "mine")
    needed = "writes into the model's model.json, so it takes the path of a model folder of ours"
    assert cli_error(["evaluate", "-n", "2", "--record"]) == f"error: --record {needed}: give --checkpoint PATH"
    for writer, argv in (("--record", ["evaluate", "-n", "2", "--record"]), ("--record", ["looks", "--record"]),
                         ("style-prior", ["style-prior", "--images", str(tmp_path)])):
        assert cli_error([*argv, "--checkpoint", "mine"]) == (
            f"error: {writer} {needed}, not its name: --checkpoint checkpoints/mine")
        assert cli_error([*argv, "--checkpoint", "landscape"]) == (
            f"error: {writer} {needed}; found --checkpoint landscape, a shipped model, which "
            "is not rewritten: copy its folder and name the copy")
        assert cli_error([*argv, "--checkpoint", "nothere"]) == (
            f"error: {writer} {needed}; found --checkpoint nothere: no such folder")
        (tmp_path / "nvidia_pretrained").mkdir(exist_ok=True)  # a folder without a card: found out before any work
        shutil.copy(tmp_path / "checkpoints" / "mine" / "generator.pth", tmp_path / "nvidia_pretrained" / "latest_net_G.pth")
        assert cli_error([*argv, "--checkpoint", "nvidia_pretrained"]) == (
            f"error: {writer} {needed}; found --checkpoint nvidia_pretrained: a folder without model.json")


@pytest.mark.parametrize("argv", [["explain", "--labels", "LABELS"], ["style-prior", "--images", "LABELS"]])
def test_a_sketch_model_given_to_a_label_map_command_is_named_as_one(argv, doodle_png):
    argv = [str(doodle_png.parent) if a == "LABELS" else a for a in argv]
    message = cli_error([*argv, "--checkpoint", str(ROOT / "checkpoints" / "landscape-sketch")])
    assert message.endswith("this is a sketch model (outlines -> photo); this takes label-map (SPADE) models, such as "
                            "landscape"), message


def test_a_downloaded_weights_file_comes_with_where_to_put_it(tmp_path, capsys):
    source = tmp_path / "latest_net_G.pth"
    shutil.copy(ROOT / "checkpoints" / "landscape" / "generator.pth", source)
    cli(["download", str(source), "--dest", str(tmp_path / "dl")])
    err = capsys.readouterr().err
    assert "note: the page and `gaugan models` list model folders: move it into a folder of its own as " \
           f"{tmp_path / 'dl' / 'mine_pretrained' / 'latest_net_G.pth'}" in err
    source.rename(tmp_path / "coco_G.pth")
    cli(["download", str(tmp_path / "coco_G.pth"), "--dest", str(tmp_path / "dl")])
    assert f"{tmp_path / 'dl' / 'mine_pretrained' / 'latest_net_G.pth'}" in capsys.readouterr().err, \
        "the name the listing looks for, whatever the file was called"


def test_train_and_generate_read_a_preset_file_alike_a_model_card_included(tmp_path):
    from gaugan.train_options import read_preset_json
    from gaugan.checkpoints import preset_argument
    from gaugan.errors import InputError
    from gaugan.model_card import read_card

    card = ROOT / "checkpoints" / "landscape" / "model.json"
    assert read_preset_json(str(card)) == preset_argument(str(card), {}, []) == read_card(card.parent).preset
    (tmp_path / "list.json").write_text("[1, 2]")
    for read in (read_preset_json, lambda path: preset_argument(path, {}, [])):
        with pytest.raises(InputError, match=r"list\.json.* must be an object with the preset's fields, found list"):
            read(str(tmp_path / "list.json"))


def test_bf16_and_the_reference_network_are_refused_together(tmp_path, doodle_png):
    from gaugan.errors import InputError

    with pytest.raises(InputError, match=r"the reference network \(fast=False, --reference\) runs in float32"):
        GauGAN.from_checkpoint("landscape", fast=False, bf16=True)
    with pytest.raises(SystemExit, match="choose one"):
        cli(["generate", "--labels", str(doodle_png), "--reference", "--bf16", "--out", str(tmp_path / "o.png")])
