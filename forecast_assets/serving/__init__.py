"""Serving: the forecast of the model that serves, the shadow forecast, the serving check and the rollback."""
