#!/usr/bin/env bash
# `make dev`: `dagster dev` (webserver, daemon, code server) in a process group of its own, stopped as a whole on
# Ctrl-C or SIGTERM. make forwards SIGTERM to this script (its child), which passes it to every process of the
# group, runs in flight included: such a run ends failed or canceled (or succeeded, if it was finishing;
# re-execute it from the UI). A group that has not exited after 60 s is killed.
set -uo pipefail
set -m  # job control: the background job below gets its own process group
"${DAGSTER:-.venv/bin/dagster}" dev "$@" &
pid=$!
stop() {
  trap '' INT TERM
  echo "stopping dagster dev (pid $pid) and its runs..." >&2
  kill -TERM -- "-$pid" 2>/dev/null
  for _ in $(seq 60); do
    kill -0 -- "-$pid" 2>/dev/null || exit 0
    sleep 1
  done
  echo "still running after 60 s: killing" >&2
  kill -KILL -- "-$pid" 2>/dev/null
  exit 1
}
trap stop INT TERM
wait "$pid"
status=$?
# wait returns early when a trapped signal arrives; stop() exits. Otherwise dagster dev ended by itself.
exit "$status"
