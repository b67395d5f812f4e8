"""landing/area.py on its own: quarantined rows are safe to open in a spreadsheet, quarantined files get safe
keys, one per version of the original."""

import pandas as pd

from forecast_assets.landing.area import quarantine_key, spreadsheet_safe


def test_quarantine_cells_never_run_as_formulas():
    frame = pd.DataFrame({"produto": ["=1+1", "+SUM(A1)", "-2", "@x", "\tTab", "ok"], "row": [1, 2, 3, 4, 5, 6]})
    assert spreadsheet_safe(frame)["produto"].tolist() == ["'=1+1", "'+SUM(A1)", "'-2", "'@x", "'\tTab", "ok"]


def test_quarantine_keys_are_safe_and_one_per_version():
    first, second = quarantine_key("a/b.csv", "12-345"), quarantine_key("a/b.csv", "12-999")
    assert first == "quarantine/files/a/b.csv@12-345" and first != second
    long = quarantine_key("vendas_" + "x" * 230 + ".csv", "v1")
    assert all(len(part.encode()) <= 130 for part in long.split("/")) and long.endswith("@v1")
    assert quarantine_key("odd\\name .csv", "v") == "quarantine/files/odd_name_.csv@v"
