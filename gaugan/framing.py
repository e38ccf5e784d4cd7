"""Painting a label map or sketch of any shape with a generator of one fixed shape, nothing stretched: the input is
mirrored out to the generator's aspect ratio, painted, and the picture cut back to the input."""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image


def pad_centred(array: np.ndarray, size: tuple[int, int], **how) -> tuple[np.ndarray, tuple[int, int]]:
    """The (H, W, ...) array centred in a frame of (height, width), the rest filled as np.pad's keywords in how
    say; and its (top, left) place in the frame."""
    (h, w), (frame_h, frame_w) = array.shape[:2], size
    top, left = (frame_h - h) // 2, (frame_w - w) // 2
    widths = ((top, frame_h - h - top), (left, frame_w - w - left)) + ((0, 0),) * (array.ndim - 2)
    return np.pad(array, widths, **how), (top, left)


def covering_frame(shape: tuple[int, int], model_size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (height, width) that holds shape and has the aspect ratio of model_size (height, width)."""
    (h, w), (model_h, model_w) = shape, model_size
    return max(h, round(w * model_h / model_w)), max(w, round(h * model_w / model_h))


def blur_note(shape: tuple[int, int], model_size: tuple[int, int]) -> str | None:
    """What a (height, width) input far from the model's aspect ratio costs when painted unstretched (its shorter
    side gets under a third of the model's pixels, so the photo comes out blurred); None for any other input."""
    frame = covering_frame(shape, model_size)
    share, axis = min((shape[0] / frame[0], 0), (shape[1] / frame[1], 1))
    if share >= 1 / 3:
        return None
    return (f"it is {shape[1]}×{shape[0]}, so it is painted in a {model_size[1]}×{model_size[0]} picture mirrored out "
            f"from it, and its {('height', 'width')[axis]} gets {round(share * model_size[axis])} of that picture's "
            f"{model_size[axis]} pixels: the photo is blurred; parts closer to {model_size[1]}×{model_size[0]} in "
            "shape keep the detail")


def paint_unstretched(paint: Callable[..., Image.Image], model_size: tuple[int, int],
                      *arrays: np.ndarray) -> Image.Image:
    """paint(*arrays) for (H, W, ...) arrays of one (H, W) whose aspect ratio differs from model_size's: each is
    mirrored out to that ratio, paint draws the frame (at any scale), and the picture is cut back to the arrays."""
    shape = arrays[0].shape[:2]
    frame = covering_frame(shape, model_size)
    if frame == shape:
        return paint(*arrays)
    padded = [pad_centred(array, frame, mode="symmetric") for array in arrays]
    picture = paint(*(array for array, _ in padded))
    (h, w), (top, left) = shape, padded[0][1]
    scale_y, scale_x = picture.height / frame[0], picture.width / frame[1]
    return picture.crop((round(left * scale_x), round(top * scale_y),
                         round((left + w) * scale_x), round((top + h) * scale_y)))
