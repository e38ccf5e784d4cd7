"""Files written whole or not at all: into a hidden temporary file beside the target, renamed over it once complete,
so that a failure or an interruption leaves the old file (or none), never part of a new one."""
from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_file(target: Path) -> Path:
    """A new empty hidden file beside target, unique to this call (for writing, then renaming over target), readable
    as the umask allows, as torch.save's files are."""
    while True:
        path = target.parent / f".{target.name}.{secrets.token_hex(6)}.partial"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue


def keep_mode(written: Path, target: Path) -> None:
    """Give a written temporary file target's permissions, where target exists, before it is renamed over target
    (so that a 0600 or read-only file stays so)."""
    if target.exists():
        os.chmod(written, stat.S_IMODE(target.stat().st_mode))


@contextmanager
def written_whole(target: Path) -> Iterator[Path]:
    """A temporary file beside target for the block to write; renamed over target (with target's permissions) when
    the block ends without an error, removed when it raises."""
    partial = temporary_file(target)
    try:
        yield partial
        keep_mode(partial, target)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_json_whole(path: Path, data: object) -> Path:
    """Write data as indented JSON to path, whole or not at all."""
    with written_whole(path) as partial:
        partial.write_text(json.dumps(data, indent=2) + "\n")
    return path
