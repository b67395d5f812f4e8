"""landing/locales.py: numbers and dates as a file's locale writes them, decided by the file or given."""

import math
from datetime import date

import pytest

from forecast_assets.landing.locales import (
    StyleProblem,
    check_date_format,
    date_vote,
    decide_day_first,
    decide_decimal,
    decimal_vote,
    parse_locale,
    read_date,
    read_number,
)


@pytest.mark.parametrize(
    ("text", "vote", "comma", "point"),
    [
        ("174,40", ",", 174.4, None),
        ("174.40", ".", None, 174.4),
        ("1.234,56", ",", 1234.56, None),
        ("1,234.56", ".", None, 1234.56),
        ("1 234,56", ",", 1234.56, None),
        ("1\u202f234,56", ",", 1234.56, None),  # fr: a narrow no-break space groups thousands
        ("1.234.567", ",", 1234567.0, None),
        ("R$ 1.234,56", ",", 1234.56, None),
        ("$1,299.00", ".", None, 1299.0),
        ("1.000", "?", 1000.0, 1.0),  # the case that must never be guessed
        ("2,500", "?", 2.5, 2500.0),
        ("0.500", ".", None, 0.5),  # a thousands group never starts with a lone 0
        ("42", None, 42.0, 42.0),
        ("-3", None, -3.0, -3.0),
    ],
)
def test_each_number_votes_for_the_separator_it_can_only_be_written_with(text, vote, comma, point):
    assert decimal_vote(text) == vote
    for decimal, expected in ((",", comma), (".", point)):
        value = read_number(text, decimal)[0]
        assert (math.isnan(value) and expected is None) or value == expected


def test_a_fraction_is_read_from_the_digits_as_written():
    assert read_number("1.0000000000000001", ".") == (1.0, True)  # a float says 1.0; the text says otherwise
    assert read_number("3.000", ".") == (3.0, False)
    assert read_number("12", None) == (12.0, False) and math.isnan(read_number("1.5", None)[0])


def test_the_file_decides_or_is_refused_naming_the_setting():
    assert decide_decimal({",": "174,40", "?": "1.000"}, None) == ","
    assert decide_decimal({}, None) is None
    with pytest.raises(StyleProblem, match="'1.000' is 1000 with a decimal comma .* set LOCALE"):
        decide_decimal({"?": "1.000"}, None)
    with pytest.raises(StyleProblem, match="both with a decimal point"):
        decide_decimal({".": "1.5", ",": "1,5"}, None)
    assert decide_decimal({".": "1.5", ",": "1,5"}, parse_locale("pt_BR")) == ","


def test_dates_in_the_files_order():
    assert (date_vote("23/01/2017"), date_vote("01/23/2017"), date_vote("04/03/2017"), date_vote("03/03/2017")) == (
        "day",
        "month",
        "?",
        None,
    )
    assert read_date("04/03/2017", True, None) == date(2017, 3, 4)
    assert read_date("04/03/2017", False, None) == date(2017, 4, 3)
    assert read_date("04/03/2017", None, None) is None  # never guessed
    assert read_date("03.03.2017 10:30", None, None) == date(2017, 3, 3)  # the order does not matter here
    assert read_date("23-01-2017", True, None) == date(2017, 1, 23)
    assert read_date("2017/01/23", None, None) == date(2017, 1, 23)
    assert read_date("20170123", None, "%Y%m%d") == date(2017, 1, 23)
    assert read_date("2025-03-04T25:61:99", True, None) is None  # an impossible time is not a date
    assert read_date("2025-03-04T23:59:59Z", None, None) == date(2025, 3, 4)
    assert read_date("31/02/2017", True, None) is None
    with pytest.raises(StyleProblem, match="no date of the file has a day above 12"):
        decide_day_first({"?": "04/03/2017"}, None, None)
    with pytest.raises(StyleProblem, match="both day-first"):
        decide_day_first({"day": "23/01/2017", "month": "01/23/2017"}, None, None)
    assert decide_day_first({"?": "04/03/2017"}, parse_locale("en_US"), None) is False


def test_locales_and_formats_are_cldrs_or_refused():
    assert (parse_locale("pt-BR").decimal, parse_locale("pt_BR").day_first) == (",", True)
    assert (parse_locale("en_US").decimal, parse_locale("en_US").day_first) == (".", False)
    assert parse_locale("de_CH").decimal == "."
    with pytest.raises(ValueError, match="LOCALE='xx_YY' is not a known locale"):
        parse_locale("xx_YY")
    assert check_date_format("%d/%m/%Y") == "%d/%m/%Y"
    with pytest.raises(ValueError, match="DATE_FORMAT='%H:%M'"):
        check_date_format("%H:%M")
