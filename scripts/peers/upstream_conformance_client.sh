#!/usr/bin/env bash
# The client command given to `conformance client --command …` by scripts/e2e-upstream-oauth.sh:
# runs Warden's upstream OAuth client (the ignored test `conformance_client` of
# crates/warden/tests/upstream_oauth.rs, prebuilt; its path in $UPSTREAM_OAUTH_TEST_BIN) against
# the scenario's server URL, which the suite appends as the last argument.
set -euo pipefail
[[ -x "${UPSTREAM_OAUTH_TEST_BIN:-}" ]] || { echo "UPSTREAM_OAUTH_TEST_BIN is not set" >&2; exit 2; }
export UPSTREAM_CONFORMANCE_URL="${*: -1}"
exec "$UPSTREAM_OAUTH_TEST_BIN" --ignored --exact conformance_client --nocapture
