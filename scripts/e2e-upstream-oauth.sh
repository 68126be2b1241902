#!/usr/bin/env bash
# End to end for the `oauthClient` upstream credential: Warden as the OAuth client of an
# upstream MCP server that has its own authorization server (docs/upstream-oauth.md).
#
#   scripts/e2e-upstream-oauth.sh
#
# 1. cargo test -p warden --test upstream_oauth: oidc-provider as the upstream AS
#    (scripts/peers/oidc_provider.mjs --refresh-tokens), a Python SDK MCP server accepting only
#    its tokens (scripts/peers/upstream_mcp.py), the scripted browser, Warden in-process serving
#    the callback — consent URL, callback, the upstream seeing the user's upstream token,
#    encryption at rest, refresh with rotation, restart;
# 2. the MCP conformance suite's client-side auth scenarios (stable 0.1.16) with Warden's
#    upstream OAuth client as the client under test (scripts/peers/upstream_conformance_client.sh).
#    Scenarios that do not apply to a per-user authorization-code client are listed in
#    NOT_APPLICABLE below with the reason, and not run.
# Ends with `e2e-upstream-oauth: N passed, M failed`; exits non-zero on any failure.
# Needs scripts/install-peers.sh (PEERS_DIR or .peers). Uses CARGO_TARGET_DIR if set.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
peers_env="${PEERS_DIR:-$repo_root/.peers}/env.sh"
[[ -f "$peers_env" ]] || { echo "error: $peers_env missing; run scripts/install-peers.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$peers_env"
export PEERS_DIR

# Client auth scenarios of the suite that are run, and those that are not (why).
SCENARIOS=(
  auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3
  auth/basic-cimd
  auth/scope-from-www-authenticate auth/scope-from-scopes-supported auth/scope-omitted-when-undefined
  auth/scope-step-up auth/scope-retry-limit
  auth/token-endpoint-auth-basic auth/token-endpoint-auth-post auth/token-endpoint-auth-none
  auth/pre-registration auth/resource-mismatch
  auth/offline-access-scope auth/offline-access-not-supported
)
# shellcheck disable=SC2034 # documentation, printed below
NOT_APPLICABLE=(
  "auth/2025-03-26-oauth-metadata-backcompat: 2025-03-26 servers without RFC 9728 metadata are not supported (set authorizationServer)"
  "auth/2025-03-26-oauth-endpoint-fallback: same, and no AS metadata means no PKCE S256 advertised, which Warden refuses"
  "auth/client-credentials-basic, auth/client-credentials-jwt: machine-to-machine grants, not a per-user credential"
  "auth/cross-app-access-complete-flow: ID-JAG, the idJag credential's scenario"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); if [[ -n "${2:-}" ]]; then head -c 3000 "$2" | sed 's/^/#   /'; echo; fi; }

echo "# building the test binary" >&2
bin=$(cargo test -p warden --test upstream_oauth --no-run --message-format=json 2>"$work/build.err" |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "upstream_oauth" and m.get("executable"):
        print(m["executable"])') || true
if [[ -z "$bin" || ! -x "$bin" ]]; then
  cat "$work/build.err" >&2
  echo "e2e-upstream-oauth: 0 passed, 1 failed"
  exit 1
fi

# 1. The oidc-provider end to end.
if "$bin" --exact consent_once_then_tokens_per_user_encrypted_and_refreshed >"$work/it.txt" 2>&1 &&
  grep -q "test result: ok. 1 passed" "$work/it.txt"; then
  ok "oidc-provider upstream: consent URL, callback, user's upstream token at the upstream, encrypted store, refresh + rotation, restart"
else
  not_ok "oidc-provider upstream end to end" "$work/it.txt"
fi

# 2. Conformance client scenarios.
export UPSTREAM_OAUTH_TEST_BIN="$bin"
for s in "${SCENARIOS[@]}"; do
  out="$work/${s//\//_}.txt"
  if timeout 120 "$PEERS_NODE22" "$PEERS_CONFORMANCE_STABLE" client \
    --command "$repo_root/scripts/peers/upstream_conformance_client.sh" --scenario "$s" \
    -o "$work/conformance" >"$out" 2>&1 && grep -q "OVERALL: PASSED" "$out"; then
    ok "conformance $s ($(grep -oE 'Passed: [0-9]+/[0-9]+' "$out" | tail -1))"
  else
    sed -i 's/\x1b\[[0-9;]*m//g' "$out"
    grep -E "FAILURE|WARNING |Passed:" "$out" >"$out.short" || tail -n 30 "$out" >"$out.short"
    not_ok "conformance $s" "$out.short"
  fi
done
for n in "${NOT_APPLICABLE[@]}"; do echo "# not run: $n"; done

echo "e2e-upstream-oauth: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
