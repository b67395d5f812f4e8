#!/usr/bin/env bash
# Build the pinned MinIO server once into the cache (the community edition is source-only; its
# documented install is `go install`) and print the binary's path. Skipped when already built.
set -euo pipefail
version=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}  # github.com/minio/minio @ 2026-02-12
cache=${FORECAST_CACHE:-$HOME/.cache/forecast_assets}
bin="$cache/minio-$version/bin/minio"
if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$bin")"
  start=$(date +%s)
  echo "building MinIO $version (one time, a few minutes)..." >&2
  GOBIN=$(dirname "$bin") GOFLAGS=-trimpath go install "github.com/minio/minio@$version" >&2
  echo "built $bin in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
