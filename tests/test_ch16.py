"""Chapter 16's claims, read from the executed chapter."""

import math

import pytest

CH = "16_further_reading"


def test_momentum_and_adam_get_much_closer_than_sgd(c):
    assert c["sgd_1e2_diverges"] is True  # the shared rate 1e-3 is a tenth of a diverging one
    final = c["path_final"]
    sgd = final["SGD (lr 1e-3)"]
    assert sgd > 0.5 * c["path_start"]  # plain SGD has barely moved along the valley
    for name in ("momentum 0.9 (lr 1e-3)", "Nesterov 0.9 (lr 1e-3)", "Adam (lr 0.1)"):
        assert final[name] < 0.25 * sgd
    assert final["RMSprop (lr 1e-2)"] < sgd


def test_range_test_falls_then_diverges_and_restores_the_model(c):
    assert c["range_restored"] is True
    assert c["range_stopped"] is True
    assert c["range_min"] < 0.5 * c["range_first"]
    assert c["range_low"] < c["range_high"] < c["range_stop_lr"]


def test_sgdr_equals_torch_and_each_cycle_ends_better(c):
    assert c["sgdr_vs_torch"] < 1e-12
    assert c["sgdr_lr_error"] < 1e-12
    assert c["sgdr_lr_at_restarts"] == pytest.approx([c["sgdr_lr"]] * 2)
    ends = c["sgdr_val_at_ends"]
    assert all(later < earlier for earlier, later in zip(ends, ends[1:], strict=False))


def test_adam_bias_correction_factor(c):
    assert c["adam_vs_torch"] < 1e-12
    assert c["ratio_error"] < 1e-10
    assert c["r_first"] == pytest.approx(0.1 / math.sqrt(0.001))
    ratios = [(1 - 0.9**t) / math.sqrt(1 - 0.999**t) for t in range(1, c["adam_steps"] + 1)]
    assert c["r_peak"] == pytest.approx(max(ratios))
    assert c["r_peak_step"] == ratios.index(max(ratios)) + 1
    assert c["r_last"] == pytest.approx(ratios[-1])
    assert min(ratios) > 1  # with the defaults every uncorrected step is too large
    assert c["r_small_beta2"] == pytest.approx(0.1 / math.sqrt(0.1)) and c["r_small_beta2"] < 1
