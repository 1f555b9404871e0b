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
    monkeypatch.setattr("IPython.display.display", lambda data, raw, metadata: shown.append(
        (data, metadata)))
    assert glue("x", np.float64(0.25), "{:.1f}") == 0.25
    data, metadata = shown[0]
    assert data == {GLUE_PREFIX + "text/plain": "0.2"}
    assert metadata["scrapbook"] == {"name": "x", "mime_prefix": GLUE_PREFIX}
    assert metadata["lrnotes"]["value"] == 0.25


def test_glue_rejects_an_empty_name():
    with pytest.raises(ValueError, match="name"):
        glue("", 1)
