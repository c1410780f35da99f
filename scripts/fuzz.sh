#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of fuzz/ (cargo-fuzz), one after the other, and prints
# per target the executions, exec/s and crashes, then a summary line. Exits non-zero on any
# crash (or timeout, out-of-memory, build failure). Targets are built in release mode with debug
# assertions (so integer overflow panics).
#
#   scripts/fuzz.sh [--time SECS] [--sanitizer address|none] [TARGET...]
#       runs each TARGET (default: all) for SECS seconds (default 60), with AddressSanitizer;
#   scripts/fuzz.sh --smoke [TARGET...]
#       builds every target once without a sanitizer and runs each for 10 seconds: the check
#       that the targets keep building and that the seeds still pass (scripts/test.sh runs it,
#       and `--smoke bulk_csv` for the server target, which "every target" leaves out).
#   scripts/fuzz.sh --no-trace-compares ...
#       builds without libFuzzer's compare tracing (in its own target directory): several times
#       the executions per second on pixel-heavy targets (qr_frame), with coarser guidance.
#
# Toolchain: `cargo +nightly fuzz` when a nightly toolchain is installed, else the default
# (stable) toolchain with RUSTC_BOOTSTRAP=1 (the -Z flags cargo-fuzz passes need one or the
# other). cargo-fuzz is installed from crates.io when missing.
#
# Seeds come from fuzz/corpus/<target>/ (committed, read only); what libFuzzer finds goes into
# fuzz/target/work/<target>/ and crash inputs into fuzz/artifacts/<target>/ (both gitignored).
# Extra libFuzzer flags can be given in FUZZ_ARGS (e.g. FUZZ_ARGS="-runs=10000000").
# FUZZ_RUN_NAME names the log of a one-target run (fuzz/target/logs/<name>.log, default the
# target's name), so that two runs of one target, one per core, can share its work corpus.
set -uo pipefail
cd "$(dirname "$0")/.."

time_per_target=60
sanitizer=address
smoke=0
trace_compares=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_per_target="${2:?--time needs a number of seconds}"; shift 2 ;;
    --time=*) time_per_target="${1#--time=}"; shift ;;
    --sanitizer|-s) sanitizer="${2:?--sanitizer needs address or none}"; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --no-trace-compares) trace_compares=0; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ "$smoke" = 1 ]; then
  time_per_target=10
  sanitizer=none
fi
case "$time_per_target" in ''|*[!0-9]*) echo "fuzz.sh: --time takes whole seconds" >&2; exit 2 ;; esac

all_targets=(qr_payload profile_cms profile_content asn1_der agent_replies qr_frame
  scep_message apple_mdm windows_soap syncml request_json)
# Opt-in targets: named explicitly (`scripts/fuzz.sh bulk_csv`); they build the whole server.
server_targets=(bulk_csv)
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
features=()
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "fuzz.sh: no target $t (have: ${all_targets[*]} ${server_targets[*]})" >&2; exit 2; }
  for s in "${server_targets[@]}"; do [ "$t" = "$s" ] && features=(--features server); done
done

# Largest input per target (just above each parser's own limit) and its dictionary.
max_len_of() {
  case "$1" in
    qr_payload) echo 4200 ;;
    bulk_csv) echo 8192 ;;
    profile_cms|profile_content|apple_mdm|windows_soap|syncml) echo 16384 ;;
    scep_message|request_json) echo 8192 ;;
    qr_frame) echo 66000 ;;
    *) echo 4096 ;;
  esac
}
dict_of() {  # prints -dict=FILE, or nothing for a target without a dictionary (qr_frame)
  local f
  case "$1" in
    asn1_der|profile_cms|scep_message) f=fuzz/dict/der.dict ;;
    *) f="fuzz/dict/$1.dict" ;;
  esac
  [ -s "$f" ] && echo "-dict=$f"
}

command -v cargo >/dev/null 2>&1 || export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz (crates.io)"
  nice -n 10 cargo install cargo-fuzz --locked || exit 1
fi
# FUZZ_STABLE=1 forces the stable fallback (to check it on a machine that has a nightly).
if [ "${FUZZ_STABLE:-0}" != 1 ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
  toolchain=nightly
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
  toolchain="stable"
fi
# One target directory per toolchain and sanitizer, so switching does not rebuild everything.
if [ "$toolchain-$sanitizer" = nightly-address ]; then
  target_dir=fuzz/target
else
  target_dir="fuzz/target/$toolchain-$sanitizer"
fi
[ "$toolchain" = stable ] && toolchain="$(rustc --version | cut -d' ' -f2) with RUSTC_BOOTSTRAP=1"
build_flags=(-O -a -s "$sanitizer" ${features[@]+"${features[@]}"})
if [ "$trace_compares" = 0 ]; then
  target_dir="$target_dir-no-trace-compares"
  build_flags+=(--no-trace-compares)
  toolchain="$toolchain, no compare tracing"
fi
build_flags+=(--target-dir "$PWD/$target_dir")

echo "=== fuzz: building ${#targets[@]} target(s) ($toolchain, sanitizer $sanitizer)"
build_start=$SECONDS
if [ ${#targets[@]} -gt 1 ]; then
  nice -n 10 "${fuzz[@]}" build "${build_flags[@]}" || { echo "fuzz.sh: build failed" >&2; exit 1; }
else
  for t in "${targets[@]}"; do
    nice -n 10 "${fuzz[@]}" build "${build_flags[@]}" "$t" || { echo "fuzz.sh: build of $t failed" >&2; exit 1; }
  done
fi
echo "=== fuzz: built in $((SECONDS - build_start)) s"

mkdir -p fuzz/target/logs
total_execs=0
total_crashes=0
declare -a lines=()
for t in "${targets[@]}"; do
  work="fuzz/target/work/$t"
  mkdir -p "$work" "fuzz/artifacts/$t"
  log="fuzz/target/logs/${FUZZ_RUN_NAME:-$t}.log"
  find "fuzz/artifacts/$t" -type f | sort >"$log.before"
  echo "=== fuzz: $t for ${time_per_target}s (log: $log)"
  start=$SECONDS
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  nice -n 10 "${fuzz[@]}" run "${build_flags[@]}" "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$time_per_target" -max_len="$(max_len_of "$t")" $(dict_of "$t") \
    -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1
  rc=$?
  secs=$((SECONDS - start))
  execs=$(grep -a 'stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
  rate=$(grep -a 'stat::average_exec_per_sec:' "$log" | tail -1 | awk '{print $2}')
  if [ -z "$execs" ]; then
    # No final stats (killed, or crashed before): the last status line "#N ... exec/s: R".
    execs=$(grep -aoE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    rate=$(grep -aoE 'exec/s: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  fi
  execs=${execs:-0}
  rate=${rate:-0}
  find "fuzz/artifacts/$t" -type f | sort | comm -13 "$log.before" - >"$log.new"
  crashes=$(wc -l <"$log.new")
  if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
    crashes=1 # the run failed without leaving an input (build or harness failure)
  fi
  total_execs=$((total_execs + execs))
  total_crashes=$((total_crashes + crashes))
  line=$(printf '%-16s %10s execs %8s exec/s %3s crashes %4s s' "$t" "$execs" "$rate" "$crashes" "$secs")
  lines+=("$line")
  echo "$line"
  if [ "$crashes" != 0 ]; then
    grep -aE 'panicked at|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY:' "$log" | head -5
    head -5 "$log.new" | sed 's/^/  input: /'
  fi
done

echo
echo "=== fuzz summary ($toolchain, sanitizer $sanitizer, ${time_per_target}s per target)"
for line in "${lines[@]}"; do echo "$line"; done
echo "fuzz: ${#targets[@]} targets, $total_execs executions, $total_crashes crashes in $SECONDS s"
[ "$total_crashes" = 0 ]
