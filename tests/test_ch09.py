"""Chapter 9's claims, read from the executed chapter.

Margins measured with ``scripts/claims_margins.py --chapters 09 --seeds 0 1 2 --threads 1 2``
(benchmarks/results/claims_margins/09_cyclical_rates.json): every claim holds in all six
variants (SEED 0, 1, 2 x OMP_NUM_THREADS 1, 2; worst margins: CLR / lower-bound mean 1.42,
CLR / best constant vs MARGIN 1.59).
Run with OMP_WAIT_POLICY=PASSIVE on a shared 2-core machine (it changes no number, only
how idle threads wait).

The MNIST-1D section asserts no winner: its tests check the glued verdicts (which constant is
better, each schedule's difference from it in points and in sd, within or outside the spread,
the count of seeds) against the glued per-seed accuracies, and that every run learns (worst
margin 1.81, the lower-bound constant, over the six variants)."""

import statistics

import numpy as np
from margins import above, below, close, holds

CH = "09_cyclical_rates"


def test_the_slide_draws_the_triangular_cycle(c):
    close(c["slide_first_lr"], 0.001, "slide: first lr is base_lr")
    close(c["slide_peak_lr"], 0.1, "slide: peak lr is max_lr")
    holds(c["slide_peak_step"] == 1000, "slide: peak after one step_size")
    holds(c["slide_steps"] == 10_000 and c["slide_cycles"] == 4,
          "slide: back at the lower bound every 2000 steps")


def test_the_slides_class_is_one_update_late(c):
    close(c["slide_lr_before_first_step"], 0.1, "slide: optimizer at max_lr before step()")
    close(c["slide_first_update_lr"], 0.1, "slide: first update at the optimizer's own lr")
    above(c["max_rel_diff_slide"], 0.01, "slide differs from torch")
    close(c["max_rel_diff_slide_shifted"], 0.0, "slide shifted by one = torch", abs=1e-13)


def test_lrnotes_cyclic_equals_torch_cycliclr_in_every_mode(c):
    holds(c["compared_steps"] >= 1000, "compared over >= 1000 steps")
    close(c["max_rel_diff_lrnotes"], 0.0, "lrnotes cyclic = torch CyclicLR", abs=1e-14)


def test_cyclical_momentum_moves_against_the_rate_and_equals_torch(c):
    close(c["momentum_at_lr_low"], 0.95, "momentum at the lower bound")
    close(c["momentum_at_lr_peak"], 0.85, "momentum at the peak")
    close(c["momentum_max_diff"], 0.0, "momentum = torch's", abs=1e-12)


def test_range_test_bounds_are_ordered(c):
    below(c["lower_bound"], c["upper_bound"], "lower bound < upper bound")
    below(c["upper_bound"], c["minimum_lr"], "upper bound < minimum")
    close(c["upper_bound"], c["minimum_lr"] / c["backoff"], "upper = minimum / backoff")


def test_clr_records_its_schedule(c):
    close(c["clr_lr_max_deviation"], 0.0, "fit records the schedule's lrs", abs=1e-12)


def test_clr_beats_the_lower_bound_on_average(c):
    clr, lower = np.array(c["clr_val_losses"]), np.array(c["lower_val_losses"])
    holds(len(clr) == len(lower) == c["n_seeds"] >= 5, "five seeds per arm")
    below(np.mean(clr), np.mean(lower), "CLR mean / lower-bound mean loss")
    close(c["clr_vs_lower"], np.mean(clr) / np.mean(lower), "glued ratio")
    beats = int(np.sum(clr < lower))
    words = f"all {len(clr)} seeds" if beats == len(clr) else f"{beats} of the {len(clr)} seeds"
    holds(c["clr_beats_lower_words"] == words, "glued count of seeds")
    close(c["clr_val_loss"], np.mean(clr), "glued CLR mean")
    close(c["clr_min"], np.min(clr), "glued CLR min")
    close(c["clr_max"], np.max(clr), "glued CLR max")


def test_clr_nearly_matches_the_best_constant_on_average(c):
    best = min(np.mean(c["lower_val_losses"]), np.mean(c["upper_val_losses"]))
    close(c["clr_ratio"], np.mean(c["clr_val_losses"]) / best, "glued ratio")
    below(c["clr_ratio"], c["margin"], "CLR mean / best constant mean vs MARGIN")


def test_solution_1_a_too_high_top_hurts_the_constant(c):
    n = c["ex1_n_seeds"]
    upper = np.mean(c["upper_val_losses"][:n])
    close(c["ex1_constant_vs_backed_off"], c["ex1_constant_val_loss"] / upper, "glued factor")
    clr = np.mean(c["clr_val_losses"][:n])
    close(c["ex1_cycle_vs_backed_off"], c["ex1_cycle_val_loss"] / clr, "glued factor")
    more = ("the constant" if c["ex1_constant_vs_backed_off"] > c["ex1_cycle_vs_backed_off"]
            else "the cycle")
    holds(c["ex1_suffers_more"] == more, "glued word")
    above(c["ex1_constant_vs_backed_off"], 1.0, "constant at the minimum / backed off")


def test_solution_2_names_the_lowest_policy(c):
    losses = {m: c[f"ex2_{m}_val_loss"] for m in ("triangular", "triangular2", "exp_range")}
    holds(c["ex2_lowest"] == min(losses, key=losses.get), "glued name of the lowest")
    close(c["ex2_triangular_val_loss"], np.mean(c["clr_val_losses"][:c["ex1_n_seeds"]]),
          "triangular = the CLR arm")
    below(c["ex2_triangular2_peak_last_cycle"], c["ex2_triangular_peak_last_cycle"],
          "triangular2's last cycle peaks lower")
    below(c["ex2_exp_range_peak_last_cycle"], c["ex2_triangular_peak_last_cycle"],
          "exp_range's last cycle peaks lower")


# --- MNIST-1D: the cycle and one-cycle against each bound held constant, over seeds ----------
CLR, ONE_CYCLE = "CLR (triangular)", "one-cycle"
UPPER, LOWER = "constant at the upper bound", "constant at the lower bound"


def test_on_mnist1d_each_arm_runs_at_its_rates(c):
    half = c["medium_half_cycle_epochs"]
    holds(c["medium_epochs"] % (2 * half) == 0, "the MNIST-1D cycle ends at the bottom")
    close(c["medium_cycles"], c["medium_epochs"] / (2 * half), "glued number of cycles")
    peaks = c["medium_peak_lrs"]
    for name in (CLR, UPPER):
        for peak in peaks[name]:
            close(peak, c["medium_max_lr"], f"peak rate of {name} = MEDIUM_MAX_LR")
    for peak in peaks[ONE_CYCLE]:  # its peak falls between two updates
        close(peak, c["medium_max_lr"], "one-cycle's peak = MEDIUM_MAX_LR within 0.1%", rel=1e-3)
    for peak in peaks[LOWER]:
        close(peak, c["medium_base_lr"], "the lower constant = MEDIUM_BASE_LR")


def test_on_mnist1d_glued_verdicts_are_the_results(c):
    acc = {name: values["val_acc"] for name, values in c["medium_final"].items()}
    holds(set(acc) == {CLR, ONE_CYCLE, UPPER, LOWER}, "the four MNIST-1D arms")
    for values in acc.values():
        holds(len(values) == c["medium_seeds"] >= 3, "one MNIST-1D run per seed, at least three")
    for key, name in (("clr", CLR), ("onecycle", ONE_CYCLE), ("upper", UPPER), ("lower", LOWER)):
        close(c[f"medium_{key}_acc"], statistics.fmean(acc[name]), f"glued mean, {name}")
        close(c[f"medium_{key}_sd"], statistics.pstdev(acc[name]), f"glued sd, {name}", rel=1e-6)
    best = max((UPPER, LOWER), key=lambda name: statistics.fmean(acc[name]))
    holds(c["medium_best_constant"] == best.removeprefix("constant at "),
          "glued name of the better constant")
    holds(c["medium_best"] == max(acc, key=lambda name: statistics.fmean(acc[name])),
          "glued name of the highest mean")
    for key, name in (("clr", CLR), ("onecycle", ONE_CYCLE)):
        difference = statistics.fmean(acc[name]) - statistics.fmean(acc[best])
        spread = max(statistics.pstdev(acc[name]), statistics.pstdev(acc[best]))
        close(c[f"medium_{key}_diff"], 100 * difference, f"glued {name} - constant", abs=1e-9)
        close(c[f"medium_{key}_effect"], difference / spread, f"glued {name} effect", rel=1e-6)
        holds(c[f"medium_{key}_where"] == ("within" if abs(difference) <= spread else "outside"),
              f"glued verdict, {name} against the better constant")
        ahead = sum(a > b for a, b in zip(acc[name], acc[best], strict=True))
        n = len(acc[name])
        words = f"all {n} seeds" if ahead == n else f"{ahead} of the {n} seeds"
        holds(c[f"medium_{key}_ahead_words"] == words, f"glued count of seeds, {name}")


def test_on_mnist1d_every_run_learns(c):
    for name, values in c["medium_final"].items():
        for value in values["val_acc"]:
            above(value, 0.3, f"MNIST-1D validation accuracy / 0.3, chance is 0.1 ({name})")
