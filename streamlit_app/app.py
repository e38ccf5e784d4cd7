"""GauGAN doodle → photo: the Streamlit page (layout and session state only; all work goes through gaugan).

Every element that comes and goes (notices, errors) lives in a container created on every run, so the canvas
keeps its place in the page and is never remounted: nothing a person does loses the drawing.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "streamlit_app"))

from gaugan import GauGAN, download  # noqa: E402
from gaugan.allocator import tune_for_inference  # noqa: E402
from gaugan.canvas import (MAX_ASPECT, SHIPPED_MODEL, background_label, bucket_fill,  # noqa: E402
                           compose_labels, example_scene, fit_label_map, has_lines, list_models, mixed_style,
                           pad_to_aspect, png_bytes, style_looks, thumbnail_png)
from gaugan.errors import UnreachableError  # noqa: E402
from gaugan.images import FORMATS, read_photo  # noqa: E402
from gaugan.labelmaps import colourize, hex_colour, label_map_png, read_label_map, unknown_ids  # noqa: E402
from gaugan.presets import DONTCARE_ID, Preset, official_models_taking  # noqa: E402
from gaugan.saved_drawing import SavedDrawing, read_saved_drawing  # noqa: E402
from gaugan.semantics import remap  # noqa: E402
from gaugan.shipped import checkpoints_root  # noqa: E402
from gaugan.sketch import is_sketch_model  # noqa: E402
from gaugan.sketch_reader import source_folders  # noqa: E402
from label_colors import ALPHA_THRESHOLD, Label  # noqa: E402
from streamlit_drawable_canvas import CanvasResult, st_canvas  # noqa: E402
import sketch_mode  # noqa: E402
from undo import (KeptDrawing, keep_stroke_mask, note_replacement, remember_drawing, restart_undo,  # noqa: E402
                  undo_base_change)
from widgets import (CANVAS_SIZES, LABEL_CANVAS, LOG, NOTICE_SECONDS, PAGE_MAX_SEED, SEED_HELP,  # noqa: E402
                     background_key, bake_strokes, browser_copy, browser_saved, canvas_key, chip_styles, column_width,
                     describe, download_progress, fit_drawing, fitted_width, fresh, is_bool, is_number_in, is_one_of,
                     is_seed, keep, kept, kept_value, live_key, notice, plain, renew_widgets, reset_canvas, seed_box,
                     sent_canvas, sentence, stroke_count, undo_shortcuts, widget_key)

CHECKPOINTS = checkpoints_root(ROOT / "checkpoints")
NVIDIA_URL = os.environ.get("GAUGAN_NVIDIA_URL", "")  # a direct link to NVlabs/SPADE's checkpoints.tar.gz
LICENCE = ("NVIDIA's pretrained SPADE models (COCO-Stuff, ADE20K, Cityscapes) are licensed "
           "[CC BY-NC-SA 4.0](https://creativecommons.org/licenses/by-nc-sa/4.0/): non-commercial use only, "
           "with attribution, and adaptations shared alike.")
TOOLS = {"Brush": "freedraw", "Line": "line", "Rectangle": "rect", "Circle": "circle", "Polygon": "polygon",
         "Eraser": "freedraw", "Fill": "point"}
STROKE_TOOLS = ("Brush", "Line", "Eraser")  # the tools the brush size is for
IMAGE_TYPES = sorted(ext[1:] for ext, fmt in Image.registered_extensions().items() if fmt in FORMATS)  # what is read
LOOK_WIDTH = 104  # a look's thumbnail and button: two fit a row of the sidebar (a 320 px phone's too)
MAX_CHIPS = 40  # a larger palette is picked from a label box, with chips for the labels in the drawing
STACKED_WIDTH = 640  # Streamlit stacks columns in windows at most this wide (CSS pixels)
STORAGE_NAME = "gaugan-drawing"  # the browser storage entry (per tab, and the last of any tab) kept across reloads
BROWSER_COPY = "browser_copy"  # the key of the component that reads and writes it
MODEL_BOX = "model_box"  # the Model select-box's key, numbered (state.model holds the page's model)
BRUSH_SIZES = (2, 80)  # the brush slider's range
SAVED_SETTINGS = {"seed": is_seed, "sketch_seed": is_seed,  # the settings kept with the drawing: what each takes
                  "canvas_size": is_one_of(CANVAS_SIZES), "sketch_canvas_size": is_one_of(CANVAS_SIZES),
                  "tool": is_one_of(TOOLS), "sketch_tool": is_one_of(sketch_mode.TOOLS),
                  "brush": is_number_in(*BRUSH_SIZES, whole=True), "variations": is_bool,
                  "strength": is_number_in(0.0, 1.0)}
# ... and, of the label-map model, its unpainted-area label ("background"), the label being painted ("paint"),
# Live ("live"), the built-in look picked ("look"; NO_LOOK for "No look") and the style photo's name ("style_photo")
NO_LOOK = ""


st.set_page_config(page_title="GauGAN doodle → photo", page_icon="🎨", layout="wide")
state = st.session_state


class Controls(NamedTuple):
    """What the sidebar asks for on this run."""

    brush: int
    max_side: int
    live: bool
    variations: bool
    style: bytes | None
    look: str | None
    strength: float
    background_id: int
    seeded: bool  # the model's images vary with the seed (it takes style codes)

    @property
    def style_is_total(self) -> bool:
        """A photo's or a look's style at strength 1: every seed paints the same image."""
        return bool(self.style or self.look) and self.strength >= 1.0


class StylePhoto(NamedTuple):
    """An uploaded style photo that decodes: kept in session state, as a file uploader cannot be refilled."""

    name: str
    data: bytes
    thumbnail: bytes


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def load_model(path: str, modified: float) -> GauGAN:
    """One loaded model per checkpoint (and file version) per process (loading checks its palette too)."""
    model = GauGAN.from_checkpoint(path)
    tune_for_inference()
    return model


@st.cache_resource(show_spinner="Preparing the built-in looks…", max_entries=4)
def looks_of(path: str, modified: float) -> dict:
    """The model's built-in looks (style code and sample photo by name), computed once per model."""
    return style_looks(load_model(path, modified))


@st.cache_data(max_entries=64, show_spinner=False)
def generate_png(path: str, modified: float, labels: np.ndarray, seed: int, style: bytes | None, look: str | None,
                 strength: float) -> bytes:
    """A generated image as PNG, cached by (model, labels, seed, style photo or look, style strength)."""
    model = load_model(path, modified)
    code = None
    if style:
        code = mixed_style(model, model.encode_style(read_photo(style)), seed, strength)
    elif look:
        code = mixed_style(model, looks_of(path, modified)[look][0], seed, strength)
    return png_bytes(model.generate(labels, seed=seed, style=code, keep_aspect=True))


def modified_time(folder: Path) -> float:
    """The newest file time of a model, a read-and-paint model's painter's files included: part of the cache keys,
    so that a model replaced on disk is loaded again."""
    return max((p.stat().st_mtime for source in source_folders(folder) for p in source.iterdir() if p.is_file()),
               default=0.0)


def image_png(name: str, models: dict[str, Path], labels: np.ndarray, seed: int, controls: Controls) -> bytes:
    """The model's image of the labels for a seed, in the sidebar's style (cached: generate_png)."""
    return generate_png(str(models[name]), modified_time(models[name]), labels, seed, controls.style, controls.look,
                        controls.strength)


def load(models: dict[str, Path], name: str) -> GauGAN:
    return load_model(str(models[name]), modified_time(models[name]))


def init_state() -> None:
    defaults = {"canvas_gen": 0, "base": None, "notices": {}, "model_error": None, "upload_error": None,
                "chosen_labels": {}, "generated_for": None, "last_image": None, "toasted": set()}
    for key, value in defaults.items():
        state.setdefault(key, value)
    now = time.monotonic()
    state.notices = {text: shown for text, shown in state.notices.items()
                     if shown is None or now - shown < NOTICE_SECONDS}


# ---------------------------------------------------------------- strokes sent with this run, read early
def take_sent_strokes() -> None:
    """Each canvas's strokes sent with this run (take_sent_labels, take_sent_sketch)."""
    take_sent_labels()
    sketch_mode.take_sent_sketch()


def take_sent_labels() -> None:
    """The label canvas's strokes sent with this run, read over the base it was last drawn on, as drawing it would,
    before a callback or the script replaces the canvas. Quietly: a value that cannot be read is logged (the canvas
    reports it when drawn), and a Fill click is left to the canvas, which fills where it landed."""
    sent, under = sent_canvas(LABEL_CANVAS), state.get("canvas_under")
    if sent is None or under is None or kept_value("tool") == "Fill":
        return
    try:
        keep_labels(sent, compose_labels(sent.image_data, *under))
    except Exception:  # what the browser sent may be what fails a run
        LOG.exception("the label canvas sent with this run could not be read")


def remember_sent_drawing() -> None:
    """Keep the drawing for "Undo" before its base is replaced, with the strokes sent with this run."""
    take_sent_labels()
    remember_drawing()


def undo_sent_change() -> None:
    """"Undo fill or load", keeping the strokes sent with the click as painted since the change."""
    take_sent_labels()
    undo_base_change()


def take_sent_labels_and_mask() -> None:
    """Before the label canvas's strokes go into its base on a resize: the strokes sent with the resize, and where
    all its strokes are."""
    take_sent_labels()
    keep_stroke_mask()


# ---------------------------------------------------------------- callbacks (run before the script)
def switch_model(models: dict[str, Path], box: str) -> None:
    """A model picked in the select-box: the last model error goes; the canvas that leaves the page (the label
    map's for sketch mode, the sketch's for the label-map page) keeps its strokes in its base, those sent with the
    switch too."""
    if box != model_box_key():  # a late value from a box that choose_model replaced
        return
    take_sent_strokes()
    state.model = state[box]
    state.model_error = None
    if state.upload_error:  # the refused label map is read again, for the new model's labels
        state.upload_done = state.upload_error = None
    if is_sketch_model(models[state.model]):
        keep_stroke_mask()
        bake_strokes(LABEL_CANVAS)
    else:
        bake_strokes(sketch_mode.SKETCH_CANVAS)


def repaint_background(setting: str, key: str, old: int) -> None:
    """A new unpainted-area label takes the place of the old one in the whole drawing, under a fresh canvas."""
    take_sent_labels()
    labels = state.get("current_labels")
    if labels is not None and key == widget_key(setting):  # not a late value from a replaced box
        remember_drawing(background=old)  # the box holds the new label already
        state.base = state.current_labels = np.where(labels == old, state[key], labels)
        reset_canvas(LABEL_CANVAS)


def take_read_layout(painter: str, labels: list[Label], layout: np.ndarray, seed: int) -> None:
    """The regions a read-and-paint model read from the sketch become the drawing on the label-map page of its
    painter, with the sketch's seed; the sketch keeps its strokes (a line sent with the click too, though the
    regions were read without it)."""
    sketch_mode.take_sent_sketch()
    bake_strokes(sketch_mode.SKETCH_CANVAS)
    previous = state.get("active_model")
    if previous not in (None, painter) and state.get("current_labels") is not None:  # kept in the painter's labels
        moved, _ = remap(state.current_labels, state.active_labels, labels, background_label(labels))
        restart_undo([KeptDrawing(moved, state.get("canvas_aspect"), None)])
    else:
        remember_drawing()
    state.base = state.current_labels = layout.astype(np.int64)
    state.canvas_aspect = layout.shape[0] / layout.shape[1]
    choose_model(painter)
    state.active_model, state.active_labels = painter, labels
    keep("seed", seed)
    reset_canvas(LABEL_CANVAS)
    notice("The regions read from your sketch are on the canvas: repaint any of them, then Generate. \"Undo fill or "
           "load\" brings back the drawing that was here; your sketch is kept in sketch mode.")


def seed_after(seed: int, offset: int) -> int:
    """The seed offset places on, wrapping past PAGE_MAX_SEED to 0."""
    return (int(seed) + offset) % (PAGE_MAX_SEED + 1)


def new_variation() -> None:
    keep("seed", seed_after(kept_value("seed"), 1))


def adopt_seed(seed: int) -> None:
    keep("seed", seed)


def choose_label(model_name: str, label_id: int) -> None:
    """The label to paint with, from a chip or the label box."""
    state.chosen_labels[model_name] = label_id


# ---------------------------------------------------------------- model in use
def active_model(models: dict[str, Path]) -> tuple[str, GauGAN] | None:
    """The chosen model or, if it does not load (the error stays), the one used before or the first that loads;
    None if none does. A drawing made with another model is moved to it by label name."""
    wanted, previous = state.model, state.get("active_model")
    for name in dict.fromkeys([wanted, previous, *models]):
        if name not in models or is_sketch_model(models[name]):
            continue
        try:
            model = load(models, name)
        except ValueError as exc:
            if name == wanted:
                state.model_error = f"Could not load model **{plain(name)}**: {plain(sentence(exc))}"
            continue
        if previous and previous != name and state.get("current_labels") is not None:
            move_drawing(previous, state.active_labels, name, model.labels)
        choose_model(name)
        state.active_model, state.active_labels = name, model.labels
        return name, model
    return None


def move_drawing(previous: str, old: list[Label], name: str, new: list[Label]) -> None:
    """The drawing in the new model's labels, by label name; moved back unchanged to the model it came from, it is
    that model's drawing again exactly, labels the other model lacks included."""
    came_from, drawing, made = state.get("moved_from") or (None, None, None)
    if came_from == name and np.array_equal(made, state.current_labels):
        moved, missing = drawing, []
    else:
        moved, missing = remap(state.current_labels, old, new, background_label(new))
    state.moved_from = (previous, state.current_labels, moved)
    state.base = state.current_labels = moved
    restart_undo([])  # the history holds drawings in the other model's labels
    reset_canvas(LABEL_CANVAS)
    notice(f"Moved the drawing from **{plain(previous)}** to **{plain(name)}** by label name.")
    if missing:
        notice(f"{plain(name)} has no label for: {plain(', '.join(missing))} (painted as its background).")


# ---------------------------------------------------------------- sidebar
def model_box(models: dict[str, Path]) -> None:
    """The page title and the Model select-box, in both page modes."""
    st.sidebar.title("GauGAN")
    names = list(models)
    st.sidebar.selectbox("Model", names, index=names.index(state.model), key=model_box_key(),
                         on_change=switch_model, args=(models, model_box_key()),
                         help=f"The shipped models and every checkpoint folder in {plain(CHECKPOINTS)}.")


def model_box_key() -> str:
    """The Model box's key: a new one whenever the page, not the user, changes the model (choose_model)."""
    return f"{MODEL_BOX}_{state.get('model_box_generation', 0)}"


def choose_model(name: str) -> None:
    """Make name the page's model, shown by a new Model box: a value the browser sends for the old box before it
    has shown the new one is then ignored (it would win over one set in session state, and switch back)."""
    if state.get("model") != name:
        state.model_box_generation = state.get("model_box_generation", 0) + 1
    state.model = name


def sidebar(models: dict[str, Path], name: str, model: GauGAN) -> Controls:
    """The label-map page's settings; each keeps its value while sketch mode is shown."""
    bar = st.sidebar
    describe(bar, "", model_card_description(models[name]))
    palette = model.labels
    setting = background_key(name)
    ids = [l.id for l in palette]
    widget = kept(setting, background_label(palette), ids)
    background_id = bar.selectbox(
        "Unpainted area", ids, **widget, on_change=repaint_background,
        args=(setting, widget["key"], ids[widget["index"]]),
        format_func=lambda i: next(l.name for l in palette if l.id == i),
        help="The label of every pixel you have not painted; the eraser and Clear paint it too. Changing it repaints "
             "every pixel of the old label with the new one, on a blank canvas, a filled one or a loaded map alike.")
    brush = bar.slider("Brush size", *BRUSH_SIZES, **kept("brush", 24))
    size = bar.selectbox("Canvas", list(CANVAS_SIZES), **kept("canvas_size", "Large (512 px)", CANVAS_SIZES),
                         help="Its longer side at most this; it shrinks to fit narrow windows.")
    seeded = model.varies_with_seed
    if seeded:
        seed_box(bar, "seed", SEED_HELP)
        bar.button("New variation", on_click=new_variation, width="stretch", key="new_variation")
    else:
        bar.caption("This model takes no style codes: it paints one image per drawing, so it has no seed.")
    live = bar.toggle("Live: regenerate after each stroke", **kept(live_key(name), name == SHIPPED_MODEL))
    variations = seeded and bar.toggle("Show 4 variations", **kept("variations", False))
    styled = seeded and (model.has_style_encoder or bool(model.looks))
    style, look, strength = style_controls(models, name, model) if styled else (None, None, 1.0)
    return Controls(brush, CANVAS_SIZES[size], live, variations, style, look, strength, background_id, seeded)


def style_controls(models: dict[str, Path], name: str, model: GauGAN) -> tuple[bytes | None, str | None, float]:
    """A style photo (models with a style encoder), or one of the model's built-in looks (thumbnails; a click picks
    one), and the strength."""
    bar = st.sidebar
    bar.subheader("Style")
    looks = looks_of(str(models[name]), modified_time(models[name]))
    photo = state.get("style_photo")
    picked = state.look if "look" in state else next(iter(looks), None)  # until one is picked: the model's first
    chosen = picked if picked in looks and photo is None else None  # the look in use
    if looks:
        row = bar.container(horizontal=True, gap="small")  # two a row, on phones too (columns would stack there)
        for look in looks:
            cell = row.container(width=LOOK_WIDTH)
            cell.image(looks[look][1], width="stretch")
            cell.button(plain(look), key=f"look_{look}", on_click=pick_look, args=(look,), width="stretch",
                        type="primary" if chosen == look else "secondary")
        bar.button("No look (seed only)", key="no_look", on_click=pick_look, args=(None,), width="stretch",
                   type="primary" if chosen is None and photo is None else "secondary")
    style = None
    if model.has_style_encoder:
        key = f"style_{state.get('style_uploads', 0)}"
        if bar.file_uploader("Style from a photo", type=IMAGE_TYPES, key=key,
                             on_change=take_style_photo, args=(key,)) is None:
            state.style_error = None  # a refused file's error goes with the file
        style = style_photo_in_use()
    strength = bar.slider("Style strength", 0.0, 1.0, step=0.05, **kept("strength", 0.8),
                          disabled=not (style or chosen),
                          help="1 copies the look; lower values mix in the seed, so seeds still vary.")
    return style, chosen, strength


def kept_look() -> str | None:
    """The look to keep with the drawing: the one picked, NO_LOOK for "No look", None while none was ever picked
    (the model's first look is in use) or while a style photo, which is not kept, takes a look's place."""
    if "look" not in state or state.get("style_photo"):
        return None
    return NO_LOOK if state.look is None else state.look


def pick_look(look: str | None) -> None:
    """A look (or none) replaces the style photo in use."""
    if state.get("style_photo"):
        drop_style_photo()
    state.look = look


def nvidia_models(models: dict[str, Path]) -> None:
    """Download, verify and unpack NVIDIA's checkpoints.tar.gz into the checkpoints folder, after the licence."""
    with st.sidebar.expander("Get NVIDIA's pretrained models", key="nvidia", on_change=drop_download_error):
        st.markdown(LICENCE)
        typed = st.text_input("checkpoints.tar.gz URL", **kept("nvidia_url", ""), on_change=drop_download_error,
                              placeholder=NVIDIA_URL, help="The archive linked from the NVlabs/SPADE README (an http(s) "
                              "address of a public host; a file on the computer that runs this page: `gaugan download "
                              "PATH`)." + (" Left empty, the address shown in grey is fetched." if NVIDIA_URL else ""))
        url = typed.strip() or NVIDIA_URL.strip()  # the operator's default is a placeholder: a browser cannot blank it
        agreed = st.checkbox("I accept the licence: non-commercial use only", **kept("nvidia_licence", False))
        if not st.button("Download and unpack", disabled=not (agreed and url), key="nvidia_download"):
            return
        try:  # a visitor's address is fetched from public hosts only; the operator's (GAUGAN_NVIDIA_URL) as it is
            with download_progress("the archive (about 0.6 GB)") as progress:
                download(url, CHECKPOINTS, progress=progress, public_only=url != NVIDIA_URL.strip())
        except (ValueError, OSError) as exc:  # OSError: no network, refused connection, full disk
            offline = (" Without a network connection, download the archive elsewhere and install it with "
                       "`gaugan download PATH` on the computer that runs this page."
                       if isinstance(exc, UnreachableError) else "")
            state.download_error = fresh(f"Could not download the archive: {plain(sentence(exc))}{offline}")
            return
        state.download_error = None
        added = sorted(set(list_models(CHECKPOINTS)) - set(models))
        notice(f"Unpacked into {plain(CHECKPOINTS)}: " + (plain(", ".join(added)) if added else "no new models") + ".")
        st.rerun()


def drop_download_error() -> None:
    """A download error goes when its URL changes or its expander is closed (or opened)."""
    state.download_error = None


def take_style_photo(key: str) -> None:
    """A file put into the style uploader becomes the style photo if it decodes (else its error shows and the photo
    in use stays). Emptying the uploader, which the browser also does on its way to a replacement, takes away a
    refused file's error only: the photo in use stays until "Drop the style photo" or a look."""
    upload = state[key]
    if upload is None:
        state.style_error = None
        return
    try:
        thumbnail = thumbnail_png(read_photo(upload.getvalue()))
    except ValueError as exc:
        state.style_error = fresh(f"Could not use **{plain(upload.name)}** as a style photo: {plain(exc)}. Your "
                                  "drawing is kept.")
        return
    state.style_photo, state.style_error, state.look = StylePhoto(upload.name, upload.getvalue(), thumbnail), None, None


def drop_style_photo() -> None:
    """No style photo any more, and an empty uploader (a fresh one)."""
    state.style_photo = None
    state.style_uploads = state.get("style_uploads", 0) + 1


def style_photo_in_use() -> bytes | None:
    """The style photo's bytes, shown with its name and a button that drops it; None without one."""
    photo = state.get("style_photo")
    if photo is None:
        return None
    bar = st.sidebar
    bar.image(photo.thumbnail, width=120)
    bar.caption(f"Style photo in use: **{plain(photo.name)}**")
    bar.button("Drop the style photo", key="drop_style", on_click=drop_style_photo, width="stretch")
    return photo.data


def model_card_description(folder: Path) -> str | None:
    from gaugan.model_card import read_card

    try:
        card = read_card(folder)
    except ValueError:
        return None
    description = card.raw.get("description") if card is not None else None
    return description if isinstance(description, str) else None


def base_map_controls(name: str, model: GauGAN, controls: Controls, available: int | None) -> None:
    """Upload a label map (the canvas takes its shape), load an example or clear (the canvas takes the model's
    shape): each replaces the base map under a fresh canvas."""
    bar = st.sidebar
    upload = bar.file_uploader("Start from a label map (ids or colours; PNG best)", type=IMAGE_TYPES, key="upload",
                               help="8-bit ids or label colours; JPEG and WEBP store colours approximately, so their "
                                    "label edges may be off.")
    take_upload(upload, name, model.labels, controls.background_id, model.preset)
    if bar.button("Example scene", width="stretch", key="example"):
        remember_sent_drawing()
        state.canvas_aspect = None
        state.example_seed = state.get("example_seed", -1) + 1  # each click shows the next scene
        size = canvas_size(model, controls, available)
        state.base, missing = example_scene(state.example_seed, model.labels, size)
        reset_canvas(LABEL_CANVAS)
        if missing:
            notice(f"{plain(name)} lacks {plain(', '.join(missing))}; shown as its fallback label.")
    if bar.button("Clear", width="stretch", key="clear"):
        remember_sent_drawing()
        state.base = state.canvas_aspect = None
        reset_canvas(LABEL_CANVAS)


def take_upload(upload, name: str, palette: list[Label], background_id: int, preset: Preset) -> None:
    """Read a new upload once; its error stays on screen as long as the file stays in the uploader, naming NVIDIA's
    models that take its ids. Where the model has a dont-care label (COCO-Stuff's and ADE20K's 255, unlabelled),
    those pixels take the unpainted-area label, with a note: the canvas paints labels only."""
    if upload is None or state.get("upload_done") == upload.file_id:
        return
    background = next(l.name for l in palette if l.id == background_id)
    state.upload_done = upload.file_id
    state.notices = {}  # a new file's notes replace the last file's
    notes: list[str] = []
    try:
        uploaded = read_label_map(upload.getvalue(), palette, background_id, notes)
        dont_care_painted = preset.contain_dontcare_label and DONTCARE_ID not in {l.id for l in palette}
        if dont_care_painted and (unlabelled := uploaded == DONTCARE_ID).any():
            uploaded = np.where(unlabelled, background_id, uploaded)
            share = f"{unlabelled.mean():.0%}" if unlabelled.mean() >= 0.01 else "under 1%"
            notes.append(f"{share} of it is unlabelled ({DONTCARE_ID}), painted as the unpainted-area label, "
                         f"{background}")
        if unknown := unknown_ids(uploaded, palette):
            made_for = official_models_taking(uploaded, preset.name)
            hint = f"; these ids fit {made_for} (sidebar: Get NVIDIA's pretrained models)" if made_for else ""
            raise ValueError(f"ids {unknown[:12]} are not labels of {name} "
                             f"(valid: {min(l.id for l in palette)}..{max(l.id for l in palette)}){hint}")
    except ValueError as exc:
        message = f"Could not use **{plain(upload.name)}**: {plain(exc)}. Your drawing is kept."
        state.upload_error = upload.file_id, fresh(message)
        return
    state.upload_error = None
    remember_sent_drawing()
    state.base = pad_to_aspect(uploaded, background_id)
    state.canvas_aspect = state.base.shape[0] / state.base.shape[1]
    reset_canvas(LABEL_CANVAS)
    loaded = f"Loaded {plain(upload.name)} ({uploaded.shape[1]}×{uploaded.shape[0]})"
    if state.base.shape == uploaded.shape:
        notice(f"{loaded}; the canvas takes its shape.")
    else:
        notice(f"{loaded}. Its sides are more than {MAX_ASPECT:g}:1, the canvas's limit: the canvas is {MAX_ASPECT:g}:1 "
               f"with the map in the middle and {plain(background)} around it, not stretched.")
    for note in notes:
        notice(f"{plain(upload.name)}: {plain(note)}.")


# ---------------------------------------------------------------- canvas
def canvas_size(model: GauGAN, controls: Controls, available: int | None) -> tuple[int, int]:
    """(height, width) of the canvas in the uploaded map's aspect ratio, else the model's: the chosen size on its
    longer side, no wider than the column."""
    out_h, out_w = model.preset.output_size
    aspect = state.get("canvas_aspect") or out_h / out_w
    width = min(fitted_width(controls.max_side, available), round(controls.max_side / aspect))
    return max(64, round(width * aspect)), width


def palette_chips(name: str, palette: list[Label], base: np.ndarray) -> int:
    """Clickable named colour chips and the tools, always beside the canvas; returns the chosen label id. A palette
    of more than MAX_CHIPS labels (COCO-Stuff's 182) is picked from a box that finds a label as its name is typed,
    and chips show the labels in the drawing and the chosen one, so that the canvas stays in sight."""
    ids = [l.id for l in palette]
    chosen = state.chosen_labels.get(name)
    if chosen not in ids:
        chosen = next((l.id for l in palette if l.name in ("mountain", "tree", "person", "car")), ids[0])
        state.chosen_labels[name] = chosen
    shown = palette
    if len(palette) > MAX_CHIPS:
        box = f"label_box_{name}"
        state[box] = chosen  # the box shows the label chosen by a chip too
        names = {l.id: l.name for l in palette}
        st.selectbox("Label", ids, key=box, format_func=names.get, on_change=lambda: choose_label(name, state[box]),
                     help="Type to find a label; the chips below are the labels in your drawing.")
        drawn = [base, *([state.current_labels] if state.get("current_labels") is not None else [])]
        present = set().union(*(np.unique(d).tolist() for d in drawn))  # strokes are in the last run's drawing
        shown = [l for l in palette if l.id in present or l.id == chosen][:MAX_CHIPS]
    chips = st.container(horizontal=True, gap="small", key="chips")
    for label in shown:
        chips.button(plain(label.name), key=f"chip_{label.id}", on_click=choose_label, args=(name, label.id),
                     help=f"{hex_colour(label.rgb)}")
    chip_styles({f"chip_{l.id}": l.rgb for l in shown}, f"chip_{chosen}")
    st.radio("Tool", list(TOOLS), horizontal=True, **kept("tool", "Brush", TOOLS), label_visibility="collapsed")
    if kept_value("tool") == "Polygon":
        st.caption("Click each corner, then the first corner again to close the polygon (another tool drops an open "
                   "one).")
    return chosen


def draw(palette: list[Label], base: np.ndarray, label_id: int, controls: Controls) -> np.ndarray | None:
    """The canvas over the base map; returns the label map it shows (None if the canvas cannot be read)."""
    by_id = {l.id: l for l in palette}
    tool = kept_value("tool")
    colour = hex_colour(by_id[controls.background_id if tool == "Eraser" else label_id].rgb)
    fill = tool == "Fill"
    canvas = st_canvas(  # shapes and fills are drawn as they are dragged; the brush size is for strokes and lines
        fill_color=colour, stroke_width=controls.brush if tool in STROKE_TOOLS else 1, stroke_color=colour,
        background_color="",
        background_image=Image.fromarray(colourize(base, palette)), update_streamlit=True,
        height=base.shape[0], width=base.shape[1], drawing_mode=TOOLS[tool], point_display_radius=1,
        key=canvas_key(LABEL_CANVAS), return_image_data=True)
    undo_shortcuts(LABEL_CANVAS.key)
    state.canvas_under = base, palette  # what page_failed reads strokes sent with a failed run over
    labels = composed_labels(canvas, base, palette)
    if labels is None:
        return None
    if fill and fill_at_point(canvas.json_data, labels, label_id):
        st.rerun()
    keep_labels(canvas, labels)
    return labels


def composed_labels(canvas: CanvasResult, base: np.ndarray, palette: list[Label]) -> np.ndarray | None:
    """The label map the canvas shows (its strokes over base), or None with an error shown if it cannot be read."""
    try:
        return compose_labels(canvas.image_data, base, palette)
    except ValueError as exc:
        st.error(f"Could not read the canvas: {plain(exc)}")
        return None


def keep_labels(canvas: CanvasResult, labels: np.ndarray) -> None:
    """The label map the canvas shows, its stroke count and where its strokes are, for the rest of the page (all
    three or, if the canvas cannot be read, none)."""
    strokes = stroke_count(canvas)
    mask = None if canvas.image_data is None else canvas.image_data[..., 3] >= ALPHA_THRESHOLD
    state.current_labels, state.strokes, state.stroke_mask = labels, strokes, mask


def fill_at_point(drawing: dict | None, shown: np.ndarray, label_id: int) -> bool:
    """A click with the Fill tool paints the enclosed region under it. The click is a point the canvas added since
    the last run (a circle drawn before with the Circle tool is none); strokes that came with it count, the dot it
    leaves does not."""
    objects = (drawing or {}).get("objects", [])
    new = objects[state.get("strokes", 0):]
    last = state.get("current_labels")
    if not new or new[-1].get("type", "").lower() != "circle" or last is None or last.shape != shown.shape:
        return False
    point = new[-1]
    radius, stroke = point.get("radius", 1), point.get("strokeWidth", 1)
    y, x = point["top"], point["left"] + radius + stroke / 2
    rows, columns = np.ogrid[:shown.shape[0], :shown.shape[1]]
    dot = (rows - y) ** 2 + (columns - x) ** 2 <= (radius + stroke + 1) ** 2
    state.current_labels = np.where(dot, last, shown)  # the drawing the click was made on
    remember_drawing()
    state.base = state.current_labels = bucket_fill(state.current_labels, (round(y), round(x)), label_id)
    reset_canvas(LABEL_CANVAS)
    return True


# ---------------------------------------------------------------- result
def result(name: str, models: dict[str, Path], labels: np.ndarray, controls: Controls, clicked: bool,
           width: int) -> bool:
    """The generated image; the last one stays on screen, marked stale, until the next one is ready. Returns
    whether the image shown is of this drawing (variations follow it)."""
    slot = st.container(key="result").empty()
    drawing = (name, labels.tobytes(), labels.shape)
    changed = state.generated_for != drawing
    restored = state.pop("generate_restored", False)  # a reload shows the kept drawing's image, as before it
    if changed and not (controls.live or clicked or restored):
        if state.last_image:
            made_with = state.generated_for[0]
            why = f"made with {plain(made_with)}" if made_with != name else "the drawing changed"
            slot.image(state.last_image, caption=f"Out of date: {why}. Press Generate (or turn on Live).",
                       width=width)
        else:
            slot.caption("Paint, then press Generate." if not controls.live else "Paint to generate.")
        return False
    if state.last_image:
        slot.image(state.last_image, caption="Generating…", width=width)
    seed = int(kept_value("seed") or 0)  # none yet where only models without style codes were shown
    try:
        image = image_png(name, models, labels, seed, controls)
    except ValueError as exc:
        slot.error(f"Could not generate: {plain(exc)}. Your drawing is kept.")
        return False
    state.generated_for, state.last_image = drawing, image
    style = ("style from your photo" if controls.style else f"{plain(controls.look)} look" if controls.look
             else "style from the seed")
    seeded = f"seed {seed}" + (" (at style strength 1 every seed paints this image)" if controls.style_is_total else "")
    caption = f"{plain(name)} · {seeded} · {style}" if controls.seeded else plain(name)
    slot.image(image, caption=caption, width=width)
    st.download_button("Download image", image, "gaugan.png", "image/png", on_click="ignore", key="download_image")
    return True


def downloads(labels: np.ndarray, palette: list[Label]) -> None:
    st.download_button("Download label map (ids)", label_map_png(labels), "labels_ids.png", "image/png",
                       on_click="ignore", key="download_ids")
    st.download_button("Download label map (colours)", label_map_png(labels, palette), "labels_colours.png",
                       "image/png", on_click="ignore", key="download_colours")


def variations(name: str, models: dict[str, Path], labels: np.ndarray, controls: Controls, current: bool) -> None:
    """Four seeds side by side, generated when the image is (current: it shows this drawing); the button under one
    adopts its seed."""
    st.subheader("Variations")
    if not current:
        st.caption("They follow the image: press Generate (or turn on Live).")
        return
    if controls.style_is_total:
        st.caption("At style strength 1 every seed paints the same image: lower the strength to vary them.")
        return
    for offset, column in enumerate(st.columns(4)):
        seed = seed_after(kept_value("seed"), offset)
        try:
            column.image(image_png(name, models, labels, seed, controls), caption=f"seed {seed}")
        except ValueError as exc:
            column.error(plain(exc))
            continue
        column.button(f"Use seed {seed}", key=f"adopt_{offset}", on_click=adopt_seed, args=(seed,),
                      width="stretch")


def upload_error() -> str | None:
    """The error of the file in the label-map uploader, while that file stays there."""
    held, upload = state.upload_error, state.get("upload")
    return held[1] if held and upload is not None and upload.file_id == held[0] else None


def show_messages(box, name: str | None, label_page: bool = True) -> None:
    """Errors that stay while their cause stays (name: the model in use, None if none loads; the upload, style and
    download errors only on the label-map page, whose controls they are about); notices until the user's next
    action. Each also pops up once as a toast, shown only where the columns stack (a phone): there the box is out of
    sight, and a toast shows over the sidebar the phone opens on top."""
    model_error = state.model_error and state.model_error + (
        f" Using **{plain(name)}** instead; your drawing is kept." if name else
        " No other model loads either; pick one in the Model box.")
    controls = (upload_error(), state.get("style_error"), state.get("download_error")) if label_page else ()
    errors = [e for e in (model_error, *controls) if e]
    for error in errors:
        box.error(error)
    for text in state.notices:
        box.info(text)
    for text in [*errors, *state.notices]:
        if text not in state.toasted:
            st.toast(text, icon="⚠️" if text in errors else "ℹ️")
    st.html(f"<style>@media (min-width: {STACKED_WIDTH + 1}px) {{ [data-testid='stToastContainer'] "
            "{ display: none; } } [data-testid='stToastContainer'], [data-testid='stToastContainer'] * "
            "{ pointer-events: none; } [data-testid='stToastContainer'] button { pointer-events: auto; }</style>")
    # a toast never blocks the controls it shows over, but its "view more" and close buttons work
    state.toasted = {*errors, *state.notices}
    now = time.monotonic()
    state.notices = {text: now if shown is None else shown for text, shown in state.notices.items()}


# ---------------------------------------------------------------- the browser's copy of the drawing
def drawing_text() -> str:
    """This session's drawing (both pages'), its model and settings, as the text the browser keeps; "" when there
    is no drawing (nothing drawn yet, or Clear on both pages), which removes the browser's copy."""
    labels = state.get("current_labels") if has_label_drawing() else None
    sketch = state.get("sketch")
    sketch = sketch if sketch is not None and has_lines(sketch) else None
    if labels is None and sketch is None:
        return ""
    name = state.get("active_model")
    settings = {key: value for key in SAVED_SETTINGS if (value := kept_value(key)) is not None}
    model_settings = {"background": kept_value(background_key(name)), "live": kept_value(live_key(name)),
                      "paint": state.chosen_labels.get(name), "look": kept_look(),
                      "style_photo": state.style_photo.name if state.get("style_photo") else None}
    settings |= {key: value for key, value in model_settings.items() if value is not None}
    return SavedDrawing(model=state.get("model"), label_model=name, labels=labels,
                        aspect=state.get("canvas_aspect"), sketch=sketch, settings=settings).to_text()


def has_label_drawing() -> bool:
    """Whether the label-map canvas holds anything drawn, filled or loaded (not since Clear)."""
    return state.base is not None or bool(state.get("strokes"))


def has_own_drawing() -> bool:
    """Whether this session has drawn, filled, loaded or sketched anything yet."""
    return has_label_drawing() or bool(state.get("sketch_strokes")) or state.get("sketch_base") is not None


def keep_drawing() -> None:
    """Once the browser's copy has been taken, the drawing as the canvas shows it now goes into it: called as soon
    as the canvas is read, before the photo is generated, so that a reload meanwhile keeps the last change."""
    if state.get("restore_checked"):
        browser_copy(BROWSER_COPY, STORAGE_NAME, drawing_text())


def restore_drawing(models: dict[str, Path], text: str) -> None:
    """The drawing this browser kept (text), put back once, before a session has drawn anything of its own (after a
    reload or on a new visit); a kept part that no longer fits (its model gone, a damaged copy) is left out, saying so.

    Runs at the top of the script: any session-state write may be cut short by a rerun the browser asks for, so a
    restore that was begun is done again in full by the next run, and marked done only at its end."""
    if not state.get("restoring"):
        if not text or has_own_drawing():
            state.restore_checked = True
            return
        state.restoring = True
    try:
        apply_saved_drawing(models, read_saved_drawing(text))
    except Exception as exc:  # an untrusted copy must never keep the page from starting (ValueError, TypeError, ...)
        notice(f"The drawing kept in this browser could not be restored: {plain(sentence(exc))} You start afresh.")
    renew_widgets()
    state.restore_checked, state.restoring = True, False


def apply_saved_drawing(models: dict[str, Path], saved: SavedDrawing) -> None:
    """Put the kept model, drawings and settings back; a part that no longer fits is left out with a notice."""
    if saved.model in models:
        choose_model(saved.model)
    elif saved.model is not None:
        notice(f"The model you used, **{plain(saved.model)}**, is not here; the page opens with another.")
    restored = saved.labels is not None and restore_label_map(models, saved)
    if saved.sketch is not None:
        state.sketch_base = state.sketch = saved.sketch
        reset_canvas(sketch_mode.SKETCH_CANVAS)
    refused = []
    for key, value in saved.settings.items():
        if key in SAVED_SETTINGS and SAVED_SETTINGS[key](value):
            keep(key, value)
        elif key in SAVED_SETTINGS:
            refused.append(f"{key} {json.dumps(value)[:40]}")
    if refused:
        notice(f"Kept settings the page does not take were left out: {plain('; '.join(refused))}.")
    if isinstance(photo := saved.settings.get("style_photo"), str) and photo:
        notice(f"The style photo **{plain(photo[:120])}** is not kept with the drawing: upload it again to use it.")
    back = " and ".join(name for name, kept_back in (("label map", restored), ("sketch", saved.sketch is not None))
                        if kept_back)
    if back:
        notice(f"Your {back} from your last visit in this browser {'are' if ' and ' in back else 'is'} back; Clear "
               "starts a new one.")


def restore_label_map(models: dict[str, Path], saved: SavedDrawing) -> bool:
    """The kept label map on the label-map canvas, if the model it was drawn with is here and has all its ids."""
    name = saved.label_model
    if name not in models or is_sketch_model(models[name]):
        model = f"the model **{plain(name)}**" if name else "a model it does not name"
        notice(f"The kept label map was drawn with {model}, which is not a label-map model here; the map was left "
               "out.")
        return False
    try:
        model = load(models, name)
    except ValueError as exc:
        notice(f"The kept label map's model **{plain(name)}** does not load ({plain(exc)}); the map was left out.")
        return False
    palette = model.labels
    ids = {label.id for label in palette}
    if unknown := unknown_ids(saved.labels, palette):
        notice(f"The kept label map has ids that **{plain(name)}** lacks ({plain(unknown[:5])}); it was left out.")
        return False
    state.base = state.current_labels = saved.labels
    state.canvas_aspect = saved.aspect
    state.generate_restored = True
    state.active_model, state.active_labels = name, palette
    if is_one_of(ids)(saved.settings.get("background")):
        keep(background_key(name), saved.settings["background"])
    if is_one_of(ids)(saved.settings.get("paint")):
        state.chosen_labels[name] = saved.settings["paint"]
    if is_bool(saved.settings.get("live")):
        keep(live_key(name), saved.settings["live"])
    if is_one_of([*model.looks, NO_LOOK])(saved.settings.get("look")):
        state.look = saved.settings["look"] or None
    reset_canvas(LABEL_CANVAS)
    return True


# ---------------------------------------------------------------- page
def main() -> None:
    init_state()
    models = list_models(CHECKPOINTS)
    if not models:
        st.error(f"No models found: no shipped models and none in {plain(CHECKPOINTS)}. Expected folders with "
                 "model.json (ours) or latest_net_G.pth (NVIDIA's <name>\\_pretrained).")
        st.stop()
    if state.get("model") not in models:
        choose_model(next(iter(models)))
    if not state.get("restore_checked") and (saved := browser_saved(BROWSER_COPY)) is not None:
        restore_drawing(models, saved)  # before any widget, which may then take a kept setting
    try:
        page(models)
    except Exception as exc:  # a defect: said in plain text, and the drawing kept for the next run
        page_failed(exc)
    if not state.get("restore_checked"):  # last: a rerun it causes must not come before the browser shows the
        browser_copy(BROWSER_COPY, STORAGE_NAME, None)  # widgets, or they fall back to their own defaults


def page_failed(exc: Exception) -> None:
    """An error the page did not foresee: logged with its traceback and shown in plain text; each canvas's strokes go
    into its base, as a canvas that a failed run did not draw loses them, those sent with this run too."""
    LOG.exception("the page failed")
    take_sent_strokes()
    keep_stroke_mask()
    for canvas in (LABEL_CANVAS, sketch_mode.SKETCH_CANVAS):
        bake_strokes(canvas)
    said = (str(exc).strip().splitlines() or [""])[0][:300]  # the rest is in the server's log
    st.error(f"The page failed: {plain(type(exc).__name__)}: {plain(said)}. Your drawing is kept; reloading the page "
             "starts it afresh, with the drawing.")


def page(models: dict[str, Path]) -> None:
    """The label-map page, or sketch mode for a sketch model."""
    if is_sketch_model(models[state.model]):  # outlines -> photo
        model_box(models)
        left, right = st.columns(2)
        messages = right.container(key="messages")  # beside the canvas, as on the label-map page
        sketch_mode.render(models[state.model], state.model, modified_time(models[state.model]), models,
                           take_read_layout, (left, right), keep_drawing)
        show_messages(messages, state.model, label_page=False)
        return
    loaded = active_model(models)
    model_box(models)
    if loaded is None:
        show_messages(st.container(key="messages"), None)
        return
    name, model = loaded
    controls = sidebar(models, name, model)
    left, right = st.columns(2)
    messages = right.container(key="messages")  # beside the canvas, which a message above would push down
    with left:
        available = column_width("canvas_column")
        base_map_controls(name, model, controls, available)
        size = canvas_size(model, controls, available)
        fit_drawing(LABEL_CANVAS, size, fit_label_map, before_bake=take_sent_labels_and_mask)
        base = state.base if state.base is not None else np.full(size, controls.background_id, dtype=np.int64)
        note_replacement(base)
        label_id = palette_chips(name, model.labels, base)
        labels = draw(model.labels, base, label_id, controls)
        keep_drawing()
        st.button("Undo fill or load", key="undo_base", on_click=undo_sent_change, width="stretch",
                  disabled=not state.get("undo"), help="Takes back the last fill, upload, example scene, Clear or "
                  "Unpainted area change, keeping what you painted since; the canvas's own Undo (Ctrl+Z) takes back "
                  "strokes.")
        clicked = st.button("Generate", type="primary", width="stretch", key="generate")
    current = False
    with right:
        if labels is not None:
            current = result(name, models, labels, controls, clicked, size[1])
            downloads(labels, model.labels)
    if controls.variations and labels is not None:
        variations(name, models, labels, controls, current)
    nvidia_models(models)
    show_messages(messages, name)


main()
