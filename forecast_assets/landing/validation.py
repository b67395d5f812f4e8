"""Row validation: every row of a landed file is either a typed good row or a bad row with its reason.

The original design's `validate_new_data` was an empty stub. Here each file is read on its own (formats.py)
and each row checked, so every problem names the file, the row (1-based data row; CSV files also give the
line), the column and what was expected. Names are normalised the same way for CSV and Parquet (see
`clean_name`). Runs of Spark never see an unchecked row.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from forecast_assets.landing import locales
from forecast_assets.landing.columns import UNIT_PRICE
from forecast_assets.landing.formats import RawCells, ReadOptions, read_cells, undecodable
from forecast_assets.landing.schema import BAD_ROW_COLUMNS, COLUMNS, TEXT_COLUMNS, Check, FileProblem

# Zero-width, bidirectional-control and byte-order-mark characters: invisible, yet they make names differ.
INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Cells that spreadsheets and databases write for "no value".
NULL_MARKERS = frozenset({"null", "(null)", "n/a", "#n/a", "nan", "none", "-", "--", "(blank)"})
# A row that sums others is not a sale (an export's last line, a pivot's subtotal).
TOTAL_MARKERS = frozenset({"total", "totals", "totais", "total geral", "subtotal", "sub-total", "grand total"})
QUOTE_LIMIT = 60  # characters of a cell quoted in a reason


@dataclass(frozen=True)
class Limits:
    """What a plausible sales row looks like."""

    first_day: date  # the first weekly partition's first day
    last_day: date  # today: later dates are in the future
    max_quantidade: float = 1_000_000
    max_valor_total: float = 1e9
    max_text_length: int = 200
    whole_units: bool = False  # True: a business that sells units only; fractional quantities are bad rows


@dataclass
class ParsedFile:
    file: str
    rows: int  # data rows in the file, good and bad
    good: pd.DataFrame  # COLUMNS typed, plus source_file and source_row
    bad: pd.DataFrame  # BAD_ROW_COLUMNS, raw values as text
    notes: list[str] = field(default_factory=list)  # accepted oddities (delimiter, extra columns, encoding)


def parse_sales_file(file: str, body: bytes | None, limits: Limits, options: ReadOptions | None = None) -> ParsedFile:
    """Read and validate one landed file (format told by its bytes) as `options` say. Raises FileProblem for
    a file that cannot be sales at all, whatever went wrong with it (a reader's unforeseen exception included),
    so that one file can never stop the others."""
    try:
        return _parse(file, body, limits, options or ReadOptions())
    except (FileProblem, MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # noqa: BLE001 - contained: this file is refused, the others go on
        raise FileProblem(
            file,
            f"could not be read ({type(error).__name__}: {str(error)[:200]}); expected a CSV or Parquet sales "
            "export (this is worth a bug report with the file)",
        ) from error


def _parse(file: str, body: bytes | None, limits: Limits, options: ReadOptions) -> ParsedFile:
    raw = read_cells(file, body, options)
    parsed = _validate(file, raw, limits, options)
    if raw.shape_errors:
        parsed.bad = pd.concat([_frame(raw.shape_errors), parsed.bad], ignore_index=True).sort_values(
            "row", kind="stable", ignore_index=True
        )
        parsed.rows += len(raw.shape_errors)
    parsed.notes.extend(raw.notes)
    return parsed


# -- names ----------------------------------------------------------------------------------------


def clean_name(value: str | None) -> tuple[str | None, str | None]:
    """A product or category name as one spelling: (name or None when empty, problem or None).

    Unicode NFC (a composed and a decomposed `Café` are one name), zero-width, bidi and BOM characters removed,
    surrounding whitespace stripped and inner runs of whitespace made one space; `NULL`, `N/A`, `nan`, `None`,
    `-` and the like are empty; control characters and total lines (`TOTAL`, `Subtotal`) are problems."""
    if value is None:
        return None, None
    text = INVISIBLE.sub("", unicodedata.normalize("NFC", value)).strip()
    if CONTROL.search(text):
        return text, "holds a control character (a line break, tab or the like); expected printable text"
    text = re.sub(r"\s+", " ", text)  # a doubled or no-break space typed by a person
    if not text or text.casefold() in NULL_MARKERS:
        return None, None
    if text.casefold() in TOTAL_MARKERS:
        return text, "is a total line, not a product; expected sales rows only (totals are computed, not landed)"
    return text, None


# -- validating -----------------------------------------------------------------------------------


class _Quoted(NamedTuple):
    """A reason that quotes each flagged row's value."""

    text: pd.Series
    what: str


def _validate(file: str, raw: RawCells, limits: Limits, options: ReadOptions) -> ParsedFile:
    cells = raw.cells
    n = len(cells)
    label = raw.mapping.label
    problems: list[pd.DataFrame] = []  # one frame per (check, column): position, reason

    def flag(mask, check: Check, column: str, reason: str | _Quoted) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if isinstance(reason, _Quoted):  # built for the flagged rows only: files can hold millions of rows
            reason = np.array([f"{_quote(t)} {reason.what}" for t in reason.text.to_numpy()[mask]], dtype=object)
        problems.append(pd.DataFrame({"pos": np.flatnonzero(mask), "check": check, "column": column, "reason": reason}))

    derived_revenue = UNIT_PRICE in cells.columns
    numeric = ["quantidade", UNIT_PRICE if derived_revenue else "valor_total"]
    text = {c: _text(cells[c]) for c in cells.columns}
    try:
        locale = options.parsed_locale
        decimal = locales.decide_decimal(_votes(cells, numeric, locales.decimal_vote), locale)
        day_first = locales.decide_day_first(
            _votes(cells, ["data_venda"], locales.date_vote), locale, options.date_format
        )
    except locales.StyleProblem as problem:
        raise FileProblem(file, str(problem)) from None
    if not raw.utf8:  # undecodable bytes were kept as lone surrogates
        for column in COLUMNS:
            flag(
                _by_value(text[column], undecodable),
                Check.COLUMNS_AND_TYPES,
                column,
                f"{label(column)} holds bytes that are not UTF-8; expected UTF-8 text (save the export as CSV UTF-8)",
            )
    names = {}
    for column in TEXT_COLUMNS:
        cleaned = _by_value(text[column], clean_name)
        names[column] = cleaned.map(lambda pair: pair[0])
        problem = cleaned.map(lambda pair: pair[1])
        for reason in problem.dropna().unique():
            flag(problem == reason, Check.VALUES_IN_RANGE, column, _Quoted(text[column], reason))
        flag(
            names[column].map(len, na_action="ignore").fillna(0) > limits.max_text_length,
            Check.VALUES_IN_RANGE,
            column,
            f"is longer than {limits.max_text_length} characters; expected a name",
        )
    for column in COLUMNS:
        source = UNIT_PRICE if column == "valor_total" and derived_revenue else column
        present = names[column] if column in names else text[source]
        flag(present.isna(), Check.NO_NULL_KEYS, column, "is empty; expected a value in every row")

    style = f" (decimal {'comma' if decimal == ',' else 'point'}, as {locale.name if locale else 'this file'} writes)"

    def number(column: str, source: str, expected: str, minimum: str, maximum: float) -> tuple[pd.Series, pd.Series]:
        """The column as floats (0 where unusable) and whether each was written with a fraction, flagging
        text, non-finite and out-of-range cells."""
        read = _by_value(cells[source], lambda v: _number(v, decimal))
        values = read.map(lambda pair: pair[0]).astype("float64")
        fractional = read.map(lambda pair: pair[1]).astype(bool)
        shown = text[source]
        if decimal == "," or locale:
            expected = expected.replace(".", ",") + style if decimal == "," else expected + style
        flag(
            shown.notna() & values.isna(),
            Check.COLUMNS_AND_TYPES,
            column,
            _Quoted(shown, f"is not a number; {expected}"),
        )
        finite = values.notna() & np.isfinite(values.fillna(0))
        flag(values.notna() & ~finite, Check.VALUES_IN_RANGE, column, _Quoted(shown, f"is not finite; {expected}"))
        usable = values.where(finite, 0.0)
        below = usable <= 0 if column == "quantidade" else usable < 0
        flag(finite & below, Check.VALUES_IN_RANGE, column, _Quoted(shown, minimum))
        flag(
            finite & (usable > maximum),
            Check.VALUES_IN_RANGE,
            column,
            _Quoted(shown, f"is absurd; expected at most {maximum:,.0f}"),
        )
        return usable, fractional

    q, q_fraction = number(
        "quantidade",
        "quantidade",
        "expected a quantity like 3 or 0.75",
        "is zero or negative; expected a quantity sold above 0 (returns and cancellations are not sales)",
        limits.max_quantidade,
    )
    if limits.whole_units:
        flag(
            q_fraction | (q != np.round(q)),
            Check.COLUMNS_AND_TYPES,
            "quantidade",
            _Quoted(text["quantidade"], "is not a whole number; expected whole units (raw_sales config whole_units)"),
        )
    v, _ = number(
        "valor_total",
        UNIT_PRICE if derived_revenue else "valor_total",
        "expected an amount like 123.45",
        "is negative; expected >= 0",
        limits.max_valor_total,
    )
    if derived_revenue:
        v = v * q

    days = _by_value(cells["data_venda"], lambda value: _date(value, day_first, options.date_format))
    ordinals = _by_value(days, lambda d: None if d is None else d.toordinal()).astype("float64")
    shown = text["data_venda"]
    unread = shown.notna() & days.isna()
    if options.date_format and unread.any() and unread.sum() == shown.notna().sum():
        raise FileProblem(
            file,
            f"DATE_FORMAT {options.date_format!r} matches none of its {int(unread.sum())} date cell(s) (e.g. "
            f"{_quote(shown[unread].iloc[0])}); expected the format its dates are written in",
        )
    flag(
        unread,
        Check.COLUMNS_AND_TYPES,
        "data_venda",
        _Quoted(shown, f"is not a date; {_date_expected(day_first, options)}"),
    )
    flag(
        ordinals < limits.first_day.toordinal(),
        Check.DATES_IN_PARTITIONS,
        "data_venda",
        _Quoted(
            shown,
            f"is before the first weekly partition; expected {limits.first_day} or later (set "
            f"FORECAST_HISTORY_START to an earlier date to keep older sales)",
        ),
    )
    flag(
        ordinals > limits.last_day.toordinal(),
        Check.DATES_IN_PARTITIONS,
        "data_venda",
        _Quoted(shown, f"is in the future; expected {limits.last_day} (today) or earlier"),
    )

    source_rows = cells.index.to_numpy()
    bad_positions = np.unique(np.concatenate([p["pos"].to_numpy() for p in problems])) if problems else []
    good_mask = np.ones(n, dtype=bool)
    good_mask[bad_positions] = False
    good = pd.DataFrame(
        {
            "produto": names["produto"][good_mask].to_numpy(dtype=object),
            "categoria_valor": names["categoria_valor"][good_mask].to_numpy(dtype=object),
            "quantidade": q[good_mask].to_numpy().astype("float64"),
            "valor_total": v[good_mask].to_numpy().astype("float64"),
            "data_venda": days[good_mask].to_numpy(dtype=object),
            "source_file": file,
            "source_row": source_rows[good_mask].astype("int64"),
        }
    )
    if not problems:
        return ParsedFile(file=file, rows=n, good=good, bad=pd.DataFrame(columns=BAD_ROW_COLUMNS))
    found = pd.concat(problems, ignore_index=True).sort_values(["pos"], kind="stable")
    found["said"] = found["column"].map(label) + " " + found["reason"]
    grouped = found.groupby("pos", sort=True)
    first = grouped[["check", "column"]].first()
    pos = first.index.to_numpy()
    raw_values = {c: text[c] for c in COLUMNS} | ({"valor_total": text[UNIT_PRICE]} if derived_revenue else {})
    bad = pd.DataFrame(
        {
            "file": file,
            "row": source_rows[pos],
            "line": raw.lines[pos] if len(raw.lines) else 0,
            "sheet": raw.sheet,
            "check": first["check"].to_numpy(),
            "column": first["column"].to_numpy(),
            "reason": grouped["said"].agg("; ".join).to_numpy(),
            **{c: raw_values[c].iloc[pos].map(printable).to_numpy(dtype=object) for c in COLUMNS},
        }
    )
    return ParsedFile(file=file, rows=n, good=good, bad=bad)


def _by_value(column: pd.Series, function) -> pd.Series:
    """function applied once per distinct value (files repeat names and dates over millions of rows)."""
    if column.empty:
        return pd.Series([], index=column.index, dtype=object)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(uniques):
        results[i] = function(value)
    results[-1] = function(None)  # -1 (missing) indexes the last slot
    return pd.Series(results[codes], index=column.index, dtype=object)


def _text(column: pd.Series) -> pd.Series:
    """Each cell as text (None when missing or blank), for messages and the quarantine file."""
    missing = column.isna().to_numpy()
    if column.dtype == object:
        text = column.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")
    else:
        text = column.astype(str)
    text = text.where(~missing & (text.str.strip() != "").to_numpy(), None)
    return text.astype(object).where(text.notna(), None)


def as_date(value) -> date | None:
    """A sale date from a typed value or ISO text (`YYYY-MM-DD`; a valid time, and a zone, after it are ignored:
    the date as written is the day of the sale). None when it is not a real calendar date."""
    return _date(value, None, None)


def _date(value, day_first: bool | None, date_format: str | None) -> date | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):  # datetime is a date too
        return value if type(value) is date else value.date()
    if not isinstance(value, str):
        return None
    return locales.read_date(value, day_first, date_format)


def _date_expected(day_first: bool | None, options: ReadOptions) -> str:
    if options.date_format:
        return f"expected {options.date_format} (DATE_FORMAT) or YYYY-MM-DD"
    if day_first is not None:
        return f"expected {'23/01/2017 (day first)' if day_first else '01/23/2017 (month first)'} or YYYY-MM-DD"
    return "expected YYYY-MM-DD (or set DATE_FORMAT, e.g. %d/%m/%Y)"


def _number(value, decimal: str | None) -> tuple[float, bool]:
    """(value, written with a fraction) of a typed or text cell; NaN when it is not a number."""
    if value is None or isinstance(value, bool):
        return np.nan, False
    if isinstance(value, int | float | np.integer | np.floating):
        value = float(value)
        return value, bool(np.isfinite(value) and value != round(value))
    if not isinstance(value, str) or value.strip().casefold() in ("nan", "-nan", "+nan"):
        return np.nan, False
    return locales.read_number(value, decimal)


def _votes(cells: pd.DataFrame, columns: list[str], vote) -> dict[str, str]:
    """What the text cells of `columns` say about the file's style: vote -> the first cell that says it."""
    said: dict[str, str] = {}
    for column in columns:
        for value in pd.unique(cells[column].to_numpy(dtype=object)):
            if isinstance(value, str) and (verdict := vote(value)) is not None:
                said.setdefault(verdict, value)
    return said


def printable(value: str | None) -> str | None:
    """Text with undecodable bytes shown as U+FFFD, as messages and quarantine files show it."""
    return None if value is None else value.encode("utf-8", errors="surrogateescape").decode("utf-8", "replace")


def _quote(value: str | None) -> str:
    shown = printable(value) or ""
    return repr(shown if len(shown) <= QUOTE_LIMIT else shown[:QUOTE_LIMIT] + f"... ({len(shown)} characters)")


def _frame(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=BAD_ROW_COLUMNS)
    for column in COLUMNS:
        frame[column] = frame[column].map(printable, na_action="ignore")
    return frame


def message(bad_row) -> str:
    """One bad row as a sentence naming the file, row (and line), column and what was expected."""
    line = f"sheet {bad_row['sheet']!r} row {bad_row['line']}" if bad_row.get("sheet") else f"line {bad_row['line']}"
    where = f"row {bad_row['row']}" + (f" ({line})" if bad_row["line"] else "")
    return f"{bad_row['file']} {where}: {bad_row['reason']}"


def mark_duplicates(good: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows that another file repeats (a file dropped twice, exports that overlap): (kept, duplicates as
    bad rows). Equal rows within one file are separate sales (order lines: two customers buying one unit at
    one price on one day); across files, each set of equal rows is kept from the file holding the most of them
    (the first such, files in key order), so an overlapping export that saw one more sale keeps it."""
    if good.empty:
        return good, pd.DataFrame(columns=BAD_ROW_COLUMNS)
    key = list(COLUMNS)
    ordered = good.assign(_at=np.arange(len(good)))
    per_file = ordered.groupby([*key, "source_file"], sort=False, dropna=False).agg(
        _n=("_at", "size"), _first=("_at", "min")
    )
    winners = (
        per_file.reset_index()
        .sort_values(["_n", "_first"], ascending=[False, True], kind="stable")
        .drop_duplicates(key, keep="first")
    )
    kept_from = ordered[key].merge(
        winners[[*key, "source_file", "_first"]].rename(columns={"source_file": "_winner"}), on=key, how="left"
    )
    repeated = kept_from["_winner"].to_numpy() != good["source_file"].to_numpy()
    if not repeated.any():
        return good, pd.DataFrame(columns=BAD_ROW_COLUMNS)
    first_file = kept_from["_winner"][repeated]
    first_row = good["source_row"].to_numpy()[kept_from["_first"].to_numpy()[repeated]]
    first_row = pd.Series(first_row, index=first_file.index)
    dups = good[repeated]
    bad = pd.DataFrame(
        {
            "file": dups["source_file"].to_numpy(),
            "row": dups["source_row"].to_numpy(),
            "line": 0,
            "check": Check.NO_DUPLICATE_ROWS,
            "column": "*",
            "reason": ("the row repeats " + first_file + " row " + first_row.astype(str)).to_numpy(),
            **{c: dups[c].astype(str).to_numpy(dtype=object) for c in COLUMNS},
        }
    )
    return good[~repeated], bad
