"""Ingestion: landed sales files -> the weekly raw_sales partitions."""
