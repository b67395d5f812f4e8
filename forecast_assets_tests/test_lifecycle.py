"""The production model's lifecycle on real Spark and a real warehouse: a challenger that beats the baselines
but not the champion is refused and the champion keeps serving; every promotion and refusal is in the ledger;
a rollback re-points production and restores the earlier forecast exactly, and refuses a missing or damaged
version without changing anything."""

import copy
import json
import os
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from forecast_assets.landing.demo import demo_week
from forecast_assets.ledger import LEDGER_KEY, other_target, read_ledger
from forecast_assets.serving.assets import ForecastConfig, history_since
from forecast_assets.settings import CANDIDATE_NAMES
from forecast_assets_tests.conftest import (
    AFTER_TRAINING,
    CANDIDATES_TESTED,
    TEST_RUN_CONFIG,
    empty_buckets,
    load_current,
    materialize_graph,
    range_tags,
    resolved,
    settings_for_tests,
)

PRODUCTION = dg.AssetKey("production_model")


def run_config(champion_min_improvement: float) -> dict:
    config = copy.deepcopy(TEST_RUN_CONFIG)
    config["ops"]["model_comparison"]["config"]["champion_min_improvement"] = champion_min_improvement
    return config


def forecast(defs) -> pd.DataFrame:
    frame = load_current(defs, "ml_data_io", "sales_forecast").toPandas()
    return frame.sort_values(["produto", "horizon"]).reset_index(drop=True)


def current(defs) -> dict:
    return resolved(defs, "ml_models_io").read_manifest(PRODUCTION).pointer()


def rollback(defs, instance, **config) -> dg.ExecuteInProcessResult:
    """The rollback_production_model job, in process, with its op's config."""
    run_config = {"ops": {"rollback_production_model_op": {"config": config}}}
    job = defs.get_job_def("rollback_production_model")
    return job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)


def gate_of(result) -> dg.AssetCheckEvaluation:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}["best_model_beats_baselines"]


@pytest.fixture(scope="module")
def lifecycle(minio, tracking_server, spark):
    """Three runs on the same weeks: a whole-graph run (promoted), then two re-evaluations of the stored
    candidates from `model_comparison` on (refused by the champion, promoted again): the lifecycle is decided
    after training, so the later runs need not retrain. On MinIO, the production store, with MLflow tracking
    against a real tracking server; the first run is also the suite's whole graph on MinIO (every asset in its
    bucket, loaded back equal). The folder store's side of the same calls (one fsspec path for both) is tested
    in test_storage, test_io_managers and test_damage; test_pipeline and test_cli run the whole graph on it."""
    with pytest.MonkeyPatch.context() as patch, dg.instance_for_test() as instance:
        # The tracking URI may carry credentials: the resource reads it from the environment (dg.EnvVar).
        patch.setenv("MLFLOW_TRACKING_URI", tracking_server.uri)
        empty_buckets(minio)
        # every default candidate: each stored in MinIO and loaded back, one MLflow child run each
        settings = settings_for_tests(storage="minio", s3_endpoint=minio.endpoint, mlflow=True)
        from forecast_assets.definitions import build_defs

        defs = build_defs(settings)
        first = materialize_graph(defs, run_config=run_config(0.0), instance=instance)
        states = [(first, current(defs), forecast(defs))]
        # The same data and grids: the challenger equals the champion, so demanding 50% better refuses it.
        second = materialize_graph(defs, run_config=run_config(0.5), instance=instance, selection=AFTER_TRAINING)
        states.append((second, current(defs), forecast(defs)))
        third = materialize_graph(defs, run_config=run_config(0.0), instance=instance, selection=AFTER_TRAINING)
        states.append((third, current(defs), forecast(defs)))
        yield defs, instance, states


def test_a_challenger_that_beats_the_baselines_but_not_the_champion_is_refused(lifecycle):
    defs, _, states = lifecycle
    (_, first, first_forecast), (second_run, second, second_forecast), _ = states
    assert second_run.success
    gate = gate_of(second_run)
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
    assert gate.metadata["decided_by"].value == "champion"
    assert gate.metadata["ratio_to_best_baseline"].value < 1.0  # it beats the best baseline ...
    assert gate.metadata["ratio_to_champion"].value > 0.5  # ... but is not 50% below the champion
    assert "but not at least 50.0% below the champion" in gate.description
    assert "keeps serving" in gate.description and "(version 1" in gate.description
    # The champion, re-scored on this run's holdout, is the model of version 1: the same score as then.
    assert gate.metadata["champion"].value.endswith("(version 1)")
    comparison = second_run.asset_materializations_for_node("model_comparison")[0].metadata
    assert comparison["champion"].value.endswith("(version 1)") and comparison["decided_by"].value == "champion"
    # A new version of production_model that is the champion's folder: nothing retrained, nothing copied.
    assert second["version"] == 2 and second["key"] == first["key"] == "production_model/v0001"
    pd.testing.assert_frame_equal(second_forecast, first_forecast)
    production = second_run.asset_materializations_for_node("production_model")[0].metadata
    assert production["event"].value == "refusal" and not production["promoted"].value


def test_every_promotion_and_refusal_is_in_the_ledger(lifecycle):
    defs, instance, states = lifecycle
    third_run, third, _ = states[2]
    assert gate_of(third_run).passed and third["key"] == "production_model/v0003"
    warehouse = resolved(defs, "warehouse")
    entries = read_ledger(warehouse)
    assert [(e["event"], e["version"], e["key"]) for e in entries[:3]] == [
        ("promotion", 1, "production_model/v0001"),
        ("refusal", 2, "production_model/v0001"),
        ("promotion", 3, "production_model/v0003"),
    ]
    refusal = entries[1]
    assert refusal["run_id"] == states[1][0].run_id and refusal["trigger"] == "manual"
    assert refusal["raw_sales_weeks"] == "2025-06-02 .. 2025-10-13"
    assert refusal["code_version"]["package"] == "0.1.0"
    assert refusal["champion"]["version"] == 1 and refusal["challenger"]["model"] in refusal["reason"]
    assert refusal["data"]["sales_range"] and len(refusal["data"]["holdout"]) == 2
    assert [e["target"] for e in entries[:3]] == ["valor_total"] * 3  # what each served version forecasts
    assert entries[2]["params"] and entries[2]["value"] == pytest.approx(
        gate_of(third_run).metadata["best_model_value"].value
    )
    table = third_run.asset_materializations_for_node("production_model")[0].metadata["ledger"].value
    assert [r.data["event"] for r in table.records[:3]] == ["promotion", "refusal", "promotion"]


def test_the_model_that_does_not_serve_forecasts_in_the_shadow(lifecycle):
    defs, _, states = lifecycle
    first_run, second_run, third_run = (state[0] for state in states)
    assert not first_run.asset_materializations_for_node("shadow_forecast")  # nothing before a first model
    challenger = second_run.asset_materializations_for_node("shadow_forecast")[0].metadata
    assert challenger["shadow_role"].value == "challenger"
    shadow = load_current(defs, "ml_data_io", "shadow_forecast").toPandas()
    assert set(shadow["shadow_role"]) == {"previous_champion"} and set(shadow["shadow_model"]) == {
        f"{states[0][0].asset_materializations_for_node('production_model')[0].metadata['model'].value} (version 2)"
    }
    # After the third run's promotion the shadow is the model of versions 1 and 2: its forecast is exactly the
    # one that model made as the champion in the second run, on the same sales.
    shadow = shadow.drop(columns=["shadow_role", "shadow_model"]).sort_values(["produto", "horizon"])
    pd.testing.assert_frame_equal(shadow.reset_index(drop=True), states[1][2])


# Where each asset lives: the original design's buckets (folders of those names on the embedded default).
LAYOUT = {
    "processed-data": ["raw_sales"],
    "ml-data": ["feature_dataset", "sales_forecast", "shadow_forecast", "forecast_accuracy"],
    "ml-models": ["feature_pipeline", *(f"{c}_model" for c in CANDIDATE_NAMES), "production_model"],
    "ml-experiments": ["model_comparison", "drift_score"],
}


def test_every_asset_is_in_its_bucket(lifecycle):
    defs, _, states = lifecycle
    warehouse = resolved(defs, "warehouse")
    assert any(o.key.startswith("demo/sales_") for o in warehouse.list_objects("raw-data", "demo/"))
    materialized = {e.asset_key.to_user_string() for e in states[0][0].get_asset_materialization_events()}
    placed = set()
    for bucket, assets in LAYOUT.items():
        for asset in (a for a in assets if a in materialized):
            manifest = json.loads(warehouse.read_bytes(bucket, f"{asset}/_manifest.json"))
            current = [e["key"] for e in manifest["current"].values() if e["key"]]
            assert current and all(warehouse.list_objects(bucket, key) for key in current), asset
            placed.add(asset)
    assert placed == materialized
    report = json.loads(warehouse.read_bytes("ml-experiments", "model_comparison/v0001.json"))
    assert report["best_model"] in report["models"]  # readable JSON, as in the MinIO console


def test_output_metadata_records_where_and_how_much_was_stored(lifecycle, spark):
    """Each materialization names the stored objects it wrote: DataFrames with the rows stored there, models and
    JSON documents with the bytes stored there."""
    defs, _, states = lifecycle
    result = states[0][0]
    warehouse = resolved(defs, "warehouse")
    checked = set()
    for event in result.get_asset_materialization_events():
        metadata = {k: v.value for k, v in event.materialization.metadata.items()}
        if metadata["uri"] in checked:  # raw_sales: one write for the run's weeks, on each partition's event
            continue
        checked.add(metadata["uri"])
        bucket = next(b for b in LAYOUT if metadata["uri"].startswith(warehouse.uri(b)))
        stored = warehouse.list_objects(bucket, warehouse.key_of(bucket, metadata["uri"]))
        assert stored, metadata["uri"]
        if "row_count" in metadata:
            assert "size_bytes" not in metadata
            assert metadata["row_count"] == metadata["dagster/row_count"] == spark.read.parquet(metadata["uri"]).count()
        else:
            assert metadata["size_bytes"] == sum(o.size for o in stored), event.asset_key
    assert len(checked) == len({e.asset_key for e in result.get_asset_materialization_events()})


def test_every_asset_loads_back_equal(lifecycle, spark):
    """(Before the rollback: the third run's forecast is the current production model's.)"""
    defs, _, states = lifecycle
    third_run = states[2][0]
    # DataFrames: the stored rows equal what the pipeline computes again from the stored inputs.
    raw = load_current(defs, "processed_data_io", "raw_sales")
    weeks = pd.date_range(*range_tags().values(), freq="7D")
    expected = pd.concat([demo_week(week.date()) for week in weeks]).sort_values(["produto", "data_venda"])
    stored = raw.drop("source_file").toPandas().sort_values(["produto", "data_venda"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored[expected.columns], expected.reset_index(drop=True), check_dtype=False)
    # Models: a reloaded model predicts exactly as the one the run used (the production pipeline end to end).
    production = load_current(defs, "ml_models_io", "production_model")
    last_day = raw.agg(F.max("data_venda")).first()[0]
    since = history_since(production.stages[0], last_day, ForecastConfig().active_weeks)
    again = (
        production.transform(raw.filter(F.col("data_venda") >= F.lit(since)))
        .filter(F.col("origin_date") == F.lit(last_day))
        .select("produto", "horizon", F.greatest("prediction", F.lit(0.0)).alias("p"))
        .toPandas()
        .sort_values(["produto", "horizon"])
    )
    served = forecast(defs)
    assert len(again) == len(served) > 0
    np.testing.assert_allclose(served["forecast_valor_total"].to_numpy(), again["p"].to_numpy(), rtol=1e-12)
    dataset = load_current(defs, "ml_data_io", "feature_dataset")
    trained = {e.asset_key.to_user_string() for e in states[0][0].get_asset_materialization_events()}
    for asset in trained & {f"{c}_model" for c in CANDIDATE_NAMES}:
        model = load_current(defs, "ml_models_io", asset)
        predictions = model.transform(dataset.limit(200)).select("prediction").toPandas()
        assert np.isfinite(predictions["prediction"]).all()
    # JSON: the stored documents equal the run's outputs.
    assert load_current(defs, "ml_experiments_io", "model_comparison")["run_id"] == third_run.run_id
    assert load_current(defs, "ml_experiments_io", "drift_score")["columns"]


def test_credentials_never_reach_events_or_metadata(lifecycle):
    """On MinIO the runs used its secret (from the environment): no event, log message or metadata holds it."""
    from dagster_shared.serdes import serialize_value

    defs, _, states = lifecycle
    assert resolved(defs, "warehouse").is_s3
    secret, access = os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_ACCESS_KEY_ID"]
    for result, _, _ in states:
        events = serialize_value(result.all_events)
        assert secret not in events and access not in events
        run_record = str(dict(result.dagster_run.tags)) + str(result.dagster_run.run_config)
        assert secret not in run_record


def test_a_rollback_serves_the_previous_model_and_restores_its_forecast(lifecycle):
    defs, instance, states = lifecycle
    before_rollback = current(defs)
    assert rollback(defs, instance, reason="test").success
    now = current(defs)
    assert now["version"] == before_rollback["version"] + 1 and now["key"] == "production_model/v0001"
    entry = read_ledger(resolved(defs, "warehouse"))[-1]
    assert entry["event"] == "rollback" and entry["rolled_back_to"] == 2 and entry["reason"] == "test"
    assert entry["replaced"]["key"] == "production_model/v0003"
    rerun = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        selection=dg.AssetSelection.assets("sales_forecast"),
        instance=instance,
    )
    assert rerun.success
    pd.testing.assert_frame_equal(forecast(defs), states[0][2])  # the forecast version 1 made, exactly


def test_mlflow_records_every_run_and_its_champion_alias_follows_promotions_and_rollbacks(lifecycle, spark):
    """The lifecycle runs with MLFLOW_TRACKING_URI set, against a real tracking server (test_pipeline: without
    it nothing is tracked). (After the rollback test: the alias has followed it.)"""
    defs, _, states = lifecycle
    tracking = resolved(defs, "tracking")
    assert tracking.enabled
    runs = [state[0] for state in states]
    production = [run.asset_materializations_for_node("production_model")[0].metadata for run in runs]
    ledger = read_ledger(resolved(defs, "warehouse"))
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking.tracking_uri)
    experiment = client.get_experiment_by_name("forecast_assets").experiment_id
    for run, meta in zip(runs, production, strict=True):
        (parent,) = client.search_runs([experiment], f"tags.`dagster.run_id` = '{run.run_id}'")
        assert meta["mlflow_run"].value.endswith(f"/runs/{parent.info.run_id}")
        comparison = run.asset_materializations_for_node("model_comparison")[0].metadata
        best = comparison["best_model"].value
        assert parent.data.metrics[f"{best}.rmse"] == pytest.approx(comparison["best_rmse"].value)
        assert parent.data.params["gate_metric"] == "rmse" and parent.data.params["best_model"] == best
        report = client.download_artifacts(parent.info.run_id, "model_comparison.json")
        assert json.loads(Path(report).read_text())["run_id"] == run.run_id
        children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        if run is not runs[0]:  # a re-evaluation of the stored candidates: nothing tuned, no candidate runs
            assert children == []
            continue
        assert {c.data.tags["forecast.candidate"] for c in children} == {c.name for c in CANDIDATES_TESTED}
        forest = next(c for c in children if c.data.tags["forecast.candidate"] == "random_forest")
        trained = run.asset_materializations_for_node("random_forest_model")[0].metadata
        assert forest.data.params["maxDepth"] == str(trained["best_params"].value["maxDepth"])
        assert forest.data.metrics["cv_rmse"] == pytest.approx(trained["cv_rmse"].value)
        grid = json.loads(Path(client.download_artifacts(forest.info.run_id, "cv_grid.json")).read_text())
        assert len(grid["data"]) == trained["grid_points"].value  # every grid point, with its rmse
    # One registered version per stored model: v0001 (promoted, re-served by the refusal) and v0003.
    name = tracking.registered_model
    versions = {v.tags["forecast.stored_key"]: v for v in client.search_model_versions(f"name = '{name}'")}
    assert set(versions) == {"production_model/v0001", "production_model/v0003"}
    assert [entry.get("mlflow", {}).get("model_version") for entry in ledger[:4]] == [
        int(versions["production_model/v0001"].version),
        int(versions["production_model/v0001"].version),
        int(versions["production_model/v0003"].version),
        int(versions["production_model/v0001"].version),  # the rollback
    ]
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.tags["forecast.stored_key"] == current(defs)["key"] == "production_model/v0001"
    # The registered files are the stored model: they load in Spark as the same pipeline.
    from pyspark.ml.util import DefaultParamsReader

    folder = client.download_artifacts(champion.run_id, "production_model")
    loaded = DefaultParamsReader.loadParamsInstance(folder, spark)
    stored = resolved(defs, "ml_models_io").load_key("production_model/v0001")
    assert [type(s).__name__ for s in loaded.stages] == [type(s).__name__ for s in stored.stages]


@pytest.mark.parametrize(
    ("damage", "to_version", "expected"),
    [
        (None, 99, "production_model has no version 99"),
        ("v0003", 3, "cannot roll back to version 3: the model at"),
    ],
)
def test_a_rollback_to_a_missing_or_damaged_version_changes_nothing(lifecycle, damage, to_version, expected):
    defs, instance, _ = lifecycle
    warehouse = resolved(defs, "warehouse")
    if damage:
        for stored in warehouse.list_objects("ml-models", f"production_model/{damage}/"):
            if "/metadata/" in stored.key:
                warehouse.delete("ml-models", stored.key)
    before, ledger = current(defs), warehouse.read_bytes("ml-experiments", LEDGER_KEY)
    result = rollback(defs, instance, to_version=to_version)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert expected in str(failure.step_failure_data.error)
    assert current(defs) == before and warehouse.read_bytes("ml-experiments", LEDGER_KEY) == ledger


def test_a_lost_ledger_is_rebuilt_from_the_materialization_history(lifecycle):
    defs, instance, _ = lifecycle
    warehouse = resolved(defs, "warehouse")
    body = warehouse.read_bytes("ml-experiments", LEDGER_KEY)
    warehouse.write_bytes("ml-experiments", LEDGER_KEY, b"{not json")
    rebuilt = read_ledger(warehouse, instance)
    assert [e["version"] for e in rebuilt][:3] == [1, 2, 3] and all(e["rebuilt"] for e in rebuilt)
    assert [e["event"] for e in rebuilt][:3] == ["promotion", "refusal", "promotion"]
    damaged = [o.key for o in warehouse.list_objects("ml-experiments", "ledger/") if ".damaged-" in o.key]
    assert damaged and warehouse.read_bytes("ml-experiments", damaged[0]) == b"{not json"  # kept aside
    warehouse.write_bytes("ml-experiments", LEDGER_KEY, body)
    assert json.loads(body)["entries"]


def test_a_week_of_actual_sales_scores_every_stored_forecast(lifecycle):
    """(Last in this module: it lands the week after the forecast, which moves the forecast origin.)"""
    defs, instance, states = lifecycle
    landed = dg.materialize(
        [defs.get_assets_def("raw_sales")], resources=defs.resources, partition_key="2025-10-20", instance=instance
    )
    assert landed.success  # the demo week after the forecast days' origin: the actual sales of the forecast days
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        selection=dg.AssetSelection.assets("forecast_accuracy"),
        instance=instance,
    )
    assert result.success
    scored = load_current(defs, "ml_data_io", "forecast_accuracy").toPandas()
    products = states[2][2]["produto"].nunique()
    by_source = scored.groupby("source").size().to_dict()
    assert by_source["champion"] == by_source["shadow"] == products * 7
    assert {"seasonal_naive", "zero", "moving_average_28d"} <= set(by_source)
    raw = load_current(defs, "processed_data_io", "raw_sales").toPandas()
    raw = raw[pd.to_datetime(raw["data_venda"]) >= "2025-10-20"].groupby(["produto", "data_venda"])["valor_total"].sum()
    champion = scored[scored["source"] == "champion"]
    actual = [raw.get((p, d), 0.0) for p, d in zip(champion["produto"], champion["forecast_date"], strict=True)]
    assert champion["actual"].to_numpy() == pytest.approx(actual)  # the sales that happened, zero when none
    metadata = result.asset_materializations_for_node("forecast_accuracy")[0].metadata
    assert metadata["forecast_weeks_scored"].value == 1 and "realized accuracy" in metadata["plot"].value
    week = {r.data["source"]: r.data for r in metadata["by_week"].value.records}
    assert week["champion"]["origin_date"] == "2025-10-19" and week["champion"]["rows"] == products * 7
    inside = (champion["actual"] >= champion["lower_80"]) & (champion["actual"] <= champion["upper_80"])
    assert week["champion"]["coverage_80"] == pytest.approx(inside.mean())
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    coverage = checks["interval_coverage_near_nominal"]
    assert coverage.metadata["coverage_80"].value == pytest.approx(inside.mean())
    assert "80% intervals held" in coverage.description
    assert checks["champion_not_worse_than_alternatives"].passed  # one week cannot make a streak of three


def test_a_rollback_never_serves_another_targets_model():
    """The ledger says what the serving version forecasts (entries from before targets: revenue)."""
    entries = [
        {"key": "production_model/v0001"},
        {"key": "production_model/v0002", "target": "quantidade"},
    ]
    assert other_target(entries, "production_model/v0002", "valor_total") == "quantidade"
    assert other_target(entries, "production_model/v0002", "quantidade") is None
    assert other_target(entries, "production_model/v0001", "quantidade") == "valor_total"
    assert other_target(entries, "production_model/v0009", "quantidade") is None  # unknown: not refused
