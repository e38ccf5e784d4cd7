"""What training reads from others is data: photo folders and their manifest, Debian packages of photos, run folders'
state.pt, cached segmenters and preset files are checked where they enter, and refused in one line that names the
file, within bounded memory."""
import json
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gaugan.__main__ import main as cli
from gaugan.data import photos as photo_module
from gaugan.data.photos import PhotoSource, fetch_photos, read_manifest
from gaugan.data.texture_bank import TextureBank, is_held_out
from gaugan.errors import InputError
from gaugan.tracing import traceable_photo

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
    ([entry(file="")], r"entry 0: expected .*id and file not empty; found file ''"),
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
    with pytest.raises(InputError, match=r"p\.png: photo is 144×72 = 10368 pixels; at most 5000"):
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
        tarfile.open(fileobj=stream, mode="r|", tarinfo=photo_module._BoundedTarInfo)
