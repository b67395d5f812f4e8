"""The plots (reporting/plots.py) are PNG images inlined as markdown; the forecast plot draws one panel per
category, the largest `top` by recent sales, two across."""

import base64
import io
import re
from datetime import date, timedelta

import pandas as pd
import pytest
from matplotlib import image

from forecast_assets.reporting.plots import forecast_by_category


def png_of(markdown: str):
    """The image a markdown data-URI image holds, as an array (rows, columns, channels)."""
    match = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:80]
    return image.imread(io.BytesIO(base64.b64decode(match.group(1))), format="png")


def frames(categories: int):
    start = date(2025, 1, 1)
    history = pd.DataFrame(
        [
            {"categoria_valor": f"c{c}", "day": start + timedelta(days=d), "sales": 10.0 * (c + 1)}
            for c in range(categories)
            for d in range(0, 28, 2)  # every other day: the days between sold nothing
        ]
    )
    forecast = pd.DataFrame(
        [
            {
                "categoria_valor": f"c{c}",
                "forecast_date": start + timedelta(days=28 + h),
                "forecast": 10.0,
                **{"lower_80": 8.0, "upper_80": 12.0, "lower_95": 6.0, "upper_95": 14.0},
            }
            for c in range(categories)
            for h in range(7)
        ]
    )
    return history, forecast


@pytest.mark.parametrize(("categories", "top", "rows"), [(1, 6, 1), (2, 6, 1), (3, 6, 2), (9, 6, 3), (9, 2, 1)])
def test_the_forecast_plot_has_a_row_per_two_of_the_largest_categories(categories, top, rows):
    history, forecast = frames(categories)
    one_row = png_of(forecast_by_category(*frames(2), top=6)).shape[0]
    height = png_of(forecast_by_category(history, forecast, top=top)).shape[0]
    assert height == pytest.approx(one_row * rows, rel=0.15)


def test_nothing_to_plot_says_so():
    history, forecast = frames(0)
    empty_forecast = forecast.reindex(columns=["categoria_valor", "forecast_date", "forecast"])
    assert forecast_by_category(history.reindex(columns=["categoria_valor", "day", "sales"]), empty_forecast) == (
        "nothing to plot: no sales and no forecast"
    )
