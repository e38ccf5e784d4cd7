"""Built-in looks: style codes in model.json, chosen by the light of what the model paints (gaugan/looks.py)."""
import json
import shutil

import numpy as np
import pytest
from helpers import ROOT, make_tiny_model

from gaugan import GauGAN
from gaugan.__main__ import main as cli
from gaugan.canvas import example_scene
from gaugan.looks import LOOKS, SKY_NAMES, light, mean_light


@pytest.fixture(scope="module")
def landscape() -> GauGAN:
    return GauGAN.from_checkpoint(ROOT / "checkpoints" / "landscape", device="cpu")


def test_the_shipped_looks_show_their_light_on_scenes_they_were_not_chosen_on(landscape):
    assert list(landscape.looks) == list(LOOKS)
    sky_ids = [label.id for label in landscape.labels if label.name in SKY_NAMES]
    scenes = [example_scene(seed, landscape.labels, landscape.preset.output_size)[0] for seed in range(6, 16)]
    lit = {name: mean_light([light(np.asarray(landscape.generate(scene, style=code)), np.isin(scene, sky_ids))
                             for scene in scenes]) for name, code in landscape.looks.items()}
    day, golden, dusk, overcast = (lit[name] for name in LOOKS)
    assert day.sky_warmth < -0.15 < 0.8 < day.sky_value, "day: a bright blue sky"
    assert golden.sky_warmth > max(0.03, day.sky_warmth + 0.2) and golden.ground_warmth > 0.1, "golden hour: warm"
    assert dusk.sky_value < 0.5 and dusk.ground_value < 0.7 * day.ground_value, "dusk: dim"
    assert overcast.sky_saturation < 0.5 * day.sky_saturation and overcast.sky_value > dusk.sky_value + 0.2, \
        "overcast: a bright grey sky"


def test_light_measures_a_blue_sky_over_green_land():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2] = (100, 150, 250)
    image[2:] = (60, 140, 40)
    sky = np.zeros((4, 4), bool)
    sky[:2] = True
    measured = light(image, sky)
    assert measured.sky_warmth == pytest.approx(-150 / 255) and measured.sky_value == pytest.approx(250 / 255)
    assert measured.ground_warmth == pytest.approx(20 / 255) and measured.ground_saturation == pytest.approx(100 / 255)


def test_the_looks_command_records_codes_the_model_then_offers(tmp_path, capsys):
    folder = make_tiny_model(tmp_path / "tiny")
    cli(["looks", "--checkpoint", str(folder), "--candidates", "8", "--layouts", "2", "--record"])
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:5]] == ["Day", "Golden", "Dusk", "Overcast"]
    seeds = [int(line.split()[-8]) for line in out.splitlines()[1:5]]
    assert len(set(seeds)) == 4 and all(0 <= seed < 8 for seed in seeds), "four different candidates"
    model = GauGAN.from_checkpoint(folder, device="cpu")
    assert list(model.looks) == list(LOOKS)
    for seed, code in zip(seeds, model.looks.values()):
        assert np.allclose(code, model.style_code(seed, None), atol=1e-6), "each look is its seed's style code"
    assert "looks" in json.loads((folder / "model.json").read_text())


def test_the_looks_command_records_only_into_a_model_folder_given_by_its_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli(["looks", "--checkpoint", "landscape", "--record"])
    assert "a shipped model, which is not rewritten" in str(exited.value.code)
    weights = tmp_path / "weights.pth"
    shutil.copy(ROOT / "checkpoints" / "landscape" / "generator.pth", weights)
    with pytest.raises(SystemExit) as exited:
        cli(["looks", "--checkpoint", str(weights), "--record"])
    assert str(exited.value.code).endswith(f"so it takes the path of a model folder of ours; found --checkpoint {weights}: a file")


def test_the_looks_command_refuses_a_model_without_style_codes_before_any_work(tmp_path, capsys):
    folder = make_tiny_model(tmp_path / "plain", use_vae=False)
    with pytest.raises(SystemExit) as exited:
        cli(["looks", "--checkpoint", str(folder)])
    assert str(exited.value.code) == "error: model 'plain' takes no style code (its preset's use_vae is false): it has " \
                                     "no looks"
    assert "note" not in capsys.readouterr().err
