"""What a landed file is, told by its bytes (not its name), and its cells as exporters wrote them.

Supported: CSV text (UTF-8, UTF-16/32 with a byte-order mark, delimiters , ; tab |, Excel's `sep=` line,
CR, LF or CRLF line ends), the same gzip-compressed, Parquet, and spreadsheets (Excel .xlsx/.xlsm/.xls and
OpenDocument .ods, read by python-calamine: cells typed as the sheet types them). Anything else is named
("this is a PDF document") in a `FileProblem`. Columns are found by their roles (columns.py); cells come out
raw (text, or typed values); the rules on what a cell may hold, and the locale it is written in, live in
validation.py and locales.py.
"""

import codecs
import csv
import io
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from forecast_assets.landing import columns as roles
from forecast_assets.landing.locales import Locale, check_date_format, parse_locale
from forecast_assets.landing.schema import COLUMNS, ISO_DATE, TEXT_COLUMNS, Check, FileProblem

DELIMITERS = (",", ";", "\t", "|")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
MAX_UNCOMPRESSED = 2 << 30  # a gzip member larger than 2 GiB is refused, not inflated into memory
MAX_FIELD = 64 << 20  # csv's default field limit is 128 KiB: one long cell must not lose the file
NULL_MARKERS = {"null", "n/a", "#n/a", "na", "nan", "none", "-", "--", "(null)", "nil"}
BOMS = (  # longest first: UTF-32 LE starts like UTF-16 LE
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", None),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


@dataclass(frozen=True)
class ReadOptions:
    """How to read files that do not say it themselves: which column plays which role, the locale of their
    numbers and dates, a date format, the sheet of a workbook. Empty: found from each file, or refused."""

    columns: dict[str, str] = field(default_factory=dict)  # role -> the file's column name
    locale: str | None = None  # a CLDR locale: pt_BR, en_US, de_DE ...
    date_format: str | None = None  # strptime, e.g. %d/%m/%Y
    sheet: str | None = None  # a workbook's sheet

    def __post_init__(self):  # ValueError naming the option: checked once, before any file is read
        roles.check_mapping(self.columns)
        if self.locale:
            parse_locale(self.locale)
        if self.date_format:
            check_date_format(self.date_format)

    @classmethod
    def of(cls, columns: str | dict | None = None, locale=None, date_format=None, sheet=None) -> "ReadOptions":
        """From a command line's or a config's values (`columns` as `produto=sku,...` or a mapping)."""
        mapping = roles.parse_mapping(columns) if isinstance(columns, str) else dict(columns or {})
        return cls(mapping, locale or None, date_format or None, sheet or None)

    @property
    def parsed_locale(self) -> Locale | None:
        return parse_locale(self.locale) if self.locale else None

    def as_config(self) -> dict:
        """raw_sales config of these options (empty ones left out)."""
        values = {"columns": self.columns, "locale": self.locale, "date_format": self.date_format, "sheet": self.sheet}
        return {k: v for k, v in values.items() if v}


@dataclass
class RawCells:
    """The sales roles of one file as found (text cells, or typed values): COLUMNS, and the unit price when the
    revenue is derived from it (valor_total then empty); a missing category or quantity filled in."""

    cells: pd.DataFrame  # index: 1-based data row
    lines: np.ndarray  # the line (CSV) or sheet row (workbook) each row starts on, or zeros (Parquet)
    mapping: roles.Mapping
    shape_errors: list[dict] = field(default_factory=list)  # rows that could not be split into the columns
    notes: list[str] = field(default_factory=list)  # accepted oddities, for the run's log
    utf8: bool = True  # False: undecodable bytes are kept as lone surrogates in the cells
    sheet: str | None = None  # the workbook sheet read


def read_cells(file: str, body: bytes | None, options: ReadOptions | None = None) -> RawCells:
    """Tell the format from the bytes and read the file's cells; FileProblem when it cannot be sales."""
    options = options or ReadOptions()
    if not body:
        raise FileProblem(file, f"empty file (0 bytes); expected a header line {','.join(COLUMNS)} and rows")
    notes = []
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(file, body)
        notes.append("gzip-compressed")
        if not body:
            raise FileProblem(file, "the gzip member is empty; expected a compressed CSV or Parquet file")
    if body[:4] == b"PAR1":
        raw = read_parquet(file, body, options)
    elif workbook := _workbook_kind(body):
        raw = read_workbook(file, body, workbook, options)
    else:
        try:
            _refuse_other_formats(file, body)
            text, encoding, utf8 = _decode(body)
            if encoding:
                notes.append(f"encoding {encoding}")
            raw = read_csv(file, text, options)
        except FileProblem as problem:
            if file.lower().endswith(PARQUET_SUFFIXES):  # say what its name promised, then what it holds
                raise FileProblem(
                    file, f"not a readable Parquet file (no PAR1 magic at its start), nor CSV: {problem.problem}"
                ) from None
            raise
        raw.utf8 = utf8
    raw.notes[:0] = notes
    return raw


def _gunzip(file: str, body: bytes) -> bytes:
    inflate = zlib.decompressobj(wbits=31)
    try:
        data = inflate.decompress(body, MAX_UNCOMPRESSED)
    except zlib.error as error:
        raise FileProblem(file, f"a damaged gzip file ({error}); expected a complete .gz of a CSV file") from None
    if inflate.unconsumed_tail:
        raise FileProblem(file, f"uncompresses to more than {MAX_UNCOMPRESSED >> 30} GiB; expected a smaller export")
    if not inflate.eof:
        raise FileProblem(file, "a truncated gzip file (it ends mid-stream); expected the whole .gz file")
    return data


def _workbook_kind(body: bytes) -> str | None:
    """The kind of spreadsheet the bytes are (xlsx, ods, xls), or None."""
    head = body[:8]
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if any(n.startswith("xl/") for n in names):
            return "Excel (.xlsx)"
        if "content.xml" in names:
            return "OpenDocument (.ods)"
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE2 container: an old .xls, or an encrypted .xlsx
        return "encrypted" if "EncryptionInfo".encode("utf-16-le") in body else "Excel 97-2003 (.xls)"
    return None


def _refuse_other_formats(file: str, body: bytes) -> None:
    """Name the formats people land by mistake, with what to do instead."""
    head = body[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            names = []
        if not names:
            raise FileProblem(
                file,
                "a damaged zip container (a workbook or an archive cut short or corrupted); expected a complete "
                ".xlsx workbook, CSV or Parquet file",
            )
        shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        raise FileProblem(
            file,
            f"this is a zip archive ({shown}); expected CSV, Parquet or a workbook: land the files inside it",
        )
    if head.startswith(b"%PDF"):
        raise FileProblem(file, "this is a PDF document; expected a CSV or Parquet export of the sales")
    if body[:1024].lstrip()[:1] == b"<":
        raise FileProblem(file, "this is an HTML or XML document; expected CSV or Parquet: export the sheet as CSV")
    sample = body[:4096]
    first_line = sample.split(b"\n", 1)[0]
    # A NUL in one row is that row's problem; NULs in the header, or many, mean a binary file.
    if not any(body.startswith(bom) for bom, _, _ in BOMS) and (
        b"\x00" in first_line or sample.count(b"\x00") > max(4, len(sample) // 100)
    ):
        raise FileProblem(
            file,
            "this is a binary file (it holds NUL bytes; UTF-16 text needs its byte-order mark); expected CSV text "
            "or Parquet",
        )


def _decode(body: bytes) -> tuple[str, str | None, bool]:
    """Text, the encoding worth a note (None for UTF-8), and whether every byte decoded."""
    encoding, name = "utf-8", None
    for bom, bom_encoding, bom_name in BOMS:
        if body.startswith(bom):
            body, encoding, name = body[len(bom) :], bom_encoding, bom_name
            break
    try:
        return body.decode(encoding), name, True
    except UnicodeDecodeError:  # undecodable bytes survive as lone surrogates: the rows holding them are named
        return body.decode(encoding, errors="surrogateescape"), name, False


def undecodable(text: str | None) -> bool:
    """Whether text holds bytes kept by surrogateescape (they were not valid in the file's encoding)."""
    return text is not None and any("\udc80" <= ch <= "\udcff" for ch in text)


# -- CSV ------------------------------------------------------------------------------------------


class _Lines:
    """The physical lines of a text, fed to csv.reader one at a time, that can be rewound to a line."""

    def __init__(self, text: str):
        self.lines = io.StringIO(text, newline="").readlines()  # \n, \r\n and a lone \r all end a line
        self.next = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.next >= len(self.lines):
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1]


def read_csv(file: str, text: str, options: ReadOptions | None = None) -> RawCells:
    options = options or ReadOptions()
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
    source = _Lines(text)
    notes, delimiter = [], None
    number = 0  # 1-based line of the header: after blank lines and Excel's sep= line
    while True:
        if number == len(source.lines):
            raise FileProblem(file, f"holds no header line; expected a header line {','.join(COLUMNS)} and rows")
        line, number = source.lines[number], number + 1
        stripped = line.strip().strip('"')
        if stripped.lower().startswith("sep=") and len(stripped) == 5:
            delimiter = stripped[4]
            notes.append(f"Excel's sep={delimiter} line skipped")
        elif stripped.strip(",;\t|"):
            break
    source.next = number
    header, delimiter = _header(line, delimiter, options)
    header_line = number
    if number > 1:
        notes.append(f"header on line {number}")
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r} (not ',')")
    while header and not header[-1]:  # trailing delimiters
        header.pop()
    mapping = _mapping(file, header, options, f"line {header_line}", line.strip()[:80])
    notes += mapping.notes
    if extra := _extra(header, mapping):
        notes.append(f"extra column(s) ignored: {', '.join(extra)}")
    positions = list(mapping.positions.values())
    width = len(header)

    values, lines, rows, shape_errors, kept_verbatim = [], [], [], [], []
    row = 0

    def bad_shape(line: int, reason: str, record: list[str]) -> None:
        nonlocal row
        row += 1
        shape_errors.append(_shape_error(file, row, line, reason, record))

    reader = csv.reader(source, delimiter=delimiter, strict=False)
    while True:
        start = source.next + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a NUL byte: this line is bad, the next ones are read
            bad_shape(start, f"cannot be split into fields ({error}); expected a delimited row", [])
            source.next, reader = start, csv.reader(source, delimiter=delimiter, strict=False)
            continue
        end = source.next
        while len(record) > width and not record[-1].strip():  # trailing delimiters
            record.pop()
        if not any(cell.strip() for cell in record):
            continue  # a blank line, or a line of only delimiters, is not a row
        if end > start and len(record) != width:
            # A quote opened on this line swallowed the lines after it: report it and read them again.
            bad_shape(
                start,
                f"opens a quote that does not close on its line: it swallowed line(s) {start + 1}..{end} "
                f"({end - start} line(s), read again as rows); expected each quoted field to close",
                next(csv.reader([source.lines[start - 1]], delimiter=delimiter, strict=False), []),
            )
            source.next, reader = start, csv.reader(source, delimiter=delimiter, strict=False)
            continue
        if len(record) != width:
            bad_shape(start, f"the row has {len(record)} field(s); expected {width} like the header", record)
            continue
        if verbatim := _stray_quotes(source.lines[start - 1], delimiter, width):
            record = verbatim  # `"12" TV`: csv would drop the quotes; the cells are kept as written
            kept_verbatim.append(start)
        row += 1
        values.append([record[p] for p in positions])
        lines.append(start)
        rows.append(row)
    cells = roles.complete(
        {role: [v[i] for v in values] for i, role in enumerate(mapping.positions)}, mapping, len(values)
    )
    cells.index = pd.Index(rows, dtype="int64")
    if shape_errors:
        notes.append(f"{len(shape_errors)} row(s) that could not be split into the header's columns")
    if kept_verbatim:
        shown = ", ".join(map(str, kept_verbatim[:5])) + (" ..." if len(kept_verbatim) > 5 else "")
        notes.append(
            f'{len(kept_verbatim)} row(s) with a quote inside a field (like "12" TV) kept as written, quotes '
            f"included: line(s) {shown}"
        )
    return RawCells(cells, np.asarray(lines, dtype=np.int64), mapping, shape_errors, notes)


def _stray_quotes(line: str, delimiter: str, width: int) -> list[str] | None:
    """The cells of a line as written when a field opens with a quote that closes before the field ends
    (`"12" TV`, which csv reads as `12 TV`); None when its quotes are CSV's own, or a plain split does not fit."""
    text = line.rstrip("\r\n")
    if '"' not in text:
        return None
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':  # a quoted field: find its closing quote ("" inside is an escaped quote)
            j = i + 1
            while j < n and (text[j] != '"' or text[j + 1 : j + 2] == '"'):
                j += 2 if text[j] == '"' else 1
            if j >= n:
                return None  # unclosed on this line: a multi-line field, or another rule's bad row
            if j + 1 < n and text[j + 1] != delimiter:
                plain = text.split(delimiter)
                return plain if len(plain) == width else None
            i = j + 1
        following = text.find(delimiter, i)
        if following < 0:
            return None
        i = following + 1
    return None


def _header(line: str, delimiter: str | None, options: ReadOptions) -> tuple[list[str], str]:
    """The header cells and the delimiter that makes them name the sales roles best."""
    best = None
    for candidate in [delimiter] if delimiter else DELIMITERS:
        record = next(csv.reader([line.rstrip("\r\n")], delimiter=candidate), [])
        cells = [c.strip().strip('"').strip().lstrip("\ufeff") for c in record]
        score = roles.score(cells, options.columns)
        if best is None or score > best[0]:
            best = (score, cells, candidate)
    return best[1], best[2]


def _mapping(file: str, header: list[str], options: ReadOptions, where: str, shown: str) -> roles.Mapping:
    """The roles of a header's columns, or FileProblem saying what is wrong with the header."""
    folded = [h.casefold() for h in header]
    if twins := sorted({h for h in header if h and folded.count(h.casefold()) > 1}):
        raise FileProblem(
            file,
            f"{where}: the header names column(s) {', '.join(twins)} more than once (letter case aside); "
            "expected each column once",
        )
    try:
        return roles.resolve(header, options.columns)
    except roles.ColumnProblem as problem:
        if sum(_looks_like_data(str(cell)) for cell in header) >= 2:
            raise FileProblem(
                file,
                f"{where} holds data ({shown!r}), not a header; expected the first row to name the columns "
                f"({','.join(COLUMNS)}, or product, quantity, revenue, date ...)",
            ) from None
        raise FileProblem(file, f"{where} (the header): {problem}") from None


def _extra(header: list[str], mapping: roles.Mapping) -> list[str]:
    used = set(mapping.positions.values())
    return [h for i, h in enumerate(header) if i not in used and h]


def _looks_like_data(cell: str) -> bool:
    return bool(ISO_DATE.match(cell)) or cell.replace(".", "", 1).lstrip("-").isdigit()


def _shape_error(file: str, row: int, line: int, reason: str, record: list[str]) -> dict:
    cells = [*record[:5], *[None] * (5 - len(record[:5]))]
    return {
        "file": file,
        "row": row,
        "line": line,
        "sheet": None,
        "check": Check.COLUMNS_AND_TYPES,
        "column": "*",
        "reason": reason,
        **dict(zip(COLUMNS, cells, strict=True)),
    }


# -- Parquet --------------------------------------------------------------------------------------


def read_parquet(file: str, body: bytes, options: ReadOptions | None = None) -> RawCells:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise FileProblem(
            file, f"not a readable Parquet file ({str(error)[:200]}); expected Parquet with the sales columns"
        ) from None
    header = [n.strip() for n in table.column_names]
    mapping = _mapping(file, header, options or ReadOptions(), "the Parquet schema", ", ".join(header[:5]))
    notes = list(mapping.notes)
    if extra := _extra(header, mapping):
        notes.append(f"extra column(s) ignored: {', '.join(extra)}")
    columns, utf8 = {}, True
    for role, position in mapping.positions.items():
        column, ok = _plain(file, role, table.column(position))
        columns[role], utf8 = column.to_numpy(dtype=object) if column.dtype == object else column, utf8 and ok
    cells = roles.complete(columns, mapping, table.num_rows)
    cells.index = pd.RangeIndex(1, len(cells) + 1)
    return RawCells(cells, np.zeros(len(cells), dtype=np.int64), mapping, [], notes, utf8)


def _plain(file: str, name: str, column: pa.ChunkedArray) -> tuple[pd.Series, bool]:
    """A Parquet column as pandas values validation can read: text as str, numbers as float, days as date."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_nested(kind) or pa.types.is_map(kind):
        raise FileProblem(file, f"Parquet column {name} is {kind}; expected a plain (not nested) column")
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        raw = column.to_pylist()
        decoded = [None if v is None else v.decode("utf-8", errors="surrogateescape") for v in raw]
        return pd.Series(decoded, dtype=object), not any(undecodable(v) for v in decoded)
    if name in TEXT_COLUMNS and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise FileProblem(
            file, f"Parquet column {name} is {kind}; expected text (string): store names and codes as text"
        )
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:  # the sale's day where it happened: the wall-clock date in its own zone
            column = pc.local_timestamp(column)
        column = pc.cast(column, pa.date32(), safe=False)
    if pa.types.is_date(column.type):
        return pd.Series(column.to_pandas(date_as_object=True), dtype=object), True
    if pa.types.is_decimal(kind):
        return pd.Series(pc.cast(column, pa.float64(), safe=False).to_pandas()), True
    return pd.Series(column.to_pandas()), True


# -- workbooks ------------------------------------------------------------------------------------

SHEET_OPTION = "SHEET (run-data --sheet, raw_sales config `sheet`, FORECAST_SHEET)"


def read_workbook(file: str, body: bytes, kind: str, options: ReadOptions | None = None) -> RawCells:
    """A spreadsheet's sales sheet: the one named, or the only sheet whose header names the sales roles. Cells
    come typed as the sheet types them (numbers, dates); lines are the sheet's row numbers."""
    from python_calamine import CalamineWorkbook, PasswordError

    options = options or ReadOptions()
    if kind == "encrypted":
        raise FileProblem(
            file,
            "a password-protected workbook; expected one without a password: save a copy without it, or "
            "export the sheet as CSV",
        )
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(body))
    except PasswordError:
        raise FileProblem(file, "a password-protected workbook; expected one without a password") from None
    except Exception as error:  # noqa: BLE001 - calamine's errors for damaged files are of several types
        raise FileProblem(
            file, f"a damaged {kind} workbook ({str(error)[:160]}); expected a workbook Excel or LibreOffice opens"
        ) from None
    names = list(book.sheet_names)
    if options.sheet and options.sheet not in names:
        raise FileProblem(file, f"has no sheet {options.sheet!r} ({SHEET_OPTION}); expected one of its sheets: {names}")
    found, problems = {}, {}
    for name in [options.sheet] if options.sheet else names:
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as error:  # noqa: BLE001 - one unreadable sheet is that sheet's problem
            problems[name] = f"cannot be read ({str(error)[:120]})"
            continue
        at = next((i for i, r in enumerate(rows) if any(_blank(c) is not None for c in r)), None)
        if at is None:
            problems[name] = "is empty"
            continue
        header = ["" if c is None else str(c).strip() for c in rows[at]]
        try:
            found[name] = (rows, at, header, _mapping(file, header, options, f"sheet {name!r} row {at + 1}", ""))
        except FileProblem as problem:
            problems[name] = problem.problem
    if not found:
        said = "; ".join(p if p.startswith("sheet") else f"sheet {n!r} {p}" for n, p in problems.items())
        raise FileProblem(file, f"no sheet holds sales ({said}); expected a sheet with the sales columns")
    if len(found) > 1:
        raise FileProblem(
            file,
            f"sheets {', '.join(map(repr, found))} all hold sales columns; expected one: name the one to read "
            f"with {SHEET_OPTION}, e.g. SHEET={next(iter(found))}",
        )
    name, (rows, at, header, mapping) = next(iter(found.items()))
    notes = [f"sheet {name!r}" + (f" (of {len(names)})" if len(names) > 1 else ""), *mapping.notes]
    if extra := _extra(header, mapping):
        notes.append(f"extra column(s) ignored: {', '.join(extra)}")
    data = [(number + 1, r) for number, r in enumerate(rows[at + 1 :], start=at + 1)]
    data = [(line, r) for line, r in data if any(_blank(c) is not None for c in r)]
    columns = {
        role: [_cell(r[p], role in TEXT_COLUMNS) if p < len(r) else None for _, r in data]
        for role, p in mapping.positions.items()
    }
    cells = roles.complete(columns, mapping, len(data))
    cells.index = pd.RangeIndex(1, len(cells) + 1)
    return RawCells(cells, np.array([line for line, _ in data], dtype=np.int64), mapping, [], notes, sheet=name)


def _blank(value):
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _cell(value, text: bool):
    """A sheet's cell: None when blank; in a name column a number is its text (SKU 12345, not 12345.0)."""
    value = _blank(value)
    if text and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if text and value is not None and not isinstance(value, str):
        return str(value)
    return value
