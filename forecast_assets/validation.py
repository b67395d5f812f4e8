"""Validation of landed sales files: every row is either a typed good row or a bad row with its reason.

The original design's `validate_new_data` was an empty stub. Here each file is parsed on its own (CSV with
Python's csv module, Parquet with pyarrow) so that every problem can name the file, the row (1-based data
row; CSV files also give the line), the column and what was expected. Whole-file problems (empty, no
header, missing columns, not Parquet) raise `FileProblem`. Runs of Spark never see an unchecked row.
"""

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

COLUMNS = ("produto", "categoria_valor", "quantidade", "valor_total", "data_venda")
TEXT_COLUMNS = ("produto", "categoria_valor")
DELIMITERS = (",", ";", "\t", "|")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")

# The checks a bad row can fail; the asset checks on raw_sales carry the same names.
COLUMNS_AND_TYPES = "columns_and_types"
NO_NULL_KEYS = "no_null_keys"
VALUES_IN_RANGE = "values_in_range"
NO_DUPLICATE_ROWS = "no_duplicate_rows"
DATES_IN_PARTITIONS = "dates_in_partitions"
BAD_ROW_COLUMNS = ["file", "row", "line", "check", "column", "reason", *COLUMNS]


class FileProblem(ValueError):
    """The file as a whole cannot be read as sales; the message names the file and what was expected."""


@dataclass(frozen=True)
class Limits:
    """What a plausible sales row looks like."""

    first_day: date  # the first weekly partition's first day
    last_day: date  # today: later dates are in the future
    max_quantidade: int = 1_000_000
    max_valor_total: float = 1e9
    max_text_length: int = 200


@dataclass
class ParsedFile:
    file: str
    rows: int  # data rows in the file, good and bad
    good: pd.DataFrame  # COLUMNS typed, plus source_file and source_row
    bad: pd.DataFrame  # BAD_ROW_COLUMNS, raw values as text
    notes: list[str] = field(default_factory=list)  # accepted oddities (delimiter, extra columns)


def parse_sales_file(file: str, body: bytes | None, limits: Limits) -> ParsedFile:
    """Parse and validate one landed file (CSV or Parquet, told by its suffix)."""
    if not body:
        raise FileProblem(f"{file}: empty file (0 bytes); expected a header line {','.join(COLUMNS)} and rows")
    shape_errors: list[dict] = []
    utf8 = True  # Arrow's strings are UTF-8 by construction
    if file.lower().endswith(".parquet"):
        raw, lines, notes = _read_parquet(file, body)
    else:
        raw, lines, notes, shape_errors, utf8 = _read_csv(file, body)
        if shape_errors:
            notes.append(f"{len(shape_errors)} row(s) with the wrong number of fields")
    parsed = _validate(file, raw, lines, limits, utf8)
    if shape_errors:
        parsed.bad = pd.concat([_frame(shape_errors), parsed.bad], ignore_index=True).sort_values("row")
        parsed.rows += len(shape_errors)
    parsed.notes.extend(notes)
    return parsed


# -- reading --------------------------------------------------------------------------------------


def _read_csv(file: str, body: bytes) -> tuple[pd.DataFrame, np.ndarray, list[str], list[dict], bool]:
    # Undecodable bytes survive as lone surrogates, so the rows that hold them are named, not the file.
    try:
        text, utf8 = body.decode("utf-8-sig"), True
    except UnicodeDecodeError:
        text, utf8 = body.decode("utf-8-sig", errors="surrogateescape"), False
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        raise FileProblem(f"{file}: line 1 is empty; expected a header line {','.join(COLUMNS)}")
    header, delimiter = _header(first_line)
    notes = [] if delimiter == "," else [f"delimiter {delimiter!r} (not ',')"]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        if sum(_looks_like_data(cell) for cell in header) >= 2:
            raise FileProblem(
                f"{file}: line 1 holds data ({first_line[:80]!r}), not a header; expected the first line to "
                f"name the columns {','.join(COLUMNS)}"
            )
        raise FileProblem(
            f"{file}: line 1 (the header) lacks column(s) {', '.join(missing)}; found "
            f"{', '.join(repr(h) for h in header)}; expected {','.join(COLUMNS)} (delimited by , ; tab or |)"
        )
    if extra := [h for h in header if h not in COLUMNS]:
        notes.append(f"extra column(s) ignored: {', '.join(extra)}")
    positions = [header.index(c) for c in COLUMNS]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    next(reader)
    values: list[list[str]] = []
    lines: list[int] = []
    row_numbers: list[int] = []
    shape_errors: list[dict] = []
    row = 0
    start = reader.line_num + 1
    try:
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                start = reader.line_num + 1
                continue  # a blank line is not a row
            row += 1
            if len(record) != len(header):
                shape_errors.append(
                    _bad(
                        file,
                        row,
                        start,
                        COLUMNS_AND_TYPES,
                        "*",
                        f"the row has {len(record)} field(s); expected {len(header)} like the header",
                        record[:5],
                    )
                )
            else:
                values.append([record[p] for p in positions])
                lines.append(start)
                row_numbers.append(row)
            start = reader.line_num + 1
    except csv.Error as error:  # an unterminated quote runs to the end of the file
        raise FileProblem(f"{file}: line {start}: malformed CSV ({error}); expected quoted fields to close") from None
    raw = pd.DataFrame(values, columns=list(COLUMNS), dtype=object)
    raw.index = pd.Index(row_numbers, dtype="int64")
    return raw, np.asarray(lines, dtype=np.int64), notes, shape_errors, utf8


def _header(first_line: str) -> tuple[list[str], str]:
    """The header cells and the delimiter that makes them name the sales columns best."""
    best = None
    for delimiter in DELIMITERS:
        cells = [c.strip().strip('"').strip().lower() for c in next(csv.reader([first_line], delimiter=delimiter))]
        score = sum(c in COLUMNS for c in cells)
        if best is None or score > best[0]:
            best = (score, cells, delimiter)
    return best[1], best[2]


def _looks_like_data(cell: str) -> bool:
    return bool(ISO_DATE.match(cell)) or bool(re.fullmatch(r"-?\d+(\.\d+)?", cell))


def _read_parquet(file: str, body: bytes) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise FileProblem(
            f"{file}: not a readable Parquet file ({error}); expected Parquet with the sales columns"
        ) from None
    names = [n.strip().lower() for n in table.column_names]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise FileProblem(
            f"{file}: Parquet schema lacks column(s) {', '.join(missing)}; found {', '.join(table.column_names)}; "
            f"expected {','.join(COLUMNS)}"
        )
    notes = (
        [f"extra column(s) ignored: {', '.join(n for n in names if n not in COLUMNS)}"]
        if set(names) - set(COLUMNS)
        else []
    )
    table = table.rename_columns(names).select(list(COLUMNS))
    raw = table.to_pandas(date_as_object=True)  # typed columns stay typed: numbers are checked without parsing
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    return raw, np.zeros(len(raw), dtype=np.int64), notes


# -- validating -----------------------------------------------------------------------------------


def _validate(file: str, raw: pd.DataFrame, lines: np.ndarray, limits: Limits, utf8: bool = True) -> ParsedFile:
    n = len(raw)
    problems: list[pd.DataFrame] = []  # one frame per (check, column): row, reason

    def flag(mask, check: str, column: str, reason) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            if isinstance(reason, _Quoted):  # built for the flagged rows only: files can hold millions of rows
                reason = np.array([f"{_printable(t)!r} {reason.what}" for t in reason.text.to_numpy()[mask]], object)
            reasons = reason if isinstance(reason, str) else reason
            problems.append(
                pd.DataFrame({"pos": np.flatnonzero(mask), "check": check, "column": column, "reason": reasons})
            )

    text = {c: _text(raw[c]) for c in COLUMNS}
    for column in COLUMNS:
        if not utf8:  # undecodable bytes were kept as lone surrogates
            undecodable = text[column].fillna("").str.contains("[\udc80-\udcff]", regex=True)
            flag(undecodable, COLUMNS_AND_TYPES, column, "holds bytes that are not UTF-8; expected UTF-8 text")
        missing = text[column].isna()
        flag(missing, NO_NULL_KEYS, column, "is empty; expected a value in every row")

    for column in TEXT_COLUMNS:
        long = text[column].str.len().fillna(0) > limits.max_text_length
        flag(
            long,
            VALUES_IN_RANGE,
            column,
            f"is longer than {limits.max_text_length} characters; expected a name",
        )

    def number(column: str, expected: str, whole: bool, minimum: float, below: str, maximum: float) -> pd.Series:
        """The column as floats (0 where unusable), flagging text, non-finite, fractional and out-of-range cells."""
        values, cells = _numbers(raw[column], text[column]), text[column]
        flag(cells.notna() & values.isna(), COLUMNS_AND_TYPES, column, _quoted(cells, f"is not a number; {expected}"))
        finite = values.notna() & np.isfinite(values.fillna(0))
        flag(values.notna() & ~finite, VALUES_IN_RANGE, column, _quoted(cells, f"is not finite; {expected}"))
        usable = values.where(finite, 0.0)
        if whole:
            flag(
                finite & (usable != np.round(usable)),
                COLUMNS_AND_TYPES,
                column,
                _quoted(cells, "is not a whole number; expected whole units"),
            )
        flag(finite & (usable < minimum), VALUES_IN_RANGE, column, _quoted(cells, below))
        flag(
            finite & (usable > maximum),
            VALUES_IN_RANGE,
            column,
            _quoted(cells, f"is absurd; expected at most {maximum:,.0f}"),
        )
        return usable

    q = number(
        "quantidade",
        "expected a whole number of units",
        True,
        1,
        "is zero or negative; expected at least 1 unit",
        limits.max_quantidade,
    )
    v = number(
        "valor_total", "expected an amount like 123.45", False, 0, "is negative; expected >= 0", limits.max_valor_total
    )

    stamps = _dates(raw["data_venda"], text["data_venda"])
    days = pd.Series(stamps.dt.date.to_numpy(dtype=object), index=raw.index).where(stamps.notna(), None)
    flag(
        text["data_venda"].notna() & days.isna(),
        COLUMNS_AND_TYPES,
        "data_venda",
        _quoted(text["data_venda"], "is not a date; expected YYYY-MM-DD"),
    )
    flag(
        stamps < pd.Timestamp(limits.first_day),
        DATES_IN_PARTITIONS,
        "data_venda",
        _quoted(
            text["data_venda"],
            f"is before the first weekly partition; expected {limits.first_day} or later (set "
            f"FORECAST_HISTORY_START to an earlier date to keep older sales)",
        ),
    )
    flag(
        stamps > pd.Timestamp(limits.last_day),
        DATES_IN_PARTITIONS,
        "data_venda",
        _quoted(text["data_venda"], f"is in the future; expected {limits.last_day} (today) or earlier"),
    )

    source_rows = raw.index.to_numpy()
    bad_positions = (
        np.unique(np.concatenate([p["pos"].to_numpy() for p in problems])) if problems else np.array([], int)
    )
    good_mask = np.ones(n, dtype=bool)
    good_mask[bad_positions] = False
    good = pd.DataFrame(
        {
            "produto": text["produto"][good_mask].to_numpy(dtype=object),
            "categoria_valor": text["categoria_valor"][good_mask].to_numpy(dtype=object),
            "quantidade": q[good_mask].to_numpy().astype("int64"),
            "valor_total": v[good_mask].to_numpy().astype("float64"),
            "data_venda": days[good_mask].to_numpy(dtype=object),
            "source_file": file,
            "source_row": source_rows[good_mask].astype("int64"),
        }
    )
    if problems:
        found = pd.concat(problems, ignore_index=True).sort_values(["pos"], kind="stable")
        first = found.groupby("pos", sort=True).agg(
            check=("check", "first"),
            column=("column", "first"),
            reason=("reason", lambda r: None),
        )
        found["line_reason"] = found["column"] + " " + found["reason"]
        first["reason"] = found.groupby("pos", sort=True)["line_reason"].agg("; ".join)
        pos = first.index.to_numpy()
        bad = pd.DataFrame(
            {
                "file": file,
                "row": source_rows[pos],
                "line": lines[pos] if len(lines) else 0,
                "check": first["check"].to_numpy(),
                "column": first["column"].to_numpy(),
                "reason": first["reason"].to_numpy(),
                **{c: text[c].iloc[pos].map(_printable).to_numpy(dtype=object) for c in COLUMNS},
            }
        )
    else:
        bad = pd.DataFrame(columns=BAD_ROW_COLUMNS)
    return ParsedFile(file=file, rows=n, good=good, bad=bad)


def _text(column: pd.Series) -> pd.Series:
    """Each cell as stripped text (None when missing or blank), for messages and the quarantine file."""
    missing = column.isna().to_numpy()
    text = column.astype(str)
    if column.dtype == object:
        text = text.str.strip()
    text = text.where(~missing & (text != "").to_numpy(), None)
    return text.astype(object).where(text.notna(), None)


def _dates(column: pd.Series, text: pd.Series) -> pd.Series:
    """Sale dates as timestamps at midnight (NaT where missing or not a date in YYYY-MM-DD form)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        stamps = column.dt.tz_localize(None) if column.dt.tz is not None else column
        return stamps.dt.normalize().astype("datetime64[ns]")
    typed = column.map(lambda v: isinstance(v, date)) if column.dtype == object else None
    if typed is not None and typed.all() and len(column):  # Parquet date32 (or datetime) objects
        return pd.to_datetime(column, errors="coerce").dt.normalize().astype("datetime64[ns]")
    iso = text.fillna("").str.match(ISO_DATE.pattern).to_numpy(dtype=bool)
    day_part = text.where(iso, None).str[:10]
    return pd.to_datetime(day_part, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")


def _printable(value: str | None) -> str | None:
    return None if value is None else value.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")


def _numbers(raw: pd.Series, text: pd.Series) -> pd.Series:
    """Numbers as floats (NaN where the cell is not a number; inf stays inf)."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64")
    return pd.to_numeric(
        text.where(~text.fillna("").str.lower().isin(["nan", "-nan", "+nan"]), "x"), errors="coerce"
    ).astype("float64")


def as_date(value) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):  # datetime is a date too
        return value if type(value) is date else value.date()
    match = ISO_DATE.match(str(value).strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:  # 2024-02-30
        return None


class _Quoted(NamedTuple):
    text: pd.Series
    what: str


def _quoted(text: pd.Series, what: str) -> _Quoted:
    """A reason that quotes each flagged row's value."""
    return _Quoted(text, what)


def _bad(file: str, row: int, line: int, check: str, column: str, reason: str, cells: list[str]) -> dict:
    cells = [*cells, *[None] * (5 - len(cells))]
    return {
        "file": file,
        "row": row,
        "line": line,
        "check": check,
        "column": column,
        "reason": reason,
        **dict(zip(COLUMNS, (_printable(c) for c in cells), strict=True)),
    }


def _frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=BAD_ROW_COLUMNS)


def message(bad_row) -> str:
    """One bad row as a sentence naming the file, row (and line), column and what was expected."""
    where = f"row {bad_row['row']}" + (f" (line {bad_row['line']})" if bad_row["line"] else "")
    return f"{bad_row['file']} {where}: {bad_row['reason']}"


def mark_duplicates(good: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows equal in all five columns to an earlier row (files in key order): (kept, duplicates as bad rows)."""
    if good.empty:
        return good, pd.DataFrame(columns=BAD_ROW_COLUMNS)
    repeated = good.duplicated(subset=list(COLUMNS), keep="first").to_numpy()
    if not repeated.any():
        return good, pd.DataFrame(columns=BAD_ROW_COLUMNS)
    grouped = good.groupby(list(COLUMNS), sort=False, dropna=False)
    first_file = grouped["source_file"].transform("first")
    first_row = grouped["source_row"].transform("first")
    dups = good[repeated]
    bad = pd.DataFrame(
        {
            "file": dups["source_file"].to_numpy(),
            "row": dups["source_row"].to_numpy(),
            "line": 0,
            "check": NO_DUPLICATE_ROWS,
            "column": "*",
            "reason": (
                "the row repeats " + first_file[repeated] + " row " + first_row[repeated].astype(str)
            ).to_numpy(),
            **{c: dups[c].astype(str).to_numpy(dtype=object) for c in COLUMNS},
        }
    )
    return good[~repeated], bad
