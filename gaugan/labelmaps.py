"""Label-map files: PNGs of ids (mode L, or P read by index) or of label colours (RGB/RGBA, or P whose
palette holds the label colours), read in time and memory linear in the pixels, and written.

One rule for every reader (the CLI and the page): a colour label map is painted in a few flat colours that cover
most of it, so an image whose pixels spread over many colours is refused as a photo; a colour filling regions
of the map that is far from every label colour is refused by name (a palette mistake); any other colour
(antialiased seams, JPEG noise, a label colour slightly shifted) takes the nearest label colour, with a note."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial import cKDTree

from label_colors import FAR_DISTANCE, check_labels

from .errors import LabelMapError
from .images import LOSSY_FORMATS, MAX_PIXELS, Source, open_image
from .semantics import check_label_array

ALPHA_THRESHOLD = 128  # pixels below this opacity are unpainted: they take the background label
ID_MODES = ("L", "P")
COLOUR_MODES = ("RGB", "RGBA")
MAIN_COLOURS = 32  # a label map's 32 commonest colours cover at least MIN_MAIN_SHARE of its painted pixels,
MIN_MAIN_SHARE = 0.35  # a photo's a fifth at most (antialiased or JPEG-saved maps: half or more)
REGION_SHARE = 0.002  # a colour filling this share of the map with the inside of regions is meant as a label colour
MAX_NAMED_COLOURS = 8  # off-palette colours listed in an error


def hex_colour(rgb) -> str:
    """(r, g, b) -> "#rrggbb"."""
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb)


def colourize(labels: np.ndarray, palette: list) -> np.ndarray:
    """(H, W) ids -> (H, W, 3) uint8 palette colours (unknown ids are black)."""
    lut = np.zeros((max(int(np.max(labels, initial=0)), max(l.id for l in palette)) + 1, 3), np.uint8)
    for label in palette:
        lut[label.id] = label.rgb
    return lut[np.asarray(labels)]


def _packed(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) colours -> one int32 per colour."""
    rgb = np.asarray(rgb).astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def inside_regions(keys: np.ndarray) -> np.ndarray:
    """Which pixels have their four neighbours' colour: the inside of a region, not a seam between two."""
    inside = np.ones(keys.shape, bool)
    same_x, same_y = keys[:, 1:] == keys[:, :-1], keys[1:] == keys[:-1]
    inside[:, 1:] &= same_x
    inside[:, :-1] &= same_x
    inside[1:] &= same_y
    inside[:-1] &= same_y
    return inside


def refuse_photo(counts: np.ndarray) -> None:
    """LabelMapError if the pixel counts of its distinct colours say the image is a photo, not a label map."""
    total = int(counts.sum())
    share = np.sort(counts)[-MAIN_COLOURS:].sum() / total if total else 1.0
    if share < MIN_MAIN_SHARE:
        raise LabelMapError(
            f"this looks like a photo, not a label map: its {MAIN_COLOURS} commonest colours cover only "
            f"{f'{share:.0%}' if share >= 0.01 else 'under 1%'} "
            f"of it (in a label map, painted in a few flat colours, they cover {MIN_MAIN_SHARE:.0%} or more); "
            "expected a PNG of label ids or of the label colours")


def refuse_off_palette(rgb: np.ndarray, filled: np.ndarray, total: int, distance: np.ndarray, nearest: np.ndarray,
                       palette: list) -> None:
    """LabelMapError naming the colours that fill regions (filled: pixels inside them) and are farther than
    FAR_DISTANCE from every label colour: a palette mistake, not a seam or noise."""
    far = np.flatnonzero((filled >= REGION_SHARE * total) & (distance > FAR_DISTANCE))
    if not len(far):
        return
    far = far[np.argsort(-filled[far], kind="stable")]
    named = ", ".join(f"{hex_colour(rgb[i])} filling {filled[i] / total:.1%} of it (nearest label: "
                      f"{palette[nearest[i]].name} {hex_colour(palette[nearest[i]].rgb)})"
                      for i in far[:MAX_NAMED_COLOURS])
    more = f" and {len(far) - MAX_NAMED_COLOURS} more" if len(far) > MAX_NAMED_COLOURS else ""
    kind = "is not a label colour" if len(far) == 1 else "are not label colours"
    ids = {label.id for label in palette}
    grey_ids = bool((rgb == rgb[:, :1]).all()) and set(rgb[:, 0].astype(int).tolist()) <= ids
    fix = ("the whole map is grey, in values that are label ids: ids saved as an RGB image? Save them as an 8-bit "
           "greyscale (mode L) PNG" if grey_ids else "repaint them in the label colours, or save the map as label ids")
    raise LabelMapError(f"{len(far)} of its colours {kind} of this model, nor near one: {named}{more}; {fix}")


def share_text(share: float) -> str:
    """A share of pixels as a percentage that is never shown as 0.0% or 100.0% unless it is."""
    text = f"{share:.1%}"
    return "under 0.1%" if text == "0.0%" and share > 0 else "over 99.9%" if text == "100.0%" and share < 1 else text


def colours_to_ids(rgba: np.ndarray, palette: list, background_id: int, notes: list[str] | None = None) -> np.ndarray:
    """(H, W, 3|4) uint8 colours -> label ids: a label's exact colour gives its id, another colour the nearest
    label colour's id, a transparent pixel background_id; a photo, or a colour far from every label colour that
    fills regions, is refused (the module's rule). Each distinct colour is counted by sorting and decided once,
    through a table over all 2**24 colours, so memory grows linearly with the pixels."""
    keys = _packed(rgba[..., :3])
    opaque = rgba[..., 3] >= ALPHA_THRESHOLD if rgba.shape[-1] == 4 else np.ones(keys.shape, bool)
    distinct, counts = np.unique(keys[opaque], return_counts=True)
    refuse_photo(counts)
    inside = opaque & inside_regions(np.where(opaque, keys, -1))  # transparent pixels make regions of their own
    filled = np.bincount(np.searchsorted(distinct, keys[inside]), minlength=len(distinct))
    rgb = np.stack([(distinct >> 16) & 255, (distinct >> 8) & 255, distinct & 255], axis=1).astype(np.float64)
    distance, nearest = cKDTree(np.array([label.rgb for label in palette], np.float64)).query(rgb)
    refuse_off_palette(rgb, filled, int(counts.sum()), distance, nearest, palette)
    table = np.full(1 << 24, len(palette), np.uint16)  # each colour's nearest label (palettes hold < 65535)
    table[distinct] = nearest
    index = np.where(opaque, table[keys], len(palette))
    if notes is not None and (off := distance > 0).any():
        colours, taken = int(off.sum()), _labels_taken(counts[off], nearest[off], palette)
        notes.append(f"{share_text(counts[off].sum() / keys.size)} of the pixels ({colours:,} colour"
                     f"{'s' if colours > 1 else ''}) are not exact label colours; each took the nearest label colour "
                     f"({taken})")
    _note_transparent(~opaque, palette, background_id, notes)
    return np.array([label.id for label in palette] + [background_id], dtype=np.int64)[index]


def _labels_taken(counts: np.ndarray, nearest: np.ndarray, palette: list) -> str:
    """The labels that off-palette colours (counts pixels each) took, most pixels first, with their shares of those
    pixels: "'snow' 97.0%, 'sea' 3.0%" (three at most), so that a white background read as snow is plain to see."""
    pixels = np.bincount(nearest, weights=counts, minlength=len(palette))
    top = [i for i in np.argsort(-pixels, kind="stable")[:3] if pixels[i] > 0]
    return ", ".join(f"{palette[i].name!r} {share_text(pixels[i] / pixels.sum())}" for i in top)


def _note_transparent(clear: np.ndarray, palette: list, background_id: int, notes: list[str] | None) -> None:
    """Say in notes what share of a map's pixels are transparent (clear) and the label they took."""
    if notes is not None and clear.any():
        name = next((label.name for label in palette if label.id == background_id), background_id)
        notes.append(f"{share_text(clear.mean())} of the pixels are transparent: they took label {name!r}")


def _palette_alpha(image: Image.Image) -> np.ndarray:
    """Opacity (0..255) of each of a mode-P image's 256 palette entries, from its tRNS chunk."""
    alpha = np.full(256, 255, np.int32)
    transparency = image.info.get("transparency")
    if isinstance(transparency, int) and 0 <= transparency < 256:
        alpha[transparency] = 0
    elif isinstance(transparency, bytes):
        alpha[:len(transparency[:256])] = np.frombuffer(transparency[:256], np.uint8)
    return alpha


def paletted_to_ids(image: Image.Image, palette: list, background_id: int, notes: list[str] | None = None) -> np.ndarray:
    """A mode-P map -> ids: by colour when every used opaque palette entry is a label colour (as image editors
    save doodles), else by index (as Pascal-VOC-style id maps are stored)."""
    index = np.asarray(image)
    used = np.flatnonzero(np.bincount(index.ravel(), minlength=256))
    entries = np.zeros((256, 3), np.int32)
    raw = np.array(image.getpalette("RGB") or [], np.int32).reshape(-1, 3)[:256]
    entries[:len(raw)] = raw
    alpha = _palette_alpha(image)
    opaque = used[alpha[used] >= ALPHA_THRESHOLD]
    by_id = {int(key): label.id for key, label in zip(_packed(np.reshape([l.rgb for l in palette], (-1, 3))), palette)}
    used_keys = _packed(entries[opaque])
    grey_ramp = bool(np.all(entries[opaque] == opaque[:, None]))  # entry i = (i, i, i): the values are ids
    if len(opaque) and not grey_ramp and all(int(k) in by_id for k in used_keys):
        lut = np.full(256, background_id, np.int64)
        lut[opaque] = [by_id[int(k)] for k in used_keys]
        _note_transparent(alpha[index] < ALPHA_THRESHOLD, palette, background_id, notes)
        return lut[index]
    if notes is not None:
        notes.append(f"indexed-colour {image.format or 'image'} whose palette is not the label colours: read by "
                     "palette index, as ids")
    return index.astype(np.int64)


def read_label_map(source: Source, palette: list, background_id: int | None = None,
                   notes: list[str] | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A label-map image -> (H, W) int64 ids, or LabelMapError/ImageError saying why not.

    8-bit greyscale holds ids; RGB(A) holds label colours (transparent pixels -> background_id, default the
    first label); mode P is read by colour or by index (see paletted_to_ids). A colour photo, or a colour far
    from every label colour that fills regions, is refused (the module's rule). Remarks the caller may show
    (approximate colours, lossy formats) are appended to notes.
    """
    image = open_image(source, "label map", max_pixels)
    if image.format in LOSSY_FORMATS and notes is not None:
        notes.append(f"{image.format} stores colours approximately, so label edges may be off; save label maps as PNG")
    if getattr(image, "is_animated", False) and notes is not None:
        notes.append(f"an animated {image.format}: only its first frame is read")
    if image.mode == "L":
        return np.asarray(image, dtype=np.int64)
    if not palette and image.mode in COLOUR_MODES:
        raise LabelMapError(f"label map has mode {image.mode} (colours), but the model has an empty label table, so "
                            f"there are no label colours to read it with; expected 8-bit ids ({', '.join(ID_MODES)})")
    background = (palette[0].id if palette else 0) if background_id is None else int(background_id)
    if image.mode == "P":
        return paletted_to_ids(image, palette, background, notes)
    if image.mode == "RGB" and "transparency" in image.info:  # a PNG's colour key: pixels of that colour are clear
        image = image.convert("RGBA")
    if image.mode in COLOUR_MODES:
        return colours_to_ids(np.asarray(image), palette, background, notes)
    raise LabelMapError(
        f"label map has mode {image.mode} ({'16-bit' if '16' in image.mode or image.mode == 'I' else 'unsupported'}); "
        f"accepted are 8-bit ids ({', '.join(ID_MODES)}) or label colours ({', '.join(COLOUR_MODES)})"
    )


def read_instance_map(source: Source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An instance-id image (8-bit L/P or 16/32-bit greyscale, as COCO and Cityscapes store them) -> (H, W) int64."""
    image = open_image(source, "instance map", max_pixels)
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise LabelMapError(f"instance map has mode {image.mode}; expected greyscale ids (L, P, I;16 or I)")
    return np.asarray(image).astype(np.int64)


def unknown_ids(labels: np.ndarray, palette: list) -> list[int]:
    """The ids in a label map that the palette has no label for, in order."""
    return sorted(set(np.unique(labels).tolist()) - {label.id for label in palette})


def label_map_png(labels: np.ndarray, palette: list | None = None) -> bytes:
    """PNG bytes of a 2-D integer id map: 8-bit ids (palette None: ids 0..255), or the palette's colours (every id in
    the palette); a LabelMapError names what does not fit."""
    labels = check_label_array(labels)
    if palette is None:
        if labels.min() < 0 or labels.max() > 255:
            raise LabelMapError(f"id PNGs hold 0..255, labels span {labels.min()}..{labels.max()}")
        image = Image.fromarray(labels.astype(np.uint8), mode="L")
    else:
        check_labels(palette)
        if unknown := unknown_ids(labels, palette):
            raise LabelMapError(f"ids {unknown[:10]} have no colour in the palette (its ids: "
                                f"{sorted(label.id for label in palette)[:20]}); write ids (palette None) instead")
        image = Image.fromarray(colourize(labels, palette))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_label_map(path: str | Path, labels: np.ndarray, palette: list | None = None) -> None:
    """Write ids (palette None) or colours to a PNG file (its name must end in .png)."""
    if Path(path).suffix.lower() != ".png":
        raise LabelMapError(f"label maps are written as PNG (lossless), so name the file .png, found {Path(path).name!r}")
    Path(path).write_bytes(label_map_png(labels, palette))
