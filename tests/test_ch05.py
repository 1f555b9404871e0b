"""Chapter 5's claims, read from the executed chapter.

Every claim goes through ``margins``. The slide's rates and the schedule tables are exact
(closed forms); the warmup experiment is checked per seed (the chapter runs SEEDS seeds).
Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in {1, 2},
every claim holding in every variant (``benchmarks/results/claims_margins/05_warmup.json``).
The MNIST-1D section asserts no winner: its tests check the glued verdicts (the difference
in points and in sd, within or outside the spread, the count of seeds) against the glued
per-seed accuracies, and that every run learns (worst margin 1.54 over the six variants).
"""

import statistics

from margins import above, close, holds

CH = "05_warmup"


def test_the_slides_warmup_ramps_to_initial_lr_then_jumps_to_the_base_rate(c):
    holds(c["slide_updates"] == 2000, "the slide's loop runs 100 epochs x 20 batches")
    holds(c["slide_warmup"] == 1000, "the slide's warmup is 1000 updates")
    close(c["slide_first"], c["slide_initial_lr"] / c["slide_warmup"],
          "first update at initial_lr / W")
    close(c["slide_last_warmup"], c["slide_initial_lr"], "update W - 1 at initial_lr")
    close(c["slide_after_warmup"], c["slide_base_lr"], "update W at the base lr")
    close(c["slide_jump"], 1000, "the jump at update W is 1000x", rel=1e-9)


def test_the_table_shows_the_same_ramp_and_jump(c):
    lrs = c["table_slide_lrs"]
    base, initial, w = c["base_lr"], c["initial_lr"], c["warmup_steps"]
    for t, lr in enumerate(lrs):
        expected = initial * (t + 1) / w if t < w else base
        close(lr, expected, f"slide table row {t}", rel=1e-12)
    close(c["table_slide_jump"], base / initial, "table jump = base / initial", rel=1e-12)


def test_lrnotes_warmup_equals_torch_linear_lr_and_sequential_lr(c):
    holds(c["rows"] >= 10, "at least 10 rows compared")
    close(c["warmup_vs_torch"], 0.0, "lrnotes vs LinearLR+SequentialLR", rel=0, abs=1e-12)


def test_warmup_starts_where_asked_or_one_step_into_the_ramp(c):
    close(c["lrnotes_first_lr"], c["initial_lr"], "start= gives the first rate", rel=1e-12)
    close(c["default_first_lr"], c["base_lr"] / (c["warmup_steps"] + 1),
          "default first rate is base / (W + 1)", rel=1e-12)


def test_same_budget_and_peak_with_and_without_warmup(c):
    holds(c["updates_cold"] == c["updates_warm"], "same number of updates")
    close(c["peak_lr_cold"], c["high_lr"], "peak rate without warmup", rel=1e-9)
    close(c["peak_lr_warm"], c["high_lr"], "peak rate with warmup", rel=1e-9)


def test_warmup_ends_ahead_in_every_seed(c):
    above(c["loss_ratio"], 5.0, "smallest per-seed ratio of final train loss, cold / (5 x warm)")
    above(c["warm_acc_worst"], c["cold_acc_best"], "worst warm / best cold validation accuracy")


def test_solution_1_one_epoch_of_warmup_still_trains(c):
    above(c["ex1_acc"], c["cold_acc_best"], "1-epoch warmup / best cold validation accuracy")


def test_solution_2_the_mlp_trains_without_warmup(c):
    above(c["ex2_cold_acc_worst"], 0.9, "MLP without warmup: worst validation accuracy / 0.9")


def test_the_prose_count_of_seeds_ahead_agrees(c):
    holds(c["warm_ahead_words"] == f"all {c['seeds']} seeds", "warmup ahead in every seed")
    above(c["loss_ratio"], 1.0, "the smallest per-seed ratio agrees: cold / warm")


# --- MNIST-1D: warmup + cosine against the cosine alone, one shared rate, over seeds ---------
WARM, COLD = "warmup + cosine", "cosine, no warmup"


def test_on_mnist1d_both_arms_make_the_same_updates_at_the_same_peak(c):
    updates = c["medium_updates"]
    holds(len(updates) == 2 * c["medium_seeds"] and len(set(updates)) == 1,
          "every MNIST-1D run makes the same number of updates")
    for peak in c["medium_peak_lrs"]:
        close(peak, c["medium_lr"], "MNIST-1D peak rate = MEDIUM_LR", rel=1e-9)
    holds(c["medium_warmup_steps"] == round(c["medium_warmup"] * updates[0]),
          "the warmup spans MEDIUM_WARMUP of the updates")


def test_on_mnist1d_glued_verdicts_are_the_results(c):
    final = c["medium_final"]
    warm, cold = final[WARM]["val_acc"], final[COLD]["val_acc"]
    holds(len(warm) == len(cold) == c["medium_seeds"] >= 3,
          "one MNIST-1D run per seed and arm, at least three")
    close(c["medium_warm_acc"], statistics.fmean(warm), "glued mean, warmup + cosine")
    close(c["medium_cold_acc"], statistics.fmean(cold), "glued mean, cosine alone")
    close(c["medium_warm_sd"], statistics.pstdev(warm), "glued sd, warmup + cosine", rel=1e-6)
    close(c["medium_cold_sd"], statistics.pstdev(cold), "glued sd, cosine alone", rel=1e-6)
    difference = statistics.fmean(warm) - statistics.fmean(cold)
    spread = max(statistics.pstdev(warm), statistics.pstdev(cold))
    close(c["medium_diff"], 100 * difference, "glued difference in points", abs=1e-9)
    close(c["medium_effect"], difference / spread, "glued difference in sd", rel=1e-6)
    holds(c["medium_where"] == ("within" if abs(difference) <= spread else "outside"),
          "glued verdict: within or outside the spread")
    ahead = sum(w > k for w, k in zip(warm, cold, strict=True))
    words = f"all {len(warm)} seeds" if ahead == len(warm) else f"{ahead} of the {len(warm)} seeds"
    holds(c["medium_ahead_words"] == words, "glued count of seeds where warmup ends ahead")


def test_on_mnist1d_every_run_learns(c):
    for name, values in c["medium_final"].items():
        for value in values["val_acc"]:
            above(value, 0.5, f"MNIST-1D validation accuracy / 0.5 ({name})")
