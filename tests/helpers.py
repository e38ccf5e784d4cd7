"""Shared test helpers: paths to shared data, non-trivial random weights, an independent reference forward, an
archive laid out like NVIDIA's."""
from __future__ import annotations

import http.server
import json
import re
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gaugan import PRESETS, SPADEGenerator
from gaugan.__main__ import main as cli
from gaugan.networks.random_init import randomize_  # noqa: F401 (the tests' non-trivial weights)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "spade_reference"
COCO_SAMPLES = SHARED / "coco_samples"


# train options for a tiny landscape run (seconds per step on a CPU)
TINY_TRAINING = ["--batch-size", "1", "--crop-size", "64", "--ngf", "4", "--spade-hidden", "8", "--quiet"]

def manifest(preset: str, ngf: int) -> dict:
    return json.loads((REFERENCE / f"{preset}_ngf{ngf}_manifest.json").read_text())


def coco_sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(label, instance) uint8 maps of one COCO-Stuff sample."""
    return (np.array(Image.open(COCO_SAMPLES / "label" / name)), np.array(Image.open(COCO_SAMPLES / "instance" / name)))


def coco_sample_names() -> list[str]:
    return sorted(p.name for p in (COCO_SAMPLES / "label").glob("*.png"))


def legacy_nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """torch's legacy nearest: source index floor(dst * in / out), written out by hand."""
    rows = (torch.arange(size[0]) * x.shape[2] // size[0]).long()
    cols = (torch.arange(size[1]) * x.shape[3] // size[1]).long()
    return x[:, :, rows][:, :, :, cols]


def _sn_weight(state: dict, prefix: str) -> torch.Tensor:
    w = state[prefix + ".weight_orig"]
    sigma = torch.dot(state[prefix + ".weight_u"], w.reshape(w.shape[0], -1) @ state[prefix + ".weight_v"])
    return w / sigma


def _spade(state: dict, p: str, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    mean, var = state[p + ".param_free_norm.running_mean"], state[p + ".param_free_norm.running_var"]
    normalized = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5)
    seg = legacy_nearest(seg, x.shape[2:])
    actv = F.relu(F.conv2d(seg, state[p + ".mlp_shared.0.weight"], state[p + ".mlp_shared.0.bias"], padding=1))
    gamma = F.conv2d(actv, state[p + ".mlp_gamma.weight"], state[p + ".mlp_gamma.bias"], padding=1)
    beta = F.conv2d(actv, state[p + ".mlp_beta.weight"], state[p + ".mlp_beta.bias"], padding=1)
    return normalized * (1 + gamma) + beta


def _block(state: dict, p: str, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    if p + ".conv_s.weight_orig" in state:
        shortcut = F.conv2d(_spade(state, p + ".norm_s", x, seg), _sn_weight(state, p + ".conv_s"))
    else:
        shortcut = x
    dx = F.conv2d(F.leaky_relu(_spade(state, p + ".norm_0", x, seg), 0.2), _sn_weight(state, p + ".conv_0"),
                  state[p + ".conv_0.bias"], padding=1)
    dx = F.conv2d(F.leaky_relu(_spade(state, p + ".norm_1", dx, seg), 0.2), _sn_weight(state, p + ".conv_1"),
                  state[p + ".conv_1.bias"], padding=1)
    return shortcut + dx


def reference_forward(state: dict, seg: torch.Tensor, sh: int, sw: int, upsampling: str = "normal") -> torch.Tensor:
    """The documented non-VAE SPADE generator forward, from a raw state_dict, with no project code."""
    up = lambda t: t.repeat_interleave(2, 2).repeat_interleave(2, 3)  # noqa: E731
    x = F.conv2d(legacy_nearest(seg, (sh, sw)), state["fc.weight"], state["fc.bias"], padding=1)
    x = up(_block(state, "head_0", x, seg))
    x = _block(state, "G_middle_0", x, seg)
    if upsampling in ("more", "most"):
        x = up(x)
    x = _block(state, "G_middle_1", x, seg)
    for name in ["up_0", "up_1", "up_2", "up_3"] + (["up_4"] if upsampling == "most" else []):
        x = _block(state, name, up(x), seg)
    return torch.tanh(F.conv2d(F.leaky_relu(x, 0.2), state["conv_img.weight"], state["conv_img.bias"], padding=1))


def make_tiny_model(folder: Path, use_vae: bool = True) -> Path:
    """A small landscape-space model with random weights, saved like our shipped one."""
    from gaugan.checkpoints import save_model
    from gaugan.looks import LOOKS
    from gaugan.networks import SPADEGenerator, StyleEncoder
    from gaugan.presets import Preset
    from label_colors import PALETTES

    labels = PALETTES["landscape"]
    preset = Preset(name="landscape", label_nc=len(labels), contain_dontcare_label=False, use_instance=False,
                    crop_size=64, ngf=4, z_dim=8, use_vae=use_vae, spade_hidden=8)
    torch.manual_seed(0)
    generator = randomize_(SPADEGenerator(preset), seed=1)
    extra = {"encoder": StyleEncoder(preset.z_dim, ndf=4)} if use_vae else {}
    card = {"labels": [{"id": l.id, "name": l.name, "rgb": list(l.rgb)} for l in labels], "description": "test model"}
    if use_vae:  # built-in looks, as `gaugan looks --record` writes them
        card["looks"] = {name: torch.randn(preset.z_dim).tolist() for name in LOOKS}
    return save_model(folder, generator, card, extra)


def assert_resume_equals_straight_run(make_trainer, config_for, tmp_path) -> None:
    """4 straight steps and 2 + 2 resumed steps leave every module's tensors identical, and their weight averages."""
    straight = make_trainer(config_for(tmp_path / "a", steps=4))
    straight.run(progress=False)
    make_trainer(config_for(tmp_path / "b", steps=2)).run(progress=False)
    resumed = make_trainer(config_for(tmp_path / "b", steps=4))
    assert resumed.step == 2
    resumed.run(progress=False)
    for name, module in straight.modules().items():
        other = resumed.modules()[name].state_dict()
        for key, value in module.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key} differs after resume"
    averages, other = straight.averages.state(), resumed.averages.state()
    assert bool(averages) == bool(straight.config.ema_decay) and averages.keys() == other.keys()
    for name, value in averages.items():
        if isinstance(value, int):
            assert value == other[name] == 4 + 1, "the start and one update per step"
            continue
        for key, tensor in value.items():
            assert torch.equal(tensor, other[name][key]), f"{name}.{key} differs after resume"


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Serves a folder (pass directory=) without logging each request."""

    def log_message(self, *args):
        pass


@contextmanager
def local_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve with handler on 127.0.0.1 in a thread; yields the base URL, stopped afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def official_archive(folder: Path, name: str = "ade20k_pretrained") -> Path:
    """A checkpoints.tar.gz laid out like NVIDIA's: checkpoints/<name>/latest_net_G.pth (an ngf 8 ADE20K generator)."""
    weights = folder / "weights.pth"
    torch.save(SPADEGenerator(PRESETS["ade20k"], ngf=8).state_dict(), weights)
    archive = folder / "checkpoints.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(weights, arcname=f"checkpoints/{name}/latest_net_G.pth")
    return archive


def unescaped(text: str) -> str:
    """Text as a reader sees it: Markdown escapes removed."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(at) -> str:
    """The messages on the page as a reader sees them (Markdown escapes and bold marks removed)."""
    raw = " | ".join(str(e.value) for kind in ("error", "info", "warning", "caption") for e in at.get(kind))
    return unescaped(raw.replace("**", ""))


def model_box(at):
    """The page's Model select-box under AppTest (its key is numbered)."""
    return next(box for box in at.selectbox if box.label == "Model")


def cli_error(argv: list[str]) -> str:
    """The message a refused command line exits with: one line."""
    with pytest.raises(SystemExit) as exited:
        cli(argv)
    message = str(exited.value.code)
    assert "\n" not in message, message
    return message
