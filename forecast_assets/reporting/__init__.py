"""Reporting: plots and tables for the UI's metadata."""
