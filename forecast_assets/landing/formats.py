"""What a landed file is, told by its bytes (not its name), and its cells as exporters wrote them.

Supported: CSV text (UTF-8, UTF-16/32 with a byte-order mark, delimiters , ; tab |, Excel's `sep=` line,
CR, LF or CRLF line ends), the same gzip-compressed, and Parquet. Anything else is named ("this is an Excel
workbook: export it as CSV") in a `FileProblem`. Cells come out raw (text, or Parquet's typed values); the
rules on what a cell may hold live in validation.py.
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

from forecast_assets.landing.schema import COLUMNS, ISO_DATE, Check, FileProblem

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


@dataclass
class RawCells:
    """The five sales columns of one file as found (text cells, or Parquet's typed values)."""

    cells: pd.DataFrame  # COLUMNS; index: 1-based data row
    lines: np.ndarray  # the line each row starts on (CSV) or zeros (Parquet)
    shape_errors: list[dict] = field(default_factory=list)  # rows that could not be split into the columns
    notes: list[str] = field(default_factory=list)  # accepted oddities, for the run's log
    utf8: bool = True  # False: undecodable bytes are kept as lone surrogates in the cells


def read_cells(file: str, body: bytes | None) -> RawCells:
    """Tell the format from the bytes and read the file's cells; FileProblem when it cannot be sales."""
    if not body:
        raise FileProblem(file, f"empty file (0 bytes); expected a header line {','.join(COLUMNS)} and rows")
    notes = []
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(file, body)
        notes.append("gzip-compressed")
        if not body:
            raise FileProblem(file, "the gzip member is empty; expected a compressed CSV or Parquet file")
    if body[:4] == b"PAR1":
        raw = read_parquet(file, body)
    else:
        try:
            _refuse_other_formats(file, body)
            text, encoding, utf8 = _decode(body)
            if encoding:
                notes.append(f"encoding {encoding}")
            raw = read_csv(file, text)
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


def _refuse_other_formats(file: str, body: bytes) -> None:
    """Name the formats people land by mistake, with what to do instead."""
    head = body[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            names = []
        if any(n.startswith("xl/") for n in names):
            raise FileProblem(
                file, "this is an Excel workbook (.xlsx); expected CSV or Parquet: export it as CSV UTF-8"
            )
        if "content.xml" in names:
            raise FileProblem(
                file, "this is an OpenDocument spreadsheet (.ods); expected CSV or Parquet: export as CSV"
            )
        shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
        raise FileProblem(file, f"this is a zip archive ({shown}); expected CSV or Parquet: land the files inside it")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileProblem(file, "this is an old Excel workbook (.xls); expected CSV or Parquet: export it as CSV UTF-8")
    if head.startswith(b"%PDF"):
        raise FileProblem(file, "this is a PDF document; expected a CSV or Parquet export of the sales")
    if body[:1024].lstrip()[:1] == b"<":
        raise FileProblem(file, "this is an HTML or XML document; expected CSV or Parquet: export the sheet as CSV")
    if not any(body.startswith(bom) for bom, _, _ in BOMS) and b"\x00" in body[:4096]:
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


def read_csv(file: str, text: str) -> RawCells:
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
    header, delimiter = _header(line, delimiter)
    header_line = number
    if number > 1:
        notes.append(f"header on line {number}")
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r} (not ',')")
    while header and not header[-1]:  # trailing delimiters
        header.pop()
    folded = [h.casefold() for h in header]
    if twins := sorted({h for h in header if folded.count(h.casefold()) > 1}):
        raise FileProblem(
            file,
            f"line {header_line}: the header names column(s) {', '.join(twins)} more than once (letter case aside); "
            "expected each column once",
        )
    missing = [c for c in COLUMNS if c not in folded]
    if missing:
        shown = line.strip()[:80]
        if sum(_looks_like_data(cell) for cell in header) >= 2:
            raise FileProblem(
                file,
                f"line {header_line} holds data ({shown!r}), not a header; expected the first line to name the "
                f"columns {','.join(COLUMNS)}",
            )
        raise FileProblem(
            file,
            f"line {header_line} (the header) lacks column(s) {', '.join(missing)}; found "
            f"{', '.join(repr(h) for h in header[:12])}; expected {','.join(COLUMNS)} (delimited by , ; tab or |)",
        )
    if extra := [h for h in header if h.casefold() not in COLUMNS]:
        notes.append(f"extra column(s) ignored: {', '.join(extra)}")
    positions = [folded.index(c) for c in COLUMNS]
    width = len(header)

    values, lines, rows, shape_errors = [], [], [], []
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
        row += 1
        values.append([record[p] for p in positions])
        lines.append(start)
        rows.append(row)
    cells = pd.DataFrame(values, columns=list(COLUMNS), dtype=object)
    cells.index = pd.Index(rows, dtype="int64")
    if shape_errors:
        notes.append(f"{len(shape_errors)} row(s) that could not be split into the header's columns")
    return RawCells(cells, np.asarray(lines, dtype=np.int64), shape_errors, notes)


def _header(line: str, delimiter: str | None) -> tuple[list[str], str]:
    """The header cells and the delimiter that makes them name the sales columns best."""
    best = None
    for candidate in [delimiter] if delimiter else DELIMITERS:
        record = next(csv.reader([line.rstrip("\r\n")], delimiter=candidate), [])
        cells = [c.strip().strip('"').strip().lstrip("\ufeff") for c in record]
        score = sum(c.casefold() in COLUMNS for c in cells)
        if best is None or score > best[0]:
            best = (score, cells, candidate)
    return best[1], best[2]


def _looks_like_data(cell: str) -> bool:
    return bool(ISO_DATE.match(cell)) or cell.replace(".", "", 1).lstrip("-").isdigit()


def _shape_error(file: str, row: int, line: int, reason: str, record: list[str]) -> dict:
    cells = [*record[:5], *[None] * (5 - len(record[:5]))]
    return {
        "file": file,
        "row": row,
        "line": line,
        "check": Check.COLUMNS_AND_TYPES,
        "column": "*",
        "reason": reason,
        **dict(zip(COLUMNS, cells, strict=True)),
    }


# -- Parquet --------------------------------------------------------------------------------------


def read_parquet(file: str, body: bytes) -> RawCells:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        raise FileProblem(
            file, f"not a readable Parquet file ({str(error)[:200]}); expected Parquet with the sales columns"
        ) from None
    folded = [n.strip().casefold() for n in table.column_names]
    if twins := sorted({n for n, f in zip(table.column_names, folded, strict=True) if folded.count(f) > 1}):
        raise FileProblem(
            file, f"Parquet columns {', '.join(twins)} differ only in letter case; expected each column once"
        )
    missing = [c for c in COLUMNS if c not in folded]
    if missing:
        raise FileProblem(
            file,
            f"Parquet schema lacks column(s) {', '.join(missing)}; found {', '.join(table.column_names[:12])}; "
            f"expected {','.join(COLUMNS)}",
        )
    notes = []
    if extra := [n for n, f in zip(table.column_names, folded, strict=True) if f not in COLUMNS]:
        notes.append(f"extra column(s) ignored: {', '.join(extra)}")
    table = table.rename_columns(folded).select(list(COLUMNS))
    columns, utf8 = {}, True
    for name in COLUMNS:
        column, ok = _plain(file, name, table[name])
        columns[name], utf8 = column, utf8 and ok
    cells = pd.DataFrame(columns)
    cells.index = pd.RangeIndex(1, len(cells) + 1)
    return RawCells(cells, np.zeros(len(cells), dtype=np.int64), [], notes, utf8)


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
    if name in ("produto", "categoria_valor") and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
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
