#!/usr/bin/env bash
# End-to-end proof of upstream credentials (examples/delegation, call patterns 1–3): a real
# OpenID provider (npm oidc-provider, scripts/peers/oidc_provider.mjs) issues the agent's
# front-door token; Warden (examples/delegation/warden.yaml) sends each backend a credential
# made for it alone; three Python MCP SDK servers (scripts/peers/delegation_server.py) check
# what they received: two verify the token with PyJWT against Warden's JWKS and their own
# audience, the third (the "external API") checks the injected key. Pattern 1 runs twice: with
# an agent's own client_credentials token, and with a user (alice) signed in through the agent
# `hr-assistant` by the official TypeScript MCP SDK (scripts/peers/ts_policy_client.mjs).
#
#   scripts/e2e-delegation.sh
#
# Needs scripts/install-peers.sh. Builds the debug binaries unless TARGET_DIR is set or
# E2E_NO_BUILD=1; PEERS_DIR overrides where the peers are; E2E_KEEP=1 keeps the logs.
# Prints `ok - …` / `not ok - …` per check, then `e2e-delegation: N passed, M failed`.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/oidc-e2e.sh
source "$repo_root/scripts/lib/oidc-e2e.sh"
py="${PEERS_PYTHON:?PEERS_PYTHON missing from the peers env}"

listen_port=$(free_port) admin_port=$(free_port)
warden="http://127.0.0.1:$listen_port"
# Warden's client key at the external AS (private_key_jwt): PKCS#8 PEM for Warden, JWKS for the AS.
"$py" - "$work" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
k = ec.generate_private_key(ec.SECP256R1())
open(f"{sys.argv[1]}/warden-client.pem", "wb").write(k.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
n = k.public_key().public_numbers()
b = lambda i: base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
json.dump({"keys": [{"kty": "EC", "crv": "P-256", "x": b(n.x), "y": b(n.y), "alg": "ES256", "use": "sig"}]},
          open(f"{sys.argv[1]}/warden-client.jwks", "w"))
PY
# The same provider is the front door's issuer and, for /partner-as, the external AS where
# Warden performs RFC 8693 (its token-exchange grant checks Warden's subject tokens).
# `hr-assistant` is the user-facing agent (a public client, authorization code + PKCE).
agent=hr-assistant
redirect="http://127.0.0.1:9/oauth/callback" # never fetched: the client's browser stops there
"$PEERS_NODE22" "$repo_root/scripts/peers/oidc_provider.mjs" --port 0 --client agent-1:agent-1-secret \
  --public-client "$agent=$redirect" \
  --token-exchange "$warden/oauth/jwks" --pkjwt-client "warden=$work/warden-client.jwks" \
  >"$work/oidc.log" 2>&1 & pids+=($!)
oidc_pid=$!
wait_log "$oidc_pid" "$work/oidc.log" "^listening on http" 30
issuer=$(sed -n 's/^listening on //p' "$work/oidc.log" | head -n 1)

hr_port=$(free_port) research_port=$(free_port) partner_port=$(free_port) partner_as_port=$(free_port)
jag_port=$(free_port)
partner_as_url="http://127.0.0.1:$partner_as_port/mcp" jag_url="http://127.0.0.1:$jag_port/mcp"
partner_key="pk-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server() { # NAME PORT ARGS…
  local name=$1 port=$2; shift 2
  PARTNER_KEY="$partner_key" "$py" "$repo_root/scripts/peers/delegation_server.py" --port "$port" --name "$name" "$@" \
    >"$work/$name.log" 2>&1 & pids+=($!)
  wait_http $! "http://127.0.0.1:$port/mcp" 30
}
server hr "$hr_port" --jwks "$warden/oauth/jwks" --issuer "$warden" --audience https://hr.internal
server research "$research_port" --jwks "$warden/oauth/jwks" --issuer "$warden" --audience https://research-agent.internal
server partner "$partner_port" --api-key-header x-api-key --api-key-env PARTNER_KEY
server partner-as "$partner_as_port" --jwks "$issuer/jwks" --issuer "$issuer" --audience "$partner_as_url"
server partner-jag "$jag_port" --jwks "$issuer/jwks" --issuer "$issuer" --audience "$jag_url"

# examples/delegation/warden.yaml plus an `externalExchange` backend at the provider.
cp "$repo_root/examples/delegation/warden.yaml" "$work/warden.yaml"
cat >>"$work/warden.yaml" <<YAML
  - name: partner-as
    path: /partner-as
    auth: *auth
    backends:
      - name: partner
        url: "$partner_as_url"
        credential:
          externalExchange:
            tokenEndpoint: "$issuer/token"
            clientId: warden
            clientAuth: {privateKeyJwt: {keyFile: "$work/warden-client.pem", algorithm: ES256}}
            resource: "$partner_as_url"
            scopes: [mcp:read]
  - name: partner-jag
    path: /partner-jag
    auth: *auth
    backends:
      - name: partner
        url: "$jag_url"
        credential:
          idJag:
            authorizationServer: "$issuer"
            tokenEndpoint: "$issuer/token"
            clientId: warden
            clientAuth: {privateKeyJwt: {keyFile: "$work/warden-client.pem", algorithm: ES256}}
            resource: "$jag_url"
            scopes: [mcp:read]
YAML

WARDEN_LISTEN="127.0.0.1:$listen_port" WARDEN_ADMIN="127.0.0.1:$admin_port" OIDC_ISSUER="$issuer" \
  HR_MCP_URL="http://127.0.0.1:$hr_port/mcp" RESEARCH_MCP_URL="http://127.0.0.1:$research_port/mcp" \
  PARTNER_API_URL="http://127.0.0.1:$partner_port/mcp" PARTNER_API_KEY="$partner_key" \
  WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" NO_COLOR=1 WARDEN_LOG="${WARDEN_LOG:-info}" \
  "$target/warden" serve -c "$work/warden.yaml" >"$work/warden.out" 2>"$work/warden.err" & pids+=($!)
warden_pid=$!
ready=""
for _ in $(seq 1 300); do
  kill -0 "$warden_pid" 2>/dev/null || break
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin_port/readyz" || true)" == 200 ]] && { ready=1; break; }
  sleep 0.1
done
[[ -n "$ready" ]] || { echo "error: Warden not ready" >&2; tail -n 30 "$work/warden.err" >&2; exit 1; }
echo "# warden at $warden; issuer $issuer"

# call PATH TOKEN OUT: a modern tools/call of `whoami`; writes {"status", "text", "raw"} to OUT.
cat >"$work/call.py" <<'PY'
import json, sys, urllib.request, urllib.error
url, token, out = sys.argv[1:4]
params = {"name": "whoami", "arguments": {}, "_meta": {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "e2e-delegation.sh", "version": "1"}}}
headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "whoami"}
if token:
    headers["authorization"] = "Bearer " + token
req = urllib.request.Request(url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode(),
                             headers=headers, method="POST")
try:
    resp = urllib.request.urlopen(req, timeout=30)
except urllib.error.HTTPError as e:
    resp = e
body = resp.read().decode()
msg = None
if "text/event-stream" in (resp.headers.get("content-type") or ""):
    for ev in body.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(l[5:].lstrip() for l in ev.split("\n") if l.startswith("data:"))
        if data and json.loads(data).get("id") == 1:
            msg = json.loads(data)
else:
    msg = json.loads(body) if body else None
text = None
try:
    text = json.loads(msg["result"]["content"][0]["text"])
except Exception:
    pass
json.dump({"status": resp.status, "text": text, "raw": body[:2000]}, open(out, "w"))
PY
call() { python3 "$work/call.py" "$warden$1" "$2" "$3"; }
token_for() { # PATH SCOPE: a client_credentials token for agent-1 with aud = Warden's PATH
  curl -s -u agent-1:agent-1-secret -d grant_type=client_credentials -d "scope=$2" \
    --data-urlencode "resource=$warden$1" "$issuer/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("access_token", ""))'
}
check() { # DESCRIPTION FILE PYTHON_EXPR
  if python3 -c 'import json,os,sys; r=json.load(open(sys.argv[1])); t=r["text"] or {}; sys.exit(0 if eval(sys.argv[2]) else 1)' "$2" "$3" 2>/dev/null; then
    ok "$1"
  else
    not_ok "$1" "$(head -c 1200 "$2")"
  fi
}

# 1. Agent → internal MCP server: a Warden token for https://hr.internal only.
hr_token=$(token_for /hr "mcp:tools mcp:read")
[[ -n "$hr_token" ]] && ok "oidc-provider issued the agent's front-door token" || not_ok "front-door token"
call /hr "$hr_token" "$work/hr.json"
W="$warden" check "pattern 1: the HR server verified a Warden token (JWKS, iss) for its audience only" "$work/hr.json" \
  't.get("aud") == "https://hr.internal" and t.get("iss") == os.environ["W"] and t.get("typ") == "at+jwt"'
W="$warden" check "pattern 1: sub is the caller, scope narrowed to mcp:tools, short-lived" "$work/hr.json" \
  't.get("sub") == "agent-1" and t.get("scope") == "mcp:tools" and t["exp"] - t["iat"] <= 300'
T="$hr_token" check "pattern 1: the caller's own token never reached the server" "$work/hr.json" \
  'os.environ["T"] not in json.dumps(r) and t.get("sub")'
# 1 (user). alice signs in through the agent hr-assistant with the TypeScript MCP SDK (it does
# the OAuth: 401, discovery, authorization code + PKCE, resource = $warden/hr; the scripted
# browser fills in the provider's forms) and calls `whoami`. The HR server must see alice as
# `sub` and the agent (her front-door token's client) as `act.sub`.
cat >"$work/alice-plan.json" <<EOF
{"user": "alice", "clientId": "$agent", "redirectUri": "$redirect", "label": "delegation-ts", "steps": [
  {"call": "whoami", "expect": "allow", "text": "\"sub\"", "save": "$work/alice-whoami.txt"}
]}
EOF
rc=0; timeout 120 "$PEERS_NODE22" "$repo_root/scripts/peers/ts_policy_client.mjs" "$warden/hr" "$work/alice-plan.json" \
  "$work/alice-tokens.json" >"$work/ts-alice.out" 2>"$work/ts-alice.out.err" || rc=$?
tally "ts client (alice via $agent)" "$rc" "$work/ts-alice.out"
# Into call.py's shape for `check`, plus alice's front-door token and its claims.
python3 - "$work/alice-whoami.txt" "$work/alice-tokens.json" "$work/alice.json" <<'PY'
import base64, json, os, sys
raw = open(sys.argv[1]).read() if os.path.exists(sys.argv[1]) else ""
try:
    text = json.loads(raw)
except ValueError:
    text = None
try:
    fd = json.load(open(sys.argv[2])).get("initial") or ""
except (OSError, ValueError):
    fd = ""
try:
    fd_claims = json.loads(base64.urlsafe_b64decode(fd.split(".")[1] + "=="))
except (IndexError, ValueError):
    fd_claims = {}
json.dump({"status": None, "text": text, "raw": raw, "front_door": fd, "front_door_claims": fd_claims},
          open(sys.argv[3], "w"))
PY
A="$agent" W="$warden" check "pattern 1 (user via agent): the HR server verified a Warden token for https://hr.internal only with sub = alice, act.sub = $agent" "$work/alice.json" \
  't.get("sub") == "alice" and t.get("act", {}).get("sub") == os.environ["A"] and t.get("aud") == "https://hr.internal" and t.get("iss") == os.environ["W"] and t.get("typ") == "at+jwt"'
check "pattern 1 (user via agent): scope ⊆ mcp:tools (the configured scopes), short-lived" "$work/alice.json" \
  't.get("scope") and set(t["scope"].split()) <= {"mcp:tools"} and t["exp"] - t["iat"] <= 300'
I="$issuer" A="$agent" W="$warden" check "pattern 1 (user via agent): alice's front-door token (oidc-provider's, client_id $agent, aud $warden/hr) never reached the server" "$work/alice.json" \
  'r["front_door_claims"].get("sub") == "alice" and r["front_door_claims"].get("client_id") == os.environ["A"] and r["front_door_claims"].get("iss") == os.environ["I"] and r["front_door_claims"].get("aud") == os.environ["W"] + "/hr" and r["front_door"] not in r["raw"] and r["front_door"].split(".")[2] not in r["raw"] and t.get("iss") != os.environ["I"] and t.get("jti") != r["front_door_claims"].get("jti")'
# 2. Agent → another agent's tools: down-scoped to mcp:read.
ag_token=$(token_for /agents "mcp:tools mcp:read")
call /agents "$ag_token" "$work/agents.json"
W="$warden" check "pattern 2: the research agent got a token for its audience, scope down to mcp:read, ≤ 2 min" "$work/agents.json" \
  't.get("aud") == "https://research-agent.internal" and t.get("scope") == "mcp:read" and t["exp"] - t["iat"] <= 120 and t.get("iss") == os.environ["W"]'
# 3. → external API with a key the agent never saw.
pa_token=$(token_for /partner "mcp:tools")
call /partner "$pa_token" "$work/partner.json"
check "pattern 3: the external API received the injected key and no Authorization" "$work/partner.json" \
  't.get("api_key") == "ok" and t.get("authorization") is False'
K="$partner_key" check "pattern 3: the key never appears in what the agent receives" "$work/partner.json" \
  'os.environ["K"] not in r["raw"]'
# externalExchange at oidc-provider: RFC 8693 with a Warden subject token, private_key_jwt.
ex_token=$(token_for /partner-as "mcp:tools mcp:read")
call /partner-as "$ex_token" "$work/partner-as.json"
I="$issuer" U="$partner_as_url" check "externalExchange: the backend verified oidc-provider's token (its JWKS, aud = the resource) for the caller, obtained by Warden with private_key_jwt" "$work/partner-as.json" \
  't.get("iss") == os.environ["I"] and t.get("aud") == os.environ["U"] and t.get("sub") == "agent-1" and t.get("act", {}).get("sub") == "warden" and t.get("scope") == "mcp:read"'
if grep -q "token-exchange: warden for agent-1" "$work/oidc.log"; then ok "externalExchange: oidc-provider ran its token-exchange grant for Warden"; else not_ok "externalExchange: oidc-provider ran its token-exchange grant" "$(tail -n 20 "$work/oidc.log")"; fi
# idJag at oidc-provider: Warden signs an ID-JAG, redeemed with the JWT-bearer grant.
jag_token=$(token_for /partner-jag "mcp:tools")
call /partner-jag "$jag_token" "$work/partner-jag.json"
I="$issuer" U="$jag_url" check "idJag: the backend verified oidc-provider's token for the caller, from an ID-JAG Warden signed (JWT-bearer grant, private_key_jwt)" "$work/partner-jag.json" \
  't.get("iss") == os.environ["I"] and t.get("aud") == os.environ["U"] and t.get("sub") == "agent-1" and t.get("scope") == "mcp:read"'
if grep -q "id-jag: warden for agent-1" "$work/oidc.log"; then ok "idJag: oidc-provider verified the ID-JAG (typ, aud, client_id) with Warden's JWKS"; else not_ok "idJag: oidc-provider verified the ID-JAG" "$(tail -n 20 "$work/oidc.log")"; fi
# Negative control: the same API without Warden refuses the agent.
python3 "$work/call.py" "http://127.0.0.1:$partner_port/mcp" "$pa_token" "$work/direct.json" || true
check "control: calling the external API directly (no key) is refused by it" "$work/direct.json" \
  '"error" in t'
# Negative control: the HR server refuses the agent's own token (wrong audience, issuer).
python3 "$work/call.py" "http://127.0.0.1:$hr_port/mcp" "$hr_token" "$work/hr-direct.json" || true
check "control: the HR server refuses the agent's own token sent directly" "$work/hr-direct.json" \
  '"invalid token" in t.get("error", "")'

echo "e2e-delegation: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
