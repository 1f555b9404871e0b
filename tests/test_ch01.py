"""Chapter 1's claims, read from the executed chapter."""

import pytest

CH = "01_learning_rate_control"


def test_rates_below_the_bound_converge_and_above_diverge(c):
    assert c["bound"] == pytest.approx(2 / 10.0)
    assert c["final_best"] < 1e-4 * c["initial_loss"]
    assert c["final_best"] < c["final_small"] < c["initial_loss"]
    assert c["final_large"] > c["initial_loss"]


def test_measured_divergence_point_is_the_bound(c):
    assert c["bound"] <= c["measured_divergence"] <= 1.02 * c["bound"]


def test_manual_drop_changes_every_epoch_after_it(c):
    lrs, drop = c["manual_lrs"], c["drop_epoch"]
    assert lrs[:drop] == [c["lr_high"]] * drop
    assert lrs[drop:] == [c["lr_low"]] * (len(lrs) - drop)


def test_lower_rate_after_the_drop_reaches_a_lower_training_loss(c):
    assert c["manual_final_train"] < c["constant_final_train"]


def test_lower_rate_after_the_drop_generalises_better(c):
    assert c["manual_final_val"] < c["constant_final_val"]
