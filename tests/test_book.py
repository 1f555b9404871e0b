"""The book builds with warnings as errors, and its pages carry what readers need."""

import re

import yaml
from notebooks import ROOT, chapters

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
