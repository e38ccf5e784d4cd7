"""pix2pix through the one trainer: moving losses, bit-exact resume, export, class-conditional data, CLI."""
import json
import os
import re
from dataclasses import replace
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import ROOT, assert_resume_equals_straight_run, cli_error
from PIL import Image

from gaugan import PRESETS, Pix2Pix, SPADEGenerator
from gaugan.checkpoints import save_model
from gaugan.__main__ import main as cli
from gaugan.sketch import model_kind
from gaugan.errors import InputError
from gaugan.networks import ClassConditionalGenerator, UnetGenerator
from gaugan.networks.conditional import LEVELS
from gaugan.presets import landscape_preset
from gaugan.sketch_train import Pix2PixTrainer, check_sizes, pix2pix_config, pix2pix_config_from_args
from gaugan.train import export, trainer_for

TINY = {"depth": 6, "ngf": 4, "load_size": 72, "crop_size": 64}


def tiny_config(out, steps: int, sketch: dict | None = None, **overrides):
    return pix2pix_config({**TINY, **(sketch or {})}, out=str(out), steps=steps, batch_size=2, ndf=8,
                          sample_every=2, checkpoint_every=2, log_every=1, **overrides)


def test_paper_defaults():
    cfg = pix2pix_config()
    assert (cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2, cfg.lambda_l1, cfg.batch_size, cfg.d_layers, cfg.ema_decay) == \
        (2e-4, 2e-4, 0.5, 0.999, 100.0, 1, 3, 0.0)
    assert (cfg.sketch["load_size"], cfg.sketch["crop_size"], cfg.sketch["gan_loss"]) == (286, 256, "vanilla")
    with pytest.raises(ValueError, match="unknown sketch options"):
        pix2pix_config({"colour": 1})


@pytest.mark.slow
def test_tiny_config_trains_and_losses_move(tmp_path):
    trainer = trainer_for(tiny_config(tmp_path / "run", steps=5))
    assert isinstance(trainer, Pix2PixTrainer)
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.run(progress=False)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,wall_seconds,g_gan,g_l1,d" and len(rows) == 6
    values = np.array([[float(x) for x in row.split(",")[2:]] for row in rows[1:]])
    assert np.isfinite(values).all() and (values.std(axis=0) > 0).all()
    assert any(not torch.equal(before[k], v) for k, v in trainer.generator.state_dict().items())
    sample = Image.open(tmp_path / "run" / "samples" / "step_000004.png")
    assert sample.size == (3 * 64, 2 * 64)  # sketch | real | generated, one row per example


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    def averaged(out, steps):  # the U-Net's batch-norm statistics are buffers, copied into the average
        return tiny_config(out, steps, ema_decay=0.9)
    assert_resume_equals_straight_run(trainer_for, averaged, tmp_path)


def test_export_gives_a_loadable_sketch_model(tmp_path):
    trainer_for(tiny_config(tmp_path / "run", steps=1)).run(progress=False)
    export(tmp_path / "run", tmp_path / "model")
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert (card["kind"], card["input_size"], card["direction"], card["network"]["type"]) == ("sketch", 64, "AtoB", "unet")
    assert "preset" not in card["training"] and card["training"]["steps_done"] == 1
    assert model_kind(tmp_path / "model") == "sketch"
    image = Pix2Pix.from_checkpoint(tmp_path / "model", device="cpu").generate(np.full((50, 70, 3), 255, np.uint8))
    assert image.size == (70, 50)


@pytest.mark.slow
def test_init_starts_a_run_from_a_sketch_model_with_its_shape(tmp_path):
    trainer_for(tiny_config(tmp_path / "first", steps=1)).run(progress=False)
    export(tmp_path / "first", tmp_path / "model")
    shipped = Pix2Pix.from_checkpoint(tmp_path / "model", device="cpu").network.state_dict()
    config = pix2pix_config_from_args({"init": str(tmp_path / "model"), "out": str(tmp_path / "tuned"), "steps": 1,
                                       "batch_size": 2, "ndf": 8, "crop_size": 64, "lambda_perceptual": 1.0})
    assert (config.sketch["ngf"], config.sketch["depth"]) == (TINY["ngf"], TINY["depth"])  # from the model, not the paper
    trainer = trainer_for(config)
    assert all(torch.equal(shipped[k], v) for k, v in trainer.generator.state_dict().items())
    trainer.run(progress=False)
    header, row = (tmp_path / "tuned" / "metrics.csv").read_text().splitlines()
    assert header == "step,wall_seconds,g_gan,g_l1,d,g_perceptual" and float(row.split(",")[-1]) > 0
    tuned = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    assert any(not torch.equal(shipped[k], v) for k, v in tuned.items())
    with pytest.raises(InputError, match="ngf 4, not 8"):
        pix2pix_config_from_args({"init": str(tmp_path / "model"), "ngf": 8})
    (tmp_path / "model" / "generator.pth").unlink()  # a resumed run takes its own weights, not --init's
    resumed = trainer_for(replace(config, steps=2))
    assert resumed.step == 1 and all(torch.equal(tuned[k], v) for k, v in resumed.generator.state_dict().items())


def grey_released_unet(tmp_path):
    folder = tmp_path / "grey_pix2pix"
    folder.mkdir()
    torch.save(UnetGenerator(input_nc=1, depth=6, ngf=4).state_dict(), folder / "latest_net_G.pth")
    return folder


def our_spade_model(tmp_path):
    generator = SPADEGenerator(landscape_preset(crop_size=64, ngf=4, spade_hidden=8))
    return save_model(tmp_path / "spade", generator, {"description": "a SPADE model", "labels": []})


def nvidia_weights_file(tmp_path):
    (tmp_path / "coco_pretrained").mkdir()
    path = tmp_path / "coco_pretrained" / "latest_net_G.pth"
    torch.save(SPADEGenerator(replace(PRESETS["coco"], ngf=2)).state_dict(), path)
    return path


@pytest.mark.parametrize("make, found", [
    (grey_released_unet, "a UnetGenerator of 1-channel sketches and 3-channel photos"),
    (our_spade_model, r"a SPADE generator \(preset landscape, 14 labels\), which paints label maps"),
    (nvidia_weights_file, r"a SPADE generator \(preset coco, 182 labels\), which paints label maps"),
])
def test_init_of_another_kind_of_model_is_refused_in_one_line_saying_what_it_holds(tmp_path, make, found):
    init = make(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--model", "pix2pix", "--init", str(init), "--out", str(tmp_path / "run"), "--steps", "1"])
    expected = (f"error: --init {re.escape(str(init))}: expected a sketch model of RGB sketches and photos \\(ours or a "
                f"released <name>_pix2pix folder\\); found {found}")
    assert re.fullmatch(expected, str(exited.value.code))


def make_class_folder(root, size: int = 64) -> None:
    rng = np.random.default_rng(0)
    classes = {}
    for i in range(4):
        for sub, value in (("sketches", 255), ("images", 60 + 120 * (i % 2))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            array = np.full((size, size, 3), value, np.uint8)
            array[rng.integers(5, 50):, 20:24] = 0
            Image.fromarray(array).save(root / sub / f"{i}.png")
        classes[str(i)] = ["dark", "light"][i % 2]
    (root / "classes.json").write_text(json.dumps(classes))


@pytest.mark.parametrize("block", ["conv", "mru"])
def test_class_conditional_model_trains_on_a_folder_with_classes(tmp_path, block):
    make_class_folder(tmp_path / "data")
    cfg = tiny_config(tmp_path / "run", steps=2, sketch={"network": "conditional", "depth": 4, "block": block},
                      data=str(tmp_path / "data"))
    trainer_for(cfg).run(progress=False)
    export(tmp_path / "run", tmp_path / "model")
    model = Pix2Pix.from_checkpoint(tmp_path / "model", device="cpu")
    assert model.classes == ["dark", "light"] and model.network.config["block"] == block
    sketch = np.asarray(Image.open(tmp_path / "data" / "sketches" / "0.png"))
    dark, light = (np.asarray(model.generate(sketch, class_id=c), np.int16) for c in ("dark", "light"))
    assert np.abs(dark - light).mean() > 0.5


@pytest.mark.parametrize("argv", [[], ["--block", "mru", "--norm", "batch", "--batch-size", "2"]])
def test_class_conditional_cli_trains_at_its_default_depth(tmp_path, argv):
    make_class_folder(tmp_path / "data")
    out = tmp_path / "run"
    cli(["train", "--model", "pix2pix", "--data", str(tmp_path / "data"), "--out", str(out), "--network", "conditional",
         "--ngf", "4", "--crop-size", "64", "--steps", "1", "--quiet", *argv])
    config = json.loads(torch.load(out / "state.pt", weights_only=True)["config"])
    assert config["sketch"]["depth"] == 5  # the deepest that leaves 2x2 pixels at its innermost level


def test_class_conditional_depth_that_leaves_one_pixel_is_refused_naming_the_options(tmp_path):
    make_class_folder(tmp_path / "data")
    message = cli_error(["train", "--model", "pix2pix", "--data", str(tmp_path / "data"), "--out",
                         str(tmp_path / "run"), "--network", "conditional", "--crop-size", "64", "--depth", "6",
                         "--steps", "1"])
    assert message == ("error: --crop-size 64 --depth 6: the class-conditional network halves the image 6 times, down "
                       "to 1×1 pixel, where its instance norm has nothing to normalise; it needs at least 2×2 there: "
                       "give --depth 5 or less, or --crop-size 128 or more")
    assert not (tmp_path / "run").exists()
    assert pix2pix_config_from_args({"network": "conditional"}).sketch["depth"] == 7  # at the default crop, 256


@pytest.mark.parametrize("crop", [32, 64, 96])
def test_the_size_check_accepts_exactly_what_the_conditional_network_trains_at(crop):
    for depth in LEVELS:
        options = {**pix2pix_config({"network": "conditional", "crop_size": crop, "load_size": crop}).sketch,
                   "depth": depth}
        network = ClassConditionalGenerator(2, ngf=2, depth=depth).train()
        sketch = torch.zeros(1, 3, crop, crop)
        try:
            check_sizes(options)
        except InputError:
            if crop % 2 ** depth == 0:
                with pytest.raises(ValueError, match="more than 1 spatial element"):
                    network(sketch, torch.tensor([0]))
            continue
        assert network(sketch, torch.tensor([0])).shape == (1, 3, crop, crop)
    check_sizes(pix2pix_config({"network": "conditional", "crop_size": crop, "load_size": crop}).sketch)  # default


def test_u_net_depths_it_cannot_build_are_refused(tmp_path):
    assert cli_error(["train", "--model", "pix2pix", "--out", str(tmp_path / "run"), "--crop-size", "64", "--depth",
                      "4", "--steps", "1"]) == "error: --depth 4: a U-Net takes 5 to 10 levels"


def label_map_and_photo_folders(root):
    (root / "spade" / "labels").mkdir(parents=True)
    (root / "spade" / "images").mkdir()
    Image.new("L", (64, 32)).save(root / "spade" / "labels" / "a.png")
    Image.new("RGB", (64, 32)).save(root / "spade" / "images" / "a.jpg")
    (root / "spade" / "labels.json").write_text(json.dumps([{"id": 0, "name": "sky", "rgb": [1, 2, 3]}]))
    (root / "photos").mkdir()
    Image.new("RGB", (64, 48)).save(root / "photos" / "a.jpg")


@pytest.mark.parametrize("folder, message", [
    ("spade", "holds labels/ and images/ (a label-map dataset): pix2pix trains on sketches/ + images/ pairs"),
    ("photos", "is 64×48 (1 of 1 images are not 2:1): an 'A | B' image holds two about square halves side by side"),
])
def test_folders_that_hold_no_pairs_are_refused_in_one_line(tmp_path, folder, message):
    label_map_and_photo_folders(tmp_path)
    assert message in cli_error(["train", "--model", "pix2pix", "--data", str(tmp_path / folder), "--out",
                                 str(tmp_path / "run"), "--crop-size", "64", "--depth", "6", "--steps", "1"])


def test_init_takes_a_shipped_model_name_and_names_a_missing_folder_as_typed(tmp_path):
    config = pix2pix_config_from_args({"init": "landscape-sketch", "out": str(tmp_path / "run")})
    assert (config.sketch["ngf"], config.sketch["depth"]) == (20, 8)
    assert os.path.samefile(config.sketch["init"], ROOT / "checkpoints" / "landscape-sketch")
    assert cli_error(["train", "--model", "pix2pix", "--init", "nothere", "--out", str(tmp_path / "run")]) == (
        "error: --init nothere: no such model folder or weights file, no model folder of that name in checkpoints, and "
        "no shipped model of that name (`gaugan models` lists them)")
    (tmp_path / "empty").mkdir()
    assert cli_error(["train", "--model", "pix2pix", "--init", str(tmp_path / "empty"), "--out",
                      str(tmp_path / "run")]).startswith(f"error: --init {tmp_path / 'empty'}: no sketch model in "
                                                         f"{tmp_path / 'empty'}: expected model.json")
    assert "holds a generator with ngf 20, not 4" in cli_error(
        ["train", "--model", "pix2pix", "--init", "landscape-sketch", "--ngf", "4", "--out", str(tmp_path / "run")])


@pytest.mark.slow
def test_init_from_a_shipped_name_trains(tmp_path):
    (tmp_path / "ab").mkdir()
    for i in range(2):
        Image.new("RGB", (128, 64), "white").save(tmp_path / "ab" / f"{i}.png")
    cli(["train", "--model", "pix2pix", "--init", "landscape-sketch", "--data", str(tmp_path / "ab"), "--out",
         str(tmp_path / "run"), "--steps", "1", "--quiet"])
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["step"] == 1


def test_cli_trains_on_side_by_side_pairs_in_either_direction(tmp_path, capsys):
    for i in range(2):
        pair = np.zeros((64, 128, 3), np.uint8)
        pair[:, :64] = 255
        pair[20:40, 10:50] = 0
        Image.fromarray(pair).save(tmp_path / f"{i}.png")
    for direction in ("AtoB", "BtoA"):
        out = tmp_path / f"run_{direction}"
        cli(["train", "--model", "pix2pix", "--data", str(tmp_path), "--direction", direction, "--out", str(out),
             "--steps", "1", "--ngf", "4", "--depth", "6", "--crop-size", "64", "--quiet"])
        config = json.loads(torch.load(out / "state.pt", weights_only=True)["config"])
        assert (config["model"], config["sketch"]["direction"], config["sketch"]["load_size"]) == ("pix2pix", direction, 72)


def test_cli_ends_with_the_line_spade_training_ends_with(tmp_path, capsys):
    pair = np.full((64, 128, 3), 255, np.uint8)
    pair[20:40, 10:50] = 0
    Image.fromarray(pair).save(tmp_path / "0.png")
    out = str(tmp_path / "run")
    cli(["train", "--model", "pix2pix", "--data", str(tmp_path), "--out", out, "--steps", "1", "--ngf", "4",
         "--depth", "6", "--crop-size", "64", "--quiet"])
    losses = r"g_gan \d+\.\d{3}, g_l1 \d+\.\d{3}, d \d+\.\d{3}"
    assert re.fullmatch(f"trained {re.escape(out)}; last losses {losses}; metrics.csv is in {re.escape(out)}\n",
                        capsys.readouterr().out), "one step writes no samples/, and the line names none"
    assert not (tmp_path / "run" / "samples").exists()


def test_cli_generate_evaluate_and_list_a_sketch_model(tmp_path, capsys):
    trainer_for(tiny_config(tmp_path / "run", steps=1)).run(progress=False)
    export(tmp_path / "run", tmp_path / "checkpoints" / "tiny-sketch")
    model = tmp_path / "checkpoints" / "tiny-sketch"
    sketches = tmp_path / "sketches"
    sketches.mkdir()
    for i, size in enumerate(((90, 60), (64, 64))):
        Image.new("RGB", size, "white").save(sketches / f"{i}.png")
    cli(["generate", "--checkpoint", str(model), "--sketch", str(sketches), "--out", str(tmp_path / "photos")])
    assert Image.open(tmp_path / "photos" / "0.png").size == (90, 60)
    cli(["generate", "--checkpoint", str(model), "--sketch", str(sketches / "1.png"), "--out", str(tmp_path / "one.png")])
    assert Image.open(tmp_path / "one.png").size == (64, 64)
    cli(["evaluate", "--checkpoint", str(model), "-n", "3", "--out", str(tmp_path / "eval"), "--record"])
    report = capsys.readouterr().out
    assert "held-out pairs: 3 from landscape-sketch" in report and "L1 to the real photo" in report
    results = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert 0 < results["l1"] < 255 and results["frechet"]["generated_vs_real"] > 0
    assert json.loads((model / "model.json").read_text())["evaluation"]["l1"] == results["l1"]
    cli(["models", "--root", str(tmp_path / "checkpoints")])
    assert capsys.readouterr().out.split()[:2] == ["tiny-sketch", "sketch"]


@pytest.mark.parametrize("argv, message", [
    (["--crop-size", "64"], "--crop-size 64: a U-Net of depth 8 halves the image 8 times, so the crop must be a "
                            "multiple of 256"),
    (["--depth", "6", "--crop-size", "64", "--load-size", "48"], "--load-size 48 is smaller than the crop"),
])
def test_pix2pix_sizes_the_u_net_cannot_take_are_refused_before_training(tmp_path, argv, message):
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--model", "pix2pix", "--out", str(tmp_path / "run"), "--steps", "1", *argv])
    assert str(exited.value.code).startswith("error: ") and message in str(exited.value.code)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_torchrun_ddp_with_two_gloo_processes(tmp_path):
    for i in range(4):
        pair = np.full((64, 128, 3), 255, np.uint8)
        pair[10 * i:10 * i + 20, :] = 0
        Image.fromarray(pair).save(tmp_path / f"{i}.png")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
               "-m", "gaugan", "train", "--model", "pix2pix", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
               "--steps", "2", "--ngf", "4", "--depth", "6", "--crop-size", "64", "--checkpoint-every", "1", "--quiet"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["step"] == 2


@pytest.mark.slow
def test_the_shipped_sketch_state_holds_the_shipped_model_and_trains_on(tmp_path):
    """training/landscape_sketch_state.pt, as docs/sketch.md continues it: the shipped generator's weights, and a
    copy trains on with no --init or data folder from the machine it came from."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.pt").write_bytes((ROOT / "training" / "landscape_sketch_state.pt").read_bytes())
    state = torch.load(run / "state.pt", weights_only=True)
    shipped = torch.load(ROOT / "checkpoints" / "landscape-sketch" / "generator.pth", weights_only=True)
    assert shipped.keys() == state["generator"].keys()
    assert all(torch.equal(shipped[k], state["generator"][k]) for k in shipped)
    cli(["train", "--model", "pix2pix", "--out", str(run), "--ngf", "20", "--batch-size", "1",
         "--steps", str(state["step"] + 1), "--quiet"])
    assert torch.load(run / "state.pt", weights_only=True)["step"] == state["step"] + 1


def test_evaluating_a_folder_without_a_test_split_says_it_reads_the_training_pairs(tmp_path, capsys, monkeypatch):
    import gaugan.evaluate
    from gaugan.sketch_evaluate import evaluate_sketch, format_sketch_table

    monkeypatch.setattr(gaugan.evaluate, "frechet_distance", lambda a, b: 0.0)  # two images in 256 dimensions
    for folder in (tmp_path / "pairs", tmp_path / "split" / "test"):
        folder.mkdir(parents=True)
        for i in range(2):
            pair = np.full((64, 128, 3), 255, np.uint8)
            pair[10 * i:10 * i + 20, :] = 0
            Image.fromarray(pair).save(folder / f"{i}.png")
    trainer_for(tiny_config(tmp_path / "run", steps=1, data=str(tmp_path / "pairs"))).run(progress=False)
    export(tmp_path / "run", tmp_path / "model")
    results = evaluate_sketch(tmp_path / "model", str(tmp_path / "pairs"), n=5)
    assert f"note: -n 5 is more than the 2 pairs of {tmp_path / 'pairs'}: evaluating those 2" in capsys.readouterr().err
    assert format_sketch_table(results).splitlines()[0] == (
        f"training pairs: 2 from {tmp_path / 'pairs'}, not held out (it has no test/ or val/ sub-folder)")
    assert "real vs real floor: n/a" in format_sketch_table(results)
    held_out = evaluate_sketch(tmp_path / "model", str(tmp_path / "split"), n=1, progress=False)
    assert format_sketch_table(held_out).splitlines()[0] == f"held-out pairs: 1 from {tmp_path / 'split'}"
