"""Photographic training data: the photo fetcher, texture boxes, the photo-textured renderer, the perceptual loss
and the realism figures."""
import copy
import json
import subprocess
import textwrap
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from gaugan.data.landscape import FLOWER, GRASS, landscape_scene
from gaugan.data.landscape_sketch import landscape_sketch_pair
from gaugan.data.photos import SOURCES, PhotoSource, fetch_photos, photo_id
from gaugan.data.sketch import SketchSource
from gaugan.data.texture_bank import (BOXES_FILE, CROWNS, TextureBank, _light_crowns, is_held_out, load_boxes,
                                     render_photographic)
from gaugan.imagenet import ImageNetFeatures, perceptual_loss, weights_path
from gaugan.realism import frechet_distance, held_out_crops, kid, realism
from label_colors import PALETTES

ROOT_IN_PACKAGE = "usr/share/games/fake/"
COPYRIGHT = textwrap.dedent("""\
    Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
    Upstream-Name: fake

    Files: *
    Copyright: Somebody
    License: public-domain
     Photos donated to the public domain.

    Files: images/land/*-ann*
    Copyright: Ann Example (ann.example)
    License: CC-BY-SA-4.0
    """)


def build_deb(folder, photos: dict[str, np.ndarray], with_copyright: bool = True):
    """A real .deb (dpkg-deb --build) holding the given photos under images/land/ and a DEP-5 copyright file."""
    tree = folder / "tree"
    land = tree / ROOT_IN_PACKAGE / "images" / "land"
    land.mkdir(parents=True)
    for name, pixels in photos.items():
        Image.fromarray(pixels).save(land / name, quality=95)
    (land / "link@2x.jpg").symlink_to("/etc/passwd")
    if with_copyright:
        doc = tree / "usr/share/doc/fake-photos"
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(COPYRIGHT)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text("Package: fake-photos\nVersion: 1.0-1\nArchitecture: all\n"
                                             "Maintainer: t <t@example.org>\nDescription: test photos\n")
    debs = folder / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(debs / "fake-photos_1.0-1_all.deb")],
                   check=True, capture_output=True)
    return debs


FAKE = PhotoSource("fake-photos", ROOT_IN_PACKAGE, "images/land/*@2x.jpg", ("city", "mountain2"))


def gradient_photo(seed: int, size=(72, 144)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    ramp = np.linspace(0, 60, size[0])[:, None, None]
    return np.clip(base + ramp + rng.normal(0, 8, (*size, 3)), 0, 255).astype(np.uint8)


def test_fetch_photos_from_a_local_package(tmp_path):
    photos = {"mountain1@2x.jpg": gradient_photo(1), "sea2-ann@2x.jpg": gradient_photo(2), "city1@2x.jpg": gradient_photo(3),
              "city14-ann@2x.jpg": gradient_photo(4), "mountain2@2x.jpg": gradient_photo(5),
              "mountain20-ann@2x.jpg": gradient_photo(6)}
    debs = build_deb(tmp_path, photos)
    manifest = fetch_photos(tmp_path / "cache", debs, sources=(FAKE,))
    by_id = {e["id"]: e for e in manifest}
    assert set(by_id) == {"mountain1", "sea2-ann", "mountain20-ann"}  # skipped: a family, one photo, the symlink
    assert by_id["mountain1"]["licence"] == "public-domain" and by_id["mountain1"]["author"] == "Somebody"
    assert by_id["sea2-ann"]["licence"] == "CC-BY-SA-4.0" and by_id["sea2-ann"]["author"] == "Ann Example (ann.example)"
    assert by_id["mountain1"]["width"] == 144 and by_id["mountain1"]["height"] == 72
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text()) == manifest
    files = sorted(p.name for p in (tmp_path / "cache" / "photos" / "fake-photos").iterdir())
    assert files == ["mountain1@2x.jpg", "mountain20-ann@2x.jpg", "sea2-ann@2x.jpg"]
    assert not list((tmp_path / "cache").rglob("link*"))


def test_fetch_photos_refuses_a_package_without_licences(tmp_path):
    debs = build_deb(tmp_path, {"mountain1@2x.jpg": gradient_photo(1)}, with_copyright=False)
    with pytest.raises(RuntimeError, match="licences are unknown"):
        fetch_photos(tmp_path / "cache", debs, sources=(FAKE,))
    assert not (tmp_path / "cache" / "manifest.json").exists()


def test_texture_boxes_are_valid():
    boxes = load_boxes()
    names = {label.name for label in PALETTES["landscape"]}
    assert len(boxes) >= 300
    for box in boxes:
        x0, y0, x1, y1 = box["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, box  # inside its photo
        assert x1 - x0 >= 0.05 and y1 - y0 >= 0.03, box
        assert box["label"] in names, box
        assert box["photo"] == photo_id(box["photo"] + "@2x.jpg")
        assert not any(source.skips(box["photo"]) for source in SOURCES), box  # every box's photo is fetched
    trained = {b["label"] for b in boxes if not is_held_out(b["photo"])}
    assert names - trained == {"flower"}  # flowers are painted as specks on grass
    assert 0.1 < np.mean([is_held_out(b["photo"]) for b in boxes]) < 0.3
    assert BOXES_FILE.is_file()


@pytest.fixture(scope="module")
def solid_bank(tmp_path_factory):
    """A bank over synthetic photos: each class's box sits on a photo of one distinct colour with grain."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "photos").mkdir()
    names = [label.name for label in PALETTES["landscape"] if label.name != "flower"]
    rng = np.random.default_rng(0)
    colours = rng.permutation(np.array([[r, g, b] for r in (30, 130, 230) for g in (30, 130, 230) for b in (30, 230)]))
    manifest, boxes, index = [], [], 0
    for name, colour in zip(names, colours):
        pid = f"train{index}"
        while is_held_out(pid):
            index += 1
            pid = f"train{index}"
        index += 1
        pixels = np.clip(colour + rng.normal(0, 6, (90, 180, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "photos" / f"{pid}.png")
        manifest.append({"id": pid, "file": f"photos/{pid}.png"})
        boxes.append({"photo": pid, "label": name, "box": [0.1, 0.1, 0.9, 0.9]})
    held = next(f"held{i}" for i in range(100) if is_held_out(f"held{i}"))
    Image.fromarray(np.full((90, 180, 3), (255, 0, 255), np.uint8)).save(folder / "photos" / f"{held}.png")
    manifest.append({"id": held, "file": f"photos/{held}.png"})
    boxes.append({"photo": held, "label": "sea", "box": [0.0, 0.0, 1.0, 1.0]})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return TextureBank(folder, boxes), held


def _no_fallback() -> np.ndarray:
    pytest.fail("the bank has a texture for every class of these layouts")


def test_photographic_scenes_are_deterministic_and_aligned(solid_bank):
    bank, _ = solid_bank
    a_labels, a_image = landscape_scene(11, bank=bank)
    b_labels, b_image = landscape_scene(11, bank=bank)
    assert np.array_equal(a_labels, b_labels) and np.array_equal(a_image, b_image)
    assert not np.array_equal(a_image, landscape_scene(12, bank=bank)[1])
    checked = 0
    for seed in range(20, 30):
        labels = landscape_scene(seed, (128, 128), bank=bank)[0]
        # without the classes that light and shade change (tests below): trees and bushes, clouds
        labels[np.isin(labels, [bank.ids[name] for name in CROWNS])] = GRASS
        labels[labels == bank.ids["clouds"]] = bank.ids["sky-other"]
        image = render_photographic(labels, bank, np.random.default_rng(seed), _no_fallback)
        inner = ndimage.minimum_filter(labels, 5) == ndimage.maximum_filter(labels, 5)
        inner &= labels != bank.ids["flower"]
        # each label's region carries its own texture: within a band of rows (haze varies by row only), a pixel
        # away from seams is nearest to the median colour of its own label's pixels in that band
        for top in range(0, 128, 16):
            band_labels, band_image, band_inner = labels[top:top + 16], image[top:top + 16], inner[top:top + 16]
            ids = np.setdiff1d(np.unique(band_labels), [bank.ids["flower"]])  # flowers are specks on grass texture
            medians = np.array([np.median(band_image[band_labels == i], axis=0) for i in ids])
            pixels = band_image[band_inner].astype(float)
            nearest = ids[np.linalg.norm(pixels[:, None] - medians[None], axis=-1).argmin(1)]
            assert (nearest == band_labels[band_inner]).mean() > 0.97
            checked += band_inner.sum()
    assert checked > 50_000


def _disc(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    rows, cols = np.indices((size, size))
    return np.hypot(rows - centre[0], cols - centre[1]) < radius


@pytest.mark.parametrize("radius", [8, 20, 40])
@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_crowns_are_lit_from_the_sun_and_cast_their_shadow_away_from_it(radius, side):
    crown, (rows, cols) = _disc(160, (80, 80), radius), np.indices((160, 160))
    tree, grass = np.array([0.2, 0.45, 0.15], np.float32), np.array([0.5, 0.6, 0.3], np.float32)
    image = np.where(crown[..., None], tree, grass)
    sun = np.array([-0.6, 0.8 * side], np.float32)  # up, and to the left (-1) or right (+1)
    inner = _disc(160, (80, 80), radius - 1)
    towards, away = (cols - 80) * side > 0, (cols - 80) * side < 0
    beside = (np.abs(rows - 80 - radius / 4) < radius / 2) & (np.abs(cols - 80) < 1.8 * radius) & ~crown
    for seed in range(5):
        lit = _light_crowns(image, crown, np.zeros_like(crown), sun, 0.4, np.random.default_rng(seed))
        brightness = lit.sum(-1)
        assert brightness[inner & towards].mean() > 1.1 * brightness[inner & away].mean()
        assert brightness[inner & (rows < 80)].mean() > 1.05 * brightness[inner & (rows > 80)].mean()
        assert brightness[beside & away].mean() < 0.9 * brightness[beside & towards].mean(), "shadow away from the sun"
        for mask, colour in ((crown, tree), (~crown, grass)):  # light and shade change brightness, never colour
            cosine = lit[mask] @ colour / (np.linalg.norm(lit[mask], axis=1) * np.linalg.norm(colour))
            assert cosine.min() > 0.999


def test_scenes_shade_their_crowns(solid_bank):
    bank, _ = solid_bank
    labels = np.full((128, 128), GRASS, np.uint8)
    crown = _disc(128, (64, 64), 20)
    labels[crown] = bank.ids["tree"]
    inner = ndimage.binary_erosion(crown, iterations=3)
    texture = bank.crops[bank.ids["tree"]][0][1].reshape(-1, 3).std(0).mean()
    for seed in range(4):
        image = render_photographic(labels, bank, np.random.default_rng(seed), _no_fallback)
        assert image[inner].mean(-1).std() > 2 * texture, "light varies across a crown beyond its texture's grain"


def test_clouds_fade_into_the_sky_around_them_but_not_into_the_ground(solid_bank):
    bank, _ = solid_bank
    labels = np.full((128, 128), bank.ids["sky-other"], np.uint8)
    labels[80:] = bank.ids["mountain"]
    cloud = _disc(128, (70, 64), 30)
    labels[cloud] = bank.ids["clouds"]
    sky, ground = labels == bank.ids["sky-other"], labels == bank.ids["mountain"]
    from_sky, depth = ndimage.distance_transform_edt(~sky), ndimage.distance_transform_edt(cloud)
    near_ground = ndimage.binary_dilation(ground, iterations=5) & ~ndimage.binary_dilation(ground, iterations=2)
    on_ground = cloud & near_ground & (from_sky > 14)  # beyond the softened seam itself
    for seed in range(4):
        image = render_photographic(labels, bank, np.random.default_rng(seed), _no_fallback).astype(float)
        clear, core = image[sky & (from_sky == 0) & ~ndimage.binary_dilation(cloud, iterations=4)].mean(0), \
            image[depth > 20].mean(0)

        def toward_cloud(mask: np.ndarray) -> float:
            return float(np.dot(image[mask].mean(0) - clear, core - clear) / np.dot(core - clear, core - clear))
        assert 0.05 < toward_cloud(cloud & (from_sky <= 2)) < 0.8, "next to clear sky a cloud is a mix of both"
        assert 0.95 < toward_cloud(on_ground) < 1.05, "next to the ground a cloud keeps its edge"


def test_flower_regions_bloom_on_grass(solid_bank):
    bank = copy.copy(solid_bank[0])
    green = np.clip(np.array([60, 120, 40]) + np.random.default_rng(0).normal(0, 4, (60, 120, 3)), 0, 255)
    bank.crops = {**bank.crops, GRASS: [("green", green.astype(np.uint8))]}
    for seed in range(5):
        meadow = bank.texture(FLOWER, 64, 128, np.random.default_rng(seed)).reshape(-1, 3) * 255
        grass = np.linalg.norm(meadow - [60, 120, 40], axis=1) < 30
        yellow = (meadow[:, 0] > 150) & (meadow[:, 1] > 130) & (meadow[:, 2] < 60)
        white = meadow.min(1) > 150
        assert 0.2 < (yellow | white).mean() < 0.6 and (grass | yellow | white).all()
        assert yellow.sum() > white.sum() > 0


def test_a_region_takes_a_crop_that_covers_it_rather_than_mirror_tiling_a_small_one(solid_bank):
    bank = copy.copy(solid_bank[0])
    small = [(f"small{v}", np.full((20, 30, 3), v, np.uint8)) for v in (40, 50)]
    large = [(f"large{v}", np.full((90, 180, 3), v, np.uint8)) for v in (200, 210, 220)]
    bank.crops = {**bank.crops, GRASS: small + large}

    def painted(height: int, width: int) -> set[int]:
        return {round(float(bank.texture(GRASS, height, width, np.random.default_rng(s)).mean() * 255))
                for s in range(30)}
    assert painted(120, 200) == {200, 210, 220}  # only the large crops cover 120x200 within grass's upscale cap
    assert painted(24, 40) == {40, 50, 200, 210, 220}  # every crop covers a small region


def test_held_out_photos_never_enter_the_bank(solid_bank):
    bank, held = solid_bank
    assert held not in bank.photo_ids and len(bank.crops[bank.ids["sea"]]) == 1
    assert all(not is_held_out(p) for p in bank.photo_ids)


def test_sketch_pairs_with_photo_textures_keep_the_layouts_outlines(solid_bank):
    bank, _ = solid_bank
    sketch, photo = landscape_sketch_pair(31, (128, 128), bank)
    plain_sketch, plain_photo = landscape_sketch_pair(31, (128, 128))
    assert np.array_equal(sketch, plain_sketch), "the outlines are the layout's, whatever paints it"
    assert np.array_equal(photo, landscape_scene(31, (128, 128), doodle_fraction=0.0, bank=bank)[1])
    assert np.abs(photo.astype(int) - plain_photo).mean() > 20, "painted with the bank's textures, not noise"
    with pytest.raises(ValueError, match="--photos paints the procedural scenes"):
        SketchSource("some/folder", photos="photos")


def test_perceptual_loss_uses_the_packaged_weights_and_moves():
    features = ImageNetFeatures()
    stored = torch.load(weights_path("efficientnet-lite0"), map_location="cpu", weights_only=True)
    assert torch.equal(features.network._conv_stem.weight, stored["_conv_stem.weight"])
    torch.manual_seed(0)
    target = torch.rand(2, 3, 64, 64) * 2 - 1
    image = torch.zeros(2, 3, 64, 64, requires_grad=True)
    optimiser = torch.optim.Adam([image], lr=0.05)
    losses = []
    for _ in range(8):
        loss = perceptual_loss(features, image, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert perceptual_loss(features, target, target).item() == 0


def test_kid_is_zero_in_expectation_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (300, 32)), rng.normal(0, 1, (300, 32))
    same, _ = kid(a, b)
    different, _ = kid(a, rng.normal(0.7, 1, (300, 32)))
    assert abs(same) < 0.02 and different > 10 * abs(same) and different > 0.05


def test_frechet_distance_on_fewer_images_than_feature_dimensions_warns_nobody():
    """315 crops in 1280 ReLU6 features, some never active, make singular covariances; the figure still prints cleanly."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (40, 64)), rng.normal(0.5, 1, (40, 64))
    a[:, :8] = b[:, :8] = 0  # features no image activates
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(a, b) > frechet_distance(a, rng.normal(0, 1, (40, 64)))


def test_held_out_crops_of_narrow_and_small_photos_are_whole_crops(tmp_path):
    held_out = [f"p{i}" for i in range(100) if is_held_out(f"p{i}")][:3]
    for pid, size in zip(held_out, [(600, 150), (100, 80), (256, 2000)]):  # (height, width): portrait, tiny, wide
        Image.fromarray(gradient_photo(0, size)).save(tmp_path / f"{pid}.png")
    (tmp_path / "manifest.json").write_text(json.dumps([{"id": pid, "file": f"{pid}.png"} for pid in held_out]))
    crops, ids = held_out_crops(tmp_path)
    assert len(crops) == 27 and ids == [pid for pid in sorted(held_out) for _ in range(9)]
    assert {c.shape for c in crops} == {(256, 256, 3)}


@pytest.mark.slow
def test_realism_figures_on_held_out_crops(tmp_path):
    (tmp_path / "photos").mkdir()
    manifest = []
    for i in range(40):
        pid = f"p{i}"
        Image.fromarray(gradient_photo(i, (300, 600))).save(tmp_path / "photos" / f"{pid}.png")
        manifest.append({"id": pid, "file": f"photos/{pid}.png"})
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    crops, ids = held_out_crops(tmp_path)
    assert all(is_held_out(i) for i in ids) and {c.shape for c in crops} == {(256, 256, 3)}
    noise = [np.random.default_rng(i).integers(0, 255, (256, 256, 3), dtype=np.uint8) for i in range(24)]
    alike = [gradient_photo(100 + i, (256, 256)) for i in range(24)]  # the real photos' distribution
    far, near = realism(noise, tmp_path), realism(alike, tmp_path)
    assert far["real_crops"] == len(crops) and far["network"] == "efficientnet-lite1"
    assert far["kid"] > 3 * near["kid"] and far["frechet"] > 2 * near["frechet"]
