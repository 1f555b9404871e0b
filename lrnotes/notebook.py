"""Helpers for the book's notebooks: glue computed numbers into the prose.

``glue`` writes the same output that myst-nb's ``glue`` writes (the
``application/papermill.record/`` mimetype with ``scrapbook`` metadata), so the
rendered book can paste the value with ``{glue:}`name``` and the notebook tests can
read it back, without making myst-nb a dependency of a chapter run in Colab.

``expect_error`` (and the cell magic ``%%expect_error``, after ``%load_ext lrnotes.notebook``)
runs a slide's code that fails on purpose: it shows the error, does not raise, and raises
when the slide stops failing.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any

GLUE_PREFIX = "application/papermill.record/"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def words(items: Any, last: str = "and") -> str:
    """A list as prose: ``[0, 1, 2]`` -> ``"0, 1 and 2"``; strings keep no quotes.

    Example::

        glue("classes", [0, 1, 2, 3, 4], words)   # pastes "0, 1, 2, 3 and 4"
        words(["features", "classifier"])        # 'features and classifier'
    """
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"items must be a list or another iterable, got {items!r}")
    shown = [str(item) for item in items]
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} {last} {shown[-1]}"


def glue(name: str, value: Any, fmt: str | Callable[[Any], str] | None = None,
         display: bool = False) -> Any:
    """Record ``value`` under ``name`` for the prose and for the notebook tests.

    The text pasted into the page is ``fmt.format(value)``, ``fmt(value)`` when ``fmt`` is a
    function (such as :func:`words`), or ``str(value)``; the
    exact value travels in the output's metadata, where ``tests/notebooks.py`` reads it.
    Outside IPython (a plain script) it prints ``name: text`` instead. Returns ``value``,
    so a cell can glue and use a number in one line.

    Example::

        final_loss = glue("final_loss", history.epochs["val_loss"][-1], "{:.3f}")
        # in a markdown cell: the validation loss ends at {glue:}`final_loss`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if fmt is None:
        text = str(value)
    elif callable(fmt):
        text = fmt(value)
        if not isinstance(text, str):
            raise TypeError(f"fmt({value!r}) must return a str, got {type(text).__name__}")
    else:
        text = fmt.format(value)
    json.dumps(_jsonable(value))  # fail here, not in the test, if it cannot be stored
    try:
        from IPython import get_ipython
        from IPython.display import display as ipy_display
    except ImportError:  # plain python without IPython: nothing to record into
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        # a plain script: no notebook records the value; show the text a reader would see
        print(f"{name}: {text}")
        return value
    prefix = "" if display else GLUE_PREFIX
    metadata = {"scrapbook": {"name": name, "mime_prefix": prefix},
                "lrnotes": {"value": _jsonable(value)}}
    ipy_display({prefix + "text/plain": text}, raw=True, metadata=metadata)
    return value


def print_diff(before: str, after: str, before_name: str, after_name: str,
               width: int = 78) -> None:
    """Print the unified diff of two sources (no context lines), long lines wrapped at ``width``.

    A wrapped line goes on with the same ``+``/``-`` mark, so a diff of long slide lines stays
    readable in the book's column and on a phone.

    Example::

        print_diff("a = 1\\n", "a = 2\\n", "slide", "copy")   # --- slide, +++ copy, -a = 1, +a = 2
    """
    import difflib
    import textwrap

    if not isinstance(width, int) or isinstance(width, bool) or width < 20:
        raise ValueError(f"width must be an int >= 20, got {width!r}")
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), before_name,
                                     after_name, n=0, lineterm=""):
        print(textwrap.fill(line, width, subsequent_indent=line[:1] + "   ",
                            break_on_hyphens=False) if line else line)


class CellSource:
    """The source of a notebook cell, filled in by :func:`keep_next_cell` when that cell runs."""

    def __init__(self) -> None:
        self.source: str | None = None

    def __repr__(self) -> str:
        return f"CellSource({self.source!r})"


def keep_next_cell() -> CellSource:
    """Keep the source of the next cell that runs (IPython's ``pre_run_cell`` event).

    The chapters quote a slide's code in a cell and then run that same code again,
    instrumented; this keeps the quoted text without a second copy of it, in Jupyter, Colab and
    headless runs alike (unlike ``_i``, which only exists when the history is stored).

    Example::

        slide = keep_next_cell()     # in the cell before the slide
        # ... the slide's cell runs ...
        exec(slide.source, {"range": recording_range})
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("keep_next_cell needs an IPython kernel (a notebook)")
    kept = CellSource()

    def keep(info: Any) -> None:
        kept.source = info.raw_cell
        shell.events.unregister("pre_run_cell", keep)

    shell.events.register("pre_run_cell", keep)
    return kept


def expect_error(code: str | Callable[[], Any], exception: type[BaseException],
                 match: str | None = None, *, namespace: dict[str, Any] | None = None,
                 name: str = "code", first_line: int = 1) -> BaseException:
    """Run code that must fail, print its error as a reader would see it, and return the error.

    A chapter runs a slide's code to show how it fails; a cell that raises would stop
    papermill, nbclient and Colab's "Run all" there. This catches the error instead, prints
    it to stderr (the code's own lines of the traceback, without any file of the machine,
    wrapped at 76 characters, then ``Type: message``), and returns it. It raises
    ``AssertionError`` when the code runs to its end, raises another type, or raises a
    message that ``match`` (a regular expression, searched as ``re.search`` does) misses:
    a slide that stops failing (a new torch release) stops the book build instead of
    leaving its prose false.

    ``code`` is source text (compiled under the name ``<name>``, run in ``namespace``: by
    default IPython's user namespace, so the names it defines stay defined, as a cell's do;
    line numbers count from ``first_line``) or a callable taking no argument. In a notebook,
    ``%load_ext lrnotes.notebook`` then ``%%expect_error TypeError`` on top of a cell does
    the same for the cell's own code.

    Example::

        error = expect_error("x = 1 + '1'", TypeError, match="unsupported operand")
        # stderr: line 1, in <module> / x = 1 + '1' / TypeError: unsupported operand ...
        assert isinstance(error, TypeError)
    """
    if not (isinstance(exception, type) and issubclass(exception, BaseException)):
        raise TypeError(f"exception must be an exception class, got {exception!r}")
    if not (isinstance(code, str) or callable(code)):
        raise TypeError(f"code must be source text or a callable, got {type(code).__name__}")
    if match is not None and not isinstance(match, str):
        raise TypeError(f"match must be a regular expression (str) or None, got {match!r}")
    if not isinstance(first_line, int) or isinstance(first_line, bool) or first_line < 1:
        raise ValueError(f"first_line must be an int >= 1, got {first_line!r}")
    filename = f"<{name}>"
    if isinstance(code, str):
        lines = [""] * (first_line - 1) + code.splitlines()
        if namespace is None:
            namespace = _user_namespace()
        compiled = compile("\n" * (first_line - 1) + code, filename, "exec")

        def run() -> None:
            exec(compiled, namespace)
    else:
        lines = None
        filename = getattr(getattr(code, "__code__", None), "co_filename", None)
        run = code
    try:
        run()
    except BaseException as err:  # noqa: BLE001 (compared with `exception` below)
        error = err
    else:
        raise AssertionError(f"{name} was expected to raise {exception.__name__}, "
                             "but it ran to its end")
    shown = f"{type(error).__name__}: {error}"
    if not isinstance(error, exception):
        raise AssertionError(f"{name} was expected to raise {exception.__name__}, "
                             f"but it raised {shown}") from error
    if match is not None and not re.search(match, str(error)):
        raise AssertionError(f"{name} raised {shown}, whose message does not match "
                             f"{match!r}") from error
    print(_own_traceback(error, filename, lines, name), file=sys.stderr)
    return error


def _user_namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    return shell.user_ns if shell is not None else {"__name__": "__main__"}


def _own_traceback(error: BaseException, filename: str | None, lines: list[str] | None,
                   name: str) -> str:
    """The frames of ``error``'s traceback in ``filename`` (line and source, no path)."""
    import linecache
    import textwrap
    import traceback

    shown = [f"Traceback (most recent call last; the {name}'s own lines only):"]
    last = None
    for frame in traceback.extract_tb(error.__traceback__):
        if filename is None or frame.filename != filename:
            continue
        if frame.lineno == last and frame.name.startswith("<"):
            continue  # a comprehension's frame on the line just shown (Python < 3.12)
        last = frame.lineno
        if lines is not None:
            source = lines[frame.lineno - 1] if 0 < frame.lineno <= len(lines) else ""
        else:
            source = linecache.getline(frame.filename, frame.lineno)
        shown.append(f"  line {frame.lineno}, in {frame.name}")
        if source.strip():
            # long slide lines wrap at spaces, so the error reads in the book's column
            shown += textwrap.wrap(source.strip(), 76, initial_indent="    ",
                                   subsequent_indent="        ", break_long_words=False,
                                   break_on_hyphens=False)
    shown.append(f"{type(error).__name__}: {error}")
    return "\n".join(shown)


def _expect_error_magic(line: str, cell: str) -> None:
    """``%%expect_error NAME [--match REGEX]``: the cell's code must raise exception NAME."""
    import shlex

    from IPython import get_ipython

    shell = get_ipython()
    words = shlex.split(line)
    usage = "usage: %%expect_error ExceptionName [--match REGEX]"
    if len(words) not in (1, 3) or (len(words) == 3 and words[1] != "--match"):
        raise ValueError(f"{usage}; got {line!r}")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", words[0]):
        raise ValueError(f"{usage}: {words[0]!r} is not the name of an exception")
    exception = eval(words[0], shell.user_ns)  # a dotted name, checked above
    # the cell's line 1 is the magic: the code's lines are numbered as the cell shows them
    error = expect_error(cell, exception, words[2] if len(words) == 3 else None,
                         namespace=shell.user_ns, name="cell", first_line=2)
    # as IPython keeps an error a cell raised, for the next cell to read
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, error.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = error


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext lrnotes.notebook`` registers the cell magic ``%%expect_error``.

    Example::

        %load_ext lrnotes.notebook
        # a cell: %%expect_error NameError --match math   (then the code that must fail)
    """
    shell.register_magic_function(_expect_error_magic, "cell", "expect_error")
