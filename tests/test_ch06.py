"""Chapter 6's claims, read from the executed chapter.

Every claim goes through ``margins`` so that ``scripts/claims_margins.py`` records how close
it came to failing. Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in {1, 2} (quick
profile), every claim holding in every variant
(``benchmarks/results/claims_margins/06_gradient_clipping.json``).
"""

from margins import above, below, close, holds

CH = "06_gradient_clipping"
KINDS = ("norm", "value", "agc")


def test_the_slide_fails_on_the_lstm_tuple_before_clipping(c):
    holds(c["slide_error"].startswith("AttributeError") and "tuple" in c["slide_error"],
          "the slide raises AttributeError on a tuple")
    holds(c["lstm_returns"] == "tuple of 2", "nn.LSTM returns a tuple of 2")
    holds(c["slide_epoch"] == 0, "the slide stops in its first epoch")


def test_the_repaired_slide_runs_and_has_nothing_to_clip(c):
    holds(c["fixed_updates"] == 100, "the repaired loop runs its 100 updates")
    below(c["fixed_loss_last"], c["fixed_loss_first"], "repaired slide: last / first loss")
    below(c["fixed_max_norm"], 1.0, "repaired slide: largest norm / max_grad_norm 1.0")
    holds(c["fixed_clipped"] == 0, "repaired slide: no update clipped")


def test_the_unclipped_run_blows_up_in_every_seed(c):
    holds(c["none_blown_up"] == c["seeds"], "unclipped: blown up in every seed")
    below(c["none_blowup_latest"], c["total_updates"],
          "unclipped: latest blow-up update / updates in the run")
    holds(c["none_nonfinite"] == c["seeds"], "unclipped: loss inf or NaN at the end, every seed")


def test_no_clipped_run_blows_up_and_each_learns(c):
    for key in KINDS:
        holds(c[f"blown_up_{key}"] == 0, f"{key}: blown up in no seed")
        below(c[f"peak_loss_{key}"], c["blowup"], f"{key}: peak loss / blow-up line (x var)")
        below(c[f"final_{key}"], 1.0, f"{key}: worst last-epoch loss / variance of the target")


def test_gradient_norms_jump_in_the_clipped_runs_too(c):
    for key in KINDS:
        above(c[f"spike_{key}"], 5, f"{key}: largest norm / 10th percentile, worst seed, > 5")


def test_norm_after_clipping_is_at_most_max_norm(c):
    close(c["max_after_norm"], c["max_norm"], "largest norm after clipping = max_norm", rel=1e-6)
    above(c["clipped_fraction_norm"], 0, "fraction of updates clipped by norm > 0")


def test_clipping_scaled_gradients_sees_the_scale_and_kills_the_update(c):
    scale = c["amp_scale"]
    holds(scale == 2.0**16, "the scaler's scale is 2**16")
    close(c["amp_wrong_seen"], scale * c["amp_true_norm"], "clip before unscale sees S x norm",
          rel=1e-4)
    above(c["amp_wrong_seen"], c["max_norm"], "clip before unscale: seen norm / max_norm")
    close(c["amp_wrong_after"], c["max_norm"] / scale, "clip before unscale leaves max_norm / S",
          rel=1e-4)


def test_clip_gradients_with_the_scaler_clips_the_true_gradients(c):
    close(c["amp_right_before"], c["amp_true_norm"], "lrnotes with scaler: norm before",
          rel=1e-5)
    close(c["amp_right_after"], min(c["amp_true_norm"], c["max_norm"]),
          "lrnotes with scaler: norm after", rel=1e-5)
    below(c["amp_right_diff"], 1e-6, "lrnotes with scaler vs float32 clip: max |diff| / 1e-6")


def test_solution_1_a_lower_rate_needs_no_clipping_but_learns_slower(c):
    holds(c["ex1_blown_up"] == 0, "LR 0.02 unclipped: blown up in no seed")
    above(c["ex1_spike"], 5, "LR 0.02 unclipped: largest norm / 10th percentile, > 5")
    above(c["ex1_final"], c["final_norm"], "LR 0.02 unclipped / LR clipped by norm, last epoch")


def test_solution_2_a_high_limit_is_no_clipping_a_low_one_a_smaller_rate(c):
    holds(c["ex2_blown_up_10"] >= 1, "MAX_NORM 10: blown up in at least one seed")
    above(c["ex2_clipped_01"], 0.9, "MAX_NORM 0.1: fraction of updates clipped > 0.9")
    below(c["ex2_final_01"], 1.0, "MAX_NORM 0.1: worst last-epoch loss / variance")


def test_solution_2_the_glued_comparison_with_the_chapters_limit_agrees(c):
    word = "below" if c["ex2_final_01"] < c["final_norm"] else "above"
    holds(c["ex2_01_vs_norm"] == word, "MAX_NORM 0.1 vs MAX_NORM 0.5: glued word agrees")
