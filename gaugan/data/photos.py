"""Landscape photographs under free licences, fetched from Debian packages into a cache with a manifest.

`fetch_photos(out)` downloads each source package with `apt-get download` (or takes the .deb from a folder you
give), unpacks only the matching photos (no other member, no links, nothing outside `out`), and writes
`out/manifest.json`: one entry per photo with its package, author, licence (from the package's DEP-5
copyright file) and size. The repository ships no photo; the model card lists the sources and licences.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image

from ..downloads import BoundedTarInfo
from ..errors import ImageError, InputError
from ..images import MAX_PHOTO_PIXELS, open_image, to_rgb
from ..model_card import read_json

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 22  # a manifest of the ~100 fetched photos is ~60 kB
ENTRY_FIELDS = ("id", "file")  # what every manifest entry holds, as strings
MAX_ENTRY_CHARS = 1000  # an id or a file path in a manifest (the fetched ones are under 80)
CREDIT_FIELDS = ("package", "version", "licence", "author", "licence_note")  # ... and what a model card credits
MAX_ASPECT = 8.0  # a photo's long side is at most this many times its short side (they are resized to a height)
MAX_PHOTO_BYTES = 64 << 20  # one photo inside a package
MAX_COPYRIGHT_BYTES = 1 << 20  # a package's DEP-5 copyright file


class PackageError(InputError, RuntimeError):
    """A Debian package that cannot be downloaded or read, or whose photos' licences are unknown (a RuntimeError
    too, as fetch_photos raised one before)."""


@dataclass(frozen=True)
class PhotoSource:
    """Photos inside one Debian package: `root` is the folder the copyright file's paths start from.

    `skip` names photo families (the letters an id starts with: "city" skips city0, city13-sfiera …) and single
    photo ids ("mountain2" skips that photo only, not mountain20-harro)."""

    package: str
    root: str
    pattern: str
    skip: tuple[str, ...] = ()

    def skips(self, pid: str) -> bool:
        """Whether the photo with this id is left out."""
        return pid in self.skip or re.match(r"[a-z]*", pid).group() in self.skip

    @property
    def copyright_path(self) -> str:
        return f"usr/share/doc/{self.package}/copyright"


# Endless Sky's land photographs: outdoor scenes, mostly public domain, some CC BY-SA (per file, see the manifest).
# Skipped: cities, stations, space, lava and the colour-graded alien scenes.
SOURCES = (
    PhotoSource("endless-sky-high-dpi", "usr/share/games/endless-sky/plugins/endless-sky-high-dpi/",
                "images/land/*@2x.jpg",
                ("city", "station", "space", "nasa", "loc", "industrial", "earthrise", "lava", "desert0",
                 "mountain2", "valley7", "hills3", "hills4", "water6")),
)


def photo_id(name: str) -> str:
    """The short name a photo is known by in texture boxes and splits: 'mountain3@2x.jpg' -> 'mountain3'."""
    return name.split("@")[0].rsplit(".", 1)[0]


def _wanted(source: PhotoSource, member: str) -> str | None:
    """The path relative to `source.root` when `member` is one of its photos, else None."""
    path = member.removeprefix("./")
    if not path.startswith(source.root):
        return None
    rel = path[len(source.root):]
    name = rel.rsplit("/", 1)[-1]
    if not fnmatch.fnmatch(rel, source.pattern) or source.skips(photo_id(name)):
        return None
    return rel


def _deb_members(deb: Path) -> Iterator[tuple[tarfile.TarInfo, BinaryIO]]:
    """Yield (tarinfo, file object) of a .deb's data archive as dpkg-deb streams it (nothing held whole in memory),
    regular files only (links and devices skipped); a package dpkg-deb cannot read is a PackageError naming it."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise PackageError(f"cannot run dpkg-deb to unpack {deb}: {exc.strerror or exc} (install dpkg)") from None
        failure = None
        with process:
            try:
                with tarfile.open(fileobj=process.stdout, mode="r|", tarinfo=BoundedTarInfo) as archive:
                    for info in archive:
                        if info.isfile():
                            yield info, archive.extractfile(info)
                while process.stdout.read(1 << 16):  # the padding after the archive, so that dpkg-deb ends
                    pass
                process.wait()
            except tarfile.TarError as exc:
                failure = str(exc)
            finally:
                if process.poll() is None:  # stopped early: by a refused member, or by the reader
                    process.kill()
        errors.seek(0)
        said = errors.read(2000).decode("utf-8", "replace").strip()
    if failure is not None or process.returncode:
        raise PackageError(f"{deb}: not a readable Debian package ({said or failure or 'dpkg-deb failed'})")


def _download_deb(package: str, debs: Path) -> Path:
    """The package's .deb in `debs`, downloaded with apt-get when it is not there yet."""
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        debs.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode or not found:
            raise PackageError(f"could not download the Debian package {package}: {result.stderr.strip()[-300:]}")
    return found[-1]


def _copy_member(stream: BinaryIO, target: Path) -> str:
    """Copy a member's data into target in chunks; returns its SHA-256."""
    digest = hashlib.sha256()
    with target.open("wb") as file:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


def _unpack_source(source: PhotoSource, deb: Path, staging: Path) -> tuple[dict[str, tuple[Path, str]], str]:
    """Copy the source's photos out of deb into staging: ({path relative to source.root: (file, sha256)}, the text
    of its copyright file); members over the size limits, or no copyright file, are a PackageError."""
    try:
        return _unpacked_members(source, deb, staging)
    except tarfile.TarError as exc:  # a member's data cut short: seen as it is read, after its header
        raise PackageError(f"{deb}: not a readable Debian package ({exc})") from None


def _unpacked_members(source: PhotoSource, deb: Path, staging: Path) -> tuple[dict[str, tuple[Path, str]], str]:
    """_unpack_source's work, member by member."""
    photos, copyright_text = {}, None
    for info, stream in _deb_members(deb):
        name = info.name.removeprefix("./")
        if name == source.copyright_path:
            if info.size > MAX_COPYRIGHT_BYTES:
                raise PackageError(f"{deb}: {name} is {info.size} bytes; a copyright file is at most "
                                   f"{MAX_COPYRIGHT_BYTES}")
            try:
                copyright_text = stream.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PackageError(f"{deb}: {name} is not UTF-8 text ({exc})") from None
        elif (rel := _wanted(source, info.name)) is not None:
            if info.size > MAX_PHOTO_BYTES:
                raise PackageError(f"{deb}: {name} is {info.size} bytes; a photo is at most {MAX_PHOTO_BYTES}")
            target = staging / str(len(photos))
            photos[rel] = (target, _copy_member(stream, target))
    if copyright_text is None:
        raise PackageError(f"{deb.name} has no {source.copyright_path}: the photos' licences are unknown")
    return photos, copyright_text


def _licences(source: PhotoSource, deb: Path, text: str):
    """The package's DEP-5 copyright file, parsed; a PackageError if it is not machine-readable."""
    from debian.copyright import Copyright  # only fetching needs it, not the readers of a fetched cache

    try:
        return Copyright(io.StringIO(text))
    except Exception as exc:  # python-debian raises its own errors, ValueError, ... depending on the damage
        raise PackageError(f"{deb}: {source.copyright_path} is not a DEP-5 copyright file: {str(exc)[:200]}") from None


def fetch_photos(out: str | Path, debs: str | Path | None = None,
                 sources: tuple[PhotoSource, ...] = SOURCES) -> list[dict]:
    """Unpack every source's photos into out/photos/ and write out/manifest.json; returns the manifest."""
    out = Path(out)
    debs = Path(debs) if debs else out / "debs"
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for source in sources:
        deb = _download_deb(source.package, debs)
        with tempfile.TemporaryDirectory(prefix=".unpacking-", dir=out) as staging:
            photos, copyright_text = _unpack_source(source, deb, Path(staging))
            licences = _licences(source, deb, copyright_text)
            folder = out / "photos" / source.package
            folder.mkdir(parents=True, exist_ok=True)
            for rel, (staged, sha256) in sorted(photos.items()):
                paragraph = licences.find_files_paragraph(rel)
                if paragraph is None:
                    raise PackageError(f"{source.package}: no licence covers {rel}")
                name = rel.rsplit("/", 1)[-1]
                with open_image(staged, f"photo {rel} of {deb.name}", MAX_PHOTO_PIXELS, decode=False) as image:
                    width, height = image.size
                size = staged.stat().st_size
                staged.replace(folder / name)
                manifest.append({
                    "file": f"photos/{source.package}/{name}", "id": photo_id(name), "package": source.package,
                    "version": deb.name.split("_")[1], "path_in_package": source.root + rel,
                    "author": " ".join(str(paragraph.copyright).split()),
                    "licence": paragraph.license.synopsis,
                    "licence_note": " ".join(paragraph.license.text.strip().split("\n\n")[0].split()),
                    "width": width, "height": height, "bytes": size, "sha256": sha256,
                })
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(photo_dir: str | Path, fields: tuple[str, ...] = ENTRY_FIELDS) -> list[dict]:
    """The manifest written by fetch_photos, checked: a list of objects with unique ids and these string fields, each
    "file" a relative path inside photo_dir; a clear error when the photos have not been fetched."""
    path = Path(photo_dir) / MANIFEST
    if not path.is_file():
        raise InputError(f"no {MANIFEST} in {photo_dir}: fetch the photos first with "
                                f"`python -m gaugan data photos --out {photo_dir}`")
    data = read_json(path, "photo manifest", MAX_MANIFEST_BYTES)
    shape = f"an object with the strings {', '.join(fields)} (as `gaugan data photos` writes)"
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of photo entries, each {shape}; found {type(data).__name__}")
    seen = set()
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise InputError(f"{path}: entry {i}: expected {shape}, found {type(entry).__name__}")
        wrong = [name for name in fields if not isinstance(entry.get(name), str)]
        wrong += [name for name in ENTRY_FIELDS
                  if name not in wrong and not 0 < len(entry[name]) <= MAX_ENTRY_CHARS]
        if wrong:
            found = "; ".join(f"{name} {'missing' if name not in entry else repr(entry[name])[:60]}" for name in wrong)
            raise InputError(f"{path}: entry {i}: expected {shape}, id and file not empty and at most "
                             f"{MAX_ENTRY_CHARS} characters; found {found}")
        check_photo_file(entry["file"], f"{path}: entry {i} ({entry['id']!r})")
        if entry["id"] in seen:
            raise InputError(f"{path}: entry {i} repeats the id {entry['id']!r}; each photo's id must be unique")
        seen.add(entry["id"])
    return data


def check_photo_file(file: str, what: str) -> None:
    """Refuse a manifest's "file" unless it is a relative path that stays inside the photo folder."""
    parts = PurePosixPath(file).parts
    if PurePosixPath(file).is_absolute() or ".." in parts or "\\" in file or "\0" in file:
        raise InputError(f"{what}: \"file\" must be a relative path inside the photo folder, such as "
                         f"photos/<package>/<name>.jpg; found {file[:200]!r}")


def open_photo(photo_dir: str | Path, entry: dict) -> Image.Image:
    """A manifest entry's photo (from read_manifest) as RGB, decoded within MAX_PHOTO_PIXELS; a photo whose sides
    differ more than MAX_ASPECT times is refused (resized to a working height, it would be huge)."""
    path = Path(photo_dir) / entry["file"]
    if not path.is_file():
        raise InputError(f"{Path(photo_dir) / MANIFEST} names {entry['file']!r} for photo {entry['id']!r}, but there "
                         f"is no such file in {photo_dir}")
    try:
        image = open_image(path, "photo", MAX_PHOTO_PIXELS)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    width, height = image.size
    if max(width / height, height / width) > MAX_ASPECT:
        raise ImageError(f"{path} is {width}×{height}; expected a photo whose long side is at most {MAX_ASPECT:g} "
                         "times its short side")
    return to_rgb(image)


def photo_credits(photo_dir: str | Path, ids: set[str] | None = None) -> list[dict]:
    """Attribution for a model card: the photos (all, or those in `ids`) grouped by package, licence and author."""
    groups: dict[tuple, list[str]] = {}
    for entry in read_manifest(photo_dir, ENTRY_FIELDS + CREDIT_FIELDS):
        if ids is None or entry["id"] in ids:
            key = (entry["package"], entry["version"], entry["licence"], entry["author"], entry["licence_note"])
            groups.setdefault(key, []).append(entry["id"])
    return [{"package": p, "version": v, "licence": lic, "author": a, "note": note, "photos": sorted(found)}
            for (p, v, lic, a, note), found in sorted(groups.items())]
