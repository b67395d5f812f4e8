#!/usr/bin/env bash
# `make minio`: a local MinIO on 127.0.0.1, on a free port, with a temporary data folder and fresh
# credentials. Prints the environment that points forecast_assets at it; Ctrl-C stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$("$here/build-minio.sh")
port=${MINIO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
console=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d "${TMPDIR:-/tmp}/forecast-minio.XXXXXX")
user="local-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
cat <<MSG
MinIO on http://127.0.0.1:$port (console http://127.0.0.1:$console), data in $data.
Point forecast_assets at it (e.g. in another shell, then \`make run\`):

  export FORECAST_STORAGE=minio
  export FORECAST_S3_ENDPOINT=http://127.0.0.1:$port
  export AWS_ACCESS_KEY_ID=$user
  export AWS_SECRET_ACCESS_KEY=$password

MSG
set -m
MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$password MINIO_BROWSER=on \
  "$bin" server "$data" --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" --quiet &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT INT TERM
wait $pid
