#!/usr/bin/env bash
# Reproduce the fuzz runs of docs/reliability.md ("Fuzzing"): seed the corpora from
# the recordings, then run each target for SECONDS, one after another (one libFuzzer
# process at a time: the machine's cores are shared), and print the final figures.
#
#   scripts/fuzz.sh              # framer, driver_bg96, driver_nrf91, 600 s each
#   scripts/fuzz.sh 60           # 60 s each
#   scripts/fuzz.sh 600 framer   # one target
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Targets are
# built with debug assertions and overflow checks, without a sanitizer (the library
# has no unsafe code outside src/capi, which the targets do not call). Corpora grow
# in fuzz/corpus/<target> (kept between runs), crashes land in
# fuzz/artifacts/<target>/, logs in fuzz/logs/<target>.log. Read a crash with
#   (cd fuzz && CELLSOCK_FUZZ_TRACE=1 cargo run --release --bin replay -- <target> <file>)
# and, once fixed, keep it in fuzz/regressions/<target>/ (.ci/run replays those).
# Exit status: 0 when no target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
shift || true
TARGETS=${*:-framer driver_bg96 driver_nrf91}

(cd fuzz && cargo run --quiet --release --bin seeds) || exit 1
mkdir -p fuzz/logs
failed=""
for t in $TARGETS; do
  case $t in
    framer) max_len=4096 ;;
    *) max_len=8192 ;;
  esac
  mkdir -p "fuzz/corpus/$t"
  log="fuzz/logs/$t.log"
  echo "== $t: ${SECS}s (log: $log)"
  # Kept findings (fuzz/regressions/<target>/) seed the run too.
  extra=()
  [ -d "fuzz/regressions/$t" ] && extra=("fuzz/regressions/$t")
  if ! cargo +nightly fuzz run --sanitizer none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" "${extra[@]}" -- \
      -max_total_time="$SECS" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    failed="$failed $t"
    grep -E "panicked at|^thread|Test unit written" "$log" | head -5
  fi
  # The last status line (coverage, features, corpus, exec/s) and the totals.
  grep -E "^#[0-9]+" "$log" | tail -1
  grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec" "$log"
done
if [ -n "$failed" ]; then
  echo "crashed:$failed (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
