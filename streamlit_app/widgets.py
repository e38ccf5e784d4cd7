"""Page pieces with no model work: untrusted text shown as text, settings kept while their widgets are away,
drawings kept while their canvas is away or resized, the column-width probe, the browser's copy of the drawing,
undo shortcuts, a download progress bar, colour-chip styles."""
from __future__ import annotations

import logging
import re
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import CanvasResult

from gaugan.downloads import Progress
from gaugan.labelmaps import hex_colour

LOG = logging.getLogger("gaugan.page")  # the page's failures, with their tracebacks, in the server's log
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'^])")
AUTOLINKED = re.compile(r"(:(?=//)|(?i:www)(?=\.)|@)")  # where GFM starts a bare link: "://", "www." and e-mail "@"
INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
CANVAS_SIZES = {"Small (320 px)": 320, "Medium (384 px)": 384, "Large (512 px)": 512}  # the longer side, both modes
MIN_CANVAS_WIDTH = 200
DESCRIPTION_CHARS = 300  # a longer model description is cut at a word, in full on hover
PAGE_MAX_SEED = 2**53 - 1  # the largest integer a browser's number box holds exactly (the API takes up to 2**63-1)
SEED_HELP = f"A whole number from 0 to {PAGE_MAX_SEED} (2⁵³ − 1); the same seed gives the same image."
NOTICE_SECONDS = 3.0  # a notice goes with the first run that starts this long after it was first shown

_WIDTH_PROBE_JS = """
export default function({ parentElement, setStateValue }) {
  const host = parentElement instanceof ShadowRoot ? parentElement.host : parentElement;
  const column = host.closest('[data-testid="stColumn"]') || host.parentElement;
  const report = () => {
    const width = Math.floor(column.getBoundingClientRect().width);
    if (width > 0 && width !== Number(host.dataset.reported || 0)) {
      host.dataset.reported = String(width);
      setStateValue("width", width);
    }
  };
  const observer = new ResizeObserver(report);
  observer.observe(column);
  report();
  return () => observer.disconnect();
}
"""
_width_probe = st.components.v2.component("gaugan_column_width", js=_WIDTH_PROBE_JS, isolate_styles=False)

# The drawing's copy in the browser's storage, so that a reload (or a new visit) finds it: each tab keeps its own in
# sessionStorage, which its reloads read first, and the last drawing changed in any tab is also kept in localStorage
# for a new tab or visit. Until the page has taken the copy (text null), the copy is reported once as "saved" ("" if
# none); from then on a run whose text differs from the tab's copy writes it: into both, or, for "" (Clear on both
# pages), as an empty copy for the tab and none for the browser. A tab that has drawn nothing writes nothing, so it
# leaves the other tabs' copy be. A browser that blocks storage keeps nothing and reports "".
_STORE_JS = """
export default function({ data, setStateValue }) {
  const storage = (name) => { try { return window[name] || null; } catch (e) { return null; } };
  const read = (store) => { try { return store ? store.getItem(data.name) : null; } catch (e) { return null; } };
  const tab = storage("sessionStorage"), browser = storage("localStorage");
  if (data.text === null) {
    setStateValue("saved", read(tab) ?? read(browser) ?? "");
    return;
  }
  if ((read(tab ?? browser) ?? "") === data.text) return;  // unchanged in this tab, or nothing drawn in it yet
  try { if (tab) tab.setItem(data.name, data.text); } catch (e) { /* full or blocked: this session only */ }
  try {
    if (browser && data.text === "") browser.removeItem(data.name);
    else if (browser) browser.setItem(data.name, data.text);
  } catch (e) { /* full or blocked storage: the drawing lives on in this session only */ }
}
"""
_store = st.components.v2.component("gaugan_browser_store", js=_STORE_JS, isolate_styles=False)

# Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y, and Cmd on a Mac) press the drawing canvas's own Undo / Redo toolbar buttons,
# except while the focus is in a text field. The canvases live in open shadow roots under their keyed containers.
_UNDO_KEYS_JS = """
export default function({ data }) {
  const press = (label) => {
    const hosts = document.querySelectorAll(`[class*="st-key-${data.canvas}"] [data-testid="stBidiComponentIsolated"]`);
    for (const host of hosts) {
      const button = host.shadowRoot && host.shadowRoot.querySelector(`button[aria-label="${label}"]`);
      if (button) { button.click(); return true; }
    }
    return false;
  };
  const onKey = (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
    const target = event.composedPath()[0];
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName || ""))) return;
    const key = event.key.toLowerCase();
    const label = key === "z" ? (event.shiftKey ? "Redo" : "Undo") : key === "y" ? "Redo" : null;
    if (label && press(label)) event.preventDefault();
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
"""
_undo_keys = st.components.v2.component("gaugan_undo_keys", js=_UNDO_KEYS_JS, isolate_styles=False)

# The canvas's toolbar waits unseen, but clickable, over the canvas's top right corner until the pointer has rested
# on the canvas, so a stroke begun there was lost. This style, put into each canvas's shadow root, keeps the
# toolbar wholly above the canvas at all times and lets clicks through while it is unseen.
_TOOLBAR_JS = """
const STYLE = `.dc-toolbar { top: -2.9rem; pointer-events: none; }
.dc-root:hover > .dc-toolbar, .dc-toolbar:focus-within, .dc-toolbar[data-pinned=true] { pointer-events: auto; }`;
export default function({ data }) {
  const restyle = () => {
    for (const host of document.querySelectorAll(`[class*="st-key-${data.canvas}"] [data-testid="stBidiComponentIsolated"]`)) {
      const root = host.shadowRoot;
      if (root && !root.getElementById("gaugan-toolbar")) {
        const style = document.createElement("style");
        style.id = "gaugan-toolbar";
        style.textContent = STYLE;
        root.appendChild(style);
      }
    }
  };
  restyle();
  const observer = new MutationObserver(restyle);  // a canvas mounted anew (a new key) gets it too ...
  observer.observe(document.body, { childList: true, subtree: true });
  const timer = setInterval(restyle, 250);  // ... and one whose shadow root filled after its host was added
  return () => { observer.disconnect(); clearInterval(timer); };
}
"""
_toolbar = st.components.v2.component("gaugan_canvas_toolbar", js=_TOOLBAR_JS, isolate_styles=False)


def is_seed(value: object) -> bool:
    """Whether value is a seed the seed boxes take: a whole number from 0 to PAGE_MAX_SEED."""
    return type(value) is int and 0 <= value <= PAGE_MAX_SEED


def is_number_in(low: float, high: float, whole: bool = False) -> Callable[[object], bool]:
    """A check that an untrusted value (from JSON) is a number from low to high (a whole one if whole)."""
    kinds = (int,) if whole else (int, float)
    return lambda value: isinstance(value, kinds) and not isinstance(value, bool) and low <= value <= high


def is_bool(value: object) -> bool:
    """Whether an untrusted value (from JSON) is true or false."""
    return isinstance(value, bool)


def is_one_of(options: Iterable) -> Callable[[object], bool]:
    """A check that an untrusted value (from JSON) is one of options: a string or a whole number, never a list or
    an object, which cannot be looked up."""
    return lambda value: isinstance(value, (str, int)) and not isinstance(value, bool) and value in options


def plain(text: object) -> str:
    """Text from a file, an upload or an exception, escaped so Markdown shows it literally (no links, images, HTML).

    Bare URLs and e-mail addresses get a zero-width space after "://", "www" (in any case) and "@": GFM links them
    after escapes are resolved. Invisible controls (bidi overrides that reverse a name, terminal codes) show as
    \\uXXXX."""
    text = AUTOLINKED.sub("\\1\u200b", str(text))
    text = INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def describe(container, lead: str, description: object) -> None:
    """A caption of lead (Markdown) and a model card's description (plain text, cut at DESCRIPTION_CHARS with the
    whole on hover)."""
    text = " ".join(str(description or "").split())
    short = textwrap.shorten(text, DESCRIPTION_CHARS, placeholder=" …")
    if lead or text:
        container.caption(" ".join(filter(None, (lead, plain(short)))),
                          help=plain(text) if short != text else None)


def sentence(text: object) -> str:
    """The text ending as a sentence: a full stop added unless it ends with one (or ! or ?)."""
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def widget_key(key: str) -> str:
    """The key of the widget holding a kept setting: the bare key until renew_widgets(), a new one after each call,
    so the browser cannot send back a value the page has just replaced."""
    generation = st.session_state.get("widget_generation", 0)
    return f"{key}_v{generation}" if generation else key


def renew_widgets() -> None:
    """Fresh widgets for the kept settings from this run on; they take their values from session state. (A widget's value the browser sends wins over one the script set while the browser had not yet shown it,
    as happens when a restore races the page's first reruns.)"""
    st.session_state.widget_generation = st.session_state.get("widget_generation", 0) + 1


def kept(key: str, default: object, options: Sequence | None = None) -> dict:
    """The keyword arguments (key, and value or index into options) of the widget of a setting whose value outlives
    runs that do not draw its widget (Streamlit drops such widgets' state).

    The value is copied under session_state.kept and is also the widget's own default: the browser takes that
    whenever it mounts the widget without the page's value, as a run cut short by the next one can leave it."""
    state = st.session_state
    saved = state.setdefault("kept", {})
    widget = widget_key(key)
    saved[key] = value = state[widget] if widget in state else saved.get(key, default)
    if options is None:
        return {"key": widget, "value": value}
    options = list(options)
    return {"key": widget, "index": options.index(value if value in options else default)}


def seed_box(container, key: str, help: str) -> int:
    """The Seed number box of a kept setting. A negative value typed into it is put back to the seed before, with an
    error under the box that stays until the seed changes (the box alone would show it only as a red border, while
    the image kept the seed before; one above PAGE_MAX_SEED the browser's box refuses that way still)."""
    widget = kept(key, 0)
    value = container.number_input("Seed", min_value=-PAGE_MAX_SEED, max_value=PAGE_MAX_SEED, step=1, **widget, help=help,
                                   on_change=_refuse_bad_seed, args=(key, widget["key"]))
    refused = st.session_state.setdefault("refused_seed", {})
    if key in refused and refused[key][1] != value:  # the seed changed since: the message is over
        del refused[key]
    if key in refused:
        container.error(refused[key][0])
    return value


def _refuse_bad_seed(key: str, widget: str) -> None:
    """A negative seed typed into a seed box goes back to the seed before, with a message (the browser refuses one
    above PAGE_MAX_SEED itself)."""
    state = st.session_state
    value = state[widget]
    if not is_seed(value):
        before = state.get("kept", {}).get(key, 0)
        state[widget] = before
        state.setdefault("refused_seed", {})[key] = (
            f"Seed {plain(value)} is out of range: a seed is a whole number from 0 to {PAGE_MAX_SEED:,}. Still seed "
            f"{before}.", before)


def kept_value(key: str) -> object:
    """A kept setting's value, whether or not its widget is on the page this run (None before it was ever set)."""
    state = st.session_state
    widget = widget_key(key)
    return state[widget] if widget in state else state.get("kept", {}).get(key)


def keep(key: str, value: object) -> None:
    """Set a kept setting before its widget is drawn this run (in a callback, or at the top of the script), whether
    or not the widget is on the page this run."""
    st.session_state[widget_key(key)] = value
    st.session_state.setdefault("kept", {})[key] = value


class CanvasState(NamedTuple):
    """Where a drawing canvas keeps its drawing in session state: the picture under its strokes (base), the
    generation in its widget key (a new one mounts a fresh canvas), its stroke count, the picture it shows
    (strokes over base) and its (height, width); and its widget key's start, which the generation follows."""

    base: str
    generation: str
    strokes: str
    shown: str
    shape: str
    key: str


LABEL_CANVAS = CanvasState(base="base", generation="canvas_gen", strokes="strokes", shown="current_labels",
                           shape="canvas_shape", key="canvas_")  # the label-map page's canvas (sketch_mode has its own)


def canvas_key(canvas: CanvasState) -> str:
    """The widget key of the canvas's current generation."""
    return f"{canvas.key}{st.session_state.get(canvas.generation, 0)}"


def sent_canvas(canvas: CanvasState) -> CanvasResult | None:
    """What the browser last sent for the canvas's current generation, readable before the canvas is drawn (a run
    that fails before drawing it still has the strokes sent with it); None if it sent nothing."""
    value = st.session_state.get(canvas_key(canvas))
    drawing = value.get("drawing") if isinstance(value, Mapping) else None
    if not isinstance(drawing, Mapping) or not isinstance(drawing.get("data"), str):
        return None
    return CanvasResult(json_data=drawing.get("raw"), image_data_url=drawing["data"], return_image_data=True)


def stroke_count(canvas: CanvasResult) -> int:
    """How many objects (strokes, shapes, Fill clicks) the canvas holds."""
    return len((canvas.json_data or {}).get("objects", []))


def reset_canvas(canvas: CanvasState) -> None:
    """A fresh canvas, without strokes, over the base."""
    state = st.session_state
    state[canvas.generation] = state.get(canvas.generation, 0) + 1
    state[canvas.strokes] = 0


def bake_strokes(canvas: CanvasState) -> None:
    """The strokes go into the base under a fresh canvas (a canvas can neither rescale nor outlive its strokes)."""
    state = st.session_state
    if state.get(canvas.strokes):
        state[canvas.base] = state[canvas.shown]
        reset_canvas(canvas)


def fit_drawing(canvas: CanvasState, size: tuple[int, int],
                resize: Callable[[np.ndarray, tuple[int, int]], np.ndarray],
                before_bake: Callable[[], None] | None = None) -> None:
    """After a size change, the whole drawing (strokes and base) is rescaled into the base of a fresh canvas
    (before_bake is called first); a base of another size (restored from the browser, uploaded, an example) is
    rescaled to the canvas too. A drawing unchanged since the last rescale is rescaled from the one that rescale
    started from, so shrinking the canvas and growing it back gives the drawing back exactly."""
    state = st.session_state
    previous = state.get(canvas.shape)
    state[canvas.shape] = size
    if previous is not None and previous != size:
        if before_bake is not None:
            before_bake()
        bake_strokes(canvas)
        if state.get(canvas.shown) is not None:
            rescale(canvas.shown, size, resize)
    if state.get(canvas.base) is not None and state[canvas.base].shape[:2] != tuple(size):
        rescale(canvas.base, size, resize)


def rescale(key: str, size: tuple[int, int], resize: Callable[[np.ndarray, tuple[int, int]], np.ndarray]) -> None:
    """The drawing under key rescaled to size (height, width): from the drawing the last rescale started from if
    it is unchanged since, so that shrinking and growing back, however often, gives the drawing back exactly."""
    state = st.session_state
    origin, made = state.get(f"{key}_rescaled", (None, None))  # (the drawing as last edited, its rescale)
    if made is None or not np.array_equal(made, state[key]):
        origin = state[key]  # edited since: this is the drawing to rescale from now
    state[key] = origin if origin.shape[:2] == tuple(size) else resize(origin, size)
    state[f"{key}_rescaled"] = (origin, state[key])


def column_width(key: str) -> int | None:
    """The width in CSS pixels of the column this is placed in, as the browser last reported it (None at first).
    Until a newly placed probe reports, the width any probe last reported: both modes' canvas columns are the same
    width, and both modes place their probe under one key, so a mode switch neither resizes the canvas nor reruns
    the page under the first strokes."""
    result = _width_probe(key=key, default={"width": None}, on_width_change=lambda: None, width="stretch", height=0)
    width = result.get("width") if hasattr(result, "get") else getattr(result, "width", None)
    if isinstance(width, (int, float)) and width > 0:
        st.session_state.column_width = int(width)
    return st.session_state.get("column_width")


def browser_copy(key: str, name: str, text: str | None) -> None:
    """Keep text under name in the browser's storage. While text is None, nothing is written and the browser
    reports the copy it kept, which browser_saved(key) gives from the next run on."""
    _store(key=key, data={"name": name, "text": text}, default={"saved": None}, on_saved_change=lambda: None,
           width="stretch", height=0)


def browser_saved(key: str) -> str | None:
    """The copy the browser reported to browser_copy(key, ...) ("" if it kept none); None until it has reported."""
    result = st.session_state.get(key)
    saved = result.get("saved") if hasattr(result, "get") else None
    return None if saved is None else str(saved)


def fitted_width(chosen: int, available: int | None) -> int:
    """The chosen canvas width narrowed to the column's available width, but not below MIN_CANVAS_WIDTH."""
    return chosen if available is None else max(MIN_CANVAS_WIDTH, min(chosen, available))


def undo_shortcuts(canvas_key_prefix: str) -> None:
    """Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo and redo strokes on the canvas whose key starts with the prefix; its
    toolbar kept off the canvas."""
    _undo_keys(key=f"undo_keys_{canvas_key_prefix}", data={"canvas": canvas_key_prefix}, width="stretch", height=0)
    _toolbar(key=f"toolbar_{canvas_key_prefix}", data={"canvas": canvas_key_prefix}, width="stretch", height=0)


def _size_text(n: int) -> str:
    """A byte count for people: KB below 0.1 MB, else MB."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.0f} KB"


@contextmanager
def download_progress(what: str) -> Iterator[Progress]:
    """A progress bar for the block, fed with (bytes received, total or None) at most five times a second; it goes
    when the block ends, however it ends."""
    bar = st.progress(0.0, text=f"Connecting to {what}…")
    last = 0.0

    def update(received: int, total: int | None) -> None:
        nonlocal last
        done = total is not None and received >= total
        if time.monotonic() - last < 0.2 and not done:
            return
        last = time.monotonic()
        if done:
            bar.progress(1.0, text=f"Downloaded {_size_text(received)}; verifying and unpacking…")
        elif total:
            bar.progress(received / total, text=f"Downloading {what}: {_size_text(received)} of {_size_text(total)}")
        else:
            bar.progress(0.0, text=f"Downloading {what}: {_size_text(received)} (size not announced)")

    try:
        yield update
    finally:
        bar.empty()


def chip_styles(chips: dict[str, tuple[int, int, int]], selected: str) -> None:
    """Colour each keyed chip button with its label colour (text in black or white, whichever reads better)."""
    rules = []
    for key, rgb in chips.items():
        ink = "#000" if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140 else "#fff"
        ring = "box-shadow: 0 0 0 3px #ff4b4b;" if key == selected else ""
        rules.append(f".st-key-{key} button {{ background: {hex_colour(rgb)}; color: {ink}; min-height: 0;"
                     f" padding: 2px 10px; {ring} }}")
    st.html("<style>" + "\n".join(rules) + "</style>")


def background_key(name: str) -> str:
    """The widget key of a model's unpainted-area label."""
    return f"background_{name}"


def live_key(name: str) -> str:
    """The widget key of a model's Live toggle."""
    return f"live_{name}"


def notice(text: str) -> None:
    """An info line (our words; untrusted parts passed through plain()), shown by every run that starts within
    NOTICE_SECONDS of its first showing: the reruns that follow at once (a fresh canvas mounting) keep it, and the
    user's next action a few seconds later takes it away, however often the user acts."""
    st.session_state.notices[fresh(text)] = None  # not shown yet


def fresh(text: str) -> str:
    """text as the message of a new event: it pops up as a toast even if the last message had the same words (the
    same file uploaded again)."""
    st.session_state.toasted.discard(text)
    return text
