#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run) and as the README's quick start says:
#
#   scripts/test.sh
#
# 1. installs the real peers (Node 22, MCP conformance suite, Inspector, SDKs, PyPI mcp)
#    with scripts/install-peers.sh, and Redis (Debian redis-server) with scripts/install-redis.sh
#    (both idempotent; they skip what is installed);
# 2. checks formatting and lints (cargo fmt --check, clippy -D warnings);
# 3. builds the workspace once (debug) and runs every unit, property and integration test;
# 4. runs the MCP conformance suite directly and through Warden, both eras, and fails if
#    any scenario passing directly fails through Warden;
# 5. runs the multiplexing end-to-end suite (three real servers + stdio, Inspector CLI,
#    TypeScript and Python SDK clients);
# 6. runs the OAuth end-to-end suite (oidc-provider, TypeScript SDK client, DPoP);
# 7. runs the policy end-to-end suite (examples/policy-hr: Cedar, step-up, audit trail);
# 8. runs the token-service suites: RFC 8693 exchange (authlib), the development IdP
#    (warden serve with no config, SDK OAuth), the upstream OAuth client, delegation.
# Ends with one line `suite: N passed, M failed` (N counts tests, scenarios and checks).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT
passed=0 failed=0 status=0

step() { printf '\n==> %s\n' "$1" >&2; }

# count FILE PATTERN: adds "N passed, M failed"-style counts found in FILE.
add_counts() {
  local p f
  p=$(grep -hoE "[0-9]+ passed" "$1" | awk '{s+=$1} END {print s+0}')
  f=$(grep -hoE "[0-9]+ failed" "$1" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p)) failed=$((failed + f))
}

step "installing test peers (scripts/install-peers.sh, scripts/install-redis.sh)"
scripts/install-peers.sh
scripts/install-redis.sh

step "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --all-targets --locked

step "unit, property and integration tests (cargo test)"
if cargo test --workspace --locked 2>&1 | tee "$log_dir/cargo-test.txt"; then :; else status=1; fi
grep -E "^test result:" "$log_dir/cargo-test.txt" > "$log_dir/cargo-results.txt" || true
add_counts "$log_dir/cargo-results.txt"

step "MCP conformance suite, directly and through Warden (both eras)"
if scripts/conformance-through-warden.sh 2>&1 | tee "$log_dir/conformance.txt"; then :; else status=1; fi
grep -E "^conformance-through-warden:" "$log_dir/conformance.txt" > "$log_dir/conf-results.txt" || echo "0 passed, 1 failed" > "$log_dir/conf-results.txt"
add_counts "$log_dir/conf-results.txt"

step "multiplexing end to end with real servers and SDK clients"
if scripts/e2e-multiplex.sh 2>&1 | tee "$log_dir/e2e.txt"; then :; else status=1; fi
grep -E "^e2e-multiplex:" "$log_dir/e2e.txt" > "$log_dir/e2e-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-results.txt"
add_counts "$log_dir/e2e-results.txt"

step "OAuth end to end: real OpenID provider, TypeScript SDK client, both eras and DPoP"
if scripts/e2e-oauth.sh 2>&1 | tee "$log_dir/e2e-oauth.txt"; then :; else status=1; fi
grep -E "^e2e-oauth:" "$log_dir/e2e-oauth.txt" > "$log_dir/e2e-oauth-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-oauth-results.txt"
add_counts "$log_dir/e2e-oauth-results.txt"

step "Policy end to end: HR example, Cedar policies, step-up and audit with real OAuth and SDK clients"
if scripts/e2e-policy.sh 2>&1 | tee "$log_dir/e2e-policy.txt"; then :; else status=1; fi
grep -E "^e2e-policy:" "$log_dir/e2e-policy.txt" > "$log_dir/e2e-policy-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-policy-results.txt"
add_counts "$log_dir/e2e-policy-results.txt"

step "RFC 8693 token exchange with authlib and PyJWT against Warden's token service"
if scripts/e2e-exchange.sh 2>&1 | tee "$log_dir/e2e-exchange.txt"; then :; else status=1; fi
grep -E "^e2e-exchange:" "$log_dir/e2e-exchange.txt" > "$log_dir/e2e-exchange-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-exchange-results.txt"
add_counts "$log_dir/e2e-exchange-results.txt"

step "Embedded development IdP: warden serve with no config, TypeScript SDK OAuth (DCR and CIMD), Inspector CLI"
if scripts/e2e-devidp.sh 2>&1 | tee "$log_dir/e2e-devidp.txt"; then :; else status=1; fi
grep -E "^e2e-devidp:" "$log_dir/e2e-devidp.txt" > "$log_dir/e2e-devidp-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-devidp-results.txt"
add_counts "$log_dir/e2e-devidp-results.txt"

step "Upstream OAuth client: oidc-provider as the upstream AS, consent, encrypted store, refresh"
if scripts/e2e-upstream-oauth.sh 2>&1 | tee "$log_dir/e2e-upstream-oauth.txt"; then :; else status=1; fi
grep -E "^e2e-upstream-oauth:" "$log_dir/e2e-upstream-oauth.txt" > "$log_dir/e2e-upstream-oauth-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-upstream-oauth-results.txt"
add_counts "$log_dir/e2e-upstream-oauth-results.txt"

step "Delegation: the call patterns with minted, exchanged and injected upstream credentials"
if scripts/e2e-delegation.sh 2>&1 | tee "$log_dir/e2e-delegation.txt"; then :; else status=1; fi
grep -E "^e2e-delegation:" "$log_dir/e2e-delegation.txt" > "$log_dir/e2e-delegation-results.txt" || echo "0 passed, 1 failed" > "$log_dir/e2e-delegation-results.txt"
add_counts "$log_dir/e2e-delegation-results.txt"

printf '\nsuite: %d passed, %d failed\n' "$passed" "$failed"
if [[ $status -ne 0 || $failed -ne 0 ]]; then exit 1; fi
