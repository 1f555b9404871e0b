"""The repository's promises that are not code: every chapter is in the toc and starts the
same way, the conda environment installs what pyproject.toml declares, no heavy outputs."""

from __future__ import annotations

import re

import nbformat
import pytest
import tomllib
import yaml
from notebooks import BOOK, ROOT, chapters

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def toc_files() -> list[str]:
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [entry["file"] for entry in part["chapters"]]
    return files


def test_toc_lists_every_notebook_and_nothing_missing():
    listed = toc_files()
    assert len(listed) == len(set(listed)), "a file is listed twice in _toc.yml"
    notebooks_on_disk = {f"book/{p.stem}" for p in BOOK.glob("*.ipynb")}
    assert notebooks_on_disk <= set(listed), f"not in _toc.yml: {notebooks_on_disk - set(listed)}"
    for entry in listed:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".ipynb", ".md")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_chapters_are_numbered_from_one_without_gaps():
    numbers = [int(p.name[:2]) for p in chapters()]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_opens_with_colab_setup_and_parameters(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 3
    colab, setup, params = code[:3]
    assert "google.colab" in colab.source, "first code cell must be the Colab install cell"
    assert f"git+{REPO_URL}" in colab.source, "the Colab cell must install from _config.yml's url"
    assert "-U" not in colab.source.split() and "--upgrade" not in colab.source
    assert not re.search(r"\b(torch|numpy)\s*[=<>~]=", colab.source), "no torch/numpy pins"
    assert re.search(r"lrnotes\.setup\(seed=\d+", setup.source), "second code cell: lrnotes.setup"
    assert "parameters" in params.metadata.get("tags", []), "third code cell: tagged parameters"
    assert "PROFILE" in params.source, "the parameters cell sets PROFILE (quick or full)"


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_no_committed_outputs(path):
    assert path.stat().st_size < 300_000
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "# NBVAL_CHECK_OUTPUT" in cell.source:  # a small printed table that nbval compares
            assert all(o.output_type == "stream" for o in cell.outputs)
            assert sum(len(o.text) for o in cell.outputs) < 5_000
        else:
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: commit notebooks without outputs; the build executes them")


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_opens_with_a_title_and_cites_the_bibliography(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), re.M))
    cited = set(re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text))
    cited = {k.strip() for group in cited for k in group.split(",")}
    assert cited <= keys, f"cited but not in references.bib: {cited - keys}"


def _requirement_names(reqs: list[str]) -> dict[str, str]:
    return {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower(): r.replace(" ", "") for r in reqs}


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in ("data", "book", "test", "bench"):
        declared += project["optional-dependencies"][extra]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
    in_env = _requirement_names([r for r in pip_section if r != "-e ."])
    assert in_env == _requirement_names(declared)
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(map(int, minimum.split(".")))


def test_no_exact_pins_of_torch_or_numpy():
    text = (ROOT / "pyproject.toml").read_text() + (ROOT / "environment.yml").read_text()
    assert not re.search(r"\b(torch|numpy|torchvision)\s*==", text)
