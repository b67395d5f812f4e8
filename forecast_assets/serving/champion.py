"""The model that serves (the champion): what serves after a comparison, loading it, and its holdout forecasts."""

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from forecast_assets.ledger import PRODUCTION, read_ledger
from forecast_assets.ml import statistical
from forecast_assets.ml.features import (
    KEY_COLUMNS,
    SalesWindowFeatures,
)


def load_champion(context) -> tuple[PipelineModel, dict] | tuple[None, None]:
    """The production model that serves (the champion) and what the ledger knows of it, or (None, None)."""
    io_manager = context.resources.ml_models_io
    current = io_manager.read_manifest(PRODUCTION).pointer()
    if current is None:
        return None, None
    known = next(
        (
            e
            for e in reversed(read_ledger(context.resources.warehouse, context.instance))
            if e.get("key") == current["key"]
        ),
        {},
    )
    info = {
        "model": known.get("model") or "production_model",
        "kind": known.get("kind") or "model",
        "version": current["version"],
        "key": current["key"],
    }
    return io_manager.load_key(current["key"]), info


STATISTICAL_PARAMS = ("statisticalModels", "statisticalOrigins")  # what a served window stage adds, at serving


def champion_predictions(
    champion: PipelineModel,
    windows: SalesWindowFeatures,
    holdout: DataFrame,
    raw_sales: DataFrame,
    statistical_rows: DataFrame | None = None,
) -> DataFrame:
    """The champion's forecasts for the holdout rows (KEY_COLUMNS + `champion`), through its own fitted stages.
    When its window step has this run's parameters, the window columns of the holdout rows are exactly what
    it would compute, so only its later stages (its indexers, scaler, regressor) run, with the statistical
    forecasts it reads (this run's `statistical_rows` when they hold them, else fitted for these origins);
    otherwise it reads the raw sales whole, as it would in production."""
    theirs = champion.stages[0]
    same = type(theirs) is type(windows) and all(
        theirs.getOrDefault(p.name) == windows.getOrDefault(p.name)
        for p in windows.params
        if p.name not in STATISTICAL_PARAMS
    )
    if same:
        rows = holdout.drop("produto_idx", "categoria_idx", "features")
        if needed := theirs.statistical_models():
            columns = [statistical.column_of(n) for n in needed]
            if statistical_rows is None or not set(columns) <= set(statistical_rows.columns):
                origins = [r[0] for r in holdout.select("origin_date").distinct().collect()]
                statistical_rows = theirs.statistical_forecasts(raw_sales, origins)
            rows = rows.join(statistical_rows.select(*KEY_COLUMNS, *columns), KEY_COLUMNS, "left")
        scored = PipelineModel(stages=champion.stages[1:]).transform(rows)
    else:
        origins = [r[0] for r in holdout.select("origin_date").distinct().collect()]
        scored = champion.transform(raw_sales).filter(F.col("origin_date").isin(*origins) & F.col("complete"))
    return scored.select(*KEY_COLUMNS, F.col("prediction").alias("champion"))
