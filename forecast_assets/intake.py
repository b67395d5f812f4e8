"""The landing run: what one ingestion run of some weeks reads from the landing area (`raw-data`), which rows it
keeps, quarantines and reports. raw_sales (ingestion/) runs it; the new-files sensor uses its limits. Reading one
file is landing/'s business; this module decides for a run of weeks."""

import io
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd

from forecast_assets.landing.area import (
    DEMO_PREFIX,
    QUARANTINE_ROWS,
    WeekIndex,
    parse_landed,
    quarantine_file,
    quarantine_key,
    spreadsheet_safe,
    unusable,
    weeks_of,
)
from forecast_assets.landing.demo import demo_week
from forecast_assets.landing.formats import ReadOptions
from forecast_assets.landing.schema import BAD_ROW_COLUMNS, SALES_SCHEMA, Check, FileProblem
from forecast_assets.landing.validation import Limits, as_date, mark_duplicates, message
from forecast_assets.resources.storage import StorageError, Warehouse
from forecast_assets.settings import LANDING_BUCKET


def write_demo_sales(warehouse: Warehouse, weeks: list, existing: set[str], log) -> int:
    """Write the demo week files that are missing; returns how many were written."""
    written = 0
    for week_start in weeks:
        key = f"{DEMO_PREFIX}sales_{week_start.isoformat()}.parquet"
        if key in existing:
            continue
        buffer = io.BytesIO()
        demo_week(week_start).to_parquet(buffer, index=False)
        warehouse.write_bytes(LANDING_BUCKET, key, buffer.getvalue())
        written += 1
    if written:
        log.info(f"nothing has landed: wrote {written} demo week files to {LANDING_BUCKET}/{DEMO_PREFIX}")
    return written


PARTITIONS_NOT_EMPTY = "partitions_not_empty"


BAD_FRACTION = "bad_fraction_within_threshold"


@dataclass
class LandingReport:
    """What validation found in the landed files, for the weeks [start, end) of one run."""

    partition_keys: list[str]
    start: date
    end: date
    good: pd.DataFrame  # good rows dated in the run's weeks, duplicates dropped
    bad: pd.DataFrame  # bad rows of the files feeding the run (BAD_ROW_COLUMNS + partition)
    duplicates: pd.DataFrame  # repeated rows dated in the run's weeks, dropped
    scope: list[str]  # the files feeding the run: some row dated in its weeks
    rows_in_scope: int
    rejected: dict[str, FileProblem]  # files that can never be ingested -> why
    files: dict  # key -> StoredObject of every file considered
    week_rows: dict[str, int]
    notes: dict[str, list[str]]  # accepted oddities per file (another delimiter, extra columns)

    @property
    def bad_rows_in_scope(self) -> int:
        return len(self.bad)

    @property
    def bad_fraction(self) -> float:
        return self.bad_rows_in_scope / self.rows_in_scope if self.rows_in_scope else 0.0

    def week_key(self, day: date | str | None) -> str | None:
        """The run's partition holding `day`, or None."""
        day = as_date(day)
        return _week_key(day, self.start, self.partition_keys) if day and self.start <= day < self.end else None

    def examples(self, check: str | None, count: int = 5) -> list[str]:
        rows = self.bad if check is None else self.bad[self.bad["check"] == check]
        return [message(row) for _, row in rows.head(count).iterrows()]

    def check_results(self, max_bad_fraction: float, empty_weeks: str = "warn") -> list[dg.AssetCheckResult]:
        over = self.bad_fraction > max_bad_fraction
        severity = dg.AssetCheckSeverity.ERROR if over else dg.AssetCheckSeverity.WARN
        rejected_by_check: dict[Check, list[str]] = {}
        for problem in self.rejected.values():
            rejected_by_check.setdefault(problem.check, []).append(f"quarantined {problem}")
        results = []
        for check in (Check.COLUMNS_AND_TYPES, Check.NO_NULL_KEYS, Check.VALUES_IN_RANGE, Check.DATES_IN_PARTITIONS):
            count = int((self.bad["check"] == check).sum())
            files = rejected_by_check.get(check, [])
            results.append(
                dg.AssetCheckResult(
                    check_name=str(check),
                    passed=not count and not files,
                    severity=severity if count else dg.AssetCheckSeverity.WARN,
                    metadata={
                        "bad_rows": count,
                        "files_quarantined": len(files),
                        "examples": dg.MetadataValue.md("\n".join(f"- {m}" for m in files[:5] + self.examples(check))),
                    },
                )
            )
        results.append(
            dg.AssetCheckResult(
                check_name=str(Check.NO_DUPLICATE_ROWS),
                passed=self.duplicates.empty,
                severity=dg.AssetCheckSeverity.WARN,  # one copy of each row is kept: nothing downstream is wrong
                metadata={
                    "duplicate_rows_dropped": len(self.duplicates),
                    "examples": dg.MetadataValue.md(
                        "\n".join(f"- {message(r)}" for _, r in self.duplicates.head(5).iterrows())
                    ),
                },
            )
        )
        empty = [key for key in self.partition_keys if not self.week_rows.get(key)]
        results.append(
            dg.AssetCheckResult(
                check_name=PARTITIONS_NOT_EMPTY,
                passed=not empty,
                severity=dg.AssetCheckSeverity.ERROR if empty_weeks == "fail" else dg.AssetCheckSeverity.WARN,
                metadata={
                    "empty_weeks": ", ".join(empty[:20]) + (" ..." if len(empty) > 20 else ""),
                    "rows_per_week_min": min((self.week_rows.get(k, 0) for k in self.partition_keys), default=0),
                    "mode": empty_weeks,
                },
                description=empty_weeks_description(empty, empty_weeks) if empty else None,
            )
        )
        results.append(
            dg.AssetCheckResult(
                check_name=BAD_FRACTION,
                passed=not over,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "bad_fraction": round(self.bad_fraction, 6),
                    "max_bad_fraction": max_bad_fraction,
                    "bad_rows": self.bad_rows_in_scope,
                    "rows": self.rows_in_scope,
                    "files": ", ".join(self.scope[:20]),
                },
                description=(
                    f"{self.bad_fraction:.1%} of {self.rows_in_scope} rows are bad (more than {max_bad_fraction:.1%}): "
                    "nothing was stored and nothing downstream runs; the bad rows are in "
                    f"{LANDING_BUCKET}/{QUARANTINE_ROWS}"
                )
                if over
                else None,
            )
        )
        return results


def empty_weeks_description(empty: list[str], mode: str) -> str:
    """Which weeks hold no sales and how to go on, for the partitions_not_empty check."""
    shown = ", ".join(empty[:12]) + (f" and {len(empty) - 12} more" if len(empty) > 12 else "")
    text = (
        f"{len(empty)} week(s) without a good sales row: {shown} (no landed file covers them, or every row of "
        "them was quarantined). If sales exist for them, land their files in raw-data and rerun those partitions. "
    )
    if mode == "fail":
        return text + (
            "Nothing downstream ran (raw_sales config empty_weeks: fail); to train anyway, with these weeks "
            "treated as unobserved, run again with empty_weeks: warn."
        )
    return text + (
        "Training went on with these weeks unobserved: rows whose lags, seasonal anchor or target fall in them "
        "are left out of training and evaluation, never taken as zero sales (raw_sales config empty_weeks: fail "
        "stops the run instead)."
    )


def validate_landing(
    warehouse: Warehouse,
    files: list,
    limits: Limits,
    partition_keys: list[str],
    start: date,
    end: date,
    prefix: str = "",
    options: ReadOptions | None = None,
    uploads_replace_days: bool = False,
) -> LandingReport:
    """Read and validate the landed files that hold rows of the weeks [start, end); the week index tells
    which those are without reading the others (a file version not in it yet is read once and indexed).
    Nothing one file holds can stop the others: a file that cannot be read is rejected with its reason.
    `uploads_replace_days`: a day's rows come from the latest upload folder under `prefix` holding that day."""
    index = WeekIndex(warehouse)
    window = {(start + timedelta(days=7 * i)).isoformat() for i in range((end - start).days // 7)}
    parsed, rejected = [], {}
    for stored in files:
        known = index.weeks(stored)
        if known is not None and not window.intersection(known):
            continue
        try:
            result = parse_landed(warehouse, stored, limits, options)
        except FileProblem as problem:
            rejected[stored.key] = problem
            continue
        if problem := unusable(result, limits):
            rejected[stored.key] = problem
            continue
        weeks = weeks_of(result)
        index.record(stored, weeks)
        if window.intersection(weeks):
            parsed.append(result)
    index.save([f for f in files if f.key not in rejected], prefix)
    if uploads_replace_days:
        parsed = latest_upload_per_day(parsed, prefix)

    good_all = pd.concat([p.good for p in parsed], ignore_index=True) if parsed else _empty_good()
    good_all, duplicates_all = mark_duplicates(good_all)
    bad_frames = [
        p.bad.assign(partition=p.bad["data_venda"].map(lambda d: _partition(d, start, end, partition_keys)))
        for p in parsed
    ]
    bad = (
        pd.concat(bad_frames, ignore_index=True)
        if bad_frames
        else pd.DataFrame(columns=[*BAD_ROW_COLUMNS, "partition"])
    )
    good = good_all[_inside(good_all["data_venda"], start, end)]
    dup_days = duplicates_all["data_venda"].map(as_date)
    duplicates = duplicates_all[dup_days.map(lambda d: d is not None and start <= d < end).to_numpy(dtype=bool)]
    weeks, counts = np.unique(_days_after(good["data_venda"], start) // 7, return_counts=True)
    week_rows = {partition_keys[int(w)]: int(c) for w, c in zip(weeks, counts, strict=True)}
    return LandingReport(
        partition_keys=partition_keys,
        start=start,
        end=end,
        good=good,
        bad=bad,
        duplicates=duplicates,
        scope=[p.file for p in parsed],
        rows_in_scope=sum(p.rows for p in parsed),
        rejected=rejected,
        files={f.key: f for f in files},
        week_rows=week_rows,
        notes={p.file: p.notes for p in parsed if p.notes},
    )


def latest_upload_per_day(parsed: list, prefix: str) -> list:
    """The files' rows with each day's taken from the latest upload (the last folder under `prefix`, in name
    order) holding a good row of that day: a re-exported day replaces the earlier upload's rows of it."""
    upload = {p.file: p.file[len(prefix) :].split("/", 1)[0] for p in parsed}
    latest: dict = {}
    for p in parsed:
        for day in p.good["data_venda"].unique():
            latest[day] = max(latest.get(day, ""), upload[p.file])
    for p in parsed:
        mine = upload[p.file]
        newest = p.good["data_venda"].map(latest).to_numpy() == mine
        replaced_bad = p.bad["data_venda"].map(as_date).map(lambda d, mine=mine: latest.get(d, mine) > mine)
        dropped = int((~newest).sum())
        p.good, p.bad = p.good[newest], p.bad[~replaced_bad.to_numpy(dtype=bool)]
        p.rows -= dropped + int(replaced_bad.sum())
        if dropped:
            p.notes.append(f"{dropped} row(s) of days a later upload holds: replaced by its rows")
    return parsed


def _partition(day, start: date, end: date, partition_keys: list[str]) -> str | None:
    day = as_date(day)  # raw text: read as strictly as validation did
    return _week_key(day, start, partition_keys) if day is not None and start <= day < end else None


def _days_after(days: pd.Series, start: date) -> np.ndarray:
    """Whole days from `start` to each date (a column of datetime.date, no missing values)."""
    if days.empty:
        return np.array([], dtype=np.int64)
    return (pd.to_datetime(days) - pd.Timestamp(start)).dt.days.to_numpy(dtype=np.int64)


def _inside(days: pd.Series, start: date, end: date) -> np.ndarray:
    offsets = _days_after(days, start)
    return (offsets >= 0) & (offsets < (end - start).days)


def _week_key(day: date, start: date, partition_keys: list[str]) -> str:
    return partition_keys[(day - start).days // 7]


def _empty_good() -> pd.DataFrame:
    return pd.DataFrame(columns=[*SALES_SCHEMA.fieldNames(), "source_file", "source_row"])


def write_quarantine(warehouse: Warehouse, report: LandingReport) -> dict[str, str]:
    """Bad rows, with the reason for each, as CSV: one file per week of the run (rewritten by each run of
    that week, removed when the week is clean) and one per file for rows no week can hold. Cells a
    spreadsheet would run as formulas are neutralised."""
    written = {}
    duplicates = report.duplicates.assign(partition=report.duplicates["data_venda"].map(report.week_key))

    def write(target: str, rows: pd.DataFrame) -> str:
        body = spreadsheet_safe(rows.drop(columns="partition")).to_csv(index=False).encode()
        warehouse.write_bytes(LANDING_BUCKET, target, body)
        return warehouse.uri(LANDING_BUCKET, target)

    for key in report.partition_keys:
        target = f"{QUARANTINE_ROWS}week={key}.csv"
        rows = pd.concat(
            [report.bad[report.bad["partition"] == key], duplicates[duplicates["partition"] == key]], ignore_index=True
        )
        if len(rows):
            written[key] = write(target, rows)
        else:
            warehouse.delete(LANDING_BUCKET, target)
    unassigned = report.bad[report.bad["partition"].isna()]
    for file, rows in unassigned.groupby("file"):
        name = quarantine_key(file, "rows").removeprefix("quarantine/files/").removesuffix("@rows")
        written[file] = write(f"{QUARANTINE_ROWS}unassigned/{name}.csv", rows)
    return written


def quarantine_rejected(warehouse: Warehouse, report: LandingReport, log) -> dict[str, str]:
    """Move each file that can never be ingested aside; a file storage will not move is reported and left."""
    moved = {}
    for key, problem in report.rejected.items():
        stored = report.files[key]
        try:
            moved[key] = quarantine_file(warehouse, stored, problem.problem)
        except StorageError as error:
            log.warning(f"{key} cannot be ingested ({problem.problem}) and could not be quarantined: {error}")
            continue
        log.warning(f"quarantined {key} -> {LANDING_BUCKET}/{moved[key]}: {problem.problem}")
    return moved
