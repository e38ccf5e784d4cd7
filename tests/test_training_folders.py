"""Training on a folder of one's own: every pair checked before the first step and bad files named in one-line
errors, label tables checked entry by entry, sketch folders' errors as InputErrors, 16-bit and transparent images
converted properly, suffixes matched in any case, unpaired files reported, mismatched sizes refused."""
import json
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_TRAINING
from PIL import Image

from gaugan.__main__ import main as cli
from gaugan.data.folder import LabelImageFolder, label_entries, read_label_table
from gaugan.data.landscape import landscape_scene
from gaugan.data.registry import open_dataset
from gaugan.data.sketch import SketchSource, read_rgb
from gaugan.errors import InputError
from gaugan.networks import UnetGenerator
from gaugan.networks.random_init import randomize_
from gaugan.presets import Preset
from gaugan.sketch import sketch_converter, save_sketch_model
from label_colors import PALETTES

SIZE = (32, 48)  # (height, width) of the files the tests write


def write_pair(root: Path, stem: str, seed: int = 0, label_suffix: str = ".png", photo_suffix: str = ".jpg") -> None:
    """A landscape label map and its photo under root/labels and root/images."""
    labels, photo = landscape_scene(seed, SIZE)
    for sub in ("labels", "images"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels).save(root / "labels" / f"{stem}{label_suffix}", format="PNG")
    Image.fromarray(photo).save(root / "images" / f"{stem}{photo_suffix}", format="JPEG", quality=90)


def label_folder(root: Path, pairs: int = 3) -> Path:
    """A valid label/image folder with the landscape label table."""
    root.mkdir(parents=True)
    for i in range(pairs):
        write_pair(root, f"s{i}", seed=i)
    (root / "labels.json").write_text(json.dumps(label_entries(PALETTES["landscape"])))
    return root


def sketch_folder(root: Path, pairs: int = 2) -> Path:
    """A valid sketches/ + images/ folder of white sketches with a black stroke beside noise photos."""
    for sub in ("sketches", "images"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(pairs):
        sketch = np.full((*SIZE, 3), 255, np.uint8)
        sketch[5:25, 10 + i] = 0
        Image.fromarray(sketch).save(root / "sketches" / f"p{i}.png")
        photo = np.random.default_rng(i).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
        Image.fromarray(photo).save(root / "images" / f"p{i}.jpg")
    return root


def bomb_png(width: int, height: int) -> bytes:
    """A small PNG whose header claims width × height greyscale pixels, all zero."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\0" * (width + 1) * 64)  # a few rows: decoding would stop long before the end
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def truncated_jpeg(path: Path, keep: float) -> None:
    """Cut a JPEG file down to a share of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def with_ids(path: Path, ids: tuple[int, ...]) -> None:
    """Paint a few pixels of a label map with other ids."""
    labels = np.array(Image.open(path))
    labels[0, :len(ids)] = ids
    Image.fromarray(labels).save(path)


# 1. Every pair is checked when the folder opens, and a bad file is named.

@pytest.mark.parametrize("damage, named, message", [
    (lambda r: truncated_jpeg(r / "images" / "s1.jpg", 0.05), "images/s1.jpg", "not a readable image"),
    (lambda r: (r / "labels" / "s2.png").write_bytes(bomb_png(30000, 30000)), "labels/s2.png",
     "header claims 900,000,000 pixels"),
    (lambda r: (r / "labels" / "s0.png").write_text("hello"), "labels/s0.png", "not a readable image"),
    (lambda r: with_ids(r / "labels" / "s1.png", (200,)), "labels/s1.png", r"label ids \[200\] that .*labels.json"),
    (lambda r: with_ids(r / "labels" / "s2.png", (40, 41)), "labels/s2.png", r"label ids \[40, 41\]"),
])
def test_a_bad_file_is_named_when_the_folder_opens(tmp_path, damage, named, message):
    root = label_folder(tmp_path / "data")
    damage(root)
    with pytest.raises(InputError, match=message) as caught:
        LabelImageFolder(root, (64, 64))
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_colour_label_maps_are_read_through_the_label_tables_colours(tmp_path):
    ids_root, colour_root = label_folder(tmp_path / "ids"), label_folder(tmp_path / "colours")
    colours = np.array([label.rgb for label in PALETTES["landscape"]], np.uint8)
    for path in sorted((colour_root / "labels").glob("*.png")):
        Image.fromarray(colours[np.asarray(Image.open(path))]).save(path)  # the same maps, in their colours
    by_ids, by_colours = LabelImageFolder(ids_root, (64, 96)), LabelImageFolder(colour_root, (64, 96))
    for index in range(3):
        assert np.array_equal(by_ids[index][0], by_colours[index][0])
    by_palette = Image.open(colour_root / "labels" / "s0.png").quantize(colors=16, method=Image.Quantize.FASTOCTREE)
    by_palette.save(colour_root / "labels" / "s0.png")  # as an editor saves it: a palette of its own order
    assert by_palette.mode == "P" and not np.array_equal(np.asarray(by_palette), by_ids[0][0])
    assert np.array_equal(LabelImageFolder(colour_root, (64, 96))[0][0], by_ids[0][0]), "read by colour, not index"
    ids = Image.open(ids_root / "labels" / "s2.png").convert("P")
    ids.putpalette([v for i in range(256) for v in (i, i, i)])  # a palette of other colours: ids by index
    ids.save(ids_root / "labels" / "s2.png")
    assert np.array_equal(LabelImageFolder(ids_root, (64, 96))[2][0], by_ids[2][0])
    path = colour_root / "labels" / "s1.png"
    rgb = np.array(Image.open(path))
    rgb[0, :3] = (1, 2, 3)  # a colour no label has
    Image.fromarray(rgb).save(path)
    with pytest.raises(InputError, match=r"labels/s1.png: holds colours #010203 \(0.2% of its pixels\) that "
                                         r".*labels.json does not list; expected exactly its labels' colours"):
        LabelImageFolder(colour_root, (64, 96))
    (colour_root / "labels.json").unlink()
    with pytest.raises(InputError, match=r"expected 8-bit label ids \(mode L or P\), found mode RGB"):
        LabelImageFolder(colour_root, (64, 96))


def test_a_photo_damaged_past_its_header_is_named_when_read(tmp_path):
    root = label_folder(tmp_path / "data")
    truncated_jpeg(root / "images" / "s1.jpg", 0.6)
    folder = LabelImageFolder(root, (64, 64))  # headers are read up front; decoding every photo would be too slow
    folder[0]
    with pytest.raises(InputError, match="images/s1.jpg.*damaged or truncated"):
        folder[1]


def test_training_stops_before_its_first_step_on_a_bad_label_map(tmp_path):
    from test_train import tiny_config

    from gaugan.train import Trainer

    root = label_folder(tmp_path / "data", pairs=4)
    with_ids(root / "labels" / "s3.png", (99,))
    trainer = Trainer(tiny_config(tmp_path / "run", steps=2, data=str(root)))
    with pytest.raises(InputError, match=r"labels/s3.png: holds label ids \[99\]"):
        trainer.run(progress=False)
    assert trainer.step == 0


def test_a_folder_without_labels_json_is_checked_against_the_table_given_with_labels(tmp_path):
    root = label_folder(tmp_path / "data")
    (root / "labels.json").rename(tmp_path / "labels.json")
    with_ids(root / "labels" / "s2.png", (12,))  # in the landscape table, not in the one given
    table = tmp_path / "labels.json"
    table.write_text(json.dumps(label_entries([l for l in PALETTES["landscape"] if l.id != 12])))
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--data", str(root), "--labels", str(table), "--out", str(tmp_path / "run"), "--steps", "1",
             *TINY_TRAINING])
    assert "labels/s2.png: holds label ids [12] that the run's label table does not list" in str(exited.value.code)
    assert not (tmp_path / "run" / "state.pt").exists(), "refused before the first step"


def test_dont_care_ids_pass_only_for_a_preset_with_a_dont_care_label(tmp_path):
    from test_train import tiny_config

    from gaugan.train import Trainer

    root = label_folder(tmp_path / "data")
    with_ids(root / "labels" / "s1.png", (255,))
    expected = r"labels/s1.png: holds label ids \[255\] that {} does not list \(expected one of \[0, 1, .*13\]; "
    with pytest.raises(InputError, match=expected.format(".*labels.json") + "255 is dont-care only with a preset that "
                       "has a dont-care label"):
        LabelImageFolder(root, SIZE)
    assert len(LabelImageFolder(root, SIZE, dontcare=True)) == 3
    config = tiny_config(tmp_path / "run", steps=1, data=str(root))
    trainer = Trainer(config)
    with pytest.raises(InputError, match=expected.format("the run's label table")):
        trainer.run(progress=False)
    assert trainer.step == 0
    dontcare = replace(Preset.from_dict(config.preset), contain_dontcare_label=True).to_dict()
    Trainer(replace(config, preset=dontcare, out=str(tmp_path / "run2"))).run(progress=False)


@pytest.mark.parametrize("split", ["train", "test"])
def test_each_split_is_checked_against_the_label_table_beside_the_splits(tmp_path, split):
    root = tmp_path / "data"
    for name in ("train", "test"):
        label_folder(root / name, pairs=2)
        (root / name / "labels.json").replace(root / "labels.json")  # one table, beside train/ and test/
    with_ids(root / split / "labels" / "s1.png", (40,))
    with pytest.raises(InputError, match=rf"data/{split}/labels/s1.png: holds label ids \[40\] that .*data/labels.json "):
        open_dataset(str(root), split=split).count()


def test_with_worker_processes_a_bad_file_is_still_named_in_one_line(tmp_path):
    root = label_folder(tmp_path / "data")
    with_ids(root / "labels" / "s2.png", (99,))
    with pytest.raises(SystemExit) as exited:
        cli(["train", "--data", str(root), "--out", str(tmp_path / "run"), "--steps", "2", "--workers", "2",
             *TINY_TRAINING])
    message = str(exited.value.code)
    assert message.startswith("error: ") and r"labels/s2.png: holds label ids [99]" in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("start_method", ["fork", "spawn"])  # spawn: macOS's and Windows' default
def test_worker_processes_share_the_one_scan_of_the_folder(tmp_path, monkeypatch, start_method):
    import multiprocessing

    from test_train import tiny_config

    from gaugan.data import registry
    from gaugan.train import Trainer

    scans = tmp_path / "scans"

    class Counted(LabelImageFolder):
        def __init__(self, *args, **kwargs) -> None:
            with scans.open("a") as log:  # a file, so that scans in worker processes count too
                log.write("scan\n")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(registry, "LabelImageFolder", Counted)
    root = label_folder(tmp_path / "data")
    default = multiprocessing.get_start_method()
    multiprocessing.set_start_method(start_method, force=True)
    try:
        Trainer(tiny_config(tmp_path / "run", steps=2, data=str(root), workers=2)).run(progress=False)
    finally:
        multiprocessing.set_start_method(default, force=True)
    assert scans.read_text() == "scan\n"


# 2. A label table is checked entry by entry, as model.json's is.

@pytest.mark.parametrize("entry, message", [
    ({"id": False, "name": "lake", "rgb": [1, 2, 3]}, 'entry 1 .*"id": false'),
    ({"id": 3, "name": "lake", "rgb": [1, True, 3]}, 'entry 1 .*"rgb": \\[1, true, 3\\]'),
    ({"id": 300, "name": "lake", "rgb": [1, 2, 3]}, 'entry 1 .*"id": 300'),
    ({"id": 3.0, "name": "lake", "rgb": [1, 2, 3]}, 'entry 1 .*"id": 3.0'),
    ({"id": 3, "name": "lake", "rgb": [1, 2, 3], "color": "blue"}, 'entry 1 has not exactly the keys.*"color"'),
    ({"id": 3, "name": "la\x07ke", "rgb": [1, 2, 3]}, "entry 1's name must be plain text"),
])
def test_a_bad_label_table_entry_is_pointed_at(tmp_path, entry, message):
    table = [{"id": 0, "name": "sky", "rgb": [110, 165, 245]}, entry, {"id": 2, "name": "tree", "rgb": [30, 90, 20]}]
    (tmp_path / "labels.json").write_text(json.dumps(table))
    with pytest.raises(InputError, match=message) as caught:
        read_label_table(tmp_path / "labels.json")
    assert "tree" not in str(caught.value), "the bad entry, not the whole table"


# 3. Sketch folders' data errors are InputErrors that say what was wrong.

def odd_width_pair(root: Path) -> None:
    root.mkdir(parents=True)
    Image.new("RGB", (97, 64), "white").save(root / "x.png")


def unmatched_names(root: Path) -> None:
    sketch_folder(root)
    for path in (root / "images").iterdir():
        path.rename(path.with_name("other_" + path.name))


@pytest.mark.parametrize("make, split, message", [
    (lambda r: r.mkdir(), "train", "found no aligned pairs"),
    (unmatched_names, "train", r"no sketch in sketches/ has a photo.*p0.png.*other_p0.jpg"),
    (odd_width_pair, "train", "x.png: .*width must be even; found 97"),
    (lambda r: (sketch_folder(r) / "classes.json").write_text('{"p0": "shoe", '), "train", "classes.json: not a JSON"),
    (lambda r: (sketch_folder(r) / "classes.json").write_text('{"p0": "shoe"}'), "train", "no class for 1 pair"),
    (lambda r: (sketch_folder(r) / "classes.json").write_text('{"p0": "shoe", "p1": 3}'), "train",
     "the class of 'p1' must be a non-empty string"),
    (lambda r: (sketch_folder(r) / "images" / "p1.jpg").write_bytes(b"\xff\xd8\xff" + b"0" * 50), "train",
     "images/p1.jpg: not a readable image"),
    (lambda r: sketch_folder(r / "train"), "test", r"split into train/ but has no test/ or val/ split to evaluate"),
])
def test_sketch_folder_errors_are_input_errors(tmp_path, make, split, message):
    make(tmp_path / "data")
    with pytest.raises(InputError, match=message):
        SketchSource(str(tmp_path / "data"), split)[0]


# 4. 16-bit greys are scaled to 8 bits; transparency is laid onto white.

def grey16(path: Path) -> np.ndarray:
    """Write a 16-bit greyscale ramp; return it as the 8-bit values expected."""
    ramp = np.tile(np.linspace(0, 65535, SIZE[1]).astype(np.uint16), (SIZE[0], 1))
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "I;16"
    return np.round(ramp / 257).astype(np.uint8)


def lines_on_transparent(path: Path) -> np.ndarray:
    """Write black lines on a transparent background; return them as black on white."""
    rgba = np.zeros((*SIZE, 4), np.uint8)
    rgba[10:12, 5:40, 3] = 255
    Image.fromarray(rgba).save(path)
    return np.where(rgba[..., 3:] == 255, 0, 255).repeat(3, axis=2).astype(np.uint8)


def test_16_bit_grey_photos_keep_their_tones_in_label_folders(tmp_path):
    root = label_folder(tmp_path / "data", pairs=1)
    (root / "images" / "s0.jpg").unlink()
    expected = grey16(root / "images" / "s0.png")
    _, photo, _ = LabelImageFolder(root, SIZE)[0]
    assert np.abs(photo[..., 0].astype(int) - expected).max() <= 2


def test_16_bit_and_transparent_files_in_sketch_folders(tmp_path):
    root = sketch_folder(tmp_path / "data", pairs=1)
    expected_sketch = lines_on_transparent(root / "sketches" / "p0.png")
    expected_photo = grey16(root / "images" / "p0.png")
    (root / "images" / "p0.jpg").unlink()
    sketch, photo, _ = SketchSource(str(root))[0]
    assert np.array_equal(sketch, expected_sketch)
    assert np.abs(photo[..., 1].astype(int) - expected_photo).max() <= 1
    assert np.array_equal(read_rgb(root / "sketches" / "p0.png"), expected_sketch)


def test_generate_reads_a_transparent_sketch_as_lines_on_white(tmp_path):
    save_sketch_model(tmp_path / "model", randomize_(UnetGenerator(depth=7, ngf=4)), {})
    expected = lines_on_transparent(tmp_path / "transparent.png")
    Image.fromarray(expected).save(tmp_path / "white.png")
    convert = sketch_converter(tmp_path / "model")
    convert(tmp_path / "transparent.png", tmp_path / "a.png")
    convert(tmp_path / "white.png", tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))


# 5. Suffixes in any case, unpaired files reported, sizes that would stretch refused.

def test_suffixes_match_in_any_letter_case(tmp_path):
    root = label_folder(tmp_path / "data", pairs=0)
    write_pair(root, "upper", label_suffix=".PNG", photo_suffix=".JPG")
    write_pair(root, "mixed", label_suffix=".Png", photo_suffix=".jpeg")
    assert len(LabelImageFolder(root, SIZE)) == 2


def test_unpaired_files_are_counted_and_named(tmp_path, capsys):
    root = label_folder(tmp_path / "data")
    (root / "labels" / "lonely.png").write_bytes((root / "labels" / "s0.png").read_bytes())
    for name in ("orphan1.jpg", "orphan2.jpg"):
        (root / "images" / name).write_bytes((root / "images" / "s0.jpg").read_bytes())
    assert len(LabelImageFolder(root, SIZE)) == 3
    warning = capsys.readouterr().err
    assert warning.startswith("warning: ") and warning.count("\n") == 1
    assert "1 file (lonely.png) in labels/ without a photo" in warning
    assert "2 files (orphan1.jpg, orphan2.jpg) in images/ without a label map" in warning


def test_nothing_paired_names_both_sides(tmp_path):
    root = label_folder(tmp_path / "data", pairs=1)
    (root / "images" / "s0.jpg").rename(root / "images" / "t0.jpg")
    with pytest.raises(InputError, match=r"no label map in labels/ has a photo.*s0.png.*t0.jpg"):
        LabelImageFolder(root, SIZE)


def test_a_pair_of_other_shapes_is_refused_but_a_scaled_one_is_fine(tmp_path):
    root = label_folder(tmp_path / "data", pairs=2)
    labels, photo = landscape_scene(0, (64, 96))
    Image.fromarray(photo).save(root / "images" / "s0.jpg")  # twice the label map's size: the same shape
    Image.fromarray(photo[:, :48]).save(root / "images" / "s1.jpg")  # 48×64 beside a 48×32 label map
    with pytest.raises(InputError, match=r"labels/s1.png is 48×32 but .*images/s1.jpg is 48×64"):
        LabelImageFolder(root, SIZE)
    (root / "images" / "s1.jpg").unlink()
    assert len(LabelImageFolder(root, SIZE)) == 1


def test_a_sketch_pair_of_other_shapes_is_refused(tmp_path):
    root = sketch_folder(tmp_path / "data")
    Image.new("RGB", (20, 100), "white").save(root / "sketches" / "p1.png")
    with pytest.raises(InputError, match=r"sketches/p1.png is 20×100 but .*images/p1.jpg is 48×32"):
        SketchSource(str(root))


def test_a_label_table_nested_past_the_parsers_depth_is_refused_in_one_line(tmp_path):
    table = tmp_path / "labels.json"
    table.write_text("[" * 200_000 + "]" * 200_000)  # within the size bound, beyond Python's recursion limit
    with pytest.raises(InputError, match="not a JSON label table"):
        read_label_table(table)
