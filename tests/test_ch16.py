"""Chapter 16's claims (further reading), read from the executed chapter.

Checked under SEED in {0, 1, 2} x OMP_NUM_THREADS in {1, 2} (papermill, quick profile); the
margins are in benchmarks/results/claims_margins/16_further_reading.json.
"""

import math

from margins import above, below, close, holds

CH = "16_further_reading"


def test_momentum_and_adam_get_much_closer_than_sgd(c):
    holds(c["sgd_1e2_diverges"] is True and c["sgd_1e2_text"] == "it diverges",
          "SGD at 1e-2 diverges (the shared rate 1e-3 is a tenth of it)")
    final = c["path_final"]
    sgd = final["SGD (lr 1e-3)"]
    above(sgd, 0.5 * c["path_start"], "SGD's final distance / half the start's")
    for name in ("momentum 0.9 (lr 1e-3)", "Nesterov 0.9 (lr 1e-3)", "Adam (lr 0.1)"):
        below(final[name], 0.25 * sgd, f"{name} / a quarter of SGD's distance")
    below(final["RMSprop (lr 1e-2)"], sgd, "RMSprop vs SGD")


def test_range_test_falls_then_diverges_and_restores_the_model(c):
    holds(c["range_restored"] is True and c["range_restored_text"] == "equal",
          "lr_find restores the parameters")
    holds(c["range_stopped"] is True, "the range test stops on divergence")
    below(c["range_min"], 0.5 * c["range_first"], "smoothed minimum / half the first loss")
    below(c["range_low"], c["range_high"], "first 10% drop before the minimum")
    below(c["range_high"], c["range_stop_lr"], "minimum before the stop")


def test_sgdr_equals_torch_and_each_cycle_ends_better(c):
    below(c["sgdr_vs_torch"], 1e-12, "warm_restarts vs CosineAnnealingWarmRestarts")
    below(c["sgdr_lr_error"], 1e-12, "fit's lr vs the schedule")
    for lr in c["sgdr_lr_at_restarts"]:
        close(lr, c["sgdr_lr"], "lr at a restart")
    ends = c["sgdr_val_at_ends"]
    for i, (earlier, later) in enumerate(zip(ends, ends[1:], strict=False)):
        below(later, earlier, f"val loss at the end of cycle {i + 2} vs cycle {i + 1}")


def test_adam_bias_correction_factor(c):
    below(c["adam_vs_torch"], 1e-12, "from-scratch Adam vs torch")
    below(c["ratio_error"], 1e-10, "uncorrected / corrected vs r_t")
    close(c["r_first"], 0.1 / math.sqrt(0.001), "r_1")
    ratios = [(1 - 0.9**t) / math.sqrt(1 - 0.999**t) for t in range(1, c["adam_steps"] + 1)]
    close(c["r_peak"], max(ratios), "peak of r_t")
    holds(c["r_peak_step"] == ratios.index(max(ratios)) + 1, "step of the peak")
    close(c["r_last"], ratios[-1], "last r_t")
    above(min(ratios), 1, "every uncorrected step too large with the defaults")
    close(c["r_small_beta2"], 0.1 / math.sqrt(0.1), "r_1 with beta2 = 0.9")


def test_solutions(c):
    given, best = c["given_distance"], c["best_distance"]
    for name in given:
        below(best[name], given[name] * (1 + 1e-12), f"exercise 1: best rate no worse, {name}")
    holds(c["rank_best"] == ", ".join(sorted(best, key=best.get)), "glued ranking")
    above(best["SGD"], 10 * min(best.values()), "exercise 1: SGD at its best vs the best")
    above(c["early_uncorrected_9999"], 3 * c["early_corrected_9999"],
          "exercise 2: uncorrected beta2 0.9999 early loss / 3x corrected")
