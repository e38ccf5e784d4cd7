"""Bounded decoding of untrusted image bytes: the size is checked from the header before any pixel is decoded."""
from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

MAX_PIXELS = 2048 * 2048  # covers Cityscapes' 2048×1024 maps; the page canvas is at most ~1k pixels wide
MAX_PHOTO_PIXELS = 4096 * 4096  # photographs (style photos, training photos): room for a phone camera's photos
MIN_PHOTO_SIDE = 32  # a style photo's shorter side, at least: the encoder reads it scaled to the model's size
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # no plugin that shells out (EPS) or parses exotic containers
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")  # the file names of FORMATS
LOSSY_FORMATS = ("JPEG", "WEBP")
MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10; each scan is one more decoding pass over the whole image
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit greys (and Pillow's 32-bit mode, which holds them too)
# What Pillow raises for damaged data varies by format and by how the data is damaged.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, TypeError)

Source = str | Path | BinaryIO | bytes
TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1..8; 1 when none) an opened image's header gives, read without decoding pixels."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # Pillow would decode the pixels to look for an eXIf chunk after them
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except DECODE_ERRORS:
        return 1
    return orientation if orientation in range(1, 9) else 1


def _jpeg_scans(image: Image.Image) -> int:
    """How many scans the first image of an opened JPEG holds: its start-of-scan markers, found by walking the marker
    segments (each skipped by its length) and the scans' entropy-coded data up to the end-of-image marker, so bytes
    after it (an MPO's other pictures, a phone's appended video) do not count."""
    position = image.fp.tell()
    image.fp.seek(0)
    data = image.fp.read()
    image.fp.seek(position)
    scans, i = 0, 2  # after the start-of-image marker
    while i + 4 <= len(data):
        if data[i] != 0xFF:  # entropy-coded data: on to the next marker
            i = data.find(b"\xff", i)
            if i < 0:
                break
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # a fill byte
            i += 1
        elif marker == 0x00 or 0xD0 <= marker <= 0xD7:  # a stuffed FF or a restart marker, inside a scan
            i += 2
        elif marker == 0xD9:  # end of image
            break
        else:
            scans += marker == 0xDA
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return scans


def _is_empty(source: str | Path | BinaryIO) -> bool:
    """Whether a file or stream holds no bytes at all (False when that cannot be told)."""
    try:
        if isinstance(source, (str, Path)):
            return Path(source).stat().st_size == 0
        position = source.tell()
        size = source.seek(0, io.SEEK_END)
        source.seek(position)
        return size == 0
    except (OSError, AttributeError, ValueError):
        return False


def open_image(source: Source, what: str = "image", max_pixels: int = MAX_PIXELS, decode: bool = True,
               formats: tuple[str, ...] = FORMATS) -> Image.Image:
    """Open an image in one of `formats` of at most max_pixels and decode it fully (with decode False, only its
    header: the caller closes it), or raise ImageError saying why not.

    The image is as a viewer shows it: an EXIF orientation in its header (a phone photo's) is applied, to photos,
    sketches and label maps alike, so a map drawn over a photo as shown fits it. A header-only image whose
    orientation swaps its sides is decoded too, so that .size is always the size as shown."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        image = Image.open(source, formats=formats)
    except FileNotFoundError:
        raise ImageError(f"no {what} file at {source}") from None
    except Image.DecompressionBombError as exc:  # Pillow's own limit, far above ours: the header claims a huge image
        side = int(max_pixels**0.5)
        claimed = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow names the count, not the sides
        found = f"its header claims {int(claimed[1]):,} pixels" if claimed else "it is far larger"
        raise ImageError(f"{what} is too large: {found}; at most {max_pixels:,} ({side}×{side}) are accepted: scale it "
                         "down first") from None
    except UnidentifiedImageError:
        found = "an empty file (0 bytes)" if _is_empty(source) else "none of them"
        raise ImageError(f"not a readable image: expected a {what} in {'/'.join(formats)}, found {found}") from None
    except DECODE_ERRORS as exc:
        raise ImageError(f"not a readable image: expected a {what} in {'/'.join(formats)}, found damage: {exc}") from None
    orientation = _orientation(image)
    width, height = image.size[::-1] if orientation in TURNED else image.size  # as shown; the pixel count is the same
    if width * height > max_pixels:
        side = int(max_pixels**0.5)
        raise ImageError(
            f"{what} is {width}×{height} = {width * height:,} pixels; at most {max_pixels:,} "
            f"({side}×{side}) are accepted: scale it down first"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{what} is empty ({width}×{height})")
    if not decode and orientation not in TURNED:
        return image
    if image.format in ("JPEG", "MPO") and (scans := _jpeg_scans(image)) > MAX_JPEG_SCANS:
        raise ImageError(f"{what} is a JPEG of {scans} scans; at most {MAX_JPEG_SCANS} are accepted (a progressive "
                         "JPEG has about 10): save it again as a plain JPEG or a PNG")
    try:
        image.load()
        if orientation != 1:
            ImageOps.exif_transpose(image, in_place=True)
    except DECODE_ERRORS as exc:
        raise ImageError(f"{what} ({image.format}, {width}×{height}) is damaged or truncated: {exc}") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """A decoded image as 8-bit RGB: 16-bit greys scaled to 8 bits, transparent pixels laid onto white."""
    if image.mode in WIDE_GREY_MODES:
        grey = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray(((grey * 255 + 32767) // 65535).astype(np.uint8))
    if image.has_transparency_data:
        white = Image.new("RGBA", image.size, "white")
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def image_files(folder: Path) -> list[Path]:
    """The files directly in a folder whose names end in one of SUFFIXES (in any case), sorted."""
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in SUFFIXES)


def read_photo(source: Source, max_pixels: int = MAX_PHOTO_PIXELS) -> Image.Image:
    """An example photo (e.g. a style image) as RGB, size-checked before decoding; both sides MIN_PHOTO_SIDE or more."""
    image = to_rgb(open_image(source, "style photo", max_pixels))
    if min(image.size) < MIN_PHOTO_SIDE:
        raise ImageError(f"style photo is {image.width}×{image.height} pixels: expected at least {MIN_PHOTO_SIDE} "
                         "pixels on each side (the style encoder reads a photo scaled to the model's image size)")
    return image
