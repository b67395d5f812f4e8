"""When a candidate searches its grid again, and when it refits at the parameters its last search chose.

The best parameters rarely move from one week to the next, and the search is most of a run's time (the full grid
of the random forest: 9 points x 3 folds). `tuning` is each candidate's choice (TrainingConfig):
  search  every run searches (the original design's behaviour)
  refit   one fit at the parameters of the candidate's last search (a search when it has none)
  auto    (the schedule's) a search when the last one is `retune_weeks` weeks of data old, when drift triggered
          the run, when the data changed shape (target, training origins, holidays, the first day of the history,
          the feature columns), when the grid changed, or when the champion's realized accuracy fell behind;
          else a refit
The decision is a function of values (`decide`); the candidate asset reads them from its own materializations
(the last search) and from feature_dataset's metadata (this run's data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import dagster as dg


@dataclass(frozen=True)
class Search:
    """A candidate's grid search, as its materialization recorded it."""

    run_id: str
    params: dict
    cv_rmse: float | None
    profile: str
    shape: dict  # what the data looked like: target, training origins, holidays, first day, feature columns
    data_end: date | None  # the last day of sales it was tuned on


@dataclass(frozen=True)
class Tuning:
    search: bool
    reason: str
    source: Search | None = None  # the search whose parameters a refit uses


def decide(
    mode: str,
    last: Search | None,
    *,
    profile: str,
    shape: dict,
    data_end: date | None,
    retune_weeks: int,
    drift: bool,
    fell_behind: str | None,
) -> Tuning:
    """Whether this run searches (and why), or refits at `last`'s parameters."""
    if mode == "search":
        return Tuning(True, "tuning: search (every run searches its grid)")
    if last is None:
        return Tuning(True, f"tuning: {mode}, but this candidate has no earlier search to take parameters from")
    if mode == "refit":
        return Tuning(False, f"tuning: refit at the parameters of the search in run {last.run_id[:8]}", last)
    if drift:
        return Tuning(True, "tuning: auto, and drift triggered this run")
    if fell_behind:
        return Tuning(True, f"tuning: auto, and the champion's realized accuracy fell behind ({fell_behind})")
    if last.profile != profile:
        return Tuning(True, f"tuning: auto, and the grid changed (profile {last.profile} -> {profile})")
    changed = sorted(k for k in {*shape, *last.shape} if shape.get(k) != last.shape.get(k))
    if changed:
        return Tuning(True, f"tuning: auto, and the data changed shape since the last search ({', '.join(changed)})")
    weeks = (data_end - last.data_end).days // 7 if data_end and last.data_end else None
    if weeks is None or weeks >= retune_weeks:
        age = "of unknown age" if weeks is None else f"{weeks} week(s) of data old"
        return Tuning(True, f"tuning: auto, and the last search is {age} (retune_weeks {retune_weeks})")
    return Tuning(
        False,
        f"tuning: auto: refit at the parameters of the search in run {last.run_id[:8]}, {weeks} week(s) of data "
        f"old (searches again at {retune_weeks})",
        last,
    )


def last_search(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> Search | None:
    """The candidate's latest materialization that searched its grid (a release before tuning modes always did)."""
    records = instance.fetch_materializations(asset_key, limit=200).records  # newest first
    for record in records:
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        if metadata.get("tuning", "search") != "search" or "best_params" not in metadata:
            continue
        shape = metadata.get("data_shape") or {}
        end = metadata.get("data_end")
        return Search(
            run_id=record.run_id,
            params=dict(metadata["best_params"]),
            cv_rmse=metadata.get("cv_rmse"),
            profile=metadata.get("profile", "full"),
            shape=dict(shape) if isinstance(shape, dict) else json.loads(shape),
            data_end=date.fromisoformat(end) if end else None,
        )
    return None


def data_of(instance: dg.DagsterInstance) -> tuple[dict, date | None]:
    """This run's data as feature_dataset recorded it (the candidates' input): its shape and last day of sales."""
    event = instance.get_latest_materialization_event(dg.AssetKey("feature_dataset"))
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()} if event else {}
    first, _, last = str(metadata.get("sales_range", "")).partition(" .. ")
    shape = {
        "target": metadata.get("target"),
        "training_origins": metadata.get("training_origins"),
        "holidays_country": metadata.get("holidays_country"),
        "first_day": first or None,
        "features": metadata.get("features"),
    }
    return shape, date.fromisoformat(last) if last else None


def champion_fell_behind(instance: dg.DagsterInstance) -> tuple[bool, str]:
    """Whether forecast_accuracy's latest scored week found the champion worse than the best baseline or the
    shadow, and why (or why not). The accuracy of an earlier run's forecast: a feedback across runs, not an input
    of this one (declaring it would make a cycle)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("forecast_accuracy"))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()} if event else {}
    baseline, shadow = meta.get("weeks_worse_than_best_baseline", 0), meta.get("weeks_worse_than_shadow", 0)
    if not meta.get("forecast_weeks_scored"):
        return False, "no forecast week has been scored against actual sales yet"
    if baseline or shadow:
        return True, f"worse than the best baseline for {baseline} and than the shadow for {shadow} latest week(s)"
    return False, "in the latest scored week it beat the best baseline and the shadow"
