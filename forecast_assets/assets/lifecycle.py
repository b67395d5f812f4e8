"""The production model's lifecycle: the promotion ledger and the one-step rollback.

The ledger (`ml-experiments/ledger/production_model.json`) is an append-only document: one entry per
promotion, refusal and rollback, each naming the version it left serving, why, and what it saw. The
production_model manifest says what serves; the ledger says why. A rollback re-points production to a stored
version (nothing is retrained or copied) and is recorded like a promotion.
"""

import json
import os
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib import metadata as package_metadata
from pathlib import Path

import dagster as dg
from pydantic import Field

from forecast_assets.ml.features import TARGETS, target_of
from forecast_assets.policies import SPARK_POOL
from forecast_assets.resources.io_managers import UNPARTITIONED
from forecast_assets.resources.storage import StorageError, Warehouse
from forecast_assets.settings import EXPERIMENTS_BUCKET, MODELS_BUCKET

LEDGER_KEY = "ledger/production_model.json"
PRODUCTION = dg.AssetKey("production_model")
SERVING_EVENTS = ("promotion", "refusal", "first_baseline", "rollback")
TABLE_COLUMNS = ("version", "event", "at", "model", "kind", "trigger", "metric", "value", "reason")


@cache
def code_version() -> dict:
    """The package version and, in a git checkout, the commit (FORECAST_GIT_COMMIT in images without .git)."""
    try:
        package = package_metadata.version("forecast_assets")
    except package_metadata.PackageNotFoundError:
        package = "unknown"
    # The running code's identity (read when a run records it, not a definition setting): images built without
    # .git pass it as FORECAST_GIT_COMMIT.
    commit = os.environ.get("FORECAST_GIT_COMMIT") or None
    if not commit:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=Path(__file__).resolve().parent,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"package": package, "git_commit": commit}


def run_context(run: dg.DagsterRun) -> dict:
    """What a ledger entry says of the run: its id, trigger and the raw_sales weeks it loaded."""
    tags = run.tags
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    last = tags.get("dagster/asset_partition_range_end") or first
    return {
        "run_id": run.run_id,
        "trigger": tags.get("forecast/trigger", "manual"),
        "raw_sales_weeks": f"{first} .. {last}" if first else None,
    }


def read_ledger(warehouse: Warehouse, instance: dg.DagsterInstance | None = None) -> list[dict]:
    """The ledger's entries, oldest first. A missing or unreadable ledger is rebuilt from the production_model
    materializations this instance recorded (a damaged one is kept aside first): never silently empty."""
    body = warehouse.read_bytes(EXPERIMENTS_BUCKET, LEDGER_KEY)
    if body is not None:
        try:
            entries = json.loads(body)["entries"]
            if isinstance(entries, list):
                return entries
        except (ValueError, KeyError, TypeError):
            pass
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        warehouse.write_bytes(EXPERIMENTS_BUCKET, f"{LEDGER_KEY}.damaged-{stamp}", body)
    return rebuild_ledger(instance)


def rebuild_ledger(instance: dg.DagsterInstance | None) -> list[dict]:
    """Entries recovered from the materialization history of production_model (what each version served)."""
    if instance is None:
        return []
    records = instance.fetch_materializations(PRODUCTION, limit=1000, ascending=True).records
    entries = []
    for record in records:
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        entries.append(
            {
                "event": meta.get("event", "promotion"),
                "version": meta.get("version"),
                "key": meta.get("stored_key"),
                "at": datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
                "run_id": record.run_id,
                "model": meta.get("model"),
                "kind": meta.get("kind"),
                "reason": meta.get("gate", "rebuilt from the materialization history"),
                "rebuilt": True,
            }
        )
    return entries


def append_ledger(warehouse: Warehouse, entries: list[dict], entry: dict) -> list[dict]:
    """Write the ledger with `entry` appended (the whole document, atomically); returns the new entries."""
    entries = [*entries, entry]
    body = json.dumps({"asset": "production_model", "entries": entries}, indent=2, default=str).encode()
    warehouse.write_bytes(EXPERIMENTS_BUCKET, LEDGER_KEY, body)
    return entries


def ledger_table(entries: list[dict], last: int = 30) -> dg.MetadataValue:
    """The latest entries as a sortable table for the UI."""
    records = [dg.TableRecord({c: _cell(entry.get(c)) for c in TABLE_COLUMNS}) for entry in reversed(entries[-last:])]
    columns = [
        dg.TableColumn(c, "int" if c == "version" else "float" if c == "value" else "string") for c in TABLE_COLUMNS
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def _cell(value):
    if value is None or isinstance(value, (int, float, str)):
        return value
    return json.dumps(value, default=str)


def other_target(entries: list[dict], current_key: str, target: str) -> str | None:
    """What the serving version forecasts, as the ledger recorded it (entries before targets: revenue), when it
    is not `target`; None when it is, or the ledger does not know the version."""
    serving = next((e.get("target", TARGETS[0]) for e in reversed(entries) if e.get("key") == current_key), None)
    return serving if serving not in (None, target) else None


def previous_serving(entries: list[dict], current_key: str | None) -> dict | None:
    """The latest entry that left a different model serving than `current_key`: what a rollback returns to."""
    for entry in reversed(entries):
        if entry.get("event") in SERVING_EVENTS and entry.get("key") and entry["key"] != current_key:
            return entry
    return None


# -- rollback ---------------------------------------------------------------------------------------


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
    current = manifest["current"].get(UNPARTITIONED)
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
        if target is None and config.to_version <= manifest["last_version"]:  # a version the ledger lost
            target = {"version": config.to_version, "key": f"production_model/v{config.to_version:04d}"}
        if target is None:
            raise dg.Failure(
                f"production_model has no version {config.to_version} (the last is {manifest['last_version']})",
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
