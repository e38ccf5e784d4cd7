"""Command line: python -m gaugan {generate,train,export,evaluate,samples,models,download} ..."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm


def input_output_pairs(source: Path, out: Path, what: str) -> list[tuple[Path, Path]]:
    """(input PNG, output path) pairs: one file, or every .png of a folder into an output folder."""
    if not source.exists():
        raise SystemExit(f"no {what} at {source}: expected a .png file or a folder of them")
    if not source.is_dir():
        return [(source, out)]
    inputs = sorted(source.glob("*.png"))
    if not inputs:
        raise SystemExit(f"no .png {what} in {source}")
    out.mkdir(parents=True, exist_ok=True)
    return [(p, out / p.name) for p in inputs]


def cmd_generate(args: argparse.Namespace) -> None:
    from .labelmaps import read_label_map
    from .pipeline import GauGAN
    from .sketch import model_kind

    if model_kind(args.checkpoint) == "sketch":
        from .sketch import generate_files
        pairs = input_output_pairs(Path(args.sketch or args.labels), Path(args.out), "sketches")
        generate_files(args.checkpoint, tqdm(pairs, disable=len(pairs) == 1, desc="generate"), args.seed, args.class_id)
        print(f"wrote {len(pairs)} image(s) to {args.out}")
        return
    if not args.labels:
        raise SystemExit("--labels is required for label-map (SPADE) models")
    model = GauGAN.from_checkpoint(args.checkpoint, fast=not args.reference, bf16=args.bf16)
    pairs = input_output_pairs(Path(args.labels), Path(args.out), "label maps")
    for label_path, out_path in tqdm(pairs, disable=len(pairs) == 1, desc="generate"):
        labels = read_label_map(label_path, model.labels)
        model.generate(labels, seed=args.seed or 0).save(out_path)
    print(f"wrote {len(pairs)} image(s) to {args.out}")


def cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, landscape_preset, main

    if args.model == "pix2pix":
        from .sketch_train import pix2pix_config_from_args
        print(main(pix2pix_config_from_args(vars(args)), progress=not args.quiet))
        return
    overrides = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(TrainConfig)} and v is not None}
    if args.preset_json:
        overrides["preset"] = json.loads(Path(args.preset_json).read_text())
    elif args.crop_size or args.ngf or args.spade_hidden:
        base = landscape_preset()
        overrides["preset"] = landscape_preset(args.crop_size or base.crop_size, args.ngf or base.ngf,
                                               args.spade_hidden or base.spade_hidden).to_dict()
    print(main(TrainConfig(**overrides), progress=not args.quiet))


def cmd_export(args: argparse.Namespace) -> None:
    from .train import compact_state, export

    print(f"exported to {export(args.run, args.out)}")
    if args.resume_state:
        print(f"compact resumable state in {compact_state(args.run, args.resume_state)}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .sketch import model_kind

    if model_kind(args.checkpoint) == "sketch":
        from .sketch_evaluate import evaluate_sketch, format_sketch_table
        data = None if args.data == "landscape" else args.data  # default: the model's own training data
        print(format_sketch_table(evaluate_sketch(args.checkpoint, data, args.n, args.out, record=args.record)))
        return
    from .evaluate import evaluate, format_table

    results = evaluate(args.checkpoint, args.data, args.n, args.out, record=args.record)
    print(format_table(results))
    if args.out:
        print(f"wrote {args.out}/evaluation.json and {args.out}/worst_cases.png")


def cmd_samples(args: argparse.Namespace) -> None:
    from .samples import sample_sheet
    from .sketch import model_kind

    if model_kind(args.checkpoint) == "sketch":
        from .sketch_samples import sketch_sample_sheet
        print(f"wrote {sketch_sample_sheet(args.checkpoint, args.out or 'docs/samples_sketch.png')}")
        return
    print(f"wrote {sample_sheet(args.checkpoint, args.out or 'docs/samples_landscape.png')}")


def cmd_models(args: argparse.Namespace) -> None:
    from .sketch import model_kinds

    found = model_kinds(args.root)
    for name, (folder, kind) in found.items():
        print(f"{name:<28} {kind:<7} {folder}")
    if not found:
        print(f"no checkpoint folders in {args.root}")


def cmd_download(args: argparse.Namespace) -> None:
    from .checkpoints import download

    print(f"downloaded into {download(args.source, args.dest, args.sha256)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gaugan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="label map or sketch PNG(s) -> image(s)")
    gen.add_argument("--checkpoint", required=True, help="model folder (ours, NVIDIA's <name>_pretrained or a "
                                                         "released <name>_pix2pix)")
    gen.add_argument("--labels", help="a label PNG (ids or palette colours) or a folder of them")
    gen.add_argument("--sketch", help="sketch models: a sketch PNG (dark lines on white) or a folder of them")
    gen.add_argument("--class", dest="class_id", help="class-conditional sketch models: the class name or number")
    gen.add_argument("--out", required=True, help="output PNG, or a folder when --labels is a folder")
    gen.add_argument("--seed", type=int, help="style seed (default 0); sketch models: turns the dropout noise on")
    gen.add_argument("--reference", action="store_true", help="layer-by-layer reference network (slower, same output)")
    gen.add_argument("--bf16", action="store_true", help="bf16 convolutions on the fast path (faster, not exact)")
    gen.set_defaults(func=cmd_generate)

    train = sub.add_parser("train", help="train a SPADE or sketch model (use torchrun for several processes)")
    train.add_argument("--model", choices=["spade", "pix2pix"], default="spade",
                       help="spade: label maps -> photos; pix2pix: sketches -> photos (see gaugan/sketch_train.py)")
    train.add_argument("--out", help="run folder (resumes if it holds state.pt)")
    train.add_argument("--data", help="'landscape' (procedural, default) or a folder (see gaugan/data/folder.py)")
    train.add_argument("--steps", type=int)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--crop-size", dest="crop_size", type=int, help="landscape preset output size; pix2pix: random crop (256)")
    train.add_argument("--ngf", type=int, help="landscape preset generator width; pix2pix: U-Net width (64)")
    train.add_argument("--spade-hidden", dest="spade_hidden", type=int, help="landscape preset SPADE hidden width")
    train.add_argument("--preset-json", dest="preset_json", help="a JSON file with a full preset (own data)")
    train.add_argument("--sample-every", dest="sample_every", type=int)
    train.add_argument("--checkpoint-every", dest="checkpoint_every", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    sketch = train.add_argument_group("pix2pix", "sketch models (--model pix2pix; --data landscape-sketch or a folder, "
                                                 "see gaugan/data/sketch.py)")
    sketch.add_argument("--direction", choices=["AtoB", "BtoA"], help="which half of 'A | B' images is the input")
    sketch.add_argument("--edges-from-photos", dest="edges_from_photos", action="store_true",
                        help="--data is a folder of photos: make the sketches with Canny edges + thinning")
    sketch.add_argument("--network", choices=["unet", "conditional"], help="U-Net or class-conditional generator")
    sketch.add_argument("--block", choices=["conv", "mru"], help="conditional generator blocks")
    sketch.add_argument("--depth", type=int, help="U-Net levels (8: unet_256, 7: unet_128)")
    sketch.add_argument("--norm", choices=["batch", "instance"])
    sketch.add_argument("--load-size", dest="load_size", type=int, help="resize before the random crop (286)")
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
    ev.add_argument("--record", action="store_true", help="store the results in the checkpoint's model.json")
    ev.set_defaults(func=cmd_evaluate)

    sm = sub.add_parser("samples", help="a PNG sheet of held-out layouts and doodles with their outputs")
    sm.add_argument("--checkpoint", required=True)
    sm.add_argument("--out", help="default docs/samples_landscape.png (docs/samples_sketch.png for sketch models)")
    sm.set_defaults(func=cmd_samples)

    ls = sub.add_parser("models", help="list the checkpoint folders and their kind (spade: labels, sketch: outlines)")
    ls.add_argument("--root", default="checkpoints")
    ls.set_defaults(func=cmd_models)

    dl = sub.add_parser("download", help="fetch NVIDIA's checkpoints.tar.gz (or any weights) into checkpoints/")
    dl.add_argument("source", help="URL or local path")
    dl.add_argument("--dest", default="checkpoints")
    dl.add_argument("--sha256")
    dl.set_defaults(func=cmd_download)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as exc:  # user errors: bad files, wrong checkpoints
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
