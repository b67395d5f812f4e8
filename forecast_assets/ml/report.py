"""The comparison report: what `model_comparison` found, stored as JSON in ml-experiments and read by the gate
check, production_model, shadow_forecast, the serving check, MLflow tracking and the run summary.

One writer (`as_dict`, the stored form) and one reader (`ComparisonReport.of`); the gate is a `Gate`, the holdout
a `Holdout`. The entries of models, baselines and the champion keep their stored shape (the metrics of
ml/metrics.py: pooled, per origin, per horizon, plus what each kind adds: best params, members, column)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from forecast_assets.ml.gate import Gate


@dataclass(frozen=True)
class Holdout:
    """The time-ordered holdout every model was scored on."""

    rows: int
    origins: list[str]  # the weekly origins, ISO dates, oldest first
    horizon_days: int
    first_date: str
    last_date: str

    @property
    def span(self) -> str:
        return f"{self.first_date} .. {self.last_date}"


@dataclass(frozen=True)
class ComparisonReport:
    run_id: str
    best_model: str
    metric_for_selection: str
    gate: Gate
    holdout: Holdout
    mase_scale_seasonal_naive_train_mae: float | None
    feature_dataset: dict  # the lineage of the rows scored: the feature_dataset materialization it read
    models: dict[str, dict]  # candidate (and combination, per_class) -> its scores, params, importances
    baselines: dict[str, dict]  # baseline -> its scores and the feature column it reads
    champion: dict | None  # the model that served (model, kind, version, key) and its scores; None on a first run
    demand_classes: dict[str, dict]  # demand class -> products, rows, choice, scores

    def served_entry(self) -> tuple[str, dict]:
        """What serves after this comparison: the best candidate when the gate passed, else the champion (it keeps
        serving), else the best baseline (a first run), with its entry."""
        if self.gate.passed:
            return self.gate.best_model, self.models[self.gate.best_model]
        if self.champion:
            return self.champion["model"], self.champion
        return self.gate.best_baseline, self.baselines[self.gate.best_baseline]

    def as_dict(self) -> dict:
        """The stored form: JSON-ready, the gate with its outcome and words."""
        stored = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**stored, "gate": self.gate.as_dict(), "holdout": dataclasses.asdict(self.holdout)}

    @classmethod
    def of(cls, stored: dict) -> ComparisonReport:
        """The report of its stored form."""
        return cls(
            **{
                **{f.name: stored.get(f.name) for f in dataclasses.fields(cls)},
                "gate": Gate.of(stored["gate"]),
                "holdout": Holdout(**stored["holdout"]),
            }
        )
