"""`python -m forecast_assets.cli` (`--help` on every command): your own sales files in one command (`run-data`,
what `make run DATA=...` runs), the run summary, the demo's partition range, the buckets."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from forecast_assets.ml.report import ComparisonReport
from forecast_assets.partitions import DEMO_WEEKS, weekly_partitions
from forecast_assets.settings import BUCKETS, HISTORY_START_VARIABLE, LANDING_BUCKET, Settings

if TYPE_CHECKING:
    from forecast_assets.landing.formats import ReadOptions

UPLOADS_PREFIX = "uploads/"  # uploads/<history>/<landed at>-<content hash>/<file>: one folder per run-data call


class DataError(ValueError):
    """The data given to run-data cannot be used; nothing was landed or stored."""


@dataclass
class LandingPlan:
    files: dict[str, bytes]  # landed key -> content
    prefix: str  # this upload's folder (landing time, content hash) inside the history's folder of uploads/
    first_day: date
    last_day: date
    history_start: date | None  # set for the run when the data starts before the configured start
    partition_keys: tuple[str, str]
    notes: list[str]


def sales_files(paths: list[str]) -> list[Path]:
    """The sales files among `paths`: a file named is read whatever its suffix (its bytes tell the format);
    folders are searched recursively for the suffixes raw_sales reads (.csv, .csv.gz, .txt, .parquet, ...)."""
    from forecast_assets.landing.area import READ_SUFFIXES

    if not paths:
        raise DataError("DATA is empty: give one or more CSV/Parquet files or folders, e.g. DATA=exports/sales.csv")
    found: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(READ_SUFFIXES))
            if not inside:
                raise DataError(f"{path}: no sales file (.csv, .csv.gz, .txt, .parquet) in this folder")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return found


def plan_landing(paths: list[str], today: date | None = None, options: ReadOptions | None = None) -> LandingPlan:
    """Read and validate the files (as raw_sales will, with the same options), find the weeks they cover and
    the history start they need. Raises DataError naming the file and the problem; touches no storage."""
    from forecast_assets.landing.schema import FileProblem
    from forecast_assets.landing.validation import Limits, message, parse_sales_file

    today = today or datetime.now(UTC).date()
    files = sales_files(paths)
    limits = Limits(first_day=date(1900, 1, 1), last_day=today)
    contents: dict[str, bytes] = {}
    first, last, notes = None, None, []
    digest = hashlib.sha256()
    for path in files:
        body = path.read_bytes()
        try:
            parsed = parse_sales_file(path.name, body, limits, options)
        except FileProblem as problem:
            raise DataError(f"{path}: {str(problem).removeprefix(path.name + ': ')}") from None
        if parsed.good.empty:
            example = message(parsed.bad.iloc[0]) if len(parsed.bad) else "no rows"
            raise DataError(f"{path}: none of its {parsed.rows} row(s) is a usable sales row, e.g. {example}")
        notes += [f"{path}: {note}" for note in parsed.notes]
        if len(parsed.bad):
            notes.append(
                f"{path}: {len(parsed.bad)} of {parsed.rows} row(s) will be quarantined, e.g. "
                f"{message(parsed.bad.iloc[0])}"
            )
        days = parsed.good["data_venda"]
        first = min(first or days.min(), days.min())
        last = max(last or days.max(), days.max())
        key = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)
        while key in contents:
            key = f"_{key}"
        contents[key] = body
        digest.update(key.encode() + b"\0" + body)
    configured = Settings.from_env(today=today).first_week
    explicit = bool(os.environ.get(HISTORY_START_VARIABLE, "").strip())
    if explicit and configured > last:
        raise DataError(
            f"{HISTORY_START_VARIABLE}={configured} is after your data's last sale ({last}); "
            f"set it to {first} or earlier"
        )
    history_start = first - timedelta(days=first.weekday()) if first < configured else None
    start = history_start or configured
    first_week = max(first, start) - timedelta(days=max(first, start).weekday())
    # Dagster's weekly partitions hold complete weeks only: a week still running is not a partition yet.
    last_complete = today - timedelta(days=today.weekday() + 7)
    last_week = min(last - timedelta(days=last.weekday()), last_complete)
    if last_week < first_week:
        raise DataError(f"your sales ({first} .. {last}) lie in the current week: no complete week to train on")
    if last - timedelta(days=last.weekday()) > last_complete:
        notes.append(f"sales after {last_complete + timedelta(days=6)} belong to the week still running: not used")
    return LandingPlan(
        files=contents,
        prefix=f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{digest.hexdigest()[:12]}/",
        first_day=first,
        last_day=last,
        history_start=history_start,
        partition_keys=(first_week.isoformat(), last_week.isoformat()),
        notes=notes,
    )


def stored_history() -> tuple[list[str], str | None, int]:
    """The raw_sales weeks stored, the uploads/ folder of run-data's current history (None before the first),
    and how many files of the landing area are not the demo's."""
    from forecast_assets.landing.area import list_landing

    with _resource("processed_data_io") as io_manager:
        current = io_manager.read_manifest(dg.AssetKey("raw_sales")).current
    with _resource("warehouse") as warehouse:
        landing = list_landing(warehouse)
    folders = sorted(
        {o.key.split("/")[1] for o in landing.sales if o.key.startswith(UPLOADS_PREFIX) and o.key.count("/") > 2}
    )
    weeks = sorted(k for k, entry in current.items() if entry.get("key"))
    return weeks, folders[-1] if folders else None, landing.user_files


def start_new_history(reason: str) -> int:
    """Take every stored raw_sales week out of the history training reads (the versions stay stored, the
    manifest keeps them under `retired`); returns how many weeks."""
    from forecast_assets.resources.io_managers import Manifest

    now = datetime.now(UTC).isoformat(timespec="seconds")

    def retire(manifest: Manifest) -> int:
        weeks = len(manifest.current)
        manifest.retired.append({"at": now, "reason": reason, "current": manifest.current})
        manifest.current = {}
        return weeks

    with _resource("processed_data_io") as io_manager:
        return io_manager.update_manifest(dg.AssetKey("raw_sales"), retire)


@dataclass
class History:
    """What a run-data run adds its weeks to."""

    weeks: list[str]  # the stored raw_sales weeks training will read beside the new ones
    folder: str  # uploads/<history>/: the uploads this run's raw_sales reads
    retire: str | None  # why the stored weeks start a new history (retired once the files have landed)
    said: list[str]


def choose_history(keys: tuple[str, str], fresh: bool) -> History:
    """The history a run over the weeks `keys` adds to: the stored raw_sales weeks and run-data's uploads
    folder, or a new history when `fresh` or when the warehouse holds only the demo's weeks (the stored weeks
    are then retired, not deleted). Changes nothing."""
    weeks, folder, user_files = stored_history()
    new = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    if weeks and (fresh or not user_files):
        why = "FRESH=1 (run-data --fresh)" if fresh else "the warehouse held only the demo's weeks"
        said = (
            f"{why}: a new history starts with your data; the {len(weeks)} stored week(s) are kept but no longer "
            "trained on (demo rows never mix with yours)"
        )
        return History([], f"{UPLOADS_PREFIX}{new}/", f"run-data: {why}", [said])
    history = History(weeks, f"{UPLOADS_PREFIX}{folder or new}/", None, [])
    if weeks:
        history.said.append(
            f"adding your weeks to the {len(weeks)} stored ({weeks[0]} .. {weeks[-1]}); training reads them all"
        )
    if replaced := [w for w in weeks if keys[0] <= w <= keys[1]]:
        history.said.append(
            f"{len(replaced)} stored week(s) get a new version ({replaced[0]} .. {replaced[-1]}): each day your "
            "files hold replaces that day's earlier rows"
        )
    return history


def run_data(paths: list[str], options: ReadOptions | None = None, fresh: bool = False) -> int:
    """`make run DATA=...`: land the files, run ml_pipeline over the weeks they cover (adding them to the weeks
    stored before, unless `fresh`), print the summary."""
    try:
        plan = plan_landing(paths, options=options)
    except ValueError as error:  # DataError, or a malformed FORECAST_HISTORY_START
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in plan.notes:
        print(f"note: {note}")
    history = choose_history(plan.partition_keys, fresh)
    for line in history.said:
        print(line)
    first, last = plan.partition_keys
    env = dict(os.environ)
    start = min([date.fromisoformat(first), *[date.fromisoformat(w) for w in history.weeks[:1]]])
    if start < Settings.from_env().first_week:  # the stored weeks and these must all be partitions
        env[HISTORY_START_VARIABLE] = start.isoformat()
        os.environ[HISTORY_START_VARIABLE] = start.isoformat()
        print(
            f"your sales history starts {start}, before the configured history start: this run uses "
            f"{HISTORY_START_VARIABLE}={start} (export it, or put it in .env, to keep these "
            "weeks in `make dev` and the schedules)"
        )
    folder = history.folder
    with _resource("warehouse") as warehouse:
        warehouse.ensure_bucket(LANDING_BUCKET)
        for key, body in plan.files.items():
            warehouse.write_bytes(LANDING_BUCKET, folder + plan.prefix + key, body)
        where = warehouse.uri(LANDING_BUCKET, folder + plan.prefix)
    print(f"landed {len(plan.files)} file(s) in {where} (sales {plan.first_day} .. {plan.last_day})")
    if history.retire:  # after the files landed: a failed landing leaves the stored history as it was
        start_new_history(history.retire)
    print(f"running ml_pipeline over the weeks {first} .. {last}")
    # The same run config as the schedule's (FORECAST_PROFILE, ...), reading this history's uploads only.
    config = run_config()
    config["ops"]["raw_sales"] = {
        "config": {
            "landing_prefix": folder,
            "demo_when_empty": False,
            "later_uploads_replace_days": True,
            **(options.as_config() if options else {}),
        }
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        json.dump(config, handle)  # JSON is YAML
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    dagster = str(Path(sys.executable).parent / "dagster")
    command = [dagster, "job", "execute", "-m", "forecast_assets", "-j", "ml_pipeline", "-c", handle.name]
    completed = subprocess.run([*command, "--tags", json.dumps(tags)], env=env)
    os.unlink(handle.name)
    print()
    with dg.DagsterInstance.get() as instance:
        print(summary(instance))
    return completed.returncode


def restore_manifest(asset: str) -> int:
    """`restore-manifest ASSET`: the manifest rebuilt by the asset's IO manager (VersionedIOManager)."""
    from forecast_assets.definitions import build_defs
    from forecast_assets.resources.storage import StorageError

    defs = build_defs(Settings.from_env())
    key = dg.AssetKey(asset)
    graph = defs.resolve_asset_graph()
    if not graph.has(key):
        names = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
        print(f"error: no asset {asset!r}; expected one of {', '.join(names)}", file=sys.stderr)
        return 2
    io_manager_key = defs.resolve_assets_def(key).get_io_manager_key_for_asset_key(key)
    with _resource(io_manager_key) as io_manager, dg.DagsterInstance.get() as instance:
        try:
            said = io_manager.restore_manifest(key, instance)
        except StorageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    print("\n".join(said))
    return 0


def _resource(key: str):
    """A resource of the environment's definitions, initialized for use outside a run."""
    from forecast_assets.resources import build_resources

    return build_resources(Settings.from_env())[key].process_config_and_initialize_cm()


def run_config(settings: Settings | None = None) -> dict:
    """The run config of `make run`: the schedule's (FORECAST_PROFILE, ...) and the step-per-line console."""
    from forecast_assets.jobs import automated_run_config

    settings = settings or Settings.from_env()
    config = automated_run_config(settings)
    if not settings.console_full:
        config["loggers"] = {"console": {}}
    return config


def demo_range_tags() -> dict[str, str]:
    keys = weekly_partitions(Settings.from_env().first_week).get_partition_keys()[-DEMO_WEEKS:]
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def _metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _num(value, digits: int = 3, suffix: str = "") -> str:
    """A metric for the summary, or "n/a" when the run did not record it (or it is not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return "n/a"
    return f"{value:.{digits}f}{suffix}"


def _sort_key(entry: dict, metric: str) -> float:
    value = (entry.get("origin_mean") or {}).get(metric)
    return value if isinstance(value, (int, float)) and value == value else float("inf")


def summary(instance: dg.DagsterInstance) -> str:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="ml_pipeline"), limit=1)
    if not runs:
        return "no ml_pipeline run yet"
    run = runs[0]
    lines = [f"ml_pipeline run {run.run_id}: {run.status.value}"]
    raw = _metadata(instance, "raw_sales")
    if raw:
        lines.append(f"rows ingested: {raw.get('row_count')} ({raw.get('weeks')} weeks, {raw.get('date_range')})")
    report = _latest_report()
    if report:
        gate, holdout = report.gate, report.holdout
        lines.append(
            f"holdout: {len(holdout.origins)} weekly origins x {holdout.horizon_days} days "
            f"({holdout.span}); means over origins, gate metric {gate.metric}:"
        )
        lines.append(f"  {'':<22}{'rmse':>10}{'mae':>10}{'wape':>8}{'wk_wape':>8}{'mase':>8}{'vs best base':>13}")
        for group in (report.models, report.baselines):
            for name, entry in sorted(group.items(), key=lambda item: _sort_key(item[1], gate.metric)):
                m = entry.get("origin_mean") or {}
                lines.append(
                    f"  {name:<22}{_num(m.get('rmse')):>10}{_num(m.get('mae')):>10}{_num(m.get('wape')):>8}"
                    f"{_num(m.get('weekly_wape')):>8}{_num(m.get('mase')):>8}"
                    f"{_num(entry.get('ratio_to_best_baseline'), suffix='x'):>13}"
                )
        lines.append(f"gate: {gate.words()}")
    production = _metadata(instance, "production_model")
    if production:
        lines.append(
            f"production model: {production.get('model')} version {production.get('version')} "
            f"(holdout rmse {_num(production.get('holdout_rmse'))}, trained in run {production.get('trained_in_run')})"
        )
    drift = _metadata(instance, "drift_score")
    if drift:
        verdict = "DRIFT" if drift.get("drifted") else "no drift"
        lines.append(
            f"drift: {verdict} (score {_num(drift.get('drift_score'), 2)}; drifted columns: "
            f"{drift.get('drifted_columns')})"
        )
    forecast = _metadata(instance, "sales_forecast")
    if forecast:
        lines.append(
            f"forecast of {forecast.get('target', 'valor_total')}: {forecast.get('products')} active products (of "
            f"{forecast.get('active_products')}) for {forecast.get('forecast_days')}, by method "
            f"{forecast.get('by_method')}"
        )
        table = _forecast_table()
        if table is not None:
            lines.append(table.to_string(float_format=lambda v: f"{v:.1f}"))
    return "\n".join(lines)


def _forecast_table():
    """The stored forecast as one row per product: its method, each day's forecast and the week's total."""
    with _resource("ml_data_io") as io_manager:
        rows = io_manager.load_current_pandas(dg.AssetKey("sales_forecast"))
    if rows is None:
        return None
    value = next(c for c in rows.columns if c.startswith("forecast_") and c != "forecast_date")
    table = rows.pivot_table(index=["produto", "method"], columns="forecast_date", values=value)
    table.columns = [str(c) for c in table.columns]
    table["total"] = table.sum(axis=1)
    return table


def _latest_report() -> ComparisonReport | None:
    with _resource("ml_experiments_io") as io_manager:
        stored = io_manager.load_current(dg.AssetKey("model_comparison"))
    return ComparisonReport.of(stored) if stored else None


def create_buckets() -> list[str]:
    with _resource("warehouse") as warehouse:
        for bucket in BUCKETS:
            warehouse.ensure_bucket(bucket)
        return [warehouse.uri(bucket) for bucket in BUCKETS]


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m forecast_assets.cli",
        description="forecast_assets from the command line: your own sales in one command, the run summary, "
        "the demo's weeks, the buckets. The Dagster UI (`make dev`) and `dagster job execute -m forecast_assets "
        "-j ml_pipeline` do the rest.",
    )
    commands = cli.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run-data",
        help="land sales files and run ml_pipeline over exactly the weeks they cover, then print the summary",
        description="Land CSV, Parquet or Excel sales files (or folders of them) in raw-data/uploads/ and run "
        "ml_pipeline over the weeks they cover, added to the weeks stored before (`make run DATA=...`). Columns "
        "(found by name, or --columns): produto, categoria_valor, quantidade, valor_total, data_venda. Nothing is "
        "landed when the files cannot be used.",
    )
    run.add_argument("paths", nargs="+", metavar="PATH", help="a sales file or a folder of them")
    run.add_argument(
        "--columns",
        default="",
        help="role=column pairs for columns not found by name, e.g. produto=sku,data_venda=order_date (roles: "
        "produto, categoria_valor, quantidade, valor_total, data_venda, preco_unitario)",
    )
    run.add_argument("--locale", default="", help="the files' locale when they do not decide it, e.g. pt_BR, en_US")
    run.add_argument("--date-format", default="", help="the files' date format, e.g. %%d/%%m/%%Y")
    run.add_argument("--sheet", default="", help="a workbook's sales sheet (default: the only one with sales)")
    run.add_argument(
        "--fresh", action="store_true", help="start a new history: the weeks stored before are no longer trained on"
    )
    commands.add_parser(
        "summary",
        help="what the latest ml_pipeline run produced",
        description="The latest ml_pipeline run: rows ingested, every model's and baseline's holdout metrics, the "
        "gate's verdict, the production model, drift and the forecast (DAGSTER_HOME's instance).",
    )
    commands.add_parser(
        "run-config",
        help="the run config of `make run` (JSON)",
        description="The run config `make run` passes to ml_pipeline: the profile (FORECAST_PROFILE, full or "
        "small), and one console line per step start and end (FORECAST_CONSOLE=full: Dagster's own lines).",
    )
    restore = commands.add_parser(
        "restore-manifest",
        help="rebuild an asset's damaged manifest from its version folders and the instance's materializations",
        description="Rebuild ASSET's _manifest.json (the pointer to its current version) from the version folders in "
        "storage and the materializations DAGSTER_HOME's instance recorded: each partition, or the asset, points at "
        "its latest materialized version whose files are still there. The replaced file is kept beside it.",
    )
    restore.add_argument("asset", metavar="ASSET", help="e.g. raw_sales, feature_dataset, production_model")
    commands.add_parser(
        "demo-range-tags",
        help="run tags for one run over the demo's weeks (JSON)",
        description=f"Run tags for one ml_pipeline run over the last {DEMO_WEEKS} weekly partitions (JSON).",
    )
    commands.add_parser(
        "create-buckets",
        help="create the original design's buckets where missing",
        description="Create raw-data, processed-data, ml-data, ml-models and ml-experiments where missing "
        "(docker-compose's minio-init); prints their URIs.",
    )
    return cli


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv[1:])
    if args.command == "run-data":
        from forecast_assets.landing.formats import ReadOptions

        try:
            options = ReadOptions.of(args.columns, args.locale, args.date_format, args.sheet)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return run_data(args.paths, options, fresh=args.fresh)
    if args.command == "demo-range-tags":
        print(json.dumps(demo_range_tags()))
    elif args.command == "run-config":
        print(json.dumps(run_config()))
    elif args.command == "create-buckets":
        print("\n".join(create_buckets()))
    elif args.command == "restore-manifest":
        return restore_manifest(args.asset)
    elif args.command == "summary":
        with dg.DagsterInstance.get() as instance:
            print(summary(instance))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
