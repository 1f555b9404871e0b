"""Chapter 8's claims, read from the executed chapter."""

import math

import pytest

CH = "08_lr_finder"


def test_suggestions_are_ordered_inside_the_sweep(c):
    for rule in ("steepest", "valley", "minimum"):
        assert c["start_lr"] < c[f"suggest_{rule}"] < c["stop_lr"] <= c["end_lr"]
    assert c["suggest_valley"] < c["suggest_steepest"]


def test_the_test_stopped_when_the_loss_diverged(c):
    assert 2 <= c["finder_steps"] < 100


def test_lr_find_restores_model_optimizer_and_rng_bitwise(c):
    assert c["finder_restored"] is True
    assert c["compared_tensors"] >= 7  # 4 weights/biases of the MLP, 2 BN affine, 3 BN buffers
    assert c["optimizer_state_after"] == 0


def test_the_slides_finder_leaves_the_model_trained(c):
    assert c["slide_finite_steps"] >= 10
    assert c["slide_moved"] > 0.5  # the weights moved by more than half their norm
    assert c["slide_nonfinite_fraction"] > 0.5
    val_after = float(c["val_after_slide"])  # glue stores nan as the string 'nan'
    assert math.isnan(val_after) or abs(val_after - c["val_before"]) > 0.1


def test_the_slides_finder_records_a_rate_its_first_update_did_not_use(c):
    assert c["slide_first_recorded"] == c["start_lr"]
    assert c["slide_first_used"] == pytest.approx(0.1)
    assert c["slide_lr_mismatch"] == 1
    assert c["unshuffled_same_batch"] is True


def test_steepest_suggestion_trains_about_as_well_as_the_grids_best(c):
    best = min(c["grid_val_losses"])
    assert c["grid_best_val_loss"] == best
    assert c["steepest_ratio"] == pytest.approx(c["steepest_val_loss"] / best)
    assert c["steepest_val_loss"] <= c["margin"] * best


def test_valley_is_more_careful_and_slower_on_a_short_budget(c):
    assert c["valley_val_loss"] > c["steepest_val_loss"]
    assert c["valley_ratio"] > 1.0
