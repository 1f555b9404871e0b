"""The book builds with warnings as errors, and its pages carry what readers need."""

import json
import re

import pytest
import yaml
from notebooks import ROOT, STAMP_NAME, StaleBuildError, chapters, executed_glue, source_digest

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def test_book_builds_with_every_chapter_rendered(built_book):
    assert (built_book / "index.html").exists()
    for nb in chapters():
        page = built_book / "book" / f"{nb.stem}.html"
        assert page.exists(), f"{page} was not rendered"


def test_chapter_pages_have_figures_and_a_colab_link(built_book):
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    for nb in chapters():
        html = (built_book / "book" / f"{nb.stem}.html").read_text()
        assert re.search(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', html), f"{nb.stem}: no figure"
        colab = f"https://colab.research.google.com/github/{repo}/blob/main/book/{nb.name}"
        assert colab in html, f"{nb.stem}: no Colab launch link"


def test_glued_numbers_are_pasted_into_the_prose(built_book):
    html = (built_book / "book" / "01_learning_rate_control.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    assert "{glue:}" not in text and "glue:" not in text


def test_api_page_documents_the_package(built_book):
    html = (built_book / "book" / "api.html").read_text()
    for name in ("lrnotes.env.setup", "lrnotes.schedules", "lrnotes.finder.lr_find"):
        assert name in html, f"the API page does not document {name}"


def test_bibliography_is_rendered(built_book):
    html = (built_book / "book" / "references.html").read_text()
    assert "cyclical learning rates for training neural networks" in html.lower()


def _fake_build(root):
    """A repository with one module and one chapter, and a build that glued one value."""
    (root / "lrnotes").mkdir()
    (root / "lrnotes" / "schedules.py").write_text("RATE = 0.1\n")
    (root / "book").mkdir()
    (root / "book" / "01_x.ipynb").write_text("{}")
    (root / "_config.yml").write_text("title: x\n")
    executed = root / "_build" / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    output = {"output_type": "display_data", "data": {"text/plain": "0.1"},
              "metadata": {"scrapbook": {"name": "rate"}, "lrnotes": {"value": 0.1}}}
    (executed / "01_x.glue.json").write_text(json.dumps({"rate": output}))
    (root / "_build" / STAMP_NAME).write_text(json.dumps(source_digest(root)))


def test_claims_read_a_build_only_if_it_ran_on_the_code_as_it_is(tmp_path):
    _fake_build(tmp_path)
    assert executed_glue("01_x", root=tmp_path) == {"rate": 0.1}
    # a change in lrnotes/ alone (the chapters' pages unchanged) makes the build stale
    (tmp_path / "lrnotes" / "schedules.py").write_text("RATE = 0.2\n")
    with pytest.raises(StaleBuildError, match="lrnotes/schedules.py"):
        executed_glue("01_x", root=tmp_path)


@pytest.mark.parametrize("change", ["new module", "chapter", "config", "no stamp"])
def test_any_change_the_chapters_depend_on_makes_the_build_stale(tmp_path, change):
    _fake_build(tmp_path)
    if change == "new module":
        (tmp_path / "lrnotes" / "extra.py").write_text("")
    elif change == "chapter":
        (tmp_path / "book" / "01_x.ipynb").write_text('{"cells": []}')
    elif change == "config":
        (tmp_path / "_config.yml").write_text("title: y\n")
    else:
        (tmp_path / "_build" / STAMP_NAME).unlink()
    with pytest.raises(StaleBuildError):
        executed_glue("01_x", root=tmp_path)


def test_source_digest_covers_the_package_and_the_book_not_caches():
    digest = source_digest()
    assert "lrnotes/__init__.py" in digest and "book/references.bib" in digest
    assert "version:torch" in digest
    assert not [k for k in digest if "__pycache__" in k or "/runs/" in k]


def test_what_a_chapter_leaves_beside_it_does_not_make_the_build_stale(tmp_path):
    _fake_build(tmp_path)
    (tmp_path / "book" / "runs").mkdir()
    (tmp_path / "book" / "runs" / "events.out.tfevents").write_bytes(b"x")
    (tmp_path / "book" / "checkpoint.pt").write_bytes(b"x")
    assert executed_glue("01_x", root=tmp_path) == {"rate": 0.1}


def test_the_build_for_tests_starts_clean(monkeypatch, tmp_path):
    import notebooks

    _fake_build(tmp_path)
    calls = []

    class FakeBuild:  # what Popen returns: the build runs in the background
        def __init__(self, cmd, stdout, stderr, **kwargs):
            calls.append(cmd)
            # what Sphinx would find when it starts: no executed notebook left from before
            assert not (tmp_path / "_build" / "jupyter_execute").exists()
            assert not (tmp_path / "_build" / STAMP_NAME).exists()
            self.args, self.returncode = cmd, None
            stdout.write(b"built")

        def wait(self, timeout=None):
            self.returncode = 0
            return 0

        def poll(self):
            return self.returncode

    monkeypatch.setattr(notebooks.subprocess, "Popen", FakeBuild)
    monkeypatch.setattr(notebooks, "source_digest", lambda root: {"x": "1"})
    build = notebooks.start_build(root=tmp_path)
    assert not (tmp_path / "_build" / STAMP_NAME).exists()  # stamped only once it succeeded
    result = build.result()
    assert result.returncode == 0 and result.stdout == "built"
    assert "--all" in calls[0] and "-W" in calls[0]
    assert json.loads((tmp_path / "_build" / STAMP_NAME).read_text()) == {"x": "1"}
