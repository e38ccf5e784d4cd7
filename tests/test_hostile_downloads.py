"""Downloads lose nothing: bad URLs, broken or hostile archives and non-archives get clear errors, existing
folders survive, and no temporary file is left behind (Ctrl-C included)."""
import functools
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pytest
import torch
from helpers import ROOT, QuietFiles, local_server, official_archive

from gaugan import PRESETS, SPADEGenerator, download, load_generator
from gaugan.__main__ import main as cli
from gaugan.errors import CheckpointError


def fingerprint(root: Path) -> dict[str, str]:
    """Every entry under root (links and folders too) with the hash of each file's bytes."""
    return {str(p.relative_to(root)): "link" if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


def weights_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save(SPADEGenerator(PRESETS["ade20k"], ngf=2).state_dict(), buffer)
    return buffer.getvalue()


def make_archive(path: Path, members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> Path:
    """A .tar.gz with regular members and (name -> (type, target)) special members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return path


class Handler(QuietFiles):
    """Serves the test's folder, plus /hang (answers late), /short (sends less than announced), /trickle (slow),
    /drip (a byte every 50 ms, never idle long), /slow-headers (a header line every 50 ms), /redirect-ftp, and /superscript/NAME (NAME, with Content-Length
    '²')."""

    def do_GET(self):
        if self.path == "/hang":
            time.sleep(2)
        elif self.path == "/drip":
            self.send_response(200)
            self.end_headers()
            self.dribble(b"x")
            return
        elif self.path == "/slow-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            self.dribble(b"X-Slow: x\r\n")
            return
        elif self.path == "/redirect-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1:1/checkpoints.tar.gz")
            self.end_headers()
            return
        elif self.path.startswith("/superscript/"):
            data = (Path(self.directory) / self.path.removeprefix("/superscript/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", "\u00b2")  # str.isdigit() says True; int() refuses it
            self.end_headers()
            self.wfile.write(data)
            return
        elif self.path in ("/short", "/trickle"):
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 20))
            self.end_headers()
            for _ in range(1 if self.path == "/short" else 200):
                self.wfile.write(b"\0" * (64 << 10))
                self.wfile.flush()
                time.sleep(0.05)
            return
        super().do_GET()


    def dribble(self, piece: bytes) -> None:
        """Send piece 100 times, 50 ms apart, until the client gives up."""
        try:
            for _ in range(100):
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass


@pytest.fixture
def served(tmp_path):
    """(folder served over HTTP on 127.0.0.1, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    with local_server(functools.partial(Handler, directory=str(root))) as base:
        yield root, base


def test_a_404_is_a_clear_error_and_leaves_nothing(served, tmp_path):
    _, url = served
    with pytest.raises(CheckpointError, match="the server answered HTTP 404"):
        download(f"{url}/checkpoints.tar.gz", tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


@pytest.mark.parametrize("path, message", [("/hang", r"/hang: (no answer within|the transfer stalled for) 0\.5 s"),
                                           ("/slow-headers", r"/slow-headers: no answer within 0\.5 s")])
def test_a_server_that_does_not_answer_or_sends_its_headers_slowly_times_out(served, tmp_path, path, message):
    _, url = served
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=message):
        download(url + path, tmp_path / "dest", timeout=0.5)
    assert time.perf_counter() - start < 1.9 and fingerprint(tmp_path / "dest") == {}


def test_a_trickle_is_stopped_once_it_averages_less_than_min_rate(served, tmp_path):
    _, url = served
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"/drip: too slow: \d+ bytes in [\d.]+ s; expected at least 1000 "
                                              r"bytes/s on average after the first 0\.3 s"):
        download(f"{url}/drip", tmp_path / "dest", timeout=0.3, min_rate=1000)
    assert time.perf_counter() - start < 1.5 and fingerprint(tmp_path / "dest") == {}


def test_a_redirect_to_another_scheme_is_refused(served, tmp_path):
    _, url = served
    with pytest.raises(CheckpointError, match=r"/redirect-ftp: the server redirected to 'ftp://127\.0\.0\.1:1/"
                                              r"checkpoints\.tar\.gz'; expected an http\(s\) URL"):
        download(f"{url}/redirect-ftp", tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


def test_a_content_length_that_is_not_a_decimal_number_is_ignored(served, tmp_path):
    root, url = served
    (root / "latest_net_G.pth").write_bytes(weights_bytes())
    saved = download(f"{url}/superscript/latest_net_G.pth", tmp_path / "dest")
    assert saved.read_bytes() == (root / "latest_net_G.pth").read_bytes()


def test_a_transfer_that_ends_early_is_a_clear_error(served, tmp_path):
    _, url = served
    with pytest.raises(CheckpointError, match=r"ended after 65536 of 10485760 bytes"):
        download(f"{url}/short", tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


def test_only_http_urls_and_local_files(tmp_path):
    for source in ("file:///etc/passwd", "ftp://127.0.0.1/x.tar.gz"):
        with pytest.raises(CheckpointError, match="expected an http\\(s\\) URL or a local path"):
            download(source, tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


def test_an_html_page_saved_as_weights_is_refused_by_its_url(served, tmp_path):
    root, url = served
    (root / "latest_net_G.pth").write_text("<!DOCTYPE html><html><body><form>Sign in</form></body></html>")
    with pytest.raises(CheckpointError) as refusal:
        download(f"{url}/latest_net_G.pth", tmp_path / "dest")
    assert str(refusal.value).startswith(f"{url}/latest_net_G.pth is neither a tar archive nor a loadable weights "
                                         "file: refused to load; ")
    assert str(refusal.value).endswith("not a file saved by torch.save (it starts with b'<!DOCTYPE html><html><body>"
                                       "<form')")
    assert fingerprint(tmp_path / "dest") == {}


def test_a_json_file_is_refused_by_the_path_given_not_the_temporary_one(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "labels.json").write_text('[{"id": 0, "name": "sky"}]')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as refusal:
        download("data/labels.json", "ck3")
    assert str(refusal.value) == ("data/labels.json is neither a tar archive nor a loadable weights file: refused to "
                                  "load; expected a plain state_dict of tensors readable with weights_only=True (no "
                                  "code from the file runs), but loading failed: not a file saved by torch.save (it "
                                  """starts with b'[{"id": 0, "name": "sky"}]')""")
    assert fingerprint(tmp_path / "ck3") == {}


def test_weights_that_load_but_are_damaged_are_refused_by_the_path_given(tmp_path):
    torch.save({"w": torch.tensor([float("nan")])}, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError) as refusal:
        download(str(tmp_path / "latest_net_G.pth"), tmp_path / "dest")
    assert str(refusal.value) == (f"{tmp_path / 'latest_net_G.pth'} is neither a tar archive nor a loadable weights "
                                  "file: 1 tensor(s) hold NaN or infinite values (w); the weights are damaged")
    assert fingerprint(tmp_path / "dest") == {}


def test_a_weights_file_is_saved_and_an_existing_one_kept_unless_forced(served, tmp_path):
    root, url = served
    (root / "latest_net_G.pth").write_bytes(weights_bytes())
    saved = download(f"{url}/latest_net_G.pth", tmp_path / "dest")
    assert saved == tmp_path / "dest" / "latest_net_G.pth" and load_generator(saved).preset.name == "ade20k"
    saved.write_bytes(b"the user's own file")
    with pytest.raises(CheckpointError, match=r"already exist.*\(pass --force, or overwrite=True in Python, to replace\)"):
        download(f"{url}/latest_net_G.pth", tmp_path / "dest")
    assert saved.read_bytes() == b"the user's own file"
    download(f"{url}/latest_net_G.pth", tmp_path / "dest", overwrite=True)
    assert saved.read_bytes() == (root / "latest_net_G.pth").read_bytes()
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["latest_net_G.pth"]


@pytest.mark.parametrize("sha256", ["abc", "", "0" * 63, "g" * 64, "0" * 65, "sha256:" + "0" * 64])
def test_a_sha256_that_is_not_64_hex_digits_is_refused_before_anything_is_fetched(tmp_path, monkeypatch, sha256):
    monkeypatch.setattr("gaugan.downloads._source", lambda *args: pytest.fail("fetched despite a malformed sha256"))
    with pytest.raises(CheckpointError) as refusal:
        download("https://example.com/checkpoints.tar.gz", tmp_path / "dest", sha256=sha256)
    assert str(refusal.value) == (f"expected a sha256 of 64 hex digits, found {sha256!r} ({len(sha256)} characters); "
                                  "nothing was downloaded")
    assert not (tmp_path / "dest").exists()


def test_a_sha256_is_taken_in_either_case_with_surrounding_whitespace(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"landscape/generator.pth": b"theirs"})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    download(str(archive), tmp_path / "dest", sha256=f" {digest.upper()}\n")
    assert (tmp_path / "dest" / "landscape" / "generator.pth").read_bytes() == b"theirs"
    with pytest.raises(CheckpointError, match=f"checksum mismatch for a.tar.gz: expected sha256 {'0' * 64}, "
                                              f"found {digest}"):
        download(str(archive), tmp_path / "other" / "models", sha256="0" * 64)
    assert not (tmp_path / "other" / "models").exists(), "a destination made for a failed download goes with it"
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        download(str(archive), tmp_path / "dest", sha256="0" * 64)
    assert (tmp_path / "dest" / "landscape" / "generator.pth").read_bytes() == b"theirs", "one that was there stays"


def test_a_truncated_archive_is_a_clear_error(tmp_path):
    archive = make_archive(tmp_path / "checkpoints.tar.gz", {"checkpoints/ade20k_pretrained/latest_net_G.pth": weights_bytes()})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        download(str(archive), tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


@pytest.fixture
def own_model(tmp_path) -> Path:
    """dest/landscape holding the user's own model."""
    folder = tmp_path / "dest" / "landscape"
    folder.mkdir(parents=True)
    (folder / "generator.pth").write_bytes(b"my weights")
    (folder / "model.json").write_text(json.dumps({"mine": True}))
    return folder


def test_an_archive_never_replaces_an_existing_folder_unasked(tmp_path, own_model):
    archive = make_archive(tmp_path / "a.tar.gz", {"landscape/generator.pth": b"theirs", "other/x.pth": b"x"})
    before = fingerprint(tmp_path / "dest")
    with pytest.raises(CheckpointError, match=r"dest/landscape already exist.*nothing was changed"):
        download(str(archive), tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == before


def test_overwrite_replaces_the_folder_whole(tmp_path, own_model):
    archive = make_archive(tmp_path / "a.tar.gz", {"landscape/generator.pth": b"theirs"})
    download(str(archive), tmp_path / "dest", overwrite=True)
    assert fingerprint(tmp_path / "dest") == {"landscape": "dir", "landscape/generator.pth": hashlib.sha256(b"theirs").hexdigest()}


def test_overwrite_never_loses_files_of_the_folders_own_but_its_card(tmp_path, own_model):
    (own_model / "notes.txt").write_text("mine")
    (own_model / "samples").mkdir()
    (own_model / "samples" / "a.png").write_bytes(b"mine too")
    (own_model / "finetuned.pth").write_bytes(b"my other weights")
    before = fingerprint(tmp_path / "dest")
    archive = make_archive(tmp_path / "a.tar.gz", {"landscape/generator.pth": b"theirs"})
    with pytest.raises(CheckpointError, match=r"dest/landscape holds finetuned\.pth, notes\.txt, samples/a\.png, which "
                                              r"its replacement lacks: .*Nothing was changed"):
        download(str(archive), tmp_path / "dest", overwrite=True)
    assert fingerprint(tmp_path / "dest") == before
    again = make_archive(tmp_path / "b.tar.gz", {"landscape/generator.pth": b"theirs", "landscape/notes.txt": b"new",
                                                 "landscape/samples/a.png": b"new", "landscape/finetuned.pth": b"new"})
    download(str(again), tmp_path / "dest", overwrite=True)  # what the archive brings again is replaced
    assert (own_model / "notes.txt").read_bytes() == b"new" and not (own_model / "model.json").exists()


@pytest.mark.parametrize("members, failing", [
    (["landscape"], "landscape"),
    (["landscape", "other"], "other"),  # "landscape" has moved in when "other" fails: it goes back out
    (["landscape", "other"], "landscape"),
])
def test_a_failed_overwrite_keeps_every_old_folder(tmp_path, own_model, monkeypatch, members, failing):
    for name in members[1:]:
        shutil.copytree(own_model, tmp_path / "dest" / name)
    archive = make_archive(tmp_path / "a.tar.gz", {f"{name}/generator.pth": b"theirs" for name in members})
    before = fingerprint(tmp_path / "dest")
    rename = Path.rename

    def fail_one(self, target):
        if self.name == failing and "unpacked" in str(self):
            raise OSError(28, "No space left on device")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", fail_one)
    with pytest.raises(CheckpointError, match=f"could not move {failing} into .*nothing there was changed"):
        download(str(archive), tmp_path / "dest", overwrite=True)
    assert fingerprint(tmp_path / "dest") == before


@pytest.mark.parametrize("kind, target, message", [
    (tarfile.SYMTYPE, "..", "is a link"),
    (tarfile.LNKTYPE, "checkpoints/a/latest_net_G.pth", "is a link"),
    (tarfile.CHRTYPE, "", "is a device or special file"),
    (tarfile.FIFOTYPE, "", "is a device or special file"),
])
def test_links_and_devices_are_refused(tmp_path, kind, target, message):
    archive = make_archive(tmp_path / "evil.tar.gz", {"checkpoints/a/latest_net_G.pth": b"x"}, {"checkpoints/up": (kind, target)})
    with pytest.raises(CheckpointError, match=f"refused: member 'checkpoints/up' {message}"):
        download(str(archive), tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


def test_a_ratio_bomb_is_refused_before_unpacking_in_bounded_time_and_memory(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("checkpoints/bomb/latest_net_G.pth")
        info.size = 256 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 2 << 20  # ~1.1 MB that unpacks to 256 MiB
    script = textwrap.dedent(f"""
        import json, time
        from gaugan import download
        from gaugan.errors import CheckpointError
        status = lambda key: int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1])
        open("/proc/self/clear_refs", "w").write("5")
        base, start = status("VmRSS"), time.perf_counter()
        try:
            download({str(archive)!r}, {str(tmp_path / "dest")!r})
            result = "unpacked"
        except CheckpointError as exc:
            result = str(exc)
        print(json.dumps({{"seconds": time.perf_counter() - start, "extra_mib": (status("VmHWM") - base) / 1024,
                           "result": result}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert "refused: unpacks to more than" in measured["result"] and "20× the archive" in measured["result"], measured
    assert measured["seconds"] < 5 and measured["extra_mib"] < 100, measured
    assert fingerprint(tmp_path / "dest") == {}


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
@pytest.mark.parametrize("after_a_member", [False, True])
def test_an_oversized_extended_tar_header_is_refused_before_it_is_read(tmp_path, kind, after_a_member):
    """A header announcing 3 GB (tarfile would read it whole into memory), first or after a member."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = kind, 3 << 30
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        if after_a_member:
            tar.addfile(tarfile.TarInfo("checkpoints/a/x.pth"))
        tar.fileobj.write(header.tobuf(format=tarfile.USTAR_FORMAT) + bytes(1 << 20))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"bomb\.tar\.gz: refused: an extended tar header of 3221225472 bytes "
                                              r"\(at most 1048576 are read\)"):
        download(str(archive), tmp_path / "dest")
    assert time.perf_counter() - start < 2 and fingerprint(tmp_path / "dest") == {}


def test_a_destination_that_is_a_file_is_refused(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"x/latest_net_G.pth": b"x"})
    (tmp_path / "dest").write_bytes(b"a file")
    with pytest.raises(CheckpointError, match="destination .*dest is a file; expected a folder"):
        download(str(archive), tmp_path / "dest")
    assert (tmp_path / "dest").read_bytes() == b"a file"


def test_the_cli_reports_download_errors_and_takes_force(tmp_path, own_model, capsys):
    archive = make_archive(tmp_path / "a.tar.gz", {"landscape/generator.pth": b"theirs"})
    with pytest.raises(SystemExit, match="error: .*already exist"):
        cli(["download", str(archive), "--dest", str(tmp_path / "dest")])
    cli(["download", str(archive), "--dest", str(tmp_path / "dest"), "--force"])
    assert (own_model / "generator.pth").read_bytes() == b"theirs"
    installed = capsys.readouterr().out.splitlines()
    assert installed[0].startswith("installed landscape: unreadable: ") and len(installed) == 2, installed


def test_the_cli_names_each_model_an_archive_installed_as_listings_show_it(tmp_path, capsys):
    (tmp_path / "dest" / "kept").mkdir(parents=True)
    cli(["download", str(official_archive(tmp_path)), "--dest", str(tmp_path / "dest")])
    assert capsys.readouterr().out.splitlines() == ["installed ade20k_pretrained: SPADE generator",
                                                    f"downloaded into {tmp_path / 'dest'}"]


def test_ctrl_c_during_a_download_leaves_no_temporary_files(served, tmp_path):
    _, url = served
    dest = tmp_path / "dest"
    script = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # even if launched ignoring it
              f"from gaugan import download; download({url + '/trickle'!r}, {str(dest)!r})")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(p.is_file() and p.stat().st_size for p in dest.rglob("*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(p.name.startswith(".download-") for p in dest.iterdir()), "the download never started"
    os.kill(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=30)
    assert "KeyboardInterrupt" in stderr
    assert fingerprint(dest) == {}


@pytest.mark.parametrize("members, found", [
    ({"readme.txt": b"hello"}, "found readme.txt;"),
    ({"checkpoints/readme.txt": b"hello", "checkpoints/docs/notes.md": b"x"}, "found docs/, readme.txt;"),
    ({"checkpoints/coco_pretrained/latest_net_G.txt": b"x"}, "found coco_pretrained/;"),
])
def test_an_archive_that_holds_no_model_is_refused_and_leaves_nothing(tmp_path, members, found):
    archive = make_archive(tmp_path / "notes.tar.gz", members)
    with pytest.raises(CheckpointError) as refusal:
        download(str(archive), tmp_path / "dest")
    assert str(refusal.value).startswith("notes.tar.gz: the archive holds no model: expected checkpoint folders "
                                         "(with model.json or latest_net_G.pth) or weights files (.pth), ")
    assert str(refusal.value).endswith(f"{found} nothing was written")
    assert fingerprint(tmp_path / "dest") == {}


def test_the_cli_refuses_an_archive_that_holds_no_model(tmp_path, capsys):
    archive = make_archive(tmp_path / "notes.tar.gz", {"readme.txt": b"hello"})
    with pytest.raises(SystemExit, match="error: notes.tar.gz: the archive holds no model"):
        cli(["download", str(archive), "--dest", str(tmp_path / "dest")])
    assert "downloaded into" not in capsys.readouterr().out and fingerprint(tmp_path / "dest") == {}


def test_a_file_of_zeros_is_an_empty_archive_and_refused(tmp_path):
    zeros = tmp_path / "checkpoints.tar"
    zeros.write_bytes(bytes(1 << 20))
    with pytest.raises(CheckpointError, match="checkpoints.tar: the archive holds no files"):
        download(str(zeros), tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


def test_an_archive_of_very_many_members_is_refused(tmp_path):
    archive = make_archive(tmp_path / "many.tar.gz", {f"checkpoints/m/{i}": b"" for i in range(10_001)})
    with pytest.raises(CheckpointError, match="refused: more than 10000 members"):
        download(str(archive), tmp_path / "dest")
    assert fingerprint(tmp_path / "dest") == {}


@pytest.mark.parametrize("name", ["replaced", "unpacked", "fetched"])
def test_a_download_named_like_a_work_folder_is_saved(served, tmp_path, name):
    root, url = served
    (root / name).write_bytes(weights_bytes())
    (root / "archive").mkdir()
    official_archive(tmp_path).rename(root / "archive" / name)
    assert download(f"{url}/{name}", tmp_path / "dest") == tmp_path / "dest" / name
    assert download(f"{url}/archive/{name}", tmp_path / "dest") == tmp_path / "dest"
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["ade20k_pretrained", name]


class Counting(QuietFiles):
    """Serves its folder and counts the requests that reach it."""

    requests = 0

    def do_GET(self):
        type(self).requests += 1
        super().do_GET()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_public_only_never_reaches_a_local_address_or_reads_a_local_file(tmp_path, host):
    root = tmp_path / "served"
    root.mkdir()
    (root / "latest_net_G.pth").write_bytes(weights_bytes())
    Counting.requests = 0
    with local_server(functools.partial(Counting, directory=str(root))) as base:
        url = base.replace("127.0.0.1", host) + "/latest_net_G.pth"
        with pytest.raises(CheckpointError, match=rf"{host} is not at a public address"):
            download(url, tmp_path / "dest", public_only=True)
        assert Counting.requests == 0, "nothing was sent to the local server"
        download(url, tmp_path / "dest")  # without public_only (the CLI) it is fetched
        assert Counting.requests == 1
    with pytest.raises(CheckpointError, match=r"expected an http\(s\) address, found .*; files on this computer are "
                                              r"installed with the command: gaugan download PATH"):
        download(str(root / "latest_net_G.pth"), tmp_path / "other", public_only=True)
    assert fingerprint(tmp_path / "other") == {}


def test_public_only_does_not_tell_an_open_local_port_from_a_closed_one(tmp_path):
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    messages = []
    with local_server(QuietFiles) as base:
        for url in (f"{base}/x.pth", f"http://127.0.0.1:{port}/x.pth"):
            with pytest.raises(CheckpointError) as refusal:
                download(url, tmp_path / "dest", public_only=True)
            messages.append(str(refusal.value))
    assert messages == ["127.0.0.1 is not at a public address; only hosts on the internet are fetched here"] * 2


@pytest.mark.parametrize("address, public", [
    ("93.184.215.14", True), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True), ("10.1.2.3", False),
    ("169.254.169.254", False), ("::ffff:127.0.0.1", False), ("64:ff9b::a00:1", False), ("2002:7f00:1::", False),
    ("::7f00:1", False), ("fe80::1%eth0", False),
])
def test_an_address_is_public_only_with_every_ipv4_address_inside_it(address, public):
    from gaugan.downloads import _is_public

    assert _is_public(address) == public


def test_public_only_connects_directly_whatever_proxy_is_set(tmp_path, monkeypatch):
    import socket

    asked = []

    def no_network(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "no network in the test")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a local proxy, which the check would see instead
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(CheckpointError, match="cannot connect"):
        download("http://93.184.215.14/latest_net_G.pth", tmp_path / "dest", public_only=True)
    assert asked == ["93.184.215.14"], "the address itself is looked at, not the proxy's"
