"""Download NVIDIA's checkpoints.tar.gz (or a weights file) into a checkpoints folder, verified and safely unpacked."""
from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .errors import CheckpointError


def _fetch(url_or_path: str, target: Path) -> None:
    """Copy a URL or local file to target with a progress bar."""
    if "://" in url_or_path:
        source = urllib.request.urlopen(url_or_path, timeout=60)  # noqa: S310 (user-chosen URL)
        total = int(source.headers.get("Content-Length") or 0) or None
    else:
        local = Path(url_or_path)
        if not local.is_file():
            raise CheckpointError(f"no file at {local}")
        source, total = local.open("rb"), local.stat().st_size
    with source, target.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=target.name) as bar:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(url_or_path: str, dest: str | Path = "checkpoints", sha256: str | None = None) -> Path:
    """Fetch weights or NVIDIA's checkpoints.tar.gz into dest, verified and safely extracted."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = Path(url_or_path.split("?")[0]).name or "download"
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        fetched = Path(tmp) / name
        _fetch(url_or_path, fetched)
        if sha256 and (actual := _sha256(fetched)) != sha256.lower():
            raise CheckpointError(f"checksum mismatch for {name}: expected sha256 {sha256}, found {actual}")
        if not tarfile.is_tarfile(fetched):
            return Path(shutil.move(fetched, dest / name))
        unpacked = Path(tmp) / "unpacked"
        try:
            with tarfile.open(fetched) as archive:
                archive.extractall(unpacked, filter="data")
        except tarfile.FilterError as exc:
            raise CheckpointError(f"{name}: refused to extract an unsafe archive member: {exc}") from None
        # NVIDIA's archive holds checkpoints/<name>_pretrained/...; keep the <name>_pretrained level.
        top = unpacked / "checkpoints" if (unpacked / "checkpoints").is_dir() else unpacked
        for item in top.iterdir():
            target = dest / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            shutil.move(item, target)
    return dest
