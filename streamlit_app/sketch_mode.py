"""The page's sketch mode (for sketch models): black pen on a white canvas, eraser, pen width, the photo beside it.

Layout and session state only; the sketch model (gaugan.load_sketch_model) does the work.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from gaugan import Pix2Pix, ReadAndPaint, load_sketch_model
from gaugan.canvas import blank_sketch, compose_sketch, fit_sketch, has_lines, png_bytes
from gaugan.labelmaps import colourize
from streamlit_drawable_canvas import CanvasResult, st_canvas
from widgets import (CANVAS_SIZES, LOG, SEED_HELP, CanvasState, canvas_key, column_width, describe, fit_drawing,
                     fitted_width, kept, plain, reset_canvas, seed_box, sent_canvas, stroke_count,
                     undo_shortcuts)

PEN, ERASER = "Pen", "Eraser"  # plain words: an emoji shows as a blank box without an emoji font
TOOLS = (PEN, ERASER)
SKETCH_CANVAS = CanvasState(base="sketch_base", generation="sketch_gen", strokes="sketch_strokes", shown="sketch",
                            shape="sketch_shape", key="sketch_canvas_")


@st.cache_resource(show_spinner="Loading sketch model…")
def cached_sketch_model(path: str, modified: float) -> Pix2Pix | ReadAndPaint:
    """One loaded sketch model per checkpoint (and file version) per process."""
    return load_sketch_model(path)


@st.cache_data(max_entries=64, show_spinner=False)
def photo_png(path: str, modified: float, sketch_png: bytes, class_id: str | None, seed: int | None) -> bytes:
    """The photo for a sketch as PNG, cached by (model, sketch, class, seed); a read-and-paint model paints the
    reading read_layout keeps, so a new seed does not read the sketch again."""
    model = cached_sketch_model(path, modified)
    if isinstance(model, ReadAndPaint):
        return png_bytes(model.paint(read_layout(path, modified, sketch_png), seed, keep_aspect=True))
    return png_bytes(model.generate(Image.open(io.BytesIO(sketch_png)), seed, class_id, keep_aspect=True))


@st.cache_data(max_entries=64, show_spinner=False)
def read_layout(path: str, modified: float, sketch_png: bytes) -> np.ndarray:
    """What a read-and-paint model reads in a sketch: a label map of its painter's ids."""
    return cached_sketch_model(path, modified).read(Image.open(io.BytesIO(sketch_png)))


def reading(model: ReadAndPaint, layout: np.ndarray, models: dict[str, Path], seed: int,
            take_layout: Callable[[str, list, np.ndarray, int], None]) -> None:
    """The read label map in the painter's colours, and a button that opens it on the label-map page when the
    painter's folder is one of the page's models."""
    with st.expander("What the model read"):
        st.image(png_bytes(Image.fromarray(colourize(layout, model.painter.labels))), width="stretch",
                 caption="The regions read from your lines: what the painter painted.")
        painter = next((name for name, folder in models.items() if model.painter_folder
                        and folder.resolve() == model.painter_folder.resolve()), None)
        if painter:
            st.button(f"Edit these regions with {plain(painter)}", key="edit_read_layout", on_click=take_layout,
                      args=(painter, model.painter.labels, layout, seed),
                      help="Opens the label-map page with these regions on its canvas and this seed; your sketch "
                           "is kept.")


def draw(base: np.ndarray, tool: str, width: int) -> np.ndarray | None:
    """The canvas over the base sketch; returns the sketch it shows (None if the canvas cannot be read)."""
    state = st.session_state
    canvas = st_canvas(stroke_width=width, stroke_color="#000000" if tool == PEN else "#ffffff", background_color="",
                       background_image=Image.fromarray(base), update_streamlit=True, height=base.shape[0],
                       width=base.shape[1], drawing_mode="freedraw", key=canvas_key(SKETCH_CANVAS),
                       return_image_data=True)
    undo_shortcuts(SKETCH_CANVAS.key)
    state.sketch_under = base  # what page_failed reads strokes sent with a failed run over
    return read_sketch(canvas, base)


def take_sent_sketch() -> None:
    """The sketch canvas's strokes sent with this run, read over the sketch it was last drawn on, before a callback
    or the script replaces the canvas. Quietly: a value that cannot be read is logged (the canvas reports it when
    drawn)."""
    sent, under = sent_canvas(SKETCH_CANVAS), st.session_state.get("sketch_under")
    if sent is None or under is None:
        return
    try:
        keep_sketch(sent, under)
    except Exception:  # what the browser sent may be what fails a run
        LOG.exception("the sketch canvas sent with this run could not be read")


def read_sketch(canvas: CanvasResult, base: np.ndarray) -> np.ndarray | None:
    """keep_sketch; None, with an error shown, if the canvas cannot be read."""
    try:
        return keep_sketch(canvas, base)
    except ValueError as exc:
        st.error(f"Could not read the canvas: {plain(exc)}")
        return None


def keep_sketch(canvas: CanvasResult, base: np.ndarray) -> np.ndarray:
    """The sketch the canvas shows (its strokes over base), kept with its stroke count (both, or neither if the
    canvas cannot be read)."""
    sketch = compose_sketch(canvas.image_data, base)
    strokes = stroke_count(canvas)
    st.session_state.sketch, st.session_state.sketch_strokes = sketch, strokes
    return sketch


def swap_sketch(sketch: np.ndarray | None = None) -> None:
    """Put sketch (None: a blank one, as Clear does) on a fresh canvas; the sketch it replaces, if it has lines, is
    kept for "Undo clear" (with the strokes sent with this run)."""
    state = st.session_state
    take_sent_sketch()
    shown = state.get("sketch")
    if shown is not None and has_lines(shown):
        state.sketch_cleared = shown
    elif sketch is not None:
        state.sketch_cleared = None
    state.sketch_base = sketch
    reset_canvas(SKETCH_CANVAS)


def undo_clear() -> None:
    """The sketch Clear took away, back on the canvas (swapped with what is there)."""
    swap_sketch(st.session_state.sketch_cleared)


def render(folder: Path, name: str, modified: float, models: dict[str, Path],
           take_layout: Callable[[str, list, np.ndarray, int], None], columns: tuple,
           drawn: Callable[[], None]) -> None:
    """Draw the sketch-mode page for the sketch model in `folder`: its settings in the sidebar, the canvas and the
    photo in the two columns given; take_layout(painter, labels, layout, seed) opens a read-and-paint model's
    reading on the label-map page; drawn() is called once the canvas is read, before the photo is made."""
    state = st.session_state
    state.setdefault("sketch_gen", 0)
    try:
        model = cached_sketch_model(str(folder), modified)
    except Exception as exc:  # a broken checkpoint: say so, keep the page up
        columns[1].error(f"Could not load sketch model **{plain(name)}**: {plain(exc)}")
        return
    sidebar = st.sidebar
    describe(sidebar, "Sketch model: draw outlines in black, get a photo.", model.card.get("description"))
    tool = sidebar.radio("Tool", TOOLS, horizontal=True, **kept("sketch_tool", PEN, TOOLS))
    width = sidebar.slider("Pen width", 1, 30, **kept(f"sketch_width_{tool}", 4 if tool == PEN else 16))
    chosen = CANVAS_SIZES[sidebar.selectbox("Canvas", list(CANVAS_SIZES),
                                            **kept("sketch_canvas_size", "Medium (384 px)", CANVAS_SIZES),
                                            help="Its side at most this; it shrinks to fit narrow windows.")]
    class_id = (sidebar.selectbox("Class", model.classes, **kept(f"class_{name}", model.classes[0], model.classes))
                if model.classes else None)
    seed = (seed_box(sidebar, "sketch_seed", f"{SEED_HELP} Another seed paints the same regions in another light.")
            if model.varies_with_seed else None)
    sidebar.button("Clear", width="stretch", key="sketch_clear", on_click=swap_sketch)
    sidebar.button("Undo clear", width="stretch", key="sketch_undo_clear", on_click=undo_clear,
                   disabled=state.get("sketch_cleared") is None,
                   help="Brings back the sketch Clear took away; what is on the canvas then can come back the same way.")
    left, right = columns
    with left:
        size = fitted_width(chosen, column_width("canvas_column"))
        fit_drawing(SKETCH_CANVAS, (size, size), fit_sketch, before_bake=take_sent_sketch)
        base = state.get(SKETCH_CANVAS.base)
        sketch = draw(blank_sketch((size, size)) if base is None else base, tool, width)
        drawn()
    with right, st.container(key="result"):  # the same key as the label-map page's result
        if sketch is None or not has_lines(sketch):
            st.caption("Draw outlines (a horizon, mountains, trees, waves) to generate a photo.")
            return
        sketch_png = png_bytes(Image.fromarray(sketch))
        try:
            with st.spinner("Generating…"):
                image_png = photo_png(str(folder), modified, sketch_png, class_id, seed)
        except (RuntimeError, MemoryError, ValueError) as exc:
            st.error(f"Generation failed: {plain(exc)}. Your sketch is kept.")
            return
        st.image(image_png, caption=plain(" · ".join([name, *([class_id] if class_id else []),
                                                       *([f"seed {seed}"] if seed is not None else [])])), width=size)
        st.download_button("Download image", image_png, "sketch_photo.png", "image/png", on_click="ignore",
                           key="download_sketch_photo")
        st.download_button("Download sketch", sketch_png, "sketch.png", "image/png", on_click="ignore",
                           key="download_sketch")
        if isinstance(model, ReadAndPaint):
            reading(model, read_layout(str(folder), modified, sketch_png), models, seed, take_layout)
