"""Procedural data, training steps, bit-exact resume, DDP with two gloo processes, Ctrl-C, and the crops and paths
a run is started with."""
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import assert_resume_equals_straight_run
from PIL import Image

from gaugan.__main__ import main as cli
from gaugan.data.folder import label_entries
from gaugan.data.landscape import NUM_CLASSES, landscape_scene, random_look, render
from gaugan.presets import landscape_preset
from gaugan.sketch_train import pix2pix_config
from gaugan.train import Trainer, TrainConfig, export, with_absolute_paths
from gaugan.pipeline import GauGAN
from label_colors import PALETTES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(out, steps: int, **overrides) -> TrainConfig:
    """A tiny landscape run in fp32 on any machine (tests that need bf16 ask for it)."""
    preset = replace(landscape_preset(crop_size=64, ngf=4, spade_hidden=8, z_dim=8))
    return TrainConfig(out=str(out), preset=preset.to_dict(), batch_size=2, steps=steps, ndf=8, encoder_ndf=4,
                       **{"sample_every": 2, "checkpoint_every": 2, "log_every": 1, "precision": "fp32", **overrides})


def test_scenes_are_deterministic_per_seed():
    a_labels, a_image = landscape_scene(7)
    b_labels, b_image = landscape_scene(7)
    c_labels, _ = landscape_scene(8)
    assert np.array_equal(a_labels, b_labels) and np.array_equal(a_image, b_image)
    assert not np.array_equal(a_labels, c_labels)
    assert a_labels.shape == (256, 256) and a_image.shape == (256, 256, 3)


def test_scenes_cover_the_label_space():
    seen = set()
    for seed in range(60):
        seen |= set(np.unique(landscape_scene(seed, (96, 96))[0]).tolist())
    assert seen == set(range(NUM_CLASSES))


def test_image_follows_labels_pixel_for_pixel():
    labels, _ = landscape_scene(3)
    look = random_look(np.random.default_rng(0))
    changed = labels.copy()
    changed[100:103, 50:52] = 11 if labels[101, 51] != 11 else 6
    a = render(labels, look, np.random.default_rng(1))
    b = render(changed, look, np.random.default_rng(1))
    differs = (a != b).any(-1)
    assert differs[100:103, 50:52].all()
    assert not differs[(labels == changed)].any()


def test_one_layout_has_several_looks():
    labels, _ = landscape_scene(3)
    images = [render(labels, random_look(np.random.default_rng(s)), np.random.default_rng(0)) for s in range(4)]
    means = [img.reshape(-1, 3).mean(0) for img in images]
    assert max(np.abs(means[0] - m).max() for m in means[1:]) > 10


def test_tiny_config_trains_and_losses_move(tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", steps=6))
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.run(progress=False)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 7
    values = np.array([[float(x) for x in row.split(",")[2:]] for row in rows[1:]])
    assert np.isfinite(values).all() and (values.std(axis=0) > 0).all()
    assert any(not torch.equal(before[k], v) for k, v in trainer.generator.state_dict().items())
    assert (tmp_path / "run" / "samples" / "step_000006.png").is_file()


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_resume_reproduces_the_uninterrupted_run(tmp_path, precision):
    assert_resume_equals_straight_run(Trainer, lambda out, **kw: tiny_config(out, precision=precision, **kw), tmp_path)


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_precision_sets_what_the_steps_compute_in_and_the_state_records_it(tmp_path, precision, dtype):
    trainer = Trainer(tiny_config(tmp_path / "run", steps=1, precision=precision))
    computed = []
    trainer.generator.conv_img.register_forward_hook(lambda module, inputs, output: computed.append(output.dtype))
    trainer.run(progress=False)
    assert computed and set(computed) == {dtype}
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["bf16"] is (precision == "bf16") and state["hardware"].endswith(f", {precision}"), state["hardware"]


@pytest.mark.parametrize("capabilities, device, expected", [
    ({"avx512_bf16": True}, "cpu", True), ({"amx_bf16": True}, "cpu", True), ({"avx512_f": True}, "cpu", False),
    ({"avx512_bf16": True}, "meta", False)])
def test_auto_precision_takes_bf16_where_the_cpu_has_it(monkeypatch, capabilities, device, expected):
    from gaugan.train import uses_bf16

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert uses_bf16("auto", torch.device(device)) is expected
    assert uses_bf16("fp32", torch.device(device)) is False and uses_bf16("bf16", torch.device(device)) is True
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32, found 'BF16'"):
        uses_bf16("BF16", torch.device(device))


def test_a_run_resumed_in_another_precision_says_so_and_keeps_it(tmp_path, capsys):
    cli(["train", "--out", str(tmp_path / "run"), "--steps", "1", "--precision", "fp32", "--crop-size", "64", "--ngf",
         "4", "--spade-hidden", "8", "--batch-size", "2", "--ndf", "8"])
    cli(["train", "--out", str(tmp_path / "run"), "--steps", "2", "--precision", "bf16"])
    assert "the steps up to 1 computed in fp32; from here they compute in bf16 (--precision bf16)" in capsys.readouterr().out
    cli(["train", "--out", str(tmp_path / "run"), "--steps", "3"])
    assert "computed in" not in capsys.readouterr().out, "a resumed run keeps the precision it was given"
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["bf16"] is True


def test_compact_state_resumes_without_optimiser_moments(tmp_path):
    from gaugan.train import compact_state

    first = Trainer(tiny_config(tmp_path / "a", steps=2))
    first.run(progress=False)
    compact = compact_state(tmp_path / "a", tmp_path / "b" / "state.pt")
    assert compact.stat().st_size < (tmp_path / "a" / "state.pt").stat().st_size / 2
    resumed = Trainer(tiny_config(tmp_path / "b", steps=3))
    assert resumed.step == 2
    exported = first.averages.state()["generator_average"]
    assert all(torch.equal(v, exported[k]) for k, v in resumed.generator.state_dict().items())
    resumed.run(progress=False)
    assert resumed.step == 3


def test_export_gives_a_loadable_model(tmp_path):
    Trainer(tiny_config(tmp_path / "run", steps=1)).run(progress=False)
    model_dir = export(tmp_path / "run", tmp_path / "model")
    card = json.loads((model_dir / "model.json").read_text())
    assert card["training"]["steps_done"] == 1 and len(card["labels"]) == NUM_CLASSES
    model = GauGAN.from_checkpoint(model_dir)
    assert model.has_style_encoder and model.generate(np.zeros((30, 40), np.int64), seed=0).size == (40, 30)


def test_export_writes_each_networks_moving_average_and_ema_decay_0_its_last_weights(tmp_path):
    def parameters(trainer):
        return {name: {k: p.detach().clone() for k, p in trainer.modules()[name].named_parameters()}
                for name in ("generator", "encoder")}
    weights = [parameters(Trainer(tiny_config(tmp_path / "run", steps=1, ema_decay=0.2)))]  # the initial weights
    for steps in (1, 2):  # then those after steps 1 and 2 (a resumed run is bit-exact)
        trainer = Trainer(tiny_config(tmp_path / "run", steps=steps, ema_decay=0.2))
        trainer.run(progress=False)
        weights.append(parameters(trainer))
    last = {name: trainer.modules()[name].state_dict() for name in ("generator", "encoder")}
    model_dir = export(tmp_path / "run", tmp_path / "model")
    for name, file in (("generator", "generator.pth"), ("encoder", "encoder.pth")):
        exported = torch.load(model_dir / file, weights_only=True)
        moved = 0
        for key, start in weights[0][name].items():
            expected = start
            for n, later in enumerate(weights[1:], 1):  # the decay warms up as (1 + n) / (10 + n), up to 0.2
                expected = expected.lerp(later[name][key], 1 - min(0.2, (1 + n) / (10 + n)))
            torch.testing.assert_close(exported[key], expected, msg=f"{name}.{key}")
            moved += not torch.equal(exported[key], last[name][key])
        assert moved > len(weights[0][name]) / 2, f"{name}: the export is mostly the last step's weights"
        buffers = {k for k, _ in trainer.modules()[name].named_buffers()}
        assert all(torch.equal(exported[k], last[name][k]) for k in buffers), "buffers are the last step's"
    Trainer(tiny_config(tmp_path / "plain", steps=2, ema_decay=0.0)).run(progress=False)
    plain = Trainer(tiny_config(tmp_path / "plain", steps=2, ema_decay=0.0)).generator.state_dict()
    exported = torch.load(export(tmp_path / "plain", tmp_path / "plain-model") / "generator.pth", weights_only=True)
    assert all(torch.equal(exported[k], v) for k, v in plain.items())


def test_a_compact_state_holds_the_averages_as_its_weights_and_they_start_again_from_them(tmp_path):
    from gaugan.train import compact_state

    Trainer(tiny_config(tmp_path / "a", steps=2, ema_decay=0.9)).run(progress=False)
    run = torch.load(tmp_path / "a" / "state.pt", weights_only=True)
    compact = torch.load(compact_state(tmp_path / "a", tmp_path / "b" / "state.pt"), weights_only=True)
    assert not any(key.endswith("_average") for key in compact) and "average_updates" not in compact
    for name in ("generator", "encoder"):  # what export writes, so that a resumed run continues the exported model
        assert all(torch.equal(v, compact[name][k]) for k, v in run[name + "_average"].items())
        assert not all(torch.equal(v, compact[name][k]) for k, v in run[name].items())
    assert all(torch.equal(v, compact["discriminator"][k]) for k, v in run["discriminator"].items())
    resumed = Trainer(tiny_config(tmp_path / "b", steps=3, ema_decay=0.9))
    resumed.run(progress=False)
    first = run["generator_average"]
    live = resumed.generator.state_dict()
    average = resumed.averages.state()["generator_average"]
    for key, _ in resumed.generator.named_parameters():
        torch.testing.assert_close(average[key], first[key].lerp(live[key], 1 - 2 / 11))  # the warm-up's first update


def test_a_compact_state_of_averages_without_their_count_holds_the_last_weights_as_export_does(tmp_path):
    from gaugan.train import compact_state

    Trainer(tiny_config(tmp_path / "a", steps=1, ema_decay=0.9)).run(progress=False)
    run = torch.load(tmp_path / "a" / "state.pt", weights_only=True)
    del run["average_updates"]  # export takes averages without a count for none
    torch.save(run, tmp_path / "a" / "state.pt")
    compact = torch.load(compact_state(tmp_path / "a", tmp_path / "b" / "state.pt"), weights_only=True)
    assert all(torch.equal(v, compact["generator"][k]) for k, v in run["generator"].items())
    assert not any(key.endswith("_average") for key in compact)


def test_resuming_with_ema_decay_0_says_that_the_averages_go(tmp_path, capsys):
    Trainer(tiny_config(tmp_path / "run", steps=1)).run(progress=False)
    Trainer(tiny_config(tmp_path / "run", steps=2, ema_decay=0.0)).run(progress=True)
    assert f"--ema-decay 0: the weight averages in {tmp_path / 'run' / 'state.pt'} go" in capsys.readouterr().out
    assert "generator_average" not in torch.load(tmp_path / "run" / "state.pt", weights_only=True)


@pytest.mark.parametrize("decay", [1.0, -0.1])
def test_an_ema_decay_outside_0_to_1_is_refused_with_what_it_takes(tmp_path, decay, capsys):
    with pytest.raises(SystemExit):
        cli(["train", "--out", str(tmp_path / "run"), "--ema-decay", str(decay)])
    assert f"expected a number of at least 0 and under 1, found {decay}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_torchrun_ddp_with_two_gloo_processes(tmp_path):
    preset = tiny_config(tmp_path, 1).preset
    (tmp_path / "preset.json").write_text(json.dumps(preset))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
               "-m", "gaugan", "train", "--out", str(tmp_path / "run"), "--steps", "3", "--batch-size", "1",
               "--preset-json", str(tmp_path / "preset.json"), "--checkpoint-every", "1", "--quiet"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["step"] == 3


def test_training_on_a_folder_of_label_image_pairs(tmp_path):
    from PIL import Image

    from gaugan.data.folder import LabelImageFolder

    for sub in ("labels", "images", "instances"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    for i in range(3):
        labels, image = landscape_scene(i, (80, 96))
        Image.fromarray(labels).save(tmp_path / "data" / "labels" / f"s{i}.png")
        Image.fromarray(image).save(tmp_path / "data" / "images" / f"s{i}.jpg")
    Image.fromarray(labels).save(tmp_path / "data" / "instances" / "s2.png")
    (tmp_path / "data" / "labels" / "orphan.png").write_bytes((tmp_path / "data" / "labels" / "s0.png").read_bytes())
    folder = LabelImageFolder(tmp_path / "data", (64, 64))
    assert len(folder) == 3, "a label map without a photo is not a pair"
    labels, image, instance = folder[2]
    assert labels.shape == (64, 64) and image.shape == (64, 64, 3) and instance.shape == (64, 64)
    assert folder[0][2] is None
    trainer = Trainer(tiny_config(tmp_path / "run", steps=2, data=str(tmp_path / "data")))
    trainer.run(progress=False)
    assert trainer.step == 2


def test_folder_without_pairs_says_what_it_expected(tmp_path):
    from gaugan.data.folder import LabelImageFolder

    with pytest.raises(ValueError, match="labels/ and images/"):
        LabelImageFolder(tmp_path, (64, 64))


QUICK = ["--batch-size", "1", "--quiet"]


def ctrl_c_after_step(monkeypatch, step: int, signum: int = signal.SIGINT) -> None:
    """Training receives SIGINT (Ctrl-C), or another signal, during the given step."""
    original = Trainer.train_step

    def train_step(self, *batch):
        metrics = original(self, *batch)
        if self.step + 1 == step:
            signal.raise_signal(signum)
        return metrics

    monkeypatch.setattr(Trainer, "train_step", train_step)


@pytest.fixture
def terminal_sigint():
    """Ctrl-C handled as in a terminal: a background job (as CI may run the tests) starts with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_saves_the_state_at_the_current_step_and_the_run_continues_as_if_never_stopped(tmp_path, monkeypatch,
                                                                                              terminal_sigint):
    straight = Trainer(tiny_config(tmp_path / "straight", steps=4))
    straight.run(progress=False)
    ctrl_c_after_step(monkeypatch, 3)
    config = replace(tiny_config(tmp_path / "run", steps=4), checkpoint_every=100)  # no checkpoint before the stop
    with pytest.raises(KeyboardInterrupt) as stopped:
        Trainer(config).run(progress=False)
    assert str(stopped.value) == (f"stopped at step 3, state saved in {tmp_path / 'run' / 'state.pt'}: the same "
                                  "command continues from there")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    resumed = Trainer(config)
    assert resumed.step == 3
    resumed.run(progress=False)
    for name, module in straight.modules().items():
        assert all(torch.equal(v, resumed.modules()[name].state_dict()[k]) for k, v in module.state_dict().items())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_in_the_cli_prints_one_line_that_says_how_to_continue(tmp_path, monkeypatch, capsys,
                                                                                terminal_sigint, signum):
    ctrl_c_after_step(monkeypatch, 2, signum)
    command = ["train", "--out", str(tmp_path / "run"), "--steps", "5", "--crop-size", "64", "--ngf", "4",
               "--spade-hidden", "8", "--lambda-perceptual", "0", *QUICK]
    sigterm = signal.getsignal(signal.SIGTERM)
    with pytest.raises((SystemExit, KeyboardInterrupt)) as exited:
        cli(command)
    assert exited.type is SystemExit and exited.value.code == 128 + signum  # 130 for Ctrl-C, 143 for SIGTERM
    assert signal.getsignal(signal.SIGTERM) is sigterm, "the handler before training is back"
    assert capsys.readouterr().err.strip().splitlines() == [
        f"stopped at step 2, state saved in {tmp_path / 'run' / 'state.pt'}: the same command continues from there"]
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["step"] == 2


def test_a_resumed_run_drops_the_metrics_and_samples_of_the_steps_it_trains_again(tmp_path):
    Trainer(tiny_config(tmp_path / "run", steps=2, sample_every=1)).run(progress=False)
    metrics = tmp_path / "run" / "metrics.csv"
    header, *rows = metrics.read_text().splitlines()
    killed = [f"{step}{rows[-1][1:]}" for step in (3, 4)]  # logged after the last saved state, then killed
    metrics.write_text("\n".join([header, *rows, *killed]) + "\n")
    samples = tmp_path / "run" / "samples"
    (samples / "step_000007.png").write_bytes((samples / "step_000002.png").read_bytes())
    Trainer(tiny_config(tmp_path / "run", steps=4, sample_every=1)).run(progress=False)
    assert [int(row.split(",")[0]) for row in metrics.read_text().splitlines()[1:]] == [1, 2, 3, 4]
    assert sorted(p.name for p in samples.iterdir()) == [f"step_00000{n}.png" for n in (1, 2, 3, 4)]


def test_a_new_run_in_the_folder_of_one_that_saved_no_state_starts_its_records_afresh(tmp_path):
    Trainer(tiny_config(tmp_path / "run", steps=3, sample_every=1, checkpoint_every=100)).run(progress=False)
    (tmp_path / "run" / "state.pt").unlink()  # as if killed before its first checkpoint
    Trainer(tiny_config(tmp_path / "run", steps=1, sample_every=1)).run(progress=False)
    assert [row.split(",")[0] for row in (tmp_path / "run" / "metrics.csv").read_text().splitlines()] == ["step", "1"]
    assert [p.name for p in (tmp_path / "run" / "samples").iterdir()] == ["step_000001.png"]


@pytest.mark.parametrize("options, needed", [
    (["--crop-size", "32"], "crop size 32: the generator ('normal' upsampling) starts from a grid crop / 32 wide and "
                            "high (1×1 here) and doubles it 5 times; batch and instance norm need that grid to be at "
                            "least 2×2: use 64 or a larger multiple of 32"),
    (["--crop-size", "63"], "use 64 or a larger multiple of 32"),
    (["--crop-size", "100"], "so it would paint 96 pixels wide: use a multiple of 32, such as 96 or 128"),
    ({"crop_size": 50}, "crop size 50: the generator ('normal' upsampling)"),
    ({"crop_size": 64, "num_upsampling_layers": "most"}, "(0×0 here) and doubles it 7 times; batch and instance norm "
                                                          "need that grid to be at least 2×2: use 256"),
])
def test_crops_the_generator_cannot_train_at_are_refused_before_training(tmp_path, options, needed):
    if isinstance(options, dict):  # a --preset-json
        (tmp_path / "p.json").write_text(json.dumps({**landscape_preset(ngf=4, spade_hidden=8).to_dict(), **options}))
        options = ["--preset-json", str(tmp_path / "p.json")]
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--out", str(tmp_path / "run"), "--steps", "1", *options, *QUICK])
    assert str(exited.value.code).startswith("error: ") and needed in str(exited.value.code)
    assert not (tmp_path / "run").exists()


def test_a_run_started_with_relative_paths_resumes_from_another_working_directory(tmp_path, monkeypatch):
    data = tmp_path / "work" / "data"
    for sub in ("labels", "images"):
        (data / sub).mkdir(parents=True)
    for i in range(2):
        labels, image = landscape_scene(i, (64, 64))
        Image.fromarray(labels).save(data / "labels" / f"s{i}.png")
        Image.fromarray(image).save(data / "images" / f"s{i}.png")
    (data / "labels.json").write_text(json.dumps(label_entries(PALETTES["landscape"])))
    monkeypatch.chdir(tmp_path / "work")
    cli(["train", "--data", "data", "--out", "runs/r", "--steps", "1", "--crop-size", "64", "--ngf", "4",
         "--spade-hidden", "8", "--lambda-perceptual", "0", *QUICK])
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "work" / "runs" / "r"
    cli(["train", "--out", str(run), "--steps", "2", *QUICK])
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == 2 and json.loads(state["config"])["data"] == str(data)


def test_paths_are_kept_absolute_and_dataset_names_as_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = with_absolute_paths(TrainConfig(data="landscape", photos="photos"))
    assert (config.data, config.photos) == ("landscape", str(tmp_path / "photos"))
    sketch = with_absolute_paths(pix2pix_config({"init": "model"}))
    assert (sketch.data, sketch.photos, sketch.sketch["init"]) == ("landscape-sketch", "", str(tmp_path / "model"))

