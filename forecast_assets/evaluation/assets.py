"""Evaluation: every candidate and the baselines on the time-ordered holdout origins; promotion of the best."""

import math
import time
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field, field_validator
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.features.assets import HOLDOUT, TRAIN, model_inputs
from forecast_assets.ledger import PRODUCTION, append_ledger, code_version, ledger_table, read_ledger, run_context
from forecast_assets.ml import statistical
from forecast_assets.ml.demand import CLASSES, NEW, demand_classes
from forecast_assets.ml.features import (
    KEY_COLUMNS,
    BaselineForecaster,
    LevelRescaler,
    target_of,
    weekly_origin,
)
from forecast_assets.ml.gate import decide
from forecast_assets.ml.metrics import evaluate_forecasts
from forecast_assets.ml.report import ComparisonReport, Holdout
from forecast_assets.policies import spark_asset
from forecast_assets.reporting import plots
from forecast_assets.reporting.tables import frame_table
from forecast_assets.resources.storage import StorageError
from forecast_assets.serving.champion import champion_predictions, load_champion
from forecast_assets.settings import MODELS_BUCKET
from forecast_assets.training.assets import (
    CANDIDATES,
    COMBINATION,
    PER_CLASS,
    best_params,
    candidate_ins,
    feature_importances,
    fitted_by_name,
    predicting_into,
    serving_model,
)

# Baselines, scored on the same holdout rows: each is a feature column known at the origin (see
# ml/features.py), or zero. Zero is strong on absolute error for series that mostly do not sell.
BASELINES = {
    "naive": "lag_1",  # the origin day's sales
    "seasonal_naive": "seasonal_naive",  # the target's weekday in the last known week
    "moving_average_7d": "ma_7",
    "moving_average_28d": "ma_28",
    # the long-run rate (unobserved days skipped): what Croston-type methods estimate for intermittent demand
    "moving_average_112d": "ma_112",
    "same_weekday_mean_4w": "same_weekday_4w",
    "same_weekday_mean_8w": "same_weekday_8w",
    "zero": None,
}


SHORT_NAMES = {c.asset_name: c.name for c in CANDIDATES}


GATE_CHECK = "best_model_beats_baselines"


class EvaluationConfig(dg.Config):
    gate_metric: Literal["rmse", "mae", "wape", "weekly_wape"] = Field(
        default="rmse",
        description="metric of the promotion gate and of the choice of the best candidate, averaged over the "
        'holdout origins (README, "What the gate compares": why RMSE)',
    )
    min_improvement: float = Field(
        default=0.02,
        ge=0.0,
        lt=1.0,
        description="the best candidate must score at least this fraction below the best baseline on the gate "
        "metric to be promoted (0.02: 2% better)",
    )
    per_class: bool = Field(
        default=True,
        description="also score `per_class`: each demand class (smooth, erratic, intermittent, lumpy, new) served "
        "by the best candidate on its own holdout rows when it beats that class's best baseline by min_improvement, "
        "else by that baseline",
    )
    combination_size: int = Field(
        default=2,
        ge=0,
        description="the candidate `combination` averages the forecasts of this many candidates, the best by "
        "cross-validation RMSE (chosen before the holdout is seen); 0 or 1: no combination",
    )
    statistical: list[str] = Field(
        default=["ets"],
        description="statistical candidates (some of ets, auto_ets, auto_theta, auto_arima; [] for none), fitted "
        "per product inside Spark at each holdout origin (statsforecast, weekly season; ml/statistical.py); scored, "
        "chosen per class, combined and served like the others",
    )
    combine_statistical: bool = Field(
        default=True,
        description="the combination also averages the statistical candidates' forecasts (beside the best "
        "`combination_size` regressors by cross-validation)",
    )
    champion_min_improvement: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="and at least this fraction below the production model that serves (the champion), re-scored "
        "on this run's holdout; 0: at least as good",
    )

    @field_validator("statistical")
    @classmethod
    def _known_models(cls, names: list[str]) -> list[str]:
        if unknown := [n for n in names if not statistical.is_statistical(n)]:
            raise ValueError(f"statistical: unknown {unknown}; expected some of {', '.join(statistical.MODELS)}")
        return list(dict.fromkeys(names))


def _training_metadata(context: dg.AssetExecutionContext, asset_name: str, key: str):
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset_name))
    entry = event.asset_materialization.metadata.get(key) if event else None
    return None if entry is None else entry.value


def combination_members(cv_rmse: dict[str, float | None], size: int) -> list[str]:
    """The candidates the combination averages: the `size` best by cross-validation RMSE (on the training
    split only, so the holdout that judges the combination did not choose it); none when fewer are known."""
    known = sorted((value, name) for name, value in cv_rmse.items() if value is not None and math.isfinite(value))
    return [name for _, name in known[:size]] if size >= 2 and len(known) >= size else []


def choose_per_class(
    frame: pd.DataFrame, models: list[str], metric: str, min_improvement: float, scale: float
) -> dict[str, dict]:
    """Per demand class (the frame's `demand_class`), the promotion gate's rule on that class's holdout rows alone:
    its best candidate when at least `min_improvement` below its best baseline, else that baseline. A class
    without holdout rows takes the choice made on all rows. {class: {products, rows, scores (each candidate's and
    baseline's `metric`, mean over origins), choice, kind (model or baseline), column (a candidate's name, a
    baseline's feature column, '' for zero), best_model, best_baseline}}."""

    def choose(rows: pd.DataFrame) -> dict:
        scores = {name: evaluate_forecasts(rows, name, scale) for name in [*models, *BASELINES]}
        gate = decide(scores, models, list(BASELINES), metric, min_improvement)
        if gate.passed:
            choice, kind, column = gate.best_model, "model", gate.best_model
        else:
            choice = gate.best_baseline or "zero"
            kind, column = "baseline", BASELINES[choice] or ""
        return {
            "products": int(rows["produto"].nunique()),
            "rows": len(rows),
            "scores": {name: entry["origin_mean"][metric] for name, entry in scores.items()},
            "choice": choice,
            "kind": kind,
            "column": column,
            "best_model": gate.best_model,
            "best_baseline": gate.best_baseline,
        }

    overall = choose(frame)
    chosen = {cls: choose(rows) for cls, rows in frame.groupby("demand_class", sort=False)}
    return {cls: chosen.get(cls) or {**overall, "products": 0, "rows": 0, "from_all_rows": True} for cls in CLASSES}


@spark_asset(
    group_name="evaluation",
    io_manager_key="ml_experiments_io",
    kinds={"spark", "json"},
    ins=lambda settings: {
        "feature_dataset": dg.AssetIn(),
        "feature_pipeline": dg.AssetIn(),
        "raw_sales": dg.AssetIn(),
        **candidate_ins(settings),
    },
    required_resource_keys={"ml_models_io", "warehouse", "tracking"},
)
def model_comparison(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    feature_dataset: DataFrame,
    feature_pipeline: PipelineModel,
    raw_sales: DataFrame,
    **candidates,
) -> dg.Output[dict]:
    """The candidates (FORECAST_CANDIDATES), the statistical candidates (ETS per product, fitted at each holdout
    origin in Spark tasks), their combination, the choice per demand class, and the baselines (naive,
    seasonal naive, 7-, 28- and 112-day moving averages, same-weekday means over 4 and 8 weeks, zero) scored on the
    holdout split of `feature_dataset`: the last K weekly origins, each forecasting its next H days. rmse, mae,
    wape, mase and bias pooled, per origin (mean and spread) and per horizon; each model's ratio to the best
    baseline; the champion (the production model that serves, read from ml-models) re-scored on the same rows
    through its own fitted stages; the promotion gate's verdict; best params, feature importances and training time.
    Stored as JSON in ml-experiments; the UI shows the table (the champion as a row beside the candidates and
    baselines) and plots."""
    holdout = feature_dataset.filter(F.col("split") == HOLDOUT)
    champion_model, champion, champion_error = None, None, None
    try:
        champion_model, champion = load_champion(context)
    except StorageError as error:
        champion_error = f"the production model that serves could not be loaded: {error}"
    target, other_target = target_of(feature_pipeline), None
    if champion_model is not None and (theirs := target_of(champion_model)) != target:
        other_target = theirs
        # A model of the other target is never scored against this one's sales, nor served for it.
        champion_error = (
            f"the champion, {champion['model']} (version {champion['version']}), forecasts {theirs}, this run "
            f"{target}: not comparable, and it will not serve"
        )
        champion_model, champion = None, None
    # The statistical candidates: fitted per product at each holdout origin, in Spark tasks.
    windows = feature_pipeline.stages[0]
    stat_models, stat_rows, stat_seconds = list(config.statistical), None, None
    if stat_models:
        started = time.perf_counter()
        weeks = holdout.select("origin_date").distinct().count()
        # At the latest Sundays (the holdout's and the next forecast's), as the production model that serves them
        # will fit them: its check and sales_forecast read these fits instead of making them again.
        fitting = windows.copy({windows.statisticalModels: stat_models, windows.statisticalOrigins: weeks + 1})
        stat_rows = fitting.statistical_forecasts(raw_sales)
        stat_rows.count()
        stat_seconds = time.perf_counter() - started
        context.log.info(f"statistical {', '.join(stat_models)} at the latest {weeks + 1} origins: {stat_seconds:.1f}s")
    if champion_model is not None:
        try:  # computed here, so that a champion that cannot score these rows is reported, not a failed run
            predictions = champion_predictions(champion_model, windows, holdout, raw_sales, stat_rows).cache()
            predictions.count()
            holdout = holdout.join(predictions, KEY_COLUMNS, "left")
        except Exception as error:  # noqa: BLE001 - Spark raises many kinds; the gate goes on without it
            champion_error = f"the champion could not score this run's holdout: {str(error).splitlines()[0][:300]}"
            champion = None
    for asset_name, model in candidates.items():
        name = SHORT_NAMES[asset_name]
        relative = predicting_into(model, f"{name}_relative").transform(holdout)
        holdout = LevelRescaler(inputCol=f"{name}_relative", outputCol=name).transform(relative)
    models = [SHORT_NAMES[name] for name in candidates]
    columns = sorted({c for c in BASELINES.values() if c})
    scored = [*models, *(["champion"] if champion else [])]
    if stat_rows is not None:
        holdout = holdout.join(stat_rows, KEY_COLUMNS, "left")
        scored += [statistical.column_of(n) for n in stat_models]
    frame = holdout.select("produto", "origin_date", "horizon", "forecast_date", "target", *columns, *scored).toPandas()
    if stat_rows is not None:
        for name in stat_models:
            frame[name] = frame.pop(statistical.column_of(name))
            if missing := int(frame[name].isna().sum()):  # the fits' origins and products are the rows': a bug
                raise RuntimeError(f"{name}: no statistical forecast for {missing} of {len(frame)} holdout rows")
        models += stat_models
        scored = [name for name in scored if not name.startswith("stat_")] + stat_models
    cv_rmse = {SHORT_NAMES[a]: _training_metadata(context, a, "cv_rmse") for a in candidates}
    members = combination_members(cv_rmse, config.combination_size)
    if members and config.combine_statistical:
        members += stat_models
    if members:
        frame[COMBINATION] = frame[members].mean(axis=1)  # as ForecastCombination serves it
        models.append(COMBINATION)
    for baseline, column in BASELINES.items():
        frame[baseline] = frame[column] if column else 0.0
    if champion and frame["champion"].isna().any():
        champion_error = (
            f"the champion, {champion['model']} (version {champion['version']}), forecasts only "
            f"{int(frame['champion'].notna().sum())} of {len(frame)} holdout rows (another horizon?): not comparable"
        )
        champion = None
    if champion_error:
        context.log.warning(champion_error)
    scale = (
        # Weekly origins: the same scale whether the candidates trained on weekly or daily origins.
        feature_dataset.filter((F.col("split") == TRAIN) & (F.col("horizon") <= 7) & weekly_origin())
        .agg(F.avg(F.abs(F.col("target") - F.col("seasonal_naive"))))
        .first()[0]
    )
    # Each product's demand class from its training history; each class's own choice, scored as one candidate.
    classes = demand_classes(feature_dataset.filter(F.col("split") == TRAIN))
    frame = frame.merge(classes[["produto", "demand_class"]], on="produto", how="left")
    frame["demand_class"] = frame["demand_class"].fillna(NEW)
    per_class = choose_per_class(frame, models, config.gate_metric, config.min_improvement, scale)
    routed = {c["choice"] for c in per_class.values() if c["rows"]}
    if config.per_class and len(routed) > 1:  # one choice for every class is that choice, already scored
        frame[PER_CLASS] = 0.0
        for cls, choice in per_class.items():
            rows = frame["demand_class"] == cls
            frame.loc[rows, PER_CLASS] = frame.loc[rows, choice["choice"]]
        models.append(PER_CLASS)

    scores = {
        name: evaluate_forecasts(frame, name, scale)
        for name in [*models, *BASELINES, *(["champion"] if champion else [])]
    }
    gate = decide(
        scores,
        models,
        list(BASELINES),
        config.gate_metric,
        config.min_improvement,
        champion,
        config.champion_min_improvement,
        champion_error,
        other_target,
    )
    for entry in scores.values():
        base = gate.best_baseline_value
        entry["ratio_to_best_baseline"] = entry["origin_mean"][config.gate_metric] / base if base else float("nan")
    best = gate.best_model
    inputs = model_inputs(feature_pipeline)
    importances = {
        SHORT_NAMES[asset_name]: dict(zip(inputs, shares, strict=True))
        for asset_name, model in candidates.items()
        if (shares := feature_importances(model, len(inputs)))
    }
    dataset_meta = context.instance.get_latest_materialization_event(dg.AssetKey("feature_dataset"))
    lineage = (
        {
            k: v.value
            for k, v in dataset_meta.asset_materialization.metadata.items()
            if k in ("sales_range", "holdout_start", "version", "horizon_days", "unobserved_weeks")
        }
        if dataset_meta
        else {}
    )
    entries = {
        c.name: {
            **scores[c.name],
            "best_params": best_params(c, candidates[c.asset_name]),
            "training_seconds": _training_metadata(context, c.asset_name, "training_seconds"),
            # searched this run, or refit at an earlier search's parameters (training/retune.py), and why
            "tuning": {
                "mode": _training_metadata(context, c.asset_name, "tuning") or "search",
                "reason": _training_metadata(context, c.asset_name, "tuning_reason"),
                "params_from_run": _training_metadata(context, c.asset_name, "params_from_run"),
            },
            "feature_importances": importances.get(c.name),
        }
        for c in CANDIDATES
        if c.asset_name in candidates
    }
    for name in stat_models:
        entries[name] = {
            **scores[name],
            "best_params": {
                "season_length": statistical.SEASON_DAYS,
                "history_days": windows.getOrDefault(windows.statisticalHistoryDays),
            },
            "statistical": True,
            "training_seconds": stat_seconds,  # every statistical candidate's fits, together
            "feature_importances": None,
        }
    if PER_CLASS in models:
        entries[PER_CLASS] = {
            **scores[PER_CLASS],
            "best_params": {"choices": {cls: c["choice"] for cls, c in per_class.items()}},
            "routing": {
                "products": classes["produto"].tolist(),
                "classes": classes["demand_class"].tolist(),
                "choices": {cls: {k: c[k] for k in ("choice", "kind", "column")} for cls, c in per_class.items()},
            },
            "combination_members": members,
            "training_seconds": None,
            "feature_importances": None,
        }
    if members:
        weights = [1 / len(members)] * len(members)
        entries[COMBINATION] = {
            **scores[COMBINATION],
            "members": members,
            "best_params": {"members": members, "weights": weights},
            "training_seconds": None,
            "feature_importances": None,
        }
    origins = sorted(str(o) for o in frame["origin_date"].unique())
    report = ComparisonReport(
        run_id=context.run_id,
        best_model=best,
        metric_for_selection=config.gate_metric,
        gate=gate,
        holdout=Holdout(
            rows=len(frame),
            origins=origins,
            horizon_days=int(frame["horizon"].max()),
            first_date=str(frame["forecast_date"].min()),
            last_date=str(frame["forecast_date"].max()),
        ),
        mase_scale_seasonal_naive_train_mae=scale,
        feature_dataset=lineage,
        models=entries,
        baselines={name: {**scores[name], "column": column} for name, column in BASELINES.items()},
        champion={**champion, **scores["champion"]} if champion else None,
        demand_classes=per_class,
    )

    table = metrics_table(scores, config.gate_metric)
    class_table = pd.DataFrame.from_dict(
        {
            cls: {"products": c["products"], "rows": c["rows"], "choice": c["choice"], **c["scores"]}
            for cls, c in per_class.items()
            if c["rows"]
        },
        orient="index",
    )
    per_horizon = pd.DataFrame(
        {name: {h: m[config.gate_metric] for h, m in scores[name]["by_horizon"].items()} for name in scores}
    ).T
    table.attrs["models"] = models
    over_time = plots.holdout_over_time(
        frame, [best, gate.best_baseline or "zero", *(["champion"] if champion else [])]
    )
    sections = [
        f"**{'Promoted' if gate.passed else 'Not promoted'}: {gate.words()}.**"
        + (f" ({champion_error})" if champion_error else ""),
        f"Holdout: {len(origins)} weekly origins ({', '.join(origins)}), each forecasting "
        f"{report.holdout.horizon_days} days; metrics are means over origins (± their standard deviation).",
        table.round(4).to_markdown(),
        f"Per demand class ({config.gate_metric} on each class's rows; the choice is what `per_class` serves it):\n\n"
        + class_table.to_markdown(),
        f"{config.gate_metric} per horizon (days ahead):\n\n" + per_horizon.round(4).to_markdown(),
        plots.metric_bars(table),
        over_time,
        plots.predicted_vs_actual(frame, [*scored, gate.best_baseline or "zero"]),
        plots.residual_histograms(frame, [*models, gate.best_baseline or "zero"]),
    ]
    if importances:
        sections.append(plots.feature_importances(importances))
    tracked = context.resources.tracking.log_comparison(context, report, config.model_dump())
    return dg.Output(
        report.as_dict(),
        metadata={
            "best_model": best,
            "gate_metric": config.gate_metric,
            f"best_{config.gate_metric}": gate.best_model_value,
            "best_baseline": gate.best_baseline or "none",
            f"best_baseline_{config.gate_metric}": gate.best_baseline_value,
            "ratio_to_best_baseline": gate.ratio_to_best_baseline,
            "champion": f"{champion['model']} (version {champion['version']})" if champion else "none",
            f"champion_{config.gate_metric}": gate.champion_value,
            "ratio_to_champion": gate.ratio_to_champion,
            "decided_by": gate.decided_by,
            "holdout_rows": len(frame),
            "holdout_origins": len(origins),
            "metrics": frame_table(table.astype(float), index="name"),
            "demand_classes": frame_table(class_table, index="demand_class"),
            f"{config.gate_metric}_by_horizon": frame_table(
                per_horizon.T.astype(float).rename(index=int), index="horizon_days"
            ),
            "report": dg.MetadataValue.md("\n\n".join(sections)),
            "holdout_plot": dg.MetadataValue.md(over_time),
            **tracked,
        },
    )


def metrics_table(scores: dict[str, dict], gate_metric: str) -> pd.DataFrame:
    """One row per model or baseline: the origin means, the spread of the gate metric, the ratio to the best
    baseline, sorted by the gate metric."""
    rows = {
        name: {
            **{m: entry["origin_mean"][m] for m in ("rmse", "mae", "wape", "weekly_wape", "mase", "bias")},
            f"{gate_metric}_std": entry["origin_std"][gate_metric],
            "ratio_to_best_baseline": entry["ratio_to_best_baseline"],
        }
        for name, entry in scores.items()
    }
    return pd.DataFrame(rows).T.sort_values(gate_metric)


@spark_asset(
    group_name="evaluation",
    io_manager_key="ml_models_io",
    kinds={"spark"},
    ins=lambda settings: {
        "model_comparison": dg.AssetIn(),
        "feature_pipeline": dg.AssetIn(),
        **candidate_ins(settings),
    },
    required_resource_keys={"ml_models_io", "warehouse", "tracking"},
)
def production_model(
    context: dg.AssetExecutionContext, model_comparison: dict, feature_pipeline: PipelineModel, **candidates
):
    """The model that serves: the fitted feature pipeline followed by a regressor (or a baseline), as one
    PipelineModel from raw sales rows to H-day forecasts. Each run leaves a version: the best candidate when
    the gate `best_model_beats_baselines` promotes it; else the champion, served again (the new version points
    at its stored folder: nothing is copied); on a first run whose candidates lose, the best baseline (a
    BaselineForecaster stage). Every promotion and refusal is appended to the ledger in
    ml-experiments/ledger/production_model.json, shown here as a table."""
    report = ComparisonReport.of(model_comparison)
    gate, champion = report.gate, report.champion
    served, entry = report.served_entry()
    if gate.passed:
        weeks = len(report.holdout.origins)
        model = serving_model(served, feature_pipeline, fitted_by_name(candidates), entry, weeks)
        event, kind, params = "promotion", "model", entry.get("best_params")
    elif champion:
        model = context.resources.ml_models_io.load_key(champion["key"])
        event, kind, params = "refusal", champion["kind"], None
        context.log.info(f"the champion, {served} (version {champion['version']}), keeps serving")
    else:
        model = PipelineModel(stages=[*feature_pipeline.stages, BaselineForecaster(column=entry["column"] or "")])
        event, kind, params = "first_baseline", "baseline", {"column": entry.get("column")}
        context.log.warning(f"no candidate beats the baselines: serving the best baseline, {served}")
    warehouse, tracking = context.resources.warehouse, context.resources.tracking
    entries = read_ledger(warehouse, context.instance)
    version = (
        context.resources.ml_models_io.read_manifest(PRODUCTION).last_version + 1
    )  # the version the IO manager is about to write
    metric = gate.metric
    ledger_entry = {
        "event": event,
        "version": version,
        "key": champion["key"] if event == "refusal" else f"production_model/v{version:04d}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **run_context(context.run),
        "code_version": code_version(),
        "data": {
            "sales_range": report.feature_dataset.get("sales_range"),
            "holdout": report.holdout.origins,
        },
        "model": served,
        "kind": kind,
        "target": target_of(model),  # what it forecasts: a rollback never serves another target's model
        "params": params if params is not None else (champion or {}).get("params"),
        "tuning": entry.get("tuning") if event == "promotion" else None,  # which search the parameters came from
        "metric": metric,
        "value": entry["origin_mean"][metric],
        "challenger": {"model": gate.best_model, "value": gate.best_model_value},
        "best_baseline": {"model": gate.best_baseline, "value": gate.best_baseline_value},
        "champion": {k: champion[k] for k in ("model", "version", "key")} | {"value": gate.champion_value}
        if champion
        else None,
        "decided_by": gate.decided_by,
        "reason": gate.words(),
    }
    yield dg.Output(
        model,
        metadata={
            "event": event,
            "promoted": gate.passed,
            "model": served,
            "kind": kind,
            "stored_key": ledger_entry["key"],
            "params": entry.get("best_params", {"column": entry.get("column")}),
            "holdout_rmse": entry["metrics"]["rmse"],
            "holdout_wape": entry["origin_mean"]["wape"],
            "holdout_mase": entry["origin_mean"]["mase"],
            "gate": gate.words(),
            "best_baseline": gate.best_baseline or "none",
            "ratio_to_best_baseline": gate.ratio_to_best_baseline,
            "ratio_to_champion": gate.ratio_to_champion,
            "horizon_days": report.holdout.horizon_days,
            "trained_in_run": report.run_id,
            "sales_range": report.feature_dataset.get("sales_range", ""),
            "holdout": report.holdout.span,
            "ledger": ledger_table([*entries, ledger_entry]),
            **tracking.link(context),
        },
    )
    # The pointer has moved (the IO manager ran when the output was yielded): the ledger is written last,
    # with the version and folder the manifest now names.
    current = context.resources.ml_models_io.read_manifest(PRODUCTION).pointer()
    ledger_entry = {**ledger_entry, "version": current["version"], "key": current["key"]}
    if registered := tracking.serve(context, warehouse, MODELS_BUCKET, current["key"], event, gate.words()):
        ledger_entry["mlflow"] = registered
    tracking.finish(context)
    append_ledger(warehouse, entries, ledger_entry)
