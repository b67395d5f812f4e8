"""IO managers: Spark DataFrames as Parquet, Spark ML models, and small Python objects as JSON.

All three write every materialization to a new version folder (`<asset>/v0007/...`) and only then move
the asset's pointer (`<asset>/_manifest.json`), so a failed write never replaces what readers load.
They differ only in how one version is written and read; where it lives is the Warehouse's business.

Two runs may write one asset at once (two weeks of raw_sales from two sensor runs, a UI launch beside the
schedule): every manifest change is a compare-and-swap (Warehouse.write_if_unchanged), retried on conflict
from a fresh read. A version number is reserved that way before its folder is written, so two writers never
share a folder, and the pointer move re-applies only this write's entries, so neither loses the other's.
"""

import io
import json
import random
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.ml.spark_internals import load_any_model
from forecast_assets.resources.damage import damaged, manifest_remedy, remedy, unreadable_stored_file
from forecast_assets.resources.storage import StorageError, Warehouse

MANIFEST = "_manifest.json"
UNPARTITIONED = "__all__"
PARTITION_COLUMN = "dagster_partition"  # Spark hides folders that start with "_"
SAFE_PARTITION_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
STORED_KEY = "forecast_assets_stored_key"  # set on a loaded model: the folder it was read from
VERSION_FOLDER = re.compile(r"v(\d{4})(?:/|\.json$)")
SWAP_ATTEMPTS = 20  # manifest updates tried before giving up: each lost one means another writer moved on
T = TypeVar("T")
# Models loaded in this process, by (Spark application, version folder): (the folder's files when loaded, model).
# Loaded models are not changed in place by their readers (a changed stage is a copy), so one object serves all.
LOADED_MODELS: OrderedDict[tuple[str, str], tuple[tuple, Any]] = OrderedDict()
LOADED_MODELS_KEPT = 16  # a run reads about 8 (the candidates, the pipeline, champion, serving)


@dataclass
class Manifest:
    """An asset's pointer file (`<asset>/_manifest.json` beside its version folders): the last version number
    taken, and the current version of each partition, or of the asset under UNPARTITIONED. Each pointer names its
    folder (`key`), `version`, `run_id` and `written_at` (a Parquet partition adds `rows`). One reader (`parse`),
    one writer (`as_json`); nothing else reads the file."""

    asset: str
    last_version: int = 0
    current: dict[str, dict] = field(default_factory=dict)
    retired: list[dict] = field(default_factory=list)  # histories taken out of training (cli: start a new history)

    def pointer(self, partition: str = UNPARTITIONED) -> dict | None:
        """The current version of a partition, or of the asset."""
        return self.current.get(partition)

    def as_json(self) -> bytes:
        stored = {"asset": self.asset, "last_version": self.last_version, "current": self.current}
        return json.dumps(
            {**stored, **({"retired": self.retired} if self.retired else {})}, indent=2, sort_keys=True
        ).encode()

    @classmethod
    def parse(cls, asset_key: dg.AssetKey, raw: bytes | None, where: str) -> "Manifest":
        """The stored manifest (an empty one when there is none); a damaged one is the damage error, never read as
        empty: that would lose track of every stored version."""
        asset = asset_key.to_user_string()
        if not raw:
            return cls(asset=asset)
        try:
            stored = json.loads(raw)
            if not (isinstance(stored.get("last_version"), int) and isinstance(stored.get("current"), dict)):
                raise ValueError("no last_version and current")
            return cls(asset, stored["last_version"], stored["current"], list(stored.get("retired") or []))
        except (ValueError, AttributeError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = str(error).splitlines()[0][:200]
            raise damaged(asset, "the manifest", where, reason, manifest_remedy(asset)) from None


class VersionedIOManager(dg.ConfigurableIOManager):
    """Common part: versioned locations and the manifest that points at each asset's current version."""

    warehouse: Warehouse
    bucket: str
    damaged_as: ClassVar[tuple[type[Exception], ...]] = ()  # what read_version raises for a damaged version

    # -- manifest --------------------------------------------------------------------------------
    def _asset_prefix(self, asset_key: dg.AssetKey) -> str:
        return "/".join(asset_key.path)

    def read_manifest(self, asset_key: dg.AssetKey) -> Manifest:
        key = f"{self._asset_prefix(asset_key)}/{MANIFEST}"
        raw = self.warehouse.read_bytes(self.bucket, key)
        return Manifest.parse(asset_key, raw, self.warehouse.uri(self.bucket, key))

    def update_manifest(self, asset_key: dg.AssetKey, change: Callable[[Manifest], T]) -> T:
        """Apply `change` to the current manifest and store the result, atomically: if another writer stored
        a manifest in between, read it again and re-apply (up to SWAP_ATTEMPTS times, with a jittered pause)."""
        key = f"{self._asset_prefix(asset_key)}/{MANIFEST}"
        for attempt in range(SWAP_ATTEMPTS):
            raw, token = self.warehouse.read_for_update(self.bucket, key)
            manifest = Manifest.parse(asset_key, raw, self.warehouse.uri(self.bucket, key))  # damaged: not replaced
            result = change(manifest)
            if self.warehouse.write_if_unchanged(self.bucket, key, manifest.as_json(), token):
                return result
            time.sleep(random.uniform(0, 0.05 * 2 ** min(attempt, 5)))
        raise StorageError(
            f"{self.warehouse.uri(self.bucket, key)} changed under {SWAP_ATTEMPTS} attempts in a row to update it: "
            "too many runs write this asset at once"
        )

    def reserve_version(self, asset_key: dg.AssetKey) -> int:
        """The next version number, taken for this write alone (the pointer does not move)."""

        def take(manifest: Manifest) -> int:
            manifest.last_version += 1
            return manifest.last_version

        return self.update_manifest(asset_key, take)

    def point_to(self, asset_key: dg.AssetKey, entries: dict[str, dict], version: int, run_id: str) -> None:
        """Move the pointer of each partition in `entries` (or of the asset) to this version: the last write to
        commit is current, whatever other partitions other writers moved meanwhile."""
        now = datetime.now(UTC).isoformat(timespec="seconds")

        def move(manifest: Manifest) -> None:
            for key, entry in entries.items():
                manifest.current[key] = {**entry, "version": version, "run_id": run_id, "written_at": now}
            manifest.last_version = max(manifest.last_version, version)

        self.update_manifest(asset_key, move)

    def restore_manifest(self, asset_key: dg.AssetKey, instance: dg.DagsterInstance) -> list[str]:
        """Rebuild the manifest from the version folders in storage and the materializations `instance` recorded
        (`python -m forecast_assets.cli restore-manifest ASSET`): each partition, or the asset, points at its
        latest materialized version whose files are still there; last_version is the highest version folder, so
        no folder is ever written twice. The replaced file is kept beside it. Returns what was done."""
        prefix = self._asset_prefix(asset_key)
        key = f"{prefix}/{MANIFEST}"
        stored = [o.key for o in self.warehouse.list_objects(self.bucket, prefix + "/")]
        folders = {int(m[1]) for k in stored if (m := VERSION_FOLDER.match(k.removeprefix(prefix + "/")))}
        held = {"/".join(k.split("/")[:depth]) for k in stored for depth in range(1, k.count("/") + 2)}

        def present(entry_key: str) -> bool:  # a stored object, or a folder holding one
            return entry_key in held

        current: dict[str, dict] = {}
        said = []
        for record in _all_materializations(instance, asset_key):
            metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
            if "version" not in metadata or not ("stored_key" in metadata or "uri" in metadata):
                continue
            try:
                base = metadata.get("stored_key") or self.warehouse.key_of(self.bucket, metadata["uri"])
            except StorageError:  # written to another warehouse
                continue
            partition = record.asset_materialization.partition
            if partition and not present(base):
                continue  # the version's folder is gone: an earlier version of the partition stays
            entry_key = f"{base}/{PARTITION_COLUMN}={partition}" if partition else base
            if not partition and not present(entry_key):
                continue
            at = datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds")
            current[partition or UNPARTITIONED] = {
                "key": entry_key if present(entry_key) else None,  # a week stored empty has no folder
                "version": metadata["version"],
                "run_id": record.run_id,
                "written_at": at,
            }
        if not current:  # nothing to point at: the manifest stays as it is
            raise StorageError(
                f"no materialization of {asset_key.to_user_string()} whose files are still in "
                f"{self.warehouse.uri(self.bucket, prefix)} is recorded in this instance (DAGSTER_HOME): nothing to "
                f"restore from; materialize {asset_key.to_user_string()} again"
            )
        last = max([*folders, *(e["version"] for e in current.values())], default=0)
        manifest = Manifest(asset=asset_key.to_user_string(), last_version=last, current=current)
        if (old := self.warehouse.read_bytes(self.bucket, key)) is not None:
            kept = f"{key}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%S}"
            self.warehouse.write_bytes(self.bucket, kept, old)
            said.append(f"the replaced manifest is kept as {self.warehouse.uri(self.bucket, kept)}")
        self.warehouse.write_bytes(self.bucket, key, manifest.as_json())
        versions = sorted({e["version"] for e in current.values()})
        said.append(
            f"{self.warehouse.uri(self.bucket, key)}: {len(current)} "
            f"{'partition(s)' if UNPARTITIONED not in current else 'current version'} pointing at version(s) "
            f"{', '.join(map(str, versions)) or 'none'}; last version {last}"
        )
        return said

    # -- dagster hooks ---------------------------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        self.warehouse.ensure_bucket(self.bucket)
        partition_keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        for key in partition_keys or []:
            if not SAFE_PARTITION_KEY.fullmatch(key):
                raise StorageError(f"refusing partition key {key!r}: expected letters, digits, '-', '_', '.' or ':'")
        version = self.reserve_version(context.asset_key)
        prefix = f"{self._asset_prefix(context.asset_key)}/v{version:04d}"
        written, metadata = self.write_version(context, obj, prefix, partition_keys)
        self.point_to(context.asset_key, written, version, context.run_id)  # the pointer moves last
        where = written[UNPARTITIONED]["key"] if UNPARTITIONED in written else prefix
        context.add_output_metadata(
            {"uri": dg.MetadataValue.path(self.warehouse.uri(self.bucket, where)), "version": version, **metadata}
        )

    def load_input(self, context: dg.InputContext) -> Any:
        asset_key = context.asset_key
        current = self.read_manifest(asset_key).current
        if context.has_asset_partitions:
            keys = list(context.asset_partition_keys)
            entries = [current[k] for k in keys if k in current]
            if not entries:
                raise StorageError(
                    f"no stored partition of {asset_key.to_user_string()} among {keys[0]}..{keys[-1]} "
                    f"in {self.warehouse.uri(self.bucket, self._asset_prefix(asset_key))}: materialize it first"
                )
            if len(entries) < len(keys):
                context.log.info(f"{asset_key.to_user_string()}: {len(entries)} of {len(keys)} partitions stored")
        else:
            if UNPARTITIONED not in current:
                raise StorageError(
                    f"{asset_key.to_user_string()} has no stored version in "
                    f"{self.warehouse.uri(self.bucket, self._asset_prefix(asset_key))}: materialize it first"
                )
            entries = [current[UNPARTITIONED]]
        entries = [e for e in entries if e["key"]]
        if not entries:  # every requested partition was stored empty
            raise StorageError(f"the stored partitions of {asset_key.to_user_string()} hold no rows")
        return self._read(asset_key, context, entries)

    def load_current(self, asset_key: dg.AssetKey) -> Any | None:
        """The asset's current version (every stored partition of a partitioned one), outside of a run."""
        current = self.read_manifest(asset_key).current
        entries = [current[UNPARTITIONED]] if UNPARTITIONED in current else list(current.values())
        entries = [e for e in entries if e["key"]]
        return self._read(asset_key, None, entries) if entries else None

    def _read(self, asset_key: dg.AssetKey, context: dg.InputContext | None, entries: list[dict]) -> Any:
        """read_entries, with a stored version that is gone or does not parse as the one damage error."""
        try:
            return self.read_entries(context, entries)
        except dg.Failure:
            raise
        except Exception as error:
            if (failure := unreadable_stored_file(error)) is not None:  # what Spark says of its files
                raise failure from None
            if not isinstance(error, self.damaged_as):  # e.g. a JSON document that is gone or cut
                raise
            asset, entry = asset_key.to_user_string(), max(entries, key=lambda e: e.get("version", 0))
            where = self.warehouse.uri(self.bucket, entry["key"])
            cause = str(error).splitlines()[0][:200]
            raise damaged(asset, "the stored version at", where, cause, remedy(asset), entry.get("version")) from None

    def read_entries(self, context: dg.InputContext | None, entries: list[dict]) -> Any:
        """Read manifest entries (each stored partition, or the one version) as one object."""
        return self.read_version(context, [self.warehouse.uri(self.bucket, e["key"]) for e in entries])

    # -- what differs between formats ------------------------------------------------------------
    def write_version(
        self, context: dg.OutputContext, obj: Any, prefix: str, partition_keys: list[str] | None
    ) -> tuple[dict[str, dict], dict]:
        """Write `obj` under `prefix`; return {partition key: {"key": object key, ...}} and metadata."""
        raise NotImplementedError

    def read_version(self, context: dg.InputContext | None, uris: list[str]) -> Any:
        raise NotImplementedError

    def _size(self, prefix: str) -> int:
        return sum(o.size for o in self.warehouse.list_objects(self.bucket, prefix + "/"))


class SparkParquetIOManager(VersionedIOManager):
    """Spark DataFrames as Parquet. A time-partitioned asset gets one folder per partition, found from
    the asset's `partition_expr` metadata (the date column), so a backfill range is written in one pass."""

    pyspark: LazyPySparkResource

    def load_current_pandas(self, asset_key: dg.AssetKey):
        """A small unpartitioned asset's current version as pandas, read without Spark (the CLI's summary
        prints the forecast after the run's process has ended: a JVM started only to read it costs 10 s)."""
        import pandas as pd
        import pyarrow.parquet as pq

        entry = self.read_manifest(asset_key).pointer() or {}
        if not entry.get("key"):
            return None
        parts = [
            o.key for o in self.warehouse.list_objects(self.bucket, entry["key"] + "/") if o.key.endswith(".parquet")
        ]
        tables = [pq.read_table(io.BytesIO(self.warehouse.read_bytes(self.bucket, key))) for key in parts]
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True) if tables else None

    def write_version(self, context, obj: DataFrame, prefix, partition_keys):
        uri = self.warehouse.uri(self.bucket, prefix)
        spark = self.pyspark.spark_session
        if partition_keys is None:
            obj.write.mode("overwrite").parquet(uri)
            rows = spark.read.parquet(uri).count()
            return {UNPARTITIONED: {"key": prefix, "rows": rows}}, {
                "row_count": rows,
                "dagster/row_count": rows,
                "dagster/column_schema": _table_schema(obj),
            }

        column = (context.definition_metadata or {}).get("partition_expr")
        if not column:
            raise dg.DagsterInvariantViolationError(
                f"{context.asset_key.to_user_string()} is partitioned: give it metadata partition_expr"
            )
        # Each row finds its partition through a broadcast range join on the partitions' time windows
        # (a CASE over a hundred weeks compiles to a method too large for codegen and crawls).
        windows = [context.asset_partitions_def.time_window_for_partition_key(key) for key in partition_keys]
        bounds = spark.createDataFrame(
            [(key, w.start.date(), w.end.date()) for key, w in zip(partition_keys, windows, strict=True)],
            f"{PARTITION_COLUMN} string, _start date, _end date",
        )
        tagged = obj.join(
            F.broadcast(bounds), (F.col(column) >= F.col("_start")) & (F.col(column) < F.col("_end"))
        ).drop("_start", "_end")
        # One task per partition value: one file per week, however the rows arrived (an Arrow-made frame
        # has a slice per 10,000 rows, each holding every week: 105 x 157 files for a million rows).
        tagged.repartition(PARTITION_COLUMN).write.mode("overwrite").partitionBy(PARTITION_COLUMN).parquet(uri)
        counts = {}
        if self.warehouse.list_objects(self.bucket, prefix + "/"):  # nothing at all is written for no rows
            # Partition discovery would type the folder names (dates): read them back as the keys they are.
            stored = spark.read.parquet(uri).groupBy(F.col(PARTITION_COLUMN).cast("string").alias("key"))
            counts = {r["key"]: r["count"] for r in stored.count().collect()}
        schema = obj.schema.simpleString()  # partitions of one schema are read in one scan (read_entries)
        written = {
            key: {
                "key": f"{prefix}/{PARTITION_COLUMN}={key}" if counts.get(key) else None,
                "rows": counts.get(key, 0),
                "schema": schema,
            }
            for key in partition_keys
        }
        total = sum(counts.values())
        metadata = {
            "row_count": total,
            "dagster/row_count": total,
            "partitions_written": len(partition_keys),
            "empty_partitions": sum(1 for k in partition_keys if not counts.get(k)),
            "dagster/column_schema": _table_schema(obj),
        }
        return written, metadata

    def read_version(self, context, uris: list[str]) -> DataFrame:
        return self.pyspark.spark_session.read.parquet(*uris)

    def read_entries(self, context, entries: list[dict]) -> DataFrame:
        """Partitions written with different column types (an older release stored whole-unit quantities as
        long, this one as double) cannot be read by one Parquet scan: each schema is read on its own and cast
        to the newest one."""
        groups: dict[str, list[dict]] = {}
        for entry in entries:
            groups.setdefault(entry.get("schema", ""), []).append(entry)
        frames = {schema: VersionedIOManager.read_entries(self, context, group) for schema, group in groups.items()}
        if len(frames) == 1:
            return next(iter(frames.values()))
        newest = max(entries, key=lambda e: e.get("version", 0)).get("schema", "")
        target = frames[newest].schema
        result = frames[newest]
        for schema, frame in frames.items():
            if schema != newest:
                columns = [
                    F.col(f.name).cast(f.dataType).alias(f.name) for f in target.fields if f.name in frame.columns
                ]
                result = result.unionByName(frame.select(*columns), allowMissingColumns=True)
        return result


class SparkModelIOManager(VersionedIOManager):
    """Spark ML models (any class, Python-defined pipeline stages included) through MLWriter/MLReader."""

    # gone, or a part of it (MLReader's TypeError on an empty metadata folder)
    damaged_as: ClassVar[tuple[type[Exception], ...]] = (ValueError, TypeError)

    pyspark: LazyPySparkResource

    def write_version(self, context, obj, prefix, partition_keys):
        if stored := getattr(obj, STORED_KEY, None):  # a model loaded from this store, served again: re-pointed
            if not self.warehouse.list_objects(self.bucket, stored + "/"):
                raise StorageError(f"{self.warehouse.uri(self.bucket, stored)} is gone: cannot serve it again")
            return {UNPARTITIONED: {"key": stored}}, {"model_class": type(obj).__name__, "reuses": stored}
        uri = self.warehouse.uri(self.bucket, prefix)
        obj.write().overwrite().save(uri)
        # Read it back before the pointer moves: a model that does not load is never made current. The model
        # read back is what this process's readers of the version get (LOADED_MODELS).
        reloaded = self._load(uri)
        if type(reloaded) is not type(obj):
            raise StorageError(f"{uri} reloads as {type(reloaded).__name__}, not {type(obj).__name__}")
        return {UNPARTITIONED: {"key": prefix}}, {
            "model_class": type(obj).__name__,
            "size_bytes": self._size(prefix),
        }

    def read_version(self, context, uris: list[str]):
        (uri,) = uris
        model = self._load(uri)
        setattr(model, STORED_KEY, self.warehouse.key_of(self.bucket, uri))  # where it came from, to re-point to
        return model

    def _load(self, uri: str):
        """The model saved at `uri`, loaded once per process while its files stay as they were.

        A version folder is written once and never changed, yet one run reads the feature pipeline and the
        candidates from several steps (comparison, gate, serving, checks, drift): each MLReader load of a
        pipeline is a Spark job per stage (~1-2 s). The files' listing (S3 ETags, or size and mtime) is taken
        on every read, so a folder deleted or damaged since is read again, and fails as it should."""
        files = self.warehouse.list_objects(self.bucket, self.warehouse.key_of(self.bucket, uri) + "/")
        if not files:
            raise ValueError("its folder holds no file")
        spark = self.pyspark.spark_session
        key = (spark.sparkContext.applicationId, uri)
        fingerprint = tuple((f.key, f.version) for f in files)
        cached = LOADED_MODELS.get(key)
        if cached and cached[0] == fingerprint:
            LOADED_MODELS.move_to_end(key)
            return cached[1]
        model = load_any_model(uri, spark)
        LOADED_MODELS[key] = (fingerprint, model)
        while len(LOADED_MODELS) > LOADED_MODELS_KEPT:
            LOADED_MODELS.popitem(last=False)
        return model

    def load_key(self, key: str):
        """The model stored under `key` (a version folder), raising StorageError naming it when it does not load."""
        uri = self.warehouse.uri(self.bucket, key)
        if not self.warehouse.list_objects(self.bucket, key + "/"):
            raise StorageError(f"no model is stored at {uri}")
        try:
            return self.read_version(None, [uri])
        except Exception as error:  # noqa: BLE001 - Spark raises many kinds for a damaged folder
            raise StorageError(f"the model at {uri} does not load: {str(error).splitlines()[0][:300]}") from None

    def repoint(self, asset_key: dg.AssetKey, key: str, run_id: str) -> int:
        """A new version of the asset that is the stored folder `key` (nothing copied); returns its number."""
        version = self.reserve_version(asset_key)
        self.point_to(asset_key, {UNPARTITIONED: {"key": key}}, version, run_id)
        return version


class JsonIOManager(VersionedIOManager):
    """Small Python objects as JSON documents, readable in the MinIO console."""

    damaged_as: ClassVar[tuple[type[Exception], ...]] = (ValueError,)  # gone, or cut (JSONDecodeError)

    def write_version(self, context, obj, prefix, partition_keys):
        key = f"{prefix}.json"
        body = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
        self.warehouse.write_bytes(self.bucket, key, body)
        return {UNPARTITIONED: {"key": key}}, {"size_bytes": len(body)}

    def read_version(self, context, uris: list[str]):
        (uri,) = uris
        body = self.warehouse.read_bytes(self.bucket, self.warehouse.key_of(self.bucket, uri))
        if body is None:
            raise ValueError("the document is gone")
        return json.loads(body)


def _all_materializations(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> list:
    """Every materialization of the asset the instance recorded, oldest first."""
    records, cursor = [], None
    while True:
        found = instance.fetch_materializations(asset_key, limit=1000, cursor=cursor, ascending=True)
        records += found.records
        if not found.has_more:
            return records
        cursor = found.cursor


def _table_schema(df: DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, f.dataType.simpleString()) for f in df.schema.fields])
