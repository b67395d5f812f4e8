"""The promotion gate's verdict: the best candidate against the best baseline and against the champion (the
production model that serves, re-scored on the same rows), on one metric, the mean over the holdout origins.

One writer (`decide`), one reader (`Gate.of`, from a stored `model_comparison` report), and the verdict's words
built from its fields (`Gate.words`), whoever says them: the report, the gate check, the run summary."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    metric: str
    min_improvement: float
    champion_min_improvement: float
    best_model: str
    best_model_value: float
    best_baseline: str | None
    best_baseline_value: float
    ratio_to_best_baseline: float
    beats_baselines: bool
    champion: dict | None  # the serving model's model name, version and key; None on a first run
    champion_value: float
    ratio_to_champion: float
    beats_champion: bool
    champion_error: str | None = None  # a production model is stored but could not be re-scored
    champion_other_target: str | None = None  # the production model forecasts another target: a first run

    @property
    def passed(self) -> bool:
        return self.beats_baselines and self.beats_champion

    @property
    def decided_by(self) -> str:
        return "both" if self.passed else ("baselines" if not self.beats_baselines else "champion")

    @property
    def first_run(self) -> bool:
        """Nothing of this target serves yet: a refused candidate leaves the best baseline serving."""
        return (self.champion is None and not self.champion_error) or bool(self.champion_other_target)

    def words(self, first_run: bool | None = None) -> str:
        """The verdict: why the best candidate is (not) promoted and what serves instead. `first_run` (default:
        as decided) is what the warehouse holds when a check says it later."""
        first = self.first_run if first_run is None else first_run
        metric, value, ratio = self.metric, self.best_model_value, self.ratio_to_best_baseline
        champion = self.champion
        named = (
            f"the champion, {champion['model']} (version {champion['version']}, {metric} {self.champion_value:.4f})"
            if champion
            else ""
        )
        if self.passed:
            said = (
                f"{self.best_model} ({metric} {value:.4f}) is {1 - ratio:.1%} below the best baseline, "
                f"{self.best_baseline} ({metric} {self.best_baseline_value:.4f}); at least {self.min_improvement:.1%} "
                "was required"
            )
            if champion:
                said += (
                    f", and {1 - self.ratio_to_champion:.1%} below {named}; at least "
                    f"{self.champion_min_improvement:.1%} was required"
                )
        elif not self.beats_baselines:
            if first:
                serves = (
                    f"there is no production model yet, so the best baseline, {self.best_baseline}, is promoted "
                    "until a candidate beats it"
                )
            elif champion:
                serves = f"the champion, {champion['model']} (version {champion['version']}), keeps serving"
            else:
                serves = "the previous production model stays"
            said = (
                f"not promoted: the best candidate, {self.best_model} ({metric} {value:.4f}), is not at least "
                f"{self.min_improvement:.1%} below the best baseline, {self.best_baseline} ({metric} "
                f"{self.best_baseline_value:.4f}; ratio {ratio:.3f}); {serves}"
            )
        else:
            said = (
                f"not promoted: the best candidate, {self.best_model} ({metric} {value:.4f}), is {1 - ratio:.1%} "
                f"below the best baseline, {self.best_baseline}, but not at least {self.champion_min_improvement:.1%} "
                f"below {named} (ratio {self.ratio_to_champion:.3f}); the champion keeps serving"
            )
        return said + (f" ({self.champion_error})" if self.champion_error else "")

    def as_dict(self) -> dict:
        """The stored form (the report's `gate`): the fields, the outcome and the words."""
        return {
            **dataclasses.asdict(self),
            "passed": self.passed,
            "decided_by": self.decided_by,
            "description": self.words(),
        }

    @classmethod
    def of(cls, stored: dict) -> Gate:
        """The gate of a stored report's `gate` (the fields only: the outcome and the words follow from them)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in names})


def decide(
    scores: dict[str, dict],
    models: list[str],
    baselines: list[str],
    metric: str,
    min_improvement: float,
    champion: dict | None = None,
    champion_min_improvement: float = 0.0,
    champion_error: str | None = None,
    champion_other_target: str | None = None,
) -> Gate:
    """The gate on `scores` (name -> {"origin_mean": {metric: value}}): the best of `models` against the best of
    `baselines` and against `scores["champion"]` when there is a champion. Promoted only when at least
    `min_improvement` below the best baseline and `champion_min_improvement` below the champion."""
    finite = [name for name in baselines if math.isfinite(scores[name]["origin_mean"][metric])]
    best = min(models, key=lambda name: _or_inf(scores[name]["origin_mean"][metric]))
    best_baseline = min(finite, key=lambda name: scores[name]["origin_mean"][metric]) if finite else None
    value = scores[best]["origin_mean"][metric]
    baseline_value = scores[best_baseline]["origin_mean"][metric] if best_baseline else float("nan")
    ratio = value / baseline_value if baseline_value and math.isfinite(baseline_value) else float("nan")
    champion_value = scores["champion"]["origin_mean"][metric] if champion else float("nan")
    champion_ratio = value / champion_value if champion_value and math.isfinite(champion_value) else float("nan")
    return Gate(
        metric=metric,
        min_improvement=min_improvement,
        champion_min_improvement=champion_min_improvement,
        best_model=best,
        best_model_value=value,
        best_baseline=best_baseline,
        best_baseline_value=baseline_value,
        ratio_to_best_baseline=ratio,
        beats_baselines=math.isfinite(ratio) and ratio <= 1.0 - min_improvement,
        champion=champion,
        champion_value=champion_value,
        ratio_to_champion=champion_ratio,
        beats_champion=champion is None
        or (math.isfinite(champion_ratio) and champion_ratio <= 1.0 - champion_min_improvement),
        champion_error=champion_error,
        champion_other_target=champion_other_target,
    )


def _or_inf(value: float) -> float:
    return value if math.isfinite(value) else math.inf
