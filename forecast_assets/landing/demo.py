"""A deterministic generator of demo sales, so the demo runs offline when nothing has landed.

50 products in 6 categories. Each product has its own level (lognormal, 20 to 1000 a day), a small
linear trend, a weekly shape (+-25 %, its own phase), a yearly shape (+-15 %), promotions on about 5 %
of days (+40 %, announced nowhere, so they are noise to any model), Gaussian noise of 12 % of its level,
and about 2 % of days without sales (stock-outs); `alimentos` does not sell on Sundays. A given week's
rows depend only on the week: re-generating it gives the same bytes.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

PRODUCTS = 50
CATEGORIES = ("eletronicos", "vestuario", "alimentos", "casa", "esporte", "beleza")
EPOCH = date(2023, 1, 2)
SEED = 20231


def _product_traits() -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    return pd.DataFrame(
        {
            "produto": [f"P{p:03d}" for p in range(PRODUCTS)],
            "categoria_valor": [CATEGORIES[p % len(CATEGORIES)] for p in range(PRODUCTS)],
            "level": np.clip(rng.lognormal(5.0, 0.7, PRODUCTS), 20, 1000),
            "trend": rng.normal(0.0, 0.0003, PRODUCTS),
            "phase": rng.integers(0, 7, PRODUCTS),
            "unit_price": rng.uniform(5, 80, PRODUCTS),
        }
    )


def demo_week(week_start: date) -> pd.DataFrame:
    """Sales rows (schema produto, categoria_valor, quantidade, valor_total, data_venda) for one week."""
    traits = _product_traits()
    days = [week_start + timedelta(days=i) for i in range(7)]
    t = np.array([(d - EPOCH).days for d in days], dtype=float)
    rng = np.random.default_rng([SEED, (week_start - EPOCH).days])
    level = traits["level"].to_numpy()[:, None]
    weekly = 1 + 0.25 * np.sin(2 * np.pi * (t[None, :] + traits["phase"].to_numpy()[:, None]) / 7)
    yearly = 1 + 0.15 * np.sin(2 * np.pi * t[None, :] / 365.25)
    trend = 1 + traits["trend"].to_numpy()[:, None] * t[None, :]
    promo = 1 + 0.4 * (rng.random((PRODUCTS, 7)) < 0.05)
    value = level * np.clip(trend, 0.2, None) * weekly * yearly * promo + rng.normal(0, 0.12, (PRODUCTS, 7)) * level
    value = np.clip(value, 0, None)
    sunday = np.array([d.weekday() == 6 for d in days])[None, :]
    closed = (traits["categoria_valor"].to_numpy() == "alimentos")[:, None] & sunday
    sold = (rng.random((PRODUCTS, 7)) > 0.02) & ~closed & (value > 0)
    quantity = np.maximum(1, np.round(value / traits["unit_price"].to_numpy()[:, None])).astype("int64")
    product_index, day_index = np.nonzero(sold)
    return pd.DataFrame(
        {
            "produto": traits["produto"].to_numpy()[product_index],
            "categoria_valor": traits["categoria_valor"].to_numpy()[product_index],
            "quantidade": quantity[product_index, day_index],
            "valor_total": np.round(value[product_index, day_index], 2),
            "data_venda": [days[i] for i in day_index],  # calendar dates, not nanosecond timestamps
        }
    )
