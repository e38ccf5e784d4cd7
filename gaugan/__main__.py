"""Command line: python -m gaugan {generate,explain,train,export,evaluate,samples,download} ..."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from .allocator import tune_for_inference


def cmd_generate(args: argparse.Namespace) -> None:
    from .labelmaps import read_label_map
    from .pipeline import GauGAN

    model = GauGAN.from_checkpoint(args.checkpoint, fast=not args.reference, bf16=args.bf16)
    tune_for_inference()
    source, out = Path(args.labels), Path(args.out)
    if source.is_dir():
        inputs = sorted(source.glob("*.png"))
        if not inputs:
            raise SystemExit(f"no .png label maps in {source}")
        out.mkdir(parents=True, exist_ok=True)
        pairs = [(p, out / p.name) for p in inputs]
    else:
        pairs = [(source, out)]
    for label_path, out_path in tqdm(pairs, disable=len(pairs) == 1, desc="generate"):
        labels = read_label_map(label_path, model.labels)
        model.generate(labels, seed=args.seed).save(out_path)
    print(f"wrote {len(pairs)} image(s) to {out}")


def cmd_explain(args: argparse.Namespace) -> None:
    from .labelmaps import read_label_map
    from .pipeline import GauGAN
    from .semantics import encode

    model = GauGAN.from_checkpoint(args.checkpoint)
    channels, edges = encode(read_label_map(args.labels, model.labels), None, model.preset)
    print(model.network.explain(model.network.compact_tokens(channels, edges)))


def cmd_train(args: argparse.Namespace) -> None:
    from .train import TrainConfig, landscape_preset, main

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
    from .evaluate import evaluate, format_table

    results = evaluate(args.checkpoint, args.data, args.n, args.out, record=args.record)
    print(format_table(results))
    if args.out:
        print(f"wrote {args.out}/evaluation.json and {args.out}/worst_cases.png")


def cmd_samples(args: argparse.Namespace) -> None:
    from .samples import sample_sheet

    print(f"wrote {sample_sheet(args.checkpoint, args.out)}")


def cmd_download(args: argparse.Namespace) -> None:
    from .checkpoints import download

    print(f"downloaded into {download(args.source, args.dest, args.sha256)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gaugan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="label map PNG(s) -> image(s)")
    gen.add_argument("--checkpoint", required=True, help="model folder (ours, or NVIDIA's <name>_pretrained)")
    gen.add_argument("--labels", required=True, help="a label PNG (ids or palette colours) or a folder of them")
    gen.add_argument("--out", required=True, help="output PNG, or a folder when --labels is a folder")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--reference", action="store_true", help="layer-by-layer reference network (slower, same output)")
    gen.add_argument("--bf16", action="store_true", help="bf16 convolutions on the fast path (faster, not exact)")
    gen.set_defaults(func=cmd_generate)

    expl = sub.add_parser("explain", help="how the fast path runs on a label map: layout and paths per block")
    expl.add_argument("--checkpoint", required=True, help="model folder (ours, or NVIDIA's <name>_pretrained)")
    expl.add_argument("--labels", required=True, help="a label PNG (ids or palette colours)")
    expl.set_defaults(func=cmd_explain)

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
    ev.add_argument("--record", action="store_true", help="store the results in the checkpoint's model.json")
    ev.set_defaults(func=cmd_evaluate)

    sm = sub.add_parser("samples", help="a PNG sheet of held-out layouts and doodles with their outputs")
    sm.add_argument("--checkpoint", required=True)
    sm.add_argument("--out", default="docs/samples_landscape.png")
    sm.set_defaults(func=cmd_samples)

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
