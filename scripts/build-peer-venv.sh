#!/usr/bin/env bash
# Install the peer forecasting libraries (../shared/bench/peers.py: statsforecast, mlforecast + LightGBM) once
# into their own virtualenv in the cache and print the path of its python. They are what `make bench-peer`
# compares the product with, never a dependency of the product: numba and LightGBM stay out of its environment.
set -euo pipefail
cache=${FORECAST_CACHE:-$HOME/.cache/forecast_assets}
pins="statsforecast==2.1.1 mlforecast==1.1.0 lightgbm==4.7.0 utilsforecast==0.2.17 pandas<3 pyarrow"
venv="$cache/peers-statsforecast2.1.1-mlforecast1.1.0"
bin="$venv/bin/python"
if [ ! -x "$bin" ] || [ ! -f "$venv/.installed" ]; then
  start=$(date +%s)
  echo "installing the peer libraries (one time, a minute or two)..." >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  # shellcheck disable=SC2086 # the pins are words
  "$venv/bin/python" -m pip install -q $pins >&2
  touch "$venv/.installed"
  echo "installed $venv in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
