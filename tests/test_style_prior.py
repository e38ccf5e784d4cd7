"""Style priors: fitted to photographs' codes, saved into a model folder, loaded checked, and drawn from by seeds."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli_error, make_tiny_model
from PIL import Image

from gaugan import GauGAN, shipped_checkpoint
from gaugan.__main__ import main as cli
from gaugan.canvas import mixed_style
from gaugan.checkpoints import write_style_prior
from gaugan.data.landscape import landscape_layout
from gaugan.errors import CheckpointError, InputError
from gaugan.style_prior import STYLE_PRIOR_WEIGHTS, fit_style_prior


@pytest.fixture(scope="module")
def landscape():
    return GauGAN.from_checkpoint(shipped_checkpoint("landscape"), device="cpu")


def photo_folder(folder, count: int, seed: int = 0):
    """count small photos with a random colour gradient each."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, 48)[None, :, None]
    for i in range(count):
        left, right = rng.integers(0, 256, (2, 3))
        Image.fromarray((left + (right - left) * ramp).repeat(32, 0).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_fit_recovers_the_mean_and_covariance_of_the_codes():
    scale = torch.tensor([[1.0, 0, 0], [0.5, 0.3, 0], [-0.2, 0.1, 0.7]])
    mean = torch.tensor([2.0, -1.0, 0.5])
    codes = mean + torch.randn(20000, 3, generator=torch.Generator().manual_seed(0)) @ scale.T
    prior = fit_style_prior(codes)
    assert torch.allclose(prior.mean, mean, atol=0.03)
    assert torch.allclose(prior.scale_tril @ prior.scale_tril.T, scale @ scale.T, atol=0.03)
    assert prior.problem() is None


def test_fit_refuses_too_few_codes():
    with pytest.raises(InputError, match="at least 128 different photographs .* found 100$"):
        fit_style_prior(torch.randn(100, 64))
    with pytest.raises(InputError, match="found 200, with only 1 distinct style codes"):
        fit_style_prior(torch.randn(1, 64).repeat(200, 1))


def test_the_shipped_landscape_model_draws_seeds_from_its_style_prior(landscape):
    prior = landscape.style_prior
    assert prior is not None and prior.problem() is None
    codes = torch.cat([landscape.style_code(seed, None) for seed in range(2000)])
    assert torch.equal(codes[:1], landscape.style_code(0, None)), "a seed must always give the same code"
    whitened = torch.linalg.solve_triangular(prior.scale_tril, (codes - prior.mean).T, upper=False).T
    assert whitened.mean(0).abs().max() < 0.15 and (torch.cov(whitened.T) - torch.eye(64)).abs().max() < 0.15
    # photographs' codes sit well inside the standard normal: a seed's code is about half as long as N(0, I)'s
    plain = GauGAN.from_checkpoint(shipped_checkpoint("landscape"), device="cpu", style_prior=False)
    assert plain.style_prior is None
    normal = torch.cat([plain.style_code(seed, None) for seed in range(2000)])
    assert codes.norm(dim=1).median() < 0.7 * normal.norm(dim=1).median()


def test_seeds_paint_differently_with_and_without_the_prior_and_a_style_code_still_wins(landscape):
    layout = landscape_layout(np.random.default_rng(3), 128, 128)
    plain = GauGAN.from_checkpoint(shipped_checkpoint("landscape"), device="cpu", style_prior=False)
    with_prior = np.asarray(landscape.generate(layout, seed=5))
    assert np.array_equal(with_prior, np.asarray(landscape.generate(layout, seed=5)))
    assert np.abs(with_prior.astype(int) - np.asarray(plain.generate(layout, seed=5))).mean() > 5
    code = torch.zeros(1, landscape.preset.z_dim)
    assert np.array_equal(np.asarray(landscape.generate(layout, seed=5, style=code)),
                          np.asarray(plain.generate(layout, seed=9, style=code)))


def test_mixed_style_runs_from_the_look_to_the_seeds_own_code(landscape):
    look = torch.randn(1, landscape.preset.z_dim, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(mixed_style(landscape, look, seed=4, strength=1.0), look)
    assert torch.allclose(mixed_style(landscape, look, seed=4, strength=0.0), landscape.style_code(4, None))
    # between them, seeds scatter about the look pulled towards the prior's mean, with the prior's shape, narrowed
    prior, strength = landscape.style_prior, 0.6
    mixed = torch.cat([mixed_style(landscape, look, seed, strength) for seed in range(2000)])
    centre = prior.mean + strength * (look[0] - prior.mean)
    whitened = torch.linalg.solve_triangular(prior.scale_tril, (mixed - centre).T, upper=False).T / 0.8
    assert whitened.mean(0).abs().max() < 0.15 and (torch.cov(whitened.T) - torch.eye(64)).abs().max() < 0.15


def test_the_style_prior_command_fits_and_adds_a_prior_to_a_model_folder(tmp_path, capsys):
    folder = make_tiny_model(tmp_path / "tiny")
    photos = photo_folder(tmp_path / "photos", 20)
    cli(["style-prior", "--checkpoint", str(folder), "--images", str(photos), "--quiet"])
    out = capsys.readouterr().out
    assert f"wrote {folder / STYLE_PRIOR_WEIGHTS}" in out
    assert f"note: model.json's looks were chosen among the seeds' old style codes; they are kept as they are, and " \
           f"`gaugan looks --checkpoint {folder} --record` chooses them among the new ones" in out
    card = json.loads((folder / "model.json").read_text())
    assert card["files"]["style_prior"] == STYLE_PRIOR_WEIGHTS
    assert card["style_prior"] == {"fitted_on": f"20 photographs in {photos}"}
    model = GauGAN.from_checkpoint(folder, device="cpu")
    codes = torch.cat([model.encode_style(Image.open(p)) for p in sorted(photos.iterdir())])
    assert torch.allclose(model.style_prior.mean, codes.mean(0), atol=1e-5)
    plain = GauGAN.from_checkpoint(folder, device="cpu", style_prior=False)
    assert plain.style_prior is None and torch.allclose(model.style_code(1, None),
                                                        model.style_prior.sample(plain.style_code(1, None)))


def test_the_style_prior_command_refuses_what_it_cannot_fit(tmp_path, monkeypatch):
    folder = make_tiny_model(tmp_path / "tiny")
    assert "at least 16 different photographs (hundreds or more give a steadier fit), found 5" in cli_error(
        ["style-prior", "--checkpoint", str(folder), "--images", str(photo_folder(tmp_path / "few", 5))])
    same = photo_folder(tmp_path / "same", 1)
    for i in range(1, 20):
        (same / f"{i:03d}.png").write_bytes((same / "000.png").read_bytes())
    assert "found 20, with only 1 distinct style codes" in cli_error(
        ["style-prior", "--checkpoint", str(folder), "--images", str(same)])
    (tmp_path / "traced" / "images").mkdir(parents=True)
    assert "holds no photographs (files ending .png" in cli_error(
        ["style-prior", "--checkpoint", str(folder), "--images", str(tmp_path / "traced")])
    assert "(its images/ folder may hold them)" in cli_error(
        ["style-prior", "--checkpoint", str(folder), "--images", str(tmp_path / "traced")])
    broken = photo_folder(tmp_path / "broken", 20)
    for name in ("010.png", "015.png"):
        (broken / name).write_bytes(b"not a picture")
    refused = cli_error(["style-prior", "--checkpoint", str(folder), "--images", str(broken)])
    assert "2 of 20 photographs refused, nothing written: 010.png (" in refused and "; 015.png (" in refused
    more = photo_folder(tmp_path / "more", 20)
    assert "is a file; expected a folder" in cli_error(
        ["style-prior", "--checkpoint", str(folder), "--images", str(more / "000.png")])
    assert f"the path of a model folder of ours; found --checkpoint {folder / 'generator.pth'}: a file" in cli_error(
        ["style-prior", "--checkpoint", str(folder / "generator.pth"), "--images", str(more)])
    monkeypatch.chdir(tmp_path)  # a shipped model's name is no path here: it is never rewritten in place
    assert "found --checkpoint landscape, a shipped model, which is not rewritten" in cli_error(
        ["style-prior", "--checkpoint", "landscape", "--images", str(more)])
    no_vae = make_tiny_model(tmp_path / "plain", use_vae=False)
    assert "has no style encoder" in cli_error(
        ["style-prior", "--checkpoint", str(no_vae), "--images", str(photo_folder(tmp_path / "enough", 20))])
    assert not (folder / STYLE_PRIOR_WEIGHTS).exists() and "style_prior" not in (folder / "model.json").read_text()


@pytest.mark.parametrize("damage, message", [
    (lambda s: s["mean"].fill_(float("nan")), "hold NaN or infinite values"),
    (lambda s: s["scale_tril"].copy_(torch.ones(8, 8)), "values above the diagonal"),
    (lambda s: s["scale_tril"].mul_(1e30), "values beyond ±1000"),
    (lambda s: s["scale_tril"].diagonal().copy_(torch.linspace(-1, 1, 8)), "diagonal is not all positive"),
    (lambda s: s.update(mean=torch.zeros(7)), "does not fit a StylePrior"),
    (lambda s: s.update(extra=torch.zeros(1)), "does not fit a StylePrior"),
])
def test_a_damaged_style_prior_is_refused_by_name(tmp_path, damage, message):
    folder = make_tiny_model(tmp_path / "tiny")
    write_style_prior(folder, fit_style_prior(torch.randn(40, 8, generator=torch.Generator().manual_seed(0))), "test")
    state = torch.load(folder / STYLE_PRIOR_WEIGHTS, weights_only=True)
    damage(state)
    torch.save(state, folder / STYLE_PRIOR_WEIGHTS)
    with pytest.raises(CheckpointError, match=message) as refused:
        GauGAN.from_checkpoint(folder, device="cpu")
    assert STYLE_PRIOR_WEIGHTS in str(refused.value) and "refit it with `gaugan style-prior`" in str(refused.value)


def test_a_damaged_prior_can_be_left_unread_and_refitted(tmp_path):
    folder = make_tiny_model(tmp_path / "tiny")
    write_style_prior(folder, fit_style_prior(torch.randn(40, 8, generator=torch.Generator().manual_seed(0))), "test")
    (folder / STYLE_PRIOR_WEIGHTS).write_bytes(b"cut short")
    with pytest.raises(CheckpointError, match=STYLE_PRIOR_WEIGHTS):
        GauGAN.from_checkpoint(folder, device="cpu")
    assert GauGAN.from_checkpoint(folder, device="cpu", style_prior=False).style_prior is None
    cli(["style-prior", "--checkpoint", str(folder), "--images", str(photo_folder(tmp_path / "photos", 20)), "--quiet"])
    assert GauGAN.from_checkpoint(folder, device="cpu").style_prior is not None


def test_a_style_prior_listed_for_a_generator_without_style_codes_is_refused(tmp_path):
    folder = make_tiny_model(tmp_path / "plain", use_vae=False)
    card = json.loads((folder / "model.json").read_text())
    card["files"]["style_prior"] = STYLE_PRIOR_WEIGHTS
    (folder / "model.json").write_text(json.dumps(card))
    torch.save(fit_style_prior(torch.randn(40, 8)).state_dict(), folder / STYLE_PRIOR_WEIGHTS)
    with pytest.raises(CheckpointError, match="lists a style prior, but its generator takes no style code"):
        GauGAN.from_checkpoint(folder, device="cpu")


def test_a_card_that_cannot_be_written_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    import gaugan.whole_files

    folder = make_tiny_model(tmp_path / "tiny")
    card = (folder / "model.json").read_text()
    real_replace = os.replace

    def refuse_the_card(source, target):
        if Path(target).name == "model.json":
            raise PermissionError(1, "Operation not permitted")
        real_replace(source, target)
    monkeypatch.setattr(gaugan.whole_files.os, "replace", refuse_the_card)
    message = cli_error(["style-prior", "--checkpoint", str(folder), "--images", str(photo_folder(tmp_path / "p", 20))])
    assert message.endswith("Operation not permitted; nothing changed") and (folder / "model.json").read_text() == card
    assert sorted(p.name for p in folder.iterdir()) == ["encoder.pth", "generator.pth", "model.json"]


def test_refitting_drops_the_evaluation_the_old_seeds_gave(tmp_path, capsys):
    folder = make_tiny_model(tmp_path / "tiny")
    card = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**card, "evaluation": {"n": 200}}))
    cli(["style-prior", "--checkpoint", str(folder), "--images", str(photo_folder(tmp_path / "p", 20)), "--quiet"])
    assert "evaluation was measured with the seeds' old style codes and is removed" in capsys.readouterr().out
    assert "evaluation" not in json.loads((folder / "model.json").read_text())


def test_generate_draws_from_the_prior_unless_told_not_to(tmp_path):
    labels = tmp_path / "map.png"
    Image.fromarray(landscape_layout(np.random.default_rng(2), 96, 96).astype(np.uint8)).save(labels)
    for flags, style_prior in (([], True), (["--no-style-prior"], False)):
        out = tmp_path / f"{style_prior}.png"
        cli(["generate", "--labels", str(labels), "--out", str(out), "--seed", "3", *flags])
        expected = GauGAN.from_checkpoint(shipped_checkpoint("landscape"), style_prior=style_prior).generate(
            np.asarray(Image.open(labels)), seed=3, keep_aspect=True)
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "True.png")), np.asarray(Image.open(tmp_path / "False.png")))


def test_a_prior_that_cannot_be_put_in_place_leaves_the_old_prior_and_card(tmp_path, monkeypatch):
    import gaugan.checkpoints

    folder = make_tiny_model(tmp_path / "tiny")
    write_style_prior(folder, fit_style_prior(torch.randn(40, 8, generator=torch.Generator().manual_seed(0))), "old")
    card = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**card, "evaluation": {"n": 200}}))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_replace, refused = os.replace, []

    def refuse_the_new_prior(source, target):
        if Path(target).name == STYLE_PRIOR_WEIGHTS and not refused:  # the new prior; the old one may come back
            refused.append(source)
            raise IsADirectoryError(21, "Is a directory")
        real_replace(source, target)
    monkeypatch.setattr(gaugan.checkpoints.os, "replace", refuse_the_new_prior)
    photos = photo_folder(tmp_path / "p", 20)
    assert cli_error(["style-prior", "--checkpoint", str(folder), "--images", str(photos)]).endswith(
        "Is a directory; nothing changed")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_full_disk_while_saving_the_prior_changes_nothing(tmp_path, monkeypatch):
    import gaugan.checkpoints

    folder = make_tiny_model(tmp_path / "tiny")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/0")
    monkeypatch.setattr(gaugan.checkpoints.torch, "save", full_disk)
    message = cli_error(["style-prior", "--checkpoint", str(folder), "--images", str(photo_folder(tmp_path / "p", 20))])
    assert "PytorchStreamWriter failed writing file data/0; nothing changed" in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_non_finite_codes_are_refused():
    codes = torch.randn(40, 8)
    codes[3, 2] = float("nan")
    with pytest.raises(InputError, match="NaN or infinite codes"):
        fit_style_prior(codes)
