"""Chapter 8's claims, read from the executed chapter.

Every claim goes through ``margins``. The slide's sweep is exact (its own arithmetic); the
range test and the training runs are checked against measured bounds. Checked under SEED
in {0, 1, 2} x OMP_NUM_THREADS in {1, 2}, every claim holding in every variant
(``benchmarks/results/claims_margins/08_lr_finder.json``).
Thinnest margins: steepest vs the grid's best 1.24, valley vs steepest 1.16 (both on means
over 3 training seeds per rate), validation vs training roughness 1.29.
"""

import math

from margins import above, below, close, holds

CH = "08_lr_finder"


def test_the_slides_first_two_updates_run_at_start_lr_and_it_never_reaches_end_lr(c):
    holds(c["slide_updates"] == 100, "the slide's sweep makes 100 updates")
    holds(c["slide_at_start"] == 2, "two updates at start_lr")
    start, end = c["slide_start_lr"], c["slide_end_lr"]
    close(c["slide_last_lr"], start * (end / start) ** (98 / 100), "last rate = start x 1e8^0.98",
          rel=1e-9)
    below(c["slide_last_lr"], end, "last rate / end_lr")
    close(c["slide_last_exponent"], 7.84, "decades swept: 7.84", rel=1e-9)
    close(c["slide_end_exponent"], 8.0, "decades asked: 8", rel=1e-12)


def test_the_slides_fresh_iterators_take_a_new_shuffled_batch_each_time(c):
    above(c["slide_distinct_batches"], 0.5 * c["slide_updates"],
          "distinct batches seen / half the updates")
    holds(c["shuffled_same_batch"] == "different", "two fresh shuffled iterators differ")
    holds(c["unshuffled_same_batch"] == "the same", "two fresh unshuffled iterators agree")


def test_the_slides_finder_leaves_the_model_ruined(c):
    above(c["slide_nonfinite_fraction"], 0.5, "non-finite fraction of the weights / 0.5")
    val_after = float(c["val_after_slide"])  # glue stores nan as the string 'nan'
    holds(math.isnan(val_after) or val_after > 2 * c["val_before"],
          "validation loss after the slide's sweep is NaN or doubled")


def test_suggestions_are_ordered_inside_the_sweep(c):
    for rule in ("steepest", "valley", "minimum"):
        above(c[f"suggest_{rule}"], c["start_lr"], f"{rule} / start_lr")
        below(c[f"suggest_{rule}"], c["stop_lr"], f"{rule} / stop_lr")
    holds(c["stop_lr"] <= c["end_lr"], "the test stops at or before end_lr")


def test_the_test_stopped_when_the_loss_diverged(c):
    holds(2 <= c["finder_steps"] < 100, "the range test stopped early")


def test_lr_find_restores_model_optimizer_and_rng_bitwise(c):
    holds(c["finder_restored"] is True, "bitwise restored")
    holds(c["finder_restored_text"] == "equal", "restored, in words")
    holds(c["compared_tensors"] >= 7, "all tensors of the model compared")
    holds(c["optimizer_state_after"] == 0, "no momentum buffers after the test")


def test_steepest_suggestion_trains_about_as_well_as_the_grids_best(c):
    best = min(c["grid_val_losses"])
    close(c["grid_best_val_loss"], best, "the grid's best is its minimum", rel=1e-12)
    close(c["steepest_ratio"], c["steepest_val_loss"] / best, "steepest ratio", rel=1e-9)
    below(c["steepest_val_loss"], c["margin"] * best, "steepest / (margin x grid best)")


def test_valley_is_more_careful_and_slower_on_a_short_budget(c):
    above(c["valley_val_loss"], c["steepest_val_loss"], "valley / steepest validation loss")


def test_solution_1_the_validation_curve_is_smoother(c):
    below(c["ex1_roughness_val"], c["ex1_roughness_train"], "roughness: validation / training")


def test_solution_2_without_momentum_the_curve_moves_to_higher_rates(c):
    above(c["ex2_stop_lr"], c["stop_lr"], "stop rate without / with momentum")
    above(c["ex2_suggest_steepest"], c["suggest_steepest"], "steepest without / with momentum")
