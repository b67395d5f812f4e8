#!/usr/bin/env bash
# PostgreSQL for `make smoke` (Dagster's run, event-log and schedule storage in the production topology),
# from Debian's packages when the machine has none. Prints the folder holding initdb, pg_ctl and postgres.
set -euo pipefail
find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
bindir=$(find_bindir || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  "$(dirname "$0")/apt-install.sh" PostgreSQL postgresql
  bindir=$(find_bindir)
fi
echo "$bindir"
