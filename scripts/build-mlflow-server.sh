#!/usr/bin/env bash
# Install the pinned MLflow tracking server once into its own virtualenv in the cache and print the path of
# its `mlflow` command. The server is infrastructure the tests start (like MinIO), not a dependency of the
# product: the full `mlflow` package caps pyarrow below the version the product runs, while the client the
# product uses (`pip install '.[mlflow]'`, mlflow-skinny) does not.
set -euo pipefail
version=${MLFLOW_SERVER_VERSION:-3.17.2}
cache=${FORECAST_CACHE:-$HOME/.cache/forecast_assets}
venv="$cache/mlflow-server-$version"
bin="$venv/bin/mlflow"
if [ ! -x "$bin" ] || [ ! -f "$venv/.installed" ]; then
  start=$(date +%s)
  echo "installing the MLflow $version server (one time, a minute or two)..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q "mlflow==$version" >&2
  touch "$venv/.installed"
  echo "installed $bin in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
