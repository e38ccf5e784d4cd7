"""Encoding follows NVIDIA's preprocessing; instance maps follow the COCO convention."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import coco_sample, coco_sample_names
from scipy import ndimage

from gaugan import PRESETS, encode_semantics, instance_map
from gaugan.semantics import encode, instance_edges

CROSS = ndimage.generate_binary_structure(2, 1)


def edges_by_loops(t: np.ndarray) -> np.ndarray:
    """NVIDIA's rule written pixel by pixel: differs from a 4-neighbour -> edge (both sides)."""
    h, w = t.shape
    e = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                if 0 <= y + dy < h and 0 <= x + dx < w and t[y + dy, x + dx] != t[y, x]:
                    e[y, x] = True
    return e


@pytest.mark.parametrize("name", coco_sample_names()[:4])
def test_coco_encoding_matches_nvidia_rules(name):
    label, instance = coco_sample(name)
    label, instance = label[:96, :128], instance[:96, :128]  # the loop reference is slow
    seg = encode_semantics(torch.from_numpy(label)[None, None], torch.from_numpy(instance)[None, None], PRESETS["coco"])
    assert seg.shape == (1, 184, 96, 128)
    one_hot, edges = seg[0, :183], seg[0, 183]
    assert torch.all(one_hot.sum(0) == 1)
    mapped = np.where(label == 255, 182, label)
    assert np.array_equal(one_hot.argmax(0).numpy(), mapped)
    assert np.array_equal(edges.numpy().astype(bool), edges_by_loops(instance))


def test_full_size_coco_sample_dontcare_channel():
    label, instance = coco_sample(coco_sample_names()[0])
    seg = encode_semantics(label[None, None], instance[None, None], PRESETS["coco"])
    assert np.array_equal(seg[0, 182].numpy().astype(bool), label == 255)
    assert (label == 255).any()


def test_out_of_range_ids_are_named():
    label = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    label[0, 0, 0, :3] = torch.tensor([190, 200, 7])
    with pytest.raises(ValueError, match=r"0\.\.182.*\[190, 200\]"):
        encode_semantics(label, label, PRESETS["coco"])


def test_dontcare_in_a_preset_without_it_is_a_clear_error():
    label = torch.full((1, 1, 4, 4), 255, dtype=torch.long)
    with pytest.raises(ValueError, match="255.*dont-care"):
        encode_semantics(label, label, PRESETS["cityscapes"])


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(4, 4, dtype=torch.long), r"\(N, 1, H, W\)"),
    (torch.zeros(1, 1, 4, 4), "integer"),
])
def test_bad_label_tensors(bad, message):
    with pytest.raises(ValueError, match=message):
        encode_semantics(bad, None, PRESETS["ade20k"])


def test_missing_instance_map_is_reported():
    with pytest.raises(ValueError, match="instance"):
        encode_semantics(torch.zeros(1, 1, 4, 4, dtype=torch.long), None, PRESETS["coco"])


def test_instance_map_separates_blobs_and_keeps_stuff():
    labels = np.full((10, 10), 150)
    labels[1:3, 1:3] = 0
    labels[6:9, 6:9] = 0
    labels[1:3, 6:9] = 2
    inst = instance_map(labels, PRESETS["coco"].thing_ids)
    assert np.all(inst[labels == 150] == 150)
    assert len({inst[1, 1], inst[7, 7], inst[1, 7]}) == 3
    assert not set(np.unique(inst[labels < 91])) & set(np.unique(labels[labels >= 91]))


@pytest.mark.parametrize("name", coco_sample_names())
def test_instance_edges_agree_with_shipped_maps_on_stuff_thing_boundaries(name):
    label, instance = coco_sample(name)
    ours = instance_edges(torch.from_numpy(instance_map(label, PRESETS["coco"].thing_ids))).numpy().astype(bool)
    shipped = instance_edges(torch.from_numpy(instance.astype(np.int64))).numpy().astype(bool)
    thing, stuff = label < 91, (label >= 91) & (label != 255)
    boundary = (thing & ndimage.binary_dilation(stuff, CROSS)) | (stuff & ndimage.binary_dilation(thing, CROSS))
    # where a COCO polygon spills over stuff-labelled pixels, the shipped map follows the polygon, not the labels
    spilled = ndimage.binary_dilation(stuff & (instance != label), np.ones((3, 3), bool))
    checked = boundary & ~spilled
    assert np.array_equal(ours[checked], shipped[checked])
    assert ours[boundary].all()


def test_encode_resizes_to_the_model_grid_and_derives_instances():
    label, instance = coco_sample(coco_sample_names()[2])
    preset = PRESETS["coco"]
    channels, edges = encode(label, instance, preset)
    assert channels.shape == edges.shape == (1, 1, 256, 256)
    rows = ((np.arange(256) + 0.5) * label.shape[0] / 256).astype(int)  # centre-sampled nearest, as PIL's
    cols = ((np.arange(256) + 0.5) * label.shape[1] / 256).astype(int)
    expected = np.where(label == 255, preset.label_nc, label)[rows[:, None], cols]
    assert np.array_equal(channels[0, 0].numpy(), expected)
    small, _ = encode(label, instance, preset, size=(64, 96))
    assert small.shape == (1, 1, 64, 96)
    _, derived = encode(label, None, preset)  # instances from the labels' thing blobs
    _, given = encode(label, instance_map(label, preset.thing_ids), preset)
    assert torch.equal(derived, given)
    assert encode(label, None, replace(preset, use_instance=False))[1] is None


def test_encode_says_what_is_wrong():
    label, instance = coco_sample(coco_sample_names()[2])
    with pytest.raises(ValueError, match="instance map shape"):
        encode(label, instance[:-1], PRESETS["coco"])
    with pytest.raises(ValueError, match="integer label ids"):
        encode(label.astype(np.float32), None, PRESETS["coco"])
