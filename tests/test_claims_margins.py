"""scripts/claims_margins.py: running claim tests on glued values, and the margins table."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
from margins import above, below, close, holds

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("claims_margins",
                                               ROOT / "scripts" / "claims_margins.py")
cm = importlib.util.module_from_spec(_spec)
sys.modules["claims_margins"] = cm
_spec.loader.exec_module(cm)


def _test_spike(c):
    above(c["none"], 100 * c["clipped"], "unclipped / 100x clipped")
    below(c["clipped"], 2.0, "clipped / 2")


def _test_exact(c):
    close(c["bound"], 0.2, "bound", rel=1e-6)
    holds(c["flag"], "flag set")


def _test_bare(c):
    assert c["none"] > 0


def _test_broken(c):
    return c["missing"]


def _test_skips(c):
    pytest.skip("needs a GPU")


TESTS = [("test_spike", _test_spike), ("test_exact", _test_exact), ("test_bare", _test_bare),
         ("test_broken", _test_broken), ("test_skips", _test_skips)]


def _variant(seed, threads, **values):
    base = {"none": 1000.0, "clipped": 1.0, "bound": 0.2, "flag": True}
    base.update(values)
    return dict(seed=seed, threads=threads, seconds=1.0, status="ok",
                **cm.run_claims(TESTS, base))


def _chapter(*variants):
    return {"chapter": "06_x", "variants": list(variants)}


def _claim(summary, test, what):
    (found,) = [s for s in summary if s["test"] == test and s["what"] == what]
    return found


def test_run_claims_records_failures_instead_of_raising():
    result = cm.run_claims(TESTS, {"none": 50.0, "clipped": 1.0, "bound": 0.2, "flag": False})
    assert result["tests"]["test_spike"]["outcome"] == "failed"
    assert result["tests"]["test_exact"]["outcome"] == "failed"
    assert result["tests"]["test_bare"]["outcome"] == "passed"
    assert result["tests"]["test_broken"]["outcome"] == "error"
    assert "KeyError" in result["tests"]["test_broken"]["message"]
    assert result["tests"]["test_skips"]["outcome"] == "skipped"
    spike = [r for r in result["claims"] if r["test"] == "test_spike"]
    # the failing claim is recorded with its margin, and the test stops there
    assert [(r["what"], r["ok"]) for r in spike] == [("unclipped / 100x clipped", False)]
    assert spike[0]["margin"] == pytest.approx(0.5)


def test_a_failing_bare_assert_names_its_line():
    result = cm.run_claims(TESTS, {"none": -1.0, "clipped": 1.0, "bound": 0.2, "flag": True})
    (row,) = [r for r in result["claims"] if r["test"] == "test_bare"]
    assert (row["what"], row["ok"]) == ("(bare assert)", False)
    assert 'assert c["none"] > 0' in row["message"]


def test_worst_margin_is_the_smallest_over_variants_and_names_it():
    summary = cm.summarise(_chapter(_variant(0, 1, none=1000.0), _variant(0, 2, none=300.0),
                                    _variant(1, 1, none=500.0)))
    spike = _claim(summary, "test_spike", "unclipped / 100x clipped")
    assert spike["worst"]["ratio"]["margin"] == pytest.approx(3.0)
    assert spike["worst"]["ratio"]["variant"] == "s0/t2"
    assert spike["failures"] == [] and spike["checked"] == 3 and spike["not_reached"] == []
    clipped = _claim(summary, "test_spike", "clipped / 2")
    assert clipped["worst"]["ratio"]["margin"] == pytest.approx(2.0)


def test_failures_list_every_failing_variant_and_unreached_claims():
    summary = cm.summarise(_chapter(_variant(0, 1), _variant(0, 2, none=50.0),
                                    _variant(1, 1, none=80.0)))
    spike = _claim(summary, "test_spike", "unclipped / 100x clipped")
    assert [f["variant"] for f in spike["failures"]] == ["s0/t2", "s1/t1"]
    assert spike["worst"]["ratio"] == {"margin": pytest.approx(0.5), "variant": "s0/t2"}
    # the test stopped at the first assertion in the failing variants
    assert _claim(summary, "test_spike", "clipped / 2")["not_reached"] == ["s0/t2", "s1/t1"]


def test_exact_and_yes_no_claims_and_differences():
    summary = cm.summarise(_chapter(_variant(0, 1), _variant(1, 1, bound=0.2 + 1e-8)))
    bound = _claim(summary, "test_exact", "bound")
    assert bound["worst"]["ratio"]["variant"] == "s1/t1"
    assert bound["worst"]["ratio"]["margin"] == pytest.approx(0.2e-6 / 1e-8, rel=1e-3)
    assert _claim(summary, "test_exact", "flag set")["worst"] == {}
    # a negative value gives a signed difference, kept apart from the ratios
    summary = cm.summarise(_chapter(_variant(0, 1), _variant(1, 1, clipped=-1.0)))
    clipped = _claim(summary, "test_spike", "clipped / 2")
    assert clipped["worst"]["diff"] == {"margin": pytest.approx(3.0), "variant": "s1/t1"}
    assert clipped["worst"]["ratio"]["margin"] == pytest.approx(2.0)


def test_markdown_table_shows_worst_margin_variant_and_failures(tmp_path):
    chapter = _chapter(_variant(0, 1), _variant(0, 2, none=50.0),
                       {"seed": 1, "threads": 1, "seconds": 3.0, "status": "error",
                        "error": "RuntimeError: boom"})
    chapter["seed_parameter"] = False
    out = tmp_path / "cm"
    out.mkdir()
    (out / "06_x.json").write_text(json.dumps(chapter))
    text = cm.write_table(out, tmp_path / "table.md").read_text()
    assert "## 06_x" in text
    assert "| `test_spike` | unclipped / 100x clipped | ×0.5 | s0/t2 | s0/t2 |" in text
    assert "| `test_spike` | clipped / 2 | ×2 | s0/t1 | none; not reached in s0/t2 |" in text
    assert "| `test_exact` | bound | exact |" in text
    assert "| `test_bare` | (bare assert) | — |  | none |" in text
    assert "| `test_broken` | (error) | — |  | s0/t1, s0/t2: KeyError: 'missing' |" in text
    assert "**Run s1/t1 failed:** RuntimeError: boom" in text
    assert "no `SEED`" in text


def test_format_margin():
    assert cm.format_margin("ratio", 1.23456) == "×1.23"
    assert cm.format_margin("diff", -0.5) == "-0.5"
    assert cm.format_margin("ratio", "inf") == "exact"
    assert cm.format_margin("", None) == "—"
    assert cm._encode(math.inf) == "inf" and cm._encode(math.nan) is None


def test_claim_tests_take_only_functions_of_c():
    import types

    module = types.ModuleType("fake_tests")
    exec("def test_a(c): pass\ndef test_b(c, tmp_path): pass\ndef helper(c): pass\n",
         module.__dict__)
    for fn in (module.test_a, module.test_b, module.helper):
        fn.__module__ = "fake_tests"
    usable, other = cm.claim_tests(module)
    assert [name for name, _ in usable] == ["test_a"] and other == ["test_b"]


def test_find_chapter_accepts_numbers_and_names():
    assert cm.find_chapter("1").stem.startswith("01_")
    assert cm.find_chapter("06").stem.startswith("06_")
    assert cm.test_module_path(cm.find_chapter("06")).name == "test_ch06.py"
    assert cm.test_module_path(cm.find_chapter("guide")).name == "test_guide.py"
    with pytest.raises(ValueError, match="chapters"):
        cm.find_chapter("99")
