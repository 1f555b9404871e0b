"""The guide page's recipe, read from the executed page (``book/guide.ipynb``).

Checked under SEED 0 (seeds 0, 1, 2 inside the page) with 1 torch thread on this machine's
CPU; the accuracy bound leaves 4.5 points below the worst seed seen (94.2 %)."""

from margins import above, holds

CH = "guide"


def test_the_range_test_restored_every_model(c):
    holds(c["all_restored"] == "every", "lr_find restored the model in every seed")


def test_the_recipe_trains_the_digits_in_every_seed(c):
    for k, acc in enumerate(c["recipe_acc"]):
        above(acc, 0.9, f"recipe val accuracy, seed {k} / 0.9")


def test_the_range_test_picks_a_rate_in_adams_band(c):
    above(c["peak_min"], 1e-4, "smallest suggested peak / 1e-4")
    above(0.1, c["peak_max"], "0.1 / largest suggested peak")
