"""Evaluation: every candidate against the baselines and the champion; the gate; promotion."""
