"""Chapter 13's claims (LARS), read from the executed chapter."""

import pytest

CH = "13_lars"


def test_from_scratch_algorithm_1_equals_lrnotes_lars(c):
    assert c["scratch_difference"] < 1e-12


def test_slide_freezes_zero_biases_and_lars_moves_them(c):
    assert c["slide_bias_steps"] == [0.0] * len(c["slide_bias_steps"])
    assert len(c["lars_bias_steps"]) == 3 and min(c["lars_bias_steps"]) > 0


def test_slide_decay_dominates_its_step_and_lars_decay_does_not(c):
    assert c["slide_decay_share"] > 0.3
    assert c["lars_decay_share"] < 0.05
    assert c["slide_decay_share"] > 10 * c["lars_decay_share"]


def test_layers_need_different_steps(c):
    assert c["ratio_spread"] > 1.5
    assert c["late_ratio_spread"] > 2
    assert c["late_ratio_spread"] > c["ratio_spread"]  # they drift apart


def test_trust_ratios_stay_below_the_cap(c):
    assert c["ratio_cap"] == pytest.approx(0.001 / 5e-4)
    assert 0 < c["max_ratio"] <= c["ratio_cap"]
    assert all(r > 0 for r in c["final_ratios_small"])


def test_linear_scaling_breaks_sgd_at_the_largest_batch_and_lars_keeps_training(c):
    assert c["largest_batch"] == 1024 and c["smallest_batch"] == 32
    assert c["sgd_peak_lr"] == pytest.approx(0.05 * 1024 / 32)
    assert c["sgd_large"] < 0.5
    assert c["lars_large"] > 0.7
    assert c["lars_large"] > c["sgd_large"] + 0.3


def test_sgd_is_better_at_the_smallest_batch(c):
    assert c["sgd_small"] > 0.9
    assert c["sgd_small"] > c["lars_small"] + 0.02


def test_table_values_agree_with_the_glued_ends(c):
    assert c["sgd_accuracy"][0] == c["sgd_small"] and c["sgd_accuracy"][-1] == c["sgd_large"]
    assert c["lars_accuracy"][0] == c["lars_small"] and c["lars_accuracy"][-1] == c["lars_large"]
