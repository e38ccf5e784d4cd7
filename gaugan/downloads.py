"""Download NVIDIA's checkpoints.tar.gz (or a weights file) into a checkpoints folder: fetched and unpacked in a
temporary folder inside the destination, checked, then moved into place; nothing existing is replaced unasked."""
from __future__ import annotations

import errno
import hashlib
import http.client
import io
import ipaddress
import posixpath
import re
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .checkpoints import OFFICIAL_WEIGHTS
from .errors import CheckpointError, UnreachableError
from .folders import move_into
from .model_card import MODEL_CARD
from .state_dicts import read_state_dict

MAX_DOWNLOAD_BYTES = 8 << 30  # NVIDIA's checkpoints.tar.gz is about 1 GB
MAX_MEMBER_BYTES = 2 << 30  # the largest released generator is ~0.4 GB
MAX_RATIO = 20  # unpacked size / archive size: weights barely compress, so more is a bomb
MAX_MEMBERS = 10_000  # NVIDIA's archive holds a handful of files
TIMEOUT_S = 60  # for each network read
MIN_RATE = 16 << 10  # bytes/s on average after the first `timeout` s: NVIDIA's 1 GB archive gets up to ~17 h
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)  # OSError: gzip.BadGzipFile and friends
MAX_TAR_HEADER_BYTES = 1 << 20  # a tar's extended header (pax, GNU long name), which tarfile reads whole
EXTENDED_HEADERS = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK)
Progress = Callable[[int, int | None], None]  # (bytes received, announced total or None), after each chunk


class TarHeaderTooLarge(tarfile.ReadError):
    """An extended tar header above MAX_TAR_HEADER_BYTES, refused before it is read."""


class BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose extended header (which tarfile reads into memory whole) is refused above
    MAX_TAR_HEADER_BYTES before it is read: pass it as tarfile.open's tarinfo."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in EXTENDED_HEADERS and self.size > MAX_TAR_HEADER_BYTES:
            raise TarHeaderTooLarge(f"an extended tar header of {self.size} bytes (at most {MAX_TAR_HEADER_BYTES} "
                                    "are read)")
        return super()._proc_member(archive)


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an http(s) URL (urllib's own would follow one to ftp://)."""

    def redirect_request(self, req: urllib.request.Request, fp: io.BufferedIOBase, code: int, msg: str,
                         headers: object, newurl: str) -> urllib.request.Request | None:
        if not newurl.lower().startswith(("http://", "https://")):
            fp.close()
            raise CheckpointError(f"{req.full_url}: the server redirected to {newurl[:200]!r}; expected an http(s) URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _HeadersWithinTimeout:
    """An http.client connection whose status line and headers must arrive within its timeout in all (the socket
    timeout bounds each read alone, so a header sent a byte at a time could take forever)."""

    timeout: float
    sock: socket.socket | None

    def getresponse(self) -> http.client.HTTPResponse:
        expired = threading.Event()
        timer = threading.Timer(self.timeout, self._cut, (expired,))
        timer.start()
        try:
            response = super().getresponse()  # type: ignore[misc]
        except (OSError, ValueError, http.client.HTTPException):
            if expired.is_set():
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()
            timer.join()  # a deadline that fired as the headers arrived has shut the socket by now
        if expired.is_set():  # a shut socket reads as the end of the headers
            response.close()
            raise TimeoutError
        return response

    def _cut(self, expired: threading.Event) -> None:
        expired.set()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed
                pass


class _BoundedHTTP(_HeadersWithinTimeout, http.client.HTTPConnection):
    """HTTPConnection with the headers' deadline."""


class _BoundedHTTPS(_HeadersWithinTimeout, http.client.HTTPSConnection):
    """HTTPSConnection with the headers' deadline."""


def _is_public(address: str) -> bool:
    """Whether an IP address is a public one, and so is any IPv4 address inside it (mapped, 6to4, NAT64, ...)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = [ip.ipv4_mapped, ip.sixtofour, ip.teredo and ip.teredo[1]]
        if ip in ipaddress.ip_network("64:ff9b::/96") or int(ip) >> 32 == 0:  # NAT64, IPv4-compatible
            inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return all(v4.is_global for v4 in inner if v4)
    return True


def _public_connection(address: tuple[str, int], timeout: float | None,
                       source_address: tuple[str, int] | None) -> socket.socket:
    """socket.create_connection to a host only when every address its name resolves to is public, and then to
    those vetted addresses (not the name again): nothing reaches a private, loopback or link-local address, and
    whether one is open is not told."""
    host, port = address
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host[:200]}: {exc.strerror}") from None
    if not all(_is_public(info[4][0]) for info in found):
        raise CheckpointError(f"{host[:200]} is not at a public address; only hosts on the internet are fetched here")
    failure = OSError(f"no address for {host[:200]}")
    for *_, peer in found:
        try:
            return socket.create_connection(peer[:2], timeout, source_address)
        except OSError as exc:
            failure = exc
    raise failure


class _BoundedOpen:
    """A urllib handler mixin that opens its connections with the headers' deadline (and to public addresses only,
    when public_only is set)."""

    BOUNDED = {http.client.HTTPConnection: _BoundedHTTP, http.client.HTTPSConnection: _BoundedHTTPS}
    public_only = False

    def do_open(self, http_class: type, req: urllib.request.Request, **kwargs: object) -> http.client.HTTPResponse:
        def connection(*args: object, **options: object) -> http.client.HTTPConnection:
            opened = self.BOUNDED[http_class](*args, **options)
            if self.public_only:
                opened._create_connection = _public_connection  # type: ignore[attr-defined]
            return opened
        return super().do_open(connection, req, **kwargs)  # type: ignore[misc]


class _BoundedHTTPHandler(_BoundedOpen, urllib.request.HTTPHandler):
    """http:// with the headers' deadline."""


class _BoundedHTTPSHandler(_BoundedOpen, urllib.request.HTTPSHandler):
    """https:// with the headers' deadline."""


def _announced_length(response: io.BufferedIOBase) -> int | None:
    """The response's Content-Length when it is a plain decimal number (not, say, '²', which isdigit() accepts)."""
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isascii() and length.isdigit() else None


def _source(url_or_path: str, timeout: float, public_only: bool) -> tuple[io.BufferedIOBase, int | None]:
    """An open byte stream and its announced length, or a CheckpointError for 404s, timeouts and missing files.

    The status line and headers of each response (redirects included) arrive within `timeout` s, or it times out.
    public_only: no local path, and no connection to a host that is not at a public address."""
    if public_only and not url_or_path.lower().startswith(("http://", "https://")):
        raise CheckpointError(f"expected an http(s) address, found {url_or_path[:200]!r}; files on this computer are "
                              "installed with the command: gaugan download PATH")
    if "://" not in url_or_path:
        local = Path(url_or_path)
        if not local.is_file():
            raise CheckpointError(f"no file at {local}")
        return local.open("rb"), local.stat().st_size
    if not url_or_path.lower().startswith(("http://", "https://")):
        raise CheckpointError(f"expected an http(s) URL or a local path, found {url_or_path[:200]!r}")
    try:
        handlers = [_BoundedHTTPHandler(), _BoundedHTTPSHandler()]
        for handler in handlers:
            handler.public_only = public_only
        direct = [urllib.request.ProxyHandler({})] if public_only else []  # a proxy would hide where it connects
        opener = urllib.request.build_opener(_HttpRedirectsOnly, *handlers, *direct)
        response = opener.open(url_or_path, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        raise CheckpointError(f"{url_or_path}: the server answered HTTP {exc.code} {exc.reason}") from None
    except (TimeoutError, socket.timeout):
        raise UnreachableError(f"{url_or_path}: no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc.reason, TimeoutError) else exc.reason
        raise UnreachableError(f"{url_or_path}: cannot connect: {reason}") from None
    return response, _announced_length(response)


def _check_rate(url_or_path: str, received: int, started: float, timeout: float, min_rate: float) -> None:
    """Refuse a transfer that has averaged less than min_rate bytes/s since `timeout` seconds after it started."""
    elapsed = time.monotonic() - started
    if received < min_rate * (elapsed - timeout):
        raise CheckpointError(f"{url_or_path}: too slow: {received} bytes in {elapsed:.1f} s; expected at least "
                              f"{min_rate:g} bytes/s on average after the first {timeout:g} s")


def _fetch(url_or_path: str, target: Path, timeout: float, progress: Progress | None, min_rate: float,
           public_only: bool) -> None:
    """Copy a URL or local file to target within MAX_DOWNLOAD_BYTES and the time _check_rate allows, complete or
    refused; progress goes to the callback if given, else to a terminal progress bar."""
    started = time.monotonic()
    source, total = _source(url_or_path, timeout, public_only)
    if total is not None and total > MAX_DOWNLOAD_BYTES:
        source.close()
        raise CheckpointError(f"{url_or_path} is {total} bytes; at most {MAX_DOWNLOAD_BYTES} are downloaded")
    received = 0
    try:
        with source, target.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                                                    disable=progress is not None) as bar:
            while chunk := source.read1(1 << 20):  # read1: whatever has arrived, so progress moves on slow links
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise CheckpointError(f"{url_or_path} sent more than {MAX_DOWNLOAD_BYTES} bytes; stopped")
                out.write(chunk)
                bar.update(len(chunk))
                if progress is not None:
                    progress(received, total)
                _check_rate(url_or_path, received, started, timeout, min_rate)
    except (TimeoutError, socket.timeout):
        raise CheckpointError(f"{url_or_path}: the transfer stalled for {timeout:g} s after {received} bytes") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise CheckpointError(f"the disk holding {target.parent.parent} is full after {received} bytes") from None
        raise CheckpointError(f"{url_or_path}: the transfer failed after {received} bytes: {exc}") from None
    if total is not None and received != total:
        raise CheckpointError(f"{url_or_path}: the transfer ended after {received} of {total} bytes")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _leaves_folder(member_name: str) -> bool:
    """Whether an archive member's path, as written, leads out of the folder it is unpacked into (absolute or up
    through '..')."""
    path = posixpath.normpath(member_name)
    return posixpath.isabs(path) or path == ".." or path.startswith("../")


def _checked_sha256(sha256: str) -> str:
    """The checksum in lower case, refused unless it is 64 hex digits (surrounding whitespace ignored)."""
    digits = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise CheckpointError(f"expected a sha256 of 64 hex digits, found {sha256[:100]!r} ({len(sha256)} characters); "
                              "nothing was downloaded")
    return digits


def _checked_members(archive: tarfile.TarFile, name: str, archive_bytes: int, free_bytes: int) -> list[tarfile.TarInfo]:
    """Every member, refusing links, devices and anything but files and folders, paths that lead out of the
    destination, and sizes above the limits, as soon as its header is read (so a bomb is refused before it is
    unpacked)."""
    members, total = [], 0
    budget = min(MAX_RATIO * max(archive_bytes, 1 << 20), free_bytes)
    for member in archive:
        if len(members) == MAX_MEMBERS:
            raise CheckpointError(f"{name}: refused: more than {MAX_MEMBERS} members")
        if not (member.isreg() or member.isdir()) or member.issparse():
            kind = "link" if member.issym() or member.islnk() else "device or special file"
            raise CheckpointError(f"{name}: refused: member {member.name[:200]!r} is a {kind}; "
                                  "expected only files and folders")
        if _leaves_folder(member.name):
            raise CheckpointError(f"{name}: refused: member {member.name[:200]!r} leads outside the destination; "
                                  "expected paths that stay inside it")
        total += member.size + tarfile.BLOCKSIZE  # headers count too: a million empty members is a bomb as well
        if member.size > MAX_MEMBER_BYTES:
            raise CheckpointError(f"{name}: refused: member {member.name[:200]!r} unpacks to {member.size} bytes; "
                                  f"at most {MAX_MEMBER_BYTES} per file")
        if total > budget:
            limit = ("free disk space" if budget == free_bytes
                     else f"{MAX_RATIO}× the archive's {archive_bytes} bytes")
            raise CheckpointError(f"{name}: refused: unpacks to more than {budget} bytes ({limit})")
        members.append(member)
    return members


def _is_tar(path: Path) -> bool:
    """Whether path is a tar archive (plain or compressed): its first header reads, within MAX_TAR_HEADER_BYTES
    (a larger extended header is refused, not taken for a weights file)."""
    try:
        with tarfile.open(path, "r|*", tarinfo=BoundedTarInfo):  # a stream: the compression is told by its magic
            return True
    except TarHeaderTooLarge as exc:
        raise CheckpointError(f"{path.name}: refused: {exc}") from None
    except ARCHIVE_ERRORS:
        return False


def _unpack(archive_path: Path, into: Path, free_bytes: int) -> Path:
    """Unpack a tar archive into `into` after checking every member; returns the folder whose items to install."""
    name = archive_path.name
    try:
        with tarfile.open(archive_path, tarinfo=BoundedTarInfo) as archive:
            members = _checked_members(archive, name, archive_path.stat().st_size, free_bytes)
            if not members:  # e.g. a file of zero bytes, which tarfile reads as an empty archive
                raise CheckpointError(f"{name}: the archive holds no files; expected model folders such as "
                                      "checkpoints/coco_pretrained/")
            archive.extractall(into, members=members, filter="data")
    except CheckpointError:
        raise
    except TarHeaderTooLarge as exc:
        raise CheckpointError(f"{name}: refused: {exc}") from None
    except tarfile.FilterError as exc:
        raise CheckpointError(f"{name}: refused to extract an unsafe archive member: {exc}") from None
    except ARCHIVE_ERRORS as exc:
        raise CheckpointError(f"{name}: the archive is damaged or truncated: {exc or type(exc).__name__}") from None
    # NVIDIA's archive holds checkpoints/<name>_pretrained/...; keep the <name>_pretrained level.
    return into / "checkpoints" if (into / "checkpoints").is_dir() else into


def _is_model(item: Path) -> bool:
    """Whether an unpacked item is a weights file (.pth) or a checkpoint folder (one holding model.json or a .pth)."""
    if item.is_file():
        return item.suffix == ".pth"
    return (item / MODEL_CARD).is_file() or any(child.is_file() and child.suffix == ".pth" for child in item.iterdir())


def _models(top: Path, name: str) -> list[Path]:
    """The unpacked items to install, refused unless at least one is a model (_is_model)."""
    items = sorted(top.iterdir())
    if not any(map(_is_model, items)):
        found = ", ".join(item.name + "/" * item.is_dir() for item in items[:5]) + (" …" if len(items) > 5 else "")
        raise CheckpointError(f"{name}: the archive holds no model: expected checkpoint folders (with {MODEL_CARD} or "
                              f"{OFFICIAL_WEIGHTS}) or weights files (.pth), found {found or 'nothing'}; "
                              "nothing was written")
    return items


def _plain_name(url_or_path: str) -> str:
    name = url_or_path.split("?")[0].split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") and "\\" not in name else "download"


def download(url_or_path: str, dest: str | Path = "checkpoints", sha256: str | None = None, overwrite: bool = False,
             timeout: float = TIMEOUT_S, progress: Progress | None = None, min_rate: float = MIN_RATE,
             public_only: bool = False) -> Path:
    """Fetch NVIDIA's checkpoints.tar.gz (unpacked into dest) or a weights file (saved in dest), verified;
    `progress(received, total)` is called as bytes arrive (else a terminal progress bar shows them).

    Time is bounded: each read waits at most `timeout` seconds, and the transfer is stopped once it averages
    less than `min_rate` bytes/s after its first `timeout` seconds (so N bytes get at most timeout + N / min_rate
    seconds, plus one read). Redirects are followed to http(s) URLs only.

    Work happens in a temporary folder inside dest that is removed whatever happens (Ctrl-C included), and so is
    a dest this call created, if it failed; an
    existing file or folder of the same name is kept unless overwrite=True, and an archive that holds no model
    (no checkpoint folder or weights file) is refused. Returns dest, or the weights file.

    public_only (for an address a page's visitor typed): an http(s) address only, fetched directly (no proxy) and
    only from hosts whose every IP address is public (redirects included), so a visitor can neither read the
    server's files nor reach, or probe, its private network.
    """
    sha256 = None if sha256 is None else _checked_sha256(sha256)
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise CheckpointError(f"destination {dest} is a file; expected a folder to download into")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    name = _plain_name(url_or_path)
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    try:
        fetched = work / "fetched" / name  # its own folder: no name clashes with the work folders below
        fetched.parent.mkdir()
        _fetch(url_or_path, fetched, timeout, progress, min_rate, public_only)
        if sha256 and (actual := _sha256(fetched)) != sha256:
            raise CheckpointError(f"checksum mismatch for {name}: expected sha256 {sha256}, found {actual}")
        if _is_tar(fetched):
            top = _unpack(fetched, work / "unpacked", shutil.disk_usage(dest).free)
            move_into(_models(top, name), dest, work / "replaced", overwrite)
            return dest
        try:
            read_state_dict(fetched)
        except CheckpointError as exc:  # its message names the temporary file; the user knows url_or_path
            raise CheckpointError(f"{url_or_path} is neither a tar archive nor a loadable weights file: "
                                  f"{str(exc).removeprefix(f'{fetched}: ')}") from None
        move_into([fetched], dest, work / "replaced", overwrite)
        return dest / name
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created and not any(dest.iterdir()):  # nothing came of it: the folder goes too
            dest.rmdir()
