"""Numbers and dates as a file's locale writes them: `1.234,56` or `1,234.56`, `23/01/2017` or `01/23/2017`.

A file's style is told from the whole file when it decides alone: a number like `174,40` or `1.234,56` can
only be written with a decimal comma, `174.40` or `1,234.56` only with a decimal point; a date whose first
number is above 12 is day-first, whose second is, month-first. When no cell decides and some cell's meaning
depends on it (`1.000`: one thousand, or one; `04/03/2017`: 4 March, or 3 April), the file is refused naming
the setting (LOCALE, DATE_FORMAT), never guessed. A given locale (CLDR's, through Babel) or date format decides;
cells that do not fit it are bad rows.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from forecast_assets.landing.schema import ISO_DATE

LOCALE_OPTION = "LOCALE (run-data --locale, raw_sales config `locale`, FORECAST_LOCALE), e.g. LOCALE=pt_BR"
DATE_OPTION = "DATE_FORMAT (run-data --date-format, raw_sales config `date_format`, FORECAST_DATE_FORMAT)"
SPACES = " \u00a0\u202f"  # a space, a no-break space and a narrow no-break space group thousands (fr, pt-PT, ru)
CURRENCY = re.compile(r"^(?:R\$|US\$|[$€£¥₹]|[A-Z]{3}\s)\s*|\s*(?:[$€£¥₹]|\s[A-Z]{3})$")
PLAIN = re.compile(r"\d+")
ONE_SEPARATOR = re.compile(r"(\d*)([.,])(\d+)")  # 174,40  174.40  1.000  ,5
GROUPED = re.compile(r"[1-9]\d{0,2}(?P<g>[.,'" + SPACES + r"])\d{3}(?:(?P=g)\d{3})*(?:(?P<d>[.,])\d+)?")
EXPONENT = re.compile(r"\d+(?:\.\d*)?[eE][+-]?\d+|\.\d+[eE][+-]?\d+")
# 23/01/2017, 01-23-2017, 23.01.2017, optionally with a time after it
NUMERIC_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?")
YEAR_FIRST = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?")


class StyleProblem(ValueError):
    """The file's numbers or dates cannot be read without a setting it does not decide (or conflict)."""


@dataclass(frozen=True)
class Locale:
    """What a locale says about writing numbers and dates."""

    name: str
    decimal: str  # "." or ","
    day_first: bool | None  # None: year first (e.g. zh, ja, hu)


def parse_locale(name: str) -> Locale:
    """A CLDR locale (`pt_BR`, `en-US`, `de`), or ValueError naming the option."""
    from babel import Locale as Cldr
    from babel.core import UnknownLocaleError

    try:
        cldr = Cldr.parse(name.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"LOCALE={name!r} is not a known locale; expected e.g. pt_BR, en_US, es_ES, de_DE") from None
    decimal = cldr.number_symbols["latn"]["decimal"]
    pattern = cldr.date_formats["short"].pattern
    order = [p for p in (pattern.find("d"), pattern.find("M"), pattern.find("y")) if p >= 0]
    day_first = None if pattern.find("y") == min(order) else pattern.find("d") < pattern.find("M")
    return Locale(str(cldr), "," if decimal in (",", "٫") else ".", day_first)


def check_date_format(text: str) -> str:
    """A strptime format with a day, a month and a year, or ValueError naming the option."""
    directives = set(re.findall(r"%(.)", text))
    if not {"d", "Y"} <= directives and not {"d", "y"} <= directives or not directives & {"m", "b", "B"}:
        raise ValueError(f"DATE_FORMAT={text!r}: expected a day, a month and a year, e.g. %d/%m/%Y or %m/%d/%Y")
    try:
        datetime.now().strftime(text)
    except ValueError as error:
        raise ValueError(f"DATE_FORMAT={text!r}: {error}") from None
    return text


# -- numbers --------------------------------------------------------------------------------------


def _token(text: str) -> tuple[str, str]:
    """(sign, the number without currency, sign and spaces around it)."""
    text = CURRENCY.sub("", text.strip()).strip()
    sign = ""
    if text[:1] in "+-":
        sign, text = text[:1], text[1:].strip()
    return sign, text


def decimal_vote(text: str) -> str | None:
    """Which decimal separator a number's text can only be written with ('.' or ','), '?' when its meaning
    depends on it (`1.000`, `2,500`), None when it says nothing (`42`, or not a number)."""
    _, token = _token(text)
    if PLAIN.fullmatch(token) or not token:
        return None
    if match := ONE_SEPARATOR.fullmatch(token):
        whole, sep, fraction = match.groups()
        if len(fraction) == 3 and 1 <= len(whole) <= 3 and not whole.startswith("0"):
            return "?"  # a thousands group, or three decimals
        return sep
    if match := GROUPED.fullmatch(token):
        group, decimal = match["g"], match["d"]
        if decimal:
            return decimal if decimal != group else None
        if group in ".,":  # 1.234.567: the dot groups, so the comma is the decimal separator
            return "," if group == "." else "."
        return None
    if EXPONENT.fullmatch(token):
        return "."
    return None


def read_number(text: str, decimal: str | None) -> tuple[float, bool]:
    """(value, has a fractional part as written) of a number's text in a style with this decimal separator
    (None: the file decides nothing, so only numbers that need no separator are read). NaN when the text is
    not a number in that style. The fraction is read from the digits, so `1.0000000000000001` is not whole."""
    sign, token = _token(text)
    if token.casefold() in ("inf", "infinity", "∞"):
        return (float("-inf") if sign == "-" else float("inf")), False
    if PLAIN.fullmatch(token):
        return float(sign + token), False
    if decimal is None:
        return np.nan, False
    if EXPONENT.fullmatch(token) and decimal == ".":
        value = float(sign + token)
        return value, value != round(value)
    match = ONE_SEPARATOR.fullmatch(token)
    if match and match[2] == decimal:
        whole, fraction = match[1] or "0", match[3]
        return float(f"{sign}{whole}.{fraction}"), fraction.strip("0") != ""
    match = GROUPED.fullmatch(token)
    if match and match["g"] != decimal and (match["d"] or decimal) == decimal:
        whole, _, fraction = token.partition(decimal) if match["d"] else (token, "", "")
        digits = re.sub(r"\D", "", whole)
        return float(f"{sign}{digits}.{fraction or '0'}"), fraction.strip("0") != ""
    return np.nan, False


def _decide(votes: dict[str, str], first: str, second: str, conflict, undecided) -> str | None:
    """Which of two readings the file's cells vote for (vote -> an example cell): StyleProblem when cells vote
    for both (`conflict(a, b)` says so), or for none while some cell depends on it (`undecided(cell)`)."""
    one, other, depends = votes.get(first), votes.get(second), votes.get("?")
    if one and other:
        raise StyleProblem(conflict(one, other))
    if one or other:
        return first if one else second
    if depends:
        raise StyleProblem(undecided(depends))
    return None


def decide_decimal(votes: dict[str, str], given: Locale | None) -> str | None:
    """The file's decimal separator: the given locale's, or the one its cells decide (None: no cell needs one)."""
    if given:
        return given.decimal
    return _decide(
        votes,
        ".",
        ",",
        lambda point, comma: (
            f"numbers are written both with a decimal point ({point!r}) and a decimal comma ({comma!r}); expected "
            f"one decimal separator per file, or the locale given: set {LOCALE_OPTION}"
        ),
        lambda cell: (
            f"{cell!r} is {read_number(cell, ',')[0]:g} with a decimal comma (pt_BR, de_DE) and "
            f"{read_number(cell, '.')[0]:g} with a decimal point (en_US), and no number of the file decides which; "
            f"expected the locale given: set {LOCALE_OPTION}"
        ),
    )


# -- dates ----------------------------------------------------------------------------------------


def _time_ok(hour, minute, second) -> bool:
    return hour is None or (int(hour) < 24 and int(minute) < 60 and int(second or 0) < 60)


def date_vote(text: str) -> str | None:
    """'day' or 'month' when a numeric date can only be day-first or month-first, '?' when its reading
    depends on the order (04/03/2017), None when it says nothing (ISO, same day and month, not a date)."""
    match = NUMERIC_DATE.fullmatch(text.strip())
    if not match:
        return None
    first, second = int(match[1]), int(match[3])
    if first > 12 >= second:
        return "day"
    if second > 12 >= first:
        return "month"
    return "?" if first != second and first <= 12 and second <= 12 else None


def read_date(value: str, day_first: bool | None, date_format: str | None) -> date | None:
    """A sale date from text: ISO (`2017-01-23`, a valid time and a zone may follow), the given strptime
    format, or `23/01/2017` / `01/23/2017` in the file's order (None: only where the order does not matter).
    None when it is not a real date in those."""
    text = value.strip()
    if match := ISO_DATE.match(text):
        if not _time_ok(match[4], match[5], match[6]):
            return None
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if date_format:
        for candidate in (text, re.split(r"[ T]", text, maxsplit=1)[0]):
            try:
                return datetime.strptime(candidate, date_format).date()
            except ValueError:
                continue
        return None
    if match := YEAR_FIRST.fullmatch(text):
        return _date(int(match[1]), int(match[2]), int(match[3])) if _time_ok(*match.groups()[3:]) else None
    match = NUMERIC_DATE.fullmatch(text)
    if not match or not _time_ok(match[5], match[6], match[7]):
        return None
    first, second, year = int(match[1]), int(match[3]), int(match[4])
    if day_first is None and first != second:
        return None
    day, month = (first, second) if day_first in (True, None) else (second, first)
    return _date(year, month, day)


def decide_day_first(votes: dict[str, str], given: Locale | None, date_format: str | None) -> bool | None:
    """Whether the file's numeric dates are day-first: the given format or locale's order, or the one its
    cells decide (None: a format is given, or no cell needs an order)."""
    if date_format:
        return None
    if given and given.day_first is not None:
        return given.day_first
    order = _decide(
        votes,
        "day",
        "month",
        lambda day, month: (
            f"dates are written both day-first ({day!r}) and month-first ({month!r}); expected one order per file, "
            f"or the format given: set {DATE_OPTION}, e.g. DATE_FORMAT=%d/%m/%Y"
        ),
        lambda cell: (
            f"a date like {cell!r} is day-first or month-first, and no date of the file has a day above 12 to "
            f"tell which; expected the order given: set {DATE_OPTION}, e.g. DATE_FORMAT=%d/%m/%Y, or {LOCALE_OPTION}"
        ),
    )
    return None if order is None else order == "day"


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:  # 2024-02-30, year 0
        return None
