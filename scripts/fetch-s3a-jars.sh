#!/usr/bin/env bash
# Fetch the jars Spark's S3A connector needs into the cache (skipped when present) and print the
# comma-separated list for `spark.jars`. PySpark 4.3.0 bundles Hadoop 3.5.0 (hadoop-client-api/runtime);
# we add hadoop-aws 3.5.0 and only the AWS SDK v2 modules S3A uses (see s3a-jars/pom.xml), not the
# ~600 MB SDK bundle. Jars whose artifact PySpark already ships (netty, httpclient, ...) are left out so
# one version of each library is on the classpath.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${FORECAST_CACHE:-$HOME/.cache/forecast_assets}
dest="$cache/s3a-jars-hadoop3.5.0-sdk2.35.4"
python=${PYTHON:-python3}

if [ ! -f "$dest/.complete" ]; then
  pyspark_jars=$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
  mkdir -p "$cache"  # a fresh machine: nothing has made the cache folder yet
  staging=$(mktemp -d "$cache/.s3a-jars.XXXXXX")
  start=$(date +%s)
  mvn -q -B -Dstyle.color=never -f "$here/s3a-jars/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$staging" >&2
  for jar in "$staging"/*.jar; do
    artifact=$(basename "$jar" | sed -E 's/-[0-9][^-]*(\.Final)?\.jar$//')
    if compgen -G "$pyspark_jars/$artifact-[0-9]*.jar" >/dev/null; then rm "$jar"; fi
  done
  rm -f "$staging"/commons-logging-*.jar  # PySpark ships jcl-over-slf4j, the same classes
  touch "$staging/.complete"
  rm -rf "$dest"
  mv "$staging" "$dest"
  echo "fetched $(ls "$dest"/*.jar | wc -l) jars, $(du -sh "$dest" | cut -f1), in $(( $(date +%s) - start ))s -> $dest" >&2
fi
ls "$dest"/*.jar | paste -sd, -
