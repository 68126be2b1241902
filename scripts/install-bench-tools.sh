#!/usr/bin/env bash
# Installs the load tools bench/run.sh uses (Debian packages). Idempotent:
# does nothing when they are already on PATH.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)

if ((${#missing[@]} == 0)); then
  echo "bench tools present: $(command -v wrk)"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
echo "installing: ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
