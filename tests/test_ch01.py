"""Chapter 1's claims, read from the executed chapter.

Checked with ``scripts/claims_margins.py`` under SEED in {0, 1, 2} x OMP_NUM_THREADS in
{1, 2} (see ``benchmarks/results/claims_margins/01_learning_rate_control.json``). The
digits runs with a constant high rate are chaotic: seed by seed either arm can end lower, so
the chapter claims (and these tests assert) only averages over its seeds."""

import statistics

from margins import above, below, close, holds

CH = "01_learning_rate_control"


def test_the_slide_drops_the_rate_at_epoch_50_to_0_01(c):
    rates = c["slide_rates"]
    holds(c["slide_epochs"] == 100 and len(rates) == 100, "the slide's loop runs 100 epochs")
    holds(c["slide_drop_epoch"] == 50, "the slide's first epoch at a lower rate is 50")
    close(c["slide_lr_start"], 0.1, "the slide's rate before the drop")
    close(c["slide_lr_after"], 0.01, "the slide's rate after the drop")
    holds(rates == [0.1] * 50 + [0.01] * 50, "the slide's rate per epoch: 50 x 0.1, 50 x 0.01")


def test_rates_below_the_bound_converge_and_above_diverge(c):
    close(c["bound"], 2 / 10.0, "bound = 2/L")
    below(c["final_best"], 1e-4 * c["initial_loss"], "best rate's final loss / 1e-4 x initial")
    below(c["final_best"], c["final_small"], "best rate / small rate final loss")
    below(c["final_small"], c["initial_loss"], "small rate final / initial loss")
    above(c["final_large"], c["initial_loss"], "large rate final / initial loss")


def test_measured_divergence_point_is_the_bound(c):
    above(c["measured_divergence"], c["bound"], "measured divergence / bound")
    below(c["measured_divergence"], 1.02 * c["bound"], "measured divergence / 1.02 bound")


def test_manual_drop_changes_every_epoch_after_it(c):
    lrs, drop = c["manual_lrs"], c["drop_epoch"]
    holds(lrs[:drop] == [c["lr_high"]] * drop, "high rate before the drop")
    holds(lrs[drop:] == [c["lr_low"]] * (len(lrs) - drop), "low rate from the drop on")


def test_the_drop_ends_lower_on_average_over_the_seeds(c):
    holds(len(c["manual_train"]) == c["seeds"] >= 3, "one run per seed, at least three")
    close(c["manual_final_train"], statistics.fmean(c["manual_train"]), "glued mean (train)")
    close(c["constant_final_val"], statistics.fmean(c["constant_val"]), "glued mean (val)")
    below(c["manual_final_train"], c["constant_final_train"], "mean train loss: drop / constant")
    below(c["manual_final_val"], c["constant_final_val"], "mean val loss: drop / constant")
    pairs = [("train", c["manual_train"], c["constant_train"]),
             ("val", c["manual_val"], c["constant_val"])]
    for key, drop, constant in pairs:
        wins = sum(m < k for m, k in zip(drop, constant, strict=True))
        holds(c[f"{key}_wins"] == wins, f"glued count of seeds where the drop wins ({key})")


def test_exercise_1_condition_number(c):
    close(c["ex1_best_lr"], 2 / 10.1, "best rate for mu = 0.1")
    close(c["ex1_factor"], 99 / 101, "contraction factor for kappa = 100")
    above(c["ex1_steps"], 8 * c["ex1_steps_before"], "steps at kappa 100 / 8 x steps at kappa 10")


def test_exercise_2_early_drop_ends_lowest_on_average(c):
    close(c["ex2_drop10"], c["manual_final_train"], "drop-10 mean is the chapter's run")
    below(c["ex2_early"], c["ex2_drop10"], "mean train loss: drop at 3 / drop at 10")
    below(c["ex2_early"], c["ex2_late"], "mean train loss: drop at 3 / drop at 17")


def test_the_glued_note_on_the_seeds_follows_the_counts(c):
    drop_wins_all = c["train_wins"] == c["val_wins"] == c["seeds"]
    holds(c["seed_note"].startswith("the gap") == drop_wins_all,
          "the note says the gap varies only where the drop wins on all seeds, else explains"
          " the constant rate's wins")
