"""Reproducible set-up for a chapter or a script: seeds, device and (when asked) the book's
plotting defaults."""

from __future__ import annotations

import importlib
import os
import platform
import random
from types import ModuleType
from typing import Any

import numpy as np
import torch

_DEVICES = ("auto", "cuda", "mps", "cpu")

EXTRA = "notebooks"
"""The extra of lrnotes that brings every optional package the chapters import."""

_PACKAGES = {"sklearn": "scikit-learn", "torchvision": "torchvision",
             "tensorboard": "tensorboard", "pandas": "pandas", "mnist1d": "mnist1d",
             "prodigyopt": "prodigyopt", "schedulefree": "schedulefree"}


def optional_import(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` (an optional dependency); when its package is not installed, raise
    ``ModuleNotFoundError`` saying what needs it and the install line that brings it
    (``pip install "lrnotes[notebooks]"``).

    Only a missing top-level package gets that message; an installed package that fails to
    import for another reason raises its own error unchanged.

    Example::

        >>> datasets = optional_import("sklearn.datasets", "lrnotes.data.digits()")
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        if err.name is None or err.name.split(".")[0] != top:
            raise
        package = _PACKAGES.get(top, top)
        raise ModuleNotFoundError(
            f"{needed_for} needs the optional package {package!r}, which is not installed: "
            f'pip install "lrnotes[{EXTRA}]" (everything the chapters use) or '
            f"pip install {package}", name=err.name) from err


def give_default_mode(fd: int) -> None:
    """Give a file made by :func:`tempfile.mkstemp` (mode 0600, readable by its owner only)
    the mode an ordinary ``open(path, "w")`` would: 0666 less the process's umask. A data
    cache, a download or a checkpoint renamed into place is then as readable as any file
    the user writes (a shared data folder, a checkpoint copied to a colleague).

    Example:
        >>> fd, tmp = tempfile.mkstemp()
        >>> give_default_mode(fd)  # now 0644 under the usual umask 022
    """
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return ``device`` as a :class:`torch.device`; ``"auto"`` picks cuda, then mps, then cpu.

    Example::

        >>> pick_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device is None:
        device = "auto"
    if not isinstance(device, str):
        raise ValueError(f"device must be a string or torch.device, got {device!r}")
    kind, colon, index = device.partition(":")
    if kind not in _DEVICES or (colon and (kind == "auto" or not index.isdigit())):
        raise ValueError(
            f"device must be one of {_DEVICES} (cuda, mps and cpu optionally with ':index'), "
            f"got {device!r}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch.cuda.is_available() is False")
    if kind == "cuda" and colon and int(index) >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: there are {torch.cuda.device_count()} cuda devices "
                         f"(indices 0..{torch.cuda.device_count() - 1})")
    mps = getattr(torch.backends, "mps", None)
    if kind == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(
            "device='mps' was asked for, but torch.backends.mps.is_available() is False")
    return torch.device(device)


def as_device(device: Any, name: str = "device") -> torch.device:
    """``device`` (a ``torch.device``, a string such as ``"cuda:0"``, or a CUDA index) as a
    :class:`torch.device`, checked: a malformed one, or a CUDA device that is not there, is a
    ValueError naming ``name``. Unlike :func:`pick_device` there is no ``"auto"``.

    Example::

        >>> as_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(f"{name} must be a torch.device, a device string or a CUDA index, "
                        f"got {type(device).__name__} {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(f"{name}={device!r} is not a torch device: {err}") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= count:
            raise ValueError(f"{name}={device!r}: this machine has {count} cuda device(s)")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if not (mps is not None and mps.is_available()):
            raise ValueError(f"{name}={device!r}: torch.backends.mps.is_available() is False")
    elif dev.type not in ("cpu", "meta"):
        try:
            torch.empty(0, device=dev)
        except RuntimeError as err:
            raise ValueError(f"{name}={device!r} is not usable here: {err}") from None
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all devices) with ``seed``.

    ``seed`` is an integer in [0, 2**32 - 1] (NumPy's legacy seeding takes no more); anything
    else (a bool, a float, a string, a negative number) is a ValueError naming ``seed``.

    Example::

        >>> seed_everything(0); a = torch.rand(1)
        >>> seed_everything(0); torch.equal(a, torch.rand(1))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32 - 1], got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    os.environ["PYTHONHASHSEED"] = str(seed)


def setup(seed: int = 0, device: str | torch.device = "auto", plots: bool = False,
          verbose: bool = True) -> torch.device:
    """Seed everything, pick the device, print versions, and with ``plots=True`` set the
    book's plotting defaults (:func:`lrnotes.plot.use_book_style`, global matplotlib
    settings; by default matplotlib is left as it is).

    The device is cuda when there is one, then Apple's mps, then the cpu, unless
    ``device`` names one. Returns the device, so a chapter starts with::

        import lrnotes
        device = lrnotes.setup(seed=0)              # plots=True: the book's figure style
        model = model.to(device)

    Raises ``ValueError`` for a negative or non-integer ``seed`` and for an unknown
    or unavailable ``device``, before anything is seeded.
    """
    if not isinstance(plots, bool) or not isinstance(verbose, bool):
        name, value = ("plots", plots) if not isinstance(plots, bool) else ("verbose", verbose)
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    dev = pick_device(device)  # checked before any generator is seeded
    seed_everything(seed)
    if plots:
        from lrnotes.plot import use_book_style

        use_book_style()
    if verbose:
        if dev.type == "cuda":
            name = torch.cuda.get_device_name(dev)
        else:
            name = platform.processor() or dev.type
        print(f"lrnotes: torch {torch.__version__}, python {platform.python_version()}, "
              f"device {dev} ({name}), seed {seed}")
    return dev

