"""What training reads from others is data: photo folders and their manifest, Debian packages of photos, run folders'
state.pt, cached segmenters and preset files are checked where they enter, and refused in one line that names the
file, within bounded memory."""
import copy
import io
import json
import re
import subprocess
import tracemalloc
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY_TRAINING, make_tiny_model
from PIL import Image

from gaugan.__main__ import main as cli
from gaugan.data import photos as photo_module
from gaugan.downloads import BoundedTarInfo
from gaugan.data.folder import label_entries
from gaugan.data.landscape import landscape_scene
from gaugan.data.photos import PhotoSource, fetch_photos, read_manifest
from gaugan.data.texture_bank import TextureBank
from gaugan.errors import InputError
from gaugan.evaluate import load_or_train_segmenter, new_segmenter, segmenter_config
from gaugan.presets import landscape_preset
from gaugan.tracing import traceable_photo
from gaugan.sketch_train import SKETCH_DEFAULTS, pix2pix_config
from gaugan.train import Trainer, TrainConfig, export, parse_run_config
from label_colors import PALETTES

TRAINING_PHOTO = sorted(TextureBank.training_photo_ids())[0]


def photo_folder(root: Path, manifest: object, size: tuple[int, int] = (144, 72)) -> Path:
    """A photo folder with one grainy photo at photos/p.png and the given manifest (a JSON value, or raw text)."""
    (root / "photos").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "photos" / "p.png")
    (root / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return root


def entry(**changes) -> dict:
    return {"id": TRAINING_PHOTO, "file": "photos/p.png", **changes}


def without(key: str) -> dict:
    return {k: v for k, v in entry().items() if k != key}


@pytest.mark.parametrize("manifest, message", [
    ({"photos": []}, r"manifest\.json: expected a list of photo entries, each an object with the strings id, file .*; "
                     r"found dict"),
    (["a", "b"], r"manifest\.json: entry 0: expected an object with the strings id, file .*found str"),
    ([without("file")], r"manifest\.json: entry 0: expected .*; found file missing"),
    ([entry(id=7)], r"manifest\.json: entry 0: expected .*; found id 7"),
    ([entry(file="")], r"entry 0: expected .*id and file not empty and at most 1000 characters; found file ''"),
    ([entry(id="x" * 100_000)], r"entry 0: expected .*at most 1000 characters; found id 'x{59}$"),
    ([entry(file="/etc/passwd")], r"entry 0 .*: \"file\" must be a relative path inside the photo folder.*'/etc/passwd'"),
    ([entry(file="photos/../../outside.png")], r"\"file\" must be a relative path inside the photo folder"),
    ([entry(), entry()], rf"entry 1 repeats the id '{TRAINING_PHOTO}'"),
    ("[" + "9" * 5000 + "]", r"manifest\.json"),  # past Python's int digits limit: read_json's error, not a traceback
])
def test_a_broken_photo_manifest_is_refused_naming_the_file(tmp_path, manifest, message):
    folder = photo_folder(tmp_path / "photos", manifest)
    with pytest.raises(InputError, match=message):
        TextureBank(folder)


def test_data_traced_names_a_manifest_entry_without_a_file_before_loading_a_segmenter(tmp_path, monkeypatch):
    folder = photo_folder(tmp_path / "photos", [without("file")])
    monkeypatch.setattr("gaugan.tracing.load_or_train_segmenter", lambda *a, **k: pytest.fail("segmenter loaded"))
    with pytest.raises(SystemExit) as exited:
        cli(["data", "traced", "--photos", str(folder), "--out", str(tmp_path / "out")])
    assert str(exited.value.code).startswith(f"error: {folder / 'manifest.json'}: entry 0: expected")


def test_credits_need_the_licence_fields_of_every_entry(tmp_path):
    folder = photo_folder(tmp_path / "photos", [entry(package="p", version="1", licence="public-domain", author=None,
                                                      licence_note="")])
    assert read_manifest(folder)[0]["author"] is None  # the bank needs id and file only
    with pytest.raises(InputError, match=r"entry 0: expected an object with the strings id, file, package, version, "
                                         r"licence, author, licence_note .*found author None"):
        TextureBank.credits(folder)


@pytest.mark.parametrize("size", [(40000, 2), (2, 40000)])
def test_a_photo_of_extreme_shape_is_refused_before_it_is_resized(tmp_path, size):
    folder = photo_folder(tmp_path / "photos", [entry()], size=size)
    with pytest.raises(InputError, match=rf"p\.png is {size[0]}×{size[1]}; expected a photo whose long side is at most "
                                         "8 times its short side"):
        TextureBank(folder)


def test_a_photo_is_decoded_within_the_pixel_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(photo_module, "MAX_PHOTO_PIXELS", 100 * 50)
    folder = photo_folder(tmp_path / "photos", [entry()])
    with pytest.raises(InputError, match=r"p\.png: photo is 144×72 = 10,368 pixels; at most 5,000"):
        TextureBank(folder)
    (folder / "photos" / "p.png").write_bytes(b"<html>not a photo</html>")
    with pytest.raises(InputError, match=r"p\.png: not a readable image"):
        TextureBank(folder)
    (folder / "photos" / "p.png").unlink()
    with pytest.raises(InputError, match=r"names 'photos/p\.png' for photo .*, but there is no such file"):
        TextureBank(folder)


def test_tracing_refuses_a_portrait_photo_its_crops_do_not_fit_across(tmp_path):
    folder = photo_folder(tmp_path / "photos", [entry()], size=(72, 144))
    with pytest.raises(InputError, match=r"p\.png is 72×144: expected a landscape photo"):
        traceable_photo(folder, entry())


ROOT_IN_PACKAGE = "usr/share/games/fake/"
FAKE = PhotoSource("fake-photos", ROOT_IN_PACKAGE, "images/land/*@2x.jpg")
COPYRIGHT = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
             "Files: *\nCopyright: Somebody\nLicense: public-domain\n Photos donated to the public domain.\n")


def build_deb(folder: Path, extra: dict[str, int] | None = None, copyright: str | None = COPYRIGHT,
              package: str = FAKE.package) -> Path:
    """A folder holding a real .deb with one photo under images/land/, extra files of zeros {path: bytes} and a
    copyright file (unless None)."""
    tree = folder / "tree"
    land = tree / ROOT_IN_PACKAGE / "images" / "land"
    land.mkdir(parents=True)
    Image.fromarray(np.full((36, 72, 3), 90, np.uint8)).save(land / "hills1@2x.jpg")
    for path, size in (extra or {}).items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        with (tree / path).open("wb") as file:
            file.truncate(size)
    if copyright is not None:
        (tree / f"usr/share/doc/{package}").mkdir(parents=True)
        (tree / f"usr/share/doc/{package}/copyright").write_text(copyright)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text(f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\n"
                                             "Maintainer: t <t@example.org>\nDescription: test photos\n")
    debs = folder / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--build", "--root-owner-group", str(tree),
                    str(debs / f"{package}_1.0-1_all.deb")], check=True, capture_output=True)
    return debs


def test_a_package_is_streamed_not_held_in_memory(tmp_path):
    debs = build_deb(tmp_path, {"usr/share/games/fake/music.bin": 48 << 20})
    tracemalloc.start()
    try:
        manifest = fetch_photos(tmp_path / "cache", debs, sources=(FAKE,))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [e["id"] for e in manifest] == ["hills1"] and manifest[0]["width"] == 72
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB held while unpacking"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["manifest.json", "photos"]  # no staging left


def test_a_package_member_over_its_limit_is_refused(tmp_path, monkeypatch):
    debs = build_deb(tmp_path)
    monkeypatch.setattr(photo_module, "MAX_PHOTO_BYTES", 100)
    with pytest.raises(InputError, match=r"fake-photos_1\.0-1_all\.deb: .*hills1@2x\.jpg is \d+ bytes; a photo is at "
                                         "most 100"):
        fetch_photos(tmp_path / "cache", debs, sources=(FAKE,))
    assert not (tmp_path / "cache" / "manifest.json").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda deb: deb.write_bytes(b"not a deb\n"), r"not a readable Debian package \(dpkg-deb: error: .*not a Debian "
                                                  "format archive"),
    (lambda deb: deb.write_bytes(deb.read_bytes()[:-600]), r"not a readable Debian package"),
])
def test_a_broken_package_is_named_in_one_line(tmp_path, damage, message):
    debs = build_deb(tmp_path)
    damage(debs / "fake-photos_1.0-1_all.deb")
    with pytest.raises(InputError, match=message):
        fetch_photos(tmp_path / "cache", debs, sources=(FAKE,))


def test_data_photos_reports_a_package_without_licences_as_an_error_line(tmp_path):
    package = photo_module.SOURCES[0].package
    debs = build_deb(tmp_path, copyright=None, package=package)
    with pytest.raises(SystemExit) as exited:
        cli(["data", "photos", "--out", str(tmp_path / "cache"), "--debs", str(debs)])
    assert exited.value.code == (f"error: {package}_1.0-1_all.deb has no usr/share/doc/{package}/copyright: the "
                                 "photos' licences are unknown")


def test_a_copyright_file_that_is_not_dep5_is_refused(tmp_path):
    debs = build_deb(tmp_path, copyright="just some words\n")
    with pytest.raises(InputError, match=r"copyright is not a DEP-5 copyright file"):
        fetch_photos(tmp_path / "cache", debs, sources=(FAKE,))


def test_an_oversized_extended_tar_header_is_refused_before_it_is_read(tmp_path):
    import io
    import tarfile

    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 3 << 30
    stream = io.BytesIO(header.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 1024)
    with pytest.raises(tarfile.ReadError, match=r"an extended tar header of 3221225472 bytes"):
        tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo)


# Run folders: state.pt is refused before any network is built from it.

def tiny_config(out: Path, steps: int = 1) -> TrainConfig:
    preset = landscape_preset(crop_size=64, ngf=4, spade_hidden=8, z_dim=8)
    return TrainConfig(out=str(out), preset=preset.to_dict(), batch_size=1, steps=steps, ndf=4, encoder_ndf=4,
                       lambda_perceptual=0.0, sample_every=100, checkpoint_every=100, log_every=1)


@pytest.fixture(scope="module")
def run_state(tmp_path_factory) -> dict:
    """The state.pt of a one-step tiny run, loaded."""
    out = tmp_path_factory.mktemp("run")
    Trainer(tiny_config(out)).run(progress=False)
    return torch.load(out / "state.pt", weights_only=True)


def edit_config(**changes):
    def edit(state: dict) -> dict:
        config = json.loads(state["config"])
        for key, value in changes.items():
            if key.startswith("preset."):
                config["preset"][key.removeprefix("preset.")] = value
            else:
                config[key] = value
        return {**state, "config": json.dumps(config)}
    return edit


def edit_state(**changes):
    return lambda state: {**state, **changes}


def shrunk(module: str):
    def edit(state: dict) -> dict:
        return {**state, module: {k: v.flatten()[:1].clone() for k, v in state[module].items()}}
    return edit


def odd_moments(state: dict) -> dict:
    opt = copy.deepcopy(state["opt_g"])
    first = next(iter(opt["state"]))
    opt["state"][first]["exp_avg"] = torch.zeros(3, 3)
    return {**state, "opt_g": opt}


@pytest.mark.parametrize("edit, message", [
    (lambda state: [1, 2], r"state\.pt: expected a training state .*found list \[1, 2\]"),
    (lambda state: {"step": 1}, r"state\.pt: expected a training state .*found a dict with keys \['step'\]"),
    (edit_state(config="{nope"), r"state\.pt: its config is not JSON"),
    (edit_state(config="[1]"), r"state\.pt: config must be a JSON object of training options, found list"),
    (edit_config(evil=1), r"state\.pt: config has unknown training options \['evil'\]"),
    (edit_config(batch_size="8"), r'state\.pt: config\.batch_size must be an integer, found str "8"'),
    (edit_config(lr_g=True), r"config\.lr_g must be a finite number, found bool true"),
    (edit_config(ndf=10**6), r"config\.ndf must be an integer in 1\.\.1024, found 1000000"),
    (edit_config(**{"preset.ngf": 200000}), r"state\.pt: config: preset\.ngf must be an integer in 1\.\.1024, found 200000"),
    (edit_config(model="gan"), r"config\.model must be 'spade' or 'pix2pix'"),
    (edit_config(ema_decay=1.0), r"config\.ema_decay must be at least 0 and under 1, found 1\.0"),
    (edit_config(precision="fp16"), r'config\.precision must be one of auto, bf16, fp32, found str "fp16"'),
    (edit_state(bf16="yes"), r'state\.pt: bf16 must be true or false, found str "yes"'),
    (edit_state(average_updates=0), r"average_updates must be an integer from 1 to the step \+ 1 \(2\), found int 0"),
    (edit_state(average_updates=10**30), r"average_updates must be an integer from 1 to the step \+ 1 \(2\), found int"),
    (lambda state: {k: v for k, v in state.items() if k != "encoder_average"},
     r"holds average_updates but not encoder_average"),
    (shrunk("generator_average"), r"state\.pt \(generator_average\) does not fit a SPADEGenerator: .*wrong shape"),
    (edit_state(encoder_average={"w": 1}), r"state\.pt: encoder_average must map parameter names to tensors"),
    (edit_config(labels=[{"id": 300, "name": "x", "rgb": [1, 2, 3]}]), r"config: labels\[0\]\.id must be an integer"),
    (shrunk("generator"), r"state\.pt \(generator\) does not fit a SPADEGenerator: .*wrong shape"),
    (edit_state(generator=[1]), r"state\.pt: generator must be a dict, found list"),
    (edit_state(encoder={"w": 1}), r"state\.pt: encoder must map parameter names to tensors"),
    (lambda state: {k: v for k, v in state.items() if k != "encoder"}, r"state\.pt holds no encoder weights"),
    (lambda state: {k: v for k, v in state.items() if k != "opt_d"}, r"holds opt_g without its pair"),
    (odd_moments, r"state\.pt \(opt_g\): exp_avg of a parameter of shape .* has shape \(3, 3\)"),
    (edit_state(opt_d={"state": {}, "param_groups": []}), r"state\.pt \(opt_d\) is not the state of this run's "
                                                          "optimiser"),
    (edit_state(rng=torch.zeros(3)), r"rng must be torch's CPU random state .*found torch\.float32 tensor of shape "
                                     r"\(3,\)"),
    (edit_state(step="1"), r'step must be an integer of at least 0, found str "1"'),
    (edit_state(wall_seconds=float("nan")), r"wall_seconds must be a number of at least 0"),
])
def test_a_broken_run_state_is_refused_by_export_and_resume(tmp_path, run_state, edit, message):
    run = tmp_path / "run"
    run.mkdir()
    torch.save(edit(run_state), run / "state.pt")
    with pytest.raises(InputError, match=message):
        export(run, tmp_path / "model")
    with pytest.raises(InputError, match=message):
        Trainer(tiny_config(run, steps=2))
    assert not (tmp_path / "model").exists()


def test_a_run_state_that_is_no_torch_file_is_refused_without_unpickling(tmp_path, run_state):
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.pt").write_bytes(b"\x80\x02K\x01.")  # a raw pickle
    with pytest.raises(SystemExit) as exited:
        cli(["export", "--run", str(run), "--out", str(tmp_path / "model")])
    assert str(exited.value.code).startswith(f"error: {run / 'state.pt'}: refused to load; expected a training state")
    whole = io.BytesIO()
    torch.save(run_state, whole)
    for data, found in ((b"", "not a file saved by torch.save (it is empty)"),
                        (b"junk", "not a file saved by torch.save (it starts with b'junk')"),
                        (whole.getvalue()[:5000], "it is cut short (its zip directory is missing): download or copy "
                                                  "it again")):
        (run / "state.pt").write_bytes(data)
        with pytest.raises(SystemExit) as exited:
            cli(["export", "--run", str(run), "--out", str(tmp_path / "model")])
        assert str(exited.value.code).endswith(f"but loading failed: {found}"), exited.value.code
    torch.save(edit_config(**{"preset.ngf": 200000})(run_state), run / "state.pt")
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--out", str(run), "--steps", "2", "--quiet"])
    assert "preset.ngf must be an integer in 1..1024, found 200000" in str(exited.value.code)


@pytest.mark.parametrize("sketch, message", [
    ({"ngf": 10**6}, r"x: config\.sketch\.ngf must be an integer in 1\.\.512, found 1000000"),
    ({"depth": "8"}, r'x: config\.sketch\.depth must be an integer, found str "8"'),
    ({"dropout": 1}, r"x: config\.sketch\.dropout must be true or false, found int 1"),
    ({"evil": 1}, r"x: config\.sketch has the unknown option 'evil'"),
])
def test_a_pix2pix_run_config_is_checked_too(sketch, message):
    with pytest.raises(InputError, match=message):
        parse_run_config({**asdict(pix2pix_config()), "sketch": {**SKETCH_DEFAULTS, **sketch}}, "x: config")
    assert parse_run_config(asdict(pix2pix_config()), "x: config")["model"] == "pix2pix"


def test_a_valid_run_state_still_exports_and_compacts(tmp_path, run_state):
    run = tmp_path / "run"
    run.mkdir()
    torch.save(run_state, run / "state.pt")
    cli(["export", "--run", str(run), "--out", str(tmp_path / "model"), "--resume-state", str(tmp_path / "c.pt")])
    assert (tmp_path / "model" / "generator.pth").is_file()
    assert "opt_g" not in torch.load(tmp_path / "c.pt", weights_only=True)
    assert json.loads((tmp_path / "model" / "model.json").read_text())["training"]["ema_decay"] == 0.999


def test_a_state_saved_without_averages_exports_its_last_weights_and_says_so(tmp_path, run_state):
    run = tmp_path / "run"
    run.mkdir()
    older = {k: v for k, v in run_state.items() if not k.endswith("_average") and k != "average_updates"}
    config = {k: v for k, v in json.loads(run_state["config"]).items() if k != "ema_decay"}
    torch.save({**older, "config": json.dumps(config)}, run / "state.pt")
    export(run, tmp_path / "model")
    assert json.loads((tmp_path / "model" / "model.json").read_text())["training"]["ema_decay"] == 0.0
    exported = torch.load(tmp_path / "model" / "generator.pth", weights_only=True)
    assert all(torch.equal(exported[k], v) for k, v in run_state["generator"].items())
    Trainer(tiny_config(run, steps=2)).run(progress=False)  # resumed, it starts averaging
    assert torch.load(run / "state.pt", weights_only=True)["average_updates"] == 2


# Presets and data folder names are checked when training starts, as export checks them.

def test_train_preset_json_is_bounded_like_generate_preset(tmp_path):
    preset = {"name": "huge", "label_nc": 14, "contain_dontcare_label": False, "use_instance": False, "crop_size": 64,
              "ngf": 200000}
    (tmp_path / "huge.json").write_text(json.dumps(preset))
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "labels.png")
    bare = tmp_path / "weights.pth"  # weights without a model.json beside them: what --preset is for
    (make_tiny_model(tmp_path / "tiny", use_vae=False) / "generator.pth").rename(bare)
    for command in (["train", "--preset-json", str(tmp_path / "huge.json"), "--out", str(tmp_path / "run"), "--quiet"],
                    ["generate", "--checkpoint", str(bare), "--preset", str(tmp_path / "huge.json"), "--labels",
                     str(tmp_path / "labels.png"), "--out", str(tmp_path / "o.png")]):
        with pytest.raises(SystemExit) as exited:
            cli(command)
        assert "ngf must be an integer in 1..1024, found 200000" in str(exited.value.code)
    assert not (tmp_path / "run").exists()


def landscape_folder(root: Path) -> Path:
    """A folder of two landscape label/image pairs with its labels.json."""
    for sub in ("labels", "images"):
        (root / sub).mkdir(parents=True)
    for i in range(2):
        labels, photo = landscape_scene(i, (64, 64))
        Image.fromarray(labels).save(root / "labels" / f"s{i}.png")
        Image.fromarray(photo).save(root / "images" / f"s{i}.png")
    (root / "labels.json").write_text(json.dumps(label_entries(PALETTES["landscape"])))
    return root


@pytest.mark.parametrize("name, message", [
    ("d" * 70, r"the run's preset\.name must be at most 64 characters, found 70; .*named after the --data folder"),
    ("tab\there", r"the run's preset\.name must be plain text, found control characters \['0x9'\]"),
])
def test_a_data_folder_name_the_model_card_refuses_is_refused_before_training(tmp_path, name, message):
    data = landscape_folder(tmp_path / name)
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1", *TINY_TRAINING])
    assert re.search(message, str(exited.value.code))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("data", [[], ["--data", "landscape"]])
def test_a_label_table_for_the_built_in_scenes_names_and_colours_their_ids(tmp_path, data):
    table = tmp_path / "labels.json"
    table.write_text(json.dumps([{**label, "name": f"my {label['name']}"}
                                 for label in label_entries(PALETTES["landscape"])]))
    cli(["train", *data, "--labels", str(table), "--out", str(tmp_path / "run"), "--steps", "1", *TINY_TRAINING])
    config = json.loads(torch.load(tmp_path / "run" / "state.pt", weights_only=True)["config"])
    assert config["preset"]["name"] == "landscape" and config["preset"]["label_nc"] == 14
    assert config["labels"][0]["name"] == "my sky-other"


def test_a_label_table_for_the_built_in_scenes_must_name_every_id_they_paint(tmp_path):
    table = tmp_path / "labels.json"
    table.write_text(json.dumps(label_entries(PALETTES["landscape"][:6])))
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--labels", str(table), "--out", str(tmp_path / "run"), "--steps", "1", *TINY_TRAINING])
    assert str(exited.value.code) == (
        f"error: --labels {table}: the built-in landscape scenes paint ids 0..13, but the table lacks tree (6), bush "
        "(7), grass (8), flower (9), sand (10), sea (11) …: give each of them a name and colour, or train on a folder "
        "of your own label maps (--data FOLDER)")
    assert not (tmp_path / "run").exists()


# The evaluation segmenter's cache is data too.

@pytest.mark.parametrize("card, weights, message", [
    ("{nope", None, r"segmenter\.json: not a JSON segmenter card"),
    ("[1, 2]", None, r"segmenter\.json: expected a JSON object with the segmenter's training options under \"config\" "
                     r".*found list; name another --segmenter folder, or delete .* if it is a cache"),
    ('{"settings": {}}', None, r"found an object with keys \['settings'\]"),
    (None, {"head.weight": torch.zeros(1)}, r"segmenter\.pth does not fit the segmenter segmenter\.json describes"),
    (None, b"\x80\x02K\x01.", r"segmenter\.pth: refused to load"),
])
def test_a_broken_segmenter_cache_is_refused_naming_the_file(tmp_path, card, weights, message):
    config = segmenter_config("landscape")
    folder = tmp_path / "segmenter"
    folder.mkdir()
    (folder / "segmenter.json").write_text(card or json.dumps({"config": asdict(config)}))
    if isinstance(weights, bytes):
        (folder / "segmenter.pth").write_bytes(weights)
    else:
        torch.save(weights if weights is not None else new_segmenter(config).trained_state(), folder / "segmenter.pth")
    with pytest.raises(InputError, match=message):
        load_or_train_segmenter(config, folder, progress=False)


# Folder names reach the terminal escaped.

def test_models_shows_odd_folder_names_escaped(tmp_path, capsys):
    make_tiny_model(tmp_path / "we\nird\x1b[31m_model")
    make_tiny_model(tmp_path / "plain-é")
    cli(["models", "--root", str(tmp_path)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "we\nird" not in out
    assert out.startswith("plain-é ") and "\n'we\\nird\\x1b[31m_model' " in out
