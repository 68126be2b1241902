#!/usr/bin/env bash
# Installs a real Redis server for the global rate-limit tests (Debian's `redis-server`).
#
#   scripts/install-redis.sh
#
# Idempotent: does nothing when `redis-server` is already on PATH. Needs root (or sudo) and
# access to Debian's package archive. The tests start their own server on a unix socket in a
# temporary directory (crates/test-support/src/redis.rs); nothing is left running here.
set -euo pipefail

log() { printf '%s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      log "install-redis: need root or sudo to apt-get install redis-server"
      exit 1
    fi
  fi
  log "install-redis: installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y --no-install-recommends redis-server
  # The package may start a system service; the tests do not use it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    $sudo systemctl stop redis-server || true
  fi
fi

redis-server --version
