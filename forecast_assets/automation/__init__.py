"""Schedules and sensors: weekly retraining, new sales files, drift, run notifications."""
