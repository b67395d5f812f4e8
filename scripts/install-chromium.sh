#!/usr/bin/env bash
# Debian's chromium for the UI test (forecast_assets_tests/test_ui.py drives it headless through Playwright
# with executable_path set: no browser download). Installed from Debian's packages when missing; prints its path.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  "$(dirname "$0")/apt-install.sh" chromium chromium
fi
command -v chromium
