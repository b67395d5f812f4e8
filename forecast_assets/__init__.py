"""forecast_assets: weekly-retrained sales forecasts with Spark MLlib, as Dagster assets."""

try:
    from forecast_assets.definitions import defs
except ValueError as error:  # a malformed setting (FORECAST_HISTORY_START, SPARK_MASTER, ...): one clear line
    raise SystemExit(f"error: {error}") from None

__all__ = ["defs"]
