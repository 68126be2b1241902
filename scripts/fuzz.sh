#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 30):
#
#   scripts/fuzz.sh [SECONDS]
#
# Installs cargo-fuzz if it is missing (idempotent). cargo-fuzz needs nightly
# flags; on a stable toolchain they are unlocked with RUSTC_BOOTSTRAP=1 (set
# here for the fuzz build only). Builds go to fuzz/target, never the
# workspace's target dir. New inputs libFuzzer finds go to
# fuzz/target/corpus-work/<target>/ (scratch); the seeds in fuzz/corpus/ are
# read only. A crash leaves its reproducer in fuzz/artifacts/<target>/.
#
# If cargo-fuzz cannot be installed or cannot build here, falls back to the
# libFuzzer-free replay binary (seed corpora plus deterministic mutants) and
# says so. FUZZ_SANITIZER=none|address (default address) picks the sanitizer.
#
# Ends with one line `fuzz: N passed, M failed` (N, M count targets) and exits
# non-zero when any target crashed, timed out or ran out of memory.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

seconds="${1:-30}"
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: scripts/fuzz.sh [SECONDS]  (SECONDS a positive integer, default 30)" >&2
  exit 2
fi
cargo_fuzz_version="0.13.2"
sanitizer="${FUZZ_SANITIZER:-address}"
targets=(jsonrpc_envelope config_loader sse_parser session_open header_value)
fuzz_dir="$repo_root/fuzz"
export CARGO_TARGET_DIR="$fuzz_dir/target"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT
passed=0 failed=0

# stat_of KEY LOG: the value libFuzzer's -print_final_stats printed for KEY (empty if none).
stat_of() { awk -v k="$1" '$1 == k {v = $2} END {print v}' "$2"; }

replay_fallback() {
  echo "fuzz: WARNING: $1; replaying the seed corpora with mutants instead (no coverage guidance)" >&2
  local mutants=$((seconds * 200)) target
  (cd "$fuzz_dir" && cargo build --release --bin replay)
  for target in "${targets[@]}"; do
    if "$CARGO_TARGET_DIR/release/replay" --mutate "$mutants" "$target"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
  echo "fuzz: $passed passed, $failed failed"
  ((failed == 0))
  exit
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz $cargo_fuzz_version" >&2
  cargo install --locked cargo-fuzz --version "$cargo_fuzz_version" >&2 || replay_fallback "cargo-fuzz could not be installed"
fi

export RUSTC_BOOTSTRAP=1
echo "fuzz: building ${#targets[@]} targets (sanitizer: $sanitizer)" >&2
cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" >&2 || replay_fallback "cargo fuzz build failed"

for target in "${targets[@]}"; do
  work="$CARGO_TARGET_DIR/corpus-work/$target"
  mkdir -p "$work" "$fuzz_dir/artifacts/$target"
  log="$log_dir/$target.log"
  echo "fuzz: running $target for ${seconds}s" >&2
  status=0
  cargo fuzz run --fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(stat_of 'stat::number_of_executed_units:' "$log")
  rate=$(stat_of 'stat::average_exec_per_sec:' "$log")
  cov=$(awk '$2 == "DONE" && $3 == "cov:" {v = $4} END {print v}' "$log")
  if ((status == 0)); then
    passed=$((passed + 1))
    echo "fuzz: $target: ok, ${runs:-?} runs, ${rate:-?} exec/s, cov ${cov:-?}"
  else
    failed=$((failed + 1))
    echo "fuzz: $target: FAILED (exit $status) after ${runs:-?} runs; libFuzzer's report:"
    grep -E "panicked at|^thread '|ERROR: libFuzzer|SUMMARY|Test unit written|deadly signal|==[0-9]+==ERROR" "$log" | head -20 | sed 's/^/  /'
    grep -A4 "panicked at" "$log" | head -12 | sed 's/^/  /'
  fi
done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))
