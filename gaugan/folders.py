"""Output folders: created and checked writable before long work, never written over unasked, and replaced whole
or not at all."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CheckpointError, InputError
from .model_card import MODEL_CARD


def writable_folder(folder: str | Path, what: str) -> Path:
    """The folder, created with its parents, once a file could be written in it; else an InputError naming `what` and
    why not (checked before long work whose result goes there)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {what} {folder}: {exc.strerror or exc}") from None
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise InputError(f"cannot write in {what} {folder}: {exc.strerror or exc}") from None
    return folder


def refuse_existing(paths: list[Path], overwrite: bool) -> list[Path]:
    """The paths that exist (links included); an error naming them, with nothing changed, unless overwrite (--force)."""
    clashes = [path for path in paths if path.exists() or path.is_symlink()]
    if clashes and not overwrite:
        raise CheckpointError(f"{', '.join(map(str, clashes))} already {'exists' if len(clashes) == 1 else 'exist'}; "
                              "nothing was changed "
                              "(pass --force, or overwrite=True in Python, to replace)")
    return clashes


def files_lost(old: Path, new: Path, most: int = 6) -> list[str]:
    """Up to `most` files (paths relative to old) that replacing folder `old` with `new` would lose: all but model.json
    and the files new holds too, weights of other names included. None for a file or a link, which is replaced as it
    is."""
    if old.is_symlink() or not old.is_dir():
        return []
    lost = []
    for folder, _, names in os.walk(old):  # links to folders are not followed
        for name in sorted(names):
            relative = Path(folder, name).relative_to(old)
            if str(relative) != MODEL_CARD and not (new / relative).exists():
                lost.append(str(relative))
                if len(lost) == most:
                    return lost
    return lost


def move_into(items: list[Path], dest: Path, trash: Path, overwrite: bool, whole: bool = False) -> None:
    """Move items into dest; an existing item of the same name is refused, or (overwrite) moved into trash whole
    unless that would lose files of its own (files_lost), or whatever it holds where the caller checked it (whole). If
    a move fails, every item moved so far goes back and every replaced one is put back: all or nothing."""
    clashes = refuse_existing([dest / item.name for item in items], overwrite)
    for item in items:
        if not whole and (lost := files_lost(dest / item.name, item)):
            raise CheckpointError(f"{dest / item.name} holds {', '.join(lost[:5])}{' …' if len(lost) > 5 else ''}, "
                                  f"which its replacement lacks: --force replaces a folder's files with those of the "
                                  f"same names, and drops only its {MODEL_CARD}; move those out of it first. Nothing "
                                  "was changed")
    trash.mkdir()
    moved = []
    try:
        for item in items:
            if dest / item.name in clashes:
                (dest / item.name).rename(trash / item.name)
            item.rename(dest / item.name)
            moved.append(item)
    except OSError as exc:
        failed = item
        for each in items:
            if each in moved:
                (dest / each.name).rename(each)
            if (trash / each.name).exists() or (trash / each.name).is_symlink():
                (trash / each.name).rename(dest / each.name)
        raise CheckpointError(f"could not move {failed.name} into {dest} ({exc}); nothing there was changed") from None


def check_model_destination(folder: Path, overwrite: bool) -> None:
    """A folder to write a model folder at: a new or empty one; a model folder of ours (model.json and weights only)
    to replace whole with overwrite (--force); anything else is refused, with nothing changed."""
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"{folder} is a file; expected a new or empty folder, or a model folder to replace")
    names = sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []
    others = [name for name in names if name != MODEL_CARD and not name.endswith(".pth")]
    if others or (names and MODEL_CARD not in names):
        shown = others or names
        raise CheckpointError(f"{folder} holds {', '.join(shown[:5])}{' …' if len(shown) > 5 else ''}, so it is no model "
                              f"folder of ours ({MODEL_CARD} and weights only) and is never replaced: name a new or "
                              "empty folder; nothing was changed")
    if names:
        refuse_existing([folder], overwrite)


@contextmanager
def replacing(folder: Path) -> Iterator[Path]:
    """A path to write a new folder at, in a temporary folder beside `folder`; once the block succeeds it takes the
    place of `folder` whole, if that is still a model folder of ours (check_model_destination, again: the block may
    have taken long)."""
    parent = writable_folder(folder.parent, "the folder")
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=parent))
    try:
        yield work / folder.name
        check_model_destination(folder, overwrite=True)
        move_into([work / folder.name], parent, work / "replaced", overwrite=True, whole=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
