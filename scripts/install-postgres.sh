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
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed and this is not root: install Debian's postgresql package" >&2
    exit 1
  fi
  echo "installing PostgreSQL from Debian's packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir=$(find_bindir)
fi
echo "$bindir"
