#!/usr/bin/env bash
# End-to-end proof that an MCP client completes the full OAuth flow against `warden serve`
# with nothing else installed: Warden runs with NO config file (the embedded default:
# demo backends at /mcp, protected by OAuth, Warden's embedded development identity
# provider as the authorization server, users alice/alice and bob/bob). The official
# TypeScript MCP SDK client (scripts/peers/ts_devidp_client.mjs, with the scripted browser
# of scripts/peers/browser.mjs filling Warden's login form) signs in once with dynamic
# registration and once with a Client ID Metadata Document, then lists and calls the demo
# tools. The MCP Inspector CLI has no OAuth flow of its own (only `--header`), so it is run
# with a token the demo agent obtains by client credentials. See docs/dev-idp.md.
#
#   scripts/e2e-devidp.sh
#
# Needs scripts/install-peers.sh to have run (Node 22, the TypeScript SDK, the Inspector).
# Builds the debug binary with `cargo build -p warden-cli` (a no-op when fresh) unless
# TARGET_DIR points elsewhere or E2E_NO_BUILD=1. PEERS_DIR overrides where the peers are,
# E2E_KEEP=1 keeps the work directory (logs).
# Prints `ok - …` / `not ok - …` per check, then `e2e-devidp: N passed, M failed`; exits
# non-zero on any failure.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${TARGET_DIR:-$repo_root/target/debug}"
peers_env="${PEERS_DIR:-$repo_root/.peers}/env.sh"
[[ -f "$peers_env" ]] || { echo "error: $peers_env missing; run scripts/install-peers.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$peers_env"
if [[ -z "${TARGET_DIR:-}" && "${E2E_NO_BUILD:-}" != 1 ]]; then
  (cd "$repo_root" && cargo build --quiet -p warden-cli) >&2
fi
[[ -x "$target/warden" ]] || { echo "error: $target/warden missing; cargo build -p warden-cli" >&2; exit 2; }
# shellcheck source=lib/e2e.sh
source "$repo_root/scripts/lib/e2e.sh"

# --- Warden with the embedded default configuration (no -c) ------------------------------
listen_port=$(free_port) admin_port=$(free_port)
base="http://127.0.0.1:$listen_port"
url="$base/mcp"
# The issuer is http://$WARDEN_LISTEN, so a free port keeps it equal to the real URL.
WARDEN_LISTEN="127.0.0.1:$listen_port" WARDEN_ADMIN="127.0.0.1:$admin_port" NO_COLOR=1 \
  WARDEN_LOG="${WARDEN_LOG:-info}" "$target/warden" serve >"$work/warden.out" 2>"$work/warden.err" & pids+=($!)
warden_pid=$!
wait_http "$warden_pid" "http://127.0.0.1:$admin_port/readyz" 30
# Ready for tokens once the front door has loaded Warden's own keys from /oauth/jwks.
wait_log "$warden_pid" "$work/warden.err" "signing keys loaded" 30
echo "# warden (embedded default config) at $url"

# --- shell-side checks --------------------------------------------------------------------
show() { head -c 1200 "$@" 2>/dev/null; }
"$target/warden" default-config >"$work/default.yaml" 2>&1 || true
if grep -q "^devIdentityProvider:" "$work/default.yaml" && grep -q "jwksUrl: http://\${WARDEN_LISTEN" "$work/default.yaml"; then
  ok "shell: the embedded default config (warden default-config) turns on the development IdP and trusts it at /mcp"
else
  not_ok "shell: the embedded default config turns on the development IdP" "$(show "$work/default.yaml")"
fi
code=$(curl -s -o "$work/unauth.json" -w '%{http_code}' -D "$work/unauth.h" -X POST "$url" \
  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' || true)
if [[ "$code" == 401 ]] && grep -qi "^www-authenticate: Bearer .*resource_metadata=" "$work/unauth.h"; then
  ok "shell: /mcp without a token is 401 with a Bearer challenge naming the resource metadata"
else
  not_ok "shell: /mcp without a token is 401 with a Bearer challenge" "status $code: $(show "$work/unauth.h")"
fi
code=$(curl -s -o "$work/prm.json" -w '%{http_code}' "$base/.well-known/oauth-protected-resource/mcp" || true)
if [[ "$code" == 200 ]] && URL="$url" BASE="$base" jcheck "$work/prm.json" \
  'r["resource"] == os.environ["URL"] and r["authorization_servers"] == [os.environ["BASE"]]'; then
  ok "shell: PRM lists Warden's own issuer ($base) as the authorization server"
else
  not_ok "shell: PRM lists Warden's own issuer" "status $code: $(show "$work/prm.json")"
fi
code=$(curl -s -o "$work/cc.json" -w '%{http_code}' -u demo-agent:demo-agent-secret \
  -d grant_type=client_credentials -d scope=mcp:tools "$base/oauth/token" || true)
if [[ "$code" == 200 ]] && jcheck "$work/cc.json" 'r["token_type"] == "Bearer" and r["scope"] == "mcp:tools"'; then
  ok "shell: the demo agent gets a client_credentials token (demo-agent/demo-agent-secret)"
  cc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/cc.json")
else
  not_ok "shell: the demo agent gets a client_credentials token" "status $code: $(show "$work/cc.json")"
  cc=""
fi
code=$(curl -s -o "$work/cc-wide.json" -w '%{http_code}' -u demo-agent:demo-agent-secret \
  -d grant_type=client_credentials -d "scope=mcp:tools mcp:admin" "$base/oauth/token" || true)
if [[ "$code" == 400 ]] && jcheck "$work/cc-wide.json" 'r["error"] == "invalid_scope"'; then
  ok "shell: a client_credentials request for a scope beyond the client's is invalid_scope"
else
  not_ok "shell: a client_credentials request for a scope beyond the client's is invalid_scope" "status $code: $(show "$work/cc-wide.json")"
fi

# The sign-in command the startup banner prints (README quick start) works as printed.
banner_cmd=$(sed -n 's/^  \(TOKEN=\$(curl .*\)$/\1/p' "$work/warden.err" | head -n 1)
if [[ -n "$banner_cmd" ]] && TOKEN="" && eval "$banner_cmd" && [[ "$TOKEN" == *.*.* ]]; then
  ok "shell: the banner's demo-agent token command works as printed"
else
  not_ok "shell: the banner's demo-agent token command works as printed" "$banner_cmd"
fi

# --- the MCP Inspector CLI, with the agent's token -----------------------------------------
if [[ -n "$cc" && -n "${PEERS_INSPECTOR_CLI:-}" && -x "$PEERS_INSPECTOR_CLI" ]]; then
  rc=0
  timeout 120 "$PEERS_NODE22" "$PEERS_INSPECTOR_CLI" --cli "$url" --transport http --header "Authorization: Bearer $cc" \
    --method tools/call --tool-name clock__add --tool-arg a=2 --tool-arg b=40 >"$work/inspector.json" 2>"$work/inspector.err" || rc=$?
  if [[ "$rc" == 0 ]] && jcheck "$work/inspector.json" 'r["content"][0]["text"] == "42"'; then
    ok "inspector: --cli tools/call clock__add with the agent's Bearer token answers 42"
  else
    not_ok "inspector: --cli tools/call clock__add with the agent's Bearer token" "rc $rc: $(show "$work/inspector.json" "$work/inspector.err")"
  fi
  rc=0
  timeout 120 "$PEERS_NODE22" "$PEERS_INSPECTOR_CLI" --cli "$url" --transport http \
    --method tools/list >"$work/inspector-anon.json" 2>"$work/inspector-anon.err" || rc=$?
  if [[ "$rc" != 0 ]]; then ok "inspector: --cli tools/list without a token is refused"
  else not_ok "inspector: --cli tools/list without a token is refused" "$(show "$work/inspector-anon.json")"; fi
else
  not_ok "inspector: skipped (no token or no Inspector CLI in \$PEERS_DIR)"
fi

# --- the TypeScript SDK client: DCR and CIMD ---------------------------------------------
rc=0; timeout 180 "$PEERS_NODE22" "$repo_root/scripts/peers/ts_devidp_client.mjs" "$url" >"$work/ts.out" 2>"$work/ts.out.err" || rc=$?
tally "ts devidp client" "$rc" "$work/ts.out"

if kill -0 "$warden_pid" 2>/dev/null; then ok "Warden still running at the end"; else not_ok "Warden still running at the end" "$(tail -n 20 "$work/warden.err")"; fi
if [[ "$failed" -gt 0 ]]; then
  echo "# last Warden log lines:"
  grep -E 'WARN|ERROR|development IdP' "$work/warden.err" | tail -n 15 | sed 's/\x1b\[[0-9;]*m//g; s/^/#   /'
fi
echo "e2e-devidp: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
