"""GauGAN pipeline and CLI: any input size, seeds, styles, official and own checkpoints."""
import numpy as np
import pytest
import torch
from helpers import ROOT, coco_sample, coco_sample_names, make_tiny_model, randomize_
from PIL import Image

from gaugan import PRESETS, GauGAN, SPADEGenerator, encode_semantics, instance_map
from gaugan.__main__ import main as cli
from gaugan.labelmaps import write_label_map
from gaugan.errors import InputError, SeedError
from gaugan.pipeline import MAX_SEED, to_uint8_image
from gaugan.semantics import resize_nearest
from label_colors import PALETTES


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return GauGAN.from_checkpoint(make_tiny_model(tmp_path_factory.mktemp("models") / "tiny"))


def doodle(h: int, w: int) -> np.ndarray:
    labels = np.zeros((h, w), np.int64)
    labels[h // 2:] = 8
    labels[h // 3: h // 2, w // 4: w // 2] = 2
    return labels


def test_output_has_the_input_size_and_is_deterministic_per_seed(tiny):
    image = tiny.generate(doodle(50, 83), seed=1)
    assert image.size == (83, 50) and image.mode == "RGB"
    again = tiny.generate(doodle(50, 83), seed=1)
    other = tiny.generate(doodle(50, 83), seed=2)
    assert np.array_equal(np.asarray(image), np.asarray(again))
    assert not np.array_equal(np.asarray(image), np.asarray(other))


@pytest.mark.parametrize("options", [{}, {"keep_aspect": True}, {"native_size": True}])
def test_an_unknown_id_is_refused_even_where_the_resize_to_the_model_grid_skips_it(tiny, options):
    labels = doodle(300, 300)
    labels[3, :] = 99  # row 3 of 300 falls between the rows a nearest resize to 64 rows samples
    with pytest.raises(InputError, match=r"label ids must lie in 0\.\.13 .*found \[99\]"):
        tiny.generate(labels, seed=1, **options)


def test_a_map_made_for_an_nvidia_model_is_refused_naming_the_models_that_take_it(tiny):
    with pytest.raises(InputError, match=r"found \[.*255\].*; these ids fit NVIDIA's coco model, which `gaugan "
                                         r"download` installs$"):
        tiny.generate(coco_sample(coco_sample_names()[0])[0], seed=1)  # COCO-Stuff ids, up to 182 and 255
    labels = doodle(50, 83)
    labels[:5] = 20
    with pytest.raises(InputError, match=r"found \[20\]; these ids fit NVIDIA's coco or ade20k or cityscapes model"):
        tiny.generate(labels, seed=1)
    labels[:5] = 200  # no official model has label 200
    with pytest.raises(InputError, match=r"found \[200\]$"):
        tiny.generate(labels, seed=1)


@pytest.mark.parametrize("keep_aspect", [False, True])
def test_an_instance_map_of_another_shape_is_refused_whether_or_not_the_model_takes_one(tiny, keep_aspect):
    with pytest.raises(InputError, match=r"instance map shape \(3, 3\) differs from labels shape \(50, 83\)"):
        tiny.generate(doodle(50, 83), instance=np.zeros((3, 3), np.int64), keep_aspect=keep_aspect)


def test_model_card_supplies_labels_and_encoder(tiny):
    assert [l.name for l in tiny.labels] == [l.name for l in PALETTES["landscape"]]
    assert tiny.has_style_encoder


def test_style_photo_steers_the_output(tiny):
    red, blue = Image.new("RGB", (40, 30), (200, 20, 20)), Image.new("RGB", (40, 30), (20, 20, 200))
    a = tiny.generate(doodle(64, 64), style=tiny.encode_style(red))
    b = tiny.generate(doodle(64, 64), style=tiny.encode_style(blue))
    again = tiny.generate(doodle(64, 64), seed=99, style=tiny.encode_style(red))
    assert np.array_equal(np.asarray(a), np.asarray(again)), "a style code must override the seed"
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_official_model_output_matches_the_raw_generator():
    generator = randomize_(SPADEGenerator(PRESETS["coco"], ngf=8), seed=4).eval()
    model = GauGAN(generator, PALETTES["coco"], device="cpu", fast=False)
    label, instance = coco_sample(coco_sample_names()[2])
    image = model.generate(label, instance)
    small_label = torch.from_numpy(resize_nearest(label.astype(np.int64), (256, 256)))[None, None]
    small_instance = torch.from_numpy(resize_nearest(instance.astype(np.int64), (256, 256)))[None, None]
    with torch.inference_mode():
        y = generator(encode_semantics(small_label, small_instance, PRESETS["coco"]))[0]
    expected = Image.fromarray(to_uint8_image(y)).resize(image.size, Image.BICUBIC)
    assert image.size == (label.shape[1], label.shape[0])
    assert np.array_equal(np.asarray(image), np.asarray(expected))


def test_instance_map_is_computed_when_not_given():
    generator = randomize_(SPADEGenerator(PRESETS["coco"], ngf=8), seed=4).eval()
    model = GauGAN(generator, PALETTES["coco"], device="cpu")
    labels = np.full((256, 256), 156)
    labels[100:150, 20:60] = 0
    labels[100:150, 70:110] = 0
    assert np.array_equal(np.asarray(model.generate(labels)),
                          np.asarray(model.generate(labels, instance_map(labels, PRESETS["coco"].thing_ids))))


def test_resize_nearest_is_centre_sampled_like_pil():
    labels = np.random.default_rng(0).integers(0, 200, (37, 53)).astype(np.uint8)
    for size in [(64, 64), (20, 31), (256, 512)]:
        ours = resize_nearest(labels, size)
        pil = np.asarray(Image.fromarray(labels).resize(size[::-1], Image.NEAREST))
        assert np.array_equal(ours, pil)


@pytest.mark.parametrize("labels, message", [
    (np.full((8, 8), 40), r"0\.\.13.*\[40\]"),
    (np.zeros((8, 8), np.float32), "integer"),
    (np.zeros((2, 8, 8), np.int64), "2-D"),
])
def test_bad_labels_raise_clear_errors(tiny, labels, message):
    with pytest.raises(ValueError, match=message):
        tiny.generate(labels)


def test_cli_generates_a_file_and_a_folder(tmp_path, tiny):
    model_dir = make_tiny_model(tmp_path / "m")
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_label_map(inputs / "a.png", doodle(40, 60))
    write_label_map(inputs / "b.png", doodle(64, 64), PALETTES["landscape"])
    cli(["generate", "--checkpoint", str(model_dir), "--labels", str(inputs / "a.png"), "--out", str(tmp_path / "a.png")])
    assert Image.open(tmp_path / "a.png").size == (60, 40)
    cli(["generate", "--checkpoint", str(model_dir), "--labels", str(inputs), "--out", str(tmp_path / "out")])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]


def test_cli_reports_user_errors_without_a_traceback(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    write_label_map(tmp_path / "x.png", doodle(32, 32))
    with pytest.raises(SystemExit) as exit_info:
        cli(["generate", "--checkpoint", str(tmp_path / "empty"), "--labels", str(tmp_path / "x.png"),
             "--out", str(tmp_path / "y.png")])
    assert "error: no generator weights" in str(exit_info.value)
    with pytest.raises(SystemExit) as exit_info:
        cli(["generate", "--labels", str(tmp_path / "missing.png"), "--out", str(tmp_path / "y.png")])
    assert f"error: {tmp_path / 'missing.png'}: no such file or folder; expected an image, or a folder of label maps" \
        in str(exit_info.value)


@pytest.mark.parametrize("seed", [np.int64(5), np.uint8(5), np.array(5), 5])
def test_integer_like_seeds_give_the_same_image(tiny, seed):
    assert np.array_equal(np.asarray(tiny.generate(doodle(32, 32), seed=seed)), np.asarray(tiny.generate(doodle(32, 32), seed=5)))


def test_the_largest_seed_works_and_seeds_outside_the_range_are_refused(tiny):
    tiny.generate(doodle(16, 16), seed=MAX_SEED)
    for seed in (MAX_SEED + 1, 2**70, -1, np.uint64(2**64 - 1)):
        with pytest.raises(SeedError, match=r"seed must be an integer in 0\.\.9223372036854775807 \(2\*\*63 - 1\), found"):
            tiny.generate(doodle(16, 16), seed=seed)
    for seed in (1.5, "5", True, np.float32(2)):
        with pytest.raises(SeedError, match=f"seed must be an integer in 0..{MAX_SEED}, found {type(seed).__name__}"):
            tiny.generate(doodle(16, 16), seed=seed)


def test_no_seed_draws_one_without_touching_torchs_global_generator(tiny):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    tiny.generate(doodle(16, 16))
    assert torch.equal(torch.rand(3), expected)


def test_the_cli_gives_the_librarys_image_for_a_seed_and_refuses_a_huge_one(tmp_path, tiny):
    model_dir = make_tiny_model(tmp_path / "m")
    write_label_map(tmp_path / "a.png", doodle(40, 60))
    cli(["generate", "--checkpoint", str(model_dir), "--labels", str(tmp_path / "a.png"), "--out", str(tmp_path / "o.png"),
         "--seed", "123456789012"])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")),
                          np.asarray(tiny.generate(doodle(40, 60), seed=123456789012, keep_aspect=True)))
    cli(["generate", "--checkpoint", str(model_dir), "--labels", str(tmp_path / "a.png"), "--out", str(tmp_path / "s.png"),
         "--seed", "7", "--stretch"])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s.png")), np.asarray(tiny.generate(doodle(40, 60), seed=7)))
    with pytest.raises(SystemExit, match="error: seed must be an integer in 0..9223372036854775807"):
        cli(["generate", "--checkpoint", str(model_dir), "--labels", str(tmp_path / "a.png"), "--out", str(tmp_path / "p.png"),
             "--seed", str(2**70)])
    assert not (tmp_path / "p.png").exists()


def test_native_size_keeps_the_models_grid(tiny):
    assert tiny.generate(doodle(50, 83), seed=1, native_size=True).size == (64, 64)
    assert tiny.generate(doodle(50, 83), seed=1, native_size=True, keep_aspect=True).size == (64, 39)


def test_keep_aspect_paints_the_map_unstretched_with_its_instances():
    label, instance = coco_sample(coco_sample_names()[0])
    model = GauGAN(randomize_(SPADEGenerator(PRESETS["coco"], ngf=4)), PALETTES["coco"], device="cpu")
    h, w = label.shape
    assert h != w, "a COCO sample that is not square"
    image = model.generate(label, instance, seed=2, keep_aspect=True)
    assert image.size == (w, h)
    assert not np.array_equal(np.asarray(image), np.asarray(model.generate(label, instance, seed=2)))
    assert not np.array_equal(np.asarray(image), np.asarray(model.generate(label, np.zeros_like(instance), seed=2,
                                                                           keep_aspect=True))), "instances are used"
    with pytest.raises(ValueError, match="instance map shape"):
        model.generate(label, instance[:-1], keep_aspect=True)


@pytest.mark.parametrize("style, found", [("day", 'found str "day"'),
                                          (torch.zeros(64), r"found a torch.float32 tensor of shape \(64,\)"),
                                          (torch.full((1, 64), float("nan")), r"found a torch.float32 tensor of shape "
                                                                              r"\(1, 64\) holding NaN or infinite values"),
                                          (np.zeros((300, 400, 3)), r"found a float64 array of shape \(300, 400, 3\)$")])
def test_a_style_that_is_neither_a_photo_nor_a_style_code_is_refused(style, found):
    model = GauGAN.from_checkpoint(ROOT / "checkpoints" / "landscape", device="cpu")
    with pytest.raises(InputError, match=r"style must be a photo \(a PIL image\) whose look to copy or its code from "
                                         rf"encode_style \(a finite float tensor of shape \(1, 64\)\), {found}"):
        model.generate(np.zeros((64, 64), np.uint8), seed=0, style=style)


def test_a_style_code_of_any_float_type_paints_and_a_photo_must_be_an_image():
    model = GauGAN.from_checkpoint(ROOT / "checkpoints" / "landscape", device="cpu")
    labels, dusk = np.zeros((64, 64), np.uint8), model.looks["Dusk"]
    assert np.array_equal(np.asarray(model.generate(labels, style=dusk.double())),
                          np.asarray(model.generate(labels, style=dusk)))
    for photo, found in (("photo.png", 'found str "photo.png"'),
                         (np.zeros((32, 32, 3), np.uint8), r"found a uint8 array of shape \(32, 32, 3\)")):
        with pytest.raises(InputError, match=rf"a style photo must be a PIL image \(gaugan.images.read_photo reads a "
                                             rf"file into one\), {found}"):
            model.encode_style(photo)


def test_models_load_by_the_names_gaugan_models_lists(tmp_path, monkeypatch):
    from gaugan import load_generator, shipped_checkpoint

    monkeypatch.chdir(tmp_path)  # no ./checkpoints here: the names are the shipped models'
    labels = doodle(40, 60)
    by_name = GauGAN.from_checkpoint("landscape", device="cpu")
    assert by_name.name == "landscape"
    assert np.array_equal(np.asarray(by_name.generate(labels, seed=2)),
                          np.asarray(GauGAN.from_checkpoint(shipped_checkpoint(), device="cpu").generate(labels, seed=2)))
    assert load_generator("landscape").preset.name == "landscape"
    make_tiny_model(tmp_path / "mine" / "tiny")
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(tmp_path / "mine"))
    assert GauGAN.from_checkpoint("tiny", device="cpu").preset.crop_size == 64
    mine = tmp_path / "landscape"  # a folder of that name here, weights without a card: a path on disk wins
    mine.mkdir()
    torch.save(SPADEGenerator(PRESETS["coco"], ngf=4).state_dict(), mine / "generator.pth")
    assert GauGAN.from_checkpoint("landscape", device="cpu").preset.name == "coco"
    assert GauGAN.from_checkpoint("./landscape", device="cpu").preset.name == "coco"
    (mine / "generator.pth").unlink()  # a folder of that name without weights (a data folder): the name wins
    assert GauGAN.from_checkpoint("landscape", device="cpu").preset.name == "landscape"
    with pytest.raises(InputError, match=r"checkpoints/coco_pretrained: no such model folder or weights file, no model "
                                         r"folder of that name in .*mine, and no shipped model of that name"):
        GauGAN.from_checkpoint("checkpoints/coco_pretrained")


def test_the_fast_path_leaves_the_generator_it_was_given_whole():
    from gaugan.presets import landscape_preset

    generator = randomize_(SPADEGenerator(landscape_preset(64, 8, 16)), seed=5).train()  # a VAE generator, training
    generator(encode_semantics(torch.zeros(1, 1, 64, 64, dtype=torch.long), None, generator.preset),
              torch.zeros(1, generator.preset.z_dim))  # a training step's forward leaves spectral norm's weights in the graph
    before = {name: value.clone() for name, value in generator.state_dict().items()}
    fast = GauGAN(generator, PALETTES["landscape"], device="cpu")
    labels = doodle(64, 64)
    image = np.asarray(fast.generate(labels, seed=1)).astype(int)
    after = generator.state_dict()
    assert type(generator.head_0).__name__ == "SPADEResnetBlock" and after.keys() == before.keys()
    assert all(torch.equal(after[name], value) for name, value in before.items())
    assert generator.training and all(p.requires_grad for p in generator.parameters()), "its mode and grads stay"
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(1.5)  # the caller trains on: the fast path shares none of its tensors
    assert np.array_equal(np.asarray(fast.generate(labels, seed=1)).astype(int), image)
    generator.load_state_dict(before)
    reference = np.asarray(GauGAN(generator, PALETTES["landscape"], device="cpu", fast=False).generate(labels, seed=1))
    assert np.abs(image - reference).max() <= 1, "the generator still paints what the fast path paints"


def test_gaugan_refuses_what_is_no_generator_and_labels_it_has_no_channel_for():
    generator = SPADEGenerator(landscape_preset_of(64))
    with pytest.raises(InputError, match=r'GauGAN takes a SPADEGenerator, found str "landscape"; GauGAN\.from_checkpoint'):
        GauGAN("landscape", PALETTES["landscape"])
    with pytest.raises(InputError, match=r"labels 'bench' \(14\), .* have no input channel in this generator, which "
                                         r"takes label ids 0\.\.13"):
        GauGAN(generator, PALETTES["coco"])


def test_ids_out_of_range_are_named_as_they_are_with_the_dont_care_id_in_the_range():
    from dataclasses import replace

    model = GauGAN(SPADEGenerator(landscape_preset_of(64)), PALETTES["landscape"], device="cpu")
    huge = np.zeros((8, 8), np.uint64)
    huge[2, 3] = 2**63
    with pytest.raises(InputError, match=r"found \[9223372036854775808\]"):
        model.generate(huge)
    dont_care = replace(landscape_preset_of(64), contain_dontcare_label=True)
    model = GauGAN(SPADEGenerator(dont_care), PALETTES["landscape"], device="cpu")
    assert model.generate(np.full((8, 8), 255)).size == (8, 8)
    with pytest.raises(InputError, match=r"label ids must lie in 0\.\.14 or 255 \(dont-care\) .*found \[20\]"):
        model.generate(np.full((8, 8), 20))


def landscape_preset_of(crop: int):
    from gaugan.presets import landscape_preset

    return landscape_preset(crop, 4, 8)
