"""Model folders are data: model.json is validated, weights must be finite tensors, files stay inside the folder."""
import collections
import copy
import hashlib
import io
import json
import os
import pickle
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, coco_sample, coco_sample_names, make_tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gaugan import PRESETS, GauGAN, SPADEGenerator, load_model
from gaugan.__main__ import main as cli
from gaugan.errors import CheckpointError, InputError, LabelMapError
from gaugan.labelmaps import write_label_map
from gaugan.model_card import parse_card


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture
def folder(tmp_path, tiny_folder) -> Path:
    """A fresh copy of the tiny model folder (generator.pth, encoder.pth, model.json)."""
    copy_ = tmp_path / "model"
    copy_.mkdir()
    for path in tiny_folder.iterdir():
        (copy_ / path.name).write_bytes(path.read_bytes())
    return copy_


def fingerprint(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def edit_card(folder: Path, change) -> None:
    card = json.loads((folder / "model.json").read_text())
    change(card)
    (folder / "model.json").write_text(json.dumps(card))


def refused(folder: Path, message: str, error: type = CheckpointError) -> None:
    """Loading is refused with the message, and nothing in or beside the folder changes."""
    before = fingerprint(folder.parent)
    with pytest.raises(error, match=message):
        load_model(folder)
    assert fingerprint(folder.parent) == before


def set_label(field: str, value):
    return lambda card: card["labels"][1].__setitem__(field, value)


@pytest.mark.parametrize("change, message", [
    (set_label("rgb", [300, 0, 0]), r"labels\[1\]\.rgb must be an integer in 0\.\.255, found 300"),
    (set_label("rgb", [110, 165, 245]), r"labels\[1\] \('clouds'\) repeats the colour \(110, 165, 245\) of 'sky-other'"),
    (set_label("id", 0), r"repeats the id 0 of 'sky-other'"),
    (set_label("rgb", [113, 168, 248]), r"labels: .*colours of 0 'sky-other' \(110, 165, 245\) and 1 'clouds' "
                                        r"\(113, 168, 248\) are 5\.2 apart \(need at least 10\.0\)"),
    (set_label("name", "Sky-Other"), r"labels\[1\] \('Sky-Other'\) repeats the name sky-other of 'sky-other'"),
    (set_label("id", 1e13), r"labels\[1\]\.id must be an integer in 0\.\.13, found float 10000000000000\.0"),
    (set_label("id", 1.5), r"labels\[1\]\.id must be an integer in 0\.\.13, found float 1\.5"),
    (set_label("id", 14), r"labels\[1\]\.id must be an integer in 0\.\.13, found 14"),
    (set_label("id", True), r"labels\[1\]\.id must be an integer .*found bool"),
    (set_label("name", ""), r"labels\[1\]\.name must be a non-empty string"),
    (set_label("name", "x" * 65), r"labels\[1\]\.name must be at most 64 characters"),
    (set_label("name", "sky\u202egnp.exe"), r"labels\[1\]\.name must be plain text, found control characters \['0x202e'\]"),
    (set_label("rgb", "#ff0000"), r"labels\[1\]\.rgb must be \[r, g, b\]"),
    (lambda card: card.__setitem__("labels", {"0": "sky"}), r"labels must be a list .* found dict"),
    (lambda card: card.__setitem__("files", ["generator.pth"]), r"files must be an object .* found list"),
    (lambda card: card["files"].__setitem__("encoder", "../outside/encoder.pth"),
     r"files\.encoder must be a plain file name inside the model folder, found '\.\./outside/encoder\.pth'"),
    (lambda card: card["files"].__setitem__("generator", "/etc/passwd"), r"files\.generator must be a plain file name"),
    (lambda card: card["files"].__setitem__("encoder", "missing.pth"), r"names 'missing\.pth', but there is no such file"),
    (lambda card: card["preset"].__setitem__("crop_size", 1 << 20), r"preset\.crop_size must be an integer in 8\.\.2048"),
    (lambda card: card["preset"].__setitem__("label_nc", "14"), r"preset\.label_nc must be an integer .*found str"),
    (lambda card: card["preset"].__setitem__("aspect_ratio", float("nan")), r"preset\.aspect_ratio must be a number"),
    (lambda card: card["preset"].__setitem__("evil", 1), r"preset has unknown fields \['evil'\]"),
    (lambda card: card["preset"].__setitem__("label_nc", 15), r"does not fit a SPADEGenerator: .*; model\.json's "
     r"preset makes 15 input channels and ngf 4, the weights take 14 and ngf 4: check its label_nc"),
    (lambda card: card["preset"].__setitem__("ngf", 8), r"preset makes 14 input channels and ngf 8, the weights take 14 "
                                                         r"and ngf 4"),
    (lambda card: card["preset"].__setitem__("spade_hidden", 32), r"model\.json's preset may not be the one the "
                                                                  r"weights were trained with: check its crop_size"),
    (lambda card: card["preset"].pop("name"), r"preset lacks the required fields \['name'\]"),
    (lambda card: card.__setitem__("description", "a\x00b"), r"description must be plain text"),
    (lambda card: card.__setitem__("format", "gaugan-model/9"), r"expected format 'gaugan-model/1', found str "),
    (lambda card: card.pop("format"), r"expected format 'gaugan-model/1', found no \"format\" field"),
])
def test_bad_model_cards_are_refused_with_what_was_expected_and_found(folder, change, message):
    edit_card(folder, change)
    refused(folder, message)


def test_markup_in_names_and_description_loads_as_plain_strings(folder):
    hostile = "![x](http://127.0.0.1:9/x.png) <img src=http://127.0.0.1:9/y.png>"
    edit_card(folder, lambda card: (card.__setitem__("description", hostile), set_label("name", hostile[:64])(card)))
    loaded = load_model(folder)
    assert loaded.labels[1].name == hostile[:64] and loaded.card.description == hostile


@pytest.mark.parametrize("text", ["{", "[1, 2", "\xff\xfe", "[" * 100_000 + "]" * 100_000])
def test_unreadable_model_json_is_refused(folder, text):
    (folder / "model.json").write_bytes(text.encode("latin-1"))
    refused(folder, "is not (valid JSON|UTF-8 text)")


def test_an_oversized_model_json_is_refused_unread(folder):
    (folder / "model.json").write_text(json.dumps({"format": "gaugan-model/1", "pad": "x" * (2 << 20)}))
    refused(folder, "a model card is at most 1048576")


def test_an_encoder_linked_from_outside_the_folder_is_refused(folder, tmp_path):
    outside = tmp_path / "outside.pth"
    outside.write_bytes((folder / "encoder.pth").read_bytes())
    (folder / "encoder.pth").unlink()
    (folder / "encoder.pth").symlink_to(outside)
    refused(folder, "leads outside the model folder")


def test_nan_in_generator_weights_is_refused(folder):
    state = torch.load(folder / "generator.pth", weights_only=True)
    state["conv_img.weight"][0, 0, 0, 0] = float("nan")
    state["fc.bias"][0] = float("inf")
    torch.save(state, folder / "generator.pth")
    refused(folder, r"2 tensor\(s\) hold NaN or infinite values \(.*conv_img\.weight")


def test_nan_in_encoder_weights_is_refused(folder):
    state = torch.load(folder / "encoder.pth", weights_only=True)
    state["fc_mu.weight"][0, 0] = float("nan")
    torch.save(state, folder / "encoder.pth")
    refused(folder, r"encoder\.pth: 1 tensor\(s\) hold NaN")


@pytest.mark.parametrize("change, message", [
    (lambda state: state.__setitem__("fc.bias", torch.zeros(1).expand(20_000, 20_000)),
     r"tensor 'fc\.bias' claims shape \(20000, 20000\) but the file holds 4 bytes for it"),
    (lambda state: state.__setitem__("fc.bias", state["fc.bias"].to_sparse()), r"layout torch\.sparse_coo; expected dense"),
    (lambda state: state.__setitem__("conv_img.weight", state["conv_img.weight"].long()),
     r"tensor 'conv_img\.weight' has dtype int64; expected float32, float16, bfloat16 or float64 weights"),
    (lambda state: state.__setitem__("conv_img.weight", state["conv_img.weight"].to(torch.float8_e4m3fn)),
     r"tensor 'conv_img\.weight' has dtype float8_e4m3fn; expected float32, float16"),
    (lambda state: state.__setitem__("norm.num_batches_tracked", torch.zeros((), dtype=torch.float8_e4m3fn)),
     r"tensor 'norm\.num_batches_tracked' has dtype float8_e4m3fn"),
    (lambda state: state.__setitem__("norm.num_batches_tracked", torch.zeros((), dtype=torch.complex64)),
     r"tensor 'norm\.num_batches_tracked' has dtype complex64"),
    (lambda state: state.update(dict.fromkeys((f"view{i}" for i in range(20)), torch.zeros(1 << 18))),
     r"tensors claim \d+ bytes but the file stores \d+ for them \(names sharing one storage\)"),
    (lambda state: state.__setitem__("w" * 100_000, torch.zeros(3, dtype=torch.long)),
     r"tensor 'w{80}'… \(100000 characters\) has dtype int64"),
], ids=["expanded view", "sparse", "integers", "float8", "a float8 counter", "a complex counter",
        "one storage under many names", "a very long name"])
def test_weights_that_are_not_plain_stored_floats_are_refused_before_use(folder, change, message):
    state = torch.load(folder / "generator.pth", weights_only=True)
    change(state)
    torch.save(state, folder / "generator.pth")
    assert (folder / "generator.pth").stat().st_size < 10_000_000
    refused(folder, message)


def test_an_encoder_whose_shapes_claim_a_huge_network_is_refused_unbuilt(folder):
    state = torch.load(folder / "encoder.pth", weights_only=True)
    first = next(k for k in state if k.startswith("features.") and k.endswith(".weight_orig"))
    state[first] = torch.zeros(20_000, *state[first].shape[1:])  # a width that would build a 29 GB network
    torch.save(state, folder / "encoder.pth")
    refused(folder, r"encoder\.pth does not fit a StyleEncoder")


def labels_of(size: int = 64) -> np.ndarray:
    labels = np.zeros((size, size), np.int64)
    labels[size // 2:] = 8
    return labels


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_are_cast_with_a_note(folder, dtype):
    state = torch.load(folder / "generator.pth", weights_only=True)
    torch.save({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, folder / "generator.pth")
    model = GauGAN.from_checkpoint(folder, device="cpu")
    assert any(f"{str(dtype)[6:]} weights cast to float32" in n for n in model.notes)
    assert all(p.dtype == torch.float32 for p in model.network.parameters())
    image = np.asarray(model.generate(labels_of(), seed=3))
    assert image.std() > 0 and image.shape == (64, 64, 3)


@pytest.mark.parametrize("key", ["model", "state_dict", "netG"])
def test_wrapped_state_dicts_are_unwrapped_with_a_note(folder, tiny_folder, key):
    state = torch.load(folder / "generator.pth", weights_only=True)
    torch.save({key: state, "epoch": 7}, folder / "generator.pth")
    wrapped = GauGAN.from_checkpoint(folder, device="cpu")
    plain = GauGAN.from_checkpoint(tiny_folder, device="cpu")
    assert any(f"took the weights from its {key!r} entry" in n for n in wrapped.notes)
    assert np.array_equal(np.asarray(wrapped.generate(labels_of(), seed=1)), np.asarray(plain.generate(labels_of(), seed=1)))


def test_an_html_page_saved_as_weights_is_refused(tmp_path):
    folder = tmp_path / "coco_pretrained"
    folder.mkdir()
    (folder / "latest_net_G.pth").write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    refused(folder, "refused to load; expected a plain state_dict")


class NotATensor:
    pass


class RunsCode:
    def __reduce__(self):
        return os.system, ("true",)  # what a hostile file asks the unpickler to call; weights_only never does


@pytest.mark.parametrize("write, found", [
    (lambda path: path.write_bytes(b"\x80\x02" + bytes(range(256)) * 20), "loading failed: Unsupported operand 0"),
    (lambda path: path.write_bytes(bytes(range(256)) * 20),
     r"loading failed: not a file saved by torch.save (it starts with b'\x00\x01\x02"),
    (lambda path: path.write_bytes(b"junk\n"), r"loading failed: not a file saved by torch.save (it starts with b'junk\n')"),
    (lambda path: path.write_text('[{"id": 0}]'), """loading failed: not a file saved by torch.save (it starts with b'[{"id": 0}]')"""),
    (lambda path: path.write_bytes(b""), "loading failed: not a file saved by torch.save (it is empty)"),
    (lambda path: torch.save({"w": torch.zeros(2), "obj": NotATensor()}, path), "Unsupported global: GLOBAL"),
    (lambda path: torch.save({"w": torch.zeros(2), "obj": RunsCode()}, path), "it asks to run posix.system"),
])
def test_unloadable_weights_say_what_was_found_without_advice_to_load_unsafely(tmp_path, write, found):
    folder = tmp_path / "coco_pretrained"
    folder.mkdir()
    write(folder / "latest_net_G.pth")
    with pytest.raises(CheckpointError) as refusal:
        load_model(folder)
    message = str(refusal.value)
    assert "expected a plain state_dict of tensors" in message and found in message
    assert "False" not in message and "\x1b" not in message and "trust" not in message and len(message) < 500


@pytest.mark.parametrize("share", [0.1, 0.5, 0.99])
def test_weights_cut_short_are_named_so_however_short(tmp_path, share):
    folder = tmp_path / "coco_pretrained"
    folder.mkdir()
    whole = torch_bytes()
    (folder / "latest_net_G.pth").write_bytes(whole[:int(len(whole) * share)])
    with pytest.raises(CheckpointError, match=r"^latest_net_G\.pth is cut short \(its zip directory is missing\): "
                                              r"download or copy it again$"):
        load_model(folder)


def test_the_cli_says_what_a_weights_file_of_junk_is(tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "latest_net_G.pth").write_bytes(b"junk\n")
    write_label_map(tmp_path / "l.png", labels_of())
    with pytest.raises(SystemExit) as exit_:
        cli(["generate", "--checkpoint", str(folder), "--labels", str(tmp_path / "l.png"), "--out", str(tmp_path / "o.png")])
    assert str(exit_.value) == (f"error: {folder / 'latest_net_G.pth'}: refused to load; expected a plain state_dict of "
                                "tensors readable with weights_only=True (no code from the file runs), but loading "
                                "failed: not a file saved by torch.save (it starts with b'junk\\n')")
    assert not (tmp_path / "o.png").exists()


def torch_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(64)}, buffer)
    return buffer.getvalue()


def official_folder(tmp_path: Path, preset, name: str = "coco_pretrained") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    torch.save(SPADEGenerator(preset, ngf=4).state_dict(), folder / "latest_net_G.pth")
    return folder


def test_a_182_channel_coco_generator_is_recognised_from_its_shapes(tmp_path):
    bare = replace(PRESETS["coco"], contain_dontcare_label=False, use_instance=False)
    folder = official_folder(tmp_path, bare, "doodle_app_model")
    model = GauGAN.from_checkpoint(folder, device="cpu", fast=False)
    assert model.preset.semantic_nc == 182 and model.preset.name == "coco" and model.preset.ngf == 4
    assert any("recognised from its 182 input channels as coco (182 labels, no dont-care, no instance edges)" in n
               for n in model.notes)
    label, _ = coco_sample(coco_sample_names()[0])
    with pytest.raises(LabelMapError, match=r"0\.\.181 .*found \[255\].*dont-care"):
        model.generate(label)
    assert np.asarray(model.generate(np.where(label == 255, 156, label))).shape == (*label.shape, 3)


def test_an_ambiguous_generator_needs_a_preset_and_loads_with_one(tmp_path):
    dontcare_only = replace(PRESETS["coco"], use_instance=False)  # 183 channels: dont-care or instance edges?
    folder = official_folder(tmp_path, dontcare_only, "mystery")
    refused(folder, r"183 semantic input channels fits coco \(182 labels, no dont-care, instance edges\) or "
                    r"coco \(182 labels, dont-care, no instance edges\): give a preset JSON")
    preset_json = tmp_path / "preset.json"
    preset_json.write_text(json.dumps(replace(dontcare_only, ngf=4).to_dict()))
    assert load_model(folder, str(preset_json)).generator.preset.use_instance is False
    with pytest.raises(CheckpointError, match="fits coco .* or coco"):
        load_model(folder, "coco")


def test_a_preset_name_fits_the_dont_care_and_instance_channels(tmp_path):
    folder = official_folder(tmp_path, replace(PRESETS["ade20k"], contain_dontcare_label=False), "my_ade")
    loaded = load_model(folder, "ade20k")
    assert loaded.generator.preset.semantic_nc == 150 and loaded.labels[0].name == "other"
    with pytest.raises(CheckpointError, match="preset must be one of .* found 'imagenet'"):
        load_model(folder, "imagenet")


def test_the_cli_takes_a_preset_an_instance_map_and_the_native_size(tmp_path):
    folder = official_folder(tmp_path, PRESETS["coco"], "weights")
    label, instance = coco_sample(coco_sample_names()[1])
    write_label_map(tmp_path / "label.png", label)
    write_label_map(tmp_path / "instance.png", instance)
    run = ["generate", "--checkpoint", str(folder), "--preset", "coco", "--labels", str(tmp_path / "label.png"),
           "--instance", str(tmp_path / "instance.png"), "--native-size"]
    cli([*run, "--out", str(tmp_path / "out.png")])
    cli([*run, "--stretch", "--out", str(tmp_path / "stretched.png")])
    (h, w), side = label.shape, 256
    scale = side / max(h, w)
    assert Image.open(tmp_path / "out.png").size == (round(w * scale), round(h * scale)), "the map's shape at 256²'s scale"
    assert Image.open(tmp_path / "stretched.png").size == (side, side)


def test_a_folder_of_label_maps_takes_a_folder_of_instance_maps_named_as_they_are(tmp_path, capsys):
    folder = official_folder(tmp_path, PRESETS["coco"], "weights")
    names = coco_sample_names()[:3]
    (tmp_path / "labels").mkdir()
    (tmp_path / "instances").mkdir()
    for name in names:
        label, instance = coco_sample(name)
        write_label_map(tmp_path / "labels" / name, label)
        write_label_map(tmp_path / "instances" / name, instance)
    run = ["generate", "--checkpoint", str(folder), "--preset", "coco", "--seed", "1"]
    cli([*run, "--labels", str(tmp_path / "labels"), "--instance", str(tmp_path / "instances"),
         "--out", str(tmp_path / "out")])
    for name in names:  # each as if generated alone with its own instance map
        one = tmp_path / f"one_{name}"
        cli([*run, "--labels", str(tmp_path / "labels" / name), "--instance", str(tmp_path / "instances" / name),
             "--out", str(one)])
        assert np.array_equal(np.asarray(Image.open(one)), np.asarray(Image.open(tmp_path / "out" / name)))
    (tmp_path / "instances" / names[1]).unlink()
    capsys.readouterr()
    with pytest.raises(SystemExit, match=f"1 of 3 inputs refused: {names[1]}"):
        cli([*run, "--labels", str(tmp_path / "labels"), "--instance", str(tmp_path / "instances"),
             "--out", str(tmp_path / "again")])
    assert f"error: {names[1]}: no instance map {names[1]} in {tmp_path / 'instances'}" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted([names[0], names[2]])
    with pytest.raises(SystemExit, match=f"--instance {tmp_path / 'nothere'}: no such file or folder"):
        cli([*run, "--labels", str(tmp_path / "labels"), "--instance", str(tmp_path / "nothere"),
             "--out", str(tmp_path / "refused")])
    with pytest.raises(SystemExit, match="--instance .* is one file, but --labels is a folder"):
        cli([*run, "--labels", str(tmp_path / "labels"), "--instance", str(tmp_path / "instances" / names[0]),
             "--out", str(tmp_path / "refused")])
    with pytest.raises(SystemExit, match="--out would write over files it reads"):
        cli([*run, "--labels", str(tmp_path / "labels"), "--instance", str(tmp_path / "instances"),
             "--out", str(tmp_path / "instances")])


@pytest.mark.parametrize("change, message", [
    (lambda card: card.__setitem__("files", ["generator.pth"]), "error: .*files must be an object"),
    (lambda card: card.__setitem__("labels", {"a": 1}), "error: .*labels must be a list"),
])
def test_the_cli_reports_bad_cards_as_one_line(folder, tmp_path, change, message):
    edit_card(folder, change)
    write_label_map(tmp_path / "l.png", labels_of())
    with pytest.raises(SystemExit, match=message):
        cli(["generate", "--checkpoint", str(folder), "--labels", str(tmp_path / "l.png"), "--out", str(tmp_path / "o.png")])
    assert not (tmp_path / "o.png").exists()


def test_the_cli_reports_a_utf16_model_json_as_one_line(folder, tmp_path, capsys):
    (folder / "model.json").write_text((folder / "model.json").read_text(), encoding="utf-16")
    write_label_map(tmp_path / "l.png", labels_of())
    with pytest.raises(SystemExit, match="error: .*model.json is not UTF-8 text"):
        cli(["generate", "--checkpoint", str(folder), "--labels", str(tmp_path / "l.png"), "--out", str(tmp_path / "o.png")])
    cli(["models", "--root", str(folder.parent)])  # one unreadable card does not stop the listing
    assert "model" in capsys.readouterr().out


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_model_cards_are_accepted_or_refused_cleanly(tiny_folder, data):
    card = json.loads((tiny_folder / "model.json").read_text())
    mutated = copy.deepcopy(card)
    target, parents = mutated, []
    while isinstance(target, (dict, list)) and target and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(target) if isinstance(target, dict) else range(len(target))))
        parents.append((target, key))
        target = target[key]
    if parents:
        holder, key = parents[-1]
        holder[key] = data.draw(json_values)
    else:
        mutated = data.draw(json_values)
    try:
        parsed = parse_card(mutated, "fuzz")
    except InputError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    assert len({l.id for l in parsed.labels}) == len(parsed.labels)
    assert all(all(0 <= c <= 255 for c in l.rgb) for l in parsed.labels)
    assert all("/" not in name for name in parsed.files.values())


def test_a_checkpoint_with_compressed_records_is_refused_before_it_is_unpacked(folder):
    import zipfile

    plain = folder / "generator.pth"
    packed = folder / "packed.pth"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    packed.replace(plain)
    refused(folder, r"record\(s\) are compressed .* torch\.save stores its records uncompressed")


def _state_with_metadata(metadata) -> dict:
    state = collections.OrderedDict(torch.load(ROOT / "checkpoints" / "landscape" / "generator.pth", weights_only=True))
    state._metadata = metadata
    return state


def _zip_with_damaged_directory(path: Path) -> None:
    import struct
    directory_end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 10, 0)  # a directory at junk bytes
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100 + directory_end)


def _stride0_bomb(path: Path) -> None:
    """Spectral norm's load hook would pseudo-invert a 20,000² matrix built from these 4-byte 'tensors'."""
    wide = torch.ones(1).expand(1, 20_000)
    torch.save({"head_0.conv_0.weight_orig": wide, "head_0.conv_0.weight": wide,
                "head_0.conv_0.weight_u": torch.ones(1)}, path)


def _non_utf8_name(path: Path) -> None:
    """A torch.save file whose last directory entry is flagged UTF-8 but its name is not."""
    import struct
    raw = bytearray((ROOT / "checkpoints" / "landscape" / "generator.pth").read_bytes())
    entry = raw.rfind(b"PK\x01\x02")
    flags = struct.unpack("<H", raw[entry + 8:entry + 10])[0] | 0x800
    raw[entry + 8:entry + 10] = struct.pack("<H", flags)
    raw[entry + 46 + struct.unpack("<H", raw[entry + 28:entry + 30])[0] - 1] = 0xFF
    path.write_bytes(bytes(raw))


def _compressed_pickle(path: Path) -> None:
    import zipfile
    buffer = io.BytesIO()
    torch.save({"x": torch.zeros(2)}, buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            deflate = info.filename.endswith("data.pkl")
            target.writestr(info.filename, source.read(info) + (b"\0" * (8 << 20) if deflate else b""),
                            zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)


def _upper_case_pickle(path: Path) -> None:
    """A zip whose 2 MB pickle is named DATA.PKL: torch's zip reader finds it whatever the case."""
    import zipfile
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a/DATA.PKL", pickle.dumps([[] for _ in range(1_000_000)]))
        archive.writestr("a/version", "3\n")


@pytest.mark.parametrize("write, message", [
    (lambda p: torch.save({1: torch.zeros(1)}, p), r"expected tensor names as keys, found \['int'\]"),
    (_upper_case_pickle, r"refused: its index of tensors \(data\.pkl\) is \d{7} bytes"),
    (lambda p: torch.save({"x" * (2 << 20): torch.zeros(1)}, p, _use_new_zipfile_serialization=False),
     r"refused: its pickles \(the index of its tensors\) run past the first 1048576 bytes"),
    (lambda p: torch.save(_state_with_metadata(5), p), r"module versions \(_metadata\) are not what torch"),
    (lambda p: torch.save(_state_with_metadata({"": {"version": "1"}}), p), r"module versions \(_metadata\) are not"),
    (lambda p: torch.save(_state_with_metadata({"head_0.conv_0": {"version": 1, "spectral_norm": 5}}), p),
     r"module versions \(_metadata\) are not"),
    (_zip_with_damaged_directory, r"it is a damaged zip archive \(its directory cannot be read\)"),
    (_stride0_bomb, r"claims shape \(1, 20000\) but the file holds 4 bytes for it"),
    (_compressed_pickle, r"record\(s\) are compressed \('archive/data\.pkl' unpacks to"),
    (_non_utf8_name, r"damaged zip archive|cannot be loaded|refused to load"),
    (lambda p: torch.save({"head_0.conv_0.weight_orig": torch.empty(64, device="meta")}, p),
     r"tensor 'head_0\.conv_0\.weight_orig' is a meta tensor, with no stored values"),
    (lambda p: torch.save({str(i): torch.zeros(1) for i in range(20_001)}, p),
     r"refused: its zip directory lists 20\d{3} records in \d+ bytes; a checkpoint of weights holds one record per "
     r"tensor, at most 20000"),
    (lambda p: torch.save({"x" * (2 << 20): torch.zeros(1)}, p),
     r"refused: its index of tensors \(data\.pkl\) is \d{7} bytes; a checkpoint of weights needs far less"),
    (lambda p: torch.save({"head_0.norm_0.mlp_shared.0.weight": torch.zeros(8, 184, 3, 3),
                           "head_0.conv_0.weight_orig": torch.zeros(8, 1)}, p),
     r"head_0\.conv_0 has 8 output channels; a SPADE generator's has 16 × its width"),
])
def test_listing_or_loading_hostile_weights_refuses_them_in_one_line(tmp_path, capsys, write, message):
    folder = tmp_path / "checkpoints" / "coco_pretrained"  # no model.json: the preset comes from the shapes
    folder.mkdir(parents=True)
    write(folder / "latest_net_G.pth")
    cli(["models", "--root", str(tmp_path / "checkpoints")])
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("coco_pretrained")]
    assert len(listed) == 1 and "spade   unreadable: " in listed[0]
    assert re.search(message, listed[0]), listed[0]
    with pytest.raises(CheckpointError, match=message):
        load_model(folder)


def _legacy_layout_bomb(state: dict, conv: str) -> dict:
    """state in the layout spectral norm wrote before torch 1.1 (a normalised `weight`, no weight_v), but for one
    convolution of a dense (1, 20000) weight: its load hook would pseudo-invert a 20000² matrix (3 GB, minutes)."""
    state = dict(state)
    del state[f"{conv}.weight_v"]
    state[f"{conv}.weight_orig"] = state[f"{conv}.weight"] = torch.ones(1, 20_000)
    return state


@pytest.mark.parametrize("file, conv", [("generator.pth", "head_0.conv_0"), ("encoder.pth", "features.3")])
def test_weights_that_do_not_fit_are_refused_before_a_value_is_read_or_a_load_hook_runs(folder, monkeypatch, file,
                                                                                         conv):
    import importlib

    from gaugan import state_dicts

    torch.save(_legacy_layout_bomb(torch.load(folder / file, weights_only=True), conv), folder / file)

    def forbidden(*args, **kwargs):
        raise AssertionError("weights that do not fit were handed to a load hook")

    def with_values(path, state, notes):
        assert path.name != file, "the values of weights that do not fit were read"
        return read_values(path, state, notes)

    read_values = state_dicts._with_float32_values
    monkeypatch.setattr(state_dicts, "_with_float32_values", with_values)
    spectral_norm = importlib.import_module("torch.nn.utils.spectral_norm")  # the package's name is the function's
    monkeypatch.setattr(spectral_norm.SpectralNorm, "_solve_v_and_rescale", forbidden)
    refused(folder, rf"{file} does not fit a \w+: .*1 unexpected: '{conv}\.weight' \| 1 wrong shape: "
                    rf"{conv}\.weight_orig: expected \(\d+, \d+, 3, 3\), found \(1, 20000\)")


def test_a_tensor_name_with_control_characters_is_shown_quoted_in_the_error(folder):
    state = torch.load(folder / "generator.pth", weights_only=True)
    state["fc.\x1b[2J\rweight"] = torch.zeros(1)
    torch.save(state, folder / "generator.pth")
    with pytest.raises(CheckpointError) as error:
        load_model(folder)
    assert "1 unexpected: 'fc.\\x1b[2J\\rweight'" in str(error.value)
    assert str(error.value).isprintable()


@pytest.mark.parametrize("looks, message", [
    ([0.0] * 8, r"looks must be an object of at most 8 names, each with a style code .*found list"),
    ({f"look {i}": [0.0] * 8 for i in range(9)}, r"looks must be an object of at most 8 names"),
    ({"Day": [0.0] * 7}, r"looks\['Day'\] must be a style code: a list of 8 numbers within ±100, found 7 numbers"),
    ({"Day": [float("nan")] * 8}, r"looks\['Day'\] must be a style code: .* found 8 numbers, 8 of them outside it "
                                  r"\(float NaN\)"),
    ({"Day": [1e300] * 8}, r"looks\[.Day.\] must be .* found 8 numbers, 8 of them outside it \(float 1e\+300\)"),
    ({"Day": [10**400] * 8}, r"looks\[.Day.\] must be .* found 8 numbers, 8 of them outside it \(int 1000000"),
    ({"Day": [True] * 8}, r"looks\['Day'\] must be a style code: .*found list \[true"),
    ({"Day": "0 0 0 0 0 0 0 0"}, r"looks\['Day'\] must be a style code: .*found str"),
    ({"Da\x1b[2Jy": [0.0] * 8}, r"a look's name must be plain text, found control characters \['0x1b'\]"),
    ({"": [0.0] * 8}, r"a look's name must be a non-empty string"),
])
def test_a_card_with_broken_looks_is_refused_in_one_line(folder, looks, message):
    edit_card(folder, lambda card: card.__setitem__("looks", looks))
    refused(folder, r"model\.json: " + message)


def test_looks_on_a_generator_without_style_codes_are_refused(tmp_path):
    folder = make_tiny_model(tmp_path / "plain", use_vae=False)
    edit_card(folder, lambda card: card.__setitem__("looks", {"Day": [0.0] * 8}))
    refused(folder, r"looks are style codes, but this generator takes none \(its preset's use_vae is false\)")


def test_a_legacy_file_whose_values_look_like_a_zip_directory_still_loads(folder):
    """The legacy format is told from a zip by its first bytes, as torch.load does, not by a zip's end record that
    a weight's bytes can spell."""
    state = torch.load(folder / "generator.pth", weights_only=True)
    state["conv_img.bias"][0] = torch.tensor(list(b"PK\x05\x06"), dtype=torch.uint8).view(torch.float32)
    torch.save(state, folder / "generator.pth", _use_new_zipfile_serialization=False)
    assert load_model(folder).generator.conv_img.bias[0] == state["conv_img.bias"][0]


def test_a_file_cut_short_after_its_names_were_checked_is_an_error_not_a_crash(folder):
    from gaugan.checkpoints import adopt_weights
    from gaugan.state_dicts import open_state_dict
    from gaugan.networks import StyleEncoder

    path = folder / "encoder.pth"
    state = open_state_dict(path)  # mapped from disk
    os.truncate(path, 4096)
    with torch.device("meta"):
        encoder = StyleEncoder(8, ndf=4)
    with pytest.raises(CheckpointError, match=r"encoder\.pth is cut short \(its zip directory is missing\)"):
        adopt_weights(encoder, path, state)


@pytest.mark.parametrize("preset", [None, "coco"])
def test_weights_of_another_network_are_named_no_spade_generator_with_their_first_keys(tmp_path, preset):
    folder = tmp_path / "odd_pretrained"
    folder.mkdir()
    torch.save({"w": torch.zeros(3), "b": torch.zeros(1)}, folder / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=r"not a SPADE generator: it has no head_0\.norm_0\.mlp_shared\.0\.weight "
                                              r"or head_0\.conv_0\.weight_orig \(its keys: 'w', 'b'\)$"):
        load_model(folder, preset=preset)
