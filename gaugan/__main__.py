"""Command line: python -m gaugan {generate,train,export,evaluate,samples,download} ..."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from .errors import InputError


def cmd_generate(args: argparse.Namespace) -> None:
    from .labelmaps import read_instance_map, read_label_map
    from .pipeline import GauGAN

    model = GauGAN.from_checkpoint(args.checkpoint, fast=not args.reference, bf16=args.bf16, preset=args.preset)
    for note in model.notes:
        print(f"note: {note}", file=sys.stderr)
    instance = read_instance_map(args.instance) if args.instance else None
    source, out = Path(args.labels), Path(args.out)
    if source.is_dir():
        inputs = sorted(source.glob("*.png"))
        if not inputs:
            raise SystemExit(f"no .png label maps in {source}")
        out.mkdir(parents=True, exist_ok=True)
        pairs = [(p, out / p.name) for p in inputs]
    else:
        pairs = [(source, out)]
    if instance is not None and len(pairs) > 1:
        raise SystemExit("--instance goes with a single --labels file, not a folder")
    for label_path, out_path in tqdm(pairs, disable=len(pairs) == 1, desc="generate"):
        notes: list[str] = []
        labels = read_label_map(label_path, model.labels, notes=notes)
        for note in notes:
            print(f"note: {label_path.name}: {note}", file=sys.stderr)
        model.generate(labels, instance, seed=args.seed, native_size=args.native_size).save(out_path)
    print(f"wrote {len(pairs)} image(s) to {out}")


def cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, landscape_preset, main

    overrides = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(TrainConfig)} and v is not None}
    if args.preset_json:
        overrides["preset"] = json.loads(Path(args.preset_json).read_text())
    elif args.crop_size or args.ngf or args.spade_hidden:
        base = landscape_preset()
        overrides["preset"] = landscape_preset(args.crop_size or base.crop_size, args.ngf or base.ngf,
                                               args.spade_hidden or base.spade_hidden).to_dict()
    print(main(TrainConfig(**overrides), progress=not args.quiet, time_limit=args.time_limit))


def cmd_export(args: argparse.Namespace) -> None:
    from .train import compact_state, export

    print(f"exported to {export(args.run, args.out)}")
    if args.resume_state:
        print(f"compact resumable state in {compact_state(args.run, args.resume_state)}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import evaluate, format_table

    results = evaluate(args.checkpoint, args.data, args.n, args.out, record=args.record, photos=args.photos)
    print(format_table(results))
    if args.out:
        print(f"wrote {args.out}/evaluation.json and {args.out}/worst_cases.png")


def cmd_samples(args: argparse.Namespace) -> None:
    from .samples import sample_sheet

    print(f"wrote {sample_sheet(args.checkpoint, args.out)}")


def cmd_download(args: argparse.Namespace) -> None:
    from .downloads import download

    print(f"downloaded into {download(args.source, args.dest, args.sha256, overwrite=args.force)}")


def cmd_data_photos(args: argparse.Namespace) -> None:
    from .data.photos import fetch_photos

    manifest = fetch_photos(args.out, args.debs)
    licences = sorted({entry["licence"] for entry in manifest})
    print(f"{len(manifest)} photos in {args.out}/photos, manifest {args.out}/manifest.json (licences: {', '.join(licences)})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gaugan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="label map PNG(s) -> image(s)")
    gen.add_argument("--checkpoint", required=True, help="model folder (ours, or NVIDIA's <name>_pretrained)")
    gen.add_argument("--labels", required=True, help="a label PNG (ids or palette colours) or a folder of them")
    gen.add_argument("--out", required=True, help="output PNG, or a folder when --labels is a folder")
    gen.add_argument("--seed", type=int, default=0, help="an integer 0..2**63-1; the same seed gives the same image")
    gen.add_argument("--preset", help="for weights without model.json: an official preset name (coco, ade20k, "
                     "cityscapes; fitted to the weights' input channels) or a preset .json file")
    gen.add_argument("--instance", help="an instance-id PNG (8- or 16-bit) for presets that use instance edges; "
                     "default: each connected blob of a thing label is one instance")
    gen.add_argument("--native-size", dest="native_size", action="store_true",
                     help="write the image at the model's own size instead of the label map's")
    gen.add_argument("--reference", action="store_true", help="layer-by-layer reference network (slower, same output)")
    gen.add_argument("--bf16", action="store_true", help="bf16 convolutions on the fast path (faster, not exact)")
    gen.set_defaults(func=cmd_generate)

    train = sub.add_parser("train", help="train a SPADE model (use torchrun for several processes)")
    train.add_argument("--out", help="run folder (resumes if it holds state.pt)")
    train.add_argument("--data", help="'landscape' (procedural, default) or a folder (see gaugan/data/folder.py)")
    train.add_argument("--steps", type=int)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--crop-size", dest="crop_size", type=int, help="landscape preset output size")
    train.add_argument("--ngf", type=int, help="landscape preset generator width")
    train.add_argument("--spade-hidden", dest="spade_hidden", type=int, help="landscape preset SPADE hidden width")
    train.add_argument("--preset-json", dest="preset_json", help="a JSON file with a full preset (own data)")
    train.add_argument("--sample-every", dest="sample_every", type=int)
    train.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--ndf", type=int, help="discriminator width (default 32)")
    train.add_argument("--photos", help="with --data landscape: a folder from `data photos`; paints the layouts "
                                        "with real photo textures")
    train.add_argument("--workers", type=int, help="processes rendering batches ahead of training (default 0)")
    train.add_argument("--lambda-perceptual", dest="lambda_perceptual", type=float,
                       help="weight of the ImageNet perceptual loss (default 2; 0 turns it off)")
    train.add_argument("--time-limit", dest="time_limit", type=float,
                       help="stop after this many seconds with the state saved (continue later with the same command)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    exp = sub.add_parser("export", help="run folder -> model folder with model.json")
    exp.add_argument("--run", required=True)
    exp.add_argument("--out", required=True)
    exp.add_argument("--resume-state", dest="resume_state",
                     help="also write a compact state.pt (no optimiser moments) to continue training elsewhere")
    exp.set_defaults(func=cmd_export)

    ev = sub.add_parser("evaluate", help="label fidelity (mIoU) and Fréchet distance of a checkpoint")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data", default="landscape", help="'landscape' (procedural) or a folder of label/image pairs")
    ev.add_argument("-n", type=int, default=200, help="number of held-out layouts")
    ev.add_argument("--out", help="folder for evaluation.json and worst_cases.png")
    ev.add_argument("--photos", help="a folder from `data photos`: adds KID and Fréchet distance to held-out photographs")
    ev.add_argument("--record", action="store_true", help="store the results in the checkpoint's model.json")
    ev.set_defaults(func=cmd_evaluate)

    sm = sub.add_parser("samples", help="a PNG sheet of held-out layouts and doodles with their outputs")
    sm.add_argument("--checkpoint", required=True)
    sm.add_argument("--out", default="docs/samples_landscape.png")
    sm.set_defaults(func=cmd_samples)

    dl = sub.add_parser("download", help="fetch NVIDIA's checkpoints.tar.gz (or any weights) into checkpoints/")
    dl.add_argument("source", help="URL or local path")
    dl.add_argument("--dest", default="checkpoints")
    dl.add_argument("--sha256", help="expected SHA-256 of the file, checked before anything is unpacked")
    dl.add_argument("--force", action="store_true", help="replace existing folders or files of the same name")
    dl.set_defaults(func=cmd_download)

    data = sub.add_parser("data", help="fetch training data into a cache").add_subparsers(dest="dataset", required=True)
    photos = data.add_parser("photos", help="landscape photographs under free licences from Debian packages")
    photos.add_argument("--out", required=True, help="cache folder (photos/ and manifest.json go there)")
    photos.add_argument("--debs", help="folder holding the .deb files (default OUT/debs; missing ones are "
                                       "downloaded with apt-get)")
    photos.set_defaults(func=cmd_data_photos)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as exc:  # refused input: bad files, wrong checkpoints, seeds out of range
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
