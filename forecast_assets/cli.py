"""Helpers for `make run`: the partition range of the demo, and a summary of the latest run.

python -m forecast_assets.cli demo-range-tags   # run tags for one run over the last DEMO_WEEKS weeks
python -m forecast_assets.cli summary           # what the latest ml_pipeline run produced
python -m forecast_assets.cli create-buckets    # the original design's buckets, where missing (compose's minio-init)
"""

import json
import sys

import dagster as dg

from forecast_assets.partitions import DEMO_WEEKS, weekly_partitions


def demo_range_tags() -> dict[str, str]:
    keys = weekly_partitions.get_partition_keys()[-DEMO_WEEKS:]
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def _metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def summary(instance: dg.DagsterInstance) -> str:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="ml_pipeline"), limit=1)
    if not runs:
        return "no ml_pipeline run yet"
    run = runs[0]
    lines = [f"ml_pipeline run {run.run_id}: {run.status.value}"]
    raw = _metadata(instance, "raw_sales")
    if raw:
        lines.append(f"rows ingested: {raw.get('row_count')} ({raw.get('weeks')} weeks, {raw.get('date_range')})")
    comparison = instance.get_latest_materialization_event(dg.AssetKey("model_comparison"))
    if comparison is not None:
        report_meta = _metadata(instance, "model_comparison")
        lines.append(f"holdout metrics (best: {report_meta.get('best_model')}):")
        lines.append(f"  {'':<20}{'rmse':>10}{'mae':>10}{'r2':>8}{'wape':>8}{'mase':>8}")
    report = _latest_report()
    if report:
        for group in ("models", "baselines"):
            for name, entry in report[group].items():
                m = entry["metrics"]
                lines.append(
                    f"  {name:<20}{m['rmse']:>10.3f}{m['mae']:>10.3f}{m['r2']:>8.3f}{m['wape']:>8.3f}{m['mase']:>8.3f}"
                )
    production = _metadata(instance, "production_model")
    if production:
        lines.append(
            f"production model: {production.get('model')} version {production.get('version')} "
            f"(holdout rmse {production.get('holdout_rmse'):.3f}, trained in run {production.get('trained_in_run')})"
        )
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("model_comparison"), "best_model_beats_seasonal_naive")]
    )
    for execution in check.values():
        evaluation = execution.event.dagster_event.event_specific_data if execution.event else None
        if evaluation is not None and not evaluation.passed:
            lines.append(f"promotion refused in the latest run: {evaluation.description}")
    drift = _metadata(instance, "drift_score")
    if drift:
        verdict = "DRIFT" if drift.get("drifted") else "no drift"
        lines.append(
            f"drift: {verdict} (score {drift.get('drift_score'):.2f}; drifted columns: {drift.get('drifted_columns')})"
        )
    forecast = _metadata(instance, "sales_forecast")
    if forecast:
        lines.append(f"forecast: {forecast.get('products')} products for {forecast.get('forecast_date')}")
    return "\n".join(lines)


def _latest_report() -> dict | None:
    from forecast_assets import defs

    with defs.resources["ml_experiments_io"].process_config_and_initialize_cm() as io_manager:
        return io_manager.load_current(dg.AssetKey("model_comparison"))


def create_buckets() -> list[str]:
    from forecast_assets import defs
    from forecast_assets.settings import BUCKETS

    with defs.resources["warehouse"].process_config_and_initialize_cm() as warehouse:
        for bucket in BUCKETS:
            warehouse.ensure_bucket(bucket)
        return [warehouse.uri(bucket) for bucket in BUCKETS]


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "demo-range-tags":
        print(json.dumps(demo_range_tags()))
    elif command == "create-buckets":
        print("\n".join(create_buckets()))
    elif command == "summary":
        with dg.DagsterInstance.get() as instance:
            print(summary(instance))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
