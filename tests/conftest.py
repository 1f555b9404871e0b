"""Shared fixtures. The book is built once per session, from scratch; the chapter tests read
the values each chapter computed in that build. ``LRNOTES_CLAIMS=papermill`` executes only
the chapters a test asks for (quicker while writing one chapter); ``LRNOTES_CLAIMS=built``
reads the last build in ``_build/`` without building again, and fails if ``lrnotes/``,
``book/`` or the configuration changed since that build (``notebooks.check_fresh``).

Markers, applied here so that no test can forget them: ``book`` on every test that needs the
built book (``built_book``, and the claim tests, which read it); ``notebooks`` on every test
that executes chapters (the claim tests, every test of a module that names a chapter in
``CH``, nbval's cells). The fast tests:
``bash scripts/test.sh -m "not book and not notebooks"``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import notebooks  # noqa: E402

os.environ.setdefault("TQDM_DISABLE", "1")


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if item.path.suffix == ".ipynb":  # an nbval cell
            item.add_marker(pytest.mark.notebooks)
        if "papermill_run" in names:
            item.add_marker(pytest.mark.notebooks)
        if names & {"c", "claims"}:
            item.add_marker(pytest.mark.notebooks)
            item.add_marker(pytest.mark.book)
        elif hasattr(getattr(item, "module", None), "CH"):  # a chapter's module runs it
            item.add_marker(pytest.mark.notebooks)
        if "built_book" in names:
            item.add_marker(pytest.mark.book)


def pytest_collection_finish(session):
    """After ``-k``/``-m`` deselected what they deselect: only a session that keeps a test
    reading the build starts it."""
    _start_the_build_early(session.config, session.items)


# The book build executes every chapter on one core (OMP_NUM_THREADS=1) while the rest of the
# suite waits for nothing from it: started in the background at the end of collection, it
# runs beside the unit tests, nbval and the papermill runs (on another core), and the tests
# that read it run last. On the 2-core CI machine this takes the build (about 330 s) off the
# critical path. The chapters never share a file between two runs (each writes under its own
# temporary folder), so two executions of one chapter at the same time do not collide.
_BACKGROUND: dict[str, notebooks.Build] = {}


def _start_the_build_early(config, items) -> None:
    if config.option.collectonly or os.environ.get("LRNOTES_CLAIMS") == "built":
        return
    claims_read_the_build = os.environ.get("LRNOTES_CLAIMS", "build") == "build"

    def reads_the_build(item) -> bool:
        names = set(getattr(item, "fixturenames", ()))
        return "built_book" in names or (claims_read_the_build and bool(names & {"c", "claims"}))

    needs = [item for item in items if reads_the_build(item)]
    if not needs:
        return
    items[:] = [item for item in items if not reads_the_build(item)] + needs  # stable
    _BACKGROUND["build"] = notebooks.start_build()


def pytest_sessionfinish(session, exitstatus):
    build = _BACKGROUND.pop("build", None)
    if build is not None:
        build.stop()  # a session that ended before any test read the build (-x, Ctrl-C)


@pytest.fixture(scope="session")
def built_book():
    """Build the book once (warnings as errors; started in the background at collection,
    see ``_start_the_build_early``); fail with the build's own log.
    ``LRNOTES_CLAIMS=built``: the last build, refused if it is stale (``check_fresh``)."""
    if os.environ.get("LRNOTES_CLAIMS") == "built":
        notebooks.check_fresh()
        return notebooks.BUILD / "html"
    background = _BACKGROUND.get("build")
    result = background.result() if background is not None else notebooks.build_book()
    log = result.stdout[-6000:] + "\n" + result.stderr[-6000:]
    if result.returncode != 0:
        pytest.fail(f"jupyter-book build failed (exit {result.returncode}):\n{log}")
    return notebooks.BUILD / "html"


@pytest.fixture(scope="session")
def papermill_run(tmp_path_factory):
    """``papermill_run("05_warmup")`` -> the notebook as plain papermill executed it, once per
    session (the claims in ``LRNOTES_CLAIMS=papermill`` mode and tests/test_runners.py share
    it)."""
    cache: dict[str, nbformat.NotebookNode] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = notebooks.execute_chapter(f"{name}.ipynb", tmp_path_factory.mktemp(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def claims(request):
    """``claims("05_warmup")`` -> the dict of values chapter 05 glued."""
    cache: dict[str, dict] = {}
    mode = os.environ.get("LRNOTES_CLAIMS", "build")
    use_papermill = mode == "papermill"
    if mode == "build":
        request.getfixturevalue("built_book")
    run = request.getfixturevalue("papermill_run") if use_papermill else None

    def get(name: str) -> dict:
        if name not in cache:
            if use_papermill:
                cache[name] = notebooks.read_glue(run(name))
            else:
                cache[name] = notebooks.executed_glue(name)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def c(request, claims):
    """The values glued by the chapter that the test module names in ``CH``."""
    return claims(request.module.CH)
