"""Training: one asset per candidate regressor, each tuned by time-ordered cross-validation."""
