#!/usr/bin/env bash
# End-to-end proof that Warden is a correct OAuth protected resource for MCP: a real OpenID
# provider (npm oidc-provider, scripts/peers/oidc_provider.mjs) issues JWT access tokens,
# the official TypeScript MCP SDK client (scripts/peers/ts_oauth_client.mjs) performs the
# whole MCP authorization flow against Warden (examples/jwt-auth.yaml) in both protocol
# eras and with DPoP-bound tokens, and this script checks from the shell the protected
# resource metadata, client_credentials tokens, audience and scope refusals, and that the
# backend (mcp-conformance-server) never sees the client's credentials. See docs/e2e-oauth.md.
#
#   scripts/e2e-oauth.sh
#
# Needs scripts/install-peers.sh to have run. Builds the debug binaries with
# `cargo build -p warden-cli -p mcp-conformance-server` (a no-op when they are fresh) unless
# TARGET_DIR points elsewhere or E2E_NO_BUILD=1. PEERS_DIR overrides where the peers are,
# E2E_OAUTH_CONFIG the Warden config, E2E_KEEP=1 keeps the work directory (logs).
# Prints `ok - …` / `not ok - …` per check, then `e2e-oauth: N passed, M failed`; exits
# non-zero on any failure.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/oidc-e2e.sh
source "$repo_root/scripts/lib/oidc-e2e.sh"
config="${E2E_OAUTH_CONFIG:-$repo_root/examples/jwt-auth.yaml}"
[[ -f "$config" ]] || { echo "error: $config missing" >&2; exit 2; }

# --- the provider, the backend, and Warden in front of it ------------------------------
"$PEERS_NODE22" "$repo_root/scripts/peers/oidc_provider.mjs" --port 0 --client agent-1:agent-1-secret \
  >"$work/oidc.log" 2>&1 & pids+=($!)
oidc_pid=$!
"$target/mcp-conformance-server" --listen 127.0.0.1:0 >"$work/backend.log" 2>&1 & pids+=($!)
backend_pid=$!
wait_log "$oidc_pid" "$work/oidc.log" "^listening on http" 30
wait_log "$backend_pid" "$work/backend.log" "^listening on http" 20
issuer=$(sed -n 's/^listening on //p' "$work/oidc.log" | head -n 1)
backend_url=$(sed -n 's/^listening on //p' "$work/backend.log" | head -n 1)

listen_port=$(free_port) admin_port=$(free_port)
url="http://127.0.0.1:$listen_port/mcp"
prm_url="http://127.0.0.1:$listen_port/.well-known/oauth-protected-resource/mcp"
cp "$config" "$work/warden.yaml"
WARDEN_LISTEN="127.0.0.1:$listen_port" WARDEN_ADMIN="127.0.0.1:$admin_port" MCP_A_URL="$backend_url" \
  OIDC_ISSUER="$issuer" WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" NO_COLOR=1 \
  WARDEN_LOG="${WARDEN_LOG:-info,warden::auth=debug}" \
  "$target/warden" serve -c "$work/warden.yaml" >"$work/warden.out" 2>"$work/warden.err" & pids+=($!)
warden_pid=$!
# Ready when the admin /readyz says so; a config without an admin listener is ready when
# its metadata answers.
ready=""
for _ in $(seq 1 300); do
  kill -0 "$warden_pid" 2>/dev/null || break
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin_port/readyz" 2>/dev/null || true)
  if [[ "$code" == 200 ]]; then ready=1; break; fi
  if [[ "$code" == 000 ]] && curl -fsS -o /dev/null --max-time 2 "$prm_url" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[[ -n "$ready" ]] || { echo "error: Warden not ready after 30 s" >&2; tail -n 30 "$work/warden.err" "$work/warden.out" >&2; exit 1; }
echo "# warden at $url; issuer $issuer; backend $backend_url"

# --- shell-side checks --------------------------------------------------------------------
# mcp TOKEN_HEADER METHOD PARAMS_JSON OUT: one modern (2026-07-28) request to Warden, built
# like crates/test-support's McpClient::modern; writes {"status", "www", "message"} to OUT.
cat >"$work/mcp.py" <<'PY'
import json, sys, urllib.request, urllib.error
url, auth, method, params, out = sys.argv[1:6]
params = json.loads(params)
params["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                   "io.modelcontextprotocol/clientCapabilities": {},
                   "io.modelcontextprotocol/clientInfo": {"name": "e2e-oauth.sh", "version": "1"}}
headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": "2026-07-28", "mcp-method": method}
if method in ("tools/call", "prompts/get", "resources/read"):
    headers["mcp-name"] = params.get("name") or params.get("uri")
if auth:
    headers["authorization"] = auth
req = urllib.request.Request(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
                             headers=headers, method="POST")
try:
    resp = urllib.request.urlopen(req, timeout=30)
except urllib.error.HTTPError as e:
    resp = e
body = resp.read().decode()
message = None
if "text/event-stream" in (resp.headers.get("content-type") or ""):
    for event in body.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(l[5:].lstrip() for l in event.split("\n") if l.startswith("data:"))
        if data:
            m = json.loads(data)
            if m.get("id") == 1:
                message = m
else:
    try:
        message = json.loads(body)
    except ValueError:
        message = {"raw": body}
json.dump({"status": resp.status, "www": resp.headers.get_all("www-authenticate") or [], "message": message}, open(out, "w"))
PY
mcp() { python3 "$work/mcp.py" "$url" "$@"; }
# cc_token SCOPE RESOURCE OUT: client_credentials token for agent-1 from the provider.
cc_token() {
  local args=(-s -o "$3" -w '%{http_code}' -u agent-1:agent-1-secret -d grant_type=client_credentials -d "scope=$1")
  [[ -n "$2" ]] && args+=(--data-urlencode "resource=$2")
  curl "${args[@]}" "$issuer/token"
}
token_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$1"; }
show() { cat "$@" 2>/dev/null | head -c 1200; }

# Protected Resource Metadata, path form and root form (RFC 9728 §3).
code=$(curl -s -o "$work/prm.json" -w '%{http_code}' "$prm_url" || true)
if [[ "$code" == 200 ]] && URL="$url" ISS="$issuer" jcheck "$work/prm.json" \
  'r["resource"] == os.environ["URL"] and r["authorization_servers"] == [os.environ["ISS"]] and "mcp:tools" in r["scopes_supported"] and r.get("bearer_methods_supported") == ["header"] and "ES256" in r.get("dpop_signing_alg_values_supported", [])'; then
  ok "shell: PRM at /.well-known/oauth-protected-resource/mcp names resource $url, the issuer, mcp:tools, header, DPoP ES256"
else
  not_ok "shell: PRM at /.well-known/oauth-protected-resource/mcp" "status $code: $(show "$work/prm.json")"
fi
code=$(curl -s -o "$work/prm-root.json" -w '%{http_code}' "http://127.0.0.1:$listen_port/.well-known/oauth-protected-resource" || true)
if [[ "$code" == 200 ]] && URL="$url" jcheck "$work/prm-root.json" 'r["resource"] == os.environ["URL"]'; then
  ok "shell: PRM root form /.well-known/oauth-protected-resource answers for the only protected server"
else
  not_ok "shell: PRM root form /.well-known/oauth-protected-resource answers for the only protected server" "status $code: $(show "$work/prm-root.json")"
fi

# A client_credentials token (confidential client agent-1, resource = Warden's URL).
code=$(cc_token mcp:tools "$url" "$work/cc.json" || true)
if [[ "$code" == 200 ]] && jcheck "$work/cc.json" 'r["token_type"] == "Bearer" and r["access_token"].count(".") == 2'; then
  ok "shell: oidc-provider issues a client_credentials JWT for resource $url"
  cc=$(token_of "$work/cc.json")
  mcp "Bearer $cc" tools/list '{}' "$work/cc-list.json"
  tool=$(python3 -c 'import json,sys; n=[t["name"] for t in json.load(open(sys.argv[1]))["message"]["result"]["tools"]]; print(next(x for x in n if x == "debug_request_headers" or x.endswith("__debug_request_headers")))' "$work/cc-list.json" 2>/dev/null || echo debug_request_headers)
  if jcheck "$work/cc-list.json" 'r["status"] == 200 and len(r["message"]["result"]["tools"]) > 0'; then
    ok "shell: modern tools/list with the client_credentials token (Bearer) is answered"
  else
    not_ok "shell: modern tools/list with the client_credentials token (Bearer) is answered" "$(show "$work/cc-list.json")"
  fi
  mcp "Bearer $cc" tools/call "{\"name\": \"$tool\", \"arguments\": {}}" "$work/cc-headers.json"
  if jcheck "$work/cc-headers.json" 'r["status"] == 200 and not r["message"]["result"].get("isError")' &&
    python3 -c '
import json, re, sys
r = json.load(open(sys.argv[1]))
text = "\n".join(c["text"] for c in r["message"]["result"]["content"] if c["type"] == "text")
print(text)
sys.exit(0 if text and not re.search(r"^(authorization|dpop|cookie):", text, re.I | re.M) and sys.argv[2] not in text else 1)' \
      "$work/cc-headers.json" "${cc: -24}" >"$work/cc-headers.txt"; then
    ok "shell: the backend received no Authorization header (tools/call $tool through Warden)"
  else
    not_ok "shell: the backend received no Authorization header (tools/call $tool through Warden)" "$(show "$work/cc-headers.txt" "$work/cc-headers.json")"
  fi
else
  not_ok "shell: oidc-provider issues a client_credentials JWT for resource $url" "status $code: $(show "$work/cc.json")"
fi

# refuse NAME AUTH STATUS WWW_REGEX: a modern tools/list with AUTH gets STATUS and a
# WWW-Authenticate matching WWW_REGEX.
refuse() {
  mcp "$2" tools/list '{}' "$work/refuse.json"
  if ST="$3" RE="$4" jcheck "$work/refuse.json" \
    'r["status"] == int(os.environ["ST"]) and __import__("re").search(os.environ["RE"], " | ".join(r["www"]))'; then
    ok "shell: $1"
  else
    not_ok "shell: $1" "$(show "$work/refuse.json")"
  fi
}
refuse "no token: 401 with Bearer resource_metadata and scope" "" 401 \
  "Bearer [^|]*resource_metadata=\"$prm_url\"[^|]*scope=\"mcp:tools\""
# The refusals below prove something only if a valid token is accepted (checked above).
cc_accepted=""
jcheck "$work/cc-list.json" 'r["status"] == 200' && cc_accepted=1
if [[ -z "$cc_accepted" ]]; then
  not_ok "shell: refusal checks of other tokens skipped: the valid client_credentials token was not accepted"
else
  # Same provider, same scope, but minted for another resource (RFC 8707 audience).
  other="http://127.0.0.1:$(free_port)/mcp"
  if [[ "$(cc_token mcp:tools "$other" "$work/cc-other.json" || true)" == 200 ]]; then
    refuse "a token whose aud is another resource ($other): 401 invalid_token" "Bearer $(token_of "$work/cc-other.json")" 401 \
      'Bearer [^|]*error="invalid_token"'
  else
    not_ok "shell: client_credentials token for another resource" "$(show "$work/cc-other.json")"
  fi
  # Right audience, missing scope: step-up challenge.
  if [[ "$(cc_token mcp:read "$url" "$work/cc-read.json" || true)" == 200 ]]; then
    refuse "a token with scope mcp:read only: 403 insufficient_scope, scope=\"mcp:tools\", resource_metadata" \
      "Bearer $(token_of "$work/cc-read.json")" 403 \
      "Bearer [^|]*(error=\"insufficient_scope\"[^|]*scope=\"mcp:tools\"|scope=\"mcp:tools\"[^|]*error=\"insufficient_scope\")[^|]*"
    # the challenge must also point at the metadata
    if jcheck "$work/refuse.json" '"resource_metadata=" in " ".join(r["www"])'; then ok "shell: the insufficient_scope challenge carries resource_metadata"
    else not_ok "shell: the insufficient_scope challenge carries resource_metadata" "$(show "$work/refuse.json")"; fi
  else
    not_ok "shell: client_credentials token with scope mcp:read" "$(show "$work/cc-read.json")"
  fi
  # An opaque token (no resource requested: the provider issues a non-JWT token).
  if [[ "$(cc_token mcp:tools "" "$work/cc-opaque.json" || true)" == 200 ]]; then
    refuse "an opaque (non-JWT) token from the same provider: 401 invalid_token" "Bearer $(token_of "$work/cc-opaque.json")" 401 \
      'Bearer [^|]*error="invalid_token"'
  else
    not_ok "shell: opaque token from the provider" "$(show "$work/cc-opaque.json")"
  fi
  refuse "a token that is not a JWT at all: 401 invalid_token" "Bearer not-a-token" 401 'Bearer [^|]*error="invalid_token"'
fi

# --- the TypeScript SDK client: legacy, modern, DPoP ---------------------------------------
rc=0; timeout 180 "$PEERS_NODE22" "$repo_root/scripts/peers/ts_oauth_client.mjs" "$url" >"$work/ts.out" 2>"$work/ts.out.err" || rc=$?
tally "ts oauth client" "$rc" "$work/ts.out"

if kill -0 "$warden_pid" 2>/dev/null; then ok "Warden still running at the end"; else not_ok "Warden still running at the end" "$(tail -n 20 "$work/warden.err")"; fi
if [[ "$failed" -gt 0 ]]; then
  echo "# last Warden log lines (auth at debug: why tokens were refused):"
  grep -v -e '^\s*$' "$work/warden.err" | grep -E 'WARN|ERROR|warden::auth' | tail -n 15 | sed 's/\x1b\[[0-9;]*m//g; s/^/#   /'
fi
echo "e2e-oauth: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
