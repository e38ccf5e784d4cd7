"""GauGAN doodle → photo: the Streamlit page (layout and session state only; all work goes through gaugan)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gaugan import GauGAN  # noqa: E402
from gaugan.allocator import tune_for_inference  # noqa: E402
from gaugan.labelmaps import colourize, label_map_png, read_label_map  # noqa: E402
from gaugan.semantics import remap  # noqa: E402
from gaugan.studio import (SHIPPED_MODEL, compose_labels, example_scene, fit_label_map, list_models,  # noqa: E402
                           png_bytes)
from streamlit_drawable_canvas import st_canvas  # noqa: E402

CHECKPOINTS = Path(os.environ.get("GAUGAN_CHECKPOINTS", ROOT / "checkpoints"))
TOOLS = {"Freehand": "freedraw", "Line": "line", "Rectangle": "rect", "Circle": "circle", "Filled polygon": "polygon"}
CANVAS_WIDTHS = {"Small (320 px)": 320, "Medium (360 px)": 360, "Large (512 px)": 512}
SWATCHES = {"🟥": (220, 40, 40), "🟧": (240, 140, 30), "🟨": (240, 220, 50), "🟩": (60, 170, 60), "🟦": (50, 110, 220),
            "🟪": (150, 70, 190), "🟫": (140, 90, 50), "⬛": (20, 20, 20), "⬜": (240, 240, 240)}
BACKGROUND_NAMES = ("sky-other", "sky", "grass", "road", "wall")

st.set_page_config(page_title="GauGAN doodle → photo", page_icon="🎨", layout="wide")


@st.cache_resource(show_spinner="Loading model…")
def load_model(path: str, modified: float) -> GauGAN:
    """One loaded model per checkpoint (and file version) per process; malloc tuned for the passes to come."""
    model = GauGAN.from_checkpoint(path)
    tune_for_inference()
    return model


@st.cache_data(max_entries=64, show_spinner=False)
def generate_png(path: str, modified: float, labels: np.ndarray, seed: int, style: bytes | None) -> bytes:
    """A generated image as PNG, cached by (model, labels, seed, style)."""
    import io

    model = load_model(path, modified)
    photo = Image.open(io.BytesIO(style)) if style else None
    return png_bytes(model.generate(labels, seed=seed, style=photo))


def swatch(rgb: tuple[int, int, int]) -> str:
    """The coloured square emoji closest to a label colour (select-box options are plain text)."""
    return min(SWATCHES, key=lambda k: sum((a - b) ** 2 for a, b in zip(SWATCHES[k], rgb)))


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def modified_time(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.iterdir() if p.is_file()), default=0.0)


def reset_canvas() -> None:
    st.session_state.canvas_gen = st.session_state.get("canvas_gen", 0) + 1


def new_variation() -> None:
    st.session_state.seed = int(st.session_state.get("seed", 0)) + 1


state = st.session_state
state.setdefault("canvas_gen", 0)
state.setdefault("base", None)
state.setdefault("base_source", "fill")
state.setdefault("notices", [])
state.setdefault("seed", 0)

models = list_models(CHECKPOINTS)
if not models:
    st.error(f"No models found in {CHECKPOINTS}. Expected folders with model.json (ours) or latest_net_G.pth "
             "(NVIDIA's <name>_pretrained).")
    st.stop()

# ---------------------------------------------------------------- sidebar: model and tools
sidebar = st.sidebar
sidebar.title("🎨 GauGAN")
chosen = sidebar.selectbox("Model", list(models), key="model",
                           help="The shipped model and every checkpoint folder found in checkpoints/.")
model, model_error = None, None
try:
    model = load_model(str(models[chosen]), modified_time(models[chosen]))
    active = chosen
except Exception as exc:  # a broken checkpoint must not lose the drawing
    model_error = f"Could not load model {chosen!r}: {exc}"
    active = state.get("active_model") if state.get("active_model") in models else None
    if active is not None:
        model = load_model(str(models[active]), modified_time(models[active]))

if model is None:
    st.error(model_error)
    st.stop()

palette = model.labels
by_id = {label.id: label for label in palette}
previous = state.get("active_model")
if previous and previous != active and state.get("current_labels") is not None:
    previous_labels = load_model(str(models[previous]), modified_time(models[previous])).labels
    moved, missing = remap(state.current_labels, previous_labels, palette,
                           next((l.id for l in palette if l.name in BACKGROUND_NAMES), palette[0].id))
    state.base, state.base_source = moved, "drawing"
    reset_canvas()
    state.notices = [f"Moved the drawing from {previous} to {active} by label name."]
    if missing:
        state.notices.append(f"{active} has no label for: {', '.join(missing)} (painted as its background).")
state.active_model = active

label_id = sidebar.selectbox(
    "Label", [l.id for l in palette], key=f"label_{active}",
    format_func=lambda i: f"{swatch(by_id[i].rgb)} {by_id[i].name}  {hex_colour(by_id[i].rgb)}",
    index=next((i for i, l in enumerate(palette) if l.name in ("mountain", "tree", "person", "car")), 0))
sidebar.markdown(f"<div style='height:14px;border-radius:3px;background:{hex_colour(by_id[label_id].rgb)}'></div>",
                 unsafe_allow_html=True)
default_background = next((i for i, l in enumerate(palette) if l.name in BACKGROUND_NAMES), 0)
background_id = sidebar.selectbox("Unpainted area", [l.id for l in palette], key=f"background_{active}",
                                  index=default_background, format_func=lambda i: f"{swatch(by_id[i].rgb)} {by_id[i].name}",
                                  help="The label of every pixel you have not painted (bucket fill).")
tool = sidebar.radio("Tool", list(TOOLS), horizontal=True, key="tool")
brush = sidebar.slider("Brush size", 2, 80, 24, key="brush")
canvas_width = CANVAS_WIDTHS[sidebar.selectbox("Canvas", list(CANVAS_WIDTHS), index=1, key="canvas_size")]
sidebar.number_input("Seed", min_value=0, step=1, key="seed")
sidebar.button("🎲 New variation", on_click=new_variation, use_container_width=True)
live = sidebar.toggle("Live: regenerate after each stroke", value=active == SHIPPED_MODEL, key=f"live_{active}")
show_variations = sidebar.toggle("Show 4 variations", key="variations")
style_bytes = None
if model.has_style_encoder:
    style_file = sidebar.file_uploader("Style from a photo", type=["png", "jpg", "jpeg", "webp"], key="style")
    style_bytes = style_file.getvalue() if style_file else None

# ---------------------------------------------------------------- base map: fill, upload, example
out_h, out_w = model.preset.output_size
height = max(64, round(canvas_width * out_h / out_w))
size = (height, canvas_width)
upload = st.sidebar.file_uploader("Start from a label map (ids or colours PNG)", type=["png"], key="upload")
if upload is not None and state.get("upload_done") != upload.file_id:
    state.upload_done = upload.file_id
    try:
        uploaded = read_label_map(upload.getvalue(), palette, background_id)
        unknown = sorted(set(np.unique(uploaded).tolist()) - set(by_id))
        if unknown:
            raise ValueError(f"ids {unknown[:12]} are not labels of {active} (valid: {min(by_id)}..{max(by_id)})")
        state.base, state.base_source = fit_label_map(uploaded, size), "upload"
        reset_canvas()
        state.notices = [f"Loaded {upload.name} ({uploaded.shape[1]}×{uploaded.shape[0]})."]
    except ValueError as exc:
        state.notices = []
        st.error(f"Could not use {upload.name}: {exc}")

col_a, col_b = st.sidebar.columns(2)
if col_a.button("Example scene", use_container_width=True):
    state.example = state.get("example", -1) + 1
    state.base, missing = example_scene(state.example, palette, size)
    state.base_source = "example"
    reset_canvas()
    state.notices = [f"{active} lacks {', '.join(missing)}; shown as its fallback label."] if missing else []
if col_b.button("Clear", use_container_width=True):
    state.base, state.base_source, state.notices = None, "fill", []
    reset_canvas()

if state.base is None or state.base_source == "fill":
    base = np.full(size, background_id, dtype=np.int64)
else:
    base = state.base if state.base.shape == size else fit_label_map(state.base, size)
state.base = base if state.base_source != "fill" else None

# ---------------------------------------------------------------- canvas | result
for notice in state.notices:
    st.info(notice)
if model_error:
    st.error(model_error + f" — still using {active}; your drawing is kept.")

left, right = st.columns(2)
with left:
    colour = hex_colour(by_id[label_id].rgb)
    canvas = st_canvas(
        fill_color=colour, stroke_width=brush, stroke_color=colour, background_color="",
        background_image=Image.fromarray(colourize(base, palette)), update_streamlit=True,
        height=height, width=canvas_width, drawing_mode=TOOLS[tool], key=f"canvas_{state.canvas_gen}",
        return_image_data=True,
    )
    labels = None
    try:
        labels = compose_labels(canvas.image_data, base, palette)
        state.current_labels = labels
    except ValueError as exc:
        st.error(f"Could not read the canvas: {exc}")
    generate_clicked = st.button("Generate", type="primary", use_container_width=True)

with right:
    if labels is not None and (live or generate_clicked or state.get("shown_for") is not None):
        request = (active, labels.tobytes(), labels.shape, int(state.seed), style_bytes)
        if live or generate_clicked:
            state.shown_for = request
        if state.shown_for == request:
            try:
                with st.spinner("Generating…"):
                    image_png = generate_png(str(models[active]), modified_time(models[active]), labels,
                                             int(state.seed), style_bytes)
                st.image(image_png, caption=f"{active} · seed {state.seed}", width=canvas_width)
                st.download_button("Download image", image_png, "gaugan.png", "image/png", on_click="ignore",
                                   key="download_image")
            except (RuntimeError, MemoryError, ValueError) as exc:
                st.error(f"Generation failed: {exc}. Your drawing is kept; try a smaller canvas or another model.")
        else:
            st.caption("The drawing changed: press Generate (or turn on Live).")
    else:
        st.caption("Paint, then press Generate." if not live else "Paint to generate.")
    if labels is not None:
        st.download_button("Download label map (ids)", label_map_png(labels), "labels_ids.png", "image/png",
                           on_click="ignore", key="download_ids")
        st.download_button("Download label map (colours)", label_map_png(labels, palette), "labels_colours.png",
                           "image/png", on_click="ignore", key="download_colours")

if show_variations and labels is not None:
    st.subheader("Variations")
    columns = st.columns(4)
    for offset, column in enumerate(columns):
        seed = int(state.seed) + offset
        try:
            column.image(generate_png(str(models[active]), modified_time(models[active]), labels, seed, style_bytes),
                         caption=f"seed {seed}")
        except (RuntimeError, MemoryError, ValueError) as exc:
            column.error(str(exc))
