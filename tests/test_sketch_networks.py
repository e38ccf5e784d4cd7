"""pix2pix U-Net: the reference state_dict layout, strict loading, and the forward in both inference modes."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT, SHARED, randomize_
from PIL import Image

from gaugan import CheckpointError, InputError, Pix2Pix
from gaugan.networks import ClassConditionalGenerator, PatchGAN, UnetGenerator
from gaugan.sketch import model_kind, save_sketch_model
from gaugan.sketch_train import pix2pix_config_from_args
from gaugan.train import trainer_for

PIX2PIX = SHARED / "pix2pix_reference"


def manifest_entries(norm: str) -> list[tuple[str, list[int], str]]:
    data = json.loads((PIX2PIX / f"unet256_{norm}_manifest.json").read_text())
    return [(e["key"], e["shape"], e["dtype"]) for e in data["state_dict"]]


def released_state(norm: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict built from the manifest alone (keys, shapes, dtypes), with non-trivial values."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in manifest_entries(norm):
        if dtype == "int64":
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 16
            state[key] = torch.randn(shape, generator=g) / fan_in**0.5
    return state


def restated_forward(state: dict, x: torch.Tensor, depth: int, norm: str, eval_mode: bool) -> torch.Tensor:
    """The documented forward, written from the keys alone. As in the reference (its LeakyReLU is in place),
    the skip half of each concatenation is the activated input."""
    def normalise(t, key):
        if eval_mode:
            mean, var = state[key + ".running_mean"], state[key + ".running_var"]
            mean, var = mean[None, :, None, None], var[None, :, None, None]
        else:
            mean, var = t.mean((2, 3), keepdim=True), t.var((2, 3), unbiased=False, keepdim=True)
        t = (t - mean) / torch.sqrt(var + 1e-5)
        if norm == "batch":
            t = t * state[key + ".weight"][None, :, None, None] + state[key + ".bias"][None, :, None, None]
        return t

    def conv(t, key, transpose=False):
        op = F.conv_transpose2d if transpose else F.conv2d
        return op(t, state[key + ".weight"], state.get(key + ".bias"), stride=2, padding=1)

    def level(t, prefix, i):
        if i == 0:
            inner = level(conv(t, prefix + "0"), prefix + "1.model.", 1)
            return torch.tanh(conv(F.relu(inner), prefix + "3", transpose=True))
        a = F.leaky_relu(t, 0.2)
        if i == depth - 1:
            return torch.cat([a, normalise(conv(F.relu(conv(a, prefix + "1")), prefix + "3", True), prefix + "4")], 1)
        inner = level(normalise(conv(a, prefix + "1"), prefix + "2"), prefix + "3.model.", i + 1)
        return torch.cat([a, normalise(conv(F.relu(inner), prefix + "5", True), prefix + "6")], 1)

    return level(x, "model.model.", 0)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_state_dict_is_the_reference_layout(norm):
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in UnetGenerator(norm=norm).state_dict().items()]
    assert ours == manifest_entries(norm)


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("depth", [8, 7])
@pytest.mark.parametrize("eval_mode", [True, False])
def test_forward_equals_the_restated_forward(norm, depth, eval_mode):
    net = randomize_(UnetGenerator(depth=depth, ngf=8, norm=norm), seed=depth).set_inference(eval_mode)
    x = torch.rand(2, 3, 2**depth, 2**depth, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ours = net(x)
        expected = torch.cat([restated_forward(net.state_dict(), x[i:i + 1], depth, norm, eval_mode) for i in range(2)])
    assert ours.shape == (2, 3, 2**depth, 2**depth)
    assert (ours - expected).abs().max() < 1e-4
    assert ours.std() > 0.05  # not saturated or constant


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_released_folder_loads_strictly_and_runs_like_the_reference(tmp_path, norm):
    folder = tmp_path / "edges2shoes_pix2pix"
    folder.mkdir()
    state = released_state(norm)
    torch.save(state, folder / "latest_net_G.pth")
    assert model_kind(folder) == "sketch"
    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[60:200, 120:124] = 0
    for eval_mode in (True, False):
        model = Pix2Pix.from_checkpoint(folder, eval_mode=eval_mode, device="cpu")
        assert model.network.config == {"input_nc": 3, "output_nc": 3, "depth": 8, "ngf": 64, "norm": norm,
                                        "dropout": True}
        ours = np.asarray(model.generate(sketch))
        x = torch.from_numpy(sketch).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            y = restated_forward(state, x, 8, norm, eval_mode)
        expected = ((y[0] + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.abs(ours.astype(int) - expected).max() <= 1  # truncation at a rounding edge may differ by one


def test_grey_released_generators_read_the_sketchs_luma_and_paint_grey(tmp_path):
    """A released U-Net with input_nc 1 (or output_nc 1) loads and runs: the reference feeds it the luma."""
    net = randomize_(UnetGenerator(input_nc=1, output_nc=1, depth=7, ngf=4)).eval()
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    model = Pix2Pix.from_checkpoint(tmp_path, device="cpu")
    sketch = np.full((128, 128, 3), 255, np.uint8)
    sketch[30:100, 60:64] = (200, 40, 40)
    image = model.generate(sketch)
    assert image.mode == "RGB" and image.size == (128, 128)
    grey = np.asarray(Image.fromarray(sketch).convert("L"), np.float32)[None, None] / 127.5 - 1
    with torch.no_grad():
        expected = ((net(torch.from_numpy(grey))[0, 0] + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(np.asarray(image)[..., 1].astype(int) - expected).max() <= 1


def test_module_prefix_and_bare_file_load(tmp_path):
    net = randomize_(UnetGenerator(depth=7, ngf=4))
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, tmp_path / "latest_net_G.pth")
    model = Pix2Pix.from_checkpoint(tmp_path / "latest_net_G.pth", device="cpu")
    assert model.input_size == 128 and model.network.config["ngf"] == 4
    assert model_kind(tmp_path) == "sketch", "a U-Net's latest_net_G.pth is a sketch model whatever the folder name"
    for key, value in net.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value)


def test_wrong_file_names_missing_unexpected_and_misshaped_keys(tmp_path):
    state = UnetGenerator(depth=7, ngf=4).state_dict()
    state.pop("model.model.1.model.2.weight")
    state["model.model.1.extra.weight"] = torch.zeros(3)
    state["model.model.1.model.5.weight"] = torch.zeros(1, 2, 3, 4)
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError) as error:
        Pix2Pix.from_checkpoint(tmp_path, device="cpu")
    message = str(error.value)
    assert "missing: model.model.1.model.2.weight" in message
    assert "unexpected: 'model.model.1.extra.weight'" in message
    assert "model.model.1.model.5.weight: expected (16, 4, 4, 4), found (1, 2, 3, 4)" in message


def test_spade_weights_are_refused_with_the_keys(tmp_path):
    torch.save({"fc.weight": torch.zeros(2, 2), "head_0.conv_0.weight": torch.zeros(2, 2)}, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="missing: model.model.0.weight.*unexpected: 'fc.weight'"):
        Pix2Pix.from_checkpoint(tmp_path, device="cpu")


@pytest.mark.parametrize("edit, message", [
    (lambda card: [card], "expected a JSON object of format"),
    (lambda card: {**card, "network": {**card["network"], "depth": 3}}, "network.depth must be an integer in 5..10, found 3"),
    (lambda card: {**card, "network": {**card["network"], "depth": 40}}, "network.depth must be an integer in 5..10"),
    (lambda card: {**card, "network": {**card["network"], "colour": 1}}, "does not take"),
    (lambda card: {**card, "input_size": 10**6}, "input_size must be an integer in 1..2048, found 1000000"),
    (lambda card: {**card, "input_size": 192}, "input_size must be a multiple of 128 up to 2048, found 192"),
    (lambda card: {**card, "input_size": "abc"}, 'model.json: input_size must be an integer in 1..2048, found str '
                                                 '"abc"'),
    (lambda card: {**card, "input_size": float("inf")}, "input_size must be an integer in 1..2048, found float "
                                                        "Infinity"),
    (lambda card: {**card, "input_size": [256]}, r"input_size must be an integer in 1..2048, found list \[256\]"),
    (lambda card: {**card, "network": {**card["network"], "ngf": -5}}, "model.json: network.ngf must be an integer in "
                                                                      "1..1024, found -5"),
    (lambda card: {**card, "network": {**card["network"], "ngf": 10**9}}, "network.ngf must be an integer in 1..1024, "
                                                                         "found 1000000000"),
    (lambda card: {**card, "network": {**card["network"], "depth": "8"}}, 'network.depth must be an integer in 5..10, '
                                                                         'found str "8"'),
    (lambda card: {**card, "classes": "abc"}, 'model.json: classes must be a list of class names, found str "abc"'),
    (lambda card: {**card, "classes": ["shoe"]}, r"classes must be empty \(a unet network takes no class\)"),
    (lambda card: {**card, "direction": "sideways"}, 'model.json: direction must be one of AtoB, BtoA, found str '
                                                     '"sideways"'),
    (lambda card: {**card, "description": {"a": 1}}, "model.json: description must be a non-empty string, found dict"),
    (lambda card: {**card, "description": "x" * 5000}, "description must be at most 2000 characters"),
])
def test_untrusted_model_cards_are_refused(tmp_path, edit, message):
    save_sketch_model(tmp_path, UnetGenerator(depth=7, ngf=4), {})
    card = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(edit(card)))
    with pytest.raises(CheckpointError, match=message):
        Pix2Pix.from_checkpoint(tmp_path, device="cpu")


@pytest.mark.parametrize("classes, message", [
    (["shoe", "cat", "tree", "dog"], r"classes must be at most 3 names \(one per class\), found list"),
    (["shoe", "shoe"], r'classes must be distinct names, found list \["shoe", "shoe"\]'),
    (["shoe", 7], "classes\\[1\\] must be a non-empty string, found int 7"),
    (["shoe\x1b[2J"], r"classes\[0\] must be plain text, found control characters \['0x1b'\]"),
])
def test_a_conditional_cards_classes_must_be_distinct_names_one_per_class(tmp_path, classes, message):
    network = ClassConditionalGenerator(3, ngf=4, depth=4)
    with pytest.raises(CheckpointError, match=f"model.json: {message}"):
        save_sketch_model(tmp_path / "refused", network, {"classes": classes, "input_size": 64})
    assert not (tmp_path / "refused").exists(), "a card that loading would refuse writes nothing"
    save_sketch_model(tmp_path, network, {"input_size": 64})
    card = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**card, "classes": classes}))
    with pytest.raises(CheckpointError, match=f"model.json: {message}"):
        Pix2Pix.from_checkpoint(tmp_path, device="cpu")


@pytest.mark.parametrize("depth, message", [(1, "found 1"), (11, "found 11")])
def test_a_conditional_cards_depth_is_checked_against_the_depths_it_takes(tmp_path, depth, message):
    save_sketch_model(tmp_path, ClassConditionalGenerator(3, ngf=4, depth=4), {"input_size": 64})
    card = json.loads((tmp_path / "model.json").read_text())
    card["network"]["depth"] = depth
    (tmp_path / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=f"model.json: network.depth must be an integer in 2..10, {message}"):
        Pix2Pix.from_checkpoint(tmp_path, device="cpu")


def test_a_conditional_card_may_name_fewer_classes_than_it_draws(tmp_path):
    save_sketch_model(tmp_path, ClassConditionalGenerator(3, ngf=4, depth=4), {"classes": [], "input_size": 64})
    model = Pix2Pix.from_checkpoint(tmp_path, device="cpu")
    with pytest.raises(ValueError, match=r"draws one of 3 classes: pass --class \(class_id in Python\): 0..2$"):
        model.generate(np.zeros((64, 64, 3), np.uint8))
    assert model.generate(np.zeros((64, 64, 3), np.uint8), class_id=2).size == (64, 64)


def test_the_two_modes_and_seeds(tmp_path):
    net = randomize_(UnetGenerator(depth=7, ngf=8), seed=3)
    save_sketch_model(tmp_path / "m", net, {"description": "test"})
    sketch = np.full((128, 128, 3), 255, np.uint8)
    sketch[30:90, 40:44] = 0
    running = Pix2Pix.from_checkpoint(tmp_path / "m", eval_mode=True, device="cpu")
    image = Pix2Pix.from_checkpoint(tmp_path / "m", eval_mode=False, device="cpu")
    a, b = np.asarray(running.generate(sketch)), np.asarray(image.generate(sketch))
    assert np.abs(a.astype(int) - b).mean() > 1, "running and per-image statistics must differ"
    assert np.array_equal(a, np.asarray(running.generate(sketch)))
    noisy = [np.asarray(image.generate(sketch, seed=s)) for s in (1, 1, 2)]
    assert np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[0], noisy[2])
    assert not np.array_equal(noisy[0], b), "a seed turns the dropout noise on"


def test_generate_keeps_any_size_and_checks_input(tmp_path):
    save_sketch_model(tmp_path / "m", randomize_(UnetGenerator(depth=7, ngf=4)), {})
    model = Pix2Pix.from_checkpoint(tmp_path / "m", device="cpu")
    assert model.generate(Image.new("L", (300, 170), 255)).size == (300, 170)
    assert model.generate(np.zeros((64, 90, 3), np.uint8)).size == (90, 64)
    grey, rgba = np.full((64, 90), 200, np.uint8), np.zeros((64, 90, 4), np.uint8)  # all transparent: white paper
    assert np.array_equal(np.asarray(model.generate(grey)), np.asarray(model.generate(np.dstack([grey] * 3))))
    assert np.array_equal(np.asarray(model.generate(rgba)), np.asarray(model.generate(np.full((64, 90, 3), 255, np.uint8))))
    for bad, found in ((np.zeros((64, 90), np.float32), r"found shape \(64, 90\) dtype float32"),
                       (np.zeros((64, 90, 2), np.uint8), r"found shape \(64, 90, 2\) dtype uint8"),
                       ("sketch.png", r"found the path 'sketch\.png': open it first")):
        with pytest.raises(InputError, match=found):
            model.generate(bad)
    with pytest.raises(ValueError, match="not class-conditional"):
        model.generate(np.zeros((64, 90, 3), np.uint8), class_id=2)


def test_a_wide_sketch_is_painted_as_the_middle_of_a_square_one_not_squashed():
    model = Pix2Pix.from_checkpoint(ROOT / "checkpoints" / "landscape-sketch", device="cpu")
    side = model.input_size
    square = np.asarray(model.generate(np.full((side, side, 3), 255, np.uint8)))
    wide = np.full((side // 2, side, 3), 255, np.uint8)
    assert np.array_equal(np.asarray(model.generate(wide, keep_aspect=True)), square[side // 4: 3 * side // 4])
    assert not np.array_equal(np.asarray(model.generate(wide)), square[side // 4: 3 * side // 4]), "stretched"


@pytest.mark.parametrize("block", ["conv", "mru"])
def test_class_conditional_output_changes_with_the_class(tmp_path, block):
    net = ClassConditionalGenerator(3, ngf=8, depth=4, block=block)
    save_sketch_model(tmp_path / "c", randomize_(net), {"classes": ["shoe", "cat", "tree"], "input_size": 64})
    model = Pix2Pix.from_checkpoint(tmp_path / "c", device="cpu")
    sketch = np.full((64, 64, 3), 255, np.uint8)
    sketch[10:50, 30:33] = 0
    shoe, cat = np.asarray(model.generate(sketch, class_id="shoe")), np.asarray(model.generate(sketch, class_id=1))
    assert np.abs(shoe.astype(int) - cat).mean() > 1
    assert np.array_equal(shoe, np.asarray(model.generate(sketch, class_id=0)))
    with pytest.raises(ValueError, match=r"pass --class \(class_id in Python\)"):
        model.generate(sketch)
    with pytest.raises(ValueError, match="unknown class 'dog'"):
        model.generate(sketch, class_id="dog")


def test_patchgan_is_70_pixels_wide():
    d = PatchGAN(6, ndf=8).eval()  # batch statistics would couple every pixel
    x = torch.zeros(1, 6, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad[0].abs().sum((0, 2)))
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert int(rows.max() - rows.min() + 1) == 70


def test_kinds_of_shipped_and_sketch_folders(tmp_path):
    from helpers import ROOT
    assert model_kind(ROOT / "checkpoints" / "landscape") == "spade"
    save_sketch_model(tmp_path / "s", UnetGenerator(depth=7, ngf=4), {})
    assert model_kind(tmp_path / "s") == "sketch"


def test_loading_a_label_map_model_as_a_sketch_model_says_which_loader_takes_it():
    from gaugan import load_sketch_model

    with pytest.raises(CheckpointError, match=r"this is a label-map \(SPADE\) model \(label maps -> photo\); this takes "
                                              r"sketch models, such as landscape-sketch-reader \(GauGAN\.from_checkpoint"):
        load_sketch_model("landscape")


@pytest.mark.slow
def test_a_released_generator_starts_a_fine_tuning_run_with_its_shape(tmp_path):
    folder = tmp_path / "facades_pix2pix"
    folder.mkdir()
    state = released_state("instance", seed=3)
    torch.save(state, folder / "latest_net_G.pth")
    config = pix2pix_config_from_args({"init": str(folder), "out": str(tmp_path / "run")})
    assert {k: config.sketch[k] for k in ("network", "depth", "ngf", "norm", "dropout")} == \
        {"network": "unet", "depth": 8, "ngf": 64, "norm": "instance", "dropout": True}
    generator = trainer_for(config).generator.state_dict()
    assert generator.keys() == state.keys() and all(torch.equal(generator[k], state[k]) for k in state)
