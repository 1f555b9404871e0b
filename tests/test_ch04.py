"""Chapter 4's claims, read from the executed chapter."""

import math

import pytest

CH = "04_adam"


def test_every_optimiser_learns(c):
    for key in ("final_sgd", "final_momentum", "final_adam", "final_adamw"):
        assert c[key] < 0.5 * math.log(10), key  # well below chance level


def test_adamw_decay_shrinks_the_weights(c):
    assert c["norm_adamw"] < c["norm_adam"]


def test_adam_step_read_from_state_is_the_update(c):
    assert c["step_check"] < 1e-4 * c["step_scale"]


def test_adam_steps_respect_the_papers_bound(c):
    assert c["adam_bound"] == pytest.approx(0.1 / math.sqrt(0.001))
    assert c["adam_ratio_max"] <= c["adam_bound"]
    assert c["adam_ratio_median"] < 1.0


def test_adam_steps_spread_over_fewer_decades_than_sgd(c):
    assert c["adam_spread"] < c["sgd_spread"] - 0.2


def test_sweep_has_a_minimum_inside_the_range(c):
    for name in ("sgd", "adam"):
        losses = c[f"{name}_losses"]
        best = min(range(len(losses)), key=lambda i: losses[i])
        assert 0 < best < len(losses) - 1, name
        assert losses[0] > 5 * losses[best] and losses[-1] > 5 * losses[best], name


def test_good_bands_are_narrow_and_adams_is_at_least_as_wide(c):
    for name in ("sgd", "adam"):
        assert 0.3 < c[f"{name}_width"] < 2.0, name
    assert c["adam_width"] >= c["sgd_width"]


def test_adam_is_insensitive_to_the_gradient_scale_and_sgd_is_not(c):
    assert c["adam_scaled"] == pytest.approx(c["adam_unscaled"], rel=0.05)
    assert c["sgd_scaled"] > 10 * c["sgd_unscaled"]
