"""Drift decisions: an injected mean shift is flagged; a same-distribution sample of 100k rows is not."""

import numpy as np
import pandas as pd

from forecast_assets.ml.drift import DriftThresholds, drift_report, population_stability_index

COLUMNS = ["lag_1", "ma_7", "prediction"]


def sample(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    level = rng.lognormal(4.5, 0.6, rows)
    return pd.DataFrame(
        {
            "lag_1": level + rng.normal(0, 10, rows) + shift,
            "ma_7": level + rng.normal(0, 3, rows) + shift,
            "prediction": level + shift,
        }
    )


def test_same_distribution_of_100k_rows_is_not_drift_despite_its_p_values():
    rng = np.random.default_rng(1)
    reference, current = sample(rng, 100_000), sample(rng, 100_000)
    table, verdict = drift_report(reference, current, COLUMNS, "prediction", DriftThresholds())
    assert not verdict["drifted"] and verdict["score"] == 0.0
    assert (table["ks_statistic"] < 0.02).all() and (table["psi"] < 0.01).all()


def test_injected_mean_shift_is_flagged():
    rng = np.random.default_rng(2)
    reference = sample(rng, 100_000)
    current = sample(rng, 20_000, shift=40.0)  # about half a standard deviation of the level
    table, verdict = drift_report(reference, current, COLUMNS, "prediction", DriftThresholds())
    assert verdict["drifted"] and verdict["prediction_drifted"]
    assert set(verdict["drifted_columns"]) == set(COLUMNS)
    assert (table["ks_pvalue"] < 1e-6).all()


def test_small_shift_on_one_column_is_reported_but_not_drift_of_the_dataset():
    rng = np.random.default_rng(3)
    reference, current = sample(rng, 50_000), sample(rng, 50_000)
    current["lag_1"] += 60.0
    _, verdict = drift_report(reference, current, COLUMNS, "prediction", DriftThresholds())
    assert verdict["drifted_columns"] == ["lag_1"]
    assert not verdict["drifted"]


def test_psi_of_identical_samples_is_zero_and_grows_with_the_shift():
    values = np.random.default_rng(4).normal(0, 1, 10_000)
    assert population_stability_index(values, values) < 1e-9
    psis = [population_stability_index(values, values + shift) for shift in (0.1, 0.5, 1.0)]
    assert psis == sorted(psis) and psis[-1] > 0.5
