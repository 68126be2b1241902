#!/usr/bin/env bash
# Load harness: `tools/call echo` against mcp-conformance-server directly and
# through Warden (bench/warden-bench.yaml), in the same run, in both protocol
# eras, at 1 and 32 connections; through Warden also with a JWT, with JWT +
# policy, and with JWT + an `exchange` upstream credential. Prints a markdown
# table and writes it to bench/results/latest.md. See bench/README.md.
#
#   bench/run.sh                     # ~2 minutes after the release build
#   BENCH_DURATION=5 bench/run.sh    # shorter runs
#   BENCH_PROFILE=1 bench/run.sh     # also perf-profile Warden (legacy, 32 conns)
#
# Environment:
#   BENCH_DURATION     seconds per measured run (default 10)
#   BENCH_WARMUP       seconds of discarded load before each run (default 1)
#   BENCH_CONNECTIONS  connection counts (default "1 32")
#   BENCH_NO_BUILD=1   use the release binaries as they are
#   BENCH_PROFILE=1    record a perf profile of Warden, top symbols to bench/results/profile.txt
#   BENCH_OUT          where to write the table (default bench/results/latest.md)
#   CARGO_TARGET_DIR   where the release binaries are (default ./target)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${BENCH_DURATION:-10}"
warmup="${BENCH_WARMUP:-1}"
connections="${BENCH_CONNECTIONS:-1 32}"
out="${BENCH_OUT:-$repo_root/bench/results/latest.md}"
bin="${CARGO_TARGET_DIR:-$repo_root/target}/release"
clk_tck="$(getconf CLK_TCK)"

command -v wrk >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 || "$repo_root/scripts/install-bench-tools.sh"
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  (cd "$repo_root" && cargo build --release -p warden-cli -p mcp-conformance-server \
    && cargo build --release -p test-support --bin bench-token)
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- start the backend and Warden -------------------------------------------
"$bin/mcp-conformance-server" --listen 127.0.0.1:0 > "$work/backend.out" 2> "$work/backend.err" &
backend_pid=$!; pids+=("$backend_pid")
backend_url=""
for _ in $(seq 1 100); do
  backend_url="$(sed -n 's/^listening on //p' "$work/backend.out")"
  [[ -n "$backend_url" ]] && break
  kill -0 "$backend_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$backend_url" ]] || { echo "error: mcp-conformance-server did not start" >&2; cat "$work/backend.err" >&2; exit 1; }

listen_port="$(free_port)"; admin_port="$(free_port)"
# Authentication on: a key for /mcp-auth and a token for it (same run, same backend).
auth_url="http://127.0.0.1:$listen_port/mcp-auth"
bench_token="$("$bin/bench-token" "$work/jwks.json" https://bench.warden.invalid "$auth_url" mcp:tools)"
# Policy on: the same authentication plus Cedar and an audit record per call.
# (bench-token writes a fresh key to the JWKS file on each run, so /mcp-policy accepts the
# /mcp-auth token: its `audiences` is set from BENCH_AUTH_AUDIENCE.)
policy_url="http://127.0.0.1:$listen_port/mcp-policy"
policy_token="$bench_token"
# Upstream credential on: the same authentication, and the backend gets a token minted by
# Warden's token service (`credential: {exchange: {}}`, cached per principal).
exchange_url="http://127.0.0.1:$listen_port/mcp-exchange"
# The access log (one JSON line per request on stdout) goes to a file, as in production.
MCP_A_URL="$backend_url" WARDEN_LISTEN="127.0.0.1:$listen_port" WARDEN_ADMIN="127.0.0.1:$admin_port" \
  WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" BENCH_JWKS_FILE="$work/jwks.json" \
  BENCH_AUDIT_FILE="$work/audit.jsonl" BENCH_AUTH_AUDIENCE="$auth_url" "$bin/warden" serve -c "$repo_root/bench/warden-bench.yaml" > "$work/warden.out" 2> "$work/warden.err" &
warden_pid=$!; pids+=("$warden_pid")
warden_url="http://127.0.0.1:$listen_port/mcp"
ready=0
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/readyz" 2>/dev/null && { ready=1; break; }
  kill -0 "$warden_pid" 2>/dev/null || break
  sleep 0.1
done
[[ "$ready" == 1 ]] || { echo "error: warden did not become ready" >&2; cat "$work/warden.err" >&2; exit 1; }

# --- the messages --------------------------------------------------------------
legacy_version="2025-11-25"
modern_version="2026-07-28"
init_body='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'"$legacy_version"'","capabilities":{},"clientInfo":{"name":"warden-bench","version":"0"}}}'
initialized_body='{"jsonrpc":"2.0","method":"notifications/initialized"}'
legacy_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'
modern_body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"'"$modern_version"'","io.modelcontextprotocol/clientCapabilities":{}}}}'

post() { # URL BODY [HEADER...]: one POST, body on stdout, headers in $work/headers
  local url="$1" body="$2"; shift 2
  local args=(-sS --max-time 5 -D "$work/headers" -H 'Content-Type: application/json'
    -H 'Accept: application/json, text/event-stream')
  local h; for h in "$@"; do args+=(-H "$h"); done
  curl "${args[@]}" --data-binary "$body" "$url"
}

open_session() { # URL: initialize + notifications/initialized, prints the session id
  local url="$1" sid
  post "$url" "$init_body" > "$work/init.out"
  sid="$(tr -d '\r' < "$work/headers" | awk 'tolower($1)=="mcp-session-id:"{print $2}')"
  [[ -n "$sid" ]] || { echo "error: no Mcp-Session-Id from $url" >&2; cat "$work/init.out" >&2; return 1; }
  post "$url" "$initialized_body" "Mcp-Session-Id: $sid" "MCP-Protocol-Version: $legacy_version" > /dev/null
  echo "$sid"
}

open_auth_session() { # URL TOKEN WHAT: open_session with a Bearer token, then check echo; prints the session id
  local url="$1" header="Authorization: Bearer $2" what="$3" sid
  post "$url" "$init_body" "$header" > "$work/init.out"
  sid="$(tr -d '\r' < "$work/headers" | awk 'tolower($1)=="mcp-session-id:"{print $2}')"
  [[ -n "$sid" ]] || { echo "error: no session from $url" >&2; cat "$work/init.out" >&2; return 1; }
  post "$url" "$initialized_body" "Mcp-Session-Id: $sid" "MCP-Protocol-Version: $legacy_version" "$header" > /dev/null
  echo_works "$url" "$legacy_body" "Mcp-Session-Id: $sid" "MCP-Protocol-Version: $legacy_version" "$header" \
    || { echo "error: legacy echo fails through Warden with $what" >&2; return 1; }
  echo "$sid"
}

echo_works() { # URL BODY [HEADER...]: the echo call answers "hello" without an error
  local reply; reply="$(post "$@" || true)"
  [[ "$reply" == *'"text":"hello"'* && "$reply" != *'"error"'* ]]
}

cpu_ticks() { # PID: utime+stime of the whole process, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

rows="$work/rows.tsv"
: > "$rows"

measure() { # ERA TARGET URL CONNS [VAR=VALUE...]: one wrk run; appends a row to $rows
  local era="$1" target="$2" url="$3" conns="$4"; shift 4
  env "$@" wrk -t1 -c"$conns" -d"${warmup}s" -s "$repo_root/bench/post.lua" "$url" > /dev/null
  local w0 b0 w1 b1
  w0="$(cpu_ticks "$warden_pid")"; b0="$(cpu_ticks "$backend_pid")"
  env "$@" wrk -t1 -c"$conns" -d"${duration}s" -s "$repo_root/bench/post.lua" "$url" > "$work/wrk.out"
  w1="$(cpu_ticks "$warden_pid")"; b1="$(cpu_ticks "$backend_pid")"
  local line; line="$(grep '^BENCH_RESULT' "$work/wrk.out")" || { cat "$work/wrk.out" >&2; return 1; }
  awk -v era="$era" -v target="$target" -v conns="$conns" -v line="$line" -v tck="$clk_tck" \
    -v wd=$((w1 - w0)) -v bd=$((b1 - b0)) 'BEGIN {
      n = split(line, kv, " "); for (i = 2; i <= n; i++) { split(kv[i], p, "="); r[p[1]] = p[2] }
      req = r["requests"]; rps = req / (r["duration_us"] / 1e6)
      wcpu = (target ~ /^warden/ && req > 0) ? sprintf("%.1f", wd * 1e6 / tck / req) : "-"
      bcpu = req > 0 ? sprintf("%.1f", bd * 1e6 / tck / req) : "-"
      printf "%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%s\t%s\t%d\n", era, conns, target, rps, r["p50_us"], r["p90_us"],
        r["p99_us"], wcpu, bcpu, r["socket_errors"] + r["non2xx"]
    }' >> "$rows"
  tail -n 1 "$rows" | awk -F'\t' '{ printf "  %-6s c=%-3s %-15s %8s req/s  p50 %5s us  p99 %6s us  warden %s CPU-us/req  errors %s\n",
    $1, $2, $3, $4, $5, $7, $8, $10 }'
}

# --- legacy era: a session each, directly and through Warden -----------------
direct_sid="$(open_session "$backend_url")"
warden_sid="$(open_session "$warden_url")"
echo_works "$backend_url" "$legacy_body" "Mcp-Session-Id: $direct_sid" "MCP-Protocol-Version: $legacy_version" \
  || { echo "error: legacy echo fails directly" >&2; exit 1; }
echo_works "$warden_url" "$legacy_body" "Mcp-Session-Id: $warden_sid" "MCP-Protocol-Version: $legacy_version" \
  || { echo "error: legacy echo fails through Warden" >&2; exit 1; }

auth_sid="$(open_auth_session "$auth_url" "$bench_token" authentication)"
[[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "$legacy_body" "$auth_url")" == 401 ]] \
  || { echo "error: $auth_url answers without a token" >&2; exit 1; }

policy_sid="$(open_auth_session "$policy_url" "$policy_token" policy)"
exchange_sid="$(open_auth_session "$exchange_url" "$bench_token" "an exchange credential")"

modern_headers=("MCP-Protocol-Version: $modern_version" "Mcp-Method: tools/call" "Mcp-Name: echo")
modern=0
if echo_works "$backend_url" "$modern_body" "${modern_headers[@]}"; then
  echo_works "$warden_url" "$modern_body" "${modern_headers[@]}" \
    || { echo "error: modern echo works directly but fails through Warden" >&2; exit 1; }
  echo_works "$exchange_url" "$modern_body" "${modern_headers[@]}" "Authorization: Bearer $bench_token" \
    || { echo "error: modern echo fails through Warden with an exchange credential" >&2; exit 1; }
  modern=1
else
  echo "note: the backend does not answer $modern_version requests; modern era skipped" >&2
fi

echo "Measuring ${duration}s per run (after ${warmup}s warm-up): backend $backend_url, Warden $warden_url"
for c in $connections; do
  measure legacy direct "$backend_url" "$c" BENCH_BODY="$legacy_body" BENCH_SESSION="$direct_sid" \
    BENCH_PROTOCOL_VERSION="$legacy_version"
  measure legacy warden "$warden_url" "$c" BENCH_BODY="$legacy_body" BENCH_SESSION="$warden_sid" \
    BENCH_PROTOCOL_VERSION="$legacy_version"
  measure legacy warden+jwt "$auth_url" "$c" BENCH_BODY="$legacy_body" BENCH_SESSION="$auth_sid" \
    BENCH_PROTOCOL_VERSION="$legacy_version" BENCH_AUTHORIZATION="Bearer $bench_token"
  measure legacy warden+policy "$policy_url" "$c" BENCH_BODY="$legacy_body" BENCH_SESSION="$policy_sid" \
    BENCH_PROTOCOL_VERSION="$legacy_version" BENCH_AUTHORIZATION="Bearer $policy_token"
  measure legacy warden+exchange "$exchange_url" "$c" BENCH_BODY="$legacy_body" BENCH_SESSION="$exchange_sid" \
    BENCH_PROTOCOL_VERSION="$legacy_version" BENCH_AUTHORIZATION="Bearer $bench_token"
  if [[ "$modern" == 1 ]]; then
    for target in direct warden; do
      url="$backend_url"; [[ "$target" == warden ]] && url="$warden_url"
      measure modern "$target" "$url" "$c" BENCH_BODY="$modern_body" BENCH_PROTOCOL_VERSION="$modern_version" \
        BENCH_MCP_METHOD=tools/call BENCH_MCP_NAME=echo
    done
    measure modern warden+jwt "$auth_url" "$c" BENCH_BODY="$modern_body" BENCH_PROTOCOL_VERSION="$modern_version" \
      BENCH_MCP_METHOD=tools/call BENCH_MCP_NAME=echo BENCH_AUTHORIZATION="Bearer $bench_token"
    measure modern warden+policy "$policy_url" "$c" BENCH_BODY="$modern_body" \
      BENCH_PROTOCOL_VERSION="$modern_version" BENCH_MCP_METHOD=tools/call BENCH_MCP_NAME=echo \
      BENCH_AUTHORIZATION="Bearer $policy_token"
    measure modern warden+exchange "$exchange_url" "$c" BENCH_BODY="$modern_body" \
      BENCH_PROTOCOL_VERSION="$modern_version" BENCH_MCP_METHOD=tools/call BENCH_MCP_NAME=echo \
      BENCH_AUTHORIZATION="Bearer $bench_token"
  fi
done

# --- optional profile ----------------------------------------------------------
profile_note=""
if [[ "${BENCH_PROFILE:-0}" == 1 ]]; then
  command -v perf >/dev/null 2>&1 || { echo "error: BENCH_PROFILE=1 needs perf (linux-perf)" >&2; exit 1; }
  last_c="${connections##* }"
  echo "Profiling Warden (legacy, c=$last_c, ${duration}s) with perf"
  env BENCH_BODY="$legacy_body" BENCH_SESSION="$warden_sid" BENCH_PROTOCOL_VERSION="$legacy_version" \
    wrk -t1 -c"$last_c" -d"$((duration + 2))s" -s "$repo_root/bench/post.lua" "$warden_url" > /dev/null &
  wrk_pid=$!; pids+=("$wrk_pid")
  perf record -q -F 499 --call-graph dwarf,16384 -o "$work/perf.data" -p "$warden_pid" -- sleep "$duration" \
    2> "$work/perf.err" || true
  wait "$wrk_pid" || true
  squeeze() { grep '%' | sed -e 's/  */ /g' -e 's/ - - *$//' | cut -c1-160 || true; }
  perf_top() { # OUTFILE ARGS...: one perf report view, squeezed
    local f="$1"; shift
    perf report -i "$work/perf.data" --stdio -g none "$@" 2> /dev/null | squeeze > "$f"
  }
  perf_top "$work/dso.txt" --no-children --sort dso
  perf_top "$work/self.txt" --no-children --sort dso,symbol
  perf_top "$work/incl.txt" --children --sort symbol
  {
    echo "# perf profile of warden: legacy tools/call echo, $last_c connections, ${duration}s"
    echo; echo "## Self time by shared object"; sed -n 1,8p "$work/dso.txt"
    echo; echo "## Top self-time symbols"; sed -n 1,25p "$work/self.txt"
    echo; echo "## Inclusive time of system calls (children included; writev: client and backend sockets, write: access log)"
    grep -E '\] (__GI___writev|__GI___libc_write|__libc_recv|epoll_wait)$' "$work/incl.txt" || true
    echo; echo "## Inclusive time of Warden's own functions (children included)"
    grep ' warden::' "$work/incl.txt" | grep -v 'listener::serve' | sed -n 1,30p || true
  } > "$repo_root/bench/results/profile.txt"
  profile_note="Profile (perf, legacy, $last_c connections): bench/results/profile.txt"
fi

# --- report ----------------------------------------------------------------------
report="$work/report.md"
{
  echo "# Warden load benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "$(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), wrk 1 thread," \
    "${duration}s per run after ${warmup}s warm-up. \`tools/call echo\` on mcp-conformance-server;" \
    "client, Warden and backend share the machine."
  echo
  echo "| era | conns | target | req/s | p50 µs | p90 µs | p99 µs | Warden CPU-µs/req | backend CPU-µs/req | errors |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$rows"
  echo
  echo "Gateway cost (through Warden vs direct, same run):"
  echo
  echo "| era | conns | added p50 µs | added p99 µs | req/s ratio | Warden CPU-µs/req |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F'\t' '$3 == "direct" { d[$1 FS $2] = $0 }
    $3 == "warden" { k = $1 FS $2; if (!(k in d)) next; split(d[k], x, FS)
      printf "| %s | %s | %+d | %+d | %.2f | %s |\n", $1, $2, $5 - x[5], $7 - x[7], $4 / x[4], $8 }' "$rows"
  echo
  awk -F'\t' '$3 == "direct" { d[$1 FS $2] = $5 }
    $3 == "warden" && $2 == 1 && ($1 FS $2) in d { a = $5 - d[$1 FS $2]
      printf "- %s: added p50 at 1 connection %d µs (goal < 100: %s)\n", $1, a, a < 100 ? "met" : "missed" }
    $3 == "warden" && $2 != 1 { printf "- %s: Warden CPU per tools/call at %s connections %s µs (goal < 30: %s)\n",
      $1, $2, $8, $8 + 0 < 30 ? "met" : "missed" }' "$rows"
  echo
  echo "Price of authentication (Warden with a Bearer JWT on every call vs Warden without, same run):"
  echo
  echo "| era | conns | req/s ratio (auth/off) | added p50 µs | Warden CPU-µs/req off → on |"
  echo "|---|---:|---:|---:|---|"
  awk -F'\t' '$3 == "warden" { w[$1 FS $2] = $0 }
    $3 == "warden+jwt" { k = $1 FS $2; if (!(k in w)) next; split(w[k], x, FS)
      printf "| %s | %s | %.2f | %+d | %s → %s |\n", $1, $2, $4 / x[4], $5 - x[5], x[8], $8 }' "$rows"
  echo
  echo "Price of policy (Cedar decision with a typed argument + an audit record per call, on top of the same JWT; same run):"
  echo
  echo "| era | conns | req/s ratio (policy/jwt only) | added p50 µs | Warden CPU-µs/req jwt → jwt+policy |"
  echo "|---|---:|---:|---:|---|"
  awk -F'\t' '$3 == "warden+jwt" { w[$1 FS $2] = $0 }
    $3 == "warden+policy" { k = $1 FS $2; if (!(k in w)) next; split(w[k], x, FS)
      printf "| %s | %s | %.2f | %+d | %s → %s |\n", $1, $2, $4 / x[4], $5 - x[5], x[8], $8 }' "$rows"
  echo
  echo "Price of an \`exchange\` upstream credential (the backend gets a token minted by Warden's token service," \
    "cached per principal, so a cache hit per call; on top of the same JWT; same run):"
  echo
  echo "| era | conns | req/s ratio (exchange/jwt only) | added p50 µs | Warden CPU-µs/req jwt → jwt+exchange |"
  echo "|---|---:|---:|---:|---|"
  awk -F'\t' '$3 == "warden+jwt" { w[$1 FS $2] = $0 }
    $3 == "warden+exchange" { k = $1 FS $2; if (!(k in w)) next; split(w[k], x, FS)
      printf "| %s | %s | %.2f | %+d | %s → %s |\n", $1, $2, $4 / x[4], $5 - x[5], x[8], $8 }' "$rows"
  # Little's law with p50 standing in for the mean: far fewer requests in
  # flight than connections means the server served some connections and left
  # the others waiting, so that row's latency and throughput are not comparable.
  awk -F'\t' '$2 > 1 && $4 * $5 / 1e6 < $2 / 4 {
      printf "- note: %s %s at %s connections kept only ~%.1f requests in flight: the server starved the other connections\n",
        $1, $3, $2, $4 * $5 / 1e6 }' "$rows"
  [[ -z "$profile_note" ]] || { echo; echo "$profile_note"; }
} > "$report"

mkdir -p "$(dirname "$out")"
cp "$report" "$out"
echo
cat "$report"
echo
echo "written to $out"
