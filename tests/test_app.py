"""The Streamlit page under AppTest: generate, model switch, uploads, bad input, broken checkpoints."""
import base64
import io
import json
import re

import numpy as np
import pytest
import streamlit as st
import torch
from helpers import (ROOT, SHARED, QuietFiles, coco_sample, local_server, make_tiny_model, model_box, official_archive,
                     texts, unescaped)
from PIL import Image
from skimage import data as photos
from streamlit.testing.v1 import AppTest

from gaugan import PRESETS, GauGAN, SPADEGenerator
from gaugan.__main__ import main as cli
from gaugan.canvas import fit_label_map, looks_layout, style_looks
from gaugan.data.landscape import landscape_scene
from gaugan.labelmaps import label_map_png
from gaugan.saved_drawing import SavedDrawing
from gaugan.semantics import remap
from label_colors import PALETTES

APP = str(ROOT / "streamlit_app" / "app.py")
LAND = {l.name: l for l in PALETTES["landscape"]}
ADE = {l.name: l.id for l in PALETTES["ade20k"]}
SIZE = 512  # the page's default canvas (no browser reports a narrower column here), square models


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    make_tiny_model(root / "landscape")
    official = root / "ade20k_pretrained"
    official.mkdir()
    torch.save(SPADEGenerator(PRESETS["ade20k"], ngf=8).state_dict(), official / "latest_net_G.pth")
    broken = root / "broken_pretrained"
    broken.mkdir()
    (broken / "latest_net_G.pth").write_bytes(b"not a checkpoint")
    return root


def page_on(root, monkeypatch) -> AppTest:
    """The page with GAUGAN_CHECKPOINTS set to root, its caches cleared."""
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(root))
    st.cache_resource.clear()
    st.cache_data.clear()
    return AppTest.from_file(APP, default_timeout=120)


@pytest.fixture()
def app(checkpoints, monkeypatch):
    return page_on(checkpoints, monkeypatch)


def strokes(*rects: tuple[str, tuple[int, int, int, int]], size: tuple[int, int] = (SIZE, SIZE)) -> dict:
    """A canvas component value holding opaque rectangles of landscape labels on a transparent canvas."""
    rgba = np.zeros((*size, 4), np.uint8)
    for name, (y0, y1, x0, x1) in rects:
        rgba[y0:y1, x0:x1, :3] = LAND[name].rgb
        rgba[y0:y1, x0:x1, 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    objects = [{"type": "rect", "left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0} for _, (y0, y1, x0, x1) in rects]
    return {"drawing": {"raw": {"objects": objects}, "data": url}, "backgroundFit": None}


def result_caption(app) -> str:
    """The caption under the generated image."""
    return app.main.get("image")[0].proto.imgs[0].caption


def test_painting_generates_an_image(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)), ("mountain", (100, 200, 50, 300)))
    app.run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert labels.shape == (SIZE, SIZE)
    assert (labels[250:] == LAND["sea"].id).all() and (labels[120:180, 60:290] == LAND["mountain"].id).all()
    assert (labels[:90] == LAND["sky-other"].id).all(), "unpainted pixels take the background label"
    images = app.main.get("image")
    assert len(images) == 1 and "landscape" in images[0].proto.imgs[0].caption
    assert [b.label for b in app.get("download_button")] == ["Download image", "Download label map (ids)",
                                                               "Download label map (colours)"]


def test_switching_models_remaps_the_drawing_by_name(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)), ("clouds", (20, 80, 20, 200)))
    app.run()
    model_box(app).select("ade20k_pretrained").run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[250:] == ADE["sea"]).all()
    assert "no label for: clouds" in texts(app)
    assert app.session_state["canvas_gen"] == 1, "the drawing moved into the base map of a fresh canvas"


def test_upload_of_an_id_label_map(app):
    app.run()
    ids = np.full((100, 150), LAND["grass"].id, np.uint8)
    ids[:40] = LAND["sky-other"].id
    app.sidebar.get("file_uploader")[1].set_value(("ids.png", label_map_png(ids), "image/png")).run()
    assert not app.exception and "Loaded ids.png (150×100); the canvas takes its shape." in texts(app)
    labels = app.session_state["current_labels"]
    assert labels.shape == (round(SIZE * 100 / 150), SIZE), "the canvas is as wide as chosen, in the map's shape"
    assert (labels[:130] == LAND["sky-other"].id).all() and (labels[-200:] == LAND["grass"].id).all()


def coco_landscape_map(name: str = "000000350505.png") -> np.ndarray:
    """A COCO-Stuff sample label map (640×420: sky, trees, road …) in landscape ids; labels it lacks become grass."""
    coco = np.asarray(Image.open(SHARED / "coco_samples" / "label" / name))
    return remap(coco, PALETTES["coco"], PALETTES["landscape"], LAND["grass"].id)[0]


@pytest.mark.parametrize("crop, canvas", [(np.s_[:, :], (336, SIZE)), (np.s_[:, :280], (SIZE, 341))])
def test_an_uploaded_map_keeps_its_shape_on_the_canvas_and_in_the_photo(app, crop, canvas):
    ids = coco_landscape_map()[crop]  # as it is (wide), and its left part (tall)
    app.run()
    app.sidebar.get("file_uploader")[1].set_value(("coco.png", label_map_png(ids), "image/png")).run()
    assert not app.exception and not app.error, app.exception or texts(app)
    labels = app.session_state["current_labels"]
    assert labels.shape == canvas, "the chosen size on the longer side, the map's aspect ratio"
    assert np.array_equal(labels, fit_label_map(ids, canvas)), "the map scaled alike both ways"
    assert Image.open(io.BytesIO(app.session_state["last_image"])).size == canvas[::-1]


def test_a_map_beyond_three_to_one_is_padded_not_stretched(app):
    ids = np.full((50, 400), LAND["sea"].id, np.uint8)
    app.run()
    app.sidebar.get("file_uploader")[1].set_value(("strip.png", label_map_png(ids), "image/png")).run()
    assert "Loaded strip.png (400×50). Its sides are more than 3:1, the canvas's limit: the canvas is 3:1 with the " \
           "map in the middle and sky-other around it, not stretched." in unescaped(texts(app))
    assert "the canvas takes its shape" not in texts(app), "no word that contradicts the padding"
    labels = app.session_state["current_labels"]
    assert labels.shape == (172, SIZE) and (labels[:50] == LAND["sky-other"].id).all()
    assert (labels[60:110] == LAND["sea"].id).all() and (labels[-50:] == LAND["sky-other"].id).all()
    app.sidebar.get("file_uploader")[1].set_value(("square.png", label_map_png(ids[:, :50]), "image/png")).run()
    assert "Loaded square.png" in texts(app) and "strip.png" not in texts(app), "the next file's notes replace these"
    app.button(key="clear").click().run()
    assert app.session_state["current_labels"].shape == (SIZE, SIZE), "Clear gives the model's shape back"


def test_upload_of_a_colour_label_map(app):
    app.run()
    ids = np.full((64, 64), LAND["sand"].id)
    ids[:, 32:] = LAND["sea"].id
    app.sidebar.get("file_uploader")[1].set_value(("colours.png", label_map_png(ids, PALETTES["landscape"]), "image/png")).run()
    labels = app.session_state["current_labels"]
    assert (labels[:, :SIZE // 2 - 10] == LAND["sand"].id).all() and (labels[:, SIZE // 2 + 10:] == LAND["sea"].id).all()


def test_the_label_map_uploader_takes_what_the_reader_reads(app):
    app.run()
    uploader = app.sidebar.get("file_uploader")[1]
    assert {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif"} <= set(uploader.proto.type)
    colours = np.zeros((120, 160, 3), np.uint8)
    colours[:60], colours[60:] = LAND["sky-other"].rgb, LAND["sea"].rgb
    uploader.set_value(("sea.jpg", png(colours, "JPEG"), "image/jpeg")).run()
    assert not app.error, texts(app)
    assert "Loaded sea.jpg" in texts(app) and "sea.jpg: JPEG stores colours approximately" in texts(app)
    assert (app.session_state["current_labels"][-100:] == LAND["sea"].id).all()


def test_bad_upload_is_an_error_and_the_drawing_stays(app):
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    before = app.session_state["current_labels"].copy()
    app.sidebar.get("file_uploader")[1].set_value(("junk.png", b"\x89PNG not really", "image/png")).run()
    assert "Could not use junk.png: not a readable image" in texts(app)
    assert np.array_equal(app.session_state["current_labels"], before)
    bad_ids = np.full((20, 20), 200, np.uint8)
    app.sidebar.get("file_uploader")[1].set_value(("ids.png", label_map_png(bad_ids), "image/png")).run()
    assert "ids [200] are not labels of landscape (valid: 0..13). Your drawing is kept." in texts(app)
    assert np.array_equal(app.session_state["current_labels"], before)
    coco = (SHARED / "coco_samples" / "label" / "000000350505.png").read_bytes()
    app.sidebar.get("file_uploader")[1].set_value(("coco.png", coco, "image/png")).run()
    assert "these ids fit NVIDIA's coco model (sidebar: Get NVIDIA's pretrained models)" in texts(app)
    assert np.array_equal(app.session_state["current_labels"], before)


def test_a_new_error_or_notice_also_pops_up_once_as_a_toast(app):
    app.run()
    app.sidebar.get("file_uploader")[1].set_value(("junk.png", b"\x89PNG not really", "image/png")).run()
    toasts = [unescaped(t.value.replace("**", "")) for t in app.toast]
    assert len(toasts) == 1 and toasts[0].startswith("Could not use junk.png: not a readable image"), toasts
    app.run()
    assert not app.toast and "Could not use junk.png" in texts(app), "once as a toast; the error stays on the page"


@pytest.mark.parametrize("name, data, message", [
    ("junk.png", b"\x89PNG not really", "Could not use junk.png"),
    ("sky.png", label_map_png(np.full((40, 60), LAND["sky-other"].id, np.uint8)), "Loaded sky.png"),
])
def test_the_same_file_uploaded_again_pops_up_again(app, name, data, message):
    app.run()
    for _ in range(2):
        app.sidebar.get("file_uploader")[1].set_value((name, data, "image/png")).run()
        toasts = [unescaped(t.value.replace("**", "")) for t in app.toast]
        assert len(toasts) == 1 and toasts[0].startswith(message), toasts


def test_broken_checkpoint_is_reported_and_the_drawing_stays(app):
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    before = app.session_state["current_labels"].copy()
    model_box(app).select("broken_pretrained").run()
    assert not app.exception
    message = texts(app)
    assert "Could not load model broken_pretrained" in message and "Using landscape instead" in message
    assert re.search(r"[\w)]\. Using landscape instead", message), "the error's sentence ends before the next one"
    assert model_box(app).value == "landscape", "the select-box shows the model in use"
    assert np.array_equal(app.session_state["current_labels"], before)
    assert len(app.main.get("image")) == 1


def broken_model(folder) -> None:
    folder.mkdir()
    (folder / "model.json").write_text("{not json")


def test_shipped_models_are_listed_beside_another_checkpoints_folder(tmp_path, monkeypatch):
    broken_model(tmp_path / "aaa")  # sorts before every shipped model
    app = page_on(tmp_path, monkeypatch).run()
    assert not app.exception and not app.error, app.exception or texts(app)
    box = model_box(app)
    assert box.value == "landscape" and box.options[0] == "landscape", "the shipped landscape model is the default"
    assert {"aaa", "landscape-sketch"} <= set(box.options)


def test_a_broken_model_in_use_falls_back_and_the_page_stays(tmp_path, monkeypatch):
    broken_model(tmp_path / "landscape")  # takes the place of the shipped default
    make_tiny_model(tmp_path / "tiny")
    app = page_on(tmp_path, monkeypatch)
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    assert not app.exception, app.exception
    assert "Could not load model landscape: " in texts(app) and "model.json is not valid" in texts(app)
    assert "Using tiny instead; your drawing is kept." in texts(app)
    assert model_box(app).value == "tiny" and "Unpainted area" in [s.label for s in app.selectbox]
    drawn = app.session_state["current_labels"].copy()
    assert (drawn[10:60, 10:60] == LAND["tree"].id).all()
    app.run()
    assert "Could not load model landscape" in texts(app), "the error stays"
    model_box(app).select("landscape").run()
    assert "Could not load model landscape" in texts(app) and model_box(app).value == "tiny"
    assert np.array_equal(app.session_state["current_labels"], drawn), "the drawing is kept"


def test_with_no_model_that_loads_the_model_box_stays(tmp_path, monkeypatch):
    broken_model(tmp_path / "landscape")
    app = page_on(tmp_path, monkeypatch).run()
    assert not app.exception, app.exception
    assert "Could not load model landscape" in texts(app) and "No other model loads either" in texts(app)
    model_box(app).select("landscape-sketch").run()
    assert not app.exception and "Pen width" in [s.label for s in app.slider]


def kept_widgets(app) -> list:
    """The label-map page's widgets whose settings are kept: seed, canvas, unpainted area, brush, tool and Live."""
    return [app.number_input(key="seed"), app.selectbox(key="canvas_size"), app.selectbox(key="background_landscape"),
            app.slider(key="brush"), app.radio(key="tool"), app.toggle(key="live_landscape")]


def change_kept_settings(app, canvas: str) -> None:
    """Set each kept setting away from its default (the canvas to the named size), and run."""
    for widget, value in zip(kept_widgets(app), (7, canvas, LAND["sea"].id, 40, "Line", False)):
        widget.set_value(value)
    app.run()


def test_settings_and_drawing_survive_a_visit_to_sketch_mode(app):
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    change_kept_settings(app, "Small (320 px)")
    settings = {w.key: w.value for w in kept_widgets(app)}
    drawn = app.session_state["current_labels"].copy()
    assert drawn.shape == (320, 320) and (drawn == LAND["tree"].id).any()
    model_box(app).select("landscape-sketch").run()
    assert "Pen width" in [s.label for s in app.slider]
    model_box(app).select("landscape").run()
    assert not app.exception, app.exception
    assert {key: app.session_state[key] for key in settings} == settings
    assert np.array_equal(app.session_state["current_labels"], drawn), "the drawing comes back as it was"


@pytest.mark.parametrize("action", ["another label model", "sketch mode", "a smaller canvas", "Clear, then Undo",
                                    "another unpainted area"])
def test_a_stroke_sent_with_a_model_switch_resize_or_base_change_is_kept(app, action):
    app.session_state["canvas_0"] = strokes(("sea", (300, SIZE, 0, SIZE)))
    app.run()
    app.session_state["canvas_0"] = strokes(("sea", (300, SIZE, 0, SIZE)), ("tree", (10, 60, 10, 60)))  # not yet read
    tree, where = LAND["tree"].id, (slice(10, 60), slice(10, 60))
    if action == "a smaller canvas":
        app.selectbox(key="canvas_size").select("Small (320 px)").run()
        where = (slice(6, 37), slice(6, 37))  # rescaled with the drawing
    elif action == "another label model":
        model_box(app).select("ade20k_pretrained").run()
        tree = ADE["tree"]  # moved by name
    elif action == "sketch mode":
        model_box(app).select("landscape-sketch").run()
        model_box(app).select("landscape").run()
    elif action == "Clear, then Undo":
        app.button(key="clear").click().run()
        app.session_state["canvas_1"] = strokes(("clouds", (100, 150, 400, 450)))  # sent with the Undo click
        app.button(key="undo_base").click().run()
        assert (app.session_state["current_labels"][100:150, 400:450] == LAND["clouds"].id).all(), "kept over the undo"
    else:
        app.selectbox(key="background_landscape").set_value(LAND["grass"].id).run()
    assert not app.exception, app.exception
    assert (app.session_state["current_labels"][where] == tree).all(), "the tree is in the drawing"
    assert (app.session_state["current_labels"][-100:] == LAND["sea"].id).all() or action == "another label model"


def test_each_kept_setting_is_also_its_widgets_own_default(app):
    """The browser takes a widget's own default when it mounts the widget without the page's value, as a run cut
    short by the next one can leave it; with defaults of their own, reloads under load reset settings to 2, Small
    and 0 and kept those."""
    app.run()
    change_kept_settings(app, "Medium (384 px)")
    app.run()
    assert not app.exception, app.exception
    defaults = [w.proto.default for w in kept_widgets(app)]
    background_index = [l.id for l in PALETTES["landscape"]].index(LAND["sea"].id)
    assert defaults == [7, 1, background_index, [40], 1, False], defaults


def test_a_long_model_description_is_cut_at_a_word(tmp_path, monkeypatch):
    card_path = tmp_path / "landscape" / "model.json"
    make_tiny_model(card_path.parent)
    description = " ".join(f"part {i} (see gaugan/file{i}.py)" for i in range(20))
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "description": description}))
    app = page_on(tmp_path, monkeypatch).run()
    caption = app.sidebar.get("caption")[0]
    shown = unescaped(caption.value)
    assert shown.endswith(" …") and len(shown) <= 300, shown
    assert description.startswith(shown[:-2]) and description[len(shown) - 2] == " ", "cut between two words"
    assert unescaped(caption.proto.help) == description, "the whole text shows on hover"


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def style_uploader(app):
    return next(u for u in app.sidebar.get("file_uploader") if "Style" in u.proto.label)


@pytest.mark.parametrize("name, data", [("broken.jpg", b"\xff\xd8\xff not a jpeg"), ("notes.png", b"plain text")])
def test_bad_style_photo_is_a_clear_error_and_the_drawing_stays(app, name, data):
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    before = app.session_state["current_labels"].copy()
    style_uploader(app).set_value((name, data, "image/png")).run()
    assert not app.exception, app.exception
    assert re.search(rf"Could not use {re.escape(name)} as a style photo: not a readable image: expected a style "
                     r"photo in PNG/JPEG/WEBP\S*, found [^.]+\. Your drawing is kept\.", texts(app)), texts(app)
    assert "BytesIO" not in texts(app) and " at 0x" not in texts(app), "no internal object names"
    assert np.array_equal(app.session_state["current_labels"], before)
    assert len(app.main.get("image")) == 1, "the page still generates, without the style"
    app.run()
    assert f"Could not use {name}" in texts(app), "the error stays while the file does"


def test_seed_still_varies_with_a_style_photo(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    style_uploader(app).set_value(("photo.png", png(photo), "image/png")).run()
    first = app.session_state["last_image"]
    app.button(key="new_variation").click().run()
    assert not app.exception, app.exception
    second = app.session_state["last_image"]
    assert first != second, "New variation changes the image with a style photo loaded"
    assert "style from your photo" in result_caption(app)


def test_a_style_photo_survives_a_visit_to_sketch_mode_until_dropped(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    app.button(key="no_look").click().run()
    unstyled = app.session_state["last_image"]
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    style_uploader(app).set_value(("holiday.png", png(photo), "image/png")).run()
    styled = app.session_state["last_image"]
    assert styled != unstyled
    model_box(app).select("landscape-sketch").run()
    model_box(app).select("landscape").run()
    assert not app.exception and not app.error, app.exception or texts(app)
    assert style_uploader(app).value is None, "a file uploader comes back empty"
    assert app.session_state["last_image"] == styled, "the photo is still the style"
    assert "style from your photo" in result_caption(app) and "Style photo in use: holiday.png" in texts(app)
    app.button(key="drop_style").click().run()
    assert "Style photo in use" not in texts(app) and "style from the seed" in result_caption(app)
    assert app.session_state["last_image"] == unstyled


def test_a_style_photo_as_long_as_a_strip_is_used_and_its_thumbnail_shows_its_middle(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    strip = np.random.default_rng(1).integers(0, 256, (40, 4000, 3), dtype=np.uint8)
    style_uploader(app).set_value(("strip.png", png(strip), "image/png")).run()
    assert not app.exception and "Style photo in use: strip.png" in texts(app), app.exception or texts(app)
    thumbnail = Image.open(io.BytesIO(app.session_state["style_photo"].thumbnail))
    assert thumbnail.size == (80, 40), "the middle 2:1 of the strip, not a line a pixel thin"
    assert np.array_equal(np.asarray(thumbnail), strip[:, 1960:2040])
    assert len(app.session_state["current_labels"]) and "style from your photo" in result_caption(app)


def test_an_unforeseen_error_is_shown_as_plain_text_and_the_drawing_survives_it(app, monkeypatch, caplog):
    import gaugan.sketch

    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    before = app.session_state["current_labels"].copy()
    assert (before == LAND["sea"].id).any()
    kind = gaugan.sketch.model_kind

    def failing(folder):
        raise RuntimeError("boom **bold** <b>x</b>\n  a second line, in the server's log only")

    monkeypatch.setattr(gaugan.sketch, "model_kind", failing)
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)), ("tree", (20, 60, 30, 90)))
    app.run()  # fails before the canvas is drawn, so Streamlit drops its strokes, the tree sent with this run too
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == [r"The page failed: RuntimeError: boom \*\*bold\*\* \<b\>x\</b\>. Your drawing "
                                            "is kept; reloading the page starts it afresh, with the drawing."]
    drawn = app.session_state["base"]
    assert (drawn[20:60, 30:90] == LAND["tree"].id).all() and (drawn[200:] == before[200:]).all()
    assert app.session_state["canvas_gen"] == 1, "the strokes went into the base, under a fresh canvas"
    assert [r.message for r in caplog.records if r.name == "gaugan.page"] == ["the page failed"]
    caplog.clear()  # the failure this test made (conftest.page_never_failed)
    monkeypatch.setattr(gaugan.sketch, "model_kind", kind)
    app.run()
    assert not app.exception and not app.error
    assert np.array_equal(app.session_state["current_labels"], drawn), "the strokes are in the base now"


def test_a_run_that_fails_with_an_unreadable_canvas_keeps_the_drawing_of_the_runs_before(app, monkeypatch, caplog):
    import gaugan.sketch

    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    before = app.session_state["current_labels"].copy()

    def failing(folder):
        raise RuntimeError("boom")

    monkeypatch.setattr(gaugan.sketch, "model_kind", failing)
    app.session_state["canvas_0"] = {"drawing": {"raw": {"objects": [{}, {}]}, "data": "data:image/png;base64,AAAA"},
                                     "backgroundFit": None}
    app.run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error][0].startswith("The page failed: RuntimeError: boom.")
    assert np.array_equal(app.session_state["base"], before) and app.session_state["canvas_gen"] == 1
    assert "label canvas sent with this run could not be read" in caplog.text
    caplog.clear()  # the failure this test made (conftest.page_never_failed)


def kept_copy(app) -> dict:
    """The drawing the page last handed the browser to keep (the browser-store component's text), as JSON."""
    def elements(node):
        for child in (node.children.values() if isinstance(getattr(node, "children", None), dict) else ()):
            yield child
            yield from elements(child)

    (store,) = [el for el in elements(app._tree) if getattr(getattr(el, "proto", None), "component_name", "") ==
                "gaugan_browser_store"]
    return json.loads(json.loads(store.proto.json)["text"])


def test_a_style_photo_is_not_kept_with_the_drawing_and_a_reload_says_so_and_uses_the_first_look(app, checkpoints,
                                                                                                  monkeypatch):
    app.session_state["browser_copy"] = {"saved": ""}  # the browser kept nothing
    app.run()
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    style_uploader(app).set_value(("holiday.png", png(photo), "image/png")).run()
    settings = kept_copy(app)["settings"]
    assert "look" not in settings and settings["style_photo"] == "holiday.png"
    reloaded = page_on(checkpoints, monkeypatch).run()
    reloaded.session_state["browser_copy"] = {"saved": json.dumps(kept_copy(app))}
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert "The style photo holiday.png is not kept with the drawing: upload it again to use it." in texts(reloaded)
    assert reloaded.button(key="look_Day").proto.type == "primary", "the model's first look, as on a first visit"
    assert (reloaded.session_state["current_labels"][200:] == LAND["sea"].id).all()
    sketch = np.full((64, 64, 3), 255, np.uint8)
    sketch[30:33] = 0  # a line
    sketch_only = SavedDrawing(model="landscape-sketch-reader", label_model="landscape", labels=None, sketch=sketch,
                               settings=settings).to_text()
    only = page_on(checkpoints, monkeypatch).run()
    only.session_state["browser_copy"] = {"saved": sketch_only}
    only.run()
    assert "The style photo holiday.png is not kept with the drawing" in texts(only), "a kept sketch alone says so too"


def test_a_refused_style_photo_leaves_the_photo_in_use(app):
    app.run()
    style_uploader(app).set_value(("good.png", png(np.full((32, 32, 3), 90, np.uint8)), "image/png")).run()
    style_uploader(app).set_value(("dot.png", png(np.full((1, 1, 3), 90, np.uint8)), "image/png")).run()
    assert "Could not use dot.png as a style photo: style photo is 1×1 pixels: expected at least 32" in texts(app)
    assert "Style photo in use: good.png" in texts(app)
    style_uploader(app).set_value(("bad.png", b"not an image", "image/png")).run()
    assert "Could not use bad.png as a style photo" in texts(app) and "Style photo in use: good.png" in texts(app)
    style_uploader(app).set_value(None).run()
    assert "Could not use bad.png" not in texts(app) and "Style photo in use: good.png" in texts(app)


def test_a_notice_outlives_the_rerun_that_follows_at_once_and_goes_with_the_next_action(app):
    import time

    app.run()
    ids = np.full((50, 50), LAND["grass"].id, np.uint8)
    app.sidebar.get("file_uploader")[1].set_value(("ids.png", label_map_png(ids), "image/png")).run()
    assert "Loaded ids.png" in texts(app)
    app.run()  # the fresh canvas mounting reruns the page at once
    assert "Loaded ids.png" in texts(app), "the notice is still there to read"
    time.sleep(3.1)  # app.NOTICE_SECONDS: the user's next action, a few seconds later
    app.run()
    assert "Loaded ids.png" not in texts(app)


def test_a_notice_on_the_drawing_goes_when_the_drawing_is_replaced_or_taken_back(app):
    app.run()
    ids = np.full((50, 50), LAND["grass"].id, np.uint8)
    app.sidebar.get("file_uploader")[1].set_value(("ids.png", label_map_png(ids), "image/png")).run()
    assert "Loaded ids.png" in texts(app)
    app.button(key="example").click().run()
    assert "Loaded ids.png" not in texts(app), "it spoke of the map the example scene replaced"
    app.button(key="undo_base").click().run()
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    app.sidebar.get("file_uploader")[1].set_value(("ids2.png", label_map_png(ids), "image/png")).run()
    assert "Loaded ids2.png" in texts(app)
    app.button(key="undo_base").click().run()
    assert "Loaded ids2.png" not in texts(app), "it spoke of the map Undo took back"


def test_a_notice_goes_while_the_user_keeps_acting(app):
    import time

    app.run()
    ids = np.full((50, 50), LAND["grass"].id, np.uint8)
    app.sidebar.get("file_uploader")[1].set_value(("ids.png", label_map_png(ids), "image/png")).run()
    for _ in range(2):  # strokes every 1.6 s: each starts within app.NOTICE_SECONDS of the one before
        time.sleep(1.6)
        app.run()
    assert "Loaded ids.png" not in texts(app), "gone 3.2 s after it was first shown"


def test_variations_follow_the_image_with_live_off(app):
    app.run()
    app.toggle(key="live_landscape").set_value(False)
    app.toggle(key="variations").set_value(True).run()
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    assert not app.exception, app.exception
    assert len(app.main.get("image")) == 1 and "Out of date" in result_caption(app)
    assert "They follow the image: press Generate" in texts(app), "no variations of an out-of-date image"
    app.button(key="generate").click().run()
    assert len(app.main.get("image")) == 5, "Generate paints the image and its four variations"
    app.session_state["canvas_0"] = strokes(("sea", (300, SIZE, 0, SIZE)))
    app.run()
    assert len(app.main.get("image")) == 1 and "Out of date" in result_caption(app), "a stroke regenerates nothing"


def test_with_live_off_an_image_of_another_model_says_so(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    app.toggle(key="live_landscape").set_value(False).run()
    model_box(app).select("ade20k_pretrained").run()
    assert not app.exception, app.exception
    caption = result_caption(app)
    assert "made with landscape" in caption and "drawing changed" not in caption, caption
    model_box(app).select("landscape").run()
    assert result_caption(app).startswith("landscape ·"), "back to the model and drawing it was made with"
    model_box(app).select("ade20k_pretrained").run()
    app.button(key="generate").click().run()
    assert unescaped(result_caption(app)) == "ade20k_pretrained", result_caption(app)


def test_the_seed_box_takes_seeds_up_to_two_to_the_53(app):
    app.run()
    box = app.number_input(key="seed")
    assert "9007199254740991" in box.proto.help, "the box says its range"
    box.set_value(2**53 - 2).run()
    assert not app.exception, app.exception
    assert app.session_state["seed"] == 2**53 - 2 and f"seed {2**53 - 2}" in result_caption(app)
    app.button(key="new_variation").click().run()
    app.button(key="new_variation").click().run()
    assert not app.exception and app.session_state["seed"] == 0, "New variation wraps past the largest seed"


def test_a_negative_seed_is_put_back_with_an_error_that_says_the_range(app):
    app.run()
    app.number_input(key="seed").set_value(12).run()
    image = app.session_state["last_image"]
    app.number_input(key="seed").set_value(-5).run()
    assert not app.exception, app.exception
    assert app.number_input(key="seed").value == 12 and "seed 12" in result_caption(app)
    assert app.session_state["last_image"] == image, "the box and the image agree"
    message = "Seed \\-5 is out of range: a seed is a whole number from 0 to 9,007,199,254,740,991. Still seed 12."
    assert [e.value for e in app.sidebar.get("error")] == [message]
    app.run()
    assert [e.value for e in app.sidebar.get("error")] == [message], "it stays while the seed does"
    app.button(key="new_variation").click().run()
    assert app.number_input(key="seed").value == 13 and not app.sidebar.get("error"), "and goes when it changes"
    app.number_input(key="seed").set_value(12).run()
    assert not app.sidebar.get("error"), "for good: the seed it kept is no reason to show it again"


def test_chosen_label_survives_a_model_switch(app):
    app.run()
    app.button(key=f"chip_{LAND['river'].id}").click().run()
    assert app.session_state["chosen_labels"]["landscape"] == LAND["river"].id
    model_box(app).select("ade20k_pretrained").run()
    model_box(app).select("landscape").run()
    assert not app.exception, app.exception
    assert app.session_state["chosen_labels"]["landscape"] == LAND["river"].id


def test_a_photo_offered_as_a_label_map_is_refused(app):
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    before = app.session_state["current_labels"].copy()
    yy, xx = np.mgrid[0:120, 0:160]
    photo = np.dstack([xx * 1.5, yy * 2, 255 - xx]).astype(np.uint8)  # a smooth gradient, no label colours
    app.sidebar.get("file_uploader")[1].set_value(("holiday.png", png(photo), "image/png")).run()
    assert "Could not use holiday.png: this looks like a photo, not a label map" in texts(app)
    assert np.array_equal(app.session_state["current_labels"], before)


def two_colours(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A flat 300×200 colour map: top above row 80, bottom below."""
    colours = np.zeros((200, 300, 3), np.uint8)
    colours[:80], colours[80:] = top, bottom
    return colours


REFUSED_MAPS = {  # file name: (its pixels, why it is refused)
    "scene.png": (lambda: np.asarray(landscape_scene(2, (192, 256))[1]), "this looks like a photo, not a label map"),
    "cat.png": (photos.chelsea, "this looks like a photo, not a label map"),
    "two_colours.png": (lambda: two_colours((255, 0, 255), (255, 128, 0)),
                        r"2 of its colours are not label colours of this model, nor near one: #ff8000 filling [\d.]+% "
                        r"of it \(nearest label: mountain #8b6139\), #ff00ff filling [\d.]+% of it \(nearest label: "
                        r"flower #f761c1\)"),
    "one_colour.png": (lambda: two_colours((110, 165, 245), (255, 128, 0)),
                       r"1 of its colours is not a label colour of this model, nor near one: #ff8000 filling"),
    "noise.png": (lambda: np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8),
                  r"this looks like a photo, not a label map: its 32 commonest colours cover only under 1% of it"),
}


def generate_with_cli(model, labels) -> str:
    """gaugan generate on one label-map file: its one-line error, or "" when it wrote the photo."""
    try:
        cli(["generate", "--checkpoint", str(model), "--labels", str(labels), "--out", str(labels.with_suffix(".out.png"))])
    except SystemExit as exited:
        return str(exited.code)
    return ""


@pytest.mark.parametrize("name", list(REFUSED_MAPS))
def test_photos_and_off_palette_maps_are_refused_by_the_page_and_the_cli_alike(app, checkpoints, tmp_path, name):
    pixels, reason = REFUSED_MAPS[name]
    path = tmp_path / name
    Image.fromarray(pixels()).save(path)
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    before = app.session_state["current_labels"].copy()
    app.sidebar.get("file_uploader")[1].set_value((name, path.read_bytes(), "image/png")).run()
    assert re.search(rf"Could not use {re.escape(name)}: {reason}", texts(app)), texts(app)
    assert np.array_equal(app.session_state["current_labels"], before), "the drawing is kept"
    assert re.fullmatch(rf"error: {re.escape(str(path))}: {reason}.*", generate_with_cli(checkpoints / "landscape", path))


def test_a_map_in_slightly_shifted_label_colours_is_read_with_one_note_on_the_page_and_the_cli(
        app, checkpoints, tmp_path, capsys):
    sky, sea = np.array(LAND["sky-other"].rgb), np.array(LAND["sea"].rgb)
    path = tmp_path / "shifted.png"
    Image.fromarray(two_colours(tuple(sky + (10, 5, -5)), tuple(sea + (7, 1, 20)))).save(path)
    note = ("100.0% of the pixels (2 colours) are not exact label colours; each took the nearest label colour "
            "('sea' 60.0%, 'sky-other' 40.0%)")
    app.run()
    app.sidebar.get("file_uploader")[1].set_value(("shifted.png", path.read_bytes(), "image/png")).run()
    assert not app.error and f"shifted.png: {note}" in texts(app), texts(app)
    labels = app.session_state["current_labels"]
    assert (labels[: labels.shape[0] // 3] == LAND["sky-other"].id).all() and (labels[-10:] == LAND["sea"].id).all()
    assert generate_with_cli(checkpoints / "landscape", path) == ""
    assert f"note: shifted.png: {note}" in capsys.readouterr().err


def outline(clicked: bool = False) -> dict:
    """A canvas value holding a hollow mountain square (rows and columns 100..300) drawn as one path; clicked: and a
    Fill click at its centre, with the dot the click leaves."""
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)
    rgba[100:300, 100:300] = (*LAND["mountain"].rgb, 255)
    rgba[110:290, 110:290] = 0
    click = {"type": "circle", "left": 200 - 1.5, "top": 200, "radius": 1, "strokeWidth": 1}
    if clicked:
        rgba[198:203, 198:203] = (*LAND["mountain"].rgb, 255)
    value = strokes()
    value["drawing"]["data"] = "data:image/png;base64," + base64.b64encode(png(rgba)).decode()
    value["drawing"]["raw"]["objects"] = [{"type": "path"}, *([click] if clicked else [])]
    return value


def test_the_polygon_tool_says_how_to_close_a_polygon(app):
    app.run()
    hint = "then the first corner again to close the polygon"
    assert not any(hint in c.value for c in app.caption)
    app.radio(key="tool").set_value("Polygon").run()
    assert any(hint in c.value for c in app.caption)


def test_fill_paints_the_enclosed_region(app):
    app.session_state["canvas_0"] = outline()
    app.run()
    app.radio(key="tool").set_value("Fill").run()
    app.session_state["canvas_0"] = outline(clicked=True)
    app.run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[120:280, 120:280] == LAND["mountain"].id).all(), "the inside of the outline became mountain"
    assert (labels[:90] == LAND["sky-other"].id).all(), "the outside stays sky"
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[120:280, 120:280] == LAND["sky-other"].id).all(), "Undo takes the fill back"
    assert (labels[100:110, 100:300] == LAND["mountain"].id).all(), "and keeps the outline"
    assert app.button(key="undo_base").disabled, "nothing more to undo"


def test_a_fill_click_sent_with_a_clear_leaves_no_dot_in_the_drawing_undo_brings_back(app):
    app.session_state["canvas_0"] = outline()
    app.run()
    app.radio(key="tool").set_value("Fill").run()
    app.session_state["canvas_0"] = outline(clicked=True)
    app.button(key="clear").click().run()
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[100:110, 100:300] == LAND["mountain"].id).all(), "the outline is back"
    assert (labels[120:280, 120:280] == LAND["sky-other"].id).all(), "with no fill and no dot of the click inside it"


def test_choosing_fill_after_drawing_a_circle_fills_nothing(app):
    app.session_state["canvas_0"] = strokes(("rock", (100, 180, 100, 180)))
    app.session_state["canvas_0"]["drawing"]["raw"]["objects"] = [
        {"type": "circle", "left": 100, "top": 140, "radius": 40, "strokeWidth": 24}]  # drawn with the Circle tool
    app.run()
    drawn = app.session_state["current_labels"].copy()
    app.radio(key="tool").set_value("Fill").run()
    assert not app.exception, app.exception
    assert np.array_equal(app.session_state["current_labels"], drawn), "no click, no fill"
    assert app.button(key="undo_base").disabled


def test_a_fill_click_that_comes_with_an_unseen_stroke_fills_inside_it(app):
    app.run()
    app.radio(key="tool").set_value("Fill").run()
    app.session_state["canvas_0"] = outline(clicked=True)  # the outline's 0.2 s had not passed
    app.run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[100:300, 100:300] == LAND["mountain"].id).all(), "the outline stays and its inside is filled"
    assert (labels[:90] == LAND["sky-other"].id).all(), "the outside stays sky"


def draw_then_load_a_wide_map(app) -> np.ndarray:
    """Paint a tree, then upload a 2:1 map (the canvas takes its shape); returns the drawing from before the upload."""
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    drawn = app.session_state["current_labels"].copy()
    app.sidebar.get("file_uploader")[1].set_value(("ids.png", label_map_png(np.full((50, 100), 5, np.uint8)),
                                                   "image/png")).run()
    return drawn


def test_undo_takes_back_clear_and_upload_in_turn(app):
    drawn = draw_then_load_a_wide_map(app)
    loaded = app.session_state["current_labels"].copy()
    assert loaded.shape == (SIZE // 2, SIZE)
    app.button(key="clear").click().run()
    app.button(key="undo_base").click().run()
    assert np.array_equal(app.session_state["current_labels"], loaded), "Undo brings back the map, in its shape"
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    assert np.array_equal(app.session_state["current_labels"], drawn), "then the drawing from before the upload"


def test_undo_of_a_fill_keeps_what_was_painted_after_it(app):
    app.session_state["canvas_0"] = strokes(("mountain", (100, 300, 100, 300)))
    app.run()
    drawn = app.session_state["current_labels"].copy()
    app.radio(key="tool").set_value("Fill").run()
    click = {"type": "circle", "left": 400, "top": 400, "radius": 1, "strokeWidth": 1}
    filled = strokes(("mountain", (100, 300, 100, 300)))
    filled["drawing"]["raw"]["objects"].append(click)
    app.session_state["canvas_0"] = filled
    app.run()
    assert (app.session_state["current_labels"][400:] == LAND["mountain"].id).all(), "the sky became mountain"
    app.radio(key="tool").set_value("Brush").run()
    app.session_state[f"canvas_{app.session_state['canvas_gen']}"] = strokes(("sea", (450, SIZE, 0, SIZE)),
                                                                             ("mountain", (20, 40, 0, SIZE)))
    app.run()
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[450:] == LAND["sea"].id).all(), "the sea painted after the fill stays"
    assert (labels[20:40] == LAND["mountain"].id).all(), "so does a stroke in the label the fill had put there"
    assert np.array_equal(labels[40:450], drawn[40:450]), "the rest is the drawing from before the fill"


def test_undos_in_a_row_keep_a_stroke_whole_where_a_map_between_had_its_label(app):
    app.run()
    maps = [np.full((64, 64), LAND["grass"].id, np.uint8), np.full((64, 64), LAND["grass"].id, np.uint8),
            np.full((64, 64), LAND["mountain"].id, np.uint8)]
    maps[1][32:] = LAND["sea"].id  # the middle map has sea under half of the stroke to come
    for i, ids in enumerate(maps):
        app.sidebar.get("file_uploader")[1].set_value((f"map{i}.png", label_map_png(ids), "image/png")).run()
    band = slice(SIZE * 3 // 4 - 20, SIZE * 3 // 4 + 20)
    app.session_state[f"canvas_{app.session_state['canvas_gen']}"] = strokes(("sea", (band.start, band.stop, 0, SIZE)))
    app.run()
    for undone in range(3):
        app.button(key="undo_base").click().run()
        assert not app.exception, app.exception
        labels = app.session_state["current_labels"]
        assert (labels[band] == LAND["sea"].id).all(), f"the stroke is whole after {undone + 1} undos"
    assert (labels[:band.start] == LAND["sky-other"].id).all(), "the rest is the drawing from before the maps"


def test_undos_in_a_row_keep_a_stroke_painted_in_the_label_under_it_before_a_later_load(app):
    app.run()
    upload = app.sidebar.get("file_uploader")[1]
    upload.set_value(("grass.png", label_map_png(np.full((64, 64), LAND["grass"].id, np.uint8)), "image/png")).run()
    band = slice(100, 140)  # grass on grass: it changes no pixel, but it was painted
    app.session_state[f"canvas_{app.session_state['canvas_gen']}"] = strokes(("grass", (band.start, band.stop, 0,
                                                                                       SIZE)))
    app.run()
    upload = app.sidebar.get("file_uploader")[1]
    upload.set_value(("rock.png", label_map_png(np.full((64, 64), LAND["mountain"].id, np.uint8)), "image/png")).run()
    app.button(key="undo_base").click().run()
    app.button(key="undo_base").click().run()
    labels = app.session_state["current_labels"]
    assert (labels[band] == LAND["grass"].id).all(), "the stroke stays when the map it was painted on goes"
    assert (labels[:band.start] == LAND["sky-other"].id).all() and (labels[band.stop:] == LAND["sky-other"].id).all()


@pytest.mark.parametrize("detour", ["resize", "sketch mode"])
def test_undo_keeps_a_stroke_in_the_label_under_it_that_went_into_the_base_since(app, detour):
    app.run()
    upload = app.sidebar.get("file_uploader")[1]
    upload.set_value(("grass.png", label_map_png(np.full((64, 64), LAND["grass"].id, np.uint8)), "image/png")).run()
    band = slice(100, 140)  # grass on grass
    app.session_state[f"canvas_{app.session_state['canvas_gen']}"] = strokes(("grass", (band.start, band.stop, 0,
                                                                                       SIZE)))
    app.run()
    if detour == "resize":
        app.selectbox(key="canvas_size").set_value("Medium (384 px)").run()
        app.selectbox(key="canvas_size").set_value("Large (512 px)").run()
    else:
        model_box(app).select("landscape-sketch").run()
        model_box(app).select("landscape").run()
    assert app.session_state["strokes"] == 0, "the stroke is in the base now"
    app.button(key="undo_base").click().run()
    labels = app.session_state["current_labels"]
    assert (labels[band] == LAND["grass"].id).all(), "it stays when the map it was painted on goes"
    assert (labels[:band.start] == LAND["sky-other"].id).all() and (labels[band.stop:] == LAND["sky-other"].id).all()


def test_undo_of_an_unpainted_area_change_gives_erased_pixels_the_old_label(app):
    app.session_state["canvas_0"] = strokes(("mountain", (100, 200, 0, SIZE)))
    app.run()
    app.selectbox(key="background_landscape").set_value(LAND["grass"].id).run()
    eraser = strokes(("grass", (140, 160, 0, SIZE)))  # the eraser paints the unpainted-area label
    app.session_state[f"canvas_{app.session_state['canvas_gen']}"] = eraser
    app.run()
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    labels = app.session_state["current_labels"]
    assert (labels[140:160] == LAND["sky-other"].id).all(), "the erased band is unpainted, as sky again"
    assert (labels[100:140] == LAND["mountain"].id).all() and (labels[:100] == LAND["sky-other"].id).all()


def test_undo_of_an_upload_of_another_shape_says_the_strokes_on_it_went(app):
    drawn = draw_then_load_a_wide_map(app)
    sea = strokes(("sea", (200, SIZE // 2, 0, SIZE)), size=(SIZE // 2, SIZE))  # on the map's canvas
    app.session_state[f"canvas_{app.session_state['canvas_gen']}"] = sea
    app.run()
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    assert np.array_equal(app.session_state["current_labels"], drawn)
    assert "What you painted since went with it" in texts(app)


def test_text_from_a_model_folder_is_shown_as_text(app, checkpoints):
    import shutil

    hostile = checkpoints / "hostile"
    shutil.copytree(checkpoints / "landscape", hostile)
    card = json.loads((hostile / "model.json").read_text())
    card["description"] = "![x](http://127.0.0.1:9/d.png) <img src=http://127.0.0.1:9/e.png> :red[x]"
    card["labels"][0]["name"] = "![sky](http://127.0.0.1:9/s.png)"
    (hostile / "model.json").write_text(json.dumps(card))
    try:
        app.run()
        model_box(app).select("hostile").run()
        assert not app.exception, app.exception
        chip = app.button(key="chip_0").proto.label
        assert chip == "\\!\\[sky\\]\\(http\\:\u200b//127\\.0\\.0\\.1\\:9/s\\.png\\)", "Markdown in a label name is escaped"
        caption = app.sidebar.get("caption")[0].value
        assert "<" not in caption.replace(r"\<", "") and "![" not in caption
    finally:
        shutil.rmtree(hostile)


@pytest.fixture()
def archive_server(tmp_path):
    """A server on 127.0.0.1 handing out an archive laid out like NVIDIA's checkpoints.tar.gz."""
    import functools

    official_archive(tmp_path, "tiny_pretrained")
    with local_server(functools.partial(QuietFiles, directory=str(tmp_path))) as base:
        yield base


def nvidia_download(app, url: str):
    app.text_input(key="nvidia_url").input(url).run()
    assert app.button(key="nvidia_download").disabled, "nothing is downloaded before the licence is accepted"
    app.checkbox(key="nvidia_licence").check().run()
    return app.button(key="nvidia_download").click().run()


def test_nvidia_models_download_after_the_licence(app, checkpoints, archive_server, monkeypatch):
    import shutil

    monkeypatch.setenv("GAUGAN_NVIDIA_URL", archive_server + "/checkpoints.tar.gz")  # the operator's address
    app.run()
    assert "CC BY-NC-SA 4.0" in " ".join(str(m.value) for m in app.sidebar.get("markdown"))
    box = app.text_input(key="nvidia_url")
    assert box.value == "" and box.placeholder == archive_server + "/checkpoints.tar.gz", "shown in grey, not as text"
    try:
        nvidia_download(app, "")  # left empty: the address in grey is fetched
        assert not app.exception, app.exception
        assert "Unpacked into" in texts(app) and "tiny_pretrained" in texts(app)
        assert "tiny_pretrained" in model_box(app).options
    finally:
        shutil.rmtree(checkpoints / "tiny_pretrained", ignore_errors=True)


def test_nvidia_download_without_network_says_so(app, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GAUGAN_NVIDIA_URL", f"http://127.0.0.1:{port}/checkpoints.tar.gz")  # the operator's: fetched
    app.run()
    nvidia_download(app, f"http://127.0.0.1:{port}/checkpoints.tar.gz")
    assert not app.exception, app.exception
    assert "Could not download" in texts(app) and "Without a network connection" in texts(app)
    assert texts(app).count(f"127.0.0.1:{port}/checkpoints.tar.gz") == 1, "the address is named once"
    app.text_input(key="nvidia_url").input(f"http://127.0.0.1:{port}/other.tar.gz").run()
    assert "Could not download" not in texts(app), "the error goes with the URL it was about"
    app.text_input(key="nvidia_url").input("/no/such/checkpoints.tar.gz").run()
    app.button(key="nvidia_download").click().run()
    assert "Could not download" in texts(app) and "Without a network connection" not in texts(app), \
        "a local path is refused with no advice about the network"


def test_a_visitor_cannot_make_the_page_fetch_a_local_file_or_a_local_address(app, checkpoints, archive_server,
                                                                             tmp_path):
    secret = tmp_path / "secret.pth"
    secret.write_text("hf_SECRET token of the server")
    app.run()
    nvidia_download(app, str(secret))
    assert "expected an http(s) address" in unescaped(texts(app)) and "gaugan download PATH" in unescaped(texts(app))
    app.text_input(key="nvidia_url").input(archive_server + "/checkpoints.tar.gz").run()
    app.button(key="nvidia_download").click().run()
    assert "127.0.0.1 is not at a public address" in unescaped(texts(app))
    assert "Without a network connection" not in texts(app), "no advice about the network for a refused address"
    assert "SECRET" not in texts(app) and "tiny_pretrained" not in model_box(app).options
    assert not (checkpoints / "tiny_pretrained").exists()


def test_built_in_looks_are_offered_and_named_in_the_caption(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    assert "Day look" in result_caption(app), "until one is picked, the model's first look is in use"
    app.button(key="no_look").click().run()
    plain_image = app.session_state["last_image"]
    assert "style from the seed" in app.main.get("image")[0].proto.imgs[0].caption
    app.button(key="look_Dusk").click().run()
    assert not app.exception, app.exception
    dusk = app.session_state["last_image"]
    assert "Dusk look" in app.main.get("image")[0].proto.imgs[0].caption and dusk != plain_image
    app.button(key="look_Day").click().run()
    assert app.session_state["last_image"] != dusk, "another look gives another image"
    app.button(key="new_variation").click().run()
    assert "Day look" in app.main.get("image")[0].proto.imgs[0].caption


def test_at_full_style_strength_no_alike_variations_are_shown(app):
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    app.toggle(key="variations").set_value(True).run()
    app.button(key="look_Dusk").click().run()
    assert len(app.main.get("image")) == 5, "the image and four variations at strength 0.8"
    app.slider(key="strength").set_value(1.0).run()
    assert not app.exception, app.exception
    assert len(app.main.get("image")) == 1
    assert "seed 0 (at style strength 1 every seed paints this image) · Dusk look" in result_caption(app)
    assert "At style strength 1 every seed paints the same image" in texts(app)


def test_the_look_buttons_show_what_is_in_use(app):
    def types() -> dict:
        return {key: app.button(key=key).proto.type for key in ("look_Day", "look_Dusk", "no_look")}

    app.run()
    assert types() == {"look_Day": "primary", "look_Dusk": "secondary", "no_look": "secondary"}, "the first look"
    app.button(key="look_Dusk").click().run()
    assert types() == {"look_Day": "secondary", "look_Dusk": "primary", "no_look": "secondary"}
    style_uploader(app).set_value(("photo.png", png(np.full((32, 32, 3), 90, np.uint8)), "image/png")).run()
    assert types() == {"look_Day": "secondary", "look_Dusk": "secondary", "no_look": "secondary"}, \
        "the style photo is in use, no look"
    app.button(key="drop_style").click().run()
    assert types() == {"look_Day": "secondary", "look_Dusk": "secondary", "no_look": "primary"}
    assert "style from the seed" in result_caption(app), "dropping the photo brings back no look unasked"
    style_uploader(app).set_value(("photo.png", png(np.full((32, 32, 3), 90, np.uint8)), "image/png")).run()
    app.button(key="look_Dusk").click().run()
    assert "Style photo in use" not in texts(app) and "Dusk look" in result_caption(app), "a look replaces the photo"


def test_a_model_whose_palette_clashes_is_refused_by_name(app, checkpoints):
    import shutil

    clash = checkpoints / "clash"
    shutil.copytree(checkpoints / "landscape", clash)
    card = json.loads((clash / "model.json").read_text())
    card["labels"][1]["rgb"] = [card["labels"][0]["rgb"][0] + 2, *card["labels"][0]["rgb"][1:]]
    (clash / "model.json").write_text(json.dumps(card))
    try:
        app.run()
        model_box(app).select("clash").run()
        assert not app.exception, app.exception
        shown = texts(app)
        assert "Could not load model clash:" in shown and "model.json: labels: invalid palette: colours of 0 " \
            "'sky-other' (110, 165, 245) and 1 'clouds' (112, 165, 245) are 2.0 apart" in shown
        assert model_box(app).value == "landscape"
    finally:
        shutil.rmtree(clash)


def test_example_scene_loads_a_new_landscape_on_each_click(app):
    app.run()
    app.button(key="example").click().run()
    assert not app.exception, app.exception
    first = app.session_state["base"].copy()
    assert len(np.unique(first)) >= 5, "a landscape layout, not one flat label"
    assert len(app.main.get("image")) == 1, "the example scene is generated at once (live mode)"
    app.button(key="example").click().run()
    assert not app.exception and not np.array_equal(app.session_state["base"], first)


@pytest.mark.parametrize("start", ["blank", "example"])
def test_unpainted_area_repaints_the_old_label_on_a_blank_canvas_and_a_loaded_map_alike(app, start):
    app.session_state["canvas_0"] = strokes(("tree", (10, 60, 10, 60)))
    app.run()
    if start == "example":
        app.button(key="example").click().run()
    before = app.session_state["current_labels"].copy()
    sky = before == LAND["sky-other"].id
    assert sky.sum() > 1000
    app.selectbox(key="background_landscape").set_value(LAND["sea"].id).run()
    assert not app.exception, app.exception
    after = app.session_state["current_labels"]
    assert (after[sky] == LAND["sea"].id).all(), "every pixel of the old unpainted label takes the new one"
    assert np.array_equal(after[~sky], before[~sky]), "the rest of the drawing stays"


def test_a_wide_map_is_painted_as_the_middle_of_a_square_one_not_squashed():
    model = GauGAN.from_checkpoint(ROOT / "checkpoints" / "landscape")
    sea = np.full((128, 256), LAND["sea"].id)
    square = np.asarray(model.generate(np.full((256, 256), LAND["sea"].id), seed=4))
    photo = np.asarray(model.generate(sea, seed=4, keep_aspect=True))
    assert photo.shape == (128, 256, 3) and np.array_equal(photo, square[64:192])


def test_look_thumbnails_are_the_models_own_images_of_one_scene():
    model = GauGAN.from_checkpoint(ROOT / "checkpoints" / "landscape")
    looks = style_looks(model)
    layout = looks_layout(model)
    thumbnails = [thumbnail for _, thumbnail in looks.values()]
    assert len(looks) == 4 and all(t.shape == (*model.preset.output_size, 3) for t in thumbnails)
    card = json.loads((ROOT / "checkpoints" / "landscape" / "model.json").read_text())["looks"]
    assert list(looks) == list(card)
    for (code, thumbnail), recorded in zip(looks.values(), card.values()):
        assert torch.allclose(code, torch.tensor([recorded])), "the card's code"
        assert np.array_equal(thumbnail, np.asarray(model.generate(layout, style=torch.tensor([recorded]))))
    assert all(np.abs(a.astype(int) - b).mean() > 3 for i, a in enumerate(thumbnails) for b in thumbnails[i + 1:])


def test_shrinking_the_canvas_and_growing_it_back_gives_the_drawing_back_exactly(app):
    ids = np.full((SIZE, SIZE), LAND["sky-other"].id, np.uint8)
    ids[200:, :] = LAND["grass"].id
    for i in range(0, SIZE, 16):  # thin, finely placed detail that a 320 px canvas cannot hold
        ids[210 + i % 7:212 + i % 7, i:i + 9] = LAND["flower"].id
    app.run()
    app.sidebar.get("file_uploader")[1].set_value(("detail.png", label_map_png(ids), "image/png")).run()
    loaded = app.session_state["current_labels"].copy()
    for size in ("Small (320 px)", "Medium (384 px)", "Large (512 px)"):
        app.selectbox(key="canvas_size").select(size).run()
    assert not app.exception, app.exception
    assert np.array_equal(app.session_state["current_labels"], loaded), "back at its size, the drawing is as loaded"
    app.session_state["canvas_" + str(app.session_state["canvas_gen"])] = strokes(("tree", (0, 40, 0, 40)))
    app.selectbox(key="canvas_size").select("Small (320 px)").run()
    app.selectbox(key="canvas_size").select("Large (512 px)").run()
    drawn = app.session_state["current_labels"]
    assert (drawn[:30, :30] == LAND["tree"].id).all(), "a stroke drawn in between is kept"


def test_a_coco_stuff_map_with_unlabelled_pixels_is_taken_for_a_coco_model(tmp_path, monkeypatch):
    official = tmp_path / "coco_pretrained"
    official.mkdir()
    torch.save(SPADEGenerator(PRESETS["coco"], ngf=8).state_dict(), official / "latest_net_G.pth")
    labels = coco_sample("000000029286.png")[0]
    assert (labels == 255).any(), "a real COCO-Stuff map, unlabelled pixels and all"
    app = page_on(tmp_path, monkeypatch)
    app.run()
    model_box(app).select("coco_pretrained").run()
    uploader = next(u for u in app.sidebar.get("file_uploader") if "label map" in u.proto.label)
    uploader.set_value(("coco.png", label_map_png(labels), "image/png")).run()
    assert not app.exception and not app.error, app.exception or texts(app)
    share = f"{(labels == 255).mean():.0%}"
    assert f"coco.png: {share} of it is unlabelled (255), painted as the unpainted-area label" in texts(app)
    background = app.selectbox(key="background_coco_pretrained").value
    expected = fit_label_map(np.where(labels == 255, background, labels), app.session_state["base"].shape)
    assert np.array_equal(app.session_state["base"], expected), "the map as it is, its unlabelled pixels unpainted"
    few = np.full((100, 100), 7, np.uint8)
    few[:3, :3] = 255
    uploader = next(u for u in app.sidebar.get("file_uploader") if "label map" in u.proto.label)
    uploader.set_value(("few.png", label_map_png(few), "image/png")).run()
    assert "few.png: under 1% of it is unlabelled (255)" in texts(app)


def test_a_model_without_style_codes_offers_no_seed(app):
    app.run()
    model_box(app).select("ade20k_pretrained").run()
    assert not app.exception, app.exception
    assert "Seed" not in [n.label for n in app.number_input]
    assert "Show 4 variations" not in [t.label for t in app.toggle]
    assert "it paints one image per drawing, so it has no seed" in texts(app)
    app.button(key="generate").click().run()
    assert not app.exception and not app.error, app.exception or texts(app)
    assert [unescaped(i.proto.imgs[0].caption) for i in app.get("image")] == ["ade20k_pretrained"], "no seed in it"
    model_box(app).select("landscape").run()
    assert "Seed" in [n.label for n in app.number_input], "a model with style codes has one again"


def test_undo_of_an_unpainted_area_change_puts_its_label_back_too(app):
    app.run()
    app.button(key="example").click().run()
    before, background = app.session_state["current_labels"].copy(), app.selectbox(key="background_landscape").value
    app.selectbox(key="background_landscape").set_value(LAND["grass"].id).run()
    app.button(key="undo_base").click().run()
    assert not app.exception, app.exception
    assert np.array_equal(app.session_state["current_labels"], before)
    assert app.selectbox(key="background_landscape").value == background, "the eraser paints what it painted before"


def test_a_drawing_moved_to_a_model_and_back_unchanged_is_as_it_was(app):
    app.session_state["canvas_0"] = strokes(("clouds", (10, 60, 10, 200)), ("sea", (300, SIZE, 0, SIZE)))
    app.run()
    drawn = app.session_state["current_labels"].copy()
    model_box(app).select("ade20k_pretrained").run()
    assert "no label for: clouds" in texts(app)
    model_box(app).select("landscape").run()
    assert not app.exception, app.exception
    assert np.array_equal(app.session_state["current_labels"], drawn), "the clouds come back"


def test_a_style_photo_replaced_by_a_refused_file_stays_in_use(app):
    app.run()
    style_uploader(app).set_value(("good.png", png(np.full((32, 32, 3), 90, np.uint8)), "image/png")).run()
    style_uploader(app).set_value(None).run()  # a browser empties the uploader on its way to the next file
    style_uploader(app).set_value(("dot.png", png(np.full((1, 1, 3), 90, np.uint8)), "image/png")).run()
    assert "Could not use dot.png as a style photo: style photo is 1×1 pixels: expected at least 32" in texts(app)
    assert "Style photo in use: good.png" in texts(app)
    style_uploader(app).set_value(("bad.png", b"not an image", "image/png")).run()
    assert "Could not use bad.png as a style photo" in texts(app) and "Style photo in use: good.png" in texts(app)


def test_a_label_map_refused_for_one_model_is_read_again_for_the_next(app):
    app.run()
    ids = np.full((40, 60), 100, np.uint8)  # an ADE20K label, none of the landscape model's
    app.sidebar.get("file_uploader")[1].set_value(("ade.png", label_map_png(ids), "image/png")).run()
    assert "ids [100] are not labels of landscape" in texts(app)
    model_box(app).select("ade20k_pretrained").run()
    assert not app.exception and not app.error, app.exception or texts(app)
    assert "Loaded ade.png (60×40)" in texts(app) and (app.session_state["current_labels"] == 100).all()


def test_a_palette_of_182_labels_is_picked_from_a_box_with_chips_for_the_drawings_labels(tmp_path, monkeypatch):
    official = tmp_path / "coco_pretrained"
    official.mkdir()
    torch.save(SPADEGenerator(PRESETS["coco"], ngf=8).state_dict(), official / "latest_net_G.pth")
    app = page_on(tmp_path, monkeypatch)
    app.run()
    model_box(app).select("coco_pretrained").run()
    labels = coco_sample("000000029286.png")[0]
    uploader = next(u for u in app.sidebar.get("file_uploader") if "label map" in u.proto.label)
    uploader.set_value(("coco.png", label_map_png(labels), "image/png")).run()
    chips = {b.label for b in app.button if b.key and b.key.startswith("chip_")}
    names = {l.name for l in PALETTES["coco"]}
    in_drawing = {l.name for l in PALETTES["coco"] if l.id in np.unique(app.session_state["current_labels"])}
    assert in_drawing <= {unescaped(c) for c in chips} and len(chips) < 40, "chips for the drawing's labels"
    box = app.selectbox(key="label_box_coco_pretrained")
    assert set(box.options) == names
    box.set_value(next(l.id for l in PALETTES["coco"] if l.name == "giraffe")).run()
    assert not app.exception, app.exception
    giraffe = next(l.id for l in PALETTES["coco"] if l.name == "giraffe")
    assert app.session_state["chosen_labels"]["coco_pretrained"] == giraffe
    assert "giraffe" in {b.label for b in app.button if b.key and b.key.startswith("chip_")}, "the chosen one too"


def test_looks_from_a_card_are_shown_as_plain_text_whatever_their_names_and_without_a_style_encoder(tmp_path,
                                                                                                   monkeypatch):
    folder = make_tiny_model(tmp_path / "landscape")
    card = json.loads((folder / "model.json").read_text())
    code = card["looks"]["Day"]
    card["looks"] = {"none": code, "![t](http://127.0.0.1:9/t.png) **Bold**": code}
    del card["files"]["encoder"]  # style codes, but no encoder: no style photos
    (folder / "model.json").write_text(json.dumps(card))
    app = page_on(tmp_path, monkeypatch)
    app.session_state["canvas_0"] = strokes(("sea", (200, SIZE, 0, SIZE)))
    app.run()
    assert not app.exception, app.exception
    named = "![t](http://127.0.0.1:9/t.png) **Bold**"
    labels = {button.key: button.label for button in app.button if button.key.startswith(("look_", "no_look"))}
    assert set(labels) == {"look_none", f"look_{named}", "no_look"}
    shown = lambda text: unescaped(text).replace("\u200b", "")  # noqa: E731 (plain() breaks up the URL too)
    assert shown(labels[f"look_{named}"]) == named and labels[f"look_{named}"] != named, "escaped Markdown"
    assert not [u for u in app.sidebar.get("file_uploader") if u.label == "Style from a photo"]
    app.button(key=f"look_{named}").click().run()
    assert not app.exception, app.exception
    assert shown(result_caption(app)).endswith(f"· {named} look") and named not in result_caption(app)
