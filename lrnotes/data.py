"""Data sets and loaders: sklearn digits (offline), CIFAR-10, the UCI sentiment sentences and
the Stanford IMDB reviews, with a small tokenizer and vocabulary that replace the retired
torchtext.

Everything lives in one data directory, :func:`data_dir` (``$LRNOTES_DATA``, else
``~/.cache/lrnotes``). A data set that is missing is downloaded from its public home when
``download=True``; when it is missing and cannot be downloaded, a :class:`DataNotFoundError`
says which file was looked for, where, and how to get it. No function ever substitutes other
data. Downloads go to a temporary file that is renamed into place only when complete, and
archives are unpacked into a temporary folder that is renamed into place, so an interrupted
download never leaves a half data set behind.

torchvision and scikit-learn are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import random
import re
import shutil
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from lrnotes.env import as_device, give_default_mode, optional_import
from lrnotes.progress import progress_bar

Example = tuple[str, int]
"""One labelled text: ``(text, label)``."""

SENTENCES_URL = "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip"
IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_SENTENCE_FILES = {
    "imdb": "imdb_labelled.txt",
    "yelp": "yelp_labelled.txt",
    "amazon": "amazon_cells_labelled.txt",
}
_SENTENCES_DIR = "sentiment-labelled-sentences"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch", "batches.meta")
_IMDB_SPLITS = ("train/pos", "train/neg", "test/pos", "test/neg")
_SMALL_DATASET = 10_000  # below this many examples, worker processes cost more than they save


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_seed(seed: Any) -> None:
    if not _is_int(seed):
        raise TypeError(f"seed must be an integer in [0, 2**63 - 1], got {seed!r}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63 - 1], got {seed!r}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _check_fraction(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1), got {value!r}")
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


def _read_text(path: Path) -> str:
    """A UTF-8 text file; an empty or undecodable file is a ValueError naming it."""
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path} is empty: delete it (and its folder) to download it again")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}): "
                         "a damaged or foreign file; delete it to download it again") from None


# --- data directory and downloads --------------------------------------------


def _root(root: Any, default: Path) -> Path:
    """``root`` as an expanded Path (``default`` when None); a wrong type names ``root``."""
    if root is None:
        return default
    if isinstance(root, bool) or not isinstance(root, (str, os.PathLike)) or root == "":
        raise TypeError(f"root must be a directory path (str or os.PathLike) or None, got "
                        f"{root!r}")
    return Path(root).expanduser()


def data_dir() -> Path:
    """The data directory: ``$LRNOTES_DATA`` when set, else ``~/.cache/lrnotes``.

    It is not created here; a download creates it.

    Example::

        >>> import os; os.environ["LRNOTES_DATA"] = "/tmp/lrnotes-data"
        >>> data_dir()
        PosixPath('/tmp/lrnotes-data')
    """
    env = os.environ.get("LRNOTES_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lrnotes"


class DataNotFoundError(FileNotFoundError):
    """A data set is missing and was not (or could not be) downloaded.

    The message names the file looked for, the directory, the public URL and the
    ``LRNOTES_DATA`` variable; ``filename`` holds the path looked for.
    """

    def __init__(self, name: str, looked_for: Path, directory: Path, url: str, reason: str):
        message = (
            f"{name} not found: looked for {looked_for} in {directory} ({reason}). "
            f"Call again with download=True to fetch it from {url}, or download and unpack it "
            f"there yourself; set LRNOTES_DATA to use another data directory "
            f"(the data directory is now {data_dir()})."
        )
        super().__init__(message)
        self.message = message
        self.filename = str(looked_for)

    def __str__(self) -> str:
        return self.message


def _download(url: str, dest: Path, *, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; ``dest`` appears only when complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        give_default_mode(fd)
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=dest.name) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if md5 is not None and digest.hexdigest() != md5:
            raise OSError(f"{url} has md5 {digest.hexdigest()}, expected {md5}")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _extract_tar(archive: Path, dest: Path, keep: re.Pattern[str]) -> None:
    """Unpack the regular files of ``archive`` whose names match ``keep`` into ``dest``.

    Only names that ``keep`` matches in full are written, so a member name cannot
    escape ``dest``.
    """
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if member.isfile() and keep.fullmatch(member.name):
                target = dest / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise tarfile.ReadError(f"{archive}: cannot read member {member.name}")
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)


_DOWNLOAD_ERRORS = (OSError, HTTPException, tarfile.TarError, zipfile.BadZipFile)


def _fetch_folder(name: str, url: str, md5: str | None, root: Path, folder: str,
                  keep: re.Pattern[str], looked_for: Path) -> None:
    """Download the archive at ``url`` and rename its ``folder`` into ``root`` (atomically)."""
    final = root / folder
    if final.exists():
        raise DataNotFoundError(name, looked_for, root, url,
                                f"{final} exists but is incomplete; delete it to download again")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{folder}.") as tmp:
            archive = _download(url, Path(tmp) / url.rsplit("/", 1)[-1], md5=md5)
            _extract_tar(archive, Path(tmp) / "unpacked", keep)
            os.replace(Path(tmp) / "unpacked" / folder, final)
    except _DOWNLOAD_ERRORS as exc:
        raise DataNotFoundError(name, looked_for, root, url, f"the download failed: {exc}") from exc
    if not looked_for.exists():
        raise DataNotFoundError(name, looked_for, root, url,
                                "the downloaded archive does not contain it")


# --- loaders -----------------------------------------------------------------


def loader_generators(loader: Iterable[Any]) -> list[torch.Generator]:
    """The distinct ``torch.Generator`` objects that decide ``loader``'s order: its own, its
    sampler's, its batch sampler's sampler's. ``fit`` saves their states for exact resume, and
    ``lr_find`` puts them back, so walking a loader leaves no trace on the next run.

    Example::

        >>> g = torch.Generator().manual_seed(0)
        >>> loader = DataLoader(range(8), shuffle=True, generator=g)
        >>> loader_generators(loader) == [g]
        True
    """
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = [getattr(loader, "generator", None), getattr(sampler, "generator", None),
                  getattr(getattr(batch_sampler, "sampler", None), "generator", None)]
    found: list[torch.Generator] = []
    for g in candidates:
        if isinstance(g, torch.Generator) and all(g is not h for h in found):
            found.append(g)
    return found


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, seed: int = 0,
                collate_fn: Callable[[list[Any]], Any] | None = None,
                device: str | torch.device | None = None, num_workers: int | None = None,
                drop_last: bool = False) -> DataLoader:
    """A :class:`~torch.utils.data.DataLoader` with seeded shuffling and device-aware settings.

    - Shuffling draws from a ``torch.Generator`` seeded with ``seed``: the same seed gives
      the same order of batches, epoch after epoch, independent of the global RNG.
    - When ``torch.distributed`` is initialised, a
      :class:`~torch.utils.data.distributed.DistributedSampler` (seeded with ``seed``)
      splits the data among the ranks; call ``loader.sampler.set_epoch(epoch)`` at the
      start of each epoch to reshuffle.
    - ``num_workers=None`` picks 0 on the cpu, for datasets under 10,000 examples and for
      in-memory tensors, else ``min(4, cpu count)``; ``pin_memory`` is on for cuda.

    Example::

        >>> ds = TensorDataset(torch.randn(10, 3), torch.arange(10))
        >>> [y.tolist() for _, y in make_loader(ds, batch_size=4, shuffle=True, seed=0)]
        [[3, 7, 5, 2], [0, 8, 1, 6], [9, 4]]
    """
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if num_workers is not None and (not _is_int(num_workers) or num_workers < 0):
        raise ValueError(f"num_workers must be an integer >= 0 or None, got {num_workers!r}")
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if not isinstance(drop_last, bool):
        raise TypeError(f"drop_last must be True or False, got {drop_last!r}")
    _check_seed(seed)
    if collate_fn is not None and not callable(collate_fn):
        raise TypeError(f"collate_fn must be callable or None, got {collate_fn!r}")
    if (not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__")
            or isinstance(dataset, (str, bytes, Mapping))):
        raise TypeError(f"dataset must be a map-style dataset (items 0..len-1, such as a "
                        f"TensorDataset or a list), got {type(dataset).__name__}")
    dev = as_device(device) if device is not None else torch.device("cpu")
    size = len(dataset)  # type: ignore[arg-type]
    if size == 0:
        raise ValueError("dataset is empty (length 0); a loader needs at least one example")
    if num_workers is None:
        small = size < _SMALL_DATASET or isinstance(dataset, TensorDataset)
        num_workers = 0 if dev.type == "cpu" or small else min(4, os.cpu_count() or 1)
    options: dict[str, Any] = {
        "batch_size": batch_size,
        "collate_fn": collate_fn,
        "num_workers": num_workers,
        "pin_memory": dev.type == "cuda",
        "drop_last": drop_last,
        "persistent_workers": num_workers > 0,
    }
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
        return DataLoader(dataset, sampler=sampler, **options)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, shuffle=shuffle, generator=generator, **options)


def _stratified_split(labels: Sequence[int], val_fraction: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices; each class gives ``round(val_fraction * n)``.

    A split that leaves either side empty is a ValueError naming ``val_fraction``."""
    _check_fraction("val_fraction", val_fraction)
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    val = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        val.append(rng.permutation(members)[: round(val_fraction * len(members))])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise ValueError(
            f"val_fraction={val_fraction!r} of {len(labels)} examples leaves the "
            f"{'validation' if len(val_idx) == 0 else 'training'} split empty: "
            f"each class keeps round(val_fraction * n) examples for validation")
    return train_idx, val_idx


# --- sklearn digits ----------------------------------------------------------


def digits(*, batch_size: int = 64, val_fraction: float = 0.2, seed: int = 0,
           classes: Sequence[int] | None = None, relabel: bool = False, image: bool = False,
           normalize: bool = True, loaders: bool = True,
           device: str | torch.device | None = None) -> tuple[Any, ...]:
    """scikit-learn's handwritten digits (1,797 8x8 images, 10 classes; no download).

    The split is stratified by digit and seeded: the same ``seed`` gives the same
    train/validation images whatever ``classes`` picks (the split is made on all 1,797
    images, then filtered), so a model pretrained on ``classes=range(5)`` never saw a
    validation image of any other run with the same seed.

    - ``image=False``: ``X`` is ``N x 64``; ``image=True``: ``N x 1 x 8 x 8`` (for CNNs).
    - ``normalize=True``: pixels are divided by 16 (their maximum), then standardised with the
      mean and standard deviation of the training split of all ten digits (two scalars), so
      one image gives one tensor whatever ``classes`` is; ``False`` keeps the raw 0..16 values.
    - ``classes``: keep only these digits; labels stay the digits themselves unless
      ``relabel=True``, which maps ``classes[i]`` to ``i`` (for a fresh, smaller head).
    - ``loaders=True`` returns ``(train_loader, val_loader)`` (train shuffled with ``seed``);
      ``loaders=False`` returns ``(X_train, y_train, X_val, y_val)`` tensors on ``device``.

    Example::

        >>> train_loader, val_loader = digits(batch_size=64)
        >>> X, y = next(iter(train_loader)); X.shape, y.dtype
        (torch.Size([64, 64]), torch.int64)
    """
    if classes is not None:
        if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
            raise TypeError(f"classes must be a sequence of digits 0..9 or None, got {classes!r}")
        classes = list(classes)
        if not all(_is_int(c) for c in classes):
            raise TypeError(f"classes must be integers (digits 0..9), got {classes!r}")
        classes = [int(c) for c in classes]
        if not classes or len(set(classes)) != len(classes) or not set(classes) <= set(range(10)):
            raise ValueError(f"classes must be distinct digits in 0..9, got {classes!r}")
    for name, flag in (("relabel", relabel), ("image", image), ("normalize", normalize),
                       ("loaders", loaders)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    _check_fraction("val_fraction", val_fraction)
    _check_seed(seed)
    if device is not None:
        as_device(device)
    if loaders and (not _is_int(batch_size) or batch_size < 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    load_digits = optional_import("sklearn.datasets", "lrnotes.data.digits()").load_digits
    bunch = load_digits()
    X = torch.tensor(bunch.data, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, val_idx = _stratified_split(bunch.target, val_fraction, seed)
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    if normalize:
        X = X / 16.0
        mean, std = X[train_idx].mean(), X[train_idx].std()
        X = (X - mean) / std
    if image:
        X = X.reshape(-1, 1, 8, 8)
    if classes is not None:
        keep = torch.isin(y, torch.tensor(classes))
        train_idx, val_idx = train_idx[keep[train_idx]], val_idx[keep[val_idx]]
        if relabel:
            mapping = torch.full((10,), -1, dtype=torch.long)
            mapping[torch.tensor(classes)] = torch.arange(len(classes))
            y = mapping[y]
    return _tensors_or_loaders(X[train_idx], y[train_idx], X[val_idx], y[val_idx],
                               loaders=loaders, batch_size=batch_size, seed=seed, device=device)


def _tensors_or_loaders(X_train: Tensor, y_train: Tensor, X_val: Tensor, y_val: Tensor, *,
                        loaders: bool, batch_size: int, seed: int, device: Any) -> tuple:
    """``(X_train, y_train, X_val, y_val)`` on ``device``, or a shuffled train loader and an
    ordered validation loader over them."""
    if not loaders:
        return tuple(t.to(device) if device is not None else t
                     for t in (X_train, y_train, X_val, y_val))
    train = make_loader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True,
                        seed=seed, device=device)
    val = make_loader(TensorDataset(X_val, y_val), batch_size=batch_size, shuffle=False,
                      seed=seed, device=device)
    return train, val


# --- MNIST-1D ------------------------------------------------------------------


# Arrays generated in this process whose cache file could not be written (a read-only data
# folder): kept here so that a chapter calling mnist1d() once per run does not generate them
# again, and warn again, every time.
_MNIST1D_UNCACHED: dict[Path, dict[str, np.ndarray]] = {}


def _mnist1d_arrays(num_samples: int, seed: int, root: Path) -> dict[str, np.ndarray]:
    """MNIST-1D's arrays for ``(num_samples, seed)``: from the cache file when present, else
    generated by ``mnist1d.data.make_dataset`` and cached (written atomically; where the
    folder cannot be written, kept in memory for the process, with one warning).

    ``make_dataset`` seeds Python's and numpy's global RNGs; their states are saved before
    and restored after, so a caller's random streams go on as if it had never run.
    """
    path = root / "mnist1d" / f"mnist1d-n{num_samples}-seed{seed}-v0.0.2.npz"
    if path in _MNIST1D_UNCACHED:  # copies: a caller may change what it gets in place
        return {key: value.copy() for key, value in _MNIST1D_UNCACHED[path].items()}
    if path.is_file():
        with np.load(path) as cached:
            return {key: cached[key] for key in ("x", "y", "x_test", "y_test")}
    mnist1d_data = optional_import("mnist1d.data", "lrnotes.data.mnist1d()")
    args = mnist1d_data.get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        generated = mnist1d_data.make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    arrays = {"x": generated["x"].astype(np.float32), "y": generated["y"].astype(np.int64),
              "x_test": generated["x_test"].astype(np.float32),
              "y_test": generated["y_test"].astype(np.int64)}
    try:
        _write_npz_atomically(path, arrays)
    except OSError as err:  # a read-only data folder: the arrays are right, only uncached
        warnings.warn(f"lrnotes.data.mnist1d: could not cache the generated data in "
                      f"{path.parent} ({err.strerror or err}); kept in memory for this process "
                      f"only (set LRNOTES_DATA or root= to a writable folder)",
                      RuntimeWarning, stacklevel=3)
        _MNIST1D_UNCACHED[path] = {key: value.copy() for key, value in arrays.items()}
    return arrays


def _write_npz_atomically(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file beside ``path``, then renamed onto it: a reader never
    sees half a file. Folders are created; a partial temporary file is removed."""
    created = [p for p in reversed(path.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        give_default_mode(fd)
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        for folder in reversed(created):  # leave no empty folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def mnist1d(*, batch_size: int = 128, num_samples: int = 5000, seed: int = 0,
            data_seed: int = 42, loaders: bool = True, root: str | Path | None = None,
            device: str | torch.device | None = None) -> tuple[Any, ...]:
    """MNIST-1D (Greydanus, 2020): ten 1-D templates of the digits, each example shifted,
    scaled, sheared and noised into a length-40 signal; made for seeing deep-learning
    effects on a CPU. Linear models reach 32% test accuracy, MLPs 68%, CNNs 94% (the
    paper's numbers): hard enough for the learning rate to matter.

    The data are generated offline with ``mnist1d.data.make_dataset`` (the paper's
    arguments, ``num_samples`` examples, generator seed ``data_seed``; the package's
    ``get_dataset``, which downloads, is never used), split 80/20 into train and test as
    the package does, and standardised by it (mean 0, sd 1 over all examples). The arrays
    are cached in ``root/mnist1d/`` (``root`` defaults to :func:`data_dir`), keyed by
    ``num_samples`` and ``data_seed``, so later calls only read a small file. Python's and
    numpy's global RNGs, which ``make_dataset`` seeds, are left as they were.

    - ``loaders=True`` returns ``(train_loader, test_loader)``, batches ``(N x 40 float32,
      N int64)``, the train loader shuffled with ``seed``;
      ``loaders=False`` returns ``(X_train, y_train, X_test, y_test)`` tensors on ``device``.

    Example::

        >>> train_loader, test_loader = mnist1d(batch_size=128)
        >>> X, y = next(iter(train_loader)); X.shape, len(test_loader.dataset)
        (torch.Size([128, 40]), 1000)
    """
    if not _is_int(num_samples) or num_samples < 20:
        raise ValueError(f"num_samples must be an integer >= 20 (two per class in each "
                         f"split), got {num_samples!r}")
    _check_seed(seed)
    if not _is_int(data_seed) or not 0 <= data_seed < 2**32:
        raise ValueError(f"data_seed must be an integer in [0, 2**32 - 1] (numpy's seed "
                         f"range), got {data_seed!r}")
    _check_bool("loaders", loaders)
    if loaders and (not _is_int(batch_size) or batch_size < 1):
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if device is not None:
        as_device(device)
    arrays = _mnist1d_arrays(int(num_samples), int(data_seed), _root(root, data_dir()))
    X_train, y_train, X_test, y_test = (torch.from_numpy(arrays[key])
                                        for key in ("x", "y", "x_test", "y_test"))
    return _tensors_or_loaders(X_train, y_train, X_test, y_test, loaders=loaders,
                               batch_size=batch_size, seed=seed, device=device)


# --- CIFAR-10 ----------------------------------------------------------------


def cifar10(*, root: str | Path | None = None, batch_size: int = 128, subset: int | None = None,
            augment: bool = True, download: bool = True, num_workers: int | None = None,
            seed: int = 0, device: str | torch.device | None = None,
            verify: bool = True) -> tuple[DataLoader, DataLoader]:
    """CIFAR-10 (50,000 train and 10,000 test 32x32 colour images) through torchvision.

    Files: ``root/cifar-10-batches-py/`` (``root`` defaults to ``data_dir() / "cifar10"``),
    downloaded from torchvision's URL on first use when ``download=True``.
    Batches are ``(N x 3 x 32 x 32 float, N int64)``, normalised per channel with
    mean ``(0.4914, 0.4822, 0.4465)`` and std ``(0.2470, 0.2435, 0.2616)``:
    ``x = (pixel / 255 - mean) / std``. With ``augment=True`` training images first get
    ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``; test images never do.

    ``subset=n`` trains on a seeded random ``n`` of the 50,000 training images (the test
    set stays whole). ``verify=True`` keeps torchvision's md5 check of the six batch files;
    ``verify=False`` only checks that they exist, for files in the same format that you
    made yourself (the tests do this). Returns ``(train_loader, test_loader)``.

    Example::

        >>> train_loader, test_loader = cifar10(subset=5000, batch_size=128)
        >>> X, y = next(iter(train_loader)); X.shape
        torch.Size([128, 3, 32, 32])
    """
    for name, flag in (("augment", augment), ("download", download), ("verify", verify)):
        _check_bool(name, flag)
    _check_seed(seed)
    optional_import("torchvision", "lrnotes.data.cifar10()")
    from torchvision import transforms
    from torchvision.datasets import CIFAR10

    root = _root(root, data_dir() / "cifar10")
    missing = [root / _CIFAR_DIR / f for f in _CIFAR_FILES if not (root / _CIFAR_DIR / f).exists()]
    if missing:
        if not download:
            raise DataNotFoundError("CIFAR-10", missing[0], root, CIFAR10.url,
                                    "download=False was passed")
        _fetch_folder("CIFAR-10", CIFAR10.url, CIFAR10.tgz_md5, root, _CIFAR_DIR,
                      re.compile(re.escape(_CIFAR_DIR) + r"/[\w.]+"), missing[0])

    dataset_class = CIFAR10 if verify else _unverified_cifar10()
    normalize = [transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    augmentation = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    train_transform = transforms.Compose((augmentation if augment else []) + normalize)
    try:
        train_set = dataset_class(root, train=True, transform=train_transform, download=False)
        test_set = dataset_class(root, train=False, transform=transforms.Compose(normalize),
                                 download=False)
    except RuntimeError as exc:
        raise RuntimeError(
            f"the CIFAR-10 files in {root / _CIFAR_DIR} fail torchvision's md5 check ({exc}); "
            "delete that folder and call again with download=True, or pass verify=False "
            "for files you made yourself"
        ) from exc
    if subset is not None:
        if isinstance(subset, bool) or not isinstance(subset, int) or not 1 <= subset <= len(
                train_set):
            raise ValueError(f"subset must be an integer in [1, {len(train_set)}], got {subset!r}")
        generator = torch.Generator().manual_seed(seed)
        indices = torch.randperm(len(train_set), generator=generator)[:subset].sort().values
        train_set = Subset(train_set, indices.tolist())
    train = make_loader(train_set, batch_size=batch_size, shuffle=True, seed=seed, device=device,
                        num_workers=num_workers)
    test = make_loader(test_set, batch_size=batch_size, shuffle=False, seed=seed, device=device,
                       num_workers=num_workers)
    return train, test


def _unverified_cifar10() -> type:
    """torchvision's CIFAR10 with the md5s set to None: its check then tests existence only."""
    from torchvision.datasets import CIFAR10

    class UnverifiedCIFAR10(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return UnverifiedCIFAR10


# --- UCI sentiment labelled sentences ----------------------------------------


def _decode(raw: bytes) -> str:
    """UTF-8, else Latin-1 (one byte per character: the original's 0x85 becomes U+0085)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_sentences(path: Path) -> list[Example]:
    """Records end with ``"\\n"`` only (a sentence may hold U+0085); ``sentence<TAB>label``."""
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path} is empty: delete it to download it again")
    examples = []
    for number, record in enumerate(_decode(raw).split("\n"), start=1):
        record = record.rstrip("\r")
        if not record.strip():
            continue
        text, sep, label = record.rpartition("\t")
        if not sep or label.strip() not in ("0", "1"):
            raise ValueError(f"{path}, record {number}: expected 'sentence<TAB>0|1', "
                             f"got {record[:80]!r}")
        examples.append((text.strip(), int(label)))
    return examples


def _fetch_sentences(root: Path, wanted: list[str], looked_for: Path) -> None:
    """Download the UCI zip and move the ``wanted`` files into ``root/sentiment-labelled-...``."""
    final = root / _SENTENCES_DIR
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{_SENTENCES_DIR}.") as tmp:
            archive = _download(SENTENCES_URL, Path(tmp) / "sentiment_labelled_sentences.zip")
            with zipfile.ZipFile(archive) as zf:
                members = {Path(m.filename).name: m for m in zf.infolist()
                           if not m.is_dir() and "__MACOSX" not in m.filename}
                final.mkdir(exist_ok=True)
                for name in wanted:
                    if name not in members:
                        raise DataNotFoundError("The UCI sentiment sentences", looked_for, root,
                                                SENTENCES_URL, f"the zip has no {name}")
                    staged = Path(tmp) / name
                    with zf.open(members[name]) as source, open(staged, "wb") as out:
                        shutil.copyfileobj(source, out)
                    os.replace(staged, final / name)
    except DataNotFoundError:
        raise
    except _DOWNLOAD_ERRORS as exc:
        raise DataNotFoundError("The UCI sentiment sentences", looked_for, root, SENTENCES_URL,
                                f"the download failed: {exc}") from exc


def sentences(*, sources: Sequence[str] = ("imdb", "yelp", "amazon"), val_fraction: float = 0.2,
              seed: int = 0, download: bool = True,
              root: str | Path | None = None) -> tuple[list[Example], list[Example]]:
    """The UCI "Sentiment Labelled Sentences" (Kotzias et al., KDD 2015; CC BY 4.0).

    1,000 sentences from each of IMDB, Yelp and Amazon, 500 positive (label 1) and 500
    negative (label 0) each. Files: ``root/sentiment-labelled-sentences/``
    ``{imdb,yelp,amazon_cells}_labelled.txt`` (``root`` defaults to :func:`data_dir`),
    fetched from the UCI repository's zip when missing and ``download=True``.

    Records are split on ``"\\n"`` only, never with ``str.splitlines`` (some sentences hold
    U+0085, which ``splitlines`` treats as a line break); each is ``sentence<TAB>label``.
    Files are read as UTF-8, else Latin-1. Texts are stripped of surrounding whitespace.

    Returns ``(train, val)``, lists of ``(text, label)`` in file order, split with
    ``val_fraction`` of each label of the pooled ``sources`` in validation (seeded).

    Example::

        >>> train, val = sentences(seed=0)
        >>> len(train), len(val), train[0][0][:40], train[0][1]
        (2400, 600, 'A very, very, very slow-moving, aimless ', 0)
    """
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Iterable):
        raise ValueError(f"sources must be a non-empty sequence drawn from "
                         f"{tuple(_SENTENCE_FILES)}, got {sources!r}")
    sources = tuple(sources)
    if (not sources or not all(isinstance(s, str) for s in sources)
            or not set(sources) <= set(_SENTENCE_FILES)):
        raise ValueError(f"sources must be a non-empty sequence drawn from "
                         f"{tuple(_SENTENCE_FILES)}, got {sources!r}")
    _check_bool("download", download)
    _check_fraction("val_fraction", val_fraction)
    _check_seed(seed)
    root = _root(root, data_dir())
    paths = [root / _SENTENCES_DIR / _SENTENCE_FILES[s] for s in dict.fromkeys(sources)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        if not download:
            raise DataNotFoundError("The UCI sentiment sentences", missing[0], root,
                                    SENTENCES_URL, "download=False was passed")
        _fetch_sentences(root, [p.name for p in missing], missing[0])
    examples = [example for path in paths for example in _read_sentences(path)]
    train_idx, val_idx = _stratified_split([label for _, label in examples], val_fraction, seed)
    return [examples[i] for i in train_idx], [examples[i] for i in val_idx]


# --- Stanford IMDB reviews (aclImdb) -------------------------------------------


def imdb(*, root: str | Path | None = None, download: bool = True, max_reviews: int | None = None,
         seed: int = 0) -> tuple[list[Example], list[Example]]:
    """The Stanford Large Movie Review Dataset v1 (Maas et al., ACL 2011): 25,000 train and
    25,000 test reviews, half positive (label 1) and half negative (label 0).

    Files: ``root/aclImdb/{train,test}/{pos,neg}/*.txt`` (``root`` defaults to
    :func:`data_dir`), downloaded (84 MB) and unpacked on first use when ``download=True``;
    only these four folders are unpacked (not ``unsup``). Texts are read as UTF-8 and kept
    as they are (with their ``<br />`` tags, which :func:`tokenize` removes).

    Returns ``(train, test)``, lists of ``(text, label)`` sorted by label folder then file
    name. ``max_reviews=n`` keeps a seeded, uniformly drawn ``n`` reviews of each split
    (only those files are read).

    Example::

        >>> train, test = imdb(max_reviews=2000)
        >>> len(train), len(test), sorted({label for _, label in train})
        (2000, 2000, [0, 1])
    """
    if max_reviews is not None and (isinstance(max_reviews, bool)
                                    or not isinstance(max_reviews, int) or max_reviews < 1):
        raise ValueError(f"max_reviews must be an integer >= 1 or None, got {max_reviews!r}")
    _check_seed(seed)
    _check_bool("download", download)
    root = _root(root, data_dir())
    folders = [root / "aclImdb" / split for split in _IMDB_SPLITS]
    missing = [f for f in folders if not f.is_dir()]
    if missing:
        if not download:
            raise DataNotFoundError("The IMDB reviews (aclImdb)", missing[0], root, IMDB_URL,
                                    "download=False was passed")
        _fetch_folder("The IMDB reviews (aclImdb)", IMDB_URL, IMDB_MD5, root, "aclImdb",
                      re.compile(r"aclImdb/(train|test)/(pos|neg)/[^/]+\.txt"), missing[0])
    rng = np.random.default_rng(seed)
    splits = []
    for split in ("train", "test"):
        files = []
        for folder, label in (("neg", 0), ("pos", 1)):
            found = sorted((root / "aclImdb" / split / folder).glob("*.txt"))
            if not found:
                raise DataNotFoundError(
                    "The IMDB reviews (aclImdb)", root / "aclImdb" / split / folder, root,
                    IMDB_URL, "the folder holds no .txt reviews; delete the aclImdb folder to "
                    "download it again")
            files += [(path, label) for path in found]
        if max_reviews is not None and max_reviews < len(files):
            files = [files[i] for i in np.sort(rng.choice(len(files), max_reviews, replace=False))]
        splits.append([(_read_text(path), label) for path, label in files])
    return splits[0], splits[1]


# --- tokenizer, vocabulary, text loaders --------------------------------------

_BASIC_ENGLISH = [(re.compile(pattern), replacement) for pattern, replacement in (
    (r"\'", " '  "), (r"\"", ""), (r"\.", " . "), (r"<br \/>", " "), (r",", " , "),
    (r"\(", " ( "), (r"\)", " ) "), (r"\!", " ! "), (r"\?", " ? "), (r"\;", " "), (r"\:", " "),
    (r"\s+", " "),
)]


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and punctuation, as torchtext's
    ``get_tokenizer("basic_english")`` did.

    The rules are torchtext's, in its order: lower-case; ``'`` becomes a token of its own;
    ``"`` is dropped; ``.`` ``,`` ``(`` ``)`` ``!`` ``?`` become tokens of their own; the
    HTML break ``<br />`` (IMDB reviews have them), ``;`` and ``:`` become spaces; then split
    on whitespace. The tokens are the same as torchtext's for every input; the one
    difference is that there is no torchtext to install. Like the original it keeps other
    punctuation attached (``"slow-moving"``, ``"$5"``, ``"&"``) and splits contractions
    around the apostrophe (``"don't"`` -> ``don ' t``).

    Example::

        >>> tokenize("Wow... Loved this place!<br />Don't (ever) go.")
        ['wow', '.', '.', '.', 'loved', 'this', 'place', '!', 'don', "'", 't', '(', 'ever', ')', 'go', '.']
    """  # noqa: E501
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = text.lower()
    for pattern, replacement in _BASIC_ENGLISH:
        text = pattern.sub(replacement, text)
    return text.split()


class Vocab:
    """A token <-> index map with ``"<pad>" = 0`` and ``"<unk>" = 1``; unknown tokens map to 1.

    Build one with :meth:`Vocab.build`; ``Vocab(itos)`` rebuilds a saved one from its list
    of tokens (``itos[0] == "<pad>"``, ``itos[1] == "<unk>"``).

    Example::

        >>> vocab = Vocab.build([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
        >>> vocab.itos, vocab.encode(["a", "c", "b"])
        (['<pad>', '<unk>', 'a', 'b'], [2, 1, 3])
    """

    PAD = "<pad>"
    UNK = "<unk>"
    pad_index = 0
    unk_index = 1

    def __init__(self, itos: Sequence[str]):
        if isinstance(itos, str) or not isinstance(itos, Iterable):
            raise TypeError(f"itos must be a list of tokens, got {type(itos).__name__}")
        itos = list(itos)
        if not all(isinstance(token, str) for token in itos):
            raise TypeError("itos must hold only str tokens")
        if itos[:2] != [self.PAD, self.UNK]:
            raise ValueError(f"itos must start with {[self.PAD, self.UNK]}, got {itos[:2]!r}")
        if len(set(itos)) != len(itos):
            raise ValueError("itos must not repeat a token")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], *, min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        """Count the tokens of ``token_lists`` and keep those seen at least ``min_freq`` times.

        Order: the two specials, then by descending count, ties alphabetically (as
        torchtext's ``build_vocab_from_iterator``). ``max_size`` caps ``len(vocab)``,
        specials included (torchtext's ``max_tokens``); it must be at least 3.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < 3):
            raise ValueError(f"max_size must be an integer >= 3 (two specials and one word) "
                             f"or None, got {max_size!r}")
        if (isinstance(token_lists, (str, torch.Tensor))
                or not isinstance(token_lists, Iterable)):
            raise TypeError(f"token_lists must be an iterable of token lists, got "
                            f"{type(token_lists).__name__}")
        counts: Counter[str] = Counter()
        for number, tokens in enumerate(token_lists):
            if isinstance(tokens, (str, torch.Tensor)) or not isinstance(tokens, Iterable):
                raise TypeError(
                    f"token_lists[{number}] must be a list of tokens, got "
                    f"{type(tokens).__name__} {str(tokens)[:40]!r} (tokenize texts first: "
                    "Vocab.build(tokenize(text) for text in texts))")
            tokens = list(tokens)
            if not all(isinstance(token, str) for token in tokens):
                raise TypeError(f"token_lists[{number}] must hold only str tokens")
            counts.update(tokens)
        for special in (cls.PAD, cls.UNK):
            counts.pop(special, None)
        words = sorted((token for token, count in counts.items() if count >= min_freq),
                       key=lambda token: (-counts[token], token))
        if max_size is not None:
            words = words[: max_size - 2]
        return cls([cls.PAD, cls.UNK, *words])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """The indices of ``tokens``; a token not in the vocabulary gives ``unk_index`` (1)."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a list of tokens, not a str (tokenize it first)")
        return [self.stoi.get(token, self.unk_index) for token in tokens]

    def decode(self, indices: Iterable[int]) -> list[str]:
        """The tokens at ``indices`` (each in ``[0, len(vocab) - 1]``; a negative index is a
        ValueError, not a count from the end)."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
            raise TypeError(f"indices must be an iterable of integers, got "
                            f"{type(indices).__name__}")
        tokens = []
        for i in indices:
            if not _is_int(i):
                raise TypeError(f"indices must be integers, got {i!r}")
            if not 0 <= i < len(self.itos):
                raise ValueError(f"indices: {i} is out of range [0, {len(self.itos) - 1}]")
            tokens.append(self.itos[i])
        return tokens

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"


def _label(label: Any, index: int, name: str = "examples") -> int:
    """An integer class label; 1.0 is 1, but 0.7 is a ValueError (not silently 0)."""
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, numbers.Real):
        raise TypeError(f"{name}[{index}]: the label must be an integer, got {label!r}")
    if not _is_int(label) and not float(label).is_integer():
        raise ValueError(f"{name}[{index}]: the label must be an integer class, got {label!r}")
    return int(label)


class TextDataset(Dataset):
    """Labelled texts, tokenized and encoded once: item ``i`` is ``(LongTensor T_i, label)``.

    ``max_len`` keeps the first ``max_len`` tokens. A text with no tokens is encoded as one
    ``<unk>``, so that every length is at least 1 (``pack_padded_sequence`` needs that).

    Example::

        >>> vocab = Vocab.build([tokenize("good film"), tokenize("bad film")])
        >>> TextDataset([("A good, good film", 1)], vocab)[0]
        (tensor([1, 4, 1, 4, 2]), 1)
    """

    def __init__(self, examples: Sequence[Example], vocab: Vocab, *,
                 tokenizer: Callable[[str], list[str]] = tokenize, max_len: int | None = None):
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                    or max_len < 1):
            raise ValueError(f"max_len must be an integer >= 1 or None, got {max_len!r}")
        if not isinstance(vocab, Vocab):
            raise TypeError(f"vocab must be a Vocab, got {type(vocab).__name__}")
        self.vocab = vocab
        self.labels = [_label(label, i) for i, (_, label) in enumerate(examples)]
        for i, (text, _) in enumerate(examples):
            if not isinstance(text, str):
                raise TypeError(f"examples[{i}]: the text must be a str, got "
                                f"{type(text).__name__}")
        self.tokens = [torch.tensor(vocab.encode(tokenizer(text)[:max_len]) or [vocab.unk_index],
                                    dtype=torch.long) for text, _ in examples]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.tokens[index], self.labels[index]


def pad_collate(batch: Sequence[tuple[torch.Tensor, int]],
                pad_index: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Pad a batch of ``(tokens, label)`` to ``((B x T tokens, B lengths), B labels)``.

    ``T`` is the longest sequence in the batch; shorter ones are filled with ``pad_index``
    on the right. The order of the batch is kept (use ``enforce_sorted=False`` when
    packing). ``lengths`` is an int64 tensor on the cpu, as
    :func:`torch.nn.utils.rnn.pack_padded_sequence` needs. Labels are integer classes
    (1.0 is 1); a fractional label such as 0.7 is a ValueError naming ``batch[i]``, never
    truncated to 0.

    Example::

        >>> (tokens, lengths), labels = pad_collate([(torch.tensor([5, 6, 7]), 1),
        ...                                          (torch.tensor([8]), 0)])
        >>> tokens.tolist(), lengths.tolist(), labels.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1], [1, 0])
    """
    sequences = [tokens for tokens, _ in batch]
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=pad_index)
    labels = torch.tensor([_label(label, i, "batch") for i, (_, label) in enumerate(batch)],
                          dtype=torch.long)
    return (padded, lengths), labels


def text_loaders(train: Sequence[Example], val: Sequence[Example], *, batch_size: int = 64,
                 min_freq: int = 1, max_size: int | None = None, max_len: int | None = None,
                 seed: int = 0, device: str | torch.device | None = None,
                 num_workers: int | None = None) -> tuple[DataLoader, DataLoader, Vocab]:
    """Tokenize, build the vocabulary on ``train`` only, and return
    ``(train_loader, val_loader, vocab)``.

    Batches are ``((tokens B x T, lengths B), labels B)`` from :func:`pad_collate`; the
    train loader is shuffled with ``seed``. ``min_freq`` and ``max_size`` go to
    :meth:`Vocab.build`, ``max_len`` to :class:`TextDataset`.

    Example::

        >>> train_loader, val_loader, vocab = text_loaders(*sentences(), batch_size=32)
        >>> (tokens, lengths), labels = next(iter(train_loader)); tokens.shape[0]
        32
    """
    for name, examples in (("train", train), ("val", val)):
        if not isinstance(examples, Sequence) or isinstance(examples, (str, bytes)):
            raise TypeError(f"{name} must be a sequence of (text, label) pairs, got "
                            f"{type(examples).__name__}")
        if len(examples) == 0:
            raise ValueError(f"{name} is empty; text_loaders needs at least one (text, label) "
                             f"pair in {name}")
    vocab = Vocab.build((tokenize(text) for text, _ in train), min_freq=min_freq,
                        max_size=max_size)
    train_set = TextDataset(train, vocab, max_len=max_len)
    val_set = TextDataset(val, vocab, max_len=max_len)
    options: dict[str, Any] = {"batch_size": batch_size, "seed": seed, "device": device,
                               "num_workers": num_workers, "collate_fn": pad_collate}
    return (make_loader(train_set, shuffle=True, **options),
            make_loader(val_set, shuffle=False, **options), vocab)
