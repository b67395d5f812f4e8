#!/usr/bin/env bash
# Install Debian packages for a script that found them missing: as root, quietly, without recommends; a clear
# error otherwise. Usage: scripts/apt-install.sh <what, for the messages> <package>...
set -euo pipefail
what=$1
shift
if [ "$(id -u)" != 0 ]; then
  echo "$what is not installed and this is not root: install Debian's $* package(s)" >&2
  exit 1
fi
echo "installing $what from Debian's packages..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "$@" >&2
