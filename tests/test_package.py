"""Packaging: pyproject.toml mirrors the pinned requirements, and the built wheel works from another directory."""
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(path) -> set[str]:
    """The `name==version` lines of a requirements file (not its -r includes)."""
    lines = (line.strip() for line in (ROOT / path).read_text().splitlines())
    return {line for line in lines if line and not line.startswith(("#", "-r"))}


def test_dependencies_mirror_the_requirement_files():
    project = PYPROJECT["project"]
    assert set(project["dependencies"]) == pins("requirements.txt")
    assert set(project["optional-dependencies"]["test"]) == pins("requirements-test.txt")
    assert set(project["optional-dependencies"]["bench"]) <= pins("requirements-test.txt") | pins("requirements-bench.txt")
    assert set(PYPROJECT["build-system"]["requires"]) <= pins("requirements-test.txt")
    conda = {line.strip()[2:] for line in (ROOT / "environment.yml").read_text().splitlines()
             if line.strip().startswith("- ") and "==" in line}
    assert conda == pins("requirements.txt") | pins("requirements-test.txt") | pins("requirements-bench.txt")


def test_console_script_resolves_to_the_cli(capsys):
    script = EntryPoint(name="gaugan", group="console_scripts", value=PYPROJECT["project"]["scripts"]["gaugan"])
    with pytest.raises(SystemExit) as exited:
        script.load()(["--help"])
    assert exited.value.code == 0 and "generate" in capsys.readouterr().out


@pytest.mark.slow
def test_wheel_runs_generate_from_another_directory_without_a_checkpoint(tmp_path):
    source = tmp_path / "source"  # a copy, so that building leaves the checkout untouched
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "label_colors.py"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "gaugan", source / "gaugan", ignore=shutil.ignore_patterns("__pycache__"))
    for model in ("landscape", "landscape-sketch-reader", "segmenter"):
        shutil.copytree(ROOT / "checkpoints" / model, source / "checkpoints" / model)
    shutil.copy(ROOT / "checkpoints" / "LICENSE.md", source / "checkpoints" / "LICENSE.md")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("gaugan-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "gaugan" / "_shipped" / "landscape" / "generator.pth").is_file()
    for data in ("texture_boxes.json", "photo_classes.json"):  # read by `data traced` and the texture bank
        assert (site / "gaugan" / "data" / data).is_file(), data
    (licences,) = site.glob("gaugan-*.dist-info/licenses")
    assert (licences / "LICENSE").read_text().startswith("MIT License")
    assert "CC BY-SA 4.0" in (licences / "checkpoints" / "LICENSE.md").read_text()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    doodle = np.zeros((48, 64), np.uint8)
    doodle[30:] = 2  # mountain under the sky
    Image.fromarray(doodle).save(elsewhere / "doodle.png")
    run_console_script = ("import sys; from importlib.metadata import entry_points; "
                          "import gaugan, label_colors; print(gaugan.__file__, label_colors.__file__); "
                          "sys.exit(entry_points(group='console_scripts', name='gaugan')['gaugan'].load()())")
    result = subprocess.run([sys.executable, "-c", run_console_script, "generate", "--labels", "doodle.png",
                             "--out", "photo.png"], cwd=elsewhere, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[:2] == [str(site / "gaugan" / "__init__.py"), str(site / "label_colors.py")]
    assert Image.open(elsewhere / "photo.png").size == (64, 48)
    sketch = np.full((48, 64), 255, np.uint8)
    sketch[20, :] = 0  # a horizon
    Image.fromarray(sketch).save(elsewhere / "sketch.png")
    result = subprocess.run([sys.executable, "-c", run_console_script, "generate", "--checkpoint",
                             "landscape-sketch-reader", "--sketch", "sketch.png", "--out", "sketch_photo.png"],
                            cwd=elsewhere, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(elsewhere / "sketch_photo.png").size == (64, 48), "the reader finds its shipped painter"
    listed = subprocess.run([sys.executable, "-c", run_console_script, "models"], cwd=elsewhere, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(site)})
    line = listed.stdout.splitlines()[1].split()
    assert listed.returncode == 0 and line[:2] + line[-1:] == [
        "landscape", "spade", str(site / "gaugan" / "_shipped" / "landscape")], listed.stdout
