"""Spark ML building blocks of the forecast: the window-feature transformer and time-ordered tuning."""
