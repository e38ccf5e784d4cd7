"""torch.save files -> checked {name: tensor} dicts, always weights_only: what a file may hold (plain tensors of
float weights and int counters, string keys, no code), bounded before it is read (zip records, pickle size, legacy
pickles), mapped or read, and what a refusal says about it. Nothing here knows SPADE, presets or model cards."""
from __future__ import annotations

import io
import pickle
import pickletools
import re
import struct
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError

WRAPPER_KEYS = ("model", "state_dict", "netG")  # where training scripts nest a generator's state_dict
CAST_DTYPES = (torch.float16, torch.bfloat16, torch.float64)
WEIGHT_DTYPES = (torch.float32, *CAST_DTYPES)  # float8 and friends cannot even be checked for NaN on a CPU
COUNTER_DTYPES = (torch.int64, torch.int32)  # a batch norm's num_batches_tracked
# Bounds on a zip-format file's records and on its pickle (data.pkl), which names the tensors; a SPADE generator for
# COCO has 240 records and a 34 kB pickle
MAX_RECORDS, MAX_PICKLE_BYTES = 20_000, 1 << 20
ZIP_START = b"PK\x03\x04"  # how a zip archive starts: torch.load tells its zip format from the legacy one by it
CUT_SHORT = "cut short (its zip directory is missing): download or copy it again"  # a zip file's end is missing
LEGACY_PICKLES = 5  # a legacy file's pickles before its raw values: magic number, protocol, system, state, keys
MAX_ALIASING = 2  # the tensors may claim up to this many times the bytes the file stores for them (shared views)
# How torch.save's files start: a zip archive, or (its legacy format) a pickle of its magic number, protocol 2 or 0/1
TORCH_STARTS = (ZIP_START, b"\x80", pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=0)[:-1])
# What the unpickler raises on bytes that are no pickle at all (with UnpicklingError's "Unsupported operand")
BAD_PICKLE_ERRORS = (EOFError, KeyError, IndexError, ValueError, struct.error)



def _unwrap(state: object, path: Path, notes: list[str]) -> dict:
    """The flat {name: tensor} dict, taken out of a {model|state_dict|netG: ...} wrapper if need be."""
    def flat(value: object) -> bool:
        return isinstance(value, dict) and bool(value) and all(torch.is_tensor(v) for v in value.values())

    if flat(state):
        return state
    if isinstance(state, dict):
        for key in WRAPPER_KEYS:
            if flat(state.get(key)):
                notes.append(f"{path.name}: took the weights from its {key!r} entry")
                return state[key]
        keys = [repr(k)[:40] for k in list(state)[:6]]
        raise CheckpointError(f"{path}: expected a flat dict of tensors (or one under {' / '.join(WRAPPER_KEYS)}), "
                              f"found a dict with keys {keys}{' …' if len(state) > 6 else ''}")
    raise CheckpointError(f"{path}: expected a flat dict of tensors, found {type(state).__name__}")


def shown_key(key: str) -> str:
    """A tensor name from a file as messages show it: quoted, at most 80 characters."""
    return repr(key) if len(key) <= 80 else repr(key[:80]) + f"… ({len(key)} characters)"


def _check_tensor(path: Path, key: str, value: torch.Tensor) -> None:
    """Refuse a tensor that is not plain weights: sparse or otherwise not dense, larger than the bytes the file holds
    for it (an expanded view, which every later step would allocate in full), or of a dtype weights are not kept in
    (integers but a batch norm's counter, float8)."""
    if value.layout != torch.strided:
        raise CheckpointError(f"{path}: tensor {shown_key(key)} has layout {value.layout}; expected dense weights")
    if value.device.type != "cpu":  # loaded with map_location="cpu": a meta tensor has no values at all
        raise CheckpointError(f"{path}: tensor {shown_key(key)} is a {value.device.type} tensor, with no stored "
                              "values; expected plain stored weights")
    if value.numel() and value.numel() * value.element_size() > value.untyped_storage().nbytes():
        raise CheckpointError(f"{path}: tensor {shown_key(key)} claims shape {tuple(value.shape)} but the file holds "
                              f"{value.untyped_storage().nbytes()} bytes for it; expected plain stored weights")
    counter = key.endswith("num_batches_tracked") and value.dtype in COUNTER_DTYPES
    if value.dtype not in WEIGHT_DTYPES and not counter:
        raise CheckpointError(f"{path}: tensor {shown_key(key)} has dtype {str(value.dtype).removeprefix('torch.')}; "
                              "expected float32, float16, bfloat16 or float64 weights")


def _check_aliasing(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Refuse tensors that claim far more bytes than the file stores (many names viewing one storage), which
    casting to float32 would turn into copies."""
    stored = {v.untyped_storage().data_ptr(): v.untyped_storage().nbytes() for v in state.values()}
    claimed = sum(v.numel() * v.element_size() for v in state.values())
    if claimed > MAX_ALIASING * sum(stored.values()) + (1 << 20):
        raise CheckpointError(f"{path}: its {len(state)} tensors claim {claimed} bytes but the file stores "
                              f"{sum(stored.values())} for them (names sharing one storage); expected plain weights")


def _check_zip_records(path: Path) -> None:
    """Refuse a zip-format checkpoint whose directory lists more than MAX_RECORDS records (read from its end record,
    before the directory is parsed), whose pickle (data.pkl) is over MAX_PICKLE_BYTES (unpickling costs time and
    memory by its size, whatever the tensors'), or with compressed records (torch.save stores them as they are, and
    a compressed one can unpack to far more memory than the file's size)."""
    try:
        with path.open("rb") as f:
            end = zipfile._EndRecData(f)  # the standard library's reader of the end record (zip64 too)
    except (OSError, struct.error):
        return  # torch.load says what is wrong
    if end is None:
        if _is_cut_short(path):  # torch's own words for this range from "Invalid argument" to its zip reader's
            raise CheckpointError(f"{path.name} is {CUT_SHORT}")
        return  # no zip: torch.load says what it is
    count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if count > MAX_RECORDS or size > MAX_RECORDS * 1024:
        raise CheckpointError(f"{path}: refused: its zip directory lists {count} records in {size} bytes; a "
                              f"checkpoint of weights holds one record per tensor, at most {MAX_RECORDS} here")
    try:
        with zipfile.ZipFile(path) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):  # damaged: torch.load says what it is
        return
    packed = [i for i in records if i.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise CheckpointError(f"{path}: refused: {len(packed)} record(s) are compressed ({packed[0].filename[:80]!r} "
                              f"unpacks to {packed[0].file_size} bytes); torch.save stores its records uncompressed")
    pickles = [i.file_size for i in records if i.filename.lower().endswith("data.pkl")]  # torch matches any case
    if max(pickles, default=0) > MAX_PICKLE_BYTES:
        raise CheckpointError(f"{path}: refused: its index of tensors (data.pkl) is {max(pickles)} bytes; a "
                              f"checkpoint of weights needs far less than the {MAX_PICKLE_BYTES} allowed")


def _check_legacy_pickles(path: Path) -> None:
    """Refuse a legacy-format checkpoint (before PyTorch 1.6) whose pickles, which come before its tensors' raw
    values, do not end within MAX_PICKLE_BYTES: scanned, not unpickled. Zip-format files are _check_zip_records'."""
    if _starts_as_zip(path):
        return
    try:
        with path.open("rb") as f:
            start = f.read(MAX_PICKLE_BYTES + 1)
    except OSError:
        return  # torch.load says why it cannot be read
    if len(start) <= MAX_PICKLE_BYTES:
        return  # a file small enough whatever it holds
    buffer = io.BytesIO(start)
    try:
        for _ in range(LEGACY_PICKLES):
            for _ in pickletools.genops(buffer):
                pass
    except ValueError:
        longer = buffer.tell() >= MAX_PICKLE_BYTES  # ran out of the bounded start; else damage torch.load names
        if longer:
            raise CheckpointError(f"{path}: refused: its pickles (the index of its tensors) run past the first "
                                  f"{MAX_PICKLE_BYTES} bytes; a checkpoint of weights needs far less") from None


def _not_torch_file(path: Path) -> str | None:
    """"not a file saved by torch.save (…)", with its first 32 bytes, when they are not how torch.save starts a file
    (TORCH_STARTS); None when they are or the file cannot be read."""
    try:
        with path.open("rb") as f:
            start = f.read(32)
    except OSError:
        return None
    if start.startswith(TORCH_STARTS):
        return None
    return f"not a file saved by torch.save ({f'it starts with {start!r}' if start else 'it is empty'})"


def load_failure(exc: Exception, path: Path) -> str:
    """What torch.load's error says about the file, without its advice to load untrusted files unsafely; a zip that
    torch.save did not write (no data.pkl inside) is said to be one, rather than quoting torch's zip reader, and a
    file whose bytes the unpickler cannot read at all is said to be no torch.save file, by what it starts with."""
    if _is_cut_short(path):
        return f"it is {CUT_SHORT}"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                if not any(name.endswith("/data.pkl") for name in archive.namelist()):
                    return "it is a zip archive, but not one that torch.save wrote"
        except (zipfile.BadZipFile, OSError, ValueError):  # ValueError: a name that is not the UTF-8 it claims
            return "it is a damaged zip archive (its directory cannot be read)"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # torch bolds its advice with terminal escapes
    unreadable = isinstance(exc, BAD_PICKLE_ERRORS) or "Unsupported operand" in text or "mmap can only be used" in text
    if unreadable and (foreign := _not_torch_file(path)):
        return foreign
    unpickler = re.search(r"WeightsUnpickler error:\s*(.+?)(?: was not an allowed global|\n|$)", text)
    if unpickler:
        return unpickler.group(1)[:200]
    blocked = re.search(r"unsupported GLOBAL (\S+)", text)  # torch >= 2.13's wording
    if blocked:
        return f"it asks to run {blocked.group(1)[:120]}, which is not a tensor"
    first = text.strip().split(". ")[0].splitlines()[0] if text.strip() else type(exc).__name__
    return first[:200]


def _check_plain_tensors(path: Path, state: dict) -> None:
    """Refuse a state_dict that is not names of plain stored weights: keys that are not strings, tensors that are not
    dense or claim more bytes than the file stores (_check_tensor, _check_aliasing), or `_metadata` (the per-module
    versions load_state_dict reads) that is not what torch writes (_is_metadata)."""
    if not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{path}: expected tensor names as keys, found {sorted({type(k).__name__ for k in state})}")
    for key, value in state.items():
        _check_tensor(path, key, value)
    _check_aliasing(path, state)
    metadata = getattr(state, "_metadata", None)
    if metadata is not None and not _is_metadata(metadata):
        raise CheckpointError(f"{path}: its module versions (_metadata) are not what torch's state_dict() writes "
                              "(a dict of per-module dicts of version numbers)")


def _is_metadata(value: object) -> bool:
    """Whether value is a state_dict's _metadata as torch writes it: per-module dicts (keyed by name) of a "version"
    number and of dicts of version numbers (spectral norm's), which load_state_dict's hooks read as such."""
    def version(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def versions(v: object) -> bool:
        return isinstance(v, dict) and all(isinstance(name, str) and version(n) for name, n in v.items())

    def module(m: object) -> bool:
        return isinstance(m, dict) and all(isinstance(k, str) and (version(v) if k == "version" else versions(v))
                                           for k, v in m.items())
    return isinstance(value, dict) and all(isinstance(k, str) and module(m) for k, m in value.items())


def _without_module_prefix(state: dict) -> dict:
    """A DataParallel / DistributedDataParallel state_dict's names without their common "module." prefix."""
    if not all(k.startswith("module.") for k in state):
        return state
    metadata = getattr(state, "_metadata", None)
    state = type(state)((k[len("module."):], v) for k, v in state.items())
    if metadata is not None:
        state._metadata = {k.removeprefix("module."): v for k, v in metadata.items()}  # type: ignore[attr-defined]
    return state


def _is_cut_short(path: Path) -> bool:
    """Whether a file starts as a zip archive but lacks the directory at its end (a copy or download that stopped)."""
    return _starts_as_zip(path) and not zipfile.is_zipfile(path)  # is_zipfile reads the end record only


def _starts_as_zip(path: Path) -> bool:
    """Whether a file starts as a zip archive does: torch.save's format since PyTorch 1.6, which torch.load tells from
    the legacy one by these first bytes; False for a file that cannot be read (torch.load says why)."""
    try:
        with path.open("rb") as f:
            return f.read(len(ZIP_START)) == ZIP_START
    except OSError:
        return False


def _load_state(path: Path, notes: list[str], mmap: bool) -> dict[str, torch.Tensor]:
    """A state_dict loaded with weights_only=True (anything that would unpickle code is refused), its pickles
    bounded first, then unwrapped, "module."-stripped, and checked to be names of plain stored tensors; mmap maps a
    zip-format file's tensors from disk instead of reading their values."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    _check_zip_records(path)
    _check_legacy_pickles(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        raise CheckpointError(
            f"{path}: refused to load; expected a plain state_dict of tensors readable with "
            f"weights_only=True (no code from the file runs), but loading failed: {load_failure(exc, path)}"
        ) from None
    state = _unwrap(state, path, notes)
    _check_plain_tensors(path, state)
    return _without_module_prefix(state)


def _with_float32_values(path: Path, state: dict[str, torch.Tensor], notes: list[str]) -> dict[str, torch.Tensor]:
    """A loaded state_dict cast to float32 and checked to be finite; remarks on what was cast are appended to notes."""
    cast = sorted({str(v.dtype).removeprefix("torch.") for v in state.values() if v.dtype in CAST_DTYPES})
    if cast:
        notes.append(f"{path.name}: {'/'.join(cast)} weights cast to float32")
    for key, value in state.items():
        if value.dtype in CAST_DTYPES:
            state[key] = value.float()
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise CheckpointError(f"{path}: {len(broken)} tensor(s) hold NaN or infinite values "
                              f"({', '.join(key[:80] for key in broken[:3])}{' …' if len(broken) > 3 else ''}); "
                              "the weights are damaged")
    return state


def open_state_dict(path: str | Path, notes: list[str] | None = None) -> dict[str, torch.Tensor]:
    """A state_dict checked to be names of plain stored tensors, for checking against a network (check_fit) before
    adopt_weights reads its values: a zip-format file's tensors are mapped from disk, so none is read here."""
    path = Path(path)
    return _load_state(path, [] if notes is None else notes, mmap=_starts_as_zip(path))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict read into memory: plain stored tensors, cast to float32, finite."""
    path, notes = Path(path), []
    return _with_float32_values(path, _load_state(path, notes, mmap=False), notes)


def mapped_state_dict(path: Path) -> dict[str, torch.Tensor] | None:
    """For listings: a weights file's tensors mapped from disk (open_state_dict), after checking that it starts as
    torch.save's files do and is not cut short; None for the legacy format (before PyTorch 1.6), which cannot be
    mapped: only its pickles' length is checked (_check_legacy_pickles), the rest when it loads."""
    if foreign := _not_torch_file(path):
        raise CheckpointError(f"{path.name} is {foreign}")
    if not path.is_file():
        raise CheckpointError(f"{path.name} cannot be read: it is not a file")
    if not _starts_as_zip(path):
        _check_legacy_pickles(path)
        return None
    return open_state_dict(path)


def read_values(path: Path, state: dict[str, torch.Tensor], notes: list[str]) -> dict[str, torch.Tensor]:
    """The values of a state opened from path (open_state_dict), as float32: a zip file's read anew rather than
    mapped, so that a file changed since is an error, not a fault on a mapped page; a legacy file's as loaded."""
    values = _load_state(path, [], mmap=False) if _starts_as_zip(path) else state
    return _with_float32_values(path, values, notes)
