"""Chapter 5's claims, read from the executed chapter."""

import pytest

CH = "05_warmup"


def test_the_slides_warmup_ignores_initial_lr_and_starts_at_zero(c):
    assert c["slide_ignores_initial_lr"] is True
    assert c["slide_first_lr"] == 0.0
    assert c["slide_lrs"][:6] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08, 0.1], rel=1e-12)


def test_the_first_update_at_lr_zero_does_not_move_the_weights(c):
    assert c["first_update_moved"] is False


def test_lrnotes_warmup_equals_torch_linear_lr_and_sequential_lr(c):
    assert c["rows"] >= 10
    assert c["warmup_vs_torch"] < 1e-12


def test_warmup_starts_where_asked_or_one_step_into_the_ramp(c):
    assert c["lrnotes_first_lr"] == pytest.approx(c["initial_lr"], rel=1e-12)
    assert c["default_first_lr"] == pytest.approx(0.1 / 6, rel=1e-12)  # base / (W + 1), W = 5


def test_same_budget_and_peak_with_and_without_warmup(c):
    assert c["updates_cold"] == c["updates_warm"]
    assert c["peak_lr_cold"] == pytest.approx(c["high_lr"], rel=1e-9)
    assert c["peak_lr_warm"] == pytest.approx(c["high_lr"], rel=1e-9)


def test_without_warmup_the_high_rate_fails_and_with_warmup_it_trains(c):
    assert c["cold_final_train"] > 5 * c["warm_final_train"]
    assert c["loss_ratio"] == pytest.approx(c["cold_final_train"] / c["warm_final_train"])
    assert c["warm_final_val"] < 0.5 * c["cold_final_val"]
    assert c["warm_final_acc"] > 0.93
    assert c["cold_final_acc"] < c["warm_final_acc"] - 0.1
