"""End to end in a real browser: paint two labels, generate live and by button, download both PNGs."""
import io

import numpy as np
import pytest
from browser import CANVAS, RESULT, browser_page, choose_label, result_src, stroke, streamlit_server, wait_idle
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_new_result(page, previous: str | None, timeout: float = 60_000) -> str:
    page.wait_for_function(
        "([sel, prev]) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0"
        " && i.getAttribute('src') !== prev; }", arg=[RESULT, previous], timeout=timeout)
    return result_src(page)


def fetch_png(page, src: str) -> Image.Image:
    response = page.request.get(src if src.startswith("http") else page.url.rstrip("/") + src)
    return Image.open(io.BytesIO(response.body()))


def test_paint_generate_and_download():
    with streamlit_server() as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector(CANVAS, timeout=60_000)
        wait_idle(page)
        canvas = page.locator(CANVAS).bounding_box()

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
        page.get_by_text("The drawing changed: press Generate").wait_for(state="visible", timeout=30_000)
        assert result_src(page) is None, "live mode is off: no image until Generate"
        page.get_by_role("button", name="Generate").click()
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


def test_phone_width_fits_the_canvas():
    with streamlit_server() as url, browser_page(width=420, height=860) as page:
        page.goto(url)
        page.wait_for_selector(CANVAS, timeout=60_000)
        wait_idle(page)
        box = page.locator(CANVAS).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 420
