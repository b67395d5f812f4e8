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
