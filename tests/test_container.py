"""The Docker image / Hugging Face Space: what the Dockerfile copies and runs exists and is not docker-ignored,
the LFS and Streamlit settings a Space needs, and the opt-in fetch of NVIDIA's checkpoints at start."""
import fnmatch
import hashlib
import io
import json
import re
import shlex
import tarfile
import tomllib

import pytest

from helpers import ROOT

from gaugan.space import SHA256_VARIABLE, URL_VARIABLE, fetch_nvidia_checkpoints, main as space_main


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def paths_the_image_needs() -> set[str]:
    """Files named by COPY, and the scripts, requirement files and `python -m` modules the commands run."""
    needed = set()
    for instruction, argument in dockerfile_instructions():
        command = " ".join(json.loads(argument)) if argument.startswith("[") else argument  # exec or shell form
        words = [word.strip(";&|") for word in shlex.split(command)]
        if instruction == "COPY":
            needed |= {w for w in words[:-1] if not w.startswith("--") and w != "."}
        for i, word in enumerate(words):
            if word.endswith((".py", ".txt", ".toml")) and not word.startswith(("http", "-")):
                needed.add(word)
            if i >= 2 and words[i - 1] == "-m" and words[i - 2].startswith("python"):
                needed.add(word.replace(".", "/") + ".py")
    return needed


def docker_ignored(path: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"]
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, p) or fnmatch.fnmatch(prefix, p.removeprefix("**/"))
               for p in patterns for prefix in prefixes)


def test_every_path_the_dockerfile_copies_or_runs_exists_and_reaches_the_image():
    needed = paths_the_image_needs()
    assert {"requirements.txt", "streamlit_app/app.py", "gaugan/space.py"} <= needed
    runtime = needed | {"checkpoints/landscape/generator.pth", "checkpoints/landscape/model.json",
                        "label_colors.py", ".streamlit/config.toml"}
    for path in sorted(runtime):
        assert (ROOT / path).exists(), f"the Dockerfile needs {path}"
        if path != "requirements.txt":  # copied before the ignore-filtered `COPY . .`, so checked alike
            assert not docker_ignored(path), f".dockerignore leaves {path} out of the image"
    for left_out in ("tests/test_container.py", "bench/page.py", "training/landscape_state.pt",
                     "checkpoints/coco_pretrained/latest_net_G.pth", ".git/HEAD"):
        assert docker_ignored(left_out), left_out


def test_binaries_go_through_lfs_and_uploads_work_in_the_spaces_iframe():
    attributes = (ROOT / ".gitattributes").read_text()
    for pattern in ("*.pth", "*.pt", "docs/**/*.png", "checkpoints/**/*.png"):
        assert f"{pattern} filter=lfs diff=lfs merge=lfs -text" in attributes
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is False


def nvidia_like_archive(path):
    """A tar.gz laid out like NVIDIA's checkpoints.tar.gz (contents are not weights: only unpacking is tested)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"weights"
        member = tarfile.TarInfo("checkpoints/coco_pretrained/latest_net_G.pth")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path, hashlib.sha256(buffer.getvalue()).hexdigest()


def space_card() -> dict[str, str]:
    """The README's front matter (flat `key: value` lines between the two `---`), which configures the Space."""
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "the README must open with the Space's front matter"
    block = text[4:text.index("\n---\n", 4)]
    return dict(line.split(": ", 1) for line in block.splitlines())


def test_the_space_card_is_one_the_hub_accepts_and_serves_the_dockerfile_port():
    card = space_card()
    assert card["sdk"] == "docker"
    assert ("EXPOSE", card["app_port"]) in dockerfile_instructions()
    assert len(card["short_description"]) <= 60, "the Hub refuses a short_description over 60 characters"
    assert card["title"] and card["emoji"]


def test_nvidia_checkpoints_are_fetched_only_when_asked_and_verified(tmp_path):
    archive, digest = nvidia_like_archive(tmp_path / "checkpoints.tar.gz")
    assert fetch_nvidia_checkpoints({}, tmp_path / "dest") is None
    with pytest.raises(ValueError, match=f"{SHA256_VARIABLE} is not"):
        fetch_nvidia_checkpoints({URL_VARIABLE: str(archive)}, tmp_path / "dest")
    dest = fetch_nvidia_checkpoints({URL_VARIABLE: str(archive), SHA256_VARIABLE: digest}, tmp_path / "dest")
    assert (dest / "coco_pretrained" / "latest_net_G.pth").read_bytes() == b"weights"


def test_a_failed_fetch_still_lets_the_page_start(tmp_path, monkeypatch, capsys):
    archive, _ = nvidia_like_archive(tmp_path / "checkpoints.tar.gz")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(URL_VARIABLE, str(archive))
    monkeypatch.setenv(SHA256_VARIABLE, "0" * 64)
    space_main()
    assert "were not fetched: checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints" / "coco_pretrained").exists()
