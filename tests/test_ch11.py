"""Chapter 11's claims, read from the executed chapter (quick profile); and its full profile,
CIFAR-10 with ResNet-18, run end to end on tiny files in CIFAR-10's real on-disk format, so that
a reader's GPU run goes down a path the tests have run."""

import math
from itertools import pairwise

import pytest
from notebooks import run_chapter
from test_data import cifar_files

CH = "11_image_classification"
SCHEDULES = {"plateau", "one_cycle", "warmup_cosine"}


def test_imagenet_stem_leaves_one_pixel_and_the_cifar_stem_four_by_four(c):
    assert c["imagenet_layer4"] == "512 x 1 x 1"
    assert c["cifar_layer4"] == "512 x 4 x 4"


def test_page_says_which_profile_made_it(c):
    assert (c["profile"], c["dataset"], c["model_name"]) == ("quick", "digits", "small ResNet")
    assert c["total_steps"] == c["epochs"] * c["steps_per_epoch"]


def test_all_three_schedules_reach_high_accuracy(c):
    assert set(c["final_acc"]) == SCHEDULES
    assert c["min_acc"] == min(c["final_acc"].values())
    assert c["min_acc"] >= 0.95


def test_the_three_end_within_a_few_points(c):
    accs = c["final_acc"].values()
    assert c["acc_spread"] == pytest.approx(max(accs) - min(accs))
    assert c["acc_spread"] <= 0.03
    assert c["spread_images"] == round(c["acc_spread"] * c["val_size"])


def test_planned_schedules_run_their_length_and_end_near_zero(c):
    total = c["total_steps"]
    assert c["planned_steps"] == {"one_cycle": total, "warmup_cosine": total}
    for key in ("one_cycle", "warmup_cosine"):
        assert 0 < c["last_lr"][key] < 1e-3 * c["lr"]
    assert c["one_cycle_last_lr"] == pytest.approx(c["lr"] / 25 / 1e4)
    assert abs(c["one_cycle_peak_step"] - (0.3 * total - 1)) <= 1
    assert c["one_cycle_peak_lr"] == pytest.approx(c["lr"], rel=1e-3)


def test_plateau_rule_only_cuts_by_its_factor(c):
    lrs = c["plateau_epoch_lrs"]
    assert len(lrs) == c["epochs"]
    assert all(b <= a for a, b in pairwise([c["lr"], *lrs]))
    for lr in lrs:
        k = round(math.log(lr / c["lr"], 0.1))
        assert lr == pytest.approx(c["lr"] * 0.1**k)
    assert c["plateau_cuts"] == sum(b < a for a, b in pairwise([c["lr"], *lrs]))
    assert c["last_lr"]["plateau"] == pytest.approx(lrs[-1])


# --- the full profile on tiny data --------------------------------------------------------

FULL = {"PROFILE": "full", "FULL_EPOCHS": 2, "FULL_BATCH_SIZE": 4, "FULL_SUBSET": 8,
        "FULL_PATIENCE": 0, "VERIFY_DATA": False}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Run the chapter with PROFILE="full" on 5 x 4 training and 4 test images written as
    the cifar-10-batches-py pickles, found through $LRNOTES_DATA (the kernel inherits it)."""
    data = tmp_path_factory.mktemp("lrnotes_data")
    for name, content in cifar_files(per_batch=4, test=4).items():
        path = data / "cifar10" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LRNOTES_DATA", str(data))
        return run_chapter(f"{CH}.ipynb", tmp_path_factory.mktemp(CH), parameters=FULL)


def test_full_profile_trains_resnet18_on_cifar10_files(full):
    assert (full["profile"], full["dataset"], full["model_name"]) == (
        "full", "CIFAR-10", "ResNet-18")
    assert full["train_size"] == FULL["FULL_SUBSET"] and full["val_size"] == 4
    assert full["steps_per_epoch"] == FULL["FULL_SUBSET"] // FULL["FULL_BATCH_SIZE"]
    assert full["total_steps"] == FULL["FULL_EPOCHS"] * full["steps_per_epoch"]
    assert full["cifar_layer4"] == "512 x 4 x 4"


def test_full_profile_produces_its_results_table(full):
    assert set(full["final_acc"]) == set(full["final_loss"]) == SCHEDULES
    for key in SCHEDULES:
        assert 0.0 <= full["final_acc"][key] <= 1.0
        assert math.isfinite(full["final_loss"][key])
    total = full["total_steps"]
    assert full["planned_steps"] == {"one_cycle": total, "warmup_cosine": total}
    assert len(full["plateau_epoch_lrs"]) == FULL["FULL_EPOCHS"]
