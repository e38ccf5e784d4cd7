"""The drawing a browser keeps between visits: a faithful round trip, and its text read as untrusted input."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from gaugan.errors import InputError
from gaugan.saved_drawing import MAX_SIDE, MAX_TEXT, SavedDrawing, read_saved_drawing
from gaugan.sketch_samples import HAND_DRAWN, draw_strokes
from helpers import coco_sample, coco_sample_names


def saved_fields(**changes) -> str:
    """The text of a small valid drawing with some of its JSON fields changed."""
    fields = json.loads(SavedDrawing(model="landscape", labels=np.zeros((8, 8), np.int64)).to_text())
    return json.dumps({**fields, **changes})


def png_text(image: Image.Image, format: str = "PNG") -> str:
    out = io.BytesIO()
    image.save(out, format=format)
    return base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize("name", coco_sample_names()[:4])
def test_a_coco_label_map_and_a_hand_drawn_sketch_come_back_exactly(name):
    labels = coco_sample(name)[0].astype(np.int64)
    labels[0, 0] = 1000  # ids past 255 (a custom model's) survive too
    sketch = draw_strokes(HAND_DRAWN[0], 384)
    drawing = SavedDrawing(model="landscape-sketch", label_model="coco", labels=labels, aspect=0.75, sketch=sketch,
                           settings={"seed": 2**53 - 1, "canvas_size": "Small (320 px)"})
    back = read_saved_drawing(drawing.to_text())
    assert np.array_equal(back.labels, labels) and back.labels.dtype == np.int64
    assert np.array_equal(back.sketch, sketch) and back.sketch.shape == (384, 384, 3)
    assert (back.model, back.label_model, back.aspect, back.settings) == (
        "landscape-sketch", "coco", 0.75, {"seed": 2**53 - 1, "canvas_size": "Small (320 px)"})


def test_a_model_folder_name_of_255_characters_is_kept():
    assert read_saved_drawing(saved_fields(model="m" * 255)).model == "m" * 255


def test_an_empty_drawing_comes_back_empty():
    back = read_saved_drawing(SavedDrawing().to_text())
    assert back.labels is None and back.sketch is None and back.model is None and back.settings == {}


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not valid JSON (at character 1)"),
    ("[" * 100_000, "nesting too deep"),
    ('{"format": "gaugan-drawing/1", "settings": {"seed": ' + "9" * 5000 + "}}", "numbers too long"),
    ('["a list"]', "format 'gaugan-drawing/1'"),
    (saved_fields(format="gaugan-drawing/9"), "found 'gaugan-drawing/9'"),
    (saved_fields(labels="@@not base64@@"), "not base64"),
    (saved_fields(labels=12), "expected base64 PNG text, found int"),
    (saved_fields(labels=base64.b64encode(b"GIF89a truncated").decode()), "not a readable image"),
    (saved_fields(labels=png_text(Image.new("RGB", (8, 8)))), "mode I;16/I;16B/I;16L/L, found PNG RGB"),
    (saved_fields(labels=png_text(Image.new("L", (8, 8)), "BMP")), "expected a saved label map in PNG, found none"),
    (saved_fields(sketch=png_text(Image.new("L", (MAX_SIDE + 1, 4)))), f"over {MAX_SIDE} pixels a side"),
    (saved_fields(aspect=9.0), "from 1/3 to 3"),
    (saved_fields(aspect=True), "from 1/3 to 3"),
    (saved_fields(settings=[1]), "saved settings: expected an object, found list"),
    (saved_fields(model=""), "model name of 1 to"),
    (saved_fields(model="m" * 256), "model name of 1 to 255"),
    (saved_fields(label_model=["coco"]), "model name of 1 to"),
    ("x" * (MAX_TEXT + 1), f"at most {MAX_TEXT}"),
])
def test_a_damaged_or_foreign_copy_is_refused_saying_why(text, expected):
    with pytest.raises(InputError) as caught:
        read_saved_drawing(text)
    assert expected in str(caught.value)


def test_a_png_whose_header_claims_a_huge_image_is_refused_before_decoding():
    """Text within the size limit whose PNG would decode to 20000² pixels (the page must not allocate them)."""
    out = io.BytesIO()
    Image.new("L", (20000, 20000)).save(out, format="PNG")  # all zeros: compresses to ~400 KB
    text = saved_fields(sketch=base64.b64encode(out.getvalue()).decode())
    assert len(text) < MAX_TEXT
    with pytest.raises(InputError, match="pixels"):
        read_saved_drawing(text)
