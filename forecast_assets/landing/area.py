"""The landing area (`raw-data`): what is in it, where files that can never be ingested go, and an index of
which weeks each landed file version holds, so a weekly run reads only the files of its weeks.

Layout of the bucket:
- anything else         landed sales files (the user's, `uploads/` from the CLI, `demo/` from the generator)
- quarantine/files/     files that can never be ingested, one copy per landed version: `<key>@<version>`,
                        with `<key>@<version>.reason.txt` beside each
- quarantine/rows/      bad rows with their reasons, as CSV (see intake.py)
- _index/weeks.json     file version -> the weeks its rows are dated in (a cache: rebuilt when missing)
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from forecast_assets.landing.formats import ReadOptions
from forecast_assets.landing.schema import Check, FileProblem
from forecast_assets.landing.validation import Limits, ParsedFile, as_date, message, parse_sales_file
from forecast_assets.resources.storage import StorageError, StoredObject, Warehouse, safe_key
from forecast_assets.settings import LANDING_BUCKET

DEMO_PREFIX = "demo/"
QUARANTINE_PREFIX = "quarantine/"
QUARANTINE_FILES = f"{QUARANTINE_PREFIX}files/"
QUARANTINE_ROWS = f"{QUARANTINE_PREFIX}rows/"
INDEX_KEY = "_index/weeks.json"
INTERNAL_PREFIXES = (QUARANTINE_PREFIX, "_index/")
# Read (their format told by their bytes): sales exports, and the formats people land by mistake, which are
# quarantined with what to do instead. Any other suffix is listed as unsupported and left where it is.
READ_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".parquet", ".pq", ".parq", ".xlsx", ".xlsm", ".xls", ".ods", ".zip")
SAFE_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=/-]*")
UNSAFE_IN_NAME = re.compile(r"[^\w.=+@()-]")
NOT_A_SALES_FORMAT = "not read (suffix not a sales format: expected .csv, .csv.gz, .txt, .parquet or .xlsx)"
MAX_NAME_BYTES = 120  # of one path segment of a quarantine key; filesystems allow 255


@dataclass
class Landing:
    """What the landing area holds under a prefix."""

    sales: list[StoredObject]  # files read as sales in key order (the demo's only while no other file landed)
    unsupported: list[StoredObject] = field(default_factory=list)  # other suffixes: reported, left in place
    unaddressable: dict[str, str] = field(default_factory=dict)  # keys storage cannot address -> why
    user_files: int = 0  # files anywhere in the bucket that are not the demo's or ours (quarantined ones count)

    def report(self) -> list[str]:
        """One line per file that is not read, for the run's log and metadata and the sensor's log."""
        lines = [f"{o.key}: {NOT_A_SALES_FORMAT}" for o in self.unsupported]
        return lines + [f"{key!r}: skipped ({why})" for key, why in self.unaddressable.items()]


def list_landing(warehouse: Warehouse, prefix: str = "") -> Landing:
    """Every file of the landing area under `prefix`, sorted into sales files, unsupported ones and keys
    that storage cannot address."""
    prefix = safe_prefix(prefix)
    landing = Landing(sales=[])
    for stored in warehouse.list_objects(LANDING_BUCKET):
        if stored.key.startswith(INTERNAL_PREFIXES):
            quarantined = stored.key.startswith(QUARANTINE_PREFIX) and not stored.key.startswith(QUARANTINE_ROWS)
            landing.user_files += quarantined and not stored.key.endswith(".reason.txt")
            continue
        if not stored.key.startswith(DEMO_PREFIX):
            landing.user_files += 1
        if not stored.key.startswith(prefix):
            continue
        try:
            safe_key(stored.key)
        except StorageError as error:
            landing.unaddressable[stored.key] = str(error)
            continue
        if stored.key.lower().endswith(READ_SUFFIXES):
            landing.sales.append(stored)
        else:
            landing.unsupported.append(stored)
    if landing.user_files:  # demo rows never mix with the user's: once real data has landed, the demo is not read
        landing.sales = [o for o in landing.sales if not o.key.startswith(DEMO_PREFIX)]
    return landing


def safe_prefix(prefix: str) -> str:
    if prefix and (not SAFE_PREFIX.fullmatch(prefix) or ".." in prefix.split("/")):
        raise ValueError(f"landing_prefix {prefix!r}: expected a relative folder like 'exports/2025/'")
    return prefix


def parse_landed(
    warehouse: Warehouse, stored: StoredObject, limits: Limits, options: ReadOptions | None = None
) -> ParsedFile:
    """One landed file, read and validated (FileProblem when it cannot be sales; a storage failure is not
    the file's and propagates)."""
    return parse_sales_file(stored.key, warehouse.read_bytes(LANDING_BUCKET, stored.key), limits, options)


def unusable(parsed: ParsedFile, limits: Limits) -> FileProblem | None:
    """The problem of a file no row of which can ever be ingested: no good row, and no bad row dated inside
    the partitions (such a row counts against its week's bad fraction, so the file stays). None otherwise."""
    if not parsed.good.empty or not parsed.rows:  # a header-only export holds no sales, and no mistake
        return None
    days = [as_date(d) for d in parsed.bad["data_venda"].unique()]
    if any(d is not None and limits.first_day <= d <= limits.last_day for d in days):
        return None
    examples = "; ".join(message(b) for _, b in parsed.bad.head(3).iterrows())
    checks = set(parsed.bad["check"])
    check = checks.pop() if len(checks) == 1 else Check.COLUMNS_AND_TYPES
    return FileProblem(parsed.file, f"none of its {parsed.rows} row(s) is usable ({examples or 'no rows'})", check)


def quarantine_key(key: str, version: str) -> str:
    """Where a landed file version is kept when it can never be ingested: its own name (made safe for any
    store) and version, so re-landing a file never overwrites the copy kept before."""
    parts = [_safe_name(part) for part in key.split("/") if part]
    parts[-1] = f"{parts[-1]}@{_safe_name(version)[:40]}"
    return QUARANTINE_FILES + "/".join(parts)


def _safe_name(part: str) -> str:
    name = UNSAFE_IN_NAME.sub("_", part).lstrip(".") or "_"
    if len(name.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha256(part.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        name = name.encode()[: MAX_NAME_BYTES - 14].decode("utf-8", "ignore") + f"~{digest}"
    return name


def quarantine_file(warehouse: Warehouse, stored: StoredObject, reason: str) -> str:
    """Move a landed file that can never be ingested into quarantine/files/, its reason beside it. Returns
    the quarantined key; raises StorageError when storage refuses (the file then stays where it is)."""
    target = quarantine_key(stored.key, stored.version)
    warehouse.write_bytes(LANDING_BUCKET, f"{target}.reason.txt", f"{stored.key}\n{reason}\n".encode())
    warehouse.move(LANDING_BUCKET, stored.key, target)
    return target


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells a spreadsheet would run as a formula (starting with = + - @, tab or CR) prefixed with a quote,
    OWASP's rule for CSV files people open; the original bytes stay in the quarantined file."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
            )
    return out


# -- the index of weeks ---------------------------------------------------------------------------


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weeks_of(parsed: ParsedFile) -> list[str]:
    """The Mondays of the weeks a file's rows are dated in, good rows and bad rows with a real date."""
    days = list(parsed.good["data_venda"].unique()) + [as_date(d) for d in parsed.bad["data_venda"].unique()]
    return sorted({monday(d).isoformat() for d in days if d is not None})


class WeekIndex:
    """file key -> {version, weeks}: which weeks a landed file version holds. A cache kept in the bucket:
    an entry counts only for the exact version it was made from, and a lost update costs one re-read."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        try:
            body = warehouse.read_bytes(LANDING_BUCKET, INDEX_KEY)
            self.entries: dict[str, dict] = json.loads(body)["files"] if body else {}
        except (ValueError, KeyError, TypeError):  # damaged: rebuilt from the files
            self.entries = {}
        self.changed = False

    def weeks(self, stored: StoredObject) -> list[str] | None:
        entry = self.entries.get(stored.key)
        return entry["weeks"] if entry and entry.get("version") == stored.version else None

    def record(self, stored: StoredObject, weeks: list[str]) -> None:
        self.entries[stored.key] = {"version": stored.version, "weeks": weeks}
        self.changed = True

    def save(self, present: list[StoredObject], prefix: str = "") -> None:
        """Write the index back, without the files under `prefix` that are no longer present."""
        keys = {o.key for o in present}
        kept = {k: v for k, v in self.entries.items() if k in keys or not k.startswith(prefix)}
        if self.changed or len(kept) != len(self.entries):
            body = json.dumps({"format": 1, "files": kept}, sort_keys=True).encode()
            self.warehouse.write_bytes(LANDING_BUCKET, INDEX_KEY, body)
