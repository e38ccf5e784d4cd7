"""Label maps and style photos from untrusted files: a result or a clear error, in bounded time and memory."""
import io
import json
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import pytest
from helpers import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageDraw

from gaugan.errors import ImageError, InputError, LabelMapError
from gaugan.images import MAX_PIXELS, open_image, read_photo
from gaugan.labelmaps import label_map_png, read_instance_map, read_label_map, write_label_map
from label_colors import PALETTES

LAND = PALETTES["landscape"]
COCO = PALETTES["coco"]


def png(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def measured_read(tmp_path, data: bytes) -> dict:
    """read_label_map on data in a fresh interpreter: seconds, peak resident memory above what was in use before (MiB), result."""
    path = tmp_path / "input.png"
    path.write_bytes(data)
    script = textwrap.dedent(f"""
        import json, time
        from gaugan.errors import InputError
        from gaugan.labelmaps import read_label_map
        from label_colors import PALETTES
        data = open({str(path)!r}, "rb").read()
        status = lambda key: int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1])
        open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from the memory in use now
        base = status("VmRSS")
        start = time.perf_counter()
        try:
            result = "ids %s" % (read_label_map(data, PALETTES["coco"]).shape,)
        except InputError as exc:
            result = "refused: %s" % exc
        seconds = time.perf_counter() - start
        peak = status("VmHWM")
        print(json.dumps({{"seconds": seconds, "extra_mib": (peak - base) / 1024, "result": result}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def checkerboard(side: int) -> np.ndarray:
    red, blue = np.array([255, 0, 0], np.uint8), np.array([0, 0, 255], np.uint8)
    yy, xx = np.indices((side, side))
    return np.where(((yy + xx) % 2 == 0)[..., None], red, blue)


@pytest.mark.slow
@pytest.mark.parametrize("content, result", [("noise", "refused: this looks like a photo, not a label map"),
                                             ("half noise", "ids (2048, 2048)"), ("checkerboard", "ids (2048, 2048)")])
def test_a_2048_square_colour_png_is_read_in_seconds_and_little_memory(tmp_path, content, result):
    side = 2048
    noise = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    if content == "half noise":  # a label map (half of it sky) whose other half holds about two million colours
        noise[: side // 2] = PALETTES["coco"][156].rgb
    data = png(checkerboard(side) if content == "checkerboard" else noise)
    if content == "checkerboard":
        assert len(data) < 30_000, "the checkerboard is a small file that decodes to 12 MiB"
    measured = measured_read(tmp_path, data)
    assert measured["result"].startswith(result), measured
    assert measured["seconds"] < 15, measured  # ~1-4 s on 2 busy cores; before: 73-81 s
    assert measured["extra_mib"] < 1024, measured  # ~300 MiB; before: 16-19 GB


def test_a_map_above_the_pixel_limit_is_refused_before_decoding(tmp_path):
    # 2049×2049 of one colour: a few KB that would decode to 12 MiB; refused from the header alone.
    data = png(np.zeros((2049, 2049, 3), np.uint8))
    measured = measured_read(tmp_path, data)
    assert measured["result"].startswith("refused: label map is 2049×2049 = 4,198,401 pixels; at most 4,194,304 (2048×2048)")
    assert measured["extra_mib"] < 20, measured


def bomb_header_png(side: int = 100_000) -> bytes:
    """A valid PNG header claiming side×side pixels with no image data behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    header = chunk(b"IHDR", side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0]))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_a_decompression_bomb_header_is_refused_without_decoding():
    with pytest.raises(ImageError, match=r"^label map is too large: its header claims 10,000,000,000 pixels; at most "
                                         r"4,194,304 \(2048×2048\) are accepted"):
        read_label_map(bomb_header_png(), LAND)


def test_held_out_photos_for_the_realism_figures_are_decoded_within_the_limits(tmp_path):
    from gaugan.data.texture_bank import is_held_out
    from gaugan.realism import held_out_crops

    pid = next(f"p{i}" for i in range(100) if is_held_out(f"p{i}"))
    (tmp_path / f"{pid}.png").write_bytes(bomb_header_png())
    (tmp_path / "manifest.json").write_text(json.dumps([{"id": pid, "file": f"{pid}.png"}]))
    with pytest.raises(ImageError, match=rf"{pid}\.png: photo is too large: its header claims 10,000,000,000 pixels; "
                                         r"at most 16,777,216"):
        held_out_crops(tmp_path)


def test_a_truncated_png_is_a_clear_error():
    data = png(np.random.default_rng(1).integers(0, 14, (300, 300), dtype=np.uint8))
    with pytest.raises(ImageError, match=r"label map \(PNG, 300×300\) is damaged or truncated"):
        read_label_map(data[: len(data) // 2], LAND)


def test_garbage_and_empty_bytes_are_clear_errors(tmp_path):
    for data in (b"\x89PNG\r\n\x1a\n", b"<html><body>login</body></html>"):
        with pytest.raises(ImageError, match="not a readable image: .* found none of them"):
            read_label_map(data, LAND)
    (tmp_path / "empty.png").write_bytes(b"")
    for source in (b"", io.BytesIO(b""), tmp_path / "empty.png", str(tmp_path / "empty.png")):
        with pytest.raises(ImageError, match=r"not a readable image: .* found an empty file \(0 bytes\)"):
            open_image(source, "label map")


def test_formats_outside_the_list_are_not_parsed():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageError, match="not a readable image: expected a label map in PNG/JPEG/WEBP/BMP/GIF/TIFF, found none"):
        read_label_map(eps, LAND)


def paletted_png(ids: np.ndarray, entries: list[tuple[int, int, int]], transparent: int | None = None) -> bytes:
    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette([c for rgb in entries for c in rgb])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **({} if transparent is None else {"transparency": transparent}))
    return buffer.getvalue()


def test_an_indexed_png_with_the_label_colours_is_read_by_colour():
    # As an image editor saves a doodle: palette index 0 = sea's colour, 1 = sand's, 2 = sky's.
    by_name = {l.name: l for l in LAND}
    order = [by_name["sea"], by_name["sand"], by_name["sky-other"]]
    index = np.random.default_rng(2).integers(0, 3, (40, 60))
    ids = read_label_map(paletted_png(index, [l.rgb for l in order]), LAND)
    assert np.array_equal(ids, np.array([l.id for l in order])[index])


def test_an_indexed_png_with_a_transparent_entry_gives_the_background():
    by_name = {l.name: l for l in LAND}
    index = np.zeros((10, 10), np.int64)
    index[:5] = 1
    ids = read_label_map(paletted_png(index, [(0, 0, 0), by_name["tree"].rgb], transparent=0), LAND,
                         background_id=by_name["grass"].id)
    assert set(ids[:5].ravel()) == {by_name["tree"].id} and set(ids[5:].ravel()) == {by_name["grass"].id}


def test_an_indexed_png_with_other_colours_is_read_by_index():
    # A Pascal-VOC-style id map: the palette is for viewing, the indices are the ids.
    index = np.random.default_rng(3).integers(0, 14, (30, 30))
    voc = [((i * 37) % 256, (i * 91) % 256, (i * 53) % 256) for i in range(256)]
    notes = []
    assert np.array_equal(read_label_map(paletted_png(index, voc), LAND, notes=notes), index)
    assert "read by palette index" in notes[0]


def test_an_indexed_png_with_a_grey_ramp_is_read_by_index():
    index = np.random.default_rng(4).integers(0, 150, (30, 30))
    ade = PALETTES["ade20k"]  # holds greys like (120, 120, 120): a grey ramp must still mean ids
    assert np.array_equal(read_label_map(paletted_png(index, [(i, i, i) for i in range(256)]), ade), index)


def test_a_jpeg_doodle_is_read_with_a_note_that_colours_are_approximate():
    ids = np.zeros((64, 64), np.int64)
    ids[20:50, 10:40] = 6  # a tree on sky
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(Image.open(io.BytesIO(label_map_png(ids, LAND))))).save(buffer, format="JPEG", quality=85)
    notes = []
    read = read_label_map(buffer.getvalue(), LAND, notes=notes)
    assert any("JPEG stores colours approximately" in n for n in notes)
    assert any("not exact label colours" in n for n in notes)
    assert (read == ids).mean() > 0.95


def test_an_antialiased_doodle_is_read_though_its_seams_blend_labels_into_colours_far_from_any():
    by_name = {l.name: l for l in LAND}
    big = Image.new("RGB", (512, 384), by_name["sky-other"].rgb)  # drawn at 4× and scaled down, as painters smooth
    draw = ImageDraw.Draw(big)
    draw.ellipse((100, 300, 700, 900), fill=by_name["mountain"].rgb)
    draw.polygon([(0, 384), (512, 230), (512, 384)], fill=by_name["sea"].rgb)
    draw.line([(0, 96), (512, 38)], fill=by_name["flower"].rgb, width=40)
    draw.ellipse((307, 115, 460, 230), fill=by_name["tree"].rgb)
    draw.rectangle((51, 192, 154, 346), fill=by_name["grass"].rgb)
    doodle = np.asarray(big.resize((96, 72), Image.LANCZOS))
    notes = []
    ids = read_label_map(png(doodle), LAND, notes=notes)
    expected = read_label_map(png(np.asarray(big.resize((96, 72), Image.NEAREST))), LAND)
    assert (ids == expected).mean() > 0.95 and "not exact label colours" in notes[0]


def test_transparent_pixels_take_the_background():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (*LAND[6].rgb, 255)
    ids = read_label_map(png(rgba), LAND, background_id=8)
    assert set(ids[:4].ravel()) == {6} and set(ids[4:].ravel()) == {8}


def test_an_rgb_png_with_a_transparent_colour_key_gives_the_background_there():
    rgb = np.zeros((8, 8, 3), np.uint8)  # black, far from every label colour, is the key
    rgb[:4] = LAND[6].rgb
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", transparency=(0, 0, 0))
    ids = read_label_map(buffer.getvalue(), LAND, background_id=8)
    assert set(ids[:4].ravel()) == {6} and set(ids[4:].ravel()) == {8}


def test_a_gif_read_by_palette_index_is_called_a_gif():
    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) % 5).convert("P").save(buffer, "GIF")
    notes: list[str] = []
    read_label_map(buffer.getvalue(), LAND, notes=notes)
    assert any(note.startswith("indexed-colour GIF whose palette") for note in notes), notes


def test_a_map_says_what_became_of_its_transparent_pixels_and_of_an_animations_other_frames():
    by_name = {l.name: l for l in LAND}
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :30, :3], rgba[:, :30, 3] = by_name["sea"].rgb, 255  # the right quarter is transparent
    notes = []
    ids = read_label_map(png(rgba), LAND, by_name["grass"].id, notes)
    assert (ids[:, 30:] == by_name["grass"].id).all() and (ids[:, :30] == by_name["sea"].id).all()
    assert notes == ["25.0% of the pixels are transparent: they took label 'grass'"]
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = by_name["sea"].rgb, 255
    rgba[0, 0, 3] = 0  # one pixel in 10,000
    notes = []
    read_label_map(png(rgba), LAND, by_name["grass"].id, notes)
    assert notes == ["under 0.1% of the pixels are transparent: they took label 'grass'"]
    index = np.zeros((40, 40), np.uint8)
    index[:, 30:] = 1  # entry 1 (sea's colour) is transparent
    notes = []
    ids = read_label_map(paletted_png(index, [by_name["sand"].rgb, by_name["sea"].rgb], transparent=1), LAND,
                         by_name["grass"].id, notes)
    assert (ids[:, 30:] == by_name["grass"].id).all() and (ids[:, :30] == by_name["sand"].id).all()
    assert notes == ["25.0% of the pixels are transparent: they took label 'grass'"], "an indexed map says so too"
    frames = [Image.fromarray(np.full((20, 20, 3), by_name[name].rgb, np.uint8)) for name in ("sand", "sea", "sky-other")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    notes = []
    assert (read_label_map(buffer.getvalue(), LAND, notes=notes) == by_name["sand"].id).all()
    assert notes == ["an animated GIF: only its first frame is read"]


def test_an_empty_label_table_reads_id_maps_and_refuses_colour_ones_clearly():
    ids = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert np.array_equal(read_label_map(png(ids), []), ids)
    notes = []
    assert np.array_equal(read_label_map(paletted_png(ids, [(9 * i, 0, 0) for i in range(16)]), [], notes=notes), ids)
    assert notes == ["indexed-colour PNG whose palette is not the label colours: read by palette index, as ids"]
    with pytest.raises(LabelMapError, match=r"label map has mode RGB \(colours\), but the model has an empty label "
                                            r"table, so there are no label colours to read it with; expected 8-bit ids"):
        read_label_map(png(np.zeros((4, 4, 3), np.uint8)), [])
    with pytest.raises(LabelMapError, match=r"label map has mode I;16 \(16-bit\)"):
        read_label_map(png(np.zeros((4, 4), np.uint16)), [])


def test_style_photos_are_size_checked_and_decoded_safely():
    photo = read_photo(png(np.full((32, 40, 4), 90, np.uint8)))
    assert photo.mode == "RGB" and photo.size == (40, 32)
    for shape in ((1, 1), (3, 2000), (31, 64)):
        with pytest.raises(ImageError, match=f"style photo is {shape[1]}×{shape[0]} pixels: expected at least 32 "
                                             "pixels on each side"):
            read_photo(png(np.full(shape, 90, np.uint8)))
    with pytest.raises(ImageError, match="style photo is 2049×2049"):
        read_photo(png(np.zeros((2049, 2049), np.uint8)), MAX_PIXELS)
    with pytest.raises(ImageError, match="style photo .*damaged or truncated"):
        read_photo(png(np.random.default_rng(5).integers(0, 255, (200, 200, 3), dtype=np.uint8))[:5000])
    assert issubclass(ImageError, ValueError) and MAX_PIXELS == 2048 * 2048


def progressive_jpeg(extra_scans: int, mpo: bool = False) -> bytes:
    """A 512² progressive JPEG of noise (or an MPO of two such pictures) with the first picture's last scan repeated
    extra_scans more times before its end marker."""
    buffer = io.BytesIO()
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8))
    noise.save(buffer, "MPO" if mpo else "JPEG", progressive=True, save_all=mpo, append_images=[noise] if mpo else [])
    data = buffer.getvalue()
    end = data.index(b"\xff\xd9")
    return data[:end] + data[data.rindex(b"\xff\xda", 0, end):end] * extra_scans + data[end:]


@pytest.mark.parametrize("mpo", [False, True], ids=["JPEG", "MPO"])
def test_a_jpeg_of_very_many_scans_is_refused_before_decoding(mpo):
    assert read_photo(progressive_jpeg(0, mpo)).size == (512, 512)
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"style photo is a JPEG of 3\d\d scans; at most 100 are accepted"):
        read_photo(progressive_jpeg(300, mpo))
    assert time.perf_counter() - started < 1.0


def test_bytes_after_a_jpegs_end_are_not_taken_for_scans():
    photo = progressive_jpeg(0) + bytes(range(256)) * 4096 + b"\xff\xda" * 200_000  # a phone's appended video
    assert read_photo(photo).size == (512, 512)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 399), st.sampled_from(["L", "P", "RGB", "RGBA"]))
def test_damaged_pngs_give_ids_or_a_clear_error(noise, where, mode):
    """Overwrite part of a small valid PNG (or append noise): never an uncaught exception."""
    base = bytearray(png(np.asarray(Image.new(mode, (23, 17), 3 if mode in "LP" else (23, 110, 31)))))
    base[where % len(base): where % len(base) + len(noise)] = noise
    try:
        ids = read_label_map(bytes(base), LAND)
    except InputError as exc:
        assert str(exc)
        return
    assert ids.ndim == 2 and ids.dtype == np.int64


def test_instance_maps_of_8_and_16_bits_are_read_and_others_refused():
    cityscapes = np.full((8, 16), 26000, np.uint16)  # Cityscapes: class 26 (car) instance 0 -> 26000
    cityscapes[:, 8:] = 26001
    assert np.array_equal(read_instance_map(png(cityscapes)), cityscapes.astype(np.int64))
    assert read_instance_map(png(np.full((4, 4), 7, np.uint8))).max() == 7
    with pytest.raises(LabelMapError, match="instance map has mode RGB; expected greyscale ids"):
        read_instance_map(png(np.zeros((4, 4, 3), np.uint8)))


def turned(array: np.ndarray, fmt: str, orientation: int = 6) -> bytes:
    """An image stored as array whose EXIF says how to show it (6: turned a quarter clockwise, as a phone does)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, exif=exif)
    return buffer.getvalue()


def halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> np.ndarray:
    """100×200 stored pixels: the left half one colour, the right half another."""
    array = np.zeros((100, 200, 3), np.uint8)
    array[:, :100], array[:, 100:] = left, right
    return array


def test_a_phone_photos_exif_orientation_is_applied():
    data = turned(halves((255, 0, 0), (0, 0, 255)), "JPEG")
    photo = np.asarray(read_photo(data)).astype(int)
    assert photo.shape == (200, 100, 3), "shown as a viewer shows it: portrait"
    assert photo[:90, :, 0].min() > 200 and photo[110:, :, 2].min() > 200, "the stored left half is on top"
    assert open_image(data, "sketch").format == "JPEG"
    with open_image(data, "photo", decode=False) as header_only:
        assert header_only.size == (100, 200), "a header-only read gives the size as shown too"


def test_a_label_maps_exif_orientation_is_applied_like_its_photos():
    water, sky = (label.rgb for label in LAND[:2])
    ids = read_label_map(turned(halves(water, sky), "PNG"), LAND)
    assert ids.shape == (200, 100)
    assert (ids[:100] == LAND[0].id).all() and (ids[100:] == LAND[1].id).all()


@pytest.mark.parametrize("orientation, shown", [(6, "100×200"), (3, "200×100")])
def test_the_pixel_limit_applies_to_the_size_as_shown(orientation, shown):
    data = turned(halves((0, 0, 0), (255, 255, 255)), "JPEG", orientation)
    assert open_image(data, max_pixels=20_000).size == tuple(int(n) for n in shown.split("×"))
    with pytest.raises(ImageError, match=f"photo is {shown} = 20,000 pixels; at most 19,999"):
        open_image(data, "photo", max_pixels=19_999, decode=False)


def test_ids_saved_as_a_grey_rgb_image_are_refused_with_the_way_to_save_them():
    ids = np.zeros((60, 60), np.uint8)
    ids[30:], ids[:, 40:] = 2, 5  # sky, mountain, snow as ids 0, 2, 5 in every channel
    grey = np.repeat(ids[..., None], 3, axis=2)
    with pytest.raises(LabelMapError, match=r"the whole map is grey, in values that are label ids: ids saved as an "
                                            r"RGB image\? Save them as an 8-bit greyscale \(mode L\) PNG$"):
        read_label_map(png(grey), LAND)
    assert np.array_equal(read_label_map(label_map_png(ids), LAND), ids), "saved as the hint says, they are read"
    for odd in ((200, 0, 200), (0, 0, 0)):  # a colour of no label, or black beside sky: the usual advice
        coloured = np.zeros((60, 60, 3), np.uint8)
        coloured[:] = LAND[0].rgb
        coloured[:, 30:] = odd
        with pytest.raises(LabelMapError, match=r"repaint them in the label colours, or save the map as label ids$"):
            read_label_map(png(coloured), LAND)


def test_an_id_error_mentions_dont_care_only_for_255():
    from gaugan.presets import landscape_preset
    from gaugan.semantics import encode

    with pytest.raises(LabelMapError, match=r"found \[40\]; these ids fit NVIDIA's coco or ade20k model") as error:
        encode(np.full((8, 8), 40), None, landscape_preset())
    assert "dont-care" not in str(error.value)
    with pytest.raises(LabelMapError, match=r"found \[255\] \(255 = dont-care needs a preset with a dont-care label\)"):
        encode(np.full((8, 8), 255), None, landscape_preset())
    coco_like = np.arange(64).reshape(8, 8) * 4  # many ids past the landscape's, 255 among them
    coco_like[0, 0] = 255
    with pytest.raises(LabelMapError, match=r"\(255 = dont-care needs a preset with a dont-care label\)$"):
        encode(coco_like, None, landscape_preset())


@pytest.mark.parametrize("labels, palette, message", [
    (np.array([[-1, 0], [2, 11]]), LAND, r"ids \[-1\] have no colour in the palette"),
    (np.array([[0, 2], [11, 99]]), LAND, r"ids \[99\] have no colour in the palette"),
    (np.array([[0.9, 2.6]]), None, "must hold integer label ids, got dtype float64"),
    (np.eye(4, dtype=bool), LAND, "must hold integer label ids, got dtype bool"),
    (np.zeros((4, 4, 3), int), None, r"must be a non-empty 2-D \(H, W\) array of label ids, got shape \(4, 4, 3\)"),
    (np.array([[300]]), None, r"id PNGs hold 0\.\.255, labels span 300\.\.300"),
])
def test_writing_a_label_map_refuses_what_would_not_read_back_as_written(tmp_path, labels, palette, message):
    with pytest.raises(LabelMapError, match=message):
        write_label_map(tmp_path / "map.png", labels, palette)
    assert not (tmp_path / "map.png").exists()


def test_a_label_map_is_written_as_png_only(tmp_path):
    with pytest.raises(LabelMapError, match=r"written as PNG \(lossless\), so name the file \.png, found 'map\.jpg'"):
        write_label_map(tmp_path / "map.jpg", np.zeros((2, 2), np.int64))
    ids = np.array([[0, 2], [11, 13]])
    for palette in (None, LAND):
        write_label_map(tmp_path / "map.PNG", ids, palette)
        assert np.array_equal(read_label_map(tmp_path / "map.PNG", LAND), ids)
