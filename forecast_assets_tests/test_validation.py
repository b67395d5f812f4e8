"""landing/validation.py on its own: names typed by people get one spelling. (Whole files, good and broken, are
checked against their expected outcome in test_ingestion.py's and test_landing.py's corpora.)"""

import pytest

from forecast_assets.landing.validation import clean_name


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Cafe\u0301", "Café"),
        ("\u200bÁgua\u2060 Mineral\ufeff", "Água Mineral"),
        ("N/A", None),
        ("none", None),
        ("\u200b", None),
        ("Leite\u00a0\u00a0Integral", "Leite Integral"),
    ],
)
def test_one_spelling_of_a_name(typed, name):
    assert clean_name(typed) == (name, None)


def test_whole_units_read_the_fraction_as_written_not_as_a_float():
    """`1.0000000000000001` is 1.0 as a float; a business that sells whole units must see it as a fraction."""
    from datetime import date

    from forecast_assets.landing.validation import Limits, parse_sales_file

    body = b"produto,quantidade,valor_total,data_venda\nA,1.0000000000000001,2.5,2025-03-04\nB,3.000,2.5,2025-03-04\n"
    whole = Limits(first_day=date(2023, 1, 2), last_day=date(2026, 11, 30), whole_units=True)
    parsed = parse_sales_file("units.csv", body, whole)
    assert list(parsed.good["produto"]) == ["B"] and list(parsed.bad["row"]) == [1]
    assert "'1.0000000000000001' is not a whole number" in parsed.bad["reason"].iloc[0]


def test_a_stray_quote_is_kept_as_written_and_a_nul_is_one_bad_row():
    """`"12" TV` (an unquoted inch mark) is not CSV quoting: csv would store `12 TV`; a NUL byte in one name is
    that row's problem, not a binary file's."""
    from datetime import date

    from forecast_assets.landing.validation import Limits, parse_sales_file

    body = b'produto,valor_total,data_venda\n"12" TV,2.5,2025-03-04\n"Smith, J",1.0,2025-03-04\nA\x00B,1.0,2025-03-04\n'
    parsed = parse_sales_file("tv.csv", body, Limits(first_day=date(2023, 1, 2), last_day=date(2026, 11, 30)))
    assert list(parsed.good["produto"]) == ['"12" TV', "Smith, J"]
    assert "1 row(s) with a quote inside a field" in " ".join(parsed.notes) and "line(s) 2" in " ".join(parsed.notes)
    assert list(parsed.bad["row"]) == [3] and "control character" in parsed.bad["reason"].iloc[0]
