#!/usr/bin/env bash
# README's test command: formatting, lints and every test suite. Prints a pass/fail summary
# per suite and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-tests.sh || exit 1

declare -a names=() results=()
run() {
  local name="$1"; shift
  echo "=== $name: $*"
  if "$@"; then results+=("ok"); else results+=("FAILED"); fi
  names+=("$name")
}

# Real Apple MDM peers (NanoMDM + micromdm/scep) for sim/tests/peers.rs, and micromdm's
# scepclient (installed by the same script) for server/tests/apple.rs; stopped on exit unless
# they were running already. ENROLL_PEERS_REQUIRED makes those tests fail instead of skipping.
if scripts/peers.sh status; then peers_were_running=1; else peers_were_running=0; fi
trap '[ "$peers_were_running" = 1 ] || scripts/peers.sh stop >/dev/null 2>&1' EXIT
run "apple peers" scripts/peers.sh start
export ENROLL_PEERS_REQUIRED=1

run "rustfmt" cargo fmt --all -- --check
run "rustfmt (size floor)" cargo fmt --manifest-path scripts/size-floor/Cargo.toml -- --check
run "rustfmt (fuzz)" cargo fmt --manifest-path fuzz/Cargo.toml -- --check
run "clippy" cargo clippy --workspace --all-targets -- -D warnings
run "rust tests" cargo test --workspace
run "camera build" cargo clippy -p enroll-cli --features camera -- -D warnings
run "browser" bash -c 'cargo build -q -p enroll-server --bin enroll-server && node tests/browser/run.mjs'
run "demo" "${CARGO_TARGET_DIR:-target}/debug/enroll" demo --with token
run "walkthrough" scripts/walkthrough.sh
run "kotlin (jvm)" bindings/tests/run-kotlin.sh
run "python ffi" bindings/tests/run-python.sh
run "fuzz (smoke)" scripts/fuzz.sh --smoke
# The server's CSV import target builds the whole server (its own feature set), so it is named
# apart; it is in the smoke run so that it keeps building (it once stopped compiling unseen).
run "fuzz (smoke, server)" scripts/fuzz.sh --smoke bulk_csv

echo
echo "=== summary"
passed=0; failed=0
for i in "${!names[@]}"; do
  printf '%-22s %s\n' "${names[$i]}" "${results[$i]}"
  if [ "${results[$i]}" = ok ]; then passed=$((passed+1)); else failed=$((failed+1)); fi
done
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
