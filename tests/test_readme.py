"""README: its Python snippet runs as written, its test command is the one CI runs, its links resolve."""
import re

from PIL import Image

from helpers import ROOT

README = (ROOT / "README.md").read_text()


def test_python_snippet_runs_as_written(tmp_path, monkeypatch):
    (snippet,) = re.findall(r"```python\n(.*?)```", README, re.S)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert Image.open(tmp_path / "photo.png").size == (384, 256)
    assert namespace["restyled"].size == (384, 256)


def test_test_command_is_what_ci_runs():
    readme_command = re.search(r"```bash\n(apt-get .*python -m pytest)\n```", README).group(1)
    ci_command = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("apt-get"))
    assert re.sub(r" -q+\b", "", ci_command) == readme_command


def test_local_links_and_images_exist():
    targets = re.findall(r"\]\(((?:docs/)[^)#]+)\)", README)
    assert targets, "the README links its docs"
    for doc in [ROOT / t for t in targets] + sorted((ROOT / "docs").glob("*.md")):
        assert doc.exists(), doc
        if doc.suffix == ".md":
            for link in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
                assert (doc.parent / link).exists(), f"{doc.name} links {link}"
