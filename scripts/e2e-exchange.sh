#!/usr/bin/env bash
# End-to-end proof of Warden's RFC 8693 token exchange against independent
# implementations: `warden serve` runs a token service (docs/token-exchange.md) whose
# subject issuer and `private_key_jwt` client keys scripts/peers/authlib_exchange.py makes;
# that script then exchanges tokens with PyPI `authlib` (client_secret_basic/post,
# RFC 7523 private_key_jwt), validates every issued token with PyPI `PyJWT` against the
# JWKS found through Warden's RFC 8414 metadata, and checks the RFC 8693 §2.2.2 errors.
#
#   scripts/e2e-exchange.sh
#
# Needs scripts/install-peers.sh to have run (authlib and PyJWT in its venv; E2E_PYTHON
# overrides the interpreter). Builds the debug binary with `cargo build -p warden-cli`
# (a no-op when fresh) unless TARGET_DIR points elsewhere or E2E_NO_BUILD=1; WARDEN_BIN
# overrides the binary. E2E_KEEP=1 keeps the work directory (logs).
# Prints `ok - …` / `not ok - …` per check, then `e2e-exchange: N passed, M failed`; exits
# non-zero on any failure.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${TARGET_DIR:-$repo_root/target/debug}"
if [[ -z "${E2E_PYTHON:-}" ]]; then
  peers_env="${PEERS_DIR:-$repo_root/.peers}/env.sh"
  [[ -f "$peers_env" ]] || { echo "error: $peers_env missing; run scripts/install-peers.sh" >&2; exit 2; }
  # shellcheck source=/dev/null
  source "$peers_env"
fi
python="${E2E_PYTHON:-${PEERS_PYTHON:-}}"
"$python" -c 'import authlib, jwt, requests' 2>/dev/null ||
  { echo "error: authlib/PyJWT missing from $python; run scripts/install-peers.sh" >&2; exit 2; }
if [[ -z "${TARGET_DIR:-}" && -z "${WARDEN_BIN:-}" && "${E2E_NO_BUILD:-}" != 1 ]]; then
  (cd "$repo_root" && cargo build --quiet -p warden-cli) >&2
fi
warden="${WARDEN_BIN:-$target/warden}"
[[ -x "$warden" ]] || { echo "error: $warden missing; cargo build -p warden-cli" >&2; exit 2; }
# shellcheck source=lib/e2e.sh
source "$repo_root/scripts/lib/e2e.sh"

# --- keys, config, Warden ------------------------------------------------------------------
"$python" "$repo_root/scripts/peers/authlib_exchange.py" keys "$work/keys"
listen_port=$(free_port) admin_port=$(free_port)
base="http://127.0.0.1:$listen_port"
secret_hash="sha256:$(printf '%s' e2e-secret | sha256sum | cut -d' ' -f1)"
scopes="[hr.read, hr.write, mail.send]"
cat >"$work/warden.yaml" <<YAML
listeners: [{name: main, address: "127.0.0.1:$listen_port"}]
admin: {address: "127.0.0.1:$admin_port"}
virtualServers:
  - {name: main, path: /mcp, backends: [{name: clock, builtin: clock}]}
tokenService:
  issuer: $base
  tokenLifetime: 5m
  subjectIssuers: [{issuer: "https://idp.e2e.test", jwksFile: "$work/keys/idp-jwks.json"}]
  clients:
    - {id: secret-agent, secretHash: "$secret_hash", audiences: [https://hr.example, https://mail.example], scopes: $scopes}
    - {id: pk-agent, jwksFile: "$work/keys/client-jwks.json", audiences: [https://hr.example, https://mail.example], scopes: $scopes}
    - {id: impersonator, secretHash: "$secret_hash", mayImpersonate: true, audiences: [https://hr.example], scopes: $scopes}
    - {id: lonely, secretHash: "$secret_hash"}
YAML
WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" NO_COLOR=1 WARDEN_LOG="${WARDEN_LOG:-info,warden::token=debug}" \
  "$warden" serve -c "$work/warden.yaml" >"$work/warden.out" 2>"$work/warden.err" & pids+=($!)
warden_pid=$!
wait_http "$warden_pid" "http://127.0.0.1:$admin_port/readyz" 30 ||
  { tail -n 30 "$work/warden.err" "$work/warden.out" >&2; exit 1; }
echo "# warden token service at $base"

# --- the independent client and validator ----------------------------------------------------
rc=0
"$python" "$repo_root/scripts/peers/authlib_exchange.py" run "$base" "$work/keys" >"$work/authlib.out" 2>"$work/authlib.out.err" || rc=$?
tally authlib_exchange.py "$rc" "$work/authlib.out"

# --- from the log: no token or secret was logged -----------------------------------------------
if grep -q 'eyJ' "$work/warden.out" "$work/warden.err"; then
  not_ok "Warden's log holds no JWT" "$(grep -m 3 'eyJ' "$work/warden.out" "$work/warden.err")"
else
  ok "Warden's log holds no JWT"
fi
if grep -q 'token exchange refused' "$work/warden.out" "$work/warden.err"; then
  ok "refusals are logged with their reason"
else
  not_ok "refusals are logged with their reason" "$(tail -n 5 "$work/warden.err")"
fi

echo "e2e-exchange: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
