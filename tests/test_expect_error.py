"""lrnotes.notebook.expect_error and its cell magic: a slide's failure shown without raising,
and a slide that stops failing stops the chapter."""

from __future__ import annotations

import sys

import pytest

from lrnotes.notebook import expect_error

SLIDE = "import math\nx = [1, 2]\n\ny = x.size()\n"


def test_prints_the_codes_own_line_and_the_error_and_returns_it(capsys):
    namespace: dict = {}
    error = expect_error(SLIDE, AttributeError, match="no attribute 'size'",
                         namespace=namespace, name="slide")
    assert isinstance(error, AttributeError)
    assert namespace["x"] == [1, 2]  # what the code defined before it failed stays defined
    err = capsys.readouterr().err.splitlines()
    assert err == ["Traceback (most recent call last; the slide's own lines only):",
                   "  line 4, in <module>", "    y = x.size()",
                   "AttributeError: 'list' object has no attribute 'size'"]


def test_only_the_codes_own_frames_are_shown_without_paths(capsys):
    code = "import json\ndef f():\n    return [json.loads(s) for s in '{']\nf()\n"
    expect_error(code, ValueError, namespace={}, first_line=3)
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("  line")] == [
        "  line 6, in <module>", "  line 5, in f"]  # none of the json package's frames
    assert not any("/" in line for line in err)  # no file of the machine


def test_raises_when_the_code_does_not_fail():
    namespace: dict = {}
    with pytest.raises(AssertionError, match="expected to raise AttributeError.*ran to its end"):
        expect_error("y = [1].copy()", AttributeError, namespace=namespace)
    assert namespace["y"] == [1]


def test_raises_when_another_error_happens():
    with pytest.raises(AssertionError, match="raised NameError") as info:
        expect_error("undefined_name", AttributeError, namespace={})
    assert isinstance(info.value.__cause__, NameError)


def test_raises_when_the_message_does_not_match():
    with pytest.raises(AssertionError, match="does not match"):
        expect_error(SLIDE, AttributeError, match="no attribute 'shape'", namespace={})


def test_a_callable(capsys):
    def slide():
        return {}["missing"]

    assert isinstance(expect_error(slide, KeyError), KeyError)
    err = capsys.readouterr().err
    assert 'return {}["missing"]' in err and err.rstrip().endswith("KeyError: 'missing'")
    with pytest.raises(AssertionError, match="ran to its end"):
        expect_error(lambda: None, KeyError)


@pytest.mark.parametrize("kwargs, match", [
    ({"code": "1", "exception": "ValueError"}, "exception"),
    ({"code": "1", "exception": int}, "exception"),
    ({"code": 1, "exception": ValueError}, "code"),
    ({"code": "1", "exception": ValueError, "match": 1}, "match"),
    ({"code": "1", "exception": ValueError, "first_line": 0}, "first_line"),
])
def test_bad_arguments_name_the_argument_and_run_nothing(kwargs, match):
    namespace: dict = {}
    with pytest.raises((TypeError, ValueError), match=match):
        expect_error(**{"namespace": namespace, **kwargs})
    assert namespace == {}


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext lrnotes.notebook")
    yield shell
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)


def test_the_cell_magic_lets_the_cell_succeed_and_keeps_the_error(shell, capsys):
    result = shell.run_cell('%%expect_error AttributeError --match "has no attribute"\n' + SLIDE)
    assert result.success, result.error_in_exec
    assert shell.user_ns["x"] == [1, 2]
    assert isinstance(sys.last_value, AttributeError)
    err = capsys.readouterr().err
    assert "  line 5, in <module>\n    y = x.size()" in err  # numbered as the cell shows it


def test_the_cell_magic_fails_the_cell_when_the_code_does_not_fail(shell):
    result = shell.run_cell("%%expect_error AttributeError\nz = 1\n")
    assert not result.success
    assert isinstance(result.error_in_exec, AssertionError)
    bad = shell.run_cell("%%expect_error AttributeError --mat x\nz = 1\n")
    assert isinstance(bad.error_in_exec, ValueError)


def test_a_long_line_of_the_code_wraps_at_spaces(capsys):
    long = "y = " + " + ".join(["undefined_value"] * 10)
    expect_error(long, NameError, namespace={})
    err = capsys.readouterr().err.splitlines()
    assert all(len(line) <= 76 for line in err[:-1])
    assert " ".join(line.strip() for line in err[2:-1]) == long
