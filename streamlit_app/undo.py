"""The label canvas's "Undo fill or load" history: the drawings that a fill, upload, example scene, clear or
unpainted-area change replaced, and where the user painted since, so that an undo brings a drawing back with that
painting kept on it."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from gaugan.canvas import fit_label_map
from widgets import LABEL_CANVAS, background_key, keep, kept_value, notice, reset_canvas

UNDO_STEPS = 10  # base-map changes (fill, upload, example, clear, unpainted area) that "Undo" can take back
state = st.session_state


class KeptDrawing(NamedTuple):
    """A drawing "Undo fill or load" brings back, and the base that replaced it on the canvas."""

    labels: np.ndarray
    aspect: float | None  # the canvas's aspect (None: the model's own)
    background: int | None  # its unpainted-area label (None: keep the one in use)
    replaced_by: np.ndarray | None = None  # the base the change put on the canvas, noted by the run that shows it
    painted: np.ndarray | None = None  # where labels was painted since the change before it (None: nowhere known)


def remember_drawing(background: int | None = None) -> None:
    """Keep the drawing as it is now (its canvas aspect and unpainted-area label too) for "Undo", before its base map
    is replaced."""
    state.notices = {}  # notes on the drawing being replaced
    if state.get("current_labels") is not None:
        background = kept_value(background_key(state.get("active_model"))) if background is None else background
        last = state.undo[-1] if state.get("undo") else None
        painted = painted_since(last, state.current_labels) if last and last.replaced_by is not None else None
        kept = KeptDrawing(state.current_labels, state.get("canvas_aspect"), background, painted=painted)
        state.undo = [*state.get("undo", []), kept][-UNDO_STEPS:]
    state.painted_before = None  # the next base has nothing painted on it yet


def keep_stroke_mask() -> None:
    """Where the label canvas's strokes are, kept with what undos kept (state.painted_before) before the strokes go
    into its base (a resize, a visit to sketch mode), where a stroke in the label under it could not be told apart."""
    mask = state.get("stroke_mask")
    if mask is not None and state.get("strokes"):
        before = state.get("painted_before")
        state.painted_before = mask if before is None else mask | fit_label_map(before, mask.shape)


def restart_undo(entries: list[KeptDrawing]) -> None:
    """A new "Undo fill or load" history, of drawings in the labels now in use; what undos kept of earlier painting
    goes with the old one."""
    state.undo = entries
    state.painted_before = None


def note_replacement(base: np.ndarray) -> None:
    """The base the last change put on the canvas goes with its undo entry, so that what is painted on it since can
    be told apart."""
    if state.get("undo") and state.undo[-1].replaced_by is None:
        state.undo[-1] = state.undo[-1]._replace(replaced_by=base)


def same_aspect(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether two (height, width) sizes have one aspect, to a pixel's rounding."""
    return abs(a[0] * b[1] - b[0] * a[1]) <= max(a[1], b[1])


def painted_since(kept: KeptDrawing, current: np.ndarray) -> np.ndarray:
    """Where the drawing now shown was painted since the change kept undoes: the strokes on the canvas now, in any
    label; those that went into the base since (a resize, a visit to sketch mode) and what an undo kept of earlier
    painting (state.painted_before); and any pixel that differs from what the change put there."""
    painted = current != fit_label_map(kept.replaced_by, current.shape)
    strokes = state.get("stroke_mask")
    if strokes is not None and strokes.shape == painted.shape:
        painted |= strokes
    if state.get("painted_before") is not None:
        painted |= fit_label_map(state.painted_before, current.shape)
    return painted


def undo_base_change() -> None:
    """The drawing as it was before the last fill, upload, example scene, clear or unpainted-area change, with the
    unpainted-area label it had. What was painted since stays on it (in the unpainted-area label, the kept one),
    unless the change gave the canvas another shape."""
    kept = state.undo.pop()
    state.notices = {}  # notes on the drawing being taken back
    base, current, before = kept.labels, state.get("current_labels"), kept.painted
    if kept.replaced_by is not None and current is not None:
        painted = painted_since(kept, current)
        if same_aspect(kept.labels.shape, current.shape):
            since = current
            if kept.background is not None:
                since = np.where(current == kept_value(background_key(state.active_model)), kept.background, current)
            base = np.where(painted, since, fit_label_map(kept.labels, current.shape))
            before = painted if kept.painted is None else painted | fit_label_map(kept.painted, current.shape)
        elif painted.any():
            notice("What you painted since went with it: it was on a canvas of another shape.")
    state.base = state.current_labels = base
    state.painted_before = before  # so that the next undo keeps it too
    state.canvas_aspect = kept.aspect
    if kept.background is not None:
        keep(background_key(state.active_model), kept.background)
    reset_canvas(LABEL_CANVAS)
