"""The generator matches NVIDIA's checkpoints key for key and computes the documented forward pass."""
from dataclasses import replace

import pytest
import torch
from helpers import manifest, randomize_, reference_forward

from gaugan import PRESETS, SPADEGenerator, encode_semantics, load_generator
from gaugan.errors import CheckpointError
from gaugan.networks.generator import block_schedule

CASES = [(p, n) for p in ("coco", "ade20k", "cityscapes") for n in (64, 8)]


def state_from_manifest(entries: list[dict], seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for e in entries:
        dtype = getattr(torch, e["dtype"])
        if dtype == torch.int64:
            state[e["key"]] = torch.zeros(e["shape"], dtype=dtype)
        elif e["key"].endswith("running_var"):
            state[e["key"]] = torch.rand(e["shape"], generator=g) + 0.5
        else:
            state[e["key"]] = torch.randn(e["shape"], generator=g) * 0.02
    return state


def test_an_unknown_preset_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"expected a Preset or one of \['ade20k', 'cityscapes', 'coco'\], "
                                         r"found 'cocostuff'"):
        SPADEGenerator("cocostuff")


@pytest.mark.parametrize("fields, message", [
    ({"crop_size": 16}, r"crop_size 16 is too small for 5 upsampling layers at aspect ratio 1\.0: the generator would "
                        r"start from a 0×0 grid"),
    ({"ngf": -1}, r"ngf -1: expected a positive value"),
    ({"label_nc": 0}, r"label_nc 0: expected a positive value"),
    ({"aspect_ratio": 0.0}, r"aspect_ratio 0\.0: expected a positive value"),
    ({"label_nc": 2.5, "crop_size": 64.5}, r"label_nc 2\.5, crop_size 64\.5: expected whole numbers"),
    ({"ngf": True}, r"ngf True: expected whole numbers"),
])
def test_a_hand_built_preset_the_generator_cannot_have_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        SPADEGenerator(replace(PRESETS["coco"], **fields))
    with pytest.raises(TypeError, match="expected a Preset or one of .*, found NoneType"):
        SPADEGenerator(None)


@pytest.mark.parametrize("preset,ngf", CASES)
def test_state_dict_matches_manifest(preset, ngf):
    ref = manifest(preset, ngf)
    generator = SPADEGenerator(preset, ngf=ngf)  # an official preset by name
    assert generator.preset == replace(PRESETS[preset], ngf=ngf)
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in generator.state_dict().items()]
    assert ours == [(e["key"], e["shape"], e["dtype"]) for e in ref["state_dict"]]
    assert sum(p.numel() for p in generator.parameters()) == ref["num_parameters"]
    metadata = generator.state_dict()._metadata
    for module, meta in ref["state_dict_metadata_spectral_norm"].items():
        assert metadata[module]["spectral_norm"] == meta["spectral_norm"]


@pytest.mark.parametrize("preset", ["coco", "ade20k", "cityscapes"])
def test_manifest_state_loads_strictly_and_generates(preset):
    ref = manifest(preset, 8)
    generator = SPADEGenerator(PRESETS[preset], ngf=8)
    generator.load_state_dict(state_from_manifest(ref["state_dict"]), strict=True)
    generator.eval()
    h, w = ref["derived"]["output_hw"]
    label = torch.randint(0, PRESETS[preset].label_nc, (1, 1, h, w))
    with torch.inference_mode():
        y = generator(encode_semantics(label, label, PRESETS[preset]))
    assert y.shape == (1, 3, h, w)
    assert y.abs().max() <= 1


@pytest.mark.parametrize("preset", ["coco", "cityscapes"])
def test_forward_equals_documented_reference(preset):
    p = PRESETS[preset]
    generator = randomize_(SPADEGenerator(p, ngf=8), seed=3).eval()
    label = torch.randint(0, p.label_nc, (1, 1, *p.output_size), generator=torch.Generator().manual_seed(5))
    label[..., :40, :40] = 255 if p.contain_dontcare_label else 0
    seg = encode_semantics(label, label, p)
    with torch.inference_mode():
        ours = generator(seg)
    expected = reference_forward(generator.state_dict(), seg, p.sh, p.sw, p.num_upsampling_layers)
    assert (ours - expected).abs().max() < 1e-4
    assert ours.std() > 0.05, "output saturated or constant: the comparison would be meaningless"


def test_cityscapes_needs_more_upsampling():
    """'normal' at crop 512 gives the same shapes but a different (wrong) image."""
    p = PRESETS["cityscapes"]
    right = randomize_(SPADEGenerator(p, ngf=8), seed=1).eval()
    wrong = SPADEGenerator(replace(p, num_upsampling_layers="normal"), ngf=8).eval()
    wrong.load_state_dict(right.state_dict(), strict=True)
    label = torch.randint(0, 35, (1, 1, 256, 512))
    seg = encode_semantics(label, label, p)
    with torch.inference_mode():
        a = right(seg)
        b = wrong(seg)
    assert a.shape == b.shape and (a - b).abs().max() > 0.1


@pytest.mark.parametrize("legacy_format", [False, True])
@pytest.mark.parametrize("with_zeros", [False, True])
def test_old_torch_spectral_norm_layout_loads(tmp_path, with_zeros, legacy_format):
    """torch 1.0 saved the normalised `weight` and no `weight_v`; it must give the same output, also where some
    weights are exactly 0 (torch's own conversion divides by them) and in torch's legacy file format."""
    p = PRESETS["ade20k"]
    generator = randomize_(SPADEGenerator(p, ngf=8), seed=2).eval()
    if with_zeros:
        for name, weight in generator.named_parameters():
            if name.endswith("weight_orig"):
                weight.data.view(-1)[::7] = 0
    old = {}
    for key, value in generator.state_dict().items():
        if key.endswith(".weight_v"):
            continue
        old[key] = value.clone()
        if key.endswith(".weight_orig"):
            prefix = key[: -len("_orig")]
            u, v = generator.state_dict()[prefix + "_u"], generator.state_dict()[prefix + "_v"]
            sigma = torch.dot(u, value.reshape(value.shape[0], -1) @ v)
            old[prefix] = value / sigma
    folder = tmp_path / "ade20k_pretrained"
    folder.mkdir()
    torch.save(old, folder / "latest_net_G.pth", _use_new_zipfile_serialization=not legacy_format)
    loaded = load_generator(folder)
    label = torch.randint(0, 151, (1, 1, 256, 256))
    seg = encode_semantics(label, None, p)
    with torch.inference_mode():
        assert (loaded(seg) - generator(seg)).abs().max() < 1e-4


def test_use_vae_variant_maps_z_through_linear():
    p = replace(PRESETS["ade20k"], use_vae=True, z_dim=16)
    generator = SPADEGenerator(p, ngf=8).eval()
    assert isinstance(generator.fc, torch.nn.Linear) and generator.fc.out_features == 16 * 8 * p.sh * p.sw
    seg = encode_semantics(torch.zeros(2, 1, 256, 256, dtype=torch.long), None, p)
    z = torch.randn(2, 16)
    with torch.inference_mode():
        y1, y2 = generator(seg, z), generator(seg, z)
    assert y1.shape == (2, 3, 256, 256) and torch.equal(y1, y2)


def test_wrong_checkpoint_names_the_keys(tmp_path):
    state = SPADEGenerator(PRESETS["coco"], ngf=8).state_dict()
    del state["up_1.norm_s.mlp_beta.bias"]
    state["extra.weight"] = torch.zeros(3)
    state["conv_img.bias"] = torch.zeros(4)
    folder = tmp_path / "coco_pretrained"
    folder.mkdir()
    torch.save(state, folder / "latest_net_G.pth")
    with pytest.raises(CheckpointError) as err:
        load_generator(folder)
    message = str(err.value)
    assert "up_1.norm_s.mlp_beta.bias" in message and "extra.weight" in message
    assert "conv_img.bias: expected (3,), found (4,)" in message


@pytest.mark.parametrize("upsampling", ["normal", "more", "most"])
def test_block_schedule_reaches_the_output_size(upsampling):
    preset = replace(PRESETS["ade20k"], num_upsampling_layers=upsampling, ngf=8)
    schedule = block_schedule(preset)
    generator = SPADEGenerator(preset)
    blocks = [name.split(".")[0] for name in generator.state_dict() if name.endswith("conv_0.bias")]
    assert [spec.name for spec in schedule] == blocks  # running order is NVIDIA's key order
    doublings = sum(spec.upsample for spec in schedule)
    assert (preset.sh << doublings, preset.sw << doublings) == preset.output_size
    assert all(a.fout == b.fin for a, b in zip(schedule, schedule[1:]))
    assert [spec.name for spec in schedule if not spec.upsample] == (
        ["head_0", "G_middle_1"] if upsampling == "normal" else ["head_0"])
