"""Recipes: public real sales data sets, as published, turned into the product's sales schema for the bench.

No data set is copied into this repository (bench/README.md says where to get each and under what licence);
each recipe reads the files as downloaded and writes `bench/out/data/real_<name>.parquet` with the columns the
product's raw_sales stores (produto, categoria_valor, quantidade, valor_total, data_venda as a date), which
`bench/run_bench.py --peer --real DIR` runs the pipeline and the peer libraries on.

usage: python bench/real_data.py DIR    (DIR holds pharma/ and/or breadbasket/ as downloaded; prints what it wrote)

- pharma: "Pharma sales data" (Kaggle, milanzdravkovic/pharma-sales-data): salesdaily.csv, one pharmacy's daily
  sales of 57 drugs grouped in 8 ATC classes, 2014-01-02 .. 2019-10-08. One series per ATC class; the file has
  quantities only, so valor_total is the quantity sold (the bench forecasts units either way).
- breadbasket: "The Bread Basket", a bakery in Edinburgh (Kaggle, e.g. sulmansarwar/transactions-from-a-bakery):
  BreadBasket_DMS.csv, one line per item sold (Date, Time, Transaction, Item), 2016-10-30 .. 2017-04-09. One series
  per item (the 20 sold most), items sold per day; no prices, so valor_total is the count.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "out" / "data"
COLUMNS = ["produto", "categoria_valor", "quantidade", "valor_total", "data_venda"]


def pharma(folder: Path) -> pd.DataFrame:
    wide = pd.read_csv(folder / "salesdaily.csv", sep=None, engine="python")
    wide["data_venda"] = pd.to_datetime(wide["datum"], format="%m/%d/%Y").dt.date
    classes = ["M01AB", "M01AE", "N02BA", "N02BE", "N05B", "N05C", "R03", "R06"]
    long = wide.melt(id_vars="data_venda", value_vars=classes, var_name="produto", value_name="quantidade")
    long = long[long["quantidade"] > 0]
    long["valor_total"] = long["quantidade"]
    long["categoria_valor"] = long["produto"].str[:3]  # the ATC group: M01, N02, N05, R03, R06
    return long[COLUMNS]


def breadbasket(folder: Path, items: int = 20) -> pd.DataFrame:
    lines = pd.read_csv(folder / "BreadBasket_DMS.csv")
    lines = lines[lines["Item"] != "NONE"]  # the till's empty lines
    top = lines["Item"].value_counts().nlargest(items).index
    lines = lines[lines["Item"].isin(top)]
    daily = (
        lines.assign(data_venda=pd.to_datetime(lines["Date"], format="%Y-%m-%d").dt.date)
        .groupby(["Item", "data_venda"], as_index=False)
        .size()
        .rename(columns={"Item": "produto", "size": "quantidade"})
    )
    daily["valor_total"] = daily["quantidade"].astype(float)
    daily["categoria_valor"] = "bakery"
    return daily[COLUMNS]


RECIPES = {"pharma": pharma, "breadbasket": breadbasket}


def prepare(root: Path) -> dict[str, Path]:
    """Every data set whose folder is under `root`, written to bench/out/data/real_<name>.parquet."""
    written = {}
    for name, recipe in RECIPES.items():
        if not (root / name).is_dir():
            continue
        frame = recipe(root / name)
        target = OUT / f"real_{name}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
        written[name] = target
        days = pd.to_datetime(frame["data_venda"])
        print(
            f"{name}: {len(frame)} rows, {frame['produto'].nunique()} series, {days.min().date()} .. "
            f"{days.max().date()} -> {target}"
        )
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    prepare(ap.parse_args().root)
