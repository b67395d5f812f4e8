#!/usr/bin/env bash
# Debian's chromium for the UI test (forecast_assets_tests/test_ui.py drives it headless through Playwright
# with executable_path set: no browser download). Installed from Debian's packages when missing; prints its path.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "chromium is not installed and this is not root: install Debian's chromium package" >&2
    exit 1
  fi
  echo "installing chromium from Debian's packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
fi
command -v chromium
