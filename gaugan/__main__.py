"""Command line: gaugan (or python -m gaugan) COMMAND ...; `gaugan --help` lists the commands."""
from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import select
import signal
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from .allocator import keep_freed_memory, tune_for_inference
from .checkpoints import OFFICIAL_WEIGHTS, card_folder
from .data.registry import DATASETS
from .data.sketch import LANDSCAPE_SKETCH
from .errors import InputError
from .folders import check_model_destination, writable_folder
from .images import SUFFIXES, image_files
from .model_card import MAX_DESCRIPTION_LENGTH, MODEL_CARD, plain_text, read_card
from .reader_train import ReaderConfig
from .shipped import CHECKPOINTS_ENV, checkpoint_argument, checkpoints_root, named_model, shipped_copies
from .sketch_train import SKETCH_DEFAULTS as SK
from .train import PRECISIONS
from .train_options import LANDSCAPE, TRAIN_DEFAULTS, given_options, spade_config_from_args
IMAGE_EXTENSIONS = tuple(suffix for suffix in SUFFIXES if suffix != ".gif")  # what generate writes (GIF: 256 colours)


def number_at_least(low: float, inclusive: bool = True, below: float = math.inf) -> Callable[[str], float]:
    """An argparse type: a finite number of at least low (above low unless inclusive), and under below."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive) or value >= below:
            under = f" and under {below:g}" if below < math.inf else ""
            raise argparse.ArgumentTypeError(f"expected a number {'of at least' if inclusive else 'above'} {low:g}"
                                             f"{under}, found {text}")
        return value
    return parse


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least low."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, found {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer of at least {low}, found {value}")
        return value
    return parse


def check_image_path(out: Path) -> None:
    """An output image file we can write: its extension picks one of IMAGE_EXTENSIONS, it is not a folder, and its
    folder exists (created if missing); else an InputError."""
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; name an image file, such as {out / 'image.png'}")
    if out.suffix.lower() not in IMAGE_EXTENSIONS:
        raise InputError(f"--out {out}: the extension picks the image format; use one of {', '.join(IMAGE_EXTENSIONS)}")
    writable_folder(out.parent, "the output folder")


def input_output_pairs(source: Path, out: Path, what: str, also_read: Path | None = None) -> list[tuple[Path, Path]]:
    """(input image, output path) pairs: one file, or every image of a folder (any format a single file may be in,
    images.SUFFIXES in any case) into an output folder (created; a GIF's image is written as NAME.gif.png). No
    output may be a file the command reads (the inputs, also_read: a file or a folder's images)."""
    if not source.exists():
        raise InputError(f"{source}: no such file or folder; expected an image, or a folder of {what}")
    if source.is_dir():
        inputs = image_files(source)
        if not inputs:
            raise InputError(f"no {what} in {source}: expected files ending {', '.join(SUFFIXES)}")
        if out.suffix.lower() in SUFFIXES and not out.is_dir():
            raise InputError(f"--out {out} names an image file, but {source} is a folder of {what}: give --out a "
                             "folder for their images")
        pairs = [(p, out / (p.name if p.suffix.lower() in IMAGE_EXTENSIONS else p.name + ".png")) for p in inputs]
    else:
        pairs = [(source, out)]
    extra = ([] if also_read is None else image_files(also_read) if also_read.is_dir() else [also_read])
    read = {file_identity(path): path for path in [*(p for p, _ in pairs), *extra]}
    read.pop(None, None)  # a file that is not there
    overwritten = [read[key].name for _, target in pairs if (key := file_identity(target)) in read]
    if overwritten:
        raise InputError(f"--out would write over files it reads ({', '.join(overwritten[:3])}"
                         f"{' …' if len(overwritten) > 3 else ''}): give --out another file or folder")
    if source.is_dir():
        writable_folder(out, "the output folder")
    else:
        check_image_path(out)
    return pairs


def file_identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode): the same for every name of one file (links, letter case); None if none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def for_each_input(pairs: list[tuple[Path, Path]], convert: Callable[[Path, Path], None], out: str) -> None:
    """convert(input, output) for every pair; in a folder, a refused input is reported by name and the rest go on."""
    failed = []
    for source, target in tqdm(pairs, disable=len(pairs) == 1, desc="generate"):
        try:
            convert(source, target)
        except InputError as exc:
            if len(pairs) == 1:
                raise InputError(f"{source}: {exc}") from None
            tqdm.write(f"error: {source.name}: {exc}", file=sys.stderr)
            failed.append(source.name)
    print(f"wrote {len(pairs) - len(failed)} image(s) to {out}")
    if failed:
        more = f" and {len(failed) - 10} more (each named above)" if len(failed) > 10 else ""
        raise InputError(f"{len(failed)} of {len(pairs)} inputs refused: {', '.join(failed[:10])}{more}")


def cmd_generate(args: argparse.Namespace) -> None:
    import numpy as np

    from .framing import blur_note
    from .labelmaps import read_instance_map, read_label_map
    from .pipeline import GauGAN, check_seed
    from .sketch import is_sketch_model, sketch_converter

    checkpoint = checkpoint_argument(args.checkpoint)
    if args.seed is not None:
        check_seed(args.seed)
    if is_sketch_model(checkpoint):
        if args.labels:
            raise InputError("sketch models take --sketch (a sketch PNG or a folder of them), not --labels")
        if not args.sketch:
            raise InputError("--sketch is required for sketch models: a sketch PNG or a folder of them")
        pairs = input_output_pairs(Path(args.sketch), Path(args.out), "sketches")
        ignored = [option for option, given in (("--reference", args.reference), ("--bf16", args.bf16),
                                                ("--native-size", args.native_size), ("--instance", args.instance),
                                                ("--preset", args.preset)) if given]
        if ignored:
            print(f"note: {', '.join(ignored)} ignored: label-map (SPADE) models take them, not sketch models",
                  file=sys.stderr)
        converter = sketch_converter(checkpoint, args.seed, args.class_id, not args.stretch,
                                     note=lambda text: print(f"note: {text}", file=sys.stderr),
                                     style_prior=not args.no_style_prior)
        for_each_input(pairs, converter, args.out)
        return
    if args.sketch:
        if checkpoint.is_dir():
            read_card(checkpoint)  # a broken model.json (of a sketch model too) says what is wrong with it
        raise InputError("label-map (SPADE) models take --labels, not --sketch; sketches need a sketch model such "
                         "as landscape-sketch-reader")
    if not args.labels:
        raise InputError("--labels is required for label-map (SPADE) models")
    instances = Path(args.instance) if args.instance else None
    if instances and not instances.exists():
        raise InputError(f"--instance {instances}: no such file or folder")
    pairs = input_output_pairs(Path(args.labels), Path(args.out), "label maps", instances)  # before the model loads
    if instances and len(pairs) > 1 and not instances.is_dir():
        raise InputError(f"--instance {instances} is one file, but --labels is a folder of label maps: give a folder "
                         "of instance maps, each named as its label map")
    folder = card_folder(checkpoint)
    if args.preset and (folder / MODEL_CARD).is_file():
        raise InputError(f"--preset is for weights without {MODEL_CARD}; {folder} has one, which sets the preset")
    model = GauGAN.from_checkpoint(checkpoint, fast=not args.reference, bf16=args.bf16, preset=args.preset,
                                   style_prior=not args.no_style_prior)
    tune_for_inference()
    for note in model.notes:
        print(f"note: {note}", file=sys.stderr)
    ignored = [(args.instance and not model.preset.use_instance,
                f"--instance ignored: this model's preset ({model.preset.name}) takes no instance map"),
               (args.seed is not None and not model.varies_with_seed,
                "--seed ignored: this model has no style codes, so it paints one image per label map"),
               (args.no_style_prior and not model.varies_with_seed,
                "--no-style-prior ignored: this model draws no style codes"),
               (args.class_id is not None, "--class ignored: class-conditional sketch models take it")]
    for note in (text for given, text in ignored if given):
        print(f"note: {note}", file=sys.stderr)

    def instance_for(label_path: Path) -> np.ndarray | None:
        """The label map's instance map: --instance itself, or the file of its name in an --instance folder."""
        if not instances or not model.preset.use_instance:
            return None
        if not instances.is_dir():
            return read_instance_map(instances)
        if not (instances / label_path.name).is_file():
            raise InputError(f"no instance map {label_path.name} in {instances}: an --instance folder holds one "
                             "for each label map, with the same name")
        return read_instance_map(instances / label_path.name)

    def convert(label_path: Path, out_path: Path) -> None:
        notes: list[str] = []
        labels = read_label_map(label_path, model.labels, notes=notes)
        instance = instance_for(label_path)
        if not args.stretch and (blurred := blur_note(labels.shape, model.preset.output_size)):
            notes.append(blurred)
        for note in notes:
            print(f"note: {label_path.name}: {note}", file=sys.stderr)
        model.generate(labels, instance, seed=args.seed or 0, native_size=args.native_size,
                       keep_aspect=not args.stretch).save(out_path)
    for_each_input(pairs, convert, args.out)


def cmd_explain(args: argparse.Namespace) -> None:
    from .labelmaps import read_label_map
    from .pipeline import GauGAN
    from .semantics import encode

    model = GauGAN.from_checkpoint(checkpoint_argument(args.checkpoint))
    try:
        channels, edges = encode(read_label_map(args.labels, model.labels), None, model.preset)
    except InputError as exc:  # named as generate names a refused file
        raise InputError(f"{args.labels}: {exc}") from None
    print(model.network.explain(model.network.compact_tokens(channels, edges)))


def cmd_train(args: argparse.Namespace) -> None:
    from .train import main, with_run_shape

    keep_freed_memory()  # the steps allocate and free tensors of tens of MB (gaugan/allocator.py)
    if args.model == "pix2pix":
        from .sketch_train import check_sizes, pix2pix_config_from_args
        spade_only = [option for option, given in (("--spade-hidden", args.spade_hidden),
                                                   ("--preset-json", args.preset_json)) if given]
        if spade_only:
            raise InputError(f"{', '.join(spade_only)}: SPADE options; pix2pix takes --ngf and --depth, or leave "
                             "them out")
        config = with_run_shape(pix2pix_config_from_args(vars(args)), given_options(args))
        check_sizes(config.sketch)
        print(main(config, progress=not args.quiet, time_limit=args.time_limit))
        return
    sketch_only = [f"--{name.replace('_', '-')}" for name in set(SK) - {"crop_size", "ngf"}
                   if getattr(args, name, None) not in (None, False)]
    if sketch_only:
        raise InputError(f"{', '.join(sorted(sketch_only))}: pix2pix options; add --model pix2pix to train a sketch "
                         "model, or leave them out")
    config = with_run_shape(spade_config_from_args(args, note=lambda text: print(f"note: {text}", file=sys.stderr)),
                            given_options(args))
    print(main(config, progress=not args.quiet, time_limit=args.time_limit))


def cmd_train_reader(args: argparse.Namespace) -> None:
    from .reader_train import train_reader

    given = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(ReaderConfig)} and v is not None}
    config = ReaderConfig(**given)
    keep_freed_memory()
    model = train_reader(config, args.workers, args.time_limit, (lambda message: None) if args.quiet else print)
    if model:
        print(f"wrote the sketch model {model} (use it with --checkpoint {model}, or copy the folder into "
              "checkpoints/ for the page); it paints with the model its model.json names as \"painter\": a folder "
              "of that name beside it, else the shipped model")


def cmd_export(args: argparse.Namespace) -> None:
    from .train import STATE_FILE, check_compact_destination, compact_state, export

    if not (Path(args.run) / STATE_FILE).is_file():
        raise InputError(f"--run {args.run}: expected a run folder holding {STATE_FILE} (from `gaugan train --out`)")
    check_model_destination(Path(args.out), args.force)  # both refused before either is written
    if args.resume_state:
        check_compact_destination(args.run, Path(args.resume_state), args.force, Path(args.out))
    if args.description is not None:  # checked here, where it is named as the user gave it
        plain_text(args.description, "--description", MAX_DESCRIPTION_LENGTH, lines=True)
    extra = {"description": args.description} if args.description is not None else None
    print(f"exported to {export(args.run, args.out, extra, overwrite=args.force)}")
    if args.resume_state:
        print(f"compact resumable state in {compact_state(args.run, args.resume_state, overwrite=args.force)}")


def written_model_path(value: str | None, writer: str) -> Path:
    """The model folder a command that writes into its model.json (writer) is given, checked to hold one and to be
    writable before any long work: a path only, so that a name never has a shipped model rewritten in place; a name
    of the user's folder says its path."""
    needed = f"{writer} writes into the model's {MODEL_CARD}, so it takes the path of a model folder of ours"
    if value is not None and Path(value).exists():
        folder = Path(value)
        if not (folder / MODEL_CARD).is_file():
            raise InputError(f"{needed}; found --checkpoint {value}: "
                             f"{f'a folder without {MODEL_CARD}' if folder.is_dir() else 'a file'}")
        return writable_folder(folder, "the model folder")
    if value is None:
        raise InputError(f"{needed}: give --checkpoint PATH")
    named = named_model(value) if Path(value).name == value else None
    if named is None:
        raise InputError(f"{needed}; found --checkpoint {value}: no such folder")
    if named.resolve() in shipped_copies(value):
        raise InputError(f"{needed}; found --checkpoint {value}, a shipped model, which is not rewritten: copy its "
                         "folder and name the copy")
    raise InputError(f"{needed}, not its name: --checkpoint {named}")


def cmd_style_prior(args: argparse.Namespace) -> None:
    from .checkpoints import write_style_prior
    from .pipeline import GauGAN
    from .style_prior import fit_style_prior, style_codes

    folder = written_model_path(args.checkpoint, "style-prior")
    model = GauGAN.from_checkpoint(folder, device="cpu", style_prior=False)
    card = read_card(folder)  # as the model loaded it
    if not model.has_style_encoder:
        raise InputError(f"{folder} has no style encoder: a style prior is fitted to the codes it gives photographs "
                         "(models trained with a VAE have one)")
    photos = photo_folder(Path(args.images).expanduser(), args.images)
    codes = style_codes(model.encode_style, tqdm(photos, desc="encode", disable=args.quiet))
    try:
        path = write_style_prior(folder, fit_style_prior(codes), f"{len(photos)} photographs in {args.images}")
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise InputError(f"cannot write the style prior into {folder}: {reason}; nothing changed") from None
    print(f"wrote {path}: seeds now draw style codes like those of these photographs (model.json lists it)")
    if "evaluation" in card.raw:
        print("note: model.json's evaluation was measured with the seeds' old style codes and is removed; "
              f"`gaugan evaluate --checkpoint {folder} --record` measures it anew")
    if card.looks:
        print("note: model.json's looks were chosen among the seeds' old style codes; they are kept as they are, "
              f"and `gaugan looks --checkpoint {folder} --record` chooses them among the new ones")


def cmd_looks(args: argparse.Namespace) -> None:
    from .checkpoints import update_card
    from .looks import LOOKS, choose_looks, landscape_segmenter, sky_ids
    from .pipeline import GauGAN

    folder = written_model_path(args.checkpoint, "--record") if args.record else checkpoint_argument(args.checkpoint)
    model = GauGAN.from_checkpoint(folder, device="cpu")
    sky_ids(model)  # it can have looks
    segmenter = landscape_segmenter(model)
    if segmenter is None:
        print("note: no segmenter reads this model's labels back (the shipped one reads the landscape labels), so the "
              "looks are chosen by their light alone", file=sys.stderr)
    chosen = choose_looks(model, args.candidates, args.layouts, segmenter)
    print(f"{'look':<12} {'seed':>5}  sky: warmth value saturation  ground: warmth value saturation   mIoU")
    for name, choice in chosen.items():
        c, fidelity = choice.light, "-" if choice.fidelity is None else f"{choice.fidelity:.3f}"
        print(f"{name:<12} {choice.seed:>5}  {c.sky_warmth:>17.3f} {c.sky_value:>5.3f} {c.sky_saturation:>10.3f}  "
              f"{c.ground_warmth:>15.3f} {c.ground_value:>5.3f} {c.ground_saturation:>10.3f}  {fidelity:>5}")
    if args.record:
        looks = {name: [round(v, 6) for v in choice.code.flatten().tolist()] for name, choice in chosen.items()}
        update_card(folder, looks=looks)
        print(f"recorded {', '.join(LOOKS)} in {folder / MODEL_CARD}: the page offers them as built-in looks")


def photo_folder(folder: Path, given: str) -> list[Path]:
    """The photographs in --images (image_files), or an InputError that says what was found instead."""
    if not folder.exists():
        raise InputError(f"--images {given}: no such folder")
    if not folder.is_dir():
        raise InputError(f"--images {given} is a file; expected a folder of photographs")
    photos = image_files(folder)
    if not photos:
        inside = " (its images/ folder may hold them)" if (folder / "images").is_dir() else ""
        raise InputError(f"--images {given} holds no photographs (files ending {', '.join(SUFFIXES)}){inside}")
    return photos


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import evaluate, format_table
    from .sketch import is_sketch_model

    checkpoint = (written_model_path(args.checkpoint, "--record") if args.record
                  else checkpoint_argument(args.checkpoint))
    if args.data is not None and args.data not in (*DATASETS, LANDSCAPE_SKETCH) and not Path(args.data).is_dir():
        raise InputError(f"--data {args.data}: expected {' or '.join((*DATASETS, LANDSCAPE_SKETCH))} or a folder of "
                         "pairs")
    if is_sketch_model(checkpoint):
        from .sketch_evaluate import evaluate_sketch, format_sketch_table
        print(format_sketch_table(evaluate_sketch(checkpoint, args.data, args.n, args.out, record=args.record,
                                                  photos=args.photos or "")))
        return

    results = evaluate(checkpoint, args.data or "landscape", args.n, args.out, record=args.record,
                       segmenter_dir=args.segmenter, photos=args.photos)
    print(format_table(results))
    if args.out:
        print(f"wrote {args.out}/evaluation.json and {args.out}/worst_cases.png")


def cmd_samples(args: argparse.Namespace) -> None:
    from .samples import sample_sheet

    from .sketch import is_sketch_model

    checkpoint = checkpoint_argument(args.checkpoint)
    sketch = is_sketch_model(checkpoint)
    out = Path(args.out or f"samples_{'sketch' if sketch else 'landscape'}.png")
    check_image_path(out)  # before minutes of generating
    if sketch:
        from .sketch_samples import sketch_sample_sheet
        print(f"wrote {sketch_sample_sheet(checkpoint, out)}")
        return
    print(f"wrote {sample_sheet(checkpoint, out)}")


def shown(text: str) -> str:
    """Text for the terminal: as it is when printable, else its escaped ascii() form (no control characters, such
    as newlines or escape sequences, from folder names)."""
    return text if text.isprintable() else ascii(text)


def model_summary(folder: Path, kind: str) -> str:
    """A model folder of that kind in a few words, or "unreadable: " and why (as `gaugan models` lists it)."""
    from .checkpoints import spade_summary
    from .sketch import SKETCH_KIND, sketch_method

    return sketch_method(folder) if kind == SKETCH_KIND else spade_summary(folder)


def cmd_models(args: argparse.Namespace) -> None:
    from .sketch import model_kinds

    root = args.root or checkpoints_root()
    if (args.root or os.environ.get(CHECKPOINTS_ENV)) and not Path(root).is_dir():
        print(f"note: no folder {root}; listing the shipped models", file=sys.stderr)
    found = model_kinds(root)
    for name, (folder, kind) in found.items():
        print(f"{shown(name):<28} {kind:<7} {shown(model_summary(folder, kind)):<40}  {shown(str(folder))}")
    if not found:
        print(f"no checkpoint folders in {root} and no shipped models")


def cmd_download(args: argparse.Namespace) -> None:
    from .downloads import download
    from .sketch import model_kind

    dest = Path(args.dest)
    before = {(path.name, file_identity(path)) for path in dest.iterdir()} if dest.is_dir() else set()
    saved = download(args.source, args.dest, args.sha256, overwrite=args.force)
    for folder in sorted(saved.iterdir()) if saved.is_dir() else []:  # what an archive installed, as listings show it
        if folder.is_dir() and (folder.name, file_identity(folder)) not in before:
            print(f"installed {shown(folder.name)}: {shown(model_summary(folder, model_kind(folder)))}")
    print(f"downloaded into {saved}")
    if saved.is_file():  # a weights file: models are listed by folder
        print(f"note: the page and `gaugan models` list model folders: move it into a folder of its own as "
              f"{saved.parent / 'mine_pretrained' / OFFICIAL_WEIGHTS}, or load it by path (--checkpoint {saved})",
              file=sys.stderr)


def cmd_data_photos(args: argparse.Namespace) -> None:
    from .data.photos import fetch_photos

    manifest = fetch_photos(args.out, args.debs)
    licences = sorted({entry["licence"] for entry in manifest})
    print(f"{len(manifest)} photos in {args.out}/photos, manifest {args.out}/manifest.json (licences: {', '.join(licences)})")


def cmd_data_traced(args: argparse.Namespace) -> None:
    from .tracing import trace_photos

    count = trace_photos(args.photos, args.out)
    print(f"{count} traced pairs in {args.out} (labels/, images/, labels.json); train on them beside photo-textured "
          f"scenes with --data {args.out} --photos {args.photos}")


def installed_version() -> str:
    """The installed package's version, or a note that this checkout is not installed."""
    try:
        return importlib.metadata.version("gaugan")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: a checkout)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gaugan", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gaugan {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="label map or sketch PNG(s) -> image(s)")
    gen.add_argument("--checkpoint", help="model folder (ours, NVIDIA's <name>_pretrained or a released "
                     "<name>_pix2pix); default: the shipped landscape model")
    gen.add_argument("--labels", help="a label PNG (ids or palette colours) or a folder of them")
    gen.add_argument("--sketch", help="sketch models: a sketch PNG (dark lines on white) or a folder of them")
    gen.add_argument("--class", dest="class_id", help="class-conditional sketch models: the class name or number")
    gen.add_argument("--out", required=True, help="output image (.png, .jpg, .webp …; missing folders are created), "
                     "or a folder when --labels or --sketch is a folder")
    gen.add_argument("--seed", type=int, help="an integer 0..2**63-1; the same seed gives the same image. SPADE "
                     "models with a style encoder (ours) and read-and-paint models: it picks the light (default: 0); "
                     "NVIDIA's have none. pix2pix models: left out, the network runs without its dropout noise, as "
                     "the reference tests; any seed, 0 too, turns the noise on")
    gen.add_argument("--no-style-prior", dest="no_style_prior", action="store_true", help="SPADE and read-and-paint "
                     "models with a style prior: draw the seed's style code from N(0, I) instead, as the generator "
                     "was trained (more legible, less photographic)")
    gen.add_argument("--preset", help="for weights without model.json: an official preset name (coco, ade20k, "
                     "cityscapes; fitted to the weights' input channels) or a preset .json file")
    gen.add_argument("--instance", help="an instance-id PNG (8- or 16-bit) for presets that use instance edges, or "
                     "with a --labels folder a folder of them, each named as its label map; default: each connected "
                     "blob of a thing label is one instance")
    gen.add_argument("--native-size", dest="native_size", action="store_true",
                     help="write the image at the model's own scale instead of the label map's size")
    gen.add_argument("--stretch", action="store_true",
                     help="resize an input whose aspect ratio differs from the model's to the model's shape and the "
                     "image back, as NVIDIA's test script does (default: paint it unstretched, mirrored out to the "
                     "model's shape and cut back)")
    gen.add_argument("--reference", action="store_true", help="layer-by-layer reference network (slower, same output)")
    gen.add_argument("--bf16", action="store_true", help="bf16 convolutions on the fast path (faster, not exact)")
    gen.set_defaults(func=cmd_generate)

    expl = sub.add_parser("explain", help="how the fast path runs on a label map: layout and paths per block")
    expl.add_argument("--checkpoint", help="model folder (ours, or NVIDIA's <name>_pretrained); default: the shipped "
                      "landscape model")
    expl.add_argument("--labels", required=True, help="a label PNG (ids or palette colours)")
    expl.set_defaults(func=cmd_explain)

    d = TRAIN_DEFAULTS
    train = sub.add_parser("train", help="train a SPADE or sketch model (use torchrun for several processes)",
                           description="Train a SPADE (label maps) or pix2pix (sketches) model. Each step is one batch; "
                                       "it prints an estimate of the time to --steps after its first steps. Defaults "
                                       "below are SPADE's; pix2pix keeps the paper's (docs/sketch.md).")
    train.add_argument("--model", choices=["spade", "pix2pix"], default="spade",
                       help="spade: label maps -> photos; pix2pix: sketches -> photos (default: %(default)s)")
    train.add_argument("--out", help="run folder; one holding state.pt resumes, keeping every option left out "
                                     "(but --workers), so the defaults below are a new run's "
                                     f"(default: {d.out})")
    train.add_argument("--data", help="'landscape' (procedural scenes) or a folder of label/image pairs with "
                       f"labels.json (README: 'Training on your own data'); pix2pix: see below (default: {d.data})")
    train.add_argument("--labels", help="label table JSON (default: DATA/labels.json for a folder)")
    train.add_argument("--steps", type=at_least(1), help=f"total steps to reach; a resumed run continues up to it "
                       f"(default: {d.steps})")
    train.add_argument("--batch-size", dest="batch_size", type=at_least(1),
                       help=f"images per step and process (default: {d.batch_size})")
    train.add_argument("--crop-size", dest="crop_size", type=at_least(2**LANDSCAPE.num_up_layers),
                       help=f"output size of the compact preset (default: {LANDSCAPE.crop_size}; pix2pix: random crop "
                            f"{SK['crop_size']})")
    train.add_argument("--ngf", type=at_least(1), help=f"generator width of the compact preset (default: {LANDSCAPE.ngf}; "
                       f"pix2pix: U-Net width {SK['ngf']})")
    train.add_argument("--spade-hidden", dest="spade_hidden", type=at_least(1),
                       help=f"SPADE hidden width of the compact preset (default: {LANDSCAPE.spade_hidden})")
    train.add_argument("--preset-json", dest="preset_json", help="a JSON file of Preset fields instead of the compact "
                       "preset (label_nc, contain_dontcare_label, use_instance, crop_size, ...; name: the file's stem)")
    train.add_argument("--sample-every", dest="sample_every", type=at_least(1),
                       help=f"write samples/step_N.png every this many steps (default: {d.sample_every})")
    train.add_argument("--checkpoint-every", dest="checkpoint_every", type=at_least(1),
                       help=f"save state.pt every this many steps (default: {d.checkpoint_every})")
    train.add_argument("--seed", type=int, help=f"data order and initial weights (default: {d.seed})")
    train.add_argument("--ndf", type=at_least(1), help=f"discriminator width (default: {d.ndf})")
    train.add_argument("--photos", help="with --data landscape (or landscape-sketch for pix2pix): a folder from "
                       "`gaugan data photos`; the scenes are painted with real photo textures. With --data FOLDER of "
                       "landscape-labelled pairs (e.g. from `gaugan data traced`): its pairs are mixed with those scenes")
    train.add_argument("--folder-share", dest="folder_share", type=float,
                       help=f"with --photos beside --data FOLDER: the share of samples taken from the folder, evenly "
                            f"spread (default: {d.folder_share})")
    train.add_argument("--workers", type=at_least(0), help="processes rendering batches ahead of training, forked "
                                                           f"(so not on Windows) (default: {d.workers})")
    train.add_argument("--lambda-perceptual", dest="lambda_perceptual", type=number_at_least(0),
                       help="weight of the ImageNet (EfficientNet-Lite0) perceptual loss; 0 turns it off "
                            f"(default: {d.lambda_perceptual}; pix2pix: 0)")
    train.add_argument("--ema-decay", dest="ema_decay", type=number_at_least(0, below=1),
                       help="the exported generator (and style encoder) average their weights over the last tenth of "
                            "the steps, up to about 1 / (1 - EMA_DECAY) steps, which paints steadier images than the "
                            "last step's; 0 exports "
                            "the last step's (and a resumed run given 0 drops the averages it had) "
                            f"(default: {d.ema_decay}; pix2pix: 0)")
    train.add_argument("--precision", choices=PRECISIONS,
                       help="bf16: compute in bfloat16 (autocast), fp32: in single precision; auto: bf16 on a GPU or "
                            "on a CPU with native bf16 (AVX512-BF16 or AMX-BF16), where it is the faster, else fp32 "
                            f"(default: {d.precision})")
    train.add_argument("--time-limit", dest="time_limit", type=number_at_least(0, inclusive=False),
                       help="stop after this many seconds with the state saved; the same command continues")
    train.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    sketch = train.add_argument_group("pix2pix", "sketch models (--model pix2pix; --data landscape-sketch or a folder, "
                                                 "docs/sketch.md)")
    sketch.add_argument("--direction", choices=["AtoB", "BtoA"],
                        help=f"which half of 'A | B' images is the input (default: {SK['direction']})")
    sketch.add_argument("--edges-from-photos", dest="edges_from_photos", action="store_true",
                        help="--data is a folder of photos: make the sketches with Canny edges + thinning")
    sketch.add_argument("--network", choices=["unet", "conditional"],
                        help=f"U-Net or class-conditional generator (default: {SK['network']})")
    sketch.add_argument("--block", choices=["conv", "mru"],
                        help=f"conditional generator blocks (default: {SK['block']})")
    sketch.add_argument("--depth", type=at_least(1), help="levels (8: unet_256, 7: unet_128; the conditional "
                                                          "network's default: the deepest up to 7 that leaves 2×2 of "
                                                          f"the crop; default: {SK['depth']})")
    sketch.add_argument("--norm", choices=["batch", "instance"], help=f"U-Net normalisation (default: {SK['norm']})")
    sketch.add_argument("--load-size", dest="load_size", type=at_least(1),
                        help=f"resize before the random crop (default: {SK['load_size']})")
    sketch.add_argument("--init", help="a sketch model folder (ours or a released <name>_pix2pix) whose generator "
                                       "starts the run; its network shape comes with it (fine-tuning)")
    train.set_defaults(func=cmd_train)

    r = ReaderConfig()
    reader = sub.add_parser("train-reader", help="train a read-and-paint sketch model: sketches -> label maps that a "
                            "SPADE model paints", description="Train a sketch reader for a painter that paints the "
                            "landscape labels: line sketches of landscape layouts are read back into the layouts. "
                            "The model folder is written to OUT/model; OUT/state.pt resumes (gaugan/reader_train.py).")
    reader.add_argument("--out", help=f"run folder (default: {r.out})")
    reader.add_argument("--data", help="'landscape' (procedural layouts) or a folder whose labels/ holds landscape "
                        f"label maps, e.g. from `gaugan data traced`, mixed with procedural ones (default: {r.data})")
    reader.add_argument("--folder-share", dest="folder_share", type=float,
                        help=f"with --data FOLDER: the share of sketches drawn from its layouts (default: {r.folder_share})")
    reader.add_argument("--painter", help=f"the SPADE model that paints: a folder or a shipped model's name; it must "
                        f"paint the landscape labels (default: {r.painter})")
    reader.add_argument("--pairs", type=at_least(1), help=f"sketches drawn before training (default: {r.pairs})")
    reader.add_argument("--steps", type=at_least(1), help=f"total steps (default: {r.steps})")
    reader.add_argument("--batch-size", dest="batch_size", type=at_least(1), help=f"default: {r.batch_size}")
    reader.add_argument("--width", type=at_least(1), help=f"the reader's U-Net width (default: {r.width})")
    reader.add_argument("--seed", type=at_least(0), help=f"layouts, sketches and initial weights (default: {r.seed})")
    reader.add_argument("--workers", type=at_least(1), default=2, help="processes drawing sketches (default: %(default)s)")
    reader.add_argument("--time-limit", dest="time_limit", type=number_at_least(0, inclusive=False),
                        help="stop after this many seconds with the state saved; the same command continues")
    reader.add_argument("--quiet", action="store_true", help="no progress messages")
    reader.set_defaults(func=cmd_train_reader)

    exp = sub.add_parser("export", help="run folder -> model folder with model.json")
    exp.add_argument("--run", required=True, help="a run folder holding state.pt (`gaugan train --out`)")
    exp.add_argument("--out", required=True, help="the model folder to write (weights and model.json): a new or empty "
                     "folder, or a model folder to replace with --force")
    exp.add_argument("--resume-state", dest="resume_state",
                     help="also write a compact state.pt (no optimiser moments; the exported weights in place of "
                          "the last step's) to continue the exported model elsewhere: copy it to NEWRUN/state.pt and "
                          "run `gaugan train --out NEWRUN`")
    exp.add_argument("--force", action="store_true", help="replace an existing model folder whole (and the "
                     "--resume-state file); a folder holding other files is never replaced")
    exp.add_argument("--description", help="model.json's description, which the page shows with the model "
                     "(plain text; default: what the model was trained on, as training describes its data)")
    exp.set_defaults(func=cmd_export)

    ev = sub.add_parser("evaluate", help="label fidelity (mIoU) and Fréchet distance of a checkpoint")
    ev.add_argument("--checkpoint", help="model folder (default: the shipped landscape model)")
    ev.add_argument("--data", help="'landscape' (procedural) or a folder of label/image pairs (default: landscape; "
                    "for sketch models, their own training data)")
    ev.add_argument("-n", type=at_least(2), default=200, help="number of held-out layouts; the Fréchet distance needs 100 or "
                    "more to mean much (default: %(default)s)")
    ev.add_argument("--out", help="folder for evaluation.json and worst_cases.png")
    ev.add_argument("--segmenter", help="segmenter folder (default: the shipped one for 'landscape'; for a folder, one "
                    "trained on its photos and cached in DATA/.gaugan_segmenter/)")
    ev.add_argument("--photos", help="a folder from `gaugan data photos`: the held-out scenes are painted with its "
                    "photo textures and read back by the photo segmenter, and KID and Fréchet distance to the held-out "
                    "photographs are added (sketch models trained with --photos need it)")
    ev.add_argument("--record", action="store_true", help="store the results in the checkpoint's model.json")
    ev.set_defaults(func=cmd_evaluate)

    prior_help = ("fit the Gaussian that seeds draw style codes from to the codes of real photographs, and add it to "
                  "a model folder (gaugan/style_prior.py)")
    prior = sub.add_parser("style-prior", help=prior_help, description=prior_help + ". It replaces the folder's "
                           "style prior if it has one, and removes model.json's evaluation, which the old seeds gave. "
                           "It takes at least twice as many different photos as the style code has dimensions (128 "
                           "for the landscape model); hundreds give a steadier fit.")
    prior.add_argument("--checkpoint", required=True, help="the path of a model folder with a style encoder "
                       "(model.json); the prior is written into it")
    prior.add_argument("--images", required=True, help="a folder of photographs like those the model should paint, "
                       "e.g. the training crops in the images/ of `gaugan data traced`")
    prior.add_argument("--quiet", action="store_true", help="no progress bar")
    prior.set_defaults(func=cmd_style_prior)

    looks_help = ("choose a model's built-in looks (day, golden hour, dusk, overcast) among the style codes its seeds "
                  "draw, by the light of its paintings of example scenes (gaugan/looks.py)")
    lk = sub.add_parser("looks", help=looks_help, description=looks_help + "; --record writes them into model.json, "
                        "and the page offers them")
    lk.add_argument("--checkpoint", required=True, help="a model folder with style codes (a path for --record)")
    lk.add_argument("--candidates", type=at_least(8), default=256, help="seeds whose style codes are tried; with "
                    "a segmenter, only the half it reads back best can be chosen (default: %(default)s)")
    lk.add_argument("--layouts", type=at_least(1), default=6, help="example scenes each code paints (default: "
                    "%(default)s)")
    lk.add_argument("--record", action="store_true", help="write the chosen codes into the folder's model.json")
    lk.set_defaults(func=cmd_looks)

    sm = sub.add_parser("samples", help="a PNG sheet of held-out layouts and doodles with their outputs")
    sm.add_argument("--checkpoint", help="model folder (default: the shipped landscape model)")
    sm.add_argument("--out", help="(default: samples_landscape.png, or samples_sketch.png for sketch models, in this "
                                  "folder; the repository's sheets are docs/samples_*.png)")
    sm.set_defaults(func=cmd_samples)

    ls = sub.add_parser("models", help="list the checkpoint folders under --root, then the shipped models, with "
                                        "their kind (spade: labels, sketch: outlines)")
    ls.add_argument("--root", help=f"a folder of checkpoint folders (default: ${CHECKPOINTS_ENV} if set, else "
                    "checkpoints, if there is one)")
    ls.set_defaults(func=cmd_models)

    dl = sub.add_parser("download", help="fetch NVIDIA's checkpoints.tar.gz (or any weights) into checkpoints/")
    dl.add_argument("source", help="URL or local path")
    dl.add_argument("--dest", default="checkpoints", help="the folder the models are unpacked into, one sub-folder "
                    "each (a weights file is saved there as it is); created if missing (default: %(default)s)")
    dl.add_argument("--sha256", help="expected SHA-256 of the file, checked before anything is unpacked")
    dl.add_argument("--force", action="store_true", help="replace existing folders or files of the same name; a "
                    "folder only if every file of it but model.json comes again")
    dl.set_defaults(func=cmd_download)

    data = sub.add_parser("data", help="fetch training data into a cache").add_subparsers(dest="dataset", required=True)
    photos = data.add_parser("photos", help="landscape photographs under free licences from Debian packages")
    photos.add_argument("--out", required=True, help="cache folder (photos/ and manifest.json go there)")
    photos.add_argument("--debs", help="folder holding the .deb files (default OUT/debs; missing ones are "
                                       "downloaded with apt-get)")
    photos.set_defaults(func=cmd_data_photos)
    traced = data.add_parser("traced", help="crops of the training photos labelled by the photo segmenter: real "
                                            "photographs as label/image pairs (gaugan/tracing.py)")
    traced.add_argument("--photos", required=True, help="a folder from `gaugan data photos`")
    traced.add_argument("--out", required=True, help="folder for labels/, images/, labels.json and traced.json")
    traced.set_defaults(func=cmd_data_traced)
    return parser


def stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone, where the platform can tell (not on Windows)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by an object without a file (a test's capture)
        return False
    if not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()  # here, so that a reader that stopped early (`gaugan models | head -1`) is caught below
    except InputError as exc:  # refused input: bad files, wrong checkpoints, seeds out of range
        sys.exit(f"error: {exc}")
    except BrokenPipeError:
        if not stdout_closed():  # another pipe broke (a worker's, a connection's): a real failure
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush fails no more
        sys.exit(1)  # the reader went away: stop quietly, as other command-line tools do
    except KeyboardInterrupt as exc:  # Ctrl-C (or SIGTERM to training, which says where it stopped and how to go on)
        print(str(exc) or "interrupted", file=sys.stderr)
        sys.exit(128 + getattr(exc, "signum", signal.SIGINT))


if __name__ == "__main__":
    main()
