#!/usr/bin/env bash
# End-to-end proof of Warden's Cedar authorization with the HR example (examples/policy-hr):
# a real OpenID provider (scripts/peers/oidc_provider.mjs) signs in alice, bob and carol
# through the agent `hr-assistant`, the official TypeScript MCP SDK
# (scripts/peers/ts_policy_client.mjs) lists and calls tools through Warden in front of two
# Python MCP SDK servers (examples/policy-hr/hr_server.py: hr and wiki), and this script
# checks from the shell the policy test cases, the step-up challenge with curl, the audit
# trail (deciding policy ids, agent, arguments) and `warden audit verify`. See
# docs/e2e-policy.md.
#
#   scripts/e2e-policy.sh
#
# Needs scripts/install-peers.sh to have run. Builds the debug binaries with
# `cargo build -p warden-cli -p mcp-conformance-server` (a no-op when they are fresh) unless
# TARGET_DIR points elsewhere or E2E_NO_BUILD=1. PEERS_DIR overrides where the peers are,
# E2E_KEEP=1 keeps the work directory (logs, audit file).
# Prints `ok - …` / `not ok - …` per check, then `e2e-policy: N passed, M failed`; exits
# non-zero on any failure. Everything listens on 127.0.0.1 only.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/oidc-e2e.sh
source "$repo_root/scripts/lib/oidc-e2e.sh"
example="$repo_root/examples/policy-hr"
config="$example/config.yaml"
[[ -f "$config" ]] || { echo "error: $config missing" >&2; exit 2; }

agent=hr-assistant
redirect="http://127.0.0.1:9/oauth/callback" # never fetched: the client's browser stops there

# --- the provider, the two backends, and Warden in front of them ------------------------
"$PEERS_NODE22" "$repo_root/scripts/peers/oidc_provider.mjs" --port 0 --public-client "$agent=$redirect" \
  >"$work/oidc.log" 2>&1 & pids+=($!)
oidc_pid=$!
"$PEERS_PYTHON" "$example/hr_server.py" >"$work/hr.log" 2>&1 & pids+=($!)
hr_pid=$!
"$PEERS_PYTHON" "$example/hr_server.py" --wiki >"$work/wiki.log" 2>&1 & pids+=($!)
wiki_pid=$!
wait_log "$oidc_pid" "$work/oidc.log" "^listening on http" 30
wait_log "$hr_pid" "$work/hr.log" "^listening on http" 30
wait_log "$wiki_pid" "$work/wiki.log" "^listening on http" 30
issuer=$(sed -n 's/^listening on //p' "$work/oidc.log" | head -n 1)
hr_url=$(sed -n 's/^listening on //p' "$work/hr.log" | head -n 1)
wiki_url=$(sed -n 's/^listening on //p' "$work/wiki.log" | head -n 1)

listen_port=$(free_port) admin_port=$(free_port)
url="http://127.0.0.1:$listen_port/mcp"
audit="$work/audit.jsonl"
export WARDEN_LISTEN="127.0.0.1:$listen_port" WARDEN_ADMIN="127.0.0.1:$admin_port" HR_URL="$hr_url" WIKI_URL="$wiki_url" \
  OIDC_ISSUER="$issuer" WARDEN_AUDIT_FILE="$audit" WARDEN_SESSION_KEY="$(head -c 32 /dev/urandom | base64)" NO_COLOR=1
# The config is used where it is: its policies/ directory is relative to it.
WARDEN_LOG="${WARDEN_LOG:-info,warden::auth=debug}" \
  "$target/warden" serve -c "$config" >"$work/warden.out" 2>"$work/warden.err" & pids+=($!)
warden_pid=$!
ready=""
for _ in $(seq 1 300); do
  kill -0 "$warden_pid" 2>/dev/null || break
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin_port/readyz" 2>/dev/null || true)
  if [[ "$code" == 200 ]]; then ready=1; break; fi
  sleep 0.1
done
[[ -n "$ready" ]] || { echo "error: Warden not ready after 30 s" >&2; tail -n 30 "$work/warden.err" "$work/warden.out" >&2; exit 1; }
echo "# warden at $url; issuer $issuer; hr $hr_url; wiki $wiki_url; audit $audit"
show() { cat "$@" 2>/dev/null | head -c 1500; }

# --- warden policy test: every rule, both sides -----------------------------------------
rc=0; "$target/warden" policy test -c "$config" "$example/cases.yaml" >"$work/cases.out" 2>&1 || rc=$?
total=$(grep -cE '^(PASS|FAIL) ' "$work/cases.out" || true)
if [[ "$rc" -eq 0 && "$total" -ge 20 ]] && ! grep -q '^FAIL ' "$work/cases.out"; then
  ok "policy test: all $total cases of examples/policy-hr/cases.yaml pass"
else
  not_ok "policy test: examples/policy-hr/cases.yaml (exit $rc)" "$(grep -v '^PASS ' "$work/cases.out")"
fi
# Each case names, in its last parentheses, the policy meant to decide it: check that it did.
if python3 - "$work/cases.out" >"$work/cases-ids.out" <<'PY'
import re, sys
bad = 0
for line in open(sys.argv[1]):
    m = re.match(r"^(PASS|FAIL) (.*) \(([^()]*)\): (allow|deny) \((.*)\)$", line.rstrip("\n"))
    if not m:
        continue
    meant, decided = m.group(3), m.group(5)
    wanted = "no permit matched" if meant.startswith("default deny") else meant.split(",")[0].split(":")[0].strip()
    if wanted not in decided:
        bad += 1
        print(f"{m.group(2)}: meant {meant!r}, decided {decided!r}")
sys.exit(1 if bad else 0)
PY
then ok "policy test: each case was decided by the policy its name says (or by default deny)"
else not_ok "policy test: each case was decided by the policy its name says" "$(show "$work/cases-ids.out")"; fi

# --- the TypeScript SDK client as alice, bob and carol ------------------------------------
cat >"$work/alice.json" <<'EOF'
{"user": "alice", "steps": [
  {"list": {"visible": ["hr__get_time_off", "hr__get_handbook", "hr__get_medical_record", "wiki__search"],
            "hidden": ["hr__list_salaries", "hr__delete_employee"]}},
  {"call": "hr__get_time_off", "arguments": {"employee_id": "e-100"}, "expect": "allow", "text": "time off e-100 (alice): 12 days"},
  {"call": "hr__get_time_off", "arguments": {"employee_id": "e-200"}, "expect": "deny"},
  {"call": "hr__get_handbook", "expect": "allow", "text": "employee handbook"},
  {"call": "hr__list_salaries", "arguments": {"department": "engineering"}, "expect": "deny"},
  {"call": "hr__get_medical_record", "arguments": {"employee_id": "e-100"}, "expect": "allow", "text": "medical e-100 (alice)"},
  {"call": "wiki__search", "arguments": {"query": "vpn"}, "expect": "allow", "text": "VPN"}
]}
EOF
cat >"$work/bob.json" <<'EOF'
{"user": "bob", "steps": [
  {"list": {"visible": ["hr__list_salaries", "hr__get_time_off", "hr__get_handbook"], "hidden": ["hr__delete_employee"]}},
  {"call": "hr__list_salaries", "arguments": {"department": "engineering"}, "expect": "allow", "text": "e-100 alice: 98000"},
  {"call": "hr__list_salaries", "arguments": {"department": "sales"}, "expect": "deny"},
  {"call": "hr__get_time_off", "arguments": {"employee_id": "e-100"}, "expect": "deny"},
  {"call": "hr__delete_employee", "arguments": {"employee_id": "e-300"}, "expect": "stepUp", "scope": "mcp:admin", "text": "deleted e-300"},
  {"list": {"visible": ["hr__delete_employee", "hr__list_salaries"]}}
]}
EOF
cat >"$work/carol.json" <<'EOF'
{"user": "carol", "steps": [
  {"list": {"visible": ["hr__get_time_off", "hr__get_handbook"],
            "hidden": ["hr__get_medical_record", "hr__list_salaries", "hr__delete_employee"]}},
  {"call": "hr__get_medical_record", "arguments": {"employee_id": "e-300"}, "expect": "deny"},
  {"call": "hr__get_time_off", "arguments": {"employee_id": "e-300"}, "expect": "allow", "text": "time off e-300 (carol)"},
  {"call": "hr__get_handbook", "expect": "allow", "text": "employee handbook"}
]}
EOF
for user in alice bob carol; do
  rc=0; timeout 120 "$PEERS_NODE22" "$repo_root/scripts/peers/ts_policy_client.mjs" "$url" "$work/$user.json" "$work/$user-tokens.json" \
    >"$work/ts-$user.out" 2>"$work/ts-$user.out.err" || rc=$?
  tally "ts policy client ($user)" "$rc" "$work/ts-$user.out"
done

# --- shell-side checks with curl (modern era, 2026-07-28) --------------------------------
token() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "")' "$1" "$2" 2>/dev/null || true; }
# call AUTH TOOL ARGS_JSON OUT: a modern tools/call with curl; OUT.head gets the headers.
call() {
  local body
  body=$(TOOL="$2" ARGS="$3" python3 -c 'import json, os; print(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
    "name": os.environ["TOOL"], "arguments": json.loads(os.environ["ARGS"]), "_meta": {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "e2e-policy.sh", "version": "1"}}}}))')
  local args=(-s --max-time 30 -o "$4" -D "$4.head" -w '%{http_code}' -X POST "$url" -H 'content-type: application/json'
    -H 'accept: application/json, text/event-stream' -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call'
    -H "mcp-name: $2" --data-binary "$body")
  [[ -n "$1" ]] && args+=(-H "authorization: Bearer $1")
  curl "${args[@]}" || true
}
# rpc FILE: the JSON-RPC message in a JSON or SSE body, as JSON.
rpc() { python3 -c '
import json, sys
t = open(sys.argv[1]).read()
if t.lstrip().startswith("{"):
    print(t)
else:
    for ev in t.replace("\r\n", "\n").split("\n\n"):
        d = "\n".join(l[5:].lstrip() for l in ev.split("\n") if l.startswith("data:"))
        if d:
            print(d)
            break' "$1"; }

bob_plain=$(token "$work/bob-tokens.json" initial)
bob_admin=$(token "$work/bob-tokens.json" final)
alice_plain=$(token "$work/alice-tokens.json" initial)
if [[ -z "$bob_plain" || -z "$alice_plain" ]]; then
  not_ok "curl: tokens of alice and bob from the SDK client" "$(show "$work/ts-bob.out.err" "$work/ts-alice.out.err")"
else
  code=$(call "$bob_plain" hr__delete_employee '{"employee_id": "e-100"}' "$work/del-plain.json")
  www=$(grep -i '^www-authenticate: *Bearer' "$work/del-plain.json.head" | tr -d '\r' | head -n 1 || true)
  if [[ "$code" == 403 ]] && grep -q 'error="insufficient_scope"' <<<"$www" && grep -qE 'scope="[^"]*mcp:admin' <<<"$www" &&
    grep -q 'resource_metadata=' <<<"$www" && rpc "$work/del-plain.json" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["error"]["code"] == -32003 else 1)'; then
    ok "curl: bob's delete_employee without mcp:admin gets 403, $www, JSON-RPC -32003"
  else
    not_ok "curl: bob's delete_employee without mcp:admin gets 403 insufficient_scope naming mcp:admin" "status $code; $www; $(show "$work/del-plain.json")"
  fi
  if [[ -n "$bob_admin" && "$bob_admin" != "$bob_plain" ]]; then
    code=$(call "$bob_admin" hr__delete_employee '{"employee_id": "e-100"}' "$work/del-admin.json")
    if [[ "$code" == 200 ]] && rpc "$work/del-admin.json" | grep -q 'deleted e-100 (alice)'; then
      ok "curl: bob's delete_employee with the mcp:admin token (from the step-up) is allowed and answered"
    else
      not_ok "curl: bob's delete_employee with the mcp:admin token is allowed" "status $code; $(show "$work/del-admin.json.head" "$work/del-admin.json")"
    fi
  else
    not_ok "curl: bob's mcp:admin token from the SDK step-up" "$(show "$work/bob-tokens.json")"
  fi
  code=$(call "$alice_plain" hr__delete_employee '{"employee_id": "e-300"}' "$work/del-alice.json")
  if [[ "$code" == 403 ]] && grep -qi 'insufficient_scope' "$work/del-alice.json.head"; then
    ok "curl: alice's delete_employee without mcp:admin also gets the step-up challenge (the forbid is the only deciding policy)"
  else
    not_ok "curl: alice's delete_employee without mcp:admin gets the step-up challenge" "status $code; $(show "$work/del-alice.json.head" "$work/del-alice.json")"
  fi
  code=$(call "$alice_plain" hr__get_time_off '{"employee_id": "e-200"}' "$work/alice-bob.json")
  if rpc "$work/alice-bob.json" | python3 -c '
import json, sys
m = json.load(sys.stdin)
sys.exit(0 if m["error"]["code"] == -32003 and m["error"]["message"] == "Forbidden" and "data" not in m["error"] else 1)'; then
    ok "curl: modern era, alice's get_time_off for e-200 is denied: -32003 Forbidden, no policy ids leaked (HTTP $code)"
  else
    not_ok "curl: modern era, alice's get_time_off for e-200 is denied with -32003" "status $code; $(show "$work/alice-bob.json")"
  fi
  code=$(call "$alice_plain" hr__get_time_off '{"employee_id": "e-100"}' "$work/alice-own.json")
  if [[ "$code" == 200 ]] && rpc "$work/alice-own.json" | grep -q 'time off e-100 (alice)'; then
    ok "curl: modern era, alice's get_time_off for e-100 is allowed"
  else
    not_ok "curl: modern era, alice's get_time_off for e-100 is allowed" "status $code; $(show "$work/alice-own.json")"
  fi
fi
code=$(call "" hr__get_handbook '{}' "$work/anon.json")
if [[ "$code" == 401 ]]; then ok "curl: no token: 401 (authentication comes before policy)"
else not_ok "curl: no token: 401" "status $code; $(show "$work/anon.json")"; fi

# --- the audit trail ------------------------------------------------------------------------
# Records are flushed every 100 ms: wait (bounded) for the last decision made above.
for _ in $(seq 1 50); do
  [[ -s "$audit" ]] &&
    python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if any(x["principal"].get("subject")=="alice" and (x.get("arguments") or {}).get("employee_id")=="e-100" and x["action"]=="tools/call" and x["resource"]["id"]=="hr__get_time_off" for x in r[-10:]) else 1)' "$audit" 2>/dev/null && break
  sleep 0.1
done
# audit_has DESCRIPTION PY_PREDICATE: some record `r` satisfies the predicate.
audit_has() {
  if PRED="$2" python3 - "$audit" >"$work/audit-check.out" 2>&1 <<'PY'
import json, os, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pred = eval("lambda r, p, a: " + os.environ["PRED"])
hits = [r for r in recs if pred(r, r.get("principal") or {}, r.get("arguments") or {})]
if not hits:
    print(f"no match among {len(recs)} records; last ones:")
    for r in recs[-6:]:
        print(json.dumps({k: r.get(k) for k in ("seq", "action", "resource", "decision", "policies", "outcome", "arguments")})
              + " principal=" + str((r.get("principal") or {}).get("subject")))
sys.exit(0 if hits else 1)
PY
  then ok "audit: $1"; else not_ok "audit: $1" "$(show "$work/audit-check.out")"; fi
}
if [[ ! -s "$audit" ]]; then
  not_ok "audit: $audit exists and holds records"
else
  tc='r["action"] == "tools/call" and r["resource"] == {"type": "Tool", "id": '
  audit_has "deny: alice's get_time_off for e-200, default deny (no policy ids), outcome denied" \
    "$tc\"hr__get_time_off\"} and p.get('subject') == 'alice' and a.get('employee_id') == 'e-200' and r['decision'] == 'deny' and r['policies'] == [] and r['outcome'] == 'denied'"
  audit_has "deny: bob's list_salaries for sales, default deny" \
    "$tc\"hr__list_salaries\"} and p.get('subject') == 'bob' and a.get('department') == 'sales' and r['decision'] == 'deny' and r['policies'] == [] and r['outcome'] == 'denied'"
  audit_has "deny: carol's get_medical_record for e-300 decided by no-agent-confidential-for-contractors" \
    "$tc\"hr__get_medical_record\"} and p.get('subject') == 'carol' and a.get('employee_id') == 'e-300' and r['decision'] == 'deny' and r['policies'] == ['no-agent-confidential-for-contractors'] and r['outcome'] == 'denied'"
  audit_has "deny: bob's delete_employee without mcp:admin decided by delete-needs-admin-scope" \
    "$tc\"hr__delete_employee\"} and p.get('subject') == 'bob' and 'mcp:admin' not in (p.get('scopes') or []) and r['decision'] == 'deny' and r['policies'] == ['delete-needs-admin-scope']"
  audit_has "allow: alice's own time off permitted by hr-time-off-own, outcome success" \
    "$tc\"hr__get_time_off\"} and p.get('subject') == 'alice' and a.get('employee_id') == 'e-100' and r['decision'] == 'allow' and r['policies'] == ['hr-time-off-own'] and r['outcome'] == 'success'"
  audit_has "allow: bob's engineering salaries permitted by hr-salaries-managers" \
    "$tc\"hr__list_salaries\"} and p.get('subject') == 'bob' and a.get('department') == 'engineering' and r['decision'] == 'allow' and r['policies'] == ['hr-salaries-managers'] and r['outcome'] == 'success'"
  audit_has "allow: bob's delete_employee with mcp:admin permitted by hr-delete-managers" \
    "$tc\"hr__delete_employee\"} and p.get('subject') == 'bob' and 'mcp:admin' in (p.get('scopes') or []) and r['decision'] == 'allow' and r['policies'] == ['hr-delete-managers'] and r['outcome'] == 'success'"
  # The list record names hr-lists, the permit that allowed the list action.
  audit_has "tools/list decisions on the virtual server hr are recorded (allow, reason \"listed N of 6\")" \
    "r['action'] == 'tools/list' and r['resource'] == {'type': 'VirtualServer', 'id': 'hr'} and r['decision'] == 'allow' and r['policies'] == ['hr-lists'] and r['reason'].startswith('listed ') and r['reason'].endswith(' of 6')"
  audit_has "alice's tools/list shows 4 of the 6 tools" \
    "r['action'] == 'tools/list' and p.get('subject') == 'alice' and r['reason'] == 'listed 4 of 6'"
  audit_has "carol's tools/list shows 3 of the 6 tools (get_time_off, get_handbook, wiki search)" \
    "r['action'] == 'tools/list' and p.get('subject') == 'carol' and r['reason'] == 'listed 3 of 6'"
  audit_has "the principal records the agent (hr-assistant), the act chain, groups, roles and attributes" \
    "p.get('subject') == 'carol' and '$agent' in json.dumps(p.get('agent')) and 'act' in p and 'contractors' in p.get('groups', []) and 'contractor' in p.get('roles', []) and 'e-300' in json.dumps(p.get('attributes'))"
  # No credential in the audit file: none of the tokens' signatures appear.
  leaked=""
  for f in "$work"/*-tokens.json; do
    for t in $(python3 -c 'import json,sys; print(" ".join(v for v in json.load(open(sys.argv[1])).values() if v))' "$f"); do
      grep -qF -- "${t##*.}" "$audit" && leaked=1
    done
  done
  if [[ -z "$leaked" ]]; then ok "audit: no access token (nor its signature) appears in the audit file"
  else not_ok "audit: an access token appears in the audit file"; fi

  # The chain: intact now; deleting one line in the middle is detected.
  rc=0; "$target/warden" audit verify "$audit" >"$work/verify.out" 2>&1 || rc=$?
  if [[ "$rc" -eq 0 ]]; then ok "audit: warden audit verify says the chain is intact ($(head -n 1 "$work/verify.out"))"
  else not_ok "audit: warden audit verify says the chain is intact (exit $rc)" "$(show "$work/verify.out")"; fi
  n=$(grep -c . "$audit")
  if [[ "$n" -ge 3 ]]; then
    sed '2d' "$audit" >"$work/audit-cut.jsonl"
    rc=0; "$target/warden" audit verify "$work/audit-cut.jsonl" >"$work/verify-cut.out" 2>&1 || rc=$?
    if [[ "$rc" -eq 1 ]] && grep -qi 'deleted' "$work/verify-cut.out"; then
      ok "audit: with line 2 deleted, warden audit verify fails: $(grep -i deleted "$work/verify-cut.out" | head -n 1)"
    else
      not_ok "audit: with line 2 deleted, warden audit verify fails (exit $rc)" "$(show "$work/verify-cut.out")"
    fi
    python3 -c '
import sys
lines = open(sys.argv[1]).read().split("\n")
l = lines[2]
lines[2] = l.replace("\"decision\":\"deny\"", "\"decision\":\"allow\"") if "\"decision\":\"deny\"" in l else l.replace("\"decision\":\"allow\"", "\"decision\":\"deny\"")
open(sys.argv[2], "w").write("\n".join(lines))' "$audit" "$work/audit-edit.jsonl"
    rc=0; "$target/warden" audit verify "$work/audit-edit.jsonl" >"$work/verify-edit.out" 2>&1 || rc=$?
    if [[ "$rc" -eq 1 ]] && grep -qi 'edited' "$work/verify-edit.out"; then
      ok "audit: with the decision of line 3 flipped, warden audit verify fails: $(grep -i edited "$work/verify-edit.out" | head -n 1)"
    else
      not_ok "audit: with the decision of line 3 flipped, warden audit verify fails (exit $rc)" "$(show "$work/verify-edit.out")"
    fi
  else
    not_ok "audit: at least 3 records to tamper with" "$(show "$audit")"
  fi
fi

if kill -0 "$warden_pid" 2>/dev/null; then ok "Warden still running at the end"; else not_ok "Warden still running at the end" "$(tail -n 20 "$work/warden.err")"; fi
if [[ "$failed" -gt 0 ]]; then
  echo "# last Warden log lines:"
  grep -v -e '^\s*$' "$work/warden.err" | grep -E 'WARN|ERROR|warden::auth|policy' | tail -n 15 | sed 's/\x1b\[[0-9;]*m//g; s/^/#   /'
fi
echo "e2e-policy: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
