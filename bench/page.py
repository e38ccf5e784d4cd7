"""Median time from mouse-up to the new generated image on screen, in Chromium, with the shipped model.

Also writes docs/page_desktop.png and docs/page_phone.png (the example scene with a few strokes), and
docs/page_sketch.png (sketch mode with landscape-sketch-reader: a hand-drawn sketch and what the model read).
python bench/page.py [--strokes N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import common

ROOT = common.ROOT
sys.path.insert(0, str(ROOT / "tests"))

from browser import (CANVAS, RESULT, browser_page, choose_label, pick, result_src, stroke,  # noqa: E402
                     streamlit_server, wait_idle)

from gaugan.sketch_samples import HAND_DRAWN  # noqa: E402

SKETCH_CANVAS = '[class*="st-key-sketch_canvas_"] canvas.upper-canvas'

SCENE = [("clouds", [(60, 40), (130, 35)]), ("tree", [(40, 215), (60, 205)])]  # painted over the example scene


def time_strokes(page, count: int) -> list[float]:
    """Seconds from each mouse-up to the new image being loaded on screen."""
    timings = []
    for i in range(count):
        previous = result_src(page)
        y = 40 + (i * 37) % 280
        stroke(page, [(30, y), (160, y + 8)])
        released = time.perf_counter()
        page.wait_for_function(
            "([sel, prev]) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0"
            " && i.getAttribute('src') !== prev; }", arg=[RESULT, previous], timeout=60_000)
        timings.append(time.perf_counter() - released)
        wait_idle(page)
    return timings


def paint_scene(page, phone: bool = False) -> None:
    """Load the example scene in the Day look and paint over it with the colour chips above the canvas."""
    time.sleep(1.0)  # the column-width probe may fit the canvas once after the first render
    wait_idle(page)
    if phone:  # the sidebar is folded away on a phone
        page.get_by_test_id("stExpandSidebarButton").click()
    page.get_by_role("button", name="Example scene").click()
    wait_idle(page)
    page.get_by_role("button", name="Day", exact=True).click()
    wait_idle(page)
    if phone:
        page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
        wait_idle(page)
    for label, points in SCENE:
        choose_label(page, label)
        stroke(page, points)
        wait_idle(page)
        time.sleep(0.5)


def draw_sketch(page) -> None:
    """Sketch mode with the read-and-paint model: the sample sheet's first hand-drawn sketch, what was read shown."""
    pick(page, "Model", "landscape-sketch-reader")
    page.wait_for_selector(SKETCH_CANVAS, timeout=60_000)
    time.sleep(1.0)
    wait_idle(page)
    scale = page.locator(SKETCH_CANVAS).bounding_box()["width"] / 256
    for _, points in HAND_DRAWN[0]:
        stroke(page, [(x * scale, y * scale) for x, y in points], SKETCH_CANVAS)
        wait_idle(page)
    settle(page)
    page.get_by_text("What the model read").click()
    wait_idle(page)
    time.sleep(1.5)  # the expander's opening animation


def settle(page) -> None:
    """Wait until the last stroke's image is on screen and nothing is running."""
    time.sleep(1.0)
    wait_idle(page)
    page.wait_for_function("sel => { const i = document.querySelector(sel); return i && i.complete; }", arg=RESULT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--strokes", type=int, default=9)
    args = parser.parse_args()
    with streamlit_server() as url:
        with browser_page() as page:
            page.goto(url)
            page.wait_for_selector(CANVAS, timeout=60_000)
            wait_idle(page)
            choose_label(page, "grass")
            timings = time_strokes(page, args.strokes)
        with browser_page() as page:
            page.goto(url)
            page.wait_for_selector(CANVAS, timeout=60_000)
            wait_idle(page)
            paint_scene(page)
            settle(page)
            page.screenshot(path=str(ROOT / "docs" / "page_desktop.png"))
        with browser_page(width=390, height=844) as page:
            page.goto(url)
            page.wait_for_selector(CANVAS, timeout=60_000)
            wait_idle(page)
            paint_scene(page, phone=True)
            settle(page)
            page.screenshot(path=str(ROOT / "docs" / "page_phone.png"), full_page=True)
        with browser_page(height=1100) as page:
            page.goto(url)
            page.wait_for_selector(CANVAS, timeout=60_000)
            draw_sketch(page)
            page.screenshot(path=str(ROOT / "docs" / "page_sketch.png"))
    print(f"mouse-up -> new image on screen, shipped model, {args.strokes} strokes: "
          f"median {statistics.median(timings):.3f} s (min {min(timings):.3f}, max {max(timings):.3f})")


if __name__ == "__main__":
    main()
