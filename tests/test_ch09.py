"""Chapter 9's claims, read from the executed chapter."""

import pytest

CH = "09_cyclical_rates"


def test_lrnotes_cyclic_equals_torch_cycliclr_in_every_mode(c):
    assert c["compared_steps"] >= 1000
    assert c["max_rel_diff_lrnotes"] <= 1e-14


def test_the_slides_class_is_one_update_late(c):
    assert c["max_rel_diff_slide"] > 0.01
    assert c["max_rel_diff_slide_shifted"] <= 1e-13  # formula written differently: rounding


def test_cyclical_momentum_moves_against_the_rate_and_equals_torch(c):
    assert c["momentum_at_lr_low"] == pytest.approx(0.95)
    assert c["momentum_at_lr_peak"] == pytest.approx(0.85)
    assert c["momentum_max_diff"] <= 1e-12


def test_range_test_bounds_are_ordered(c):
    assert c["lower_bound"] < c["upper_bound"] < c["minimum_lr"]
    assert c["upper_bound"] == pytest.approx(c["minimum_lr"] / c["backoff"])


def test_clr_records_its_schedule(c):
    assert c["clr_lr_matches_schedule"] is True


def test_clr_beats_the_lower_bound_and_nearly_matches_the_best_constant(c):
    assert c["clr_val_loss"] < c["lower_val_loss"]
    best = min(c["lower_val_loss"], c["upper_val_loss"])
    assert c["clr_ratio"] == pytest.approx(c["clr_val_loss"] / best)
    assert c["clr_val_loss"] <= c["margin"] * best
