#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios against a running server.
#
#   scripts/conformance.sh URL [--era legacy|modern|both] [-o OUTDIR] [--expected-failures FILE]
#
# Runs (each a separate invocation of the suite):
#   stable        @modelcontextprotocol/conformance 0.1.16, active server suite   (era legacy)
#   alpha-legacy  0.2.0-alpha.12 --requirements 2025-11-25                          (era legacy)
#   alpha-modern  0.2.0-alpha.12 --requirements 2026-07-28 (stateless, _meta)       (era modern)
# --era picks the runs (default: both). A requirements run also runs, for visibility, the
# scenarios its revision does not score (extensions, pending ones); they are reported as
# "not scored" and never decide the exit code.
#
# Prints one line per scenario and run, then a final line `conformance: N passed, M failed`
# (scored scenario runs). Exits non-zero if any run's suite reports a failure: with
# --expected-failures, only failures not in the file and entries that now pass (stale) count,
# as decided by the suite's own --expected-failures check (note: the alpha suite treats a
# WARNING as a failure when comparing against the file).
#
# The expected-failures file is the suite's YAML format:
#   server:
#     - json-schema-2020-12                 # expected to fail in every run that runs it
#     - modern/server-stateless             # only in the 2026-07-28 run (alpha-modern)
#     - alpha-legacy/some-scenario:check-id # one check, one run
# A prefix `stable/`, `alpha-legacy/`, `alpha-modern/`, `legacy/` (stable + alpha-legacy) or
# `modern/` scopes an entry; the prefix is removed before the file reaches the suite.
#
# Needs the peers from scripts/install-peers.sh (run it first). Results, logs and the
# per-run expected-failures files go to OUTDIR (default target/conformance/<UTC time>).
set -euo pipefail

usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers_env="${PEERS_DIR:-$repo_root/.peers}/env.sh"
[[ -f "$peers_env" ]] || { echo "error: $peers_env missing; run scripts/install-peers.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "$peers_env"

url="" era=both outdir="" expected=""
while (($#)); do
  case "$1" in
    --era) era="${2:?--era needs a value}"; shift 2 ;;
    --era=*) era="${1#*=}"; shift ;;
    -o | --output-dir) outdir="${2:?-o needs a directory}"; shift 2 ;;
    --expected-failures) expected="${2:?--expected-failures needs a file}"; shift 2 ;;
    --expected-failures=*) expected="${1#*=}"; shift ;;
    -h | --help) usage ;;
    -*) echo "error: unknown option $1" >&2; usage ;;
    *) [[ -z "$url" ]] || usage; url="$1"; shift ;;
  esac
done
[[ -n "$url" ]] || usage
case "$era" in
  legacy) runs=(stable alpha-legacy) ;;
  modern) runs=(alpha-modern) ;;
  both) runs=(stable alpha-legacy alpha-modern) ;;
  *) echo "error: --era must be legacy, modern or both" >&2; exit 2 ;;
esac
if [[ -n "$expected" ]]; then
  [[ -f "$expected" ]] || { echo "error: $expected not found" >&2; exit 2; }
  expected="$(cd "$(dirname "$expected")" && pwd)/$(basename "$expected")"
fi
outdir="${outdir:-$repo_root/target/conformance/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

node="$PEERS_NODE22"
yaml_module="$PEERS_DIR/conformance-alpha/node_modules/yaml/dist/index.js"

# split_expected RUN: writes the entries of $expected that apply to RUN, unprefixed, to
# $outdir/RUN.expected-failures.yaml and prints that path.
split_expected() {
  local run=$1 era_of_run=legacy out="$outdir/$1.expected-failures.yaml"
  [[ "$run" == alpha-modern ]] && era_of_run=modern
  "$node" - "$yaml_module" "$expected" "$run" "$era_of_run" "$out" <<'EOF'
const [yamlPath, file, run, era, out] = process.argv.slice(2);
const fs = require('node:fs');
const YAML = require(yamlPath);
const doc = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
const scopes = new Set([run, era]);
const known = new Set(['stable', 'alpha-legacy', 'alpha-modern', 'legacy', 'modern']);
const pick = (entries) => (entries ?? []).map(String).flatMap((entry) => {
  const slash = entry.indexOf('/');
  const scope = slash > 0 ? entry.slice(0, slash) : '';
  if (!known.has(scope)) return [entry];
  return scopes.has(scope) ? [entry.slice(slash + 1)] : [];
});
fs.writeFileSync(out, YAML.stringify({ server: pick(doc.server), client: pick(doc.client) }));
EOF
  echo "$out"
}

# run_suite RUN: runs one suite invocation; its log goes to $outdir/RUN.log.
run_suite() {
  local run=$1 suite args=()
  case "$run" in
    stable) suite="$PEERS_CONFORMANCE_STABLE" ;;
    alpha-legacy) suite="$PEERS_CONFORMANCE_ALPHA"; args=(--requirements 2025-11-25) ;;
    alpha-modern) suite="$PEERS_CONFORMANCE_ALPHA"; args=(--requirements 2026-07-28) ;;
  esac
  if [[ -n "$expected" ]]; then
    args+=(--expected-failures "$(split_expected "$run")")
  fi
  mkdir -p "$outdir/$run"
  echo "== $run: conformance server --url $url ${args[*]}" >&2
  # The suite writes results relative to its working directory when -o is absent; keep it in outdir.
  (cd "$outdir" && "$node" "$suite" server --url "$url" -o "$outdir/$run" "${args[@]}") \
    >"$outdir/$run.log" 2>&1
}

status=0
for run in "${runs[@]}"; do
  if ! run_suite "$run"; then
    status=1
  fi
done

# Report: one line per scenario run, read from each scenario's checks.json.
"$node" - "$outdir" "$expected" "$yaml_module" "${runs[@]}" <<'EOF'
const [outdir, expectedFile, yamlPath, ...runs] = process.argv.slice(2);
const fs = require('node:fs');
const path = require('node:path');
const YAML = require(yamlPath);
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0, failed = 0, expectedCount = 0, nsPassed = 0, nsFailed = 0;
for (const run of runs) {
  const log = strip(fs.readFileSync(path.join(outdir, `${run}.log`), 'utf8'));
  // Scenario → result dir, from "=== Running scenario: X ===" ... "Results saved to DIR".
  const dirs = new Map();
  let current;
  for (const line of log.split('\n')) {
    const start = line.match(/^=== Running scenario: (\S+) ===/);
    if (start) { current = start[1]; dirs.set(current, null); }
    const saved = line.match(/^Results saved to (.+)$/);
    if (saved && current) dirs.set(current, saved[1].trim());
  }
  // A requirements run scores only the scenarios its revision's requirement set lists.
  const revision = { 'alpha-legacy': '2025-11-25', 'alpha-modern': '2026-07-28' }[run];
  let scoredSet = null;
  if (revision) {
    const file = path.join(path.dirname(yamlPath), '..', '..', '@modelcontextprotocol', 'conformance', 'requirements', `${revision}.yaml`);
    scoredSet = new Set((YAML.parse(fs.readFileSync(file, 'utf8')) ?? {}).server ?? []);
  }
  let expectedHere = new Set();
  const split = path.join(outdir, `${run}.expected-failures.yaml`);
  if (expectedFile && fs.existsSync(split)) {
    const doc = YAML.parse(fs.readFileSync(split, 'utf8')) ?? {};
    expectedHere = new Set((doc.server ?? []).map((e) => String(e).split(':')[0]));
  }
  if (dirs.size === 0) {
    console.log(`${run.padEnd(13)} ERROR no scenario ran; see ${path.join(outdir, run + '.log')}`);
    failed += 1;
    continue;
  }
  for (const [scenario, dir] of dirs) {
    let checks = [];
    try { checks = JSON.parse(fs.readFileSync(path.join(dir ?? '', 'checks.json'), 'utf8')); }
    catch { checks = [{ id: 'no-results(see log)', status: 'FAILURE' }]; }
    const failures = checks.filter((c) => c.status === 'FAILURE').map((c) => c.id);
    const warnings = checks.filter((c) => c.status === 'WARNING').map((c) => c.id);
    const ok = failures.length === 0;
    const scored = scoredSet === null || scoredSet.has(scenario);
    let verdict = ok ? 'PASS' : 'FAIL';
    let note = ok ? '' : `${failures.length} failed: ${[...new Set(failures)].join(', ')}`;
    if (warnings.length) note += `${note ? '; ' : ''}${warnings.length} warning(s): ${[...new Set(warnings)].join(', ')}`;
    if (!ok && expectedHere.has(scenario)) { note = `(expected) ${note}`; if (scored) expectedCount += 1; }
    if (!scored) note = `(not scored) ${note}`;
    console.log(`${run.padEnd(13)} ${verdict} ${scenario}${note ? '  ' + note.trim() : ''}`);
    if (scored) ok ? passed++ : failed++; else ok ? nsPassed++ : nsFailed++;
  }
  const baseline = log.match(/\n(Expected failures \(in baseline\)|Stale baseline entries|Unexpected failures)[\s\S]*$/);
  if (baseline) for (const line of baseline[0].trim().split('\n')) console.log(`${run.padEnd(13)} baseline: ${line}`);
}
if (nsPassed + nsFailed) console.log(`not scored (run for visibility): ${nsPassed} passed, ${nsFailed} failing`);
if (expectedFile) console.log(`expected failures among the failed: ${expectedCount}`);
console.log(`results in ${outdir}`);
console.log(`conformance: ${passed} passed, ${failed} failed`);
EOF

exit "$status"
