"""End to end in a real browser (Debian Chromium): painting, generating, downloads, and nothing losing the drawing."""
import http.server
import io
import os
import re
import shutil
import time

import numpy as np
import pytest
from browser import (CANVAS, RESULT, browser_page, canvas_fits, choose_label, label_map, message, open_page, open_sidebar,
                     paint, pick, result_src, settle, stroke, streamlit_server, upload_file, wait_idle, wait_new_result)
from helpers import ROOT, local_server, official_archive
from PIL import Image
from playwright.sync_api import expect
from test_app import coco_landscape_map

from gaugan.canvas import fit_label_map
from gaugan.labelmaps import label_map_png

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MOUNTAIN, SKY, SNOW = 2, 0, 4  # ids in the shipped landscape model; mountain is chosen when the page opens
LABEL_MAP_UPLOADER = "Start from a label map"
BOTH_COPIES = "[sessionStorage, localStorage]"  # the browser keeps the drawing per tab, and the last drawn in any tab


@pytest.fixture(scope="module")
def url():
    with streamlit_server() as address:
        yield address


@pytest.fixture(scope="module")
def broken_url(tmp_path_factory):
    """The shipped model beside a model folder whose weights file is not a checkpoint."""
    root = tmp_path_factory.mktemp("checkpoints")
    os.symlink(ROOT / "checkpoints" / "landscape", root / "landscape")
    (root / "broken_pretrained").mkdir()
    (root / "broken_pretrained" / "latest_net_G.pth").write_bytes(b"<html>not a checkpoint</html>")
    with streamlit_server(root) as address:
        yield address


def fetch_png(page, src: str) -> Image.Image:
    response = page.request.get(src if src.startswith("http") else page.url.rstrip("/") + src)
    return Image.open(io.BytesIO(response.body()))


def canvas_box(page) -> dict:
    return page.locator(CANVAS).bounding_box()


def test_paint_generate_and_download(url):
    with browser_page() as page:
        open_page(page, url)
        canvas = canvas_box(page)
        choose_label(page, "sea")
        before = result_src(page)
        stroke(page, [(10, 300), (180, 310), (350, 300)])
        first = wait_new_result(page, before)  # live mode is on for the shipped model

        choose_label(page, "mountain")
        stroke(page, [(40, 150), (120, 110), (200, 150), (320, 130)])
        second = wait_new_result(page, first)

        page.get_by_text("Live: regenerate after each stroke").click()
        wait_idle(page)
        stroke(page, [(60, 60), (100, 60)])
        page.get_by_text("Out of date: the drawing changed").wait_for(state="visible", timeout=30_000)
        assert result_src(page) == second, "the last image stays on screen, marked out of date"
        page.get_by_role("button", name="Generate", exact=True).click()
        third = wait_new_result(page, second)

        image = fetch_png(page, third)
        assert abs(image.width / image.height - canvas["width"] / canvas["height"]) < 0.02
        pixels = np.asarray(image.convert("RGB"), np.float32)
        assert pixels.std() > 10, "the generated image is blank"

        for label, name in (("Download image", "gaugan.png"), ("Download label map (ids)", "labels_ids.png")):
            with page.expect_download() as download:
                page.get_by_role("button", name=label).click()
            assert download.value.suggested_filename == name
            png = Image.open(download.value.path())
            png.load()
            assert png.format == "PNG" and png.size == image.size
        ids = np.asarray(Image.open(download.value.path()))
        assert len(np.unique(ids)) >= 3, "sky, sea and mountain should all be in the label map"


def test_bad_upload_error_stays_beside_the_canvas_and_the_drawing_survives(url, tmp_path):
    with browser_page() as page:
        open_page(page, url)
        paint(page, [(40, 100), (200, 110)])
        painted = (label_map(page) == MOUNTAIN).sum()
        assert painted > 500
        canvas = canvas_box(page)
        junk = tmp_path / "junk.png"
        junk.write_bytes(b"\x89PNG\r\n\x1a\n but not really")
        upload_file(page, LABEL_MAP_UPLOADER, junk)
        error = message(page, re.compile(r"Could not use junk\.png: .*not a readable image"))
        error.wait_for(state="visible", timeout=30_000)
        assert canvas_box(page) == canvas, "the error shows beside the canvas, which stays where it was"
        assert not page.get_by_test_id("stToast").filter(has_text="Could not use junk.png").is_visible(), \
            "no toast repeats it where the messages box is in sight"
        paint(page, [(40, 250), (200, 260)])  # another rerun: the error stays while the file does
        assert error.is_visible(), "the error stays on screen while the bad file is in the uploader"
        ids = label_map(page)
        assert (ids[: ids.shape[0] // 2] == MOUNTAIN).sum() >= painted * 0.9, "the first stroke survived the upload"
        assert (ids[ids.shape[0] // 2:] == MOUNTAIN).sum() > 500, "the second stroke is there too"


def test_an_uploaded_map_keeps_its_shape_on_the_canvas_and_in_the_photo(url, tmp_path):
    ids = coco_landscape_map()  # 640×420
    (tmp_path / "coco.png").write_bytes(label_map_png(ids))
    with browser_page() as page:
        open_page(page, url)
        before = result_src(page)
        upload_file(page, LABEL_MAP_UPLOADER, tmp_path / "coco.png")
        message(page, re.compile(r"Loaded coco\.png \(640×420\)")).wait_for(timeout=30_000)
        photo = fetch_png(page, wait_new_result(page, before))
        wait_idle(page)  # the photo can show before the run ends, while the canvas it replaces is still there
        canvas = canvas_box(page)
        assert abs(canvas["width"] / canvas["height"] - 640 / 420) < 0.01, canvas
        drawn = label_map(page)
        assert drawn.shape == (round(canvas["height"]), round(canvas["width"]))
        assert np.array_equal(drawn, fit_label_map(ids, drawn.shape)) and photo.size == drawn.shape[::-1]


def test_a_stroke_from_the_canvas_top_right_corner_paints(url):
    with browser_page() as page:
        open_page(page, url)
        width = page.locator(CANVAS).bounding_box()["width"]
        choose_label(page, "sky-other")  # the pointer comes from a chip, straight to the corner the toolbar sits over
        choose_label(page, "mountain")
        paint(page, [(width - 12, 12), (width - 90, 14), (width - 160, 16)])
        drawn = label_map(page)
        assert (drawn[:30, -170:] == MOUNTAIN).sum() > 500, "the hidden toolbar does not take the stroke"


def test_ctrl_z_undoes_and_ctrl_shift_z_redoes_a_stroke(url):
    with browser_page() as page:
        open_page(page, url)
        first = paint(page, [(40, 100), (200, 110), (300, 100)])
        painted = (label_map(page) == MOUNTAIN).sum()
        assert painted > 500
        page.keyboard.press("Control+z")
        undone = wait_new_result(page, first)
        assert (label_map(page) == MOUNTAIN).sum() == 0, "Ctrl+Z removes the stroke from the label map"
        page.keyboard.press("Control+Shift+z")
        wait_new_result(page, undone)
        assert (label_map(page) == MOUNTAIN).sum() == painted, "Ctrl+Shift+Z brings it back"
        page.get_by_label("Seed", exact=True).fill("12")
        page.get_by_label("Seed", exact=True).press("Control+z")  # in a text field the browser's own undo applies
        wait_idle(page)
        assert (label_map(page) == MOUNTAIN).sum() == painted, "Ctrl+Z in a text field leaves the drawing alone"


@pytest.mark.parametrize("width, height", [(1280, 900), (1000, 800), (390, 844)])
def test_canvas_and_image_fit_the_window(url, width, height):
    with browser_page(width=width, height=height) as page:
        open_page(page, url)
        if width > 500:  # on a phone the sidebar is folded away
            pick(page, "Canvas", "Large (512 px)")
        paint(page, [(20, 60), (80, 80)])
        wait_idle(page)
        image = page.locator(RESULT).first.bounding_box()
        assert canvas_fits(page), "the canvas runs out of its column"
        assert image["x"] >= 0 and image["x"] + image["width"] <= width, "the image runs off the window"
        assert canvas_box(page)["width"] >= 200
        cut = page.evaluate("""() => [...document.querySelectorAll('button p')]
            .filter(p => p.clientWidth > 0 && p.scrollWidth > p.clientWidth + 1).map(p => p.textContent)""")
        assert cut == [], f"button labels cut off: {cut}"


def test_size_change_rescales_strokes_and_base_map(url):
    with browser_page() as page:
        open_page(page, url)
        box = canvas_box(page)
        w, h = box["width"], box["height"]
        paint(page, [(0.80 * w, 0.2 * h), (0.97 * w, 0.2 * h)])  # near the right edge
        before = label_map(page)
        pick(page, "Canvas", "Small (320 px)")
        page.wait_for_timeout(500)
        wait_idle(page)
        assert canvas_box(page)["width"] <= 321
        assert page.get_by_text(re.compile("canvas is .* but the picture under it")).count() == 0
        after = label_map(page)
        assert after.shape == (320, 320)
        ys, xs = np.nonzero(after == MOUNTAIN)
        assert len(xs) and xs.max() >= 0.9 * 320, "the stroke by the right edge was rescaled, not cut off"
        rescaled = np.asarray(Image.fromarray(before.astype(np.uint8)).resize((320, 320), Image.NEAREST))
        assert (rescaled == after).mean() > 0.98


def test_broken_checkpoint_keeps_the_drawing_and_the_model_in_use(broken_url):
    with browser_page() as page:
        open_page(page, broken_url)
        paint(page, [(40, 100), (200, 110)])
        painted = (label_map(page) == MOUNTAIN).sum()
        pick(page, "Model", "broken_pretrained")
        message(page, "Could not load model").wait_for(state="visible", timeout=30_000)
        wait_idle(page)
        assert page.get_by_role("combobox", name="Model").input_value() == "landscape"
        assert (label_map(page) == MOUNTAIN).sum() >= painted * 0.9, "the drawing is kept"
        paint(page, [(40, 250), (200, 260)])
        ids = label_map(page)
        assert (ids[: ids.shape[0] // 2] == MOUNTAIN).sum() >= painted * 0.9, "the next stroke keeps the old one"


def test_fill_paints_inside_an_outline_is_undone_under_later_strokes_and_needs_a_click(url):
    with browser_page() as page:
        open_page(page, url)
        paint(page, [(60, 60), (260, 60), (260, 260), (60, 260), (60, 60)])  # a mountain outline on the sky
        page.get_by_role("radiogroup").get_by_text("Circle", exact=True).click()
        wait_idle(page)
        page.wait_for_timeout(500)  # the canvas takes its new mode after the run
        paint(page, [(330, 330), (360, 360)])
        drawn = label_map(page)
        choose_label(page, "snow")
        page.get_by_role("radiogroup").get_by_text("Fill", exact=True).click()
        wait_idle(page)
        page.wait_for_timeout(1000)
        wait_idle(page)
        assert np.array_equal(label_map(page), drawn), "choosing Fill fills nothing"
        paint(page, [(160, 160)])
        ids = label_map(page)
        scale = ids.shape[0] / page.locator(CANVAS).bounding_box()["height"]
        inside = ids[round(100 * scale):round(220 * scale), round(100 * scale):round(220 * scale)]
        assert (inside == SNOW).all(), "the click filled the inside of the outline"
        assert (ids[: round(30 * scale)] == SKY).all(), "and not the sky around it"
        page.get_by_role("radiogroup").get_by_text("Brush", exact=True).click()
        wait_idle(page)
        page.wait_for_timeout(500)  # as above: a stroke before it would be a fill click
        paint(page, [(20, 160), (300, 160)])  # snow through the filled square and out into the sky
        before = result_src(page)
        page.get_by_role("button", name="Undo fill or load").click()
        wait_new_result(page, before)
        ids = label_map(page)
        band = ids[round(155 * scale):round(165 * scale), round(30 * scale):round(290 * scale)]
        assert (band == SNOW).all(), "Undo takes back the fill and keeps the stroke made after it, inside too"
        assert (ids[round(100 * scale):round(140 * scale), round(100 * scale):round(220 * scale)] == SKY).all()


def test_live_off_seed_and_new_variation_regenerate(url):
    with browser_page() as page:
        open_page(page, url)
        page.get_by_text("Live: regenerate after each stroke").click()
        wait_idle(page)
        stroke(page, [(40, 100), (200, 110)])
        page.wait_for_timeout(1000)  # the canvas sends 200 ms after mouse-up
        wait_idle(page)
        stale = result_src(page)  # the image of the page as it opened, with Live on
        page.get_by_role("button", name="Generate", exact=True).click()
        first = wait_new_result(page, stale)
        assert (label_map(page) == MOUNTAIN).sum() > 500
        page.get_by_role("button", name="New variation").click()
        second = wait_new_result(page, first)
        page.get_by_label("Seed", exact=True).fill("7")
        page.get_by_label("Seed", exact=True).press("Enter")
        wait_new_result(page, second)
        wait_idle(page)
        assert page.get_by_text("The drawing changed").count() == 0
        assert page.get_by_text("Out of date").count() == 0
        page.reload()
        settle(page)
        page.locator(".st-key-result").get_by_text("landscape · seed 7").wait_for(timeout=30_000)  # the kept
        wait_idle(page)  # drawing's image, with Live still off
        assert not page.get_by_label("Live: regenerate after each stroke").is_checked()
        assert page.get_by_text("Out of date").count() == 0


@pytest.fixture()
def request_log():
    """A server on 127.0.0.1 that records every request: the page must never make the browser fetch from it."""
    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    with local_server(Recorder) as base:
        yield base, hits


@pytest.fixture()
def slow_archive(tmp_path):
    """The URL of an archive laid out like NVIDIA's, sent by a server on 127.0.0.1 in ten pieces 0.3 s apart."""
    body = official_archive(tmp_path).read_bytes()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), len(body) // 10 + 1):
                self.wfile.write(body[start:start + len(body) // 10 + 1])
                self.wfile.flush()
                time.sleep(0.3)

        def log_message(self, *args):
            pass

    with local_server(Slow) as base:
        yield base + "/checkpoints.tar.gz"


def test_nvidia_download_shows_progress_then_lists_the_models(tmp_path, slow_archive, monkeypatch):
    root = tmp_path / "checkpoints"
    root.mkdir()
    os.symlink(ROOT / "checkpoints" / "landscape", root / "landscape")
    monkeypatch.setenv("GAUGAN_NVIDIA_URL", slow_archive)  # the operator's address: fetched though it is local
    with streamlit_server(root) as url, browser_page() as page:
        open_page(page, url)
        page.get_by_text("Get NVIDIA's pretrained models").click()
        box = page.get_by_role("textbox", name="checkpoints.tar.gz URL")
        assert box.get_attribute("placeholder") == slow_archive and box.input_value() == ""  # in grey: left empty
        button = page.get_by_role("button", name="Download and unpack")
        accept = "I accept the licence: non-commercial use only"
        for _ in range(3):  # a click that lands during a rerun can be lost (README: the page); a second one unticks
            if not page.get_by_label(accept).is_checked():
                page.get_by_text(accept).click()
            try:  # the server enables the button once a run has seen the tick
                expect(button).to_be_enabled(timeout=10_000)
                break
            except AssertionError:
                continue
        else:
            pytest.fail("the download button stayed disabled with the licence ticked")
        wait_idle(page)
        button.click()
        bar = page.locator('[data-testid="stProgress"]')
        bar.get_by_text(re.compile(r"Downloading the archive .*: [\d.]+ [KM]B of [\d.]+ [KM]B")).wait_for(
            state="visible", timeout=30_000)
        message(page, re.compile(r"Unpacked into .*ade20k_pretrained")).wait_for(state="visible", timeout=60_000)
        wait_idle(page)
        assert bar.count() == 0, "the bar goes once the models are unpacked"
        models = page.get_by_role("combobox", name="Model")
        models.click()
        page.wait_for_timeout(500)
        if page.get_by_role("option").count() == 0:  # the first click can go to closing the notice's focus
            models.click()
        page.get_by_role("option", name="ade20k_pretrained").wait_for(state="visible")


@pytest.mark.parametrize("width", [390, 320])
def test_on_a_phone_the_looks_sit_two_to_a_row_inside_the_sidebar(url, width):
    with browser_page(width=width, height=844) as page:
        open_page(page, url)
        open_sidebar(page)
        boxes = [page.get_by_role("button", name=name, exact=True).bounding_box()
                 for name in ("Day", "Golden hour", "Dusk", "Overcast")]
        sidebar = page.get_by_test_id("stSidebar").bounding_box()
        assert boxes[0]["y"] == boxes[1]["y"] < boxes[2]["y"] == boxes[3]["y"], boxes
        assert all(sidebar["x"] <= b["x"] and b["x"] + b["width"] <= sidebar["x"] + sidebar["width"] for b in boxes)


@pytest.mark.parametrize("name, data, message", [
    ("junk.png", b"not an image", r"Could not use junk\.png"),
    ("sky.png", label_map_png(np.full((40, 60), SKY, np.uint8)), r"Loaded sky\.png"),
])
def test_on_a_phone_an_upload_says_how_it_went_over_the_open_sidebar(url, tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with browser_page(width=390, height=844) as page:
        open_page(page, url)
        open_sidebar(page)
        upload_file(page, LABEL_MAP_UPLOADER, tmp_path / name)
        toast = page.get_by_test_id("stToast").filter(has_text=re.compile(message))
        toast.wait_for(state="visible", timeout=30_000)
        box = toast.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= 390, "the toast shows over the sidebar"
        models = page.get_by_role("combobox", name="Model").bounding_box()
        under = page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('[data-testid=\"stToast\"]')",
                              [models["x"] + 40, models["y"] + models["height"] / 2])
        assert not under, "a tap on the Model box reaches it, whatever toast shows over it"
        toast.get_by_role("button", name="Close").click()
        toast.wait_for(state="hidden", timeout=10_000)


def test_a_download_error_goes_when_its_expander_is_closed(url, tmp_path):
    with browser_page() as page:
        open_page(page, url)
        page.get_by_text("Get NVIDIA's pretrained models").click()
        page.get_by_role("textbox", name="checkpoints.tar.gz URL").fill(str(tmp_path / "missing.tar.gz"))
        page.get_by_role("textbox", name="checkpoints.tar.gz URL").press("Enter")
        wait_idle(page)
        page.get_by_text("I accept the licence: non-commercial use only").click()
        wait_idle(page)
        page.get_by_role("button", name="Download and unpack").click()
        error = message(page, re.compile(r"Could not download .*missing\.tar\.gz"))
        error.wait_for(state="visible", timeout=30_000)
        page.get_by_text("Get NVIDIA's pretrained models").click()  # closes the expander
        error.wait_for(state="detached", timeout=30_000)


def test_text_from_model_files_and_uploads_is_shown_as_text(tmp_path, request_log):
    import json

    base, hits = request_log
    root = tmp_path / "checkpoints"
    (root / "hostile").mkdir(parents=True)
    shipped = ROOT / "checkpoints" / "landscape"
    for name in ("generator.pth", "encoder.pth", "style_prior.pth"):  # copies: model files may not lead outside their folder
        shutil.copy(shipped / name, root / "hostile" / name)
    card = json.loads((shipped / "model.json").read_text())
    card["description"] = (f"![d]({base}/d.png) <img src={base}/e.png> [link]({base}/f) WWW.evil.example/w "
                           "Www.evil.example/v admin@evil.example")
    card["labels"][2]["name"] = f"![m]({base}/m.png)"
    card["labels"][6]["name"] = f"<img src={base}/t.png>"
    (root / "hostile" / "model.json").write_text(json.dumps(card))
    junk = tmp_path / f"<img src={base.replace('/', '_')}_u.png>\u202egnp.png"  # a bidi override reverses the end
    junk.write_bytes(b"not an image")
    with streamlit_server(root) as url, browser_page() as page:
        open_page(page, url)
        pick(page, "Model", "hostile")
        shown = base.replace("://", ":\u200b//")  # the page breaks bare URLs with a zero-width space
        page.get_by_role("button", name=f"![m]({shown}/m.png)", exact=True).wait_for(state="visible", timeout=30_000)
        page.get_by_role("button", name=f"<img src={shown}/t.png>", exact=True).wait_for(state="visible")
        page.get_by_text(f"![d]({shown}/d.png) <img src={shown}/e.png>").first.wait_for(state="visible")
        upload_file(page, LABEL_MAP_UPLOADER, junk)
        message(page, re.compile(r"Could not use <img src=")).wait_for(state="visible", timeout=30_000)
        message(page, "\\u202egnp.png").wait_for(state="visible")  # the override shown as text, not obeyed
        page.wait_for_timeout(500)
        fetching = page.locator(f'img[src^="{base}"], a[href^="{base}"]')
        assert fetching.count() == 0, [fetching.nth(i).evaluate("e => e.outerHTML") for i in range(fetching.count())]
        links = page.locator('a[href*="evil.example"], a[href^="mailto:"]')
        assert links.count() == 0, [links.nth(i).evaluate("e => e.outerHTML") for i in range(links.count())]
    assert hits == [], f"the browser fetched {hits} from text in a model folder or an upload name"


def test_a_damaged_copy_in_the_browser_is_refused_and_the_page_starts_afresh(url):
    with browser_page() as page:
        open_page(page, url)
        paint(page, [(30, 300), (300, 320)])
        drawn = label_map(page)
        assert (drawn == MOUNTAIN).sum() > 1000
        page.evaluate("const d = JSON.parse(localStorage.getItem('gaugan-drawing')); d.settings.seed = -5;"
                      f"{BOTH_COPIES}.forEach(s => s.setItem('gaugan-drawing', JSON.stringify(d)))")
        page.reload()
        settle(page)
        # the restore runs once the browser has reported its copy, which may be after the first run went idle
        message(page, "Kept settings the page does not take were left out: seed -5").wait_for(timeout=30_000)
        assert np.array_equal(label_map(page), drawn), "one bad setting does not cost the drawing"
        message(page, "Your label map from your last visit in this browser is back").wait_for(state="attached")
        page.evaluate(f"{BOTH_COPIES}.forEach(s => s.setItem('gaugan-drawing', "
                      "'{\"format\": \"gaugan-drawing/1\", \"labels\": 7}'))")
        page.reload()
        settle(page)
        message(page, "could not be restored: saved label map: expected base64 PNG text, found int").wait_for(
            timeout=30_000)
        assert (label_map(page) == SKY).all(), "a blank canvas to draw on"
        paint(page, [(30, 100), (300, 120)])
        assert (label_map(page) == MOUNTAIN).sum() > 1000
        kept = page.evaluate("localStorage.getItem('gaugan-drawing')")
        assert kept.startswith('{"format":"gaugan-drawing/1"'), "the new drawing replaces the damaged copy"
        page.locator(".st-key-clear button").click()
        wait_idle(page)
        page.wait_for_function("localStorage.getItem('gaugan-drawing') === null && "
                               "sessionStorage.getItem('gaugan-drawing') === ''", timeout=10_000)  # kept nothing


def test_a_reload_brings_back_this_tabs_drawing_and_a_new_tab_the_last_one_drawn(url):
    with browser_page() as first:
        idle = first.context.new_page()  # a tab that draws nothing
        open_page(idle, url)
        first.bring_to_front()
        open_page(first, url)
        paint(first, [(30, 300), (300, 320)])
        mine = label_map(first)
        kept = first.evaluate("sessionStorage.getItem('gaugan-drawing')")
        second = first.context.new_page()
        second.bring_to_front()
        open_page(second, url)
        message(second, "from your last visit in this browser is back").wait_for(timeout=30_000)
        assert np.array_equal(label_map(second), mine), "a new tab starts from the last drawing"
        paint(second, [(30, 60), (300, 80)])
        theirs = label_map(second)
        assert not np.array_equal(theirs, mine)
        second.wait_for_function("kept => localStorage.getItem('gaugan-drawing') !== kept", arg=kept, timeout=10_000)
        idle.bring_to_front()
        choose_label(idle, "sea")  # a run in the tab without a drawing leaves the others' copy be
        first.bring_to_front()  # a person looks at the tab they reload (a tab behind others may not lay out)
        first.reload()
        settle(first)
        message(first, "from your last visit in this browser is back").wait_for(timeout=30_000)
        assert np.array_equal(label_map(first), mine), "a reload brings back this tab's drawing, not the other tab's"
        third = first.context.new_page()
        third.bring_to_front()
        open_page(third, url)
        message(third, "from your last visit in this browser is back").wait_for(timeout=30_000)
        assert np.array_equal(label_map(third), theirs), "a new tab starts from the drawing made last, in any tab"


def test_a_rectangle_covers_what_was_dragged_whatever_the_brush_size(url):
    with browser_page() as page:
        open_page(page, url)
        page.get_by_role("radiogroup").get_by_text("Rectangle", exact=True).click()
        wait_idle(page)
        page.wait_for_timeout(500)  # the canvas takes its new mode after the run
        paint(page, [(100, 100), (200, 150)])  # with the default brush size of 24
        ids = label_map(page)
        scale = ids.shape[0] / canvas_box(page)["height"]
        rows, columns = np.nonzero(ids == MOUNTAIN)
        box = np.array([rows.min(), rows.max() + 1, columns.min(), columns.max() + 1]) / scale
        assert np.abs(box - [100, 150, 100, 200]).max() <= 3, f"the rectangle covers {box.round()}, not the drag"
