"""The one-step rollback: a job that re-points production_model to a stored version (nothing is retrained or
copied), recorded in the ledger like a promotion."""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from forecast_assets.ledger import (
    PRODUCTION,
    append_ledger,
    code_version,
    ledger_table,
    other_target,
    previous_serving,
    read_ledger,
    run_context,
)
from forecast_assets.ml.features import target_of
from forecast_assets.policies import SPARK_POOL
from forecast_assets.resources.storage import StorageError
from forecast_assets.settings import MODELS_BUCKET


class RollbackConfig(dg.Config):
    to_version: int | None = Field(
        default=None,
        description="the production_model version to serve again (see the ledger table in its metadata); "
        "empty: the model that served before the current one",
    )
    reason: str = Field(default="manual rollback", description="why, for the ledger")


@dg.op(required_resource_keys={"ml_models_io", "warehouse", "tracking"}, pool=SPARK_POOL)
def rollback_production_model_op(context: dg.OpExecutionContext, config: RollbackConfig) -> None:
    """Re-points production_model to an earlier stored version without retraining: checks that the version
    exists and loads, moves the pointer, records the rollback in the ledger. sales_forecast uses it from its
    next materialization on."""
    io_manager, warehouse = context.resources.ml_models_io, context.resources.warehouse
    manifest = io_manager.read_manifest(PRODUCTION)
    current = manifest.pointer()
    if current is None:
        raise dg.Failure("there is no production model yet: nothing to roll back", allow_retries=False)
    entries = read_ledger(warehouse, context.instance)
    if config.to_version is None:
        target = previous_serving(entries, current["key"])
        if target is None:
            raise dg.Failure(
                f"no earlier model in the ledger to roll back to (version {current['version']} is the only one)",
                allow_retries=False,
            )
    else:
        target = next((e for e in reversed(entries) if e.get("version") == config.to_version and e.get("key")), None)
        if target is None and config.to_version <= manifest.last_version:  # a version the ledger lost
            target = {"version": config.to_version, "key": f"production_model/v{config.to_version:04d}"}
        if target is None:
            raise dg.Failure(
                f"production_model has no version {config.to_version} (the last is {manifest.last_version})",
                allow_retries=False,
            )
    try:
        earlier = io_manager.load_key(target["key"])  # it must load before anything moves
    except StorageError as error:
        raise dg.Failure(
            f"cannot roll back to version {target['version']}: {error}; production is unchanged "
            f"(version {current['version']} serves)",
            allow_retries=False,
        ) from None
    if serving := other_target(entries, current["key"], target_of(earlier)):
        raise dg.Failure(
            f"version {target['version']} forecasts {target_of(earlier)}, the serving version {current['version']} "
            f"{serving}: a model of another target never serves in its place; production is unchanged",
            allow_retries=False,
        )
    version = io_manager.repoint(PRODUCTION, target["key"], context.run_id)
    entry = {
        "event": "rollback",
        "version": version,
        "key": target["key"],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **run_context(context.run),
        "code_version": code_version(),
        "model": target.get("model"),
        "kind": target.get("kind"),
        "target": target_of(earlier),
        "params": target.get("params"),
        "metric": target.get("metric"),
        "value": target.get("value"),
        "replaced": {"version": current["version"], "key": current["key"]},
        "rolled_back_to": target["version"],
        "reason": config.reason,
    }
    tracking = context.resources.tracking
    if registered := tracking.serve(context, warehouse, MODELS_BUCKET, target["key"], "rollback", config.reason):
        entry["mlflow"] = registered
    tracking.finish(context)
    entries = append_ledger(warehouse, entries, entry)
    context.log_event(
        dg.AssetMaterialization(
            PRODUCTION,
            description=f"rolled back to version {target['version']} ({target.get('model')}): {config.reason}",
            metadata={
                "event": "rollback",
                "version": version,
                "stored_key": target["key"],
                "model": target.get("model") or "unknown",
                "kind": target.get("kind") or "unknown",
                "rolled_back_to": target["version"],
                "replaced_version": current["version"],
                "ledger": ledger_table(entries),
                **tracking.link(context),
            },
        )
    )
    context.log.info(f"production_model version {version} serves what version {target['version']} served")


@dg.job(
    description="Re-point production_model to the previous model (or to_version) without retraining; the "
    "rollback is recorded in the ledger and sales_forecast uses that model from its next run on.",
    tags={"forecast/training": "rollback"},
)
def rollback_production_model():
    rollback_production_model_op()
