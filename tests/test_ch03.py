"""Chapter 3's claims, read from the executed chapter."""

import pytest

CH = "03_cosine_annealing"


def test_the_slides_cosine_cannot_run(c):
    assert c["slide_errors"] == ["NameError", "TypeError"]


def test_lrnotes_cosine_equals_torch_and_the_formula_up_to_the_end(c):
    assert c["t_long"] >= 100
    assert c["cosine_vs_torch"] < 1e-12
    assert c["cosine_vs_scratch"] < 1e-12


def test_past_the_end_torch_climbs_back_and_lrnotes_holds_the_floor(c):
    torch_tail, ours_tail = c["past_end_torch"], c["past_end_lrnotes"]
    floor = ours_tail[0]
    assert torch_tail[0] == pytest.approx(floor, rel=1e-12)
    assert ours_tail == pytest.approx([floor] * len(ours_tail), rel=1e-12)
    assert torch_tail[1] > floor and torch_tail[2] > torch_tail[1]


def test_warm_restarts_equal_torch_and_restart_where_sgdr_says(c):
    assert c["restarts_vs_torch"] < 1e-12
    assert c["restart_updates"] == [20, 20 + 40, 20 + 40 + 80]


def test_same_budget_for_both_schedules(c):
    assert c["updates_step"] == c["updates_cosine"]
    assert c["lr_area_cosine"] == pytest.approx(c["lr_area_step"], rel=0.1)


def test_step_decay_ends_lower_in_training_loss_and_equal_in_validation(c):
    assert c["step_final_train"] < c["cosine_final_train"] < 1.5 * c["step_final_train"]
    assert c["train_ratio"] == pytest.approx(c["step_final_train"] / c["cosine_final_train"])
    assert abs(c["step_final_val"] - c["cosine_final_val"]) < 0.05 * c["step_final_val"]
    assert abs(c["step_final_acc"] - c["cosine_final_acc"]) < 0.02
    assert min(c["step_final_acc"], c["cosine_final_acc"]) > 0.93


def test_curves_are_close_in_the_first_half(c):
    half = c["half_epoch"]
    assert c["step_train_half"] == pytest.approx(c["step_train_curve"][half - 1])
    assert c["cosine_train_half"] == pytest.approx(c["step_train_half"], rel=0.25)
