"""When a candidate searches its grid again and when it refits (training/retune.py), on hand-made values."""

from datetime import date, timedelta

import pytest

from forecast_assets.training.retune import Search, decide

SHAPE = {
    "target": "valor_total",
    "training_origins": "weekly",
    "holidays_country": "none",
    "first_day": "2023-01-02",
    "features": "a, b",
}
SEARCHED = Search("run-of-the-search", {"maxDepth": 10}, 1.5, "full", SHAPE, date(2026, 11, 1))


def tuning(mode: str, last=SEARCHED, weeks: int = 1, **changes):
    values = {"profile": "full", "shape": SHAPE, "drift": False, "fell_behind": None} | changes
    data_end = SEARCHED.data_end + timedelta(weeks=weeks)
    return decide(mode, last, data_end=data_end, retune_weeks=4, **values)


def test_search_always_searches_and_refit_reuses_the_last_search():
    assert tuning("search").search
    refit = tuning("refit", weeks=52, shape={**SHAPE, "features": "a, b, c"})  # refit is the user's choice
    assert not refit.search and refit.source == SEARCHED and "run-of-t" in refit.reason


@pytest.mark.parametrize("mode", ["refit", "auto"])
def test_without_an_earlier_search_every_mode_searches(mode):
    decided = tuning(mode, last=None)
    assert decided.search and "no earlier search" in decided.reason


def test_auto_refits_within_retune_weeks_and_searches_at_them():
    within = tuning("auto", weeks=3)
    assert (
        not within.search
        and within.source == SEARCHED
        and "3 week(s) of data old (searches again at 4)" in (within.reason)
    )
    due = tuning("auto", weeks=4)
    assert due.search and "4 week(s) of data old (retune_weeks 4)" in due.reason


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"drift": True}, "drift triggered this run"),
        ({"fell_behind": "worse than the best baseline for 2"}, "realized accuracy fell behind"),
        ({"profile": "small"}, "the grid changed (profile full -> small)"),
        ({"shape": {**SHAPE, "target": "quantidade"}}, "changed shape since the last search (target)"),
        ({"shape": {**SHAPE, "features": "a, b, holiday"}}, "(features)"),
        ({"shape": {**SHAPE, "first_day": "2024-01-01"}}, "(first_day)"),
    ],
)
def test_auto_searches_when_it_pays(changes, said):
    decided = tuning("auto", weeks=1, **changes)
    assert decided.search and said in decided.reason


def test_a_search_of_unknown_age_or_shape_is_searched_again():
    older = Search("old-release", {"maxDepth": 10}, 1.5, "full", {}, None)  # recorded before tuning modes
    assert tuning("auto", last=older).search
