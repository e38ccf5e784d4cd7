"""What pix2pix training changes in the one trainer (gaugan/train.py): networks, losses and data.

Paper defaults: U-Net generator, 70x70 PatchGAN on cat(sketch, photo), vanilla GAN loss + 100 x L1,
Adam 2e-4 with betas (0.5, 0.999), batch 1, images loaded at 286 and randomly cropped to 256 and flipped.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoints import load_model, load_weights
from .data.sketch import LANDSCAPE_SKETCH, SketchSource, augment
from .data.texture_bank import TextureBank
from .errors import CheckpointError, InputError
from .evaluate import to_tensor
from .imagenet import ImageNetFeatures, perceptual_loss
from .networks import ClassConditionalGenerator, PatchGAN, UnetGenerator
from .networks.conditional import LEVELS as CONDITIONAL_LEVELS
from .networks.unet import LEVELS as UNET_LEVELS
from .presets import Preset
from .shipped import checkpoint_argument
from .sketch import load_sketch_network, save_sketch_model
from .train import STATE_FILE, Trainer, TrainConfig

SKETCH_DEFAULTS = {
    "network": "unet",  # or "conditional" (class-conditional, see gaugan/networks/conditional.py)
    "depth": 8, "ngf": 64, "norm": "batch", "dropout": True,  # U-Net: 8 levels = unet_256 (conditional_depth)
    "block": "conv", "class_planes": 4, "embed_dim": 32,  # conditional network
    "load_size": 286, "crop_size": 256, "direction": "AtoB", "edges_from_photos": False,
    "gan_loss": "vanilla",  # or "lsgan"
    "init": "",  # a sketch model folder (ours or a released pix2pix one) whose generator starts a new run
}
SPADE_ONLY = ("preset", "lambda_feat", "lambda_kl", "d_scales", "encoder_ndf")  # TrainConfig fields pix2pix ignores
DESCRIPTIONS = {LANDSCAPE_SKETCH: "line sketches of the procedural landscapes (gaugan/data/landscape_sketch.py), "
                                  "seeds from 0 upward, paired with their renders"}


def pix2pix_config(sketch: dict | None = None, **overrides) -> TrainConfig:
    """A TrainConfig with the pix2pix paper's hyper-parameters; `sketch` overrides SKETCH_DEFAULTS."""
    options = {**SKETCH_DEFAULTS, **(sketch or {})}
    unknown = set(options) - set(SKETCH_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown sketch options {sorted(unknown)}; known: {sorted(SKETCH_DEFAULTS)}")
    if options["network"] == "conditional" and "depth" not in (sketch or {}):
        options["depth"] = conditional_depth(options["crop_size"])
    paper = {"out": "runs/landscape-sketch", "data": LANDSCAPE_SKETCH, "batch_size": 1, "lr_g": 2e-4, "lr_d": 2e-4,
             "beta1": 0.5, "beta2": 0.999, "lambda_l1": 100.0, "lambda_perceptual": 0.0, "ndf": 64, "d_layers": 3,
             "ema_decay": 0.0}
    return TrainConfig(**{**paper, **overrides, "model": "pix2pix", "sketch": options})


def pix2pix_config_from_args(args: dict) -> TrainConfig:
    """The config for `python -m gaugan train --model pix2pix ...` (unset options keep the paper's values)."""
    given = {k: v for k, v in args.items() if v is not None and v is not False}
    sketch = {k: v for k, v in given.items() if k in SKETCH_DEFAULTS}
    if "crop_size" in sketch and "load_size" not in sketch:
        sketch["load_size"] = round(sketch["crop_size"] * 286 / 256)
    if sketch.get("init"):  # messages name the init as typed; the run keeps it as a path (a shipped name's folder)
        sketch = {**init_network_options(sketch["init"], sketch), **sketch, "init": str(init_folder(sketch["init"]))}
    common = {k: v for k, v in given.items() if k in TrainConfig.__dataclass_fields__ and k not in ("model", "preset")}
    return pix2pix_config(sketch, **common)


def conditional_depth(crop: int) -> int:
    """The conditional network's default depth: the deepest, up to 7, that halves the crop evenly to at least 2×2."""
    fits = [d for d in CONDITIONAL_LEVELS if d <= 7 and crop % 2 ** d == 0 and crop >= 2 ** (d + 1)]
    return max(fits, default=CONDITIONAL_LEVELS[0])


def check_sizes(options: dict) -> None:
    """Refuse a depth, crop or load size the generator cannot train at, naming the options to change (for a resumed
    run, once its saved options are in)."""
    depth, crop, load = options["depth"], options["crop_size"], options["load_size"]
    conditional = options["network"] == "conditional"
    levels, name = (CONDITIONAL_LEVELS, "the class-conditional network") if conditional else (UNET_LEVELS, "a U-Net")
    if depth not in levels:
        raise InputError(f"--depth {depth}: {name} takes {levels[0]} to {levels[-1]} levels")
    if crop % 2 ** depth:
        raise InputError(f"--crop-size {crop}: {name} of depth {depth} halves the image {depth} times, so the crop "
                         f"must be a multiple of {2 ** depth}")
    if conditional and crop == 2 ** depth:  # its instance norms cannot normalise a single pixel
        shallower = f"--depth {depth - 1} or less, or " if depth - 1 in levels else ""
        raise InputError(f"--crop-size {crop} --depth {depth}: the class-conditional network halves the image {depth} "
                         f"times, down to 1×1 pixel, where its instance norm has nothing to normalise; it needs at "
                         f"least 2×2 there: give {shallower}--crop-size {2 * crop} or more")
    if load < crop:
        raise InputError(f"--load-size {load} is smaller than the crop ({crop}) taken from it")


def spade_preset(path: str) -> Preset | None:
    """The preset of the SPADE model (folder or weights file) at path; None where it holds none."""
    try:
        return load_model(path).generator.preset
    except CheckpointError:
        return None


def init_folder(value: str) -> Path:
    """An --init value: a model folder or weights file that exists, else a shipped model's name (as --checkpoint)."""
    try:
        return checkpoint_argument(value)
    except CheckpointError as exc:
        raise CheckpointError(f"--init {exc}") from None


def init_network(path: str) -> torch.nn.Module:
    """The generator of the sketch model --init names; a SPADE model or a network of other than RGB sketches and
    photos (a grey U-Net) is refused in one line that says what it holds."""
    expected = (f"--init {path}: expected a sketch model of RGB sketches and photos (ours or a released <name>_pix2pix "
                "folder)")
    found = init_folder(path)
    try:
        network = load_sketch_network(found)[0]
    except CheckpointError as exc:
        preset = spade_preset(str(found))
        if preset is None:
            raise CheckpointError(f"--init {path}: {exc}") from None
        raise CheckpointError(f"{expected}; found a SPADE generator (preset {preset.name}, {preset.label_nc} labels), "
                              "which paints label maps") from None
    channels = network.config["input_nc"], network.config["output_nc"]
    if channels != (3, 3):
        raise CheckpointError(f"{expected}; found a {type(network).__name__} of {channels[0]}-channel sketches and "
                              f"{channels[1]}-channel photos")
    return network


def init_network_options(folder: str, given: dict) -> dict:
    """The network shape of the sketch model a run starts from; an option given otherwise is an InputError."""
    network = init_network(folder).config
    shape = {"network": "conditional" if "num_classes" in network else "unet",
             **{k: v for k, v in network.items() if k in SKETCH_DEFAULTS}}
    clashes = [f"{k} {shape[k]}, not {given[k]}" for k in shape if k in given and given[k] != shape[k]]
    if clashes:
        raise InputError(f"--init {folder} holds a generator with {'; '.join(clashes)}: leave those options out")
    return shape


def build_generator(options: dict, num_classes: int) -> torch.nn.Module:
    if options["network"] == "conditional":
        return ClassConditionalGenerator(max(1, num_classes), ngf=options["ngf"], depth=options["depth"],
                                         block=options["block"], class_planes=options["class_planes"],
                                         embed_dim=options["embed_dim"])
    return UnetGenerator(depth=options["depth"], ngf=options["ngf"], norm=options["norm"], dropout=options["dropout"])


class SketchBatches:
    """Deterministic batches of (class ids, sketches, photos): batch k on rank r depends on (seed, k, r) only."""

    def __init__(self, config: TrainConfig, rank: int = 0, world: int = 1) -> None:
        self.config, self.rank, self.world = config, rank, world
        o = config.sketch
        size = o["load_size"] if config.data == LANDSCAPE_SKETCH or config.photos else o["crop_size"]  # drawn at size
        self.source = SketchSource(config.data, "train", o["direction"], o["edges_from_photos"], size, config.photos,
                                   config.folder_share)

    def scan(self) -> None:
        """Check a traced folder's pairs once, here, before batches are drawn (SketchSource checks the files of the
        other folders when it opens them)."""
        if self.source.layout == "traced":
            self.source.mixed.scan((self.source.size, self.source.size))

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        o = self.config.sketch
        sketch, photo, label = self.source[index]
        sketch, photo = augment(sketch, photo, np.random.default_rng([self.config.seed, index]), o["load_size"],
                                o["crop_size"])
        return np.ascontiguousarray(sketch), np.ascontiguousarray(photo), label

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        first = (step * self.world + self.rank) * self.config.batch_size
        samples = [self.sample(i) for i in range(first, first + self.config.batch_size)]
        classes = torch.tensor([s[2] for s in samples], dtype=torch.int64)
        return classes, to_tensor([s[0] for s in samples]), to_tensor([s[1] for s in samples])


class Pix2PixTrainer(Trainer):
    """The SPADE trainer's loop, resume, samples and metrics with pix2pix networks, losses and data."""

    def build(self) -> None:
        cfg = self.config
        self.batches = SketchBatches(cfg, self.rank, self.world)
        self.classes = self.batches.source.classes
        self.preset, self.encoder = None, None
        self.generator = build_generator(cfg.sketch, len(self.classes)).to(self.device)
        if cfg.sketch["init"] and not (Path(cfg.out) / STATE_FILE).is_file():  # a resumed run has its own weights
            init = cfg.sketch["init"]
            load_weights(self.generator, init_network(init).state_dict(), f"--init {init}")
        self.discriminator = PatchGAN(6, cfg.ndf, cfg.d_layers, cfg.sketch["norm"]).to(self.device)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_d, betas=betas)
        self.features = ImageNetFeatures().to(self.device) if cfg.lambda_perceptual else None

    def _generate(self, classes: torch.Tensor, sketches: torch.Tensor) -> torch.Tensor:
        if isinstance(self.generator, ClassConditionalGenerator):
            return self.g(sketches, classes)
        return self.g(sketches)

    def _gan_loss(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.full_like(logits, float(real))
        if self.config.sketch["gan_loss"] == "lsgan":
            return F.mse_loss(logits.float(), target.float())
        return F.binary_cross_entropy_with_logits(logits.float(), target.float())

    def train_step(self, classes: torch.Tensor, sketches: torch.Tensor, photos: torch.Tensor) -> dict[str, float]:
        """One discriminator update, then one generator update (the reference's order)."""
        classes = classes.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            fake = self._generate(classes, sketches)
            d_loss = 0.5 * (self._gan_loss(self.d(torch.cat([sketches, fake.detach()], 1)), False)
                            + self._gan_loss(self.d(torch.cat([sketches, photos], 1)), True))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            g_gan = self._gan_loss(self.d(torch.cat([sketches, fake], 1)), True)
            g_l1 = F.l1_loss(fake.float(), photos)
            g_total = g_gan + self.config.lambda_l1 * g_l1
            if self.features:
                g_perceptual = perceptual_loss(self.features, fake, photos)
                g_total = g_total + self.config.lambda_perceptual * g_perceptual
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        self.opt_g.step()
        metrics = {"g_gan": g_gan.item(), "g_l1": g_l1.item(), "d": d_loss.item()}
        return {**metrics, "g_perceptual": g_perceptual.item()} if self.features else metrics

    def write_sample(self, classes: torch.Tensor, sketches: torch.Tensor, photos: torch.Tensor) -> Path:
        """A PNG grid, one row per example: sketch | real | generated."""
        self.generator.eval()
        with torch.no_grad():
            fake = self._generate(classes[:4].to(self.device), sketches[:4].to(self.device)).float().cpu()
        self.generator.train()
        to_np = lambda t: ((t.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)  # noqa: E731
        rows = [np.concatenate([to_np(sketches[:4])[i], to_np(photos[:4])[i], to_np(fake)[i]], 1)
                for i in range(len(fake))]
        path = self.out / "samples" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(rows, 0)).save(path)
        return path


def export_sketch(trainer: Pix2PixTrainer, model_dir: str | Path, extra_card: dict | None = None, *,
                  hardware: str) -> Path:
    """Write a pix2pix run's generator and its model.json (kind sketch) into a model folder."""
    cfg = trainer.config
    source = trainer.batches.source
    if source.layout == "traced":
        description = f"line sketches (gaugan/data/landscape_sketch.py) of {source.mixed.description}"
    else:
        description = DESCRIPTIONS.get(cfg.data, f"sketch/photo pairs from {cfg.data}") + (
            ", painted with real photo textures (texture_bank.py)" if cfg.photos else "")
    card = {
        "description": description,
        "input_size": cfg.sketch["crop_size"], "classes": trainer.classes, "direction": cfg.sketch["direction"],
        "training": {**{k: v for k, v in asdict(cfg).items() if k not in SPADE_ONLY}, "steps_done": trainer.step,
                     "wall_seconds": round(trainer.wall_seconds), "hardware": hardware},
        **(extra_card or {}),
    }
    if cfg.photos:
        card["training_photos"] = TextureBank.credits(cfg.photos)
    return save_sketch_model(model_dir, trainer.generator.eval(), card)
