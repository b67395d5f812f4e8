"""The production model's promotion ledger (the rollback job that also writes it: serving/rollback.py).

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

from forecast_assets.ml.features import TARGETS
from forecast_assets.resources.storage import Warehouse
from forecast_assets.settings import EXPERIMENTS_BUCKET

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
