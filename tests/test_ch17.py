"""Chapter 17's claims (schedule-free AdamW and Prodigy against tuned schedules on MNIST-1D),
read from the executed chapter.

Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in {1, 2} (papermill, quick profile); the
margins are in benchmarks/results/claims_margins/17_schedule_free.json. Which method wins is
not asserted: the prose states it from glued values, and the tests check that those values
are the ones the results give. No seed's run at the tuned rate is bounded: the rate chosen on
one seed can sit at the edge of the grid, where another seed stalls (warmup + cosine at 0.1
ends at 0.70 on seed 1 with 2 threads, 0.80 with 1); the chapter reports such runs instead.
"""

import numpy as np
from margins import above, below, close, holds

CH = "17_schedule_free"
REFERENCE = "AdamW, warmup + cosine"


def test_from_scratch_schedule_free_sgd_equals_the_package(c):
    below(c["toy_package_gap"], 1e-12, "y from scratch vs SGDScheduleFree's parameter")
    below(c["toy_package_x_gap"], 1e-12, "x from scratch vs the parameter after eval()")


def test_the_average_x_settles_where_z_keeps_bouncing(c):
    close(c["toy_z_over_x"], c["toy_loss"]["z"] / c["toy_loss"]["x"], "glued ratio")
    above(c["toy_z_over_x"], 3.0, "toy loss at z / at x, second half")


def test_fit_validates_at_x_and_y_is_another_point(c):
    close(c["fit_val_acc"], c["acc_at_x"], "fit's final val acc = accuracy at x", abs=1e-9)
    below(c["identity_error"], 1e-5, "y = (1 - beta) z + beta x, float32")
    below(c["by_hand_error"], 1e-5, "x recovered by hand from y and z")
    above(c["y_x_distance"], 0.1, "distance between the y and x weights")
    # which of the two is better is not asserted: it changes with the seed (margin 1.04)
    above(abs(c["loss_at_y"] - c["loss_at_x"]), 1e-3, "|validation loss at y - at x|")


def test_every_method_got_the_same_tuning_budget_and_its_best_point(c):
    holds(c["runs_per_method"] == {m: 3 for m in c["grid_acc"]}, "three runs per method")
    for method, acc in c["grid_acc"].items():
        grid = c["prodigy_grid"] if method == "Prodigy" else c["lr_grid"]
        holds(c["best"][method] == grid[int(np.argmax(acc))], f"best grid point, {method}")
        holds(c["results"][method]["val_acc"][0] == max(acc), f"seed SEED's run reused, {method}")


def test_the_learning_rate_matters_on_this_workload(c):
    acc = c["grid_acc"][REFERENCE]
    close(c["cosine_window"], max(acc) - min(acc), "glued window")
    above(c["cosine_window"], 0.03, "best - worst accuracy of warmup + cosine's grid")
    prodigy = c["grid_acc"]["Prodigy"]
    close(c["prodigy_window"], max(prodigy) - min(prodigy), "glued Prodigy window")
    close(c["prodigy_high_acc"], prodigy[-1], "glued Prodigy accuracy at the top multiplier")
    holds(c["prodigy_high"] == c["prodigy_grid"][-1], "glued top multiplier")
    # the prose's fixed bound: the best run of the grid on seed SEED ends above 75%; the other
    # seeds at that rate are reported (lowest to highest, unstable runs), not bounded
    close(c["cosine_best_acc"], max(acc), "glued best accuracy of the grid")
    above(c["cosine_best_acc"], 0.75, "warmup + cosine's best grid point learns, seed SEED")


def test_the_choice_of_rate_is_described_as_the_grid_made_it(c):
    acc, grid = c["grid_acc"][REFERENCE], c["lr_grid"]
    order = sorted(range(len(acc)), key=lambda i: -acc[i])  # ties: the lower rate, as argmax
    holds(c["cosine_best_lr"] == grid[order[0]] == c["best"][REFERENCE], "glued best rate")
    holds(c["cosine_runner_up_lr"] == grid[order[1]], "glued runner-up rate")
    close(c["cosine_lead"], acc[order[0]] - acc[order[1]], "glued lead of the best rate",
          abs=1e-12)
    where = {0: "the lowest rate of the grid", len(grid) - 1: "the highest rate of the grid"}
    holds(c["cosine_best_where"] == where.get(order[0], "inside the grid"), "glued edge")
    ratio = c["best"]["schedule-free AdamW"] / c["best"][REFERENCE]
    close(c["sf_over_cosine_lr"], ratio, "glued schedule-free / cosine rate")
    expected = ("a larger rate than" if ratio > 1 else
                "the same rate as" if ratio == 1 else "a smaller rate than")
    holds(c["sf_rate_text"] == expected, "glued comparison of the two rates")
    holds(c["lead_vs_sd"] == ("larger" if c["cosine_lead"] > c["reference_sd"] else
                              "not larger"), "glued lead against the seeds' sd")


def test_glued_verdicts_are_the_results(c):
    results = c["results"]
    ref = results[REFERENCE]["val_acc"]
    close(c["reference_acc"], np.mean(ref), "glued reference mean")
    for key, method in (("wsd", "AdamW, WSD"), ("sf", "schedule-free AdamW"),
                        ("prodigy", "Prodigy")):
        acc = results[method]["val_acc"]
        holds(len(acc) == c["seeds"] >= 3, f"three seeds or more, {method}")
        diff = np.mean(acc) - np.mean(ref)
        close(c[f"{key}_diff"], 100 * diff, f"glued difference, {method}", abs=1e-9)
        spread = max(np.std(acc), np.std(ref))
        expected = "within" if abs(diff) <= spread else ("above" if diff > 0 else "below")
        holds(c[f"{key}_where"] == expected == c["verdicts"][method], f"verdict, {method}")
    matched = [m for m, where in c["verdicts"].items() if where != "below"]
    holds(c["matched_text"].startswith({0: "none", 1: "only", 2: " and ".join(matched),
                                        3: "all three"}[len(matched)]), "glued matched text")
    close(c["reference_sd"], np.std(ref), "glued reference sd")
    for key, method in (("reference", REFERENCE), ("wsd", "AdamW, WSD"),
                        ("sf", "schedule-free AdamW"), ("prodigy", "Prodigy")):
        acc = results[method]["val_acc"]
        holds(c[f"{key}_min"] == min(acc) and c[f"{key}_max"] == max(acc), f"range, {method}")


def test_unstable_runs_are_reported(c):
    gap = c["unstable_points"] / 100
    low = sorted(m for m, r in c["results"].items() for a in r["val_acc"]
                 if a < max(r["val_acc"]) - gap)
    named = sorted(text.split(", seed ")[0] for text in c["low_runs"])
    holds(named == low, "glued list of runs far below their method's best seed, by method")
    holds((c["low_runs_text"].startswith("no run")) == (not low), "glued text on unstable runs")


def test_prodigy_finds_the_order_of_magnitude_of_the_tuned_rate(c):
    above(c["prodigy_d"], 1e3 * c["prodigy_d0"], "Prodigy's d / 1000 d0")
    above(c["prodigy_rate_over_adamw"], 0.1, "Prodigy's d / AdamW's tuned rate, low")
    below(c["prodigy_rate_over_adamw"], 10.0, "Prodigy's d / AdamW's tuned rate, high")
