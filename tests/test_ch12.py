"""Chapter 12's claims, read from the executed chapter (quick profile); and its full profile,
IMDB, run end to end on tiny files in aclImdb's real on-disk layout, so that a reader's GPU run
goes down a path the tests have run."""

import math

import pytest
from notebooks import run_chapter
from test_data import IMDB_FILES

CH = "12_sentiment_analysis"


def test_page_says_which_profile_made_it(c):
    assert (c["profile"], c["dataset"]) == ("quick", "UCI sentences")
    assert (c["train_size"], c["val_size"]) == (2400, 600)
    assert c["val_positive"] == pytest.approx(0.5)
    assert c["total_steps"] == c["epochs"] * c["steps_per_epoch"]


def test_packing_makes_padding_invisible_and_without_it_padding_matters(c):
    assert c["pad_len"] > c["short_len"]
    assert c["packed_gap"] < 1e-5
    assert c["unpacked_gap"] > 1e-2


def test_total_steps_from_the_loader_runs_the_whole_cycle(c):
    assert c["right_error"] == "None"
    assert c["right_last_lr"] == pytest.approx(1e-2 / 25 / 1e4)
    assert c["run_steps"] == {"constant": c["total_steps"], "one_cycle": c["total_steps"]}
    assert c["one_cycle_last_lr"] == pytest.approx(c["right_last_lr"])


def test_hard_coded_total_steps_cuts_short_or_raises(c):
    assert c["short_updates"] == c["short_epochs"] * c["steps_per_epoch"] < 1000
    assert c["cut_last_fraction"] > 0.5
    assert c["long_updates"] == c["long_epochs"] * c["steps_per_epoch"] > 1000
    assert c["crash_updates"] == 1001
    assert "total steps is 1000" in c["crash_error"]


def test_lrnotes_one_cycle_equals_torch(c):
    assert c["max_abs_difference"] < 1e-12


def test_both_runs_are_far_above_chance(c):
    assert set(c["final_acc"]) == {"constant", "one_cycle"}
    assert c["min_acc"] == min(c["final_acc"].values())
    assert c["min_acc"] >= 0.70
    assert c["acc_gap"] == pytest.approx(abs(c["final_acc"]["one_cycle"]
                                             - c["final_acc"]["constant"]))


# --- the full profile on tiny data --------------------------------------------------------

FULL = {"PROFILE": "full", "FULL_EPOCHS": 2, "FULL_BATCH_SIZE": 2, "FULL_WIDTH": 8,
        "MIN_FREQ": 1}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Run the chapter with PROFILE="full" on five train and five test reviews written as
    aclImdb/{train,test}/{pos,neg}/*.txt, found through the DATA_DIR parameter."""
    data = tmp_path_factory.mktemp("lrnotes_data")
    for name, text in IMDB_FILES.items():
        path = data / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return run_chapter(f"{CH}.ipynb", tmp_path_factory.mktemp(CH),
                       parameters={**FULL, "DATA_DIR": str(data)})


def test_full_profile_reads_the_imdb_folders(full):
    assert (full["profile"], full["dataset"]) == ("full", "IMDB")
    assert (full["train_size"], full["val_size"]) == (5, 5)
    assert full["steps_per_epoch"] == math.ceil(5 / FULL["FULL_BATCH_SIZE"])
    assert full["total_steps"] == FULL["FULL_EPOCHS"] * full["steps_per_epoch"]


def test_full_profile_trains_both_runs_to_the_end(full):
    assert full["run_steps"] == {"constant": full["total_steps"], "one_cycle": full["total_steps"]}
    for key in ("constant", "one_cycle"):
        assert 0.0 <= full["final_acc"][key] <= 1.0
        assert math.isfinite(full["final_loss"][key])
    assert full["packed_gap"] < 1e-5
    assert full["max_abs_difference"] < 1e-12
    assert full["crash_updates"] == 1001
