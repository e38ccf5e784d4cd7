"""Loading is weights_only and strict; presets are inferred; downloads are verified and extracted safely."""
import functools
import hashlib
import io
import itertools
import math
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import QuietFiles, local_server, official_archive
from label_colors import PALETTES, Label

from gaugan import PRESETS, SPADEGenerator, download, load_generator, load_model
from gaugan.checkpoints import find_checkpoints, infer_preset
from gaugan.errors import CheckpointError

MARKER = Path("/tmp/gaugan_pickle_ran_code")


class RunsCode:
    """An object whose unpickling would create MARKER."""

    def __reduce__(self):
        return (MARKER.touch, ())


def test_weights_that_do_not_fit_their_inferred_preset_say_to_give_one(tmp_path):
    from dataclasses import replace

    folder = tmp_path / "coco_pretrained"
    folder.mkdir()
    torch.save(SPADEGenerator(replace(PRESETS["coco"], ngf=4, spade_hidden=8)).state_dict(), folder / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=r"does not fit a SPADEGenerator: .*; its preset was inferred from the "
                                              r"tensor shapes \(coco \(182 labels, dont-care, instance edges\), ngf 4\): "
                                              r"give --preset FILE"):
        load_model(folder)
    with pytest.raises(CheckpointError, match="no preset file nosuch.json"):
        load_model(folder, preset="nosuch.json")


def test_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "latest_net_G.pth"
    torch.save({"fc.weight": torch.zeros(1), "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_generator(path)
    assert not MARKER.exists()


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match=r"latest_net_G\.pth is cut short \(its zip directory is missing\)"):
        load_generator(path)


def test_a_zip_that_torch_did_not_write_is_named_as_such(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights/readme.txt", "not tensors")
    with pytest.raises(CheckpointError, match="it is a zip archive, but not one that torch.save wrote$"):
        load_generator(path)


def test_empty_folder_says_what_it_expected(tmp_path):
    with pytest.raises(CheckpointError, match="latest_net_G.pth"):
        load_generator(tmp_path)


@pytest.mark.parametrize("name", ["coco", "ade20k", "cityscapes"])
def test_official_folder_layout_infers_preset_and_ngf(tmp_path, name):
    folder = tmp_path / f"{name}_pretrained"
    folder.mkdir()
    torch.save(SPADEGenerator(PRESETS[name], ngf=8).state_dict(), folder / "latest_net_G.pth")
    generator = load_generator(folder)
    assert generator.preset.name == name and generator.preset.ngf == 8
    assert generator.preset.num_upsampling_layers == ("more" if name == "cityscapes" else "normal")
    assert not generator.training
    assert find_checkpoints(tmp_path) == {f"{name}_pretrained": folder}


def test_an_edited_builtin_palette_with_a_clash_is_named_when_the_model_loads(tmp_path, monkeypatch):
    """label_colors.py is where users edit palettes: two classes given one colour must not decode silently."""
    folder = tmp_path / "coco_pretrained"
    folder.mkdir()
    torch.save(SPADEGenerator(PRESETS["coco"], ngf=4).state_dict(), folder / "latest_net_G.pth")
    assert len(load_model(folder).labels) == 182
    edited = list(PALETTES["coco"])
    edited[1] = edited[1]._replace(rgb=edited[2].rgb)
    monkeypatch.setitem(PALETTES, "coco", edited)
    with pytest.raises(CheckpointError, match=r"label_colors\.py, palette 'coco': invalid palette: colours of 1 "):
        load_model(folder)


@pytest.mark.parametrize("preset, added, message", [
    ("coco", 200, "left out 'added' (200): this generator takes label ids 0..182 or 255 (dont-care)"),
    ("cityscapes", 255, "left out 'added' (255): this generator takes label ids 0..34"),
])
def test_an_edited_builtin_palette_label_past_the_generator_is_left_out_with_a_note(tmp_path, monkeypatch, preset,
                                                                                   added, message):
    """Its chip would paint an id the generator has no input channel for, failing only when used."""
    folder = tmp_path / f"{preset}_pretrained"
    folder.mkdir()
    torch.save(SPADEGenerator(PRESETS[preset], ngf=4).state_dict(), folder / "latest_net_G.pth")
    free = next(rgb for rgb in itertools.product(range(0, 256, 15), repeat=3)  # a colour far from every label's
                if all(math.dist(rgb, label.rgb) > 20 for label in PALETTES[preset]))
    monkeypatch.setitem(PALETTES, preset, [*PALETTES[preset], Label(added, "added", free)])
    loaded = load_model(folder)
    assert loaded.labels == PALETTES[preset][:-1]
    assert f"label_colors.py, palette '{preset}': {message}" in loaded.notes


def test_dataparallel_prefix_is_stripped(tmp_path):
    state = {"module." + k: v for k, v in SPADEGenerator(PRESETS["ade20k"], ngf=8).state_dict().items()}
    torch.save(state, tmp_path / "latest_net_G.pth")
    assert load_generator(tmp_path).preset.name == "ade20k"


def test_unknown_channel_count_is_explained():
    state = SPADEGenerator(PRESETS["ade20k"], ngf=8).state_dict()
    state["head_0.norm_0.mlp_shared.0.weight"] = torch.zeros(128, 99, 3, 3)
    with pytest.raises(CheckpointError, match="99 semantic input channels matches no official preset"):
        infer_preset(state)


def test_download_from_a_local_file(tmp_path):
    archive = official_archive(tmp_path)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = download(str(archive), tmp_path / "checkpoints", sha256=sha)
    assert load_generator(dest / "ade20k_pretrained").preset.name == "ade20k"


def test_download_from_a_local_http_server_reports_progress(tmp_path):
    archive = official_archive(tmp_path)
    seen = []
    with local_server(functools.partial(QuietFiles, directory=str(tmp_path))) as base:
        dest = download(f"{base}/{archive.name}", tmp_path / "checkpoints", progress=lambda *p: seen.append(p))
    size = archive.stat().st_size
    assert seen and seen[-1] == (size, size) and {total for _, total in seen} == {size}
    assert all(a < b for (a, _), (b, _) in zip(seen, seen[1:])), "progress only moves forward"
    assert (dest / "ade20k_pretrained" / "latest_net_G.pth").is_file()
    assert not list((tmp_path / "checkpoints").glob("tmp*")), "temporary files left behind"


def test_checksum_mismatch_keeps_nothing(tmp_path):
    archive = official_archive(tmp_path)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        download(str(archive), tmp_path / "checkpoints", sha256="0" * 64)
    assert not (tmp_path / "checkpoints").exists(), "the folder it made goes too"


@pytest.mark.parametrize("member", ["../../escaped.txt", "checkpoints/../../escaped.txt", "/escaped.txt"])
def test_archive_escaping_dest_is_refused_naming_the_member_as_written(tmp_path, member):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"owned"
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(CheckpointError) as refusal:
        download(str(archive), tmp_path / "dest")
    assert str(refusal.value) == (f"evil.tar.gz: refused: member {member!r} leads outside the destination; "
                                  "expected paths that stay inside it")
    assert not (tmp_path / "escaped.txt").exists() and not Path("escaped.txt").exists()
    assert not (tmp_path / "dest").exists()


def test_load_model_returns_generator_encoder_labels_and_card(tmp_path):
    from helpers import make_tiny_model

    from gaugan import load_model
    from label_colors import PALETTES

    loaded = load_model(make_tiny_model(tmp_path / "tiny"))
    assert loaded.generator.preset.name == "landscape" and not loaded.generator.training
    assert loaded.encoder is not None and loaded.encoder.fc_mu.out_features == loaded.generator.preset.z_dim
    assert loaded.labels == PALETTES["landscape"] and loaded.card.description == "test model"
    assert loaded.card.files == {"generator": "generator.pth", "encoder": "encoder.pth"} and loaded.notes == []

    official = tmp_path / "ade20k_pretrained"
    official.mkdir()
    torch.save(SPADEGenerator(PRESETS["ade20k"], ngf=4).state_dict(), official / "latest_net_G.pth")
    nvidia = load_model(official)
    assert nvidia.encoder is None and nvidia.card is None and nvidia.labels == PALETTES["ade20k"]


def test_the_one_writer_of_model_json_refuses_an_invalid_card(tmp_path):
    from gaugan.checkpoints import save_model, update_card

    generator = SPADEGenerator(PRESETS["ade20k"], ngf=2)
    with pytest.raises(CheckpointError, match=r"labels\[0\]\.rgb must be an integer in 0\.\.255, found 256"):
        save_model(tmp_path / "m", generator, {"labels": [{"id": 1, "name": "wall", "rgb": [256, 0, 0]}]})
    assert not (tmp_path / "m").exists()
    save_model(tmp_path / "m", generator, {"description": "ok"})
    update_card(tmp_path / "m", evaluation={"miou": 0.5})
    assert load_generator(tmp_path / "m").preset.name == "ade20k"
    assert '"miou": 0.5' in (tmp_path / "m" / "model.json").read_text()
