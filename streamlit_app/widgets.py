"""Page pieces with no model work: untrusted text shown as text, the column-width probe, colour-chip styles."""
from __future__ import annotations

import re

import streamlit as st

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'^])")

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


def plain(text: object) -> str:
    """Text from a file, an upload or an exception, escaped so Markdown shows it literally (no links, images, HTML).

    Bare URLs get a zero-width space after "://" and "www": GFM links them after escapes are resolved."""
    text = str(text).replace("://", ":\u200b//").replace("www.", "www\u200b.")
    return MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def column_width(key: str) -> int | None:
    """The width in CSS pixels of the column this is placed in, as the browser last reported it (None at first)."""
    result = _width_probe(key=key, default={"width": None}, on_width_change=lambda: None, width="stretch", height=0)
    width = result.get("width") if hasattr(result, "get") else getattr(result, "width", None)
    return int(width) if isinstance(width, (int, float)) and width > 0 else None


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def chip_styles(chips: dict[str, tuple[int, int, int]], selected: str) -> None:
    """Colour each keyed chip button with its label colour (text in black or white, whichever reads better)."""
    rules = []
    for key, rgb in chips.items():
        ink = "#000" if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140 else "#fff"
        ring = "box-shadow: 0 0 0 3px #ff4b4b;" if key == selected else ""
        rules.append(f".st-key-{key} button {{ background: {hex_colour(rgb)}; color: {ink}; min-height: 0;"
                     f" padding: 2px 10px; {ring} }}")
    st.html("<style>" + "\n".join(rules) + "</style>")
