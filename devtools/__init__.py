"""Development servers shared by the tests (forecast_assets_tests) and `make smoke` (deploy/smoke.py): a real
MinIO and a real MLflow tracking server on loopback ports with temporary folders. Not part of the wheel."""
