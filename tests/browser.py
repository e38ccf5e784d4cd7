"""Start the page with `streamlit run` and drive it in Debian Chromium (shared by the browser test and bench)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANVAS = '[class*="st-key-canvas_"] canvas.upper-canvas'
RESULT = '.st-key-result [data-testid="stImage"] img'
_SERVER_LOGS: list = []  # the output files of the servers running now, printed when a page's test fails


def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        raise RuntimeError("Debian chromium is not installed: apt-get install -y chromium (never `playwright install`)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(log, limit: int = 6000) -> str:
    log.seek(0)
    return log.read()[-limit:].decode(errors="replace")


@contextmanager
def streamlit_server(checkpoints: Path | None = None):
    """Yield the URL of the app served by a fresh `streamlit run` process, stopped afterwards. Its output goes to a
    file (a pipe nobody reads would stall it once full); when the block fails, the output's tail is printed."""
    port = free_port()
    env = {**os.environ, **({"GAUGAN_CHECKPOINTS": str(checkpoints)} if checkpoints else {})}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app" / "app.py"),
               "--server.headless", "true", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=log,
                                   stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        _SERVER_LOGS.append(log)
        try:
            for _ in range(150):
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.2)
            else:
                raise RuntimeError("streamlit did not become healthy: " + log_tail(log))
            yield url
        except BaseException:
            print("streamlit output (tail):\n" + log_tail(log))
            raise
        finally:
            _SERVER_LOGS.remove(log)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)


@contextmanager
def browser_page(width: int = 1280, height: int = 900):
    """A Playwright page in Debian Chromium with a throwaway profile; when the block fails, the page's text and the
    running servers' output are printed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=chromium_path(), headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": width, "height": height},
                                                       accept_downloads=True)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        except BaseException:
            try:
                print("page text when the test failed:\n" + page.inner_text("body", timeout=5_000)[-3000:])
            except Exception as exc:  # a closed or crashed page: the test's own error matters more
                print(f"page text unreadable: {exc}")
            for log in _SERVER_LOGS:
                print("streamlit output (tail):\n" + log_tail(log))
            raise
        finally:
            context.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def choose_label(page, name: str) -> None:
    """Click the named colour chip above the canvas."""
    page.locator('[class*="st-key-chip_"]').get_by_role("button", name=name, exact=True).click()
    wait_idle(page)


def message(page, text):
    """The page's error or notice holding text, in the messages box beside the canvas (its toast aside)."""
    return page.locator(".st-key-messages").get_by_text(text)


def open_sidebar(page) -> None:
    """Unfold the sidebar a narrow window folds away, and wait until it has slid in."""
    page.get_by_test_id("stExpandSidebarButton").click()
    page.get_by_role("combobox", name="Model").wait_for(state="visible")
    page.wait_for_timeout(500)


def pick(page, box: str, option: str, tries: int = 3) -> None:
    """Choose an option in the named select-box.

    A rerun that redraws the page while the list is open detaches the list, as it would under a person's pointer;
    the box is opened again then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        wait_idle(page)
        page.get_by_role("combobox", name=box).click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        wait_idle(page)
        return
    raise AssertionError(f"could not choose {option!r} in the {box!r} box in {tries} tries")


def upload_file(page, uploader_label: str, path: Path, tries: int = 3) -> None:
    """Put a file into the file uploader whose label starts with uploader_label, and wait until it lists the file.

    A file set while a rerun replaces the uploader's input is dropped without a trace (no chip, no rerun), as a
    person's drop would be in that instant; the file is set again then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text=uploader_label)
    for _ in range(tries):
        uploader.locator('input[type="file"]').set_input_files([])  # the same file again would change nothing
        uploader.locator('input[type="file"]').set_input_files(str(path))
        try:
            chip = uploader.get_by_test_id("stFileChipName").filter(has_text=path.name[-8:])  # long names: "ab...yz"
            chip.wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the uploader did not take {path.name} in {tries} tries")


def stroke(page, points: list[tuple[float, float]], canvas: str = CANVAS) -> None:
    """Press, drag through points (canvas coordinates) and release on the drawing canvas."""
    box = page.locator(canvas).bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
    page.mouse.up()


def result_src(page) -> str | None:
    images = page.locator(RESULT)
    return images.first.get_attribute("src") if images.count() else None


def open_page(page, url: str) -> None:
    """Load the page and wait until the drawing canvas is there and fitted to its column."""
    page.goto(url)
    settle(page)


def settle(page) -> None:
    """Wait until a freshly (re)loaded page's drawing canvas is there and fitted to its column: it comes at its
    chosen width, and a run after the column-width probe's first report narrows it to a narrower column."""
    page.wait_for_selector(CANVAS, timeout=60_000)
    deadline = time.monotonic() + 60
    while not canvas_fits(page):
        if time.monotonic() > deadline:
            raise AssertionError("the canvas was not fitted to its column within 60 s")
        page.wait_for_timeout(200)
    wait_idle(page)
    page.wait_for_timeout(800)  # a run the browser's other first reports ask for
    wait_idle(page)


def canvas_fits(page) -> bool:
    """Whether there is one drawing canvas (none is being replaced) and it lies within the page column it sits in."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        canvas = page.locator(CANVAS).bounding_box(timeout=5_000)
        column = page.locator('[data-testid="stColumn"]').filter(has=page.locator(CANVAS)).last.bounding_box(
            timeout=5_000)
    except PlaywrightError:  # no canvas, or two while a new one replaces the old
        return False
    return bool(canvas and column) and column["x"] - 1 <= canvas["x"] and \
        canvas["x"] + canvas["width"] <= column["x"] + column["width"] + 1


def wait_new_result(page, previous: str | None, timeout: float = 60_000) -> str:
    """The src of the result image once one other than previous is on screen."""
    page.wait_for_function(
        "([sel, prev]) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0"
        " && i.getAttribute('src') !== prev; }", arg=[RESULT, previous], timeout=timeout)
    return result_src(page)


def paint(page, points: list[tuple[float, float]]) -> str:
    """One stroke with live generation on; returns the new image's src once it is on screen."""
    before = result_src(page)
    stroke(page, points)
    return wait_new_result(page, before)


def label_map(page) -> np.ndarray:
    """The ids label map as the page's download button hands it out."""
    wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download label map (ids)").click()
    return np.asarray(Image.open(download.value.path()))
