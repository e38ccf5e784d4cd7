"""gaugan export: a new or empty folder is written; a model folder of ours is replaced, whole, only with --force;
a folder holding anything else, and an existing --resume-state file, are left as they are."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from helpers import ROOT, cli_error, make_tiny_model

from gaugan import GauGAN
from gaugan.__main__ import build_parser, main as cli
from gaugan.presets import landscape_preset
from gaugan.sketch_train import pix2pix_config
from gaugan.train import Trainer, TrainConfig, trainer_for


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-step SPADE (with a style encoder) and pix2pix runs."""
    root = tmp_path_factory.mktemp("runs")
    preset = landscape_preset(crop_size=64, ngf=4, spade_hidden=8, z_dim=8).to_dict()
    Trainer(TrainConfig(out=str(root / "spade"), preset=preset, batch_size=1, steps=1, ndf=8, encoder_ndf=4,
                        lambda_perceptual=0)).run(progress=False)
    trainer_for(pix2pix_config({"depth": 6, "ngf": 4, "load_size": 72, "crop_size": 64}, out=str(root / "sketch"),
                               steps=1, ndf=8)).run(progress=False)
    return root


def test_a_folder_holding_other_files_is_never_written_to(runs, tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for force in ([], ["--force"]):
        message = cli_error(["export", "--run", str(runs / "spade"), "--out", str(out), *force])
        assert message.startswith(f"error: {out} holds notes.txt, so it is no model folder of ours") and \
            "nothing was changed" in message
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    cli(["export", "--run", str(runs / "spade"), "--out", str(tmp_path / "model")])
    (tmp_path / "model" / "notes.txt").write_text("mine")  # a model folder with something of the user's in it
    assert "holds notes.txt" in cli_error(["export", "--run", str(runs / "spade"), "--out", str(tmp_path / "model"),
                                           "--force"])


def test_a_model_folder_is_replaced_only_with_force_and_whole(runs, tmp_path):
    out = tmp_path / "model"
    out.mkdir()  # an empty folder is fine
    cli(["export", "--run", str(runs / "spade"), "--out", str(out)])
    assert (out / "encoder.pth").is_file() and GauGAN.from_checkpoint(out).has_style_encoder
    message = cli_error(["export", "--run", str(runs / "sketch"), "--out", str(out)])
    assert f"{out} already exists; nothing was changed" in message and "--force" in message
    assert GauGAN.from_checkpoint(out).has_style_encoder
    cli(["export", "--run", str(runs / "sketch"), "--out", str(out), "--force"])
    assert sorted(p.name for p in out.iterdir()) == ["generator.pth", "model.json"], "no stale encoder.pth"
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no temporary folder is left beside it"


def test_a_file_put_into_the_model_folder_while_the_export_ran_is_never_lost(tmp_path):
    from gaugan.errors import CheckpointError
    from gaugan.folders import replacing

    out = make_tiny_model(tmp_path / "model")
    with pytest.raises(CheckpointError, match=r"holds notes\.txt, so it is no model folder of ours"):
        with replacing(out) as folder:
            folder.mkdir()
            (folder / "model.json").write_text("{}")
            (out / "notes.txt").write_text("mine")  # while the new folder was being written
    assert (out / "notes.txt").read_text() == "mine" and (out / "generator.pth").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no temporary folder is left beside it"


@pytest.mark.parametrize("run", ["spade", "sketch"])
def test_export_writes_the_description_given_and_refuses_one_that_is_not_plain_text(runs, tmp_path, run):
    cli(["export", "--run", str(runs / run), "--out", str(tmp_path / "model"), "--description", "Alpine lakes, *mine*"])
    assert json.loads((tmp_path / "model" / "model.json").read_text())["description"] == "Alpine lakes, *mine*"
    message = cli_error(["export", "--run", str(runs / run), "--out", str(tmp_path / "other"), "--description",
                         "bell\x07"])
    assert message.startswith("error: --description must be plain text") and not (tmp_path / "other").exists()
    assert cli_error(["export", "--run", str(runs / run), "--out", str(tmp_path / "other"), "--description",
                      "x" * 2001]).startswith("error: --description must be at most 2000 characters")


def test_an_existing_resume_state_file_is_kept_and_nothing_is_exported(runs, tmp_path):
    state = tmp_path / "state.pt"
    state.write_bytes(b"mine")
    message = cli_error(["export", "--run", str(runs / "spade"), "--out", str(tmp_path / "model"),
                         "--resume-state", str(state)])
    assert f"{state} already exists; nothing was changed" in message
    assert state.read_bytes() == b"mine" and not (tmp_path / "model").exists()
    cli(["export", "--run", str(runs / "spade"), "--out", str(tmp_path / "model"), "--resume-state", str(state),
         "--force"])
    assert torch.load(state, weights_only=True)["step"] == 1


@pytest.mark.parametrize("where, message", [
    ("RUN/state.pt", r"lies in the run folder, whose files it would replace"),
    ("MODEL/state.pt", r"lies in the model folder, which holds model.json and weights only"),
    ("other/model.json", r"a training state is a \.pt file; name one"),
])
def test_a_resume_state_in_the_run_or_model_folder_or_of_another_kind_is_refused_even_with_force(
        runs, tmp_path, where, message):
    run = tmp_path / "run"
    shutil.copytree(runs / "spade", run)
    before = (run / "state.pt").read_bytes()
    state = Path(where.replace("RUN", str(run)).replace("MODEL", str(tmp_path / "model")))
    if not state.is_absolute():
        state = tmp_path / state
    refused = cli_error(["export", "--run", str(run), "--out", str(tmp_path / "model"), "--resume-state", str(state),
                         "--force"])
    assert re.search(message, refused), refused
    assert (run / "state.pt").read_bytes() == before and not (tmp_path / "model").exists()


def test_an_exported_model_is_readable_as_the_umask_allows_and_a_rewrite_keeps_each_files_mode(runs, tmp_path):
    old = os.umask(0o022)
    try:
        cli(["export", "--run", str(runs / "spade"), "--out", str(tmp_path / "model")])
        photos = tmp_path / "photos"
        photos.mkdir()
        for i in range(16):
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                photos / f"{i}.png")
        cli(["style-prior", "--checkpoint", str(tmp_path / "model"), "--images", str(photos), "--quiet"])
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "model", *(tmp_path / "model").iterdir()]}
        assert set(modes) == {"model", "model.json", "generator.pth", "encoder.pth", "style_prior.pth"}
        assert modes == {**{name: 0o644 for name in modes}, "model": 0o755}, {k: oct(v) for k, v in modes.items()}
        (tmp_path / "model" / "model.json").chmod(0o600)
        (tmp_path / "model" / "style_prior.pth").chmod(0o440)  # read-only: written anew, then given this mode
        cli(["style-prior", "--checkpoint", str(tmp_path / "model"), "--images", str(photos), "--quiet"])
    finally:
        os.umask(old)
    kept = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "model", *(tmp_path / "model").iterdir()]}
    assert kept == {**modes, "model.json": 0o600, "style_prior.pth": 0o440}, {k: oct(v) for k, v in kept.items()}


def test_export_and_download_options_say_what_they_take():
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command, option in (("export", "--run"), ("export", "--out"), ("download", "--dest")):
        action = next(a for a in commands[command]._actions if option in a.option_strings)
        assert len((action.help or "").replace("(default: %(default)s)", "")) > 20, f"{command} {option} has no help"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root, to act as another user")
def test_another_user_rewrites_a_read_only_card_in_a_folder_of_theirs():
    folder = Path(tempfile.mkdtemp(prefix="gaugan-owner-"))
    try:
        folder.chmod(0o755)
        model = make_tiny_model(folder / "model")
        (model / "model.json").chmod(0o444)
        for path in (folder, model, *model.iterdir()):
            os.chown(path, 65534, 65534)
        code = f"from gaugan.checkpoints import update_card; update_card({str(model)!r}, evaluation={{'n': 1}})"
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads((model / "model.json").read_text())["evaluation"] == {"n": 1}
        assert stat.S_IMODE((model / "model.json").stat().st_mode) == 0o444
    finally:
        shutil.rmtree(folder)
