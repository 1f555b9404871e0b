"""Chapter 6's claims, read from the executed chapter."""

import pytest

CH = "06_gradient_clipping"


def test_gradient_norms_spike_in_every_run(c):
    for key in ("none", "norm", "value", "agc"):
        assert c[f"max_before_{key}"] > 10 * c["max_norm"], key
    assert c["max_before_none"] > 100 * c["max_before_norm"]


def test_unclipped_run_blows_up_and_clipped_runs_do_not(c):
    final_none = float(c["final_none"])  # may be "inf", stored as text
    for key in ("norm", "value", "agc"):
        assert c[f"final_{key}"] < 2 * c["target_variance"], key
        assert final_none > 10 * c[f"final_{key}"], key


def test_norm_after_clipping_is_at_most_max_norm(c):
    assert c["max_after_norm"] <= c["max_norm"] * (1 + 1e-6)
    assert 0 < c["clipped_fraction_norm"] < 1


def test_clipping_scaled_gradients_sees_the_scale_and_kills_the_update(c):
    scale = c["amp_scale"]
    assert scale == 2.0**16
    assert c["amp_wrong_seen"] == pytest.approx(scale * c["amp_true_norm"], rel=1e-4)
    assert c["amp_wrong_seen"] > c["max_norm"]
    assert c["amp_wrong_after"] == pytest.approx(c["max_norm"] / scale, rel=1e-4)


def test_clip_gradients_with_the_scaler_clips_the_true_gradients(c):
    assert c["amp_right_before"] == pytest.approx(c["amp_true_norm"], rel=1e-5)
    assert c["amp_right_after"] == pytest.approx(min(c["amp_true_norm"], c["max_norm"]), rel=1e-5)
    assert c["amp_right_diff"] < 1e-6
