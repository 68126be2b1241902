#!/usr/bin/env bash
# End-to-end proof that one Warden virtual server multiplexes independent, real MCP
# servers: mcp-conformance-server (Rust, rmcp), scripts/peers/py_server.py (PyPI mcp)
# and npm server-everything over Streamable HTTP, plus py_server.py again over stdio
# (examples/e2e-three-servers.yaml). It drives Warden with the MCP Inspector CLI, the
# TypeScript SDK client (scripts/peers/ts_client.mjs) and the Python SDK client
# (scripts/peers/py_client.py, both protocol eras), then kills the `py` backend and checks
# that Warden degrades instead of failing. See docs/e2e.md.
#
#   scripts/e2e-multiplex.sh
#
# Needs scripts/install-peers.sh to have run and the debug binaries built
# (`cargo build -p warden-cli -p mcp-conformance-server`); TARGET_DIR overrides where they
# are, PEERS_DIR where the peers are, E2E_KEEP=1 keeps the work directory (logs).
# Prints `ok - …` / `not ok - …` per check, then `e2e-multiplex: N passed, M failed`;
# exits non-zero on any failure.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${TARGET_DIR:-$repo_root/target/debug}"
peers_env="${PEERS_DIR:-$repo_root/.peers}/env.sh"
[[ -f "$peers_env" ]] || { echo "error: $peers_env missing; run scripts/install-peers.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$peers_env"
for bin in warden mcp-conformance-server; do
  [[ -x "$target/$bin" ]] || { echo "error: $target/$bin missing; cargo build -p warden-cli -p mcp-conformance-server" >&2; exit 2; }
done
everything_js="$PEERS_DIR/mcp-node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
[[ -f "$everything_js" ]] || { echo "error: $everything_js missing; run scripts/install-peers.sh" >&2; exit 2; }

# shellcheck source=lib/e2e.sh
source "$repo_root/scripts/lib/e2e.sh"

# --- the three independent servers, and Warden in front of them ----------------------
rmcp_port=$(free_port) py_port=$(free_port) everything_port=$(free_port)
"$target/mcp-conformance-server" --listen "127.0.0.1:$rmcp_port" >"$work/rmcp.log" 2>&1 & pids+=($!)
rmcp_pid=$!
"$PEERS_PYTHON" "$repo_root/scripts/peers/py_server.py" --port "$py_port" >"$work/py.log" 2>&1 & pids+=($!)
py_pid=$!
PORT="$everything_port" "$PEERS_NODE22" "$everything_js" streamableHttp >"$work/everything.log" 2>&1 & pids+=($!)
everything_pid=$!
wait_log "$rmcp_pid" "$work/rmcp.log" "^listening on" 20
wait_http "$py_pid" "http://127.0.0.1:$py_port/mcp" 30
wait_http "$everything_pid" "http://127.0.0.1:$everything_port/mcp" 30

# Warden reads a private copy of the config: it reloads when the file is touched.
cp "$repo_root/examples/e2e-three-servers.yaml" "$work/warden.yaml"
listen_port=$(free_port) admin_port=$(free_port)
url="http://127.0.0.1:$listen_port/mcp"
RMCP_URL="http://127.0.0.1:$rmcp_port/mcp" PY_URL="http://127.0.0.1:$py_port/mcp" \
  EVERYTHING_URL="http://127.0.0.1:$everything_port/mcp" \
  PY_STDIO_PYTHON="$PEERS_PYTHON" PY_STDIO_SCRIPT="$repo_root/scripts/peers/py_server.py" \
  WARDEN_LISTEN="127.0.0.1:$listen_port" WARDEN_ADMIN="127.0.0.1:$admin_port" \
  WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" NO_COLOR=1 \
  "$target/warden" serve -c "$work/warden.yaml" >"$work/warden.out" 2>"$work/warden.err" & pids+=($!)
warden_pid=$!
ready=""
for _ in $(seq 1 300); do
  kill -0 "$warden_pid" 2>/dev/null || break
  if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$admin_port/readyz" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[[ -n "$ready" ]] || { echo "error: Warden not ready after 30 s" >&2; tail -n 30 "$work/warden.err" >&2; exit 1; }
echo "# warden at $url; backends rmcp :$rmcp_port, py :$py_port, everything :$everything_port, pystdio (stdio)"

# --- MCP Inspector CLI ------------------------------------------------------------------
inspector() { # OUT ARGS...: runs the Inspector CLI against Warden, JSON result in OUT
  local out=$1; shift
  timeout 60 "$PEERS_INSPECTOR_CLI" --cli "$url" --transport http "$@" >"$out" 2>"$out.err"
}
# insp_call DESCRIPTION TOOL EXPECTED_TEXT ARGS...
insp_call() {
  local desc=$1 tool=$2 want=$3 out="$work/insp-call-$2.json"; shift 3
  if inspector "$out" --method tools/call --tool-name "$tool" --tool-arg "$@" &&
    WANT="$want" jcheck "$out" 'r.get("isError") is not True and r["content"][0]["text"] == __import__("os").environ["WANT"]'; then
    ok "$desc"
  else
    not_ok "$desc" "$(cat "$out" "$out.err" 2>/dev/null | grep -v -e '^\s*$' -e 'deprecated' -e 'Upgrade:' -e 'security fixes')"
  fi
}

if inspector "$work/insp-tools.json" --method tools/list; then
  for pair in rmcp:rmcp__echo py:py__greet everything:everything__echo pystdio:pystdio__greet; do
    b=${pair%%:*} tool=${pair#*:}
    if jcheck "$work/insp-tools.json" "'$tool' in [t['name'] for t in r['tools']] and all(t['name'].split('__')[0] in ('rmcp','py','everything','pystdio') for t in r['tools'])"; then
      ok "inspector: tools/list shows backend $b's tools prefixed ($tool)"
    else
      not_ok "inspector: tools/list shows backend $b's tools prefixed ($tool)" "$(head -c 600 "$work/insp-tools.json")"
    fi
  done
else
  not_ok "inspector: tools/list" "$(cat "$work/insp-tools.json.err")"
fi
insp_call "inspector: tools/call rmcp__echo is answered by rmcp" rmcp__echo "from-inspector" message=from-inspector
insp_call "inspector: tools/call py__greet is answered by the python server" py__greet "Hello, inspector! (from python)" name=inspector
insp_call "inspector: tools/call everything__echo is answered by server-everything" everything__echo "Echo: from-inspector" message=from-inspector
insp_call "inspector: tools/call pystdio__multiply is answered by the stdio backend" pystdio__multiply "python product: 42" a=6 b=7
if inspector "$work/insp-resources.json" --method resources/list &&
  jcheck "$work/insp-resources.json" '{"rmcp+test://static-text","py+py://greeting","everything+demo://resource/static/document/features.md","pystdio+py://greeting"} <= {x["uri"] for x in r["resources"]}'; then
  ok "inspector: resources/list has every backend's resources with prefixed URIs"
else
  not_ok "inspector: resources/list has every backend's resources with prefixed URIs" "$(cat "$work/insp-resources.json" "$work/insp-resources.json.err" | head -c 800)"
fi
if inspector "$work/insp-prompts.json" --method prompts/list &&
  jcheck "$work/insp-prompts.json" '{"rmcp__test_simple_prompt","py__review","everything__simple-prompt","pystdio__review"} <= {x["name"] for x in r["prompts"]}'; then
  ok "inspector: prompts/list has every backend's prompts, prefixed"
else
  not_ok "inspector: prompts/list has every backend's prompts, prefixed" "$(cat "$work/insp-prompts.json" "$work/insp-prompts.json.err" | head -c 800)"
fi

# --- TypeScript SDK client ----------------------------------------------------------------
rc=0; timeout 90 "$PEERS_NODE22" "$repo_root/scripts/peers/ts_client.mjs" "$url" >"$work/ts.out" 2>"$work/ts.out.err" || rc=$?
tally "ts client" "$rc" "$work/ts.out"

# --- Python SDK client, modern era (2026-07-28, no session) ----------------------------
rc=0; timeout 90 "$PEERS_PYTHON" "$repo_root/scripts/peers/py_client.py" "$url" --era modern >"$work/py-modern.out" 2>"$work/py-modern.out.err" || rc=$?
tally "py client (modern)" "$rc" "$work/py-modern.out"

# --- Python SDK client, legacy era, across the death of backend `py` ---------------------
# The client runs its checks, signals $hold/ready and waits; we kill `py`, signal
# $hold/go, and it re-checks on the same session.
hold="$work/hold"; mkdir -p "$hold"
timeout 120 "$PEERS_PYTHON" "$repo_root/scripts/peers/py_client.py" "$url" --era legacy --dead py --hold "$hold" \
  >"$work/py-legacy.out" 2>"$work/py-legacy.out.err" &
client_pid=$!
for _ in $(seq 1 600); do
  [[ -e "$hold/ready" ]] && break
  kill -0 "$client_pid" 2>/dev/null || break
  sleep 0.1
done
# SIGKILL: the backend dies abruptly, as in a crash (SIGTERM would let uvicorn wait for
# Warden's open connections to close).
kill -KILL "$py_pid"; wait "$py_pid" 2>/dev/null || true
alive=(); for p in "${pids[@]}"; do [[ "$p" == "$py_pid" ]] || alive+=("$p"); done; pids=("${alive[@]}")
touch "$hold/go"
rc=0; wait "$client_pid" || rc=$?
tally "py client (legacy)" "$rc" "$work/py-legacy.out"

# --- after the kill: fresh clients see a degraded, working virtual server ----------------
rc=0; timeout 90 "$PEERS_PYTHON" "$repo_root/scripts/peers/py_client.py" "$url" --era modern --dead py >"$work/py-dead.out" 2>"$work/py-dead.out.err" || rc=$?
tally "py client (modern, py dead)" "$rc" "$work/py-dead.out"

if inspector "$work/insp-dead-tools.json" --method tools/list &&
  jcheck "$work/insp-dead-tools.json" '(lambda n: "rmcp__echo" in n and "everything__echo" in n and "pystdio__greet" in n and not any(x.startswith("py__") for x in n))([t["name"] for t in r["tools"]]) and r.get("_meta", {}).get("dev.warden/unavailableBackends") == ["py"]'; then
  ok "inspector (py dead): tools/list keeps the others and names py in _meta[dev.warden/unavailableBackends]"
else
  not_ok "inspector (py dead): tools/list keeps the others and names py in _meta[dev.warden/unavailableBackends]" \
    "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([t["name"] for t in r["tools"] if not t["name"].startswith("rmcp__")], r.get("_meta"))' "$work/insp-dead-tools.json" 2>&1 | head -c 800)"
fi
if inspector "$work/insp-dead-call.json" --method tools/call --tool-name py__greet --tool-arg name=ghost; then
  not_ok "inspector (py dead): tools/call py__greet fails, naming backend py" "$(cat "$work/insp-dead-call.json")"
elif grep -Eq '(^|[^[:alnum:]_+-])py([^[:alnum:]_+-]|$)' "$work/insp-dead-call.json" "$work/insp-dead-call.json.err" &&
  grep -q -- '-32' "$work/insp-dead-call.json" "$work/insp-dead-call.json.err"; then
  ok "inspector (py dead): tools/call py__greet fails with a JSON-RPC error naming backend py"
else
  not_ok "inspector (py dead): tools/call py__greet fails with a JSON-RPC error naming backend py" "$(cat "$work/insp-dead-call.json" "$work/insp-dead-call.json.err")"
fi
insp_call "inspector (py dead): tools/call everything__echo still answers" everything__echo "Echo: after" message=after

if ! kill -0 "$warden_pid" 2>/dev/null; then not_ok "Warden still running at the end" "$(tail -n 20 "$work/warden.err")"; fi

# --- the 2024-11-05 HTTP+SSE transport: py_server.py --sse behind a second Warden --------
sse_port=$(free_port) sse_listen=$(free_port) sse_admin=$(free_port)
"$PEERS_PYTHON" "$repo_root/scripts/peers/py_server.py" --sse --port "$sse_port" >"$work/pysse.log" 2>&1 & pids+=($!)
sse_pid=$!
wait_http "$sse_pid" "http://127.0.0.1:$sse_port/sse" 30 || true
cat >"$work/warden-sse.yaml" <<YAML
listeners: [{name: main, address: "127.0.0.1:$sse_listen"}]
admin: {address: "127.0.0.1:$sse_admin"}
virtualServers:
  - name: sse
    path: /mcp
    backends:
      - {name: pysse, url: "http://127.0.0.1:$sse_port/sse", transport: sse}
      - {name: notes, builtin: notes}
YAML
NO_COLOR=1 "$target/warden" serve -c "$work/warden-sse.yaml" >"$work/warden-sse.out" 2>"$work/warden-sse.err" & pids+=($!)
sse_warden_pid=$!
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$sse_admin/readyz" 2>/dev/null && break
  kill -0 "$sse_warden_pid" 2>/dev/null || break
  sleep 0.1
done
url="http://127.0.0.1:$sse_listen/mcp"
if inspector "$work/insp-sse-tools.json" --method tools/list &&
  jcheck "$work/insp-sse-tools.json" '{"pysse__greet", "notes__add_note"} <= {t["name"] for t in r["tools"]}'; then
  ok "sse backend: tools/list merges the HTTP+SSE server's tools (pysse__greet) with notes"
else
  not_ok "sse backend: tools/list merges the HTTP+SSE server's tools" "$(cat "$work/insp-sse-tools.json" "$work/insp-sse-tools.json.err" "$work/warden-sse.err" 2>/dev/null | tail -n 20)"
fi
insp_call "sse backend: tools/call pysse__greet is answered by the HTTP+SSE server" pysse__greet "Hello, sse! (from python)" name=sse
if [[ "$failed" -gt 0 ]]; then
  echo "# last Warden log lines:"; tail -n 15 "$work/warden.err" | sed 's/\x1b\[[0-9;]*m//g; s/^/#   /'
fi
echo "e2e-multiplex: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
