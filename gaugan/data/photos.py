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
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import InputError

MANIFEST = "manifest.json"


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


def _deb_members(deb: Path):
    """Yield (tarinfo, file object) of a .deb's data archive, regular files only (links and devices skipped)."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for info in archive:
            if info.isfile():
                yield info, archive.extractfile(info)


def _download_deb(package: str, debs: Path) -> Path:
    """The package's .deb in `debs`, downloaded with apt-get when it is not there yet."""
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        debs.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if result.returncode or not found:
            raise RuntimeError(f"could not download the Debian package {package}: {result.stderr.strip()[-300:]}")
    return found[-1]


def fetch_photos(out: str | Path, debs: str | Path | None = None,
                 sources: tuple[PhotoSource, ...] = SOURCES) -> list[dict]:
    """Unpack every source's photos into out/photos/ and write out/manifest.json; returns the manifest."""
    from debian.copyright import Copyright  # only fetching needs it, not the readers of a fetched cache

    out = Path(out)
    debs = Path(debs) if debs else out / "debs"
    manifest = []
    for source in sources:
        deb = _download_deb(source.package, debs)
        photos, copyright_text = {}, None
        for info, stream in _deb_members(deb):
            if info.name.removeprefix("./") == source.copyright_path:
                copyright_text = stream.read().decode("utf-8")
            elif (rel := _wanted(source, info.name)) is not None:
                photos[rel] = stream.read()
        if copyright_text is None:
            raise RuntimeError(f"{deb.name} has no {source.copyright_path}: the photos' licences are unknown")
        licences = Copyright(io.StringIO(copyright_text))
        folder = out / "photos" / source.package
        folder.mkdir(parents=True, exist_ok=True)
        for rel, data in sorted(photos.items()):
            paragraph = licences.find_files_paragraph(rel)
            if paragraph is None:
                raise RuntimeError(f"{source.package}: no licence covers {rel}")
            name = rel.rsplit("/", 1)[-1]
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
            (folder / name).write_bytes(data)
            manifest.append({
                "file": f"photos/{source.package}/{name}", "id": photo_id(name), "package": source.package,
                "version": deb.name.split("_")[1], "path_in_package": source.root + rel,
                "author": " ".join(str(paragraph.copyright).split()),
                "licence": paragraph.license.synopsis,
                "licence_note": " ".join(paragraph.license.text.strip().split("\n\n")[0].split()),
                "width": width, "height": height, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            })
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(photo_dir: str | Path) -> list[dict]:
    """The manifest written by fetch_photos, with a clear error when the photos have not been fetched."""
    path = Path(photo_dir) / MANIFEST
    if not path.is_file():
        raise InputError(f"no {MANIFEST} in {photo_dir}: fetch the photos first with "
                                f"`python -m gaugan data photos --out {photo_dir}`")
    return json.loads(path.read_text())


def photo_credits(photo_dir: str | Path, ids: set[str] | None = None) -> list[dict]:
    """Attribution for a model card: the photos (all, or those in `ids`) grouped by package, licence and author."""
    groups: dict[tuple, list[str]] = {}
    for entry in read_manifest(photo_dir):
        if ids is None or entry["id"] in ids:
            key = (entry["package"], entry["version"], entry["licence"], entry["author"], entry["licence_note"])
            groups.setdefault(key, []).append(entry["id"])
    return [{"package": p, "version": v, "licence": lic, "author": a, "note": note, "photos": sorted(found)}
            for (p, v, lic, a, note), found in sorted(groups.items())]
