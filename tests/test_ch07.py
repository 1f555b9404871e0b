"""Chapter 7's claims, read from the executed chapter."""

import math

import pytest

CH = "07_monitoring"


def test_history_records_the_cosine_lr_per_update(c):
    assert c["first_lr_start"] == pytest.approx(c["lr_good"])
    assert c["first_lr_end"] < 1e-3 * c["first_lr_start"]
    assert c["first_val_acc"] > 0.9


def test_validation_minimum_comes_long_before_the_last_epoch(c):
    assert c["best_epoch"] <= c["last_epoch"] / 4
    assert c["val_last"] > 1.1 * c["val_min"]


def test_training_loss_keeps_falling_after_the_validation_minimum(c):
    assert c["train_last"] < 0.01 * c["train_at_best"]
    assert c["gap_last"] > 0.3


def test_too_high_lr_spikes_then_sticks_at_chance(c):
    assert c["chance_loss"] == pytest.approx(math.log(10))
    assert c["high_first_loss_max"] > 5 * c["chance_loss"]
    assert c["high_max_norm"] > 5 * c["good_max_norm"]
    assert abs(c["high_final"] - c["chance_loss"]) < 0.05
    assert abs(c["high_val_final"] - c["chance_loss"]) < 0.1
    assert c["good_final"] < 0.1 * c["chance_loss"]


def test_collapsed_run_has_small_gradients_afterwards(c):
    assert c["high_last_norm_median"] < 0.75 * c["good_last_norm_median"]
