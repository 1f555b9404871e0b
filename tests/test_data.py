"""Data sets, loaders, tokenizer and vocabulary. Nothing here reaches the network (the test of
``_download`` itself reads a ``file://`` URL); every other test that
could reach the network replaces ``lrnotes.data._download`` with a stand-in that either
fails the test, raises like a failed download, or writes a small archive in the real
format. CIFAR-10, aclImdb and the UCI sentences are tested on small files the tests write in
their real on-disk formats; the UCI sentences also on the real files when ``LRNOTES_DATA``
holds them (CI points it at a copy)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import tarfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset
from torch.utils.data.distributed import DistributedSampler

import lrnotes.data as data
from lrnotes.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    DataNotFoundError,
    TextDataset,
    Vocab,
    cifar10,
    data_dir,
    digits,
    imdb,
    make_loader,
    pad_collate,
    sentences,
    text_loaders,
    tokenize,
)

REAL_DATA = os.environ.get("LRNOTES_DATA")


@pytest.fixture
def no_download(monkeypatch):
    """Any download attempt fails the test."""
    def refuse(url, dest, **kwargs):
        pytest.fail(f"a test tried to download {url}")
    monkeypatch.setattr(data, "_download", refuse)


@pytest.fixture
def offline(monkeypatch):
    """Downloads fail the way they fail without a network; the calls are recorded."""
    calls = []

    def fail(url, dest, **kwargs):
        calls.append(url)
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")
    monkeypatch.setattr(data, "_download", fail)
    return calls


def serve(monkeypatch, archive: bytes) -> list[str]:
    """Downloads "succeed" and write ``archive``; the URLs asked for are recorded."""
    calls = []

    def write(url, dest, **kwargs):
        calls.append(url)
        Path(dest).write_bytes(archive)
        return Path(dest)
    monkeypatch.setattr(data, "_download", write)
    return calls


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


# --- data directory -------------------------------------------------------------------


def test_data_dir_follows_lrnotes_data(monkeypatch, tmp_path):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("LRNOTES_DATA")
    assert data_dir() == Path.home() / ".cache" / "lrnotes"


def test_download_writes_atomically_and_checks_md5(tmp_path):
    source = tmp_path / "archive.bin"
    source.write_bytes(b"lrnotes" * 1000)
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "archive.bin"
    assert data._download(source.as_uri(), dest, md5=md5) == dest
    assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(OSError, match="md5"):
        data._download(source.as_uri(), tmp_path / "bad" / "archive.bin", md5="0" * 32)
    assert list((tmp_path / "bad").iterdir()) == [], "no partial file is left behind"


# --- loaders ----------------------------------------------------------------------------


def test_make_loader_shuffles_reproducibly_from_its_seed():
    ds = TensorDataset(torch.arange(50).float(), torch.arange(50))

    def order(seed, epochs=2):
        loader = make_loader(ds, batch_size=8, shuffle=True, seed=seed)
        return [torch.cat([y for _, y in loader]).tolist() for _ in range(epochs)]

    torch.manual_seed(123)
    first = order(0)
    torch.manual_seed(456)  # the global RNG does not matter
    assert order(0) == first
    assert sorted(first[0]) == list(range(50))
    assert first[0] != first[1], "each epoch draws a new order"
    assert order(1) != first
    plain = make_loader(ds, batch_size=8, shuffle=False)
    assert torch.cat([y for _, y in plain]).tolist() == list(range(50))
    assert plain.num_workers == 0 and plain.pin_memory is False


def test_make_loader_drop_last_and_bad_arguments():
    ds = TensorDataset(torch.arange(10))
    assert len(make_loader(ds, batch_size=4, shuffle=False, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(ds, batch_size=0, shuffle=False)
    with pytest.raises(ValueError, match="num_workers"):
        make_loader(ds, batch_size=2, shuffle=False, num_workers=-1)
    with pytest.raises(ValueError, match="empty"):
        make_loader(TensorDataset(torch.zeros(0)), batch_size=2, shuffle=False)


def test_make_loader_uses_a_distributed_sampler_under_a_process_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        ds = TensorDataset(torch.arange(20))
        loader = make_loader(ds, batch_size=5, shuffle=True, seed=3)
        assert isinstance(loader.sampler, DistributedSampler)
        assert loader.sampler.seed == 3 and loader.sampler.shuffle
        loader.sampler.set_epoch(0)
        epoch0 = torch.cat([x for (x,) in loader]).tolist()
        loader.sampler.set_epoch(1)
        epoch1 = torch.cat([x for (x,) in loader]).tolist()
        assert sorted(epoch0) == list(range(20)) and epoch0 != epoch1
        expected = torch.randperm(20, generator=torch.Generator().manual_seed(3 + 0)).tolist()
        assert epoch0 == expected, "DistributedSampler's order: randperm seeded with seed+epoch"
    finally:
        dist.destroy_process_group()


# --- sklearn digits -----------------------------------------------------------------------


def test_digits_split_is_stratified_seeded_and_normalised():
    X_train, y_train, X_val, y_val = digits(loaders=False)
    assert X_train.shape[1:] == (64,) and X_train.dtype == torch.float32
    assert len(X_train) + len(X_val) == 1797
    from sklearn.datasets import load_digits
    counts = np.bincount(load_digits().target)
    assert torch.bincount(y_val).tolist() == [round(0.2 * c) for c in counts]
    assert X_train.mean().abs() < 1e-5 and (X_train.std() - 1).abs() < 1e-4
    again = digits(loaders=False)
    assert all(torch.equal(a, b) for a, b in zip(again, (X_train, y_train, X_val, y_val),
                                                 strict=True))
    other = digits(loaders=False, seed=1)
    assert not torch.equal(other[3], y_val) or not torch.equal(other[2], X_val)


def test_digits_raw_images_and_classes():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X_train, y_train, X_val, y_val = digits(loaders=False, normalize=False, image=True)
    assert X_train.shape[1:] == (1, 8, 8) and X_train.max() == 16 and X_train.min() == 0
    # every image is one of the data set's, with its own label
    lookup = {tuple(row): label for row, label in zip(bunch.data.tolist(), bunch.target.tolist(),
                                                      strict=True)}
    assert all(lookup[tuple(x.flatten().tolist())] == y for x, y in
               zip(X_val, y_val.tolist(), strict=True))

    low = digits(loaders=False, classes=range(5))
    high = digits(loaders=False, classes=[5, 6, 7, 8, 9])
    full = digits(loaders=False)
    assert set(low[1].tolist()) == {0, 1, 2, 3, 4} and set(high[1].tolist()) == {5, 6, 7, 8, 9}
    assert len(low[0]) + len(high[0]) == len(full[0]), "the split does not depend on classes"
    torch.testing.assert_close(low[0], full[0][full[1] < 5])
    relabelled = digits(loaders=False, classes=[7, 3], relabel=True)
    assert set(relabelled[1].tolist()) == {0, 1}
    plain = digits(loaders=False, classes=[7, 3])
    torch.testing.assert_close(relabelled[1], (plain[1] == 3).long())
    with pytest.raises(ValueError, match="classes"):
        digits(classes=[3, 10])
    with pytest.raises(ValueError, match="val_fraction"):
        digits(val_fraction=1.0)


def test_digits_loaders():
    train, val = digits(batch_size=32, image=True)
    X, y = next(iter(train))
    assert X.shape == (32, 1, 8, 8) and y.dtype == torch.int64
    assert sum(len(y) for _, y in val) == len(val.dataset) and len(train.dataset) > 1400


# --- CIFAR-10 -----------------------------------------------------------------------------


def cifar_files(per_batch: int = 20, test: int = 10) -> dict[str, bytes]:
    """The six batches and the meta file, as pickled dicts like the real ones.

    The real files are Python 2 pickles whose string keys read back as ``str`` under
    torchvision's ``encoding="latin1"``; these are written with ``str`` keys directly.
    """
    rng = np.random.default_rng(0)
    files = {}
    for i, name in enumerate(["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                              "data_batch_5", "test_batch"]):
        n = test if name == "test_batch" else per_batch
        entry = {"batch_label": name,
                 "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 "labels": [(i + j) % 10 for j in range(n)],
                 "filenames": [f"{name}_{j}.png" for j in range(n)]}
        files[f"cifar-10-batches-py/{name}"] = pickle.dumps(entry, protocol=2)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                            "horse", "ship", "truck"], "num_cases_per_batch": per_batch,
            "num_vis": 3072}
    files["cifar-10-batches-py/batches.meta"] = pickle.dumps(meta, protocol=2)
    return files


@pytest.fixture
def cifar_root(tmp_path):
    for name, content in cifar_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    return tmp_path


def test_cifar10_reads_the_batches_normalised(cifar_root, no_download):
    train, test = cifar10(root=cifar_root, batch_size=8, augment=False, verify=False)
    assert len(train.dataset) == 100 and len(test.dataset) == 10
    X, y = next(iter(test))
    assert X.shape == (8, 3, 32, 32) and X.dtype == torch.float32 and y.dtype == torch.int64
    raw = pickle.loads(cifar_files()["cifar-10-batches-py/test_batch"])
    pixels = torch.from_numpy(raw["data"][:8].reshape(8, 3, 32, 32)).float() / 255
    mean, std = torch.tensor(CIFAR10_MEAN)[:, None, None], torch.tensor(CIFAR10_STD)[:, None, None]
    torch.testing.assert_close(X, (pixels - mean) / std)
    assert y.tolist() == raw["labels"][:8]
    labels = sorted(torch.cat([y for _, y in train]).tolist())
    expected = sorted(l for name, content in cifar_files().items() if "data_batch" in name
                      for l in pickle.loads(content)["labels"])
    assert labels == expected


def test_cifar10_augments_training_images_only(cifar_root, no_download):
    torch.manual_seed(0)
    train, test = cifar10(root=cifar_root, batch_size=100, augment=True, verify=False)
    plain, _ = cifar10(root=cifar_root, batch_size=100, augment=False, verify=False)
    (augmented, ya), (original, yo) = next(iter(train)), next(iter(plain))
    assert ya.tolist() == yo.tolist(), "same seed, same order"
    assert augmented.shape == original.shape == (100, 3, 32, 32)
    assert not torch.equal(augmented, original)
    # a random crop pads with zeros before normalising: padded pixels are -mean/std
    pad_value = (-torch.tensor(CIFAR10_MEAN) / torch.tensor(CIFAR10_STD))
    assert (augmented[:, 0] == pad_value[0]).any()
    names = [type(t).__name__ for t in test.dataset.transform.transforms]
    assert names == ["ToTensor", "Normalize"]


def test_cifar10_subset_is_seeded(cifar_root, no_download):
    def indices(seed):
        train, _ = cifar10(root=cifar_root, subset=30, seed=seed, verify=False)
        return train.dataset.indices

    assert len(indices(0)) == 30 and len(set(indices(0))) == 30
    assert indices(0) == indices(0) and indices(0) != indices(1)
    with pytest.raises(ValueError, match="subset"):
        cifar10(root=cifar_root, subset=101, verify=False)


def test_cifar10_keeps_torchvisions_md5_check_by_default(cifar_root, no_download):
    with pytest.raises(RuntimeError, match="verify=False"):
        cifar10(root=cifar_root)


def test_cifar10_missing_names_the_file_and_does_not_download(tmp_path, no_download):
    with pytest.raises(DataNotFoundError) as info:
        cifar10(root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in message
    assert "cifar-10-python.tar.gz" in message and "LRNOTES_DATA" in message
    assert isinstance(info.value, FileNotFoundError)


def test_cifar10_failed_download_raises_and_leaves_nothing(tmp_path, offline):
    with pytest.raises(DataNotFoundError, match="download failed"):
        cifar10(root=tmp_path)
    assert len(offline) == 1 and offline[0].endswith("cifar-10-python.tar.gz")
    assert list(tmp_path.iterdir()) == []


def test_cifar10_download_unpacks_into_place(tmp_path, monkeypatch):
    calls = serve(monkeypatch, tar_gz({**cifar_files(), "cifar-10-batches-py/readme.html": b"",
                                       "../escape": b"x"}))
    train, test = cifar10(root=tmp_path / "c10", verify=False, batch_size=10)
    assert len(calls) == 1 and len(train.dataset) == 100
    assert sorted(p.name for p in (tmp_path / "c10").iterdir()) == ["cifar-10-batches-py"]
    assert not (tmp_path / "escape").exists()
    cifar10(root=tmp_path / "c10", verify=False)
    assert len(calls) == 1, "present files are not downloaded again"


def test_cifar10_uses_the_data_directory(cifar_root, monkeypatch, tmp_path, no_download):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path / "data"))
    with pytest.raises(DataNotFoundError, match=re.escape(str(tmp_path / "data" / "cifar10"))):
        cifar10(download=False)


# --- aclImdb ------------------------------------------------------------------------------

IMDB_FILES = {
    "aclImdb/train/pos/0_9.txt": "A gem.<br /><br />Loved it.",
    "aclImdb/train/pos/1_8.txt": "Café scenes, wonderful!",
    "aclImdb/train/pos/2_10.txt": "Best film of the year.",
    "aclImdb/train/neg/0_1.txt": "Dull.",
    "aclImdb/train/neg/1_2.txt": "Too long and too loud.",
    "aclImdb/test/pos/0_7.txt": "Quite good.",
    "aclImdb/test/pos/1_9.txt": "Moving.",
    "aclImdb/test/neg/0_3.txt": "Not for me.",
    "aclImdb/test/neg/1_4.txt": "Meh.",
    "aclImdb/test/neg/2_2.txt": "Awful acting.",
    "aclImdb/train/unsup/0_0.txt": "unlabelled",
    "aclImdb/train/urls_pos.txt": "http://example.invalid/",
    "aclImdb/README": "readme",
}


@pytest.fixture
def imdb_root(tmp_path):
    for name, text in IMDB_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def labelled(split: str) -> list[tuple[str, int]]:
    return sorted((text, 1 if f"/{split}/pos/" in name else 0) for name, text in IMDB_FILES.items()
                  if re.fullmatch(rf"aclImdb/{split}/(pos|neg)/.*\.txt", name))


def test_imdb_reads_reviews_and_labels(imdb_root, no_download):
    train, test = imdb(root=imdb_root)
    assert len(train) == 5 and len(test) == 5
    assert sorted(train) == labelled("train") and sorted(test) == labelled("test")
    assert [label for _, label in train] == [0, 0, 1, 1, 1], "neg first, then pos"
    assert ("Café scenes, wonderful!", 1) in train


def test_imdb_max_reviews_is_a_seeded_subset(imdb_root, no_download):
    train, test = imdb(root=imdb_root, max_reviews=3, seed=0)
    assert len(train) == 3 and len(test) == 3
    assert set(train) <= set(labelled("train")) and set(test) <= set(labelled("test"))
    assert imdb(root=imdb_root, max_reviews=3, seed=0) == (train, test)
    draws = {tuple(imdb(root=imdb_root, max_reviews=3, seed=s)[0]) for s in range(6)}
    assert len(draws) > 1
    assert imdb(root=imdb_root, max_reviews=100)[0] == imdb(root=imdb_root)[0]
    with pytest.raises(ValueError, match="max_reviews"):
        imdb(root=imdb_root, max_reviews=0)


def test_imdb_missing_names_the_folder(tmp_path, no_download, monkeypatch):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as info:
        imdb(download=False)
    assert str(tmp_path / "aclImdb" / "train" / "pos") in str(info.value)
    assert data.IMDB_URL in str(info.value)


def test_imdb_failed_download_raises(tmp_path, offline):
    with pytest.raises(DataNotFoundError, match="download failed"):
        imdb(root=tmp_path)
    assert offline == [data.IMDB_URL] and list(tmp_path.iterdir()) == []


def test_imdb_download_unpacks_the_labelled_reviews_only(tmp_path, monkeypatch):
    archive = tar_gz({name: text.encode() for name, text in IMDB_FILES.items()})
    calls = serve(monkeypatch, archive)
    train, test = imdb(root=tmp_path)
    assert calls == [data.IMDB_URL]
    assert sorted(train) == labelled("train") and sorted(test) == labelled("test")
    assert not (tmp_path / "aclImdb" / "train" / "unsup").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aclImdb"]


def test_imdb_incomplete_folder_is_not_overwritten(tmp_path, monkeypatch):
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    calls = serve(monkeypatch, b"")
    with pytest.raises(DataNotFoundError, match="incomplete"):
        imdb(root=tmp_path)
    assert calls == []


# --- UCI sentences ------------------------------------------------------------------------

ROWS = {
    "imdb": [("The script is\x85was there a script?  ", 0),
             ("Definitely worth seeing\x85 it's the sort of film.  ", 1),
             ("Loved it.  ", 1), ("Boring.  ", 0)],
    "yelp": [("Wow... Loved this place.", 1), ("Crust is not good.", 0),
             ("Great service.", 1), ("Cold food.", 0)],
    "amazon": [("Good case, Excellent value.", 1), ("Broke in a week.", 0),
               ("Works fine.", 1), ("Battery died.", 0)],
}
FILES = {"imdb": "imdb_labelled.txt", "yelp": "yelp_labelled.txt",
         "amazon": "amazon_cells_labelled.txt"}


def sentence_file(rows) -> bytes:
    return "".join(f"{text}\t{label}\n" for text, label in rows).encode("utf-8")


@pytest.fixture
def sentence_root(tmp_path, monkeypatch):
    folder = tmp_path / "sentiment-labelled-sentences"
    folder.mkdir()
    for source, rows in ROWS.items():
        (folder / FILES[source]).write_bytes(sentence_file(rows))
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    return tmp_path


def test_sentences_small_files_keep_u0085_inside_a_record(sentence_root, no_download):
    train, val = sentences(val_fraction=0.5, seed=0)
    everything = sorted(train + val)
    assert everything == sorted((text.strip(), label) for rows in ROWS.values()
                                for text, label in rows)
    assert ("The script is\x85was there a script?", 0) in everything
    assert sum(label for _, label in val) == 3 and len(val) == 6
    assert sentences(val_fraction=0.5, seed=0) == (train, val)
    only = sentences(sources=["yelp"], val_fraction=0.5)
    assert sorted(only[0] + only[1]) == sorted(ROWS["yelp"])


def test_sentences_read_latin1_bytes_and_reject_malformed_records(sentence_root, no_download):
    folder = sentence_root / "sentiment-labelled-sentences"
    (folder / FILES["imdb"]).write_bytes(  # not UTF-8; two of each label, so both splits fill
        b"So bad\x85really.\t0\nFine.\t1\nAwful.\t0\nGreat.\t1\n")
    train, val = sentences(sources=["imdb"], val_fraction=0.5)
    assert sorted(train + val) == [("Awful.", 0), ("Fine.", 1), ("Great.", 1),
                                   ("So bad\x85really.", 0)]
    (folder / FILES["yelp"]).write_bytes(b"Good.\t1\nno label here\n")
    with pytest.raises(ValueError, match="yelp_labelled.txt, record 2"):
        sentences(sources=["yelp"])


def test_sentences_bad_arguments(sentence_root, no_download):
    with pytest.raises(ValueError, match="sources"):
        sentences(sources=["reddit"])
    with pytest.raises(ValueError, match="sources"):
        sentences(sources="imdb")
    with pytest.raises(ValueError, match="val_fraction"):
        sentences(val_fraction=0.0)


def test_sentences_missing_file_names_it(tmp_path, monkeypatch, no_download):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError) as info:
        sentences(download=False)
    message = str(info.value)
    assert str(tmp_path / "sentiment-labelled-sentences" / "imdb_labelled.txt") in message
    assert data.SENTENCES_URL in message and "LRNOTES_DATA" in message


def test_sentences_failed_download_raises(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="download failed"):
        sentences()
    assert offline == [data.SENTENCES_URL]
    assert not (tmp_path / "sentiment-labelled-sentences" / "imdb_labelled.txt").exists()


def test_sentences_download_extracts_the_three_files(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for source, rows in ROWS.items():
            zf.writestr(f"sentiment labelled sentences/{FILES[source]}", sentence_file(rows))
            zf.writestr(f"__MACOSX/sentiment labelled sentences/._{FILES[source]}", b"\x00junk")
        zf.writestr("sentiment labelled sentences/readme.txt", "readme")
    calls = serve(monkeypatch, buffer.getvalue())
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    train, val = sentences(val_fraction=0.5)
    assert calls == [data.SENTENCES_URL] and len(train) + len(val) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentiment-labelled-sentences"]
    assert sorted(p.name for p in (tmp_path / "sentiment-labelled-sentences").iterdir()) == sorted(
        FILES.values())


@pytest.mark.skipif(
    not (REAL_DATA and (Path(REAL_DATA) / "sentiment-labelled-sentences").is_dir()),
    reason="LRNOTES_DATA does not hold the UCI sentences (CI sets it)")
def test_sentences_real_files(no_download):
    train, val = sentences(val_fraction=0.2, seed=0)
    everything = train + val
    assert len(everything) == 3000 and len(val) == 600
    assert sum(label for _, label in everything) == 1500
    assert sum(label for _, label in val) == 300
    folder = Path(REAL_DATA) / "sentiment-labelled-sentences"
    records = [line.rpartition("\t") for name in FILES.values()
               for line in (folder / name).read_text(encoding="utf-8").split("\n") if line]
    assert sorted(everything) == sorted((text.strip(), int(label)) for text, _, label in records)
    odd = [(text, label) for text, label in everything if "\x85" in text]
    assert ("The script is\x85was there a script?", 0) in odd
    assert any(text.startswith("Definitely worth seeing\x85") and label == 1 for text, label in odd)
    for source in ("imdb", "yelp", "amazon"):
        part = sentences(sources=[source])
        rows = part[0] + part[1]
        assert len(rows) == 1000 and sum(label for _, label in rows) == 500
    assert sentences(seed=1) != (train, val)


# --- tokenizer and vocabulary -------------------------------------------------------------

# torchtext's basic_english (torchtext/data/utils.py), written out as the reference.
_TORCHTEXT_PATTERNS = [r"\'", r"\"", r"\.", r"<br \/>", r",", r"\(", r"\)", r"\!", r"\?", r"\;",
                       r"\:", r"\s+"]
_TORCHTEXT_REPLACEMENTS = [" '  ", "", " . ", " ", " , ", " ( ", " ) ", " ! ", " ? ", " ", " ",
                           " "]


def torchtext_basic_english(line: str) -> list[str]:
    line = line.lower()
    for pattern, replacement in zip(_TORCHTEXT_PATTERNS, _TORCHTEXT_REPLACEMENTS, strict=True):
        line = re.sub(pattern, replacement, line)
    return line.split()


def test_tokenize_fixed_examples():
    assert tokenize("Wow... Loved this place.") == ["wow", ".", ".", ".", "loved", "this",
                                                    "place", "."]
    assert tokenize("I DON'T like it (at all)!") == ["i", "don", "'", "t", "like", "it", "(",
                                                     "at", "all", ")", "!"]
    assert tokenize('He said: "great; really?"') == ["he", "said", "great", "really", "?"]
    assert tokenize("Fine.<br /><br />Slow-moving, $5 & up") == [
        "fine", ".", "slow-moving", ",", "$5", "&", "up"]
    assert tokenize("The script is\x85was there") == ["the", "script", "is", "was", "there"]
    assert tokenize("") == [] and tokenize(" \t\n") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*"aZé'\".,()!?;: \t\n\x85<br/>-&1", "<br />", "Don't"]),
                max_size=30).map("".join))
def test_tokenize_equals_torchtext_basic_english(text):
    assert tokenize(text) == torchtext_basic_english(text)


def test_vocab_orders_by_count_then_alphabet_with_specials_first():
    vocab = Vocab.build([["b", "a", "c", "b"], ["c", "d", "b"], ["<unk>", "<pad>"]])
    assert vocab.itos == ["<pad>", "<unk>", "b", "c", "a", "d"]
    assert vocab.stoi["c"] == 3 and len(vocab) == 6
    assert vocab.encode(["d", "zebra", "b"]) == [5, 1, 2]
    assert vocab["zebra"] == vocab.unk_index == 1 and vocab.pad_index == 0
    assert "a" in vocab and "zebra" not in vocab
    assert vocab.decode([2, 1, 0]) == ["b", "<unk>", "<pad>"]


def test_vocab_min_freq_and_max_size():
    tokens = [["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 1]
    assert Vocab.build(tokens, min_freq=3).itos == ["<pad>", "<unk>", "a", "b", "c"]
    assert Vocab.build(tokens, max_size=4).itos == ["<pad>", "<unk>", "a", "b"]
    assert len(Vocab.build(tokens, max_size=100)) == 6
    assert Vocab.build(iter([iter(["x", "y", "x"])])).itos == ["<pad>", "<unk>", "x", "y"]
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(tokens, min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(tokens, max_size=2)
    with pytest.raises(ValueError, match="itos"):
        Vocab(["a", "<pad>", "<unk>"])
    assert Vocab(Vocab.build(tokens).itos).stoi == Vocab.build(tokens).stoi


def test_text_dataset_truncates_and_never_yields_empty_sequences():
    vocab = Vocab.build([tokenize("good film"), tokenize("bad film film")])
    ds = TextDataset([("A good, good film", 1), ("???", 0), ("", 1)], vocab, max_len=3)
    good, film = vocab["good"], vocab["film"]
    assert ds[0][0].tolist() == [1, good, 1] and ds[0][1] == 1
    assert ds[1][0].tolist() == [1, 1, 1]
    assert ds[2][0].tolist() == [1], "an empty text becomes one <unk>"
    assert TextDataset([("A good, good film", 1)], vocab)[0][0].tolist() == [1, good, 1, good,
                                                                             film]
    with pytest.raises(ValueError, match="max_len"):
        TextDataset([], vocab, max_len=0)


def test_pad_collate_pads_and_returns_cpu_lengths_for_packing():
    batch = [(torch.tensor([5, 6, 7]), 1), (torch.tensor([8]), 0), (torch.tensor([9, 4]), 1)]
    (tokens, lengths), labels = pad_collate(batch)
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0], [9, 4, 0]]
    assert lengths.tolist() == [3, 1, 2] and lengths.dtype == torch.int64
    assert lengths.device.type == "cpu" and labels.tolist() == [1, 0, 1]
    assert pad_collate(batch, pad_index=-1)[0][0][1].tolist() == [8, -1, -1]
    packed = torch.nn.utils.rnn.pack_padded_sequence(tokens, lengths, batch_first=True,
                                                     enforce_sorted=False)
    assert packed.data.numel() == 6


def test_text_loaders_build_the_vocabulary_on_train_only():
    train = [("good movie", 1), ("bad movie", 0), ("good plot", 1), ("bad plot", 0)] * 3
    val = [("good unseen words", 1)]
    train_loader, val_loader, vocab = text_loaders(train, val, batch_size=5, min_freq=2)
    assert "unseen" not in vocab and vocab.itos[:2] == ["<pad>", "<unk>"]
    (tokens, lengths), labels = next(iter(val_loader))
    assert tokens.tolist() == [[vocab["good"], 1, 1]] and lengths.tolist() == [3]
    assert sum(len(labels) for _, labels in train_loader) == 12
    first = [labels.tolist() for _, labels in text_loaders(train, val, batch_size=5)[0]]
    again = [labels.tolist() for _, labels in text_loaders(train, val, batch_size=5)[0]]
    assert first == again


@pytest.mark.skipif(
    not (REAL_DATA and (Path(REAL_DATA) / "sentiment-labelled-sentences").is_dir()),
    reason="LRNOTES_DATA does not hold the UCI sentences (CI sets it)")
def test_text_loaders_on_the_real_sentences(no_download):
    train_loader, val_loader, vocab = text_loaders(*sentences(), batch_size=32, min_freq=2)
    (tokens, lengths), labels = next(iter(train_loader))
    assert tokens.shape[0] == 32 and tokens.shape[1] == lengths.max()
    assert (lengths >= 1).all() and 1000 < len(vocab) < 5000


# --- issue 15: coercions that hid mistakes, errors that name the argument or the file --------


def test_digits_classes_must_be_integers():
    with pytest.raises(TypeError, match="classes"):
        digits(classes=[1.7], loaders=False)
    with pytest.raises(TypeError, match="classes"):
        digits(classes="01", loaders=False)
    X, y, _, _ = digits(classes=[np.int64(1), 2], loaders=False)  # NumPy integers are fine
    assert set(y.tolist()) == {1, 2}


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.0), TypeError, "seed"),
    (dict(val_fraction="0.2"), TypeError, "val_fraction"),
    (dict(val_fraction=1e-4), ValueError, "val_fraction"),
    (dict(image="yes"), TypeError, "image"),
])
def test_digits_bad_arguments_name_themselves(kwargs, error, name):
    with pytest.raises(error, match=name):
        digits(loaders=False, **kwargs)


def test_text_labels_must_be_integer_classes():
    vocab = Vocab.build([["good"]])
    with pytest.raises(ValueError, match=r"examples\[1\].*0.7"):
        TextDataset([("good", 1), ("bad", 0.7)], vocab)
    with pytest.raises(TypeError, match=r"examples\[0\]"):
        TextDataset([("good", "1")], vocab)
    with pytest.raises(TypeError, match=r"examples\[0\].*text"):
        TextDataset([(None, 1)], vocab)
    dataset = TextDataset([("good", 1.0), ("bad", np.int64(0)), ("ok", torch.tensor(1))], vocab)
    assert dataset.labels == [1, 0, 1] and all(type(label) is int for label in dataset.labels)


def test_vocab_decode_rejects_negative_and_out_of_range_indices():
    vocab = Vocab.build([["a", "b"]])
    assert vocab.decode([2, 3, 0]) == ["a", "b", "<pad>"]
    assert vocab.decode(torch.tensor([3, 1])) == ["b", "<unk>"]
    with pytest.raises(ValueError, match="-1"):
        vocab.decode([-1])
    with pytest.raises(ValueError, match="4"):
        vocab.decode([4])
    with pytest.raises(TypeError, match="indices"):
        vocab.decode([1.0])


def test_vocab_build_rejects_untokenized_strings():
    with pytest.raises(TypeError, match=r"token_lists\[0\].*tokenize"):
        Vocab.build(["hello world"])
    with pytest.raises(TypeError, match="token_lists"):
        Vocab.build("hello world")
    with pytest.raises(TypeError, match="tokens"):
        Vocab.build([["a"]]).encode("a")


def test_tokenize_needs_a_str():
    with pytest.raises(TypeError, match="text"):
        tokenize(None)
    with pytest.raises(TypeError, match="text"):
        tokenize(b"bytes")


def test_sentences_tiny_val_fraction_is_an_error_not_an_empty_split(sentence_root, no_download):
    with pytest.raises(ValueError, match="val_fraction.*validation split empty"):
        sentences(val_fraction=1e-4)
    with pytest.raises(ValueError, match="val_fraction.*training split empty"):
        sentences(val_fraction=0.9999)
    with pytest.raises(ValueError, match="seed"):
        sentences(seed=-1)


def test_empty_or_broken_sentence_files_are_named(sentence_root, no_download):
    path = sentence_root / "sentiment-labelled-sentences" / FILES["imdb"]
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        sentences(sources=["imdb"])


def test_imdb_empty_folders_are_an_error_naming_the_folder(tmp_path, no_download):
    for split in ("train/pos", "train/neg", "test/pos", "test/neg"):
        (tmp_path / "aclImdb" / split).mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="no .txt reviews") as info:
        imdb(root=tmp_path)
    assert str(tmp_path / "aclImdb" / "train" / "neg") in str(info.value)


@pytest.mark.parametrize(("content", "match"), [(b"", "is empty"),
                                                (b"\xff\xfe caf\xe9", "not UTF-8")])
def test_imdb_empty_or_non_utf8_review_names_the_file(imdb_root, no_download, content, match):
    path = imdb_root / "aclImdb" / "test" / "neg" / "0_3.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        imdb(root=imdb_root)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="seed"):
        imdb(root=imdb_root, seed=-5)


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(num_workers=1.5), ValueError, "num_workers"),
    (dict(num_workers=True), ValueError, "num_workers"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed="0"), TypeError, "seed"),
    (dict(shuffle="yes"), TypeError, "shuffle"),
    (dict(drop_last=1), TypeError, "drop_last"),
    (dict(collate_fn=3), TypeError, "collate_fn"),
    (dict(device="gpu:x"), ValueError, "device"),
])
def test_make_loader_bad_arguments_name_themselves(kwargs, error, name):
    dataset = TensorDataset(torch.randn(4, 2))
    options = dict(batch_size=2, shuffle=False)
    options.update(kwargs)
    with pytest.raises(error, match=name):
        make_loader(dataset, **options)
    with pytest.raises(TypeError, match="dataset"):
        make_loader(iter([1, 2]), batch_size=2, shuffle=False)


def test_missing_sklearn_names_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_sklearn(name, *args):
        if name.startswith("sklearn"):
            raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_sklearn)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "lrnotes\[notebooks\]"'):
        digits()


def test_the_download_bar_honours_tqdm_disable(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(data, "progress_bar", lambda **kw: made.append(kw) or _NullBar())
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 10)
    data._download(source.as_uri(), tmp_path / "out" / "f.bin")
    assert made and "disable" not in made[0]
    assert (tmp_path / "out" / "f.bin").read_bytes() == b"x" * 10


class _NullBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


# --- MNIST-1D -------------------------------------------------------------------------------


def test_mnist1d_shapes_labels_and_standardisation(monkeypatch, tmp_path):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    X_train, y_train, X_test, y_test = data.mnist1d(num_samples=200, loaders=False)
    assert X_train.shape == (160, 40) and X_test.shape == (40, 40)
    assert X_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert torch.bincount(torch.cat([y_train, y_test])).tolist() == [20] * 10
    X = torch.cat([X_train, X_test])
    assert abs(X.mean().item()) < 1e-5 and abs(X.std(unbiased=False).item() - 1) < 1e-4
    train_loader, test_loader = data.mnist1d(num_samples=200, batch_size=32, seed=3)
    batch, labels = next(iter(train_loader))
    assert batch.shape == (32, 40) and len(test_loader.dataset) == 40
    assert not torch.equal(labels, y_train[:32])  # the train loader is shuffled


def test_mnist1d_is_deterministic_and_leaves_the_global_rngs_alone(monkeypatch, tmp_path):
    import random

    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path / "a"))
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    first = data.mnist1d(num_samples=100, loaders=False)  # generated: make_dataset seeds both
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path / "b"))
    again = data.mnist1d(num_samples=100, loaders=False)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    other = data.mnist1d(num_samples=100, data_seed=1, loaders=False)
    assert not torch.equal(first[0], other[0])


def test_mnist1d_caches_by_arguments_and_reads_the_cache(monkeypatch, tmp_path):
    import mnist1d.data as generator

    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    first = data.mnist1d(num_samples=100, loaders=False)
    data.mnist1d(num_samples=120, loaders=False)
    files = sorted(p.name for p in (tmp_path / "mnist1d").iterdir())
    assert files == ["mnist1d-n100-seed42-v0.0.2.npz", "mnist1d-n120-seed42-v0.0.2.npz"]

    def refuse(*args, **kwargs):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(generator, "make_dataset", refuse)
    cached = data.mnist1d(num_samples=100, loaders=False)
    assert all(torch.equal(a, b) for a, b in zip(first, cached, strict=True))


def test_mnist1d_bad_arguments_name_themselves_and_write_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    for kwargs, error, name in [({"num_samples": 10}, ValueError, "num_samples"),
                                ({"num_samples": 1.5e3}, ValueError, "num_samples"),
                                ({"data_seed": -1}, ValueError, "data_seed"),
                                ({"seed": "0"}, TypeError, "seed"),
                                ({"loaders": 1}, TypeError, "loaders"),
                                ({"batch_size": 0}, ValueError, "batch_size")]:
        with pytest.raises(error, match=name):
            data.mnist1d(**kwargs)
    assert not (tmp_path / "mnist1d").exists()


def test_mnist1d_without_the_package_names_it_and_writes_nothing(monkeypatch, tmp_path):
    import sys

    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=r"lrnotes\.data\.mnist1d\(\).*'mnist1d'"):
        data.mnist1d(num_samples=100)
    assert not (tmp_path / "mnist1d").exists()


def test_mnist1d_in_a_folder_it_cannot_write_warns_and_still_returns_the_data(monkeypatch,
                                                                              tmp_path):
    # a regular file where the data folder should be: creating mnist1d/ under it fails (even
    # for root, for whom a read-only mode bit would not)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    monkeypatch.setenv("LRNOTES_DATA", str(tmp_path / "ok"))
    expected = data.mnist1d(num_samples=100, loaders=False)
    with pytest.warns(RuntimeWarning, match=r"could not cache the generated data in .*not-a-"):
        got = data.mnist1d(num_samples=100, loaders=False, root=blocked)
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert blocked.read_text() == "x"
    # the next call in this process neither generates again nor warns again
    import mnist1d.data as generator

    def refuse(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(generator, "make_dataset", refuse)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = data.mnist1d(num_samples=100, loaders=False, root=blocked)
    assert all(torch.equal(a, b) for a, b in zip(expected, again, strict=True))


def test_mnist1d_cache_write_that_fails_leaves_no_folder_or_temporary(monkeypatch, tmp_path):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data.np, "savez", full_disk)
    with pytest.warns(RuntimeWarning, match="No space left on device"):
        X_train, *_ = data.mnist1d(num_samples=100, loaders=False, root=tmp_path / "new" / "dir")
    assert len(X_train) == 80
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_users_default_mode_not_mkstemps_0600(monkeypatch, tmp_path):
    # a shared data folder or a checkpoint handed on must be readable like any file the user
    # writes: mkstemp's 0600 renamed into place would make them private
    import stat

    from lrnotes import checkpoint

    old = os.umask(0o022)
    try:
        monkeypatch.setenv("LRNOTES_DATA", str(tmp_path))
        data.mnist1d(num_samples=100, loaders=False)
        (cached,) = (tmp_path / "mnist1d").iterdir()
        source = tmp_path / "source.bin"
        source.write_bytes(b"payload")
        downloaded = data._download(source.as_uri(), tmp_path / "dl" / "file.bin")
        checkpoint.save({"epoch": 0}, tmp_path / "run.ckpt")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode)
                 for p in (cached, downloaded, tmp_path / "run.ckpt")}
    finally:
        os.umask(old)
    assert modes == {cached.name: 0o644, "file.bin": 0o644, "run.ckpt": 0o644}
