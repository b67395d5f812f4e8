"""forecast_assets: weekly-retrained sales forecasts with Spark MLlib, as Dagster assets."""

from forecast_assets.definitions import defs

__all__ = ["defs"]
