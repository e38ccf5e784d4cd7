"""Sketch data: "A | B" parsing and direction, sketches/ + images/ pairing with classes, edges from photos,
landscape line sketches, and the paper's crop-and-flip jitter."""
import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.morphology import thin

from gaugan.data.landscape import landscape_scene
from gaugan.data.landscape_sketch import landscape_sketch_pair, line_sketch
from gaugan.data.sketch import SketchSource, augment, edges_sketch, split_aligned
from gaugan.errors import InputError


def save(array: np.ndarray, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_split_aligned_and_direction():
    pair = np.zeros((4, 10, 3), np.uint8)
    pair[:, 5:] = 200
    a, b = split_aligned(pair, "AtoB")
    assert a.shape == b.shape == (4, 5, 3) and a.max() == 0 and b.min() == 200
    b2, a2 = split_aligned(pair, "BtoA")
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    with pytest.raises(ValueError, match="even width"):
        split_aligned(pair[:, :9])
    with pytest.raises(ValueError, match="direction must be one of"):
        split_aligned(pair, "AB")


def test_aligned_folder_with_train_and_test_splits(tmp_path):
    for split, value in (("train", 10), ("test", 90)):
        for i in range(2):
            pair = np.full((32, 64, 3), value, np.uint8)
            pair[:, 32:] = value + 100 + i
            save(pair, tmp_path / split / f"{i}.png")
    train = SketchSource(str(tmp_path), "train", "AtoB")
    sketch, photo, label = train[1]
    assert (sketch.shape, sketch.max(), photo.min(), label) == ((32, 32, 3), 10, 111, 0)
    sketch, photo, _ = SketchSource(str(tmp_path), "test", "BtoA")[0]
    assert sketch.min() == 190 and photo.max() == 90


def test_sketches_and_images_pair_by_stem_with_classes(tmp_path):
    for stem, value in (("a", 1), ("b", 2), ("c", 3)):
        save(np.full((8, 8, 3), value, np.uint8), tmp_path / "sketches" / f"{stem}.png")
        if stem != "c":  # c has no photo: skipped
            save(np.full((8, 8, 3), value * 10, np.uint8), tmp_path / "images" / f"{stem}.jpg")
    (tmp_path / "classes.json").write_text(json.dumps({"a": "shoe", "b": "bag", "c": "shoe"}))
    source = SketchSource(str(tmp_path))
    assert len(source) == 2 and source.classes == ["bag", "shoe"]
    sketch, photo, label = source[1]
    assert sketch.max() == 2 and abs(int(photo.mean()) - 20) <= 2 and label == 0
    (tmp_path / "classes.json").write_text(json.dumps({"a": "shoe"}))
    with pytest.raises(ValueError, match="gives no class for 1 pair"):
        SketchSource(str(tmp_path))


def test_empty_or_missing_folders_say_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="expected 'landscape-sketch' or a folder"):
        SketchSource(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="found no aligned pairs"):
        SketchSource(str(tmp_path))


def test_edges_from_photos_outline_a_shape_in_thin_lines(tmp_path):
    photo = np.zeros((96, 96, 3), np.uint8)
    photo[24:72, 30:66] = 255
    sketch = edges_sketch(photo)
    ink = sketch[:, :, 0] < 128
    assert sketch.shape == photo.shape and (sketch[:, :, 0] == sketch[:, :, 2]).all()
    assert ink[20:76, 26:70].sum() == ink.sum() > 100, "ink only around the rectangle"
    assert not ink[34:62, 40:56].any() and not ink[:10].any(), "no ink inside or far outside"
    assert ink[48].sum() <= 4, "thinned: a row crosses each vertical edge in about one pixel"
    save(photo, tmp_path / "photos" / "p.png")
    made, original, _ = SketchSource(str(tmp_path / "photos"), edges_from_photos=True)[0]
    assert np.array_equal(original, photo) and (made < 128).any()


def test_landscape_line_sketches_follow_the_layout():
    labels, photo = landscape_scene(5, (128, 128), doodle_fraction=0.0)
    sketch, photo_again = landscape_sketch_pair(5, (128, 128))
    assert np.array_equal(photo, photo_again)
    assert np.array_equal(sketch, landscape_sketch_pair(5, (128, 128))[0])
    ink = sketch[:, :, 0] < 128
    assert 0.01 < ink.mean() < 0.25
    boundary = (labels != np.roll(labels, 1, 0)) | (labels != np.roll(labels, 1, 1))
    near = ndimage.distance_transform_edt(~boundary) <= 6
    assert (ink & near).sum() > 0.7 * ink.sum(), "most ink lies on (jittered) label boundaries"
    widths, full_size = [], landscape_scene(5, doodle_fraction=0.0)[0]
    for seed in range(6):  # ink per pixel of line length
        grey = line_sketch(full_size, np.random.default_rng(seed))[:, :, 0].astype(float)
        widths.append((255 - grey).sum() / 255 / thin(grey < 200).sum())
    assert max(widths) > 1.5 * min(widths), "line width varies from sketch to sketch"


def test_augment_crops_and_flips_both_alike():
    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    outs = [augment(image, image, np.random.default_rng(s), 36, 32) for s in range(8)]
    assert all(a.shape == (32, 32, 3) and np.array_equal(a, b) for a, b in outs)
    assert len({a.tobytes() for a, _ in outs}) > 1


def test_photos_are_not_read_as_side_by_side_pairs(tmp_path):
    for i in range(2):
        save(np.full((48, 64, 3), 90, np.uint8), tmp_path / "photos" / f"{i}.jpg")
    with pytest.raises(InputError, match=r"0.jpg is 64×48 \(2 of 2 images are not 2:1\): an 'A \| B' image .* width "
                                         r"must be about twice its height; give --edges-from-photos if these are photos"):
        SketchSource(str(tmp_path / "photos"))
    assert len(SketchSource(str(tmp_path / "photos"), edges_from_photos=True)) == 2
    save(np.full((32, 64, 3), 90, np.uint8), tmp_path / "mixed" / "a_pair.png")  # a pair beside a photo: refused
    save(np.full((48, 64, 3), 90, np.uint8), tmp_path / "mixed" / "b_photo.png")
    with pytest.raises(InputError, match=r"b_photo.png is 64×48 \(1 of 2 images are not 2:1\)"):
        SketchSource(str(tmp_path / "mixed"))


def label_map_folder(root) -> None:
    save(np.zeros((32, 64), np.uint8), root / "labels" / "a.png")
    save(np.full((32, 64, 3), 90, np.uint8), root / "images" / "a.jpg")


@pytest.mark.parametrize("table, split", [(True, ""), (False, "train")])
def test_a_label_map_folder_is_not_read_as_side_by_side_pairs(tmp_path, table, split):
    label_map_folder(tmp_path / "data" / split)
    if table:
        (tmp_path / "data" / "labels.json").write_text(json.dumps([{"id": 0, "name": "sky", "rgb": [1, 2, 3]}]))
    with pytest.raises(InputError, match=r"holds labels/ and images/ \(a label-map dataset\): pix2pix trains on "
                                         r"sketches/ \+ images/ pairs .*'A \| B' images, or photos with "
                                         r"--edges-from-photos; give --photos DIR"):
        SketchSource(str(tmp_path / "data"))
    assert len(SketchSource(str(tmp_path / "data"), edges_from_photos=True)) == 1  # its photos, outlined
