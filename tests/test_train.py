"""Procedural data, training steps, bit-exact resume, DDP with two gloo processes."""
import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import assert_resume_equals_straight_run

from gaugan.data.landscape import NUM_CLASSES, landscape_scene, random_look, render
from gaugan.presets import landscape_preset
from gaugan.train import Trainer, TrainConfig, export
from gaugan.pipeline import GauGAN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(out, steps: int, **overrides) -> TrainConfig:
    preset = replace(landscape_preset(crop_size=64, ngf=4, spade_hidden=8, z_dim=8))
    return TrainConfig(out=str(out), preset=preset.to_dict(), batch_size=2, steps=steps, ndf=8, encoder_ndf=4,
                       sample_every=2, checkpoint_every=2, log_every=1, **overrides)


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


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    assert_resume_equals_straight_run(Trainer, tiny_config, tmp_path)


def test_compact_state_resumes_without_optimiser_moments(tmp_path):
    from gaugan.train import compact_state

    first = Trainer(tiny_config(tmp_path / "a", steps=2))
    first.run(progress=False)
    compact = compact_state(tmp_path / "a", tmp_path / "b" / "state.pt")
    assert compact.stat().st_size < (tmp_path / "a" / "state.pt").stat().st_size / 2
    resumed = Trainer(tiny_config(tmp_path / "b", steps=3))
    assert resumed.step == 2
    assert all(torch.equal(v, first.generator.state_dict()[k]) for k, v in resumed.generator.state_dict().items())
    resumed.run(progress=False)
    assert resumed.step == 3


def test_export_gives_a_loadable_model(tmp_path):
    Trainer(tiny_config(tmp_path / "run", steps=1)).run(progress=False)
    model_dir = export(tmp_path / "run", tmp_path / "model")
    card = json.loads((model_dir / "model.json").read_text())
    assert card["training"]["steps_done"] == 1 and len(card["labels"]) == NUM_CLASSES
    model = GauGAN.from_checkpoint(model_dir)
    assert model.has_style_encoder and model.generate(np.zeros((30, 40), np.int64), seed=0).size == (40, 30)


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
