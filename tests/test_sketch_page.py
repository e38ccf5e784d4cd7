"""The page's sketch mode: under AppTest (no label select-box, a photo for a drawn sketch) and in a real browser."""
import base64
import io
import json
import re
import shutil
import time

import numpy as np
import pytest
import streamlit as st
from browser import (CANVAS, RESULT, browser_page, label_map, message, open_page, open_sidebar, paint, pick, result_src,
                     stroke, streamlit_server, wait_idle, wait_new_result)
from helpers import ROOT, model_box, texts, unescaped
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_app import coco_landscape_map

from gaugan import load_sketch_model
from gaugan.canvas import fit_label_map, fit_sketch, has_lines
from gaugan.saved_drawing import SavedDrawing
from gaugan.sketch_samples import HAND_DRAWN, draw_strokes

APP = str(ROOT / "streamlit_app" / "app.py")
SKETCH_CANVAS = '[class*="st-key-sketch_canvas_"] canvas.upper-canvas'


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The shipped SPADE and sketch models side by side."""
    root = tmp_path_factory.mktemp("checkpoints")
    for name in ("landscape", "landscape-sketch", "landscape-sketch-reader"):
        (root / name).symlink_to(ROOT / "checkpoints" / name)
    return root


def drawing_value(size: int = 384, third_line: bool = False) -> dict:
    """A canvas value: two black strokes on white (and a third across the top), as the canvas sends it."""
    rgba = np.full((size, size, 4), 255, np.uint8)
    rgba[200:205, :, :3] = 0
    rgba[100:200, 150:154, :3] = 0
    if third_line:
        rgba[40:44, 20:300, :3] = 0
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}] * (3 if third_line else 2)}, "data": url},
            "backgroundFit": None}


def test_sketch_model_switches_the_page_to_sketch_mode(checkpoints, monkeypatch):
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert [s.label for s in at.selectbox if s.label == "Unpainted area"], "the SPADE model shows its label controls"
    model_box(at).select("landscape-sketch").run()
    assert not at.exception
    assert "Unpainted area" not in [s.label for s in at.selectbox] and "Pen width" in [s.label for s in at.slider]
    assert [r.options for r in at.radio if r.label == "Tool"] == [["Pen", "Eraser"]]
    assert not at.get("image"), "no photo before anything is drawn"
    at.session_state["sketch_canvas_0"] = drawing_value()
    at.run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == 1 and unescaped(at.get("image")[0].proto.imgs[0].caption) == "landscape-sketch"
    assert [b.label for b in at.get("download_button")] == ["Download image", "Download sketch"]
    at.radio(key="sketch_tool").set_value("Eraser").run()
    at.slider(key="sketch_width_Eraser").set_value(25)
    at.selectbox(key="sketch_canvas_size").select("Small (320 px)")
    at.run()
    model_box(at).select("landscape").run()
    model_box(at).select("landscape-sketch").run()
    assert not at.exception, at.exception
    assert (at.radio(key="sketch_tool").value, at.slider(key="sketch_width_Eraser").value,
            at.selectbox(key="sketch_canvas_size").value) == ("Eraser", 25, "Small (320 px)"), "settings are kept"


def sketch_page(checkpoints, monkeypatch, model: str = "landscape-sketch") -> AppTest:
    """The page in sketch mode, with a sketch drawn on its canvas."""
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    model_box(at).select(model).run()
    at.session_state["sketch_canvas_0"] = drawing_value()
    return at.run()


def shown_photos(at) -> list[str]:
    """The addresses of the images on the page (Streamlit names media by their content)."""
    return [image.proto.imgs[0].url for image in at.get("image")]


def shown_photo(at) -> str:
    """The address of the one photo on the page."""
    (url,) = shown_photos(at)
    return url


def test_strokes_sent_with_a_run_that_fails_stay_in_the_sketch(checkpoints, monkeypatch, caplog):
    import gaugan.sketch

    at = sketch_page(checkpoints, monkeypatch)

    def failing(folder):
        raise RuntimeError("boom")

    monkeypatch.setattr(gaugan.sketch, "model_kind", failing)
    at.session_state["sketch_canvas_0"] = drawing_value(third_line=True)
    at.run()  # fails before the canvas is drawn, which would drop the line sent with this run
    assert [e.value for e in at.error] == ["The page failed: RuntimeError: boom. Your drawing is kept; reloading the "
                                           "page starts it afresh, with the drawing."]
    sketch = at.session_state["sketch_base"]
    assert (sketch[40:44, 20:300] == 0).all() and (sketch[200:205] == 0).all() and (sketch[300:] == 255).all()
    assert at.session_state["sketch_gen"] == 1, "the strokes went into the base, under a fresh canvas"
    caplog.clear()  # the failure this test made (conftest.page_never_failed)


def test_a_sketch_survives_a_visit_to_the_label_map_page(checkpoints, monkeypatch):
    at = sketch_page(checkpoints, monkeypatch)
    photo = shown_photo(at)
    model_box(at).select("landscape").run()
    assert "Unpainted area" in [s.label for s in at.selectbox]
    model_box(at).select("landscape-sketch").run()
    assert not at.exception and not at.error, at.exception or at.error
    assert shown_photo(at) == photo, "the sketch came back, and with it the same photo"


@pytest.mark.parametrize("action", ["the label-map page", "a smaller canvas", "Clear, then Undo clear"])
def test_a_line_sent_with_a_model_switch_resize_or_clear_is_kept(checkpoints, monkeypatch, action):
    at = sketch_page(checkpoints, monkeypatch)
    at.session_state["sketch_canvas_0"] = drawing_value(third_line=True)  # not yet read
    top = slice(40, 44)
    if action == "a smaller canvas":
        at.selectbox(key="sketch_canvas_size").select("Small (320 px)").run()
        top = slice(34, 36)  # rows 40-44 of 384, at 320
    elif action == "the label-map page":
        model_box(at).select("landscape").run()
        model_box(at).select("landscape-sketch").run()
    else:
        at.button(key="sketch_clear").click().run()
        at.button(key="sketch_undo_clear").click().run()
    assert not at.exception and not at.error, at.exception or at.error
    sketch = at.session_state["sketch"]
    assert (sketch[top, 40:240] == 0).all(), "the line across the top is in the sketch"


def test_a_read_and_paint_model_shows_what_it_read_and_opens_it_for_editing(checkpoints, monkeypatch):
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.button(key="example").click().run()
    drawing = at.session_state["current_labels"].copy()
    model_box(at).select("landscape-sketch-reader").run()
    at.session_state["sketch_canvas_0"] = drawing_value()
    at.run()
    assert not at.exception and not at.error, at.exception or at.error
    assert [e.label for e in at.expander] == ["What the model read"]
    photo, reading = at.get("image")
    assert unescaped(photo.proto.imgs[0].caption) == "landscape-sketch-reader · seed 0"
    assert reading.proto.imgs[0].caption.startswith("The regions read from your lines")
    at.number_input(key="sketch_seed").set_value(12).run()
    assert shown_photos(at)[0] != photo.proto.imgs[0].url, "another seed, another photo of the same regions"
    assert unescaped(at.get("image")[0].proto.imgs[0].caption) == "landscape-sketch-reader · seed 12"
    at.number_input(key="sketch_seed").set_value(-1).run()
    assert at.number_input(key="sketch_seed").value == 12 and "Still seed 12." in at.sidebar.get("error")[0].value
    assert unescaped(at.get("image")[0].proto.imgs[0].caption) == "landscape-sketch-reader · seed 12"
    sketch = at.session_state["sketch"]
    read = load_sketch_model(checkpoints / "landscape-sketch-reader", device="cpu").read(sketch)
    at.session_state["sketch_canvas_0"] = drawing_value(third_line=True)  # a line sent with the click
    at.button(key="edit_read_layout").click().run()
    sketch = at.session_state["sketch_base"]
    assert (sketch[40:44, 40:240] == 0).all(), "the sketch keeps the line"
    assert not at.exception and not at.error, at.exception or at.error
    assert at.session_state["model"] == "landscape" and "Unpainted area" in [s.label for s in at.selectbox]
    assert at.number_input(key="seed").value == 12, "the photo keeps the sketch's light"
    base = at.session_state["base"]
    assert np.array_equal(base, fit_label_map(read, base.shape)), "the canvas holds the regions read, at its size"
    assert any("regions read from your sketch" in i.value for i in at.info)
    model_box(at).select("landscape-sketch-reader").run()
    assert np.array_equal(at.session_state["sketch"], sketch), "the sketch is kept"
    model_box(at).select("landscape").run()
    at.button(key="undo_base").click().run()
    assert not at.exception, at.exception
    assert np.array_equal(at.session_state["current_labels"], fit_label_map(drawing, base.shape)), \
        "Undo brings back the drawing the regions replaced"


def test_model_names_in_sketch_mode_are_shown_as_text(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "checkpoints" / "landscape", tmp_path / "**painter**")  # a copy: not the shipped folder
    reader = tmp_path / "_reader_"
    shutil.copytree(ROOT / "checkpoints" / "landscape-sketch-reader", reader)
    card = json.loads((reader / "model.json").read_text())
    (reader / "model.json").write_text(json.dumps({**card, "painter": "**painter**"}))
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    model_box(at).select("_reader_").run()
    at.session_state["sketch_canvas_0"] = drawing_value()
    at.run()
    assert not at.exception and not at.error, at.exception or at.error
    assert at.get("image")[0].proto.imgs[0].caption == "\\_reader\\_ · seed 0", "Markdown in a folder name is escaped"
    assert at.button(key="edit_read_layout").label == "Edit these regions with \\*\\*painter\\*\\*"


def test_a_kept_copy_with_odd_settings_is_restored_without_them_into_fresh_widgets(checkpoints, monkeypatch):
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    at = AppTest.from_file(APP, default_timeout=120).run()
    first_box = model_box(at).key
    labels = np.zeros((64, 64), np.int64)
    labels[40:] = 2
    settings = {"seed": 7, "background": [0], "canvas_size": [1], "tool": {"a": 1}}  # lists and objects: unhashable
    text = SavedDrawing(model="landscape-sketch-reader", label_model="landscape", labels=labels, aspect=1.0,
                        settings=settings).to_text()
    at.session_state["browser_copy"] = {"saved": text}  # as the browser reports its copy
    at.run()
    assert not at.exception and not at.error, at.exception or at.error
    assert "Kept settings the page does not take were left out: canvas_size [1]; tool {\"a\": 1}." in texts(at)
    box = model_box(at)
    assert box.value == "landscape-sketch-reader" and box.key != first_box, "a new box: the old one's late values go"
    box.select("landscape").run()
    assert not at.exception, at.exception
    assert at.number_input(key="seed_v1").value == 7 and at.session_state["model"] == "landscape"
    assert np.array_equal(at.session_state["current_labels"], fit_label_map(labels, at.session_state["base"].shape))


def test_a_kept_copy_brings_back_the_brush_paint_label_live_look_and_variations(checkpoints, monkeypatch):
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    at = AppTest.from_file(APP, default_timeout=120).run()
    labels = np.zeros((64, 64), np.int64)
    labels[40:] = 2
    settings = {"brush": 40, "variations": True, "strength": 0.5, "live": False, "paint": 4, "look": "Dusk"}
    at.session_state["browser_copy"] = {"saved": SavedDrawing(model="landscape", label_model="landscape",
                                                              labels=labels, aspect=1.0, settings=settings).to_text()}
    at.run()
    assert not at.exception and not at.error, at.exception or at.error
    assert (at.slider(key="brush_v1").value, at.toggle(key="variations_v1").value,
            at.slider(key="strength_v1").value, at.toggle(key="live_landscape_v1").value) == (40, True, 0.5, False)
    assert at.session_state["chosen_labels"]["landscape"] == 4 and at.session_state["look"] == "Dusk"
    assert at.button(key="look_Dusk").proto.type == "primary", "the kept look is the one in use"
    for odd in ({"brush": 81}, {"brush": 4.5}, {"variations": 1}, {"strength": 2}, {"live": "no"}, {"look": "Noon"},
                {"paint": 99}):
        text = SavedDrawing(model="landscape", label_model="landscape", labels=labels, settings=odd).to_text()
        fresh = AppTest.from_file(APP, default_timeout=120).run()
        fresh.session_state["browser_copy"] = {"saved": text}
        fresh.run()
        assert not fresh.exception and fresh.session_state["chosen_labels"]["landscape"] != 99, odd
        assert "look" not in fresh.session_state and fresh.slider(key="brush_v1").value == 24, odd
    no_look = SavedDrawing(model="landscape", label_model="landscape", labels=labels, settings={"look": ""}).to_text()
    fresh = AppTest.from_file(APP, default_timeout=120).run()
    assert fresh.button(key="look_Day").proto.type == "primary", "never picked: the model's first look"
    fresh.session_state["browser_copy"] = {"saved": no_look}
    fresh.run()
    assert fresh.session_state["look"] is None and fresh.button(key="no_look").proto.type == "primary", \
        "a kept 'No look' stays picked"


def test_the_label_pages_upload_error_stays_on_the_label_page(checkpoints, monkeypatch):
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    at = AppTest.from_file(APP, default_timeout=120).run()
    uploader = next(u for u in at.sidebar.get("file_uploader") if "label map" in u.proto.label)
    uploader.set_value(("broken.png", b"\x89PNG not really", "image/png")).run()
    assert "Could not use broken.png" in texts(at)
    model_box(at).select("landscape-sketch").run()
    assert not at.exception, at.exception
    assert "Could not use broken.png" not in texts(at), "sketch mode has no uploader for it to be about"


def test_clear_in_sketch_mode_can_be_undone(checkpoints, monkeypatch):
    at = sketch_page(checkpoints, monkeypatch)
    sketch = at.session_state["sketch"].copy()
    assert at.button(key="sketch_undo_clear").disabled, "nothing to undo before a Clear"
    at.button(key="sketch_clear").click().run()
    assert not has_lines(at.session_state["sketch"]) and not at.button(key="sketch_undo_clear").disabled
    at.button(key="sketch_undo_clear").click().run()
    assert not at.exception, at.exception
    assert np.array_equal(at.session_state["sketch"], sketch), "the cleared sketch is back"
    assert at.button(key="sketch_undo_clear").disabled, "and a blank canvas is nothing to bring back"


def test_a_sketch_is_rescaled_with_the_canvas(checkpoints, monkeypatch):
    at = sketch_page(checkpoints, monkeypatch)
    at.selectbox(key="sketch_canvas_size").select("Small (320 px)").run()
    assert not at.exception and not at.error, at.exception or at.error
    sketch = at.session_state["sketch"]
    assert sketch.shape == (320, 320, 3) and (sketch[:, :, 0] < 128).sum() > 1000, "the lines are kept, scaled down"
    assert len(at.get("image")) == 1


def ink_pixels(sketch: np.ndarray) -> int:
    """Pixels dark enough to be a line."""
    return int((sketch[..., 0] < 64).sum())


def test_a_sketch_stays_crisp_through_many_canvas_resizes():
    sketch = draw_strokes(HAND_DRAWN[0], 384)
    resized = sketch
    for side in (320, 512, 384, 320, 384):
        resized = fit_sketch(resized, (side, side))
    assert 0.8 < ink_pixels(resized) / ink_pixels(sketch) < 1.25, "the lines neither fade nor swell"
    assert ((resized[..., 0] >= 64) & (resized[..., 0] < 192)).sum() < ink_pixels(sketch), "edges stay sharp"


def sketch_canvas_settled(page) -> None:
    """Wait for the sketch canvas, and for the one refit the column-width probe may make after its first render
    (a stroke drawn before that refit lands on a canvas that is replaced)."""
    page.wait_for_selector(SKETCH_CANVAS, timeout=60_000)
    time.sleep(1.0)
    wait_idle(page)


def label_page_settings(page) -> dict:
    """What the label-map page's sidebar and tool row show."""
    return {**{box: page.get_by_role("combobox", name=box).input_value() for box in ("Canvas", "Unpainted area")},
            "seed": page.get_by_label("Seed", exact=True).input_value(),
            "tool": page.locator("[class*=\"st-key-tool\"] label:has(input:checked)").inner_text()}


def downloaded_sketch(page) -> np.ndarray:
    """The sketch as the page's "Download sketch" button hands it out, once a photo of it is on screen."""
    page.wait_for_function("sel => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0; }",
                           arg=RESULT, timeout=60_000)
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download sketch").click()
    assert re.fullmatch(r"sketch\.png", download.value.suggested_filename)
    return np.asarray(Image.open(download.value.path()).convert("RGB"))


@pytest.mark.browser
@pytest.mark.slow
def test_draw_lines_in_sketch_mode_and_get_a_photo_then_go_back_and_forth_and_reload(checkpoints):
    with streamlit_server(checkpoints) as url, browser_page() as page:
        open_page(page, url)
        pick(page, "Canvas", "Small (320 px)")
        pick(page, "Unpainted area", "sea")
        page.get_by_label("Seed", exact=True).fill("7")
        page.get_by_label("Seed", exact=True).press("Enter")
        wait_idle(page)
        page.wait_for_timeout(800)  # the canvas refits to the small size once after its first render
        wait_idle(page)
        paint(page, [(40, 100), (200, 110), (300, 100)])
        page.locator("[class*=\"st-key-tool\"]").get_by_text("Line", exact=True).click()
        wait_idle(page)
        settings, drawing = label_page_settings(page), label_map(page)
        assert settings == {"Canvas": "Small (320 px)", "Unpainted area": "sea", "seed": "7", "tool": "Line"}
        assert drawing.shape == (320, 320) and (drawing == 2).sum() > 500, "a mountain stroke on a small canvas"

        pick(page, "Model", "landscape-sketch")
        sketch_canvas_settled(page)
        assert page.get_by_role("combobox", name="Label").count() == 0
        box = page.locator(SKETCH_CANVAS).bounding_box()
        points = [(5, 200), (120, 190), (250, 205), (380, 195)]  # a horizon
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()
        sketch = downloaded_sketch(page)
        response = page.request.get(page.url.rstrip("/") + result_src(page) if result_src(page).startswith("/")
                                    else result_src(page))
        photo = np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"), np.float32)
        assert photo.shape[:2] == (384, 384) and photo.std() > 15, "a photo, not a blank or a copy of the lines"
        assert (sketch.min(axis=2) < 128).sum() > 300

        pick(page, "Model", "landscape")
        page.wait_for_selector(CANVAS, timeout=60_000)
        wait_idle(page)
        assert label_page_settings(page) == settings, "the settings survive sketch mode"
        assert np.array_equal(label_map(page), drawing), "the drawing comes back as it was, at the same size"

        pick(page, "Model", "landscape-sketch")
        page.wait_for_selector(SKETCH_CANVAS, timeout=60_000)
        assert np.array_equal(downloaded_sketch(page), sketch), "the sketch comes back as it was"
        shown = np.asarray(Image.open(io.BytesIO(page.locator(SKETCH_CANVAS).screenshot())).convert("L"))
        assert (shown < 128).sum() > 300, "and it is on the canvas, to draw on"

        page.reload()  # a new session: the browser's copy brings back the model, both drawings and the settings
        sketch_canvas_settled(page)
        notice = message(page, "Your label map and sketch from your last visit in this browser are back")
        notice = notice.bounding_box()
        canvas = page.locator(SKETCH_CANVAS).bounding_box()
        assert notice["x"] >= canvas["x"] + canvas["width"], "the notice shows beside the canvas, not above it"
        assert np.array_equal(downloaded_sketch(page), sketch), "the sketch survives a reload"
        pick(page, "Model", "landscape")
        page.wait_for_selector(CANVAS, timeout=60_000)
        wait_idle(page)
        assert label_page_settings(page) == settings, "the settings survive a reload"
        assert np.array_equal(label_map(page), drawing), "the label map survives a reload"

        page.reload()  # now from the label-map page: the sketch it kept out of sight survives a second reload
        page.wait_for_selector(CANVAS, timeout=60_000)
        wait_idle(page)
        pick(page, "Model", "landscape-sketch")
        sketch_canvas_settled(page)
        assert np.array_equal(downloaded_sketch(page), sketch), "the sketch survives a second reload"


@pytest.mark.browser
@pytest.mark.slow
def test_a_drawn_sketch_is_read_painted_and_opened_for_editing(checkpoints):
    with streamlit_server(checkpoints) as url, browser_page() as page:
        open_page(page, url)
        pick(page, "Model", "landscape-sketch-reader")
        sketch_canvas_settled(page)
        stroke(page, [(5, 170), (130, 165), (380, 170)], SKETCH_CANVAS)  # a horizon
        page.wait_for_function("sel => { const i = document.querySelector(sel); return i && i.complete && "
                               "i.naturalWidth > 0; }", arg=RESULT, timeout=60_000)
        before = result_src(page)  # the mountain once the horizon's photo is there (this tests reading, not speed)
        stroke(page, [(20, 160), (120, 60), (220, 160)], SKETCH_CANVAS)  # a mountain on it
        wait_new_result(page, before)
        page.get_by_text("What the model read").click()
        wait_idle(page)  # the click below at a person's pace, not in the middle of the photo's rerun
        page.get_by_role("button", name="Edit these regions with landscape").click()
        page.wait_for_selector(CANVAS, timeout=60_000)
        wait_idle(page)
        assert page.get_by_text("The regions read from your sketch are on the canvas").first.is_visible()
        regions = label_map(page)
        assert (regions[:40] == 0).mean() > 0.9, "sky above the mountain"
        assert (regions[150:190, 140:190] == 2).mean() > 0.5, "the mountain where its outline was drawn"


def fits_its_column(page) -> bool:
    """Whether the sketch canvas lies within its column."""
    canvas = page.locator(SKETCH_CANVAS).bounding_box()
    column = page.locator('[data-testid="stColumn"]').filter(has=page.locator(SKETCH_CANVAS)).last.bounding_box()
    return bool(canvas and column) and column["x"] - 1 <= canvas["x"] and canvas["x"] + canvas["width"] <= column["x"] + column["width"] + 1


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width, height, size", [(1280, 900, "Large (512 px)"), (390, 844, "Medium (384 px)")])
def test_the_sketch_canvas_and_photo_fit_their_columns_and_keep_the_sketch(checkpoints, width, height, size):
    with streamlit_server(checkpoints) as url, browser_page(width, height) as page:
        open_page(page, url)
        phone = width < 500  # the sidebar is folded away
        if phone:
            open_sidebar(page)
        pick(page, "Model", "landscape-sketch")
        pick(page, "Canvas", size)
        if phone:
            page.get_by_test_id("stSidebarCollapseButton").click()
        page.wait_for_selector(SKETCH_CANVAS, timeout=60_000)
        for _ in range(60):  # the column-width probe fits the canvas once after the first render
            if fits_its_column(page):
                break
            page.wait_for_timeout(500)
        wait_idle(page)
        page.wait_for_timeout(500)  # the fitted canvas mounts
        wait_idle(page)
        canvas = page.locator(SKETCH_CANVAS).bounding_box()
        stroke(page, [(5, canvas["height"] / 2), (canvas["width"] - 5, canvas["height"] / 2)], SKETCH_CANVAS)
        wait_new_result(page, None)
        wait_idle(page)
        assert fits_its_column(page)
        canvas = page.locator(SKETCH_CANVAS).bounding_box()
        photo = page.locator(RESULT).first.bounding_box()
        assert photo["x"] >= 0 and photo["x"] + photo["width"] <= width + 1, "the photo runs off the window"
        sketch = downloaded_sketch(page)
        assert sketch.shape[:2] == (round(canvas["height"]), round(canvas["width"]))
        assert (sketch[:, :, 0] < 128).sum() > 300, "the line drawn on the fitted canvas is in the sketch"


def test_a_sketch_models_description_is_plain_text_cut_at_a_word(tmp_path, monkeypatch):
    folder = tmp_path / "my-sketch"
    shutil.copytree(ROOT / "checkpoints" / "landscape-sketch", folder)
    card = json.loads((folder / "model.json").read_text())
    description = "![x](http://127.0.0.1:9/d.png) <b>bold</b> " + " ".join(f"word{i}" for i in range(100))
    (folder / "model.json").write_text(json.dumps({**card, "description": description}))
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(tmp_path))
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    model_box(at).select("my-sketch").run()
    assert not at.exception, at.exception
    caption = next(c for c in at.sidebar.get("caption") if "draw outlines" in c.value)
    shown = unescaped(caption.value)
    assert shown.startswith("Sketch model: draw outlines in black, get a photo. ![x](http:")
    assert shown.endswith(" …") and len(shown) < 400 and "![" not in caption.value, caption.value
    assert unescaped(caption.proto.help).replace("\u200b", "") == description, "the whole text shows on hover"


def test_a_kept_drawing_restored_while_the_column_is_narrow_comes_back_exactly_when_it_widens(checkpoints, monkeypatch):
    monkeypatch.setenv("GAUGAN_CHECKPOINTS", str(checkpoints))
    at = AppTest.from_file(APP, default_timeout=120)  # a reload: this session has not shown a canvas yet
    sketch = draw_strokes(HAND_DRAWN[0], 384)  # antialiased lines: a rescale there and back is not exact
    labels = coco_landscape_map()[:, :420]
    at.session_state["column_width"] = 300  # as the browser may report the column while the page lays out
    at.session_state["browser_copy"] = {"saved": SavedDrawing(
        model="landscape-sketch", label_model="landscape", labels=labels, aspect=1.0, sketch=sketch).to_text()}
    at.run()
    assert not at.exception and at.session_state["sketch"].shape == (300, 300, 3)
    at.session_state["column_width"] = 1000
    at.run()
    assert np.array_equal(at.session_state["sketch"], sketch), "the sketch as it was kept"
    at.session_state["column_width"] = 300
    model_box(at).select("landscape").run()  # the kept label map comes onto a narrow canvas
    assert at.session_state["base"].shape == (300, 300)
    at.session_state["column_width"] = 1000
    at.run()
    assert not at.exception, at.exception
    assert np.array_equal(at.session_state["base"], fit_label_map(labels, at.session_state["base"].shape)), \
        "the label map as it was kept, at the canvas size"
