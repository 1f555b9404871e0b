"""lrnotes.setup and the notebook glue."""

import random

import numpy as np
import pytest
import torch

import lrnotes
from lrnotes.notebook import GLUE_PREFIX, glue


def test_setup_seeds_everything_and_returns_the_device(capsys):
    device = lrnotes.setup(seed=3, device="cpu")
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    lrnotes.setup(seed=3, device="cpu")
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert device == torch.device("cpu") and a == b
    out = capsys.readouterr().out
    assert torch.__version__ in out and "device cpu" in out


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert lrnotes.pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert lrnotes.pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert lrnotes.pick_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0", True])
def test_bad_seed_is_a_value_error(seed):
    with pytest.raises(ValueError, match="seed"):
        lrnotes.setup(seed=seed, verbose=False)


@pytest.mark.parametrize("device", ["gpu", "tpu", "cuda0", 3])
def test_unknown_device_is_a_value_error(device):
    with pytest.raises(ValueError, match="device"):
        lrnotes.setup(seed=0, device=device, verbose=False)


def test_unavailable_cuda_is_a_value_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="cuda"):
        lrnotes.pick_device("cuda")


def test_glue_records_the_value_in_myst_nb_format(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())  # as inside a kernel
    monkeypatch.setattr("IPython.display.display", lambda data, raw, metadata: shown.append(
        (data, metadata)))
    assert glue("x", np.float64(0.25), "{:.1f}") == 0.25
    data, metadata = shown[0]
    assert data == {GLUE_PREFIX + "text/plain": "0.2"}
    assert metadata["scrapbook"] == {"name": "x", "mime_prefix": GLUE_PREFIX}
    assert metadata["lrnotes"]["value"] == 0.25


def test_glue_in_a_plain_script_prints_the_text_not_a_mime_dict(capsys):
    assert glue("final_loss", 0.123456, "{:.3f}") == 0.123456
    assert capsys.readouterr().out == "final_loss: 0.123\n"


def test_glue_rejects_an_empty_name():
    with pytest.raises(ValueError, match="name"):
        glue("", 1)


@pytest.mark.parametrize("device", ["cpu:xyz", "cuda:", "auto:0", "mps:-1", "cpu:0:1"])
def test_malformed_device_index_names_device(device):
    with pytest.raises(ValueError, match="device"):
        lrnotes.pick_device(device)


def test_a_device_index_is_kept():
    assert lrnotes.pick_device("cpu:0") == torch.device("cpu:0")


def test_a_cuda_index_past_the_devices_is_a_value_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="cuda:3"):
        lrnotes.pick_device("cuda:3")


def test_a_missing_optional_package_names_the_extra(monkeypatch):
    import builtins
    import importlib

    from lrnotes.env import optional_import

    real_import = importlib.import_module

    def no_sklearn(name, *args):
        if name.split(".")[0] == "sklearn":
            raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}", name="sklearn")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_sklearn)
    with pytest.raises(ModuleNotFoundError, match=r'lrnotes\[notebooks\]') as info:
        optional_import("sklearn.datasets", "lrnotes.data.digits()")
    assert "scikit-learn" in str(info.value) and "digits" in str(info.value)
    assert info.value.name == "sklearn"
    assert optional_import("math", "x") is builtins.__import__("math")


def test_a_broken_optional_package_keeps_its_own_error(monkeypatch):
    import importlib

    from lrnotes.env import optional_import

    def broken(name, *args):
        raise ModuleNotFoundError("No module named 'torch._missing'", name="torch._missing")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="torch._missing") as info:
        optional_import("torchvision", "resnet18_cifar()")
    assert "lrnotes[" not in str(info.value)


def test_print_diff_wraps_long_lines_and_keeps_their_mark(capsys):
    from lrnotes.notebook import print_diff

    long = "x = " + " + ".join(["value"] * 20)
    print_diff(f"a = 1\n{long}\n", f"a = 2\n{long}\n", "before", "after", width=40)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["--- before", "+++ after"]
    assert "-a = 1" in out and "+a = 2" in out
    assert all(len(line) <= 40 for line in out)
    with pytest.raises(ValueError, match="width"):
        print_diff("a", "b", "x", "y", width=5)


def test_glue_formats_with_a_function_and_keeps_the_exact_value(monkeypatch):
    from lrnotes.notebook import words

    shown = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())  # as inside a kernel
    monkeypatch.setattr("IPython.display.display", lambda data, raw, metadata: shown.append(
        (data, metadata)))
    assert glue("classes", [0, 1, 2, 3, 4], words) == [0, 1, 2, 3, 4]
    data, metadata = shown[0]
    assert data == {GLUE_PREFIX + "text/plain": "0, 1, 2, 3 and 4"}
    assert metadata["lrnotes"]["value"] == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="fmt"):
        glue("x", 1, lambda v: v)
    assert len(shown) == 1  # nothing recorded for the refused value


def test_words_reads_as_prose():
    from lrnotes.notebook import words

    assert words(["features", "classifier"]) == "features and classifier"
    assert words([1]) == "1" and words([]) == ""
    assert words(("a", "b", "c"), last="or") == "a, b or c"
    with pytest.raises(TypeError, match="items"):
        words("abc")


def test_describe_says_what_a_figure_shows():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrnotes.plot import describe

    fig, (left, right) = plt.subplots(1, 2)
    left.set(title="Loss", xlabel="epoch", ylabel="training loss")
    right.set(xlabel="update")
    fig.suptitle("Warmup")
    assert describe(fig) == "Warmup. Loss: training loss against epoch; update"
    plt.close(fig)
    empty = plt.figure()
    assert describe(empty) == "A figure"
    plt.close(empty)


def test_inline_figures_carry_their_description(monkeypatch):
    """In a notebook, lrnotes.setup makes each PNG carry describe(fig) (the book's alt text)."""
    import base64
    import importlib.util
    import sys
    from pathlib import Path

    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell

    matplotlib.use("Agg")
    shell = InteractiveShell.instance()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    with matplotlib.rc_context():
        lrnotes.setup(seed=0, verbose=False, plots=True)
        fig, ax = plt.subplots()
        ax.set(title="Loss per epoch", xlabel="epoch", ylabel="loss")
        png = shell.display_formatter.formatters["image/png"](fig)
        plt.close(fig)
    png = base64.b64decode(png) if isinstance(png, str) else png
    path = Path(__file__).resolve().parents[1] / "scripts" / "lrnotes_sphinx.py"
    spec = importlib.util.spec_from_file_location("lrnotes_sphinx", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("lrnotes_sphinx", module)
    spec.loader.exec_module(module)
    assert module.png_description_bytes(png) == "Loss per epoch: loss against epoch"


def test_setup_leaves_matplotlib_alone_unless_asked():
    import matplotlib as mpl

    with mpl.rc_context():
        mpl.rcdefaults()
        before = dict(mpl.rcParams)
        lrnotes.setup(seed=0, device="cpu", verbose=False)
        assert dict(mpl.rcParams) == before
        lrnotes.setup(seed=0, device="cpu", verbose=False, plots=True)
        assert tuple(mpl.rcParams["figure.figsize"]) == (7.0, 4.0)
        assert mpl.rcParams["axes.grid"] and not mpl.rcParams["axes.spines.top"]
    with pytest.raises(TypeError, match="plots"):
        lrnotes.setup(seed=0, device="cpu", verbose=False, plots="yes")
