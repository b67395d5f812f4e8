"""forecast_assets: weekly-retrained sales forecasts with Spark MLlib, as Dagster assets."""

from forecast_assets.definitions import defs  # Dagster's lazy loader: the environment is read when it is called

__all__ = ["defs"]
