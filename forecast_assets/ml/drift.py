"""Drift between a reference and a current sample: two-sample KS (scipy) and PSI, per column.

On large samples a KS p-value is tiny for differences nobody cares about, so, as Evidently does for
large samples, a column drifts when its effect size passes a threshold: the KS statistic or the PSI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DriftThresholds:
    ks_statistic: float = 0.15  # max distance between the two empirical CDFs (0.1 flags mere seasonality)
    psi: float = 0.2  # population stability index: 0.1 moderate, 0.2 significant shift
    drifted_share: float = 0.5  # the dataset drifts when this share of columns drift (or the prediction does)


def population_stability_index(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI over the reference's quantile bins (values outside fall in the end bins)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:  # (nearly) constant reference: compare the share at that value
        edges = np.array([-np.inf, edges[0], np.inf])
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0] / len(reference)
    actual = np.histogram(current, edges)[0] / len(current)
    expected, actual = np.clip(expected, 1e-6, None), np.clip(actual, 1e-6, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str], prediction: str | None, limits: DriftThresholds
) -> tuple[pd.DataFrame, dict]:
    """A table (one row per column: ks statistic, p-value, psi, drifted) and the overall verdict."""
    from scipy import stats  # imported here: loading the definitions should stay fast

    rows = []
    for column in columns:
        ref, cur = reference[column].dropna().to_numpy(), current[column].dropna().to_numpy()
        ks = stats.ks_2samp(ref, cur)
        psi = population_stability_index(ref, cur)
        rows.append(
            {
                "column": column,
                "ks_statistic": float(ks.statistic),
                "ks_pvalue": float(ks.pvalue),
                "psi": psi,
                "drifted": bool(ks.statistic > limits.ks_statistic or psi > limits.psi),
            }
        )
    table = pd.DataFrame(rows).set_index("column")
    share = float(table["drifted"].mean())
    prediction_drifted = bool(prediction is not None and table.loc[prediction, "drifted"])
    verdict = {
        "score": share,
        "drifted": bool(share >= limits.drifted_share or prediction_drifted),
        "prediction_drifted": prediction_drifted,
        "drifted_columns": [c for c in table.index if table.loc[c, "drifted"]],
        "reference_rows": len(reference),
        "current_rows": len(current),
    }
    return table, verdict
