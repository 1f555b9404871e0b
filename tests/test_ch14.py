"""Chapter 14's claims (TensorBoard), read from the executed chapter."""

import math

import numpy as np
import pytest

CH = "14_tensorboard"


def test_event_files_hold_what_history_recorded(c):
    assert c["mismatches"] == 0
    assert c["relative_difference"] <= 2.0**-24  # float32 rounding, nothing more


def test_loss_and_lr_read_back_equal_history_in_float32(c):
    for history, tensorboard in (("history_loss", "tensorboard_loss"),
                                 ("history_lr_head", "tensorboard_lr_head")):
        want = np.asarray(c[history], dtype=np.float64).astype(np.float32)
        got = np.asarray(c[tensorboard], dtype=np.float64).astype(np.float32)
        assert len(want) == c["updates"]
        np.testing.assert_array_equal(got, want)


def test_every_tag_fit_promises_is_written(c):
    groups = ["head", "hidden"]
    epoch_keys = ["train_loss", "val_loss", "train_acc", "val_acc", "seconds"]
    expected = ({f"lr/{g}" for g in groups} | {"train/loss", "train/grad_norm"}
                | {f"epoch/{k}" for k in epoch_keys} | {f"epoch/lr/{g}" for g in groups})
    assert set(c["tags"]) == expected
    assert c["tag_count"] == len(expected)


def test_one_point_per_update(c):
    assert c["steps_per_epoch"] == math.ceil(1437 / 64)
    assert c["updates"] == c["epochs"] * c["steps_per_epoch"]


def test_group_rates_keep_their_ratio_under_the_schedule(c):
    assert c["lr_ratio"] == pytest.approx([c["group_ratio"]] * c["updates"], rel=1e-12)


def test_runs_train(c):
    assert c["acc_cosine"] > 0.85 and c["acc_constant"] > 0.85


def test_temporary_logs_are_removed(c):
    assert c["logdir_removed"] is True
