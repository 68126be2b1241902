# Shared preamble of the end-to-end scripts that need the test OpenID provider
# (scripts/e2e-oauth.sh, scripts/e2e-policy.sh): finds the binaries ($target:
# TARGET_DIR or target/debug, built with cargo unless TARGET_DIR is set or
# E2E_NO_BUILD=1) and the peers (PEERS_DIR or .peers; needs
# scripts/install-peers.sh), then sources scripts/lib/e2e.sh. Source it after
# `set -euo pipefail` with $repo_root set; exits 2 when something is missing.

target="${TARGET_DIR:-$repo_root/target/debug}"
peers_env="${PEERS_DIR:-$repo_root/.peers}/env.sh"
[[ -f "$peers_env" ]] || { echo "error: $peers_env missing; run scripts/install-peers.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$peers_env"
[[ -n "${PEERS_OIDC_DIR:-}" && -d "$PEERS_OIDC_DIR/node_modules/oidc-provider" ]] ||
  { echo "error: oidc-provider missing from $PEERS_DIR; run scripts/install-peers.sh" >&2; exit 2; }
if [[ -z "${TARGET_DIR:-}" && "${E2E_NO_BUILD:-}" != 1 ]]; then
  (cd "$repo_root" && cargo build --quiet -p warden-cli -p mcp-conformance-server) >&2
fi
for bin in warden mcp-conformance-server; do
  [[ -x "$target/$bin" ]] || { echo "error: $target/$bin missing; cargo build -p warden-cli -p mcp-conformance-server" >&2; exit 2; }
done

# shellcheck source=e2e.sh
source "$repo_root/scripts/lib/e2e.sh"
