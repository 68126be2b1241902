#!/usr/bin/env bash
# Proves that Warden is transparent to MCP conformance: runs the official
# conformance suite (stable 0.1.16 and 0.2.0-alpha.12, both eras) against
# mcp-conformance-server directly, then through Warden with
# examples/single-backend.yaml, and fails if any scenario that passes directly
# does not pass through Warden.
#
#   scripts/conformance-through-warden.sh [--era legacy|modern|both]
#
# Needs scripts/install-peers.sh to have run and the debug binaries built
# (`cargo build -p warden-cli -p mcp-conformance-server`); TARGET_DIR overrides
# where they are. Prints `conformance-through-warden: N passed, M failed`.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${TARGET_DIR:-$repo_root/target/debug}"
era="${1:-}"; [[ "$era" == --era ]] && era="$2" || era="${era#--era=}"; era="${era:-both}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # URL: bounded readiness poll
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "error: $1 not ready" >&2; return 1
}

backend_port="$(free_port)"
"$target/mcp-conformance-server" --listen "127.0.0.1:$backend_port" > "$work/backend.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do grep -q "^listening on" "$work/backend.log" && break; sleep 0.1; done
grep -q "^listening on" "$work/backend.log" || { cat "$work/backend.log"; exit 1; }

listen_port="$(free_port)" admin_port="$(free_port)"
MCP_A_URL="http://127.0.0.1:$backend_port/mcp" WARDEN_LISTEN="127.0.0.1:$listen_port" \
  WARDEN_ADMIN="127.0.0.1:$admin_port" WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" \
  "$target/warden" serve -c "$repo_root/examples/single-backend.yaml" > "$work/warden.out" 2> "$work/warden.err" & pids+=($!)
wait_for "http://127.0.0.1:$admin_port/readyz"

"$repo_root/scripts/conformance.sh" "http://localhost:$backend_port/mcp" --era "$era" -o "$work/direct" > "$work/direct.txt" 2>&1 || true
"$repo_root/scripts/conformance.sh" "http://localhost:$listen_port/mcp" --era "$era" -o "$work/warden" > "$work/warden.txt" 2>&1 || true

# Lines look like "<run> PASS|FAIL <scenario> ...".
passes() { awk '$2=="PASS"{print $1" "$3}' "$1" | sort -u; }
passes "$work/direct.txt" > "$work/direct.pass"
passes "$work/warden.txt" > "$work/warden.pass"
missing="$(comm -23 "$work/direct.pass" "$work/warden.pass")"
n_direct=$(wc -l < "$work/direct.pass")
n_missing=$(printf '%s' "$missing" | grep -c . || true)
echo "direct:  $(grep '^conformance:' "$work/direct.txt" || echo 'no summary')"
echo "warden:  $(grep '^conformance:' "$work/warden.txt" || echo 'no summary')"
if [[ -n "$missing" ]]; then
  echo "passing directly but not through Warden:"; printf '  %s\n' $missing | paste - -
  grep -E "FAIL" "$work/warden.txt" | head -40 || true
fi
echo "conformance-through-warden: $((n_direct - n_missing)) passed, $n_missing failed"
[[ "$n_direct" -gt 0 && -z "$missing" ]]
