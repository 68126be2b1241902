# Shared by the end-to-end scripts (scripts/e2e-*.sh): process cleanup, TAP-like
# counting, free ports and bounded readiness polls. Source it after `set -euo
# pipefail`; it creates $work (a temp dir, removed at exit unless E2E_KEEP=1) and
# the arrays/counters the helpers use: `pids`, `passed`, `failed`.

work="$(mktemp -d)"
pids=()
# stop PID: SIGTERM, bounded wait for it to exit, SIGKILL if it did not.
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${pids[@]}"; do stop "$p"; done
  wait 2>/dev/null || true
  if [[ "${E2E_KEEP:-}" == 1 ]]; then echo "# logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { # DESCRIPTION [DETAIL]
  echo "not ok - $1"; failed=$((failed + 1))
  if [[ -n "${2:-}" ]]; then printf '%s\n' "$2" | head -c 1500 | sed 's/^/#   /'; echo; fi
}
# tally NAME RC OUTPUT_FILE: prints a client's TAP lines and counts them.
tally() {
  local name=$1 rc=$2 out=$3 n_ok n_not
  cat "$out"
  n_ok=$(grep -c '^ok - ' "$out" || true)
  n_not=$(grep -c '^not ok - ' "$out" || true)
  passed=$((passed + n_ok)) failed=$((failed + n_not))
  if [[ "$rc" -ne 0 && "$n_not" -eq 0 ]]; then not_ok "$name exited with status $rc" "$(tail -n 20 "$out.err" 2>/dev/null)"; fi
  if [[ "$rc" -eq 0 && "$n_not" -gt 0 ]]; then not_ok "$name reported failures but exited 0"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http PID URL SECONDS: bounded poll until URL answers any HTTP status; fails early
# if PID exits.
wait_http() {
  local code
  for _ in $(seq 1 $(($3 * 10))); do
    kill -0 "$1" 2>/dev/null || { echo "error: process $1 for $2 exited" >&2; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$2" 2>/dev/null || true)
    [[ "$code" != 000 && -n "$code" ]] && return 0
    sleep 0.1
  done
  echo "error: $2 not answering after $3 s" >&2; return 1
}
# wait_log PID FILE PATTERN SECONDS: bounded poll until FILE has a line matching PATTERN.
wait_log() {
  for _ in $(seq 1 $(($4 * 10))); do
    grep -q "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { echo "error: process $1 exited:" >&2; cat "$2" >&2; return 1; }
    sleep 0.1
  done
  echo "error: no '$3' in $2 after $4 s" >&2; cat "$2" >&2; return 1
}
# jcheck FILE EXPR: true if the Python expression EXPR holds for the JSON in FILE (as `r`).
jcheck() {
  python3 -c 'import json, os, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}
