"""Stored state that cannot be read: a manifest, a stored version's Parquet files, a model's folder.

One error names the asset, the version and the path and says how to get back, with a command: re-ingest the
week from the landed files, roll the production model back, materialize a derived asset again, or restore a
manifest from the version folders on disk. It is a `dg.Failure(allow_retries=False)`: damage is not a network
hiccup, so the step's retry policy does not retry it (a storage that is down still is retried)."""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable

import dagster as dg

# Spark's words for a stored file it found but could not read, or a stored path that is gone. A server that
# does not answer says other things (connection refused, timeouts) and stays retryable.
UNREADABLE = re.compile(
    r"FAILED_READ_FILE|PATH_NOT_FOUND|ChecksumException|is not a Parquet file|FileNotFoundException"
    r"|File does not exist|EOFException|CORRUPT"
)
# A storage that does not answer: Spark wraps its failed reads in the same FAILED_READ_FILE; those stay retryable.
UNREACHABLE = re.compile(
    r"Connection refused|ConnectException|Unable to execute HTTP request|UnknownHost|SocketTimeout|timed out"
    r"|SdkClientException|Connection reset|NoHttpResponse|Service Unavailable|SlowDown",
    re.IGNORECASE,
)
# A path inside a warehouse bucket: <bucket>/<asset>/v<version>[/dagster_partition=<week>]
STORED = re.compile(
    r"(?P<path>(?:file:|s3a://)[^\s,;]*?/(?P<asset>[a-z_]+)/v(?P<version>\d{4})"
    r"(?:/dagster_partition=(?P<week>\d{4}-\d\d-\d\d))?)"
)
JOB = "dagster job execute -m forecast_assets -j"


def remedy(asset: str, week: str | None = None) -> str:
    """What to do, as a command, when a stored version of `asset` cannot be read."""
    if asset == "raw_sales":
        weeks = week or "<first week>"
        tags = json.dumps(
            {"dagster/asset_partition_range_start": weeks, "dagster/asset_partition_range_end": week or "<last week>"}
        )
        return (
            f"re-ingest {'the week ' + week if week else 'its weeks'} from the files in the landing area "
            f"(raw-data): {JOB} ml_pipeline --tags '{tags}' (or the UI: raw_sales, Materialize that partition)"
        )
    if asset == "production_model":
        return (
            f"serve the model before it: {JOB} rollback_production_model (or a version of your choice: "
            f"-c with ops.rollback_production_model_op.config.to_version), or train again: {JOB} ml_pipeline"
        )
    return f"materialize it again from its inputs: {JOB} ml_pipeline (or the UI: {asset}, Materialize)"


def manifest_remedy(asset: str) -> str:
    return (
        f"restore it from the version folders and this instance's materializations: "
        f"python -m forecast_assets.cli restore-manifest {asset} (the damaged file is kept beside it, .replaced-<time>)"
    )


def damaged(asset: str, what: str, path: str, error: str, remedy_text: str, version: int | None = None):
    """The one error for stored state that cannot be read (never retried)."""
    version_text = f" version {version}" if version else ""
    return dg.Failure(
        description=f"{asset}{version_text}: {what} {path} cannot be read ({error}). Nothing was changed. "
        f"To recover, {remedy_text}",
        metadata={"asset": asset, "path": path, **({"version": version} if version else {}), "remedy": remedy_text},
        allow_retries=False,
    )


def unreadable_stored_file(error: BaseException) -> dg.Failure | None:
    """The damage error for a Spark error that says a stored version's file could not be read; None for any
    other error (a storage that is down, a bug): those keep their retries and their stack trace."""
    if isinstance(error, dg.Failure):  # already said what it means
        return None
    text = str(error)
    if not UNREADABLE.search(text) or UNREACHABLE.search(_whole(error)) or not (found := STORED.search(text)):
        return None
    asset, week, version = found["asset"], found["week"], int(found["version"])
    first_line = next((line.strip() for line in text.splitlines() if UNREADABLE.search(line)), text)[:300]
    return damaged(asset, "the stored files at", found["path"], first_line, remedy(asset, week), version)


def _whole(error: BaseException) -> str:
    """The error's text with its causes': PySpark's converted cause chain and the JVM's stack trace."""
    texts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts += [str(error), str(getattr(error, "_stackTrace", "") or "")]
        error = getattr(error, "_cause", None) or error.__cause__ or error.__context__
    return "\n".join(texts)


def naming_damage(function: Callable) -> Callable:
    """`function` (an asset's body, a generator or not) with Spark's errors about unreadable stored files
    turned into the one damage error."""
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except Exception as error:
                if (failure := unreadable_stored_file(error)) is not None:
                    raise failure from None
                raise

        return generator

    @functools.wraps(function)
    def plain(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if (failure := unreadable_stored_file(error)) is not None:
                raise failure from None
            raise

    return plain
