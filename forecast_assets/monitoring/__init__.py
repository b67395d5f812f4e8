"""Monitoring: drift of the features and predictions, and the accuracy of stored forecasts once sales land."""
