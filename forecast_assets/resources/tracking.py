"""Optional MLflow tracking: with MLFLOW_TRACKING_URI set (and `pip install '.[mlflow]'`), each Dagster run logs
to an MLflow experiment: a parent run per Dagster run (tagged with its id), a nested run per candidate (best
params, the cross-validation grid as a table, its CV and holdout metrics), the comparison report, and the model
that serves, registered with the alias `champion` that follows promotions, refusals and rollbacks.

Unset, nothing changes and mlflow is never imported. Tracking is a record, not a step the forecast depends on:
any MLflow failure (a server that is down, a missing package) is a warning in the run's log and the run goes
on; a server that does not answer its health probe is skipped for the rest of the process.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from forecast_assets.ml.report import ComparisonReport
from forecast_assets.resources.storage import Warehouse
from forecast_assets.settings import Settings

CHAMPION_ALIAS = "champion"
STORED_KEY_TAG = "forecast.stored_key"
DAGSTER_RUN_TAG = "dagster.run_id"


class MlflowTracking(dg.ConfigurableResource):
    """MLflow's own client (MlflowClient) against `tracking_uri`; every method is a no-op when it is empty."""

    tracking_uri: str = ""
    experiment: str = "forecast_assets"
    registered_model: str = "forecast_assets_production_model"
    ui_url: str = ""  # where people open the MLflow UI, when it differs from tracking_uri (a proxy)
    probe_timeout_seconds: float = 3.0
    _client: Any = PrivateAttr(default=None)
    _down: str | None = PrivateAttr(default=None)
    _experiment_id: str | None = PrivateAttr(default=None)
    _runs: dict = PrivateAttr(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.tracking_uri.strip())

    # -- plumbing -----------------------------------------------------------------------------------

    def _connect(self, log) -> Any | None:
        """The client, or None (with one warning) when tracking is off, mlflow is missing or the server is down."""
        if not self.enabled or self._down:
            return None
        if self._client is not None:
            return self._client
        uri = self.tracking_uri.strip()
        if uri.startswith(("http://", "https://")):
            try:  # one quick probe instead of MLflow's minutes of retries against a server that is down
                with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=self.probe_timeout_seconds):
                    pass
            except (OSError, urllib.error.URLError) as error:
                return self._give_up(log, f"the MLflow server at {uri} does not answer ({error})")
        # A server that answered the probe and then fails a call fails it after a few retries, not minutes.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        try:
            from mlflow import MlflowClient
        except ImportError:
            return self._give_up(
                log, "MLFLOW_TRACKING_URI is set but mlflow is not installed (pip install '.[mlflow]')"
            )
        self._client = MlflowClient(tracking_uri=uri)
        return self._client

    def _give_up(self, log, reason: str) -> None:
        self._down = reason
        log.warning(f"MLflow tracking skipped: {reason}; the run goes on without it")
        return None

    def _safely(self, log, action: str, call) -> Any | None:
        """Run `call(client)`; an MLflow failure is a warning, never a failed step."""
        client = self._connect(log)
        if client is None:
            return None
        try:
            return call(client)
        except Exception as error:  # noqa: BLE001 - the tracking server's errors must not fail the forecast
            log.warning(f"MLflow tracking: could not {action}: {str(error).splitlines()[0][:300]}; the run goes on")
            return None

    def _experiment(self, client) -> str:
        if self._experiment_id is None:
            found = client.get_experiment_by_name(self.experiment)
            self._experiment_id = found.experiment_id if found else client.create_experiment(self.experiment)
        return self._experiment_id

    def _run_for(self, client, run: dg.DagsterRun) -> str:
        """The MLflow run of this Dagster run (found by its tag, or created): one per Dagster run."""
        if run.run_id in self._runs:
            return self._runs[run.run_id]
        experiment = self._experiment(client)
        found = client.search_runs(
            [experiment], filter_string=f"tags.`{DAGSTER_RUN_TAG}` = '{run.run_id}'", max_results=1
        )
        if found:
            run_id = found[0].info.run_id
        else:
            tags = {
                DAGSTER_RUN_TAG: run.run_id,
                "dagster.job": run.job_name,
                "forecast.trigger": run.tags.get("forecast/trigger", "manual"),
                **{f"dagster.{k.split('/')[-1]}": v for k, v in run.tags.items() if k.startswith("dagster/asset_part")},
            }
            created = client.create_run(experiment, run_name=f"{run.job_name} {run.run_id[:8]}", tags=tags)
            run_id = created.info.run_id
        self._runs[run.run_id] = run_id
        return run_id

    def run_url(self, client, run_id: str) -> str:
        base = (self.ui_url or self.tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{self._experiment(client)}/runs/{run_id}"

    def _link(self, client, run_id: str) -> dict:
        url = self.run_url(client, run_id)
        return {"mlflow_run": dg.MetadataValue.url(url)} if url.startswith("http") else {"mlflow_run": url}

    # -- what the assets log ---------------------------------------------------------------------------

    def log_candidate(
        self, context, name: str, params: dict, grid: list[tuple[dict, float]], metrics: dict[str, float]
    ) -> dict:
        """A nested run for one tuned candidate: its best params, CV metrics and the whole grid as a table.
        Returns metadata with the run's link (empty when tracking is off or failed)."""

        def call(client):
            import pandas as pd

            parent = self._run_for(client, context.run)
            child = client.create_run(
                self._experiment(client),
                run_name=name,
                tags={"mlflow.parentRunId": parent, "forecast.candidate": name},
            )
            run_id = child.info.run_id
            _log_batch(client, run_id, params={k: str(v) for k, v in params.items()}, metrics=metrics)
            rows = [{**{k: str(v) for k, v in point.items()}, "cv_rmse": rmse} for point, rmse in grid]
            if rows:  # a refit searched nothing
                client.log_table(run_id, data=pd.DataFrame(rows), artifact_file="cv_grid.json")
            client.set_terminated(run_id)
            return self._link(client, run_id)

        return self._safely(context.log, f"log the {name} candidate", call) or {}

    def log_comparison(self, context, report: ComparisonReport, settings: dict) -> dict:
        """The comparison on the parent run: the gate's settings, every model's and baseline's holdout metrics
        (`<model>.<metric>`), the gate's verdict, and the whole report as a JSON artifact."""

        def call(client):
            run_id = self._run_for(client, context.run)
            gate = report.gate
            metrics = {"gate.passed": float(gate.passed)}
            groups = {**report.models, **report.baselines, "champion": report.champion or {}}
            for model, entry in groups.items():
                for metric, value in (entry.get("origin_mean") or {}).items():
                    metrics[f"{model}.{metric}"] = value
            params = {**{k: str(v) for k, v in settings.items()}, "best_model": report.best_model}
            params["holdout_origins"] = ",".join(report.holdout.origins)[:500]
            _log_batch(client, run_id, params=params, metrics=metrics)
            client.set_tag(run_id, "forecast.gate", gate.words()[:5000])
            client.log_dict(run_id, report.as_dict(), "model_comparison.json")
            return self._link(client, run_id)

        return self._safely(context.log, "log the model comparison", call) or {}

    def link(self, context) -> dict:
        """The link to this Dagster run's MLflow run (created when missing)."""
        return (
            self._safely(context.log, "open the MLflow run", lambda c: self._link(c, self._run_for(c, context.run)))
            or {}
        )

    def serve(self, context, warehouse: Warehouse, bucket: str, key: str, event: str, description: str) -> dict:
        """Point the registered model's `champion` alias at the model stored under `key` (a production_model
        version folder): the registered version already made from that folder, or a new one, logged to this
        run's MLflow run from the stored files. Returns {"model_version": n} (empty when off or failed)."""

        def call(client):
            name = self.registered_model
            existing = _version_of(client, name, key)
            if existing is None:
                run_id = self._run_for(client, context.run)
                with tempfile.TemporaryDirectory(prefix="forecast-mlflow-") as folder:
                    _download(warehouse, bucket, key, Path(folder))
                    client.log_artifacts(run_id, folder, artifact_path="production_model")
                if not client.search_registered_models(filter_string=f"name = '{name}'"):
                    client.create_registered_model(name, description="the forecast_assets production model")
                source = f"{client.get_run(run_id).info.artifact_uri}/production_model"
                existing = client.create_model_version(
                    name, source=source, run_id=run_id, tags={STORED_KEY_TAG: key}, description=description[:5000]
                ).version
            client.set_registered_model_alias(name, CHAMPION_ALIAS, existing)
            client.set_model_version_tag(name, existing, f"forecast.{event}", context.run.run_id)
            if event == "rollback":
                client.set_tag(self._run_for(client, context.run), "forecast.event", "rollback")
            context.log.info(f"MLflow: {name} version {existing} is now @{CHAMPION_ALIAS} ({event})")
            return {"model_version": int(existing)}

        return self._safely(context.log, f"register the served model ({event})", call) or {}

    def finish(self, context) -> None:
        """Mark this Dagster run's MLflow run finished (the run's last logging step calls it)."""
        self._safely(context.log, "finish the MLflow run", lambda c: c.set_terminated(self._run_for(c, context.run)))


def _log_batch(client, run_id: str, params: dict[str, str], metrics: dict[str, float]) -> None:
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    finite = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None and math.isfinite(float(v))]
    params_ = [Param(k, v[:6000]) for k, v in params.items()]
    for start in range(0, max(len(finite), len(params_)), 100):  # MLflow's batch limits
        client.log_batch(run_id, metrics=finite[start : start + 100], params=params_[start : start + 100])


def _version_of(client, name: str, key: str) -> str | None:
    """The registered version made from the stored folder `key`, if any (none while the model is unregistered)."""
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.tags.get(STORED_KEY_TAG) == key:
            return version.version
    return None


def _download(warehouse: Warehouse, bucket: str, key: str, folder: Path) -> None:
    """Copy the stored folder `key` (Spark's model files) into `folder`, whatever the warehouse's backend."""
    objects = warehouse.list_objects(bucket, key.rstrip("/") + "/")
    if not objects:
        raise FileNotFoundError(f"nothing is stored under {warehouse.uri(bucket, key)}")
    for stored in objects:
        relative = stored.key[len(key.rstrip("/")) + 1 :]
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(warehouse.read_bytes(bucket, stored.key) or b"")


def tracking_resource(settings: Settings) -> MlflowTracking:
    """Off unless MLFLOW_TRACKING_URI is set; then the URI is read through dg.EnvVar (it may carry credentials)."""
    if not settings.mlflow:
        return MlflowTracking()
    return MlflowTracking(
        tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI"),
        experiment=settings.mlflow_experiment,
        registered_model=settings.mlflow_model,
        ui_url=settings.mlflow_ui_url,
    )
