#!/usr/bin/env bash
# Regenerate every figure of docs/performance.md, in the order the document gives
# them: machine, wire efficiency (simulator, virtual time), CPU cost (criterion wall
# time and callgrind instruction counts), footprint (flash, RAM, stack).
#
#   scripts/perf.sh            # everything (about 5 minutes on 2 cores)
#   scripts/perf.sh wire       # one part: machine | wire | cpu | icount | footprint
#
# Needs: a Rust toolchain, valgrind (icount), python3 (footprint), and for the stack
# depth a nightly toolchain with the thumbv7em-none-eabihf target and llvm-objdump
# (rustup component add llvm-tools, or Debian's llvm). Output goes to stdout and to
# target/perf/ (one file per part). Set CARGO_TARGET_DIR to build elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$TARGET_DIR/perf
mkdir -p "$OUT"
PARTS=${*:-machine wire cpu icount footprint}

machine() {
  echo "== machine"
  echo "nproc $(nproc)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "rustc $(rustc --version)"
  echo "valgrind $(valgrind --version 2>/dev/null || echo none)"
}

wire() {
  echo "== wire: AT exchanges, UART bytes, idle traffic, line-rate efficiency (cargo bench --bench wire)"
  cargo bench --quiet --bench wire
}

cpu() {
  echo "== cpu: criterion, wall time (noisy on a shared machine: compare within one run)"
  cargo bench --quiet --bench framer -- --noplot 2>&1 | grep -E '^(bg96_stream|round_trip)|time:|thrpt:|note:' || true
  cargo bench --quiet --bench driver -- --noplot 2>&1 | grep -E '^(bg96_stream|round_trip)|time:|thrpt:' || true
}

# Instructions of one iteration of WORK: (Ir(11 iterations) - Ir(1)) / 10.
icount_of() {
  local bin=$1 work=$2 a b
  a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$work" 1 2>&1 | sed -n 's/.*Collected : //p')
  b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$work" 11 2>&1 | sed -n 's/.*Collected : //p')
  echo $(((b - a) / 10))
}

icount() {
  echo "== icount: instructions per UART byte (valgrind --tool=callgrind, x86-64)"
  local bin
  bin=$(cargo bench --bench icount --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*icount[^"]*\)".*/\1/p' | tail -1)
  "$bin" info | tee "$OUT/icount-info.txt"
  local all survived
  all=$(sed -n 's/^stream_bytes //p' "$OUT/icount-info.txt")
  survived=$(sed -n 's/^survived_bytes //p' "$OUT/icount-info.txt")
  printf '| work | bytes per iteration | instructions per iteration | instructions per UART byte |\n'
  printf '|---|---:|---:|---:|\n'
  for w in framer framer-classify framer-survived framer-digester at-digester; do
    local bytes=$all ir
    case $w in framer-digester | at-digester | framer-survived) bytes=$survived ;; esac
    ir=$(icount_of "$bin" "$w")
    printf '| %s | %s | %s | %s |\n' "$w" "$bytes" "$ir" "$(python3 -c "print(f'{$ir/$bytes:.1f}')")"
    echo "icount_${w//-/_}_per_byte $(python3 -c "print(f'{$ir/$bytes:.2f}')")" >>"$OUT/icount.txt.tmp"
  done
  for n in 16 128 1000; do
    local bytes ir
    bytes=$("$bin" "roundtrip-$n" 1 | sed -n 's/^uart_bytes_per_iteration //p')
    ir=$(icount_of "$bin" "roundtrip-$n")
    printf '| roundtrip-%s (send + receive) | %s | %s | %s |\n' "$n" "$bytes" "$ir" "$(python3 -c "print(f'{$ir/$bytes:.1f}')")"
    echo "icount_roundtrip_${n}_per_byte $(python3 -c "print(f'{$ir/$bytes:.2f}')")" >>"$OUT/icount.txt.tmp"
    echo "icount_roundtrip_${n}_per_round_trip $ir" >>"$OUT/icount.txt.tmp"
  done
  cat "$OUT/icount.txt.tmp"
  rm -f "$OUT/icount.txt.tmp"
}

footprint() {
  echo "== footprint: thumbv7em-none-eabihf, opt-level z, fat LTO, panic = abort"
  local rel=$TARGET_DIR/footprint/thumbv7em-none-eabihf/release
  (cd footprint && CARGO_TARGET_DIR=$TARGET_DIR/footprint cargo build --release --quiet)
  echo "-- driver as a compile-time static (Driver::new is const): default"
  python3 footprint/measure.py size "$rel/footprint" --baseline "$rel/baseline" --max-flash 32768
  python3 footprint/measure.py crates "$rel/footprint"
  echo "-- driver built at start-up into .bss (--features runtime-init)"
  (cd footprint && CARGO_TARGET_DIR=$TARGET_DIR/footprint-rt cargo build --release --quiet --features runtime-init)
  python3 footprint/measure.py size "$TARGET_DIR/footprint-rt/thumbv7em-none-eabihf/release/footprint" \
    --baseline "$rel/baseline" | sed -n '/^| section/,/^driver flash/p'
  echo "-- the nRF91 Serial Modem profile instead of the BG96 one (--features nrf91)"
  (cd footprint && CARGO_TARGET_DIR=$TARGET_DIR/footprint-nrf91 cargo build --release --quiet --features nrf91)
  python3 footprint/measure.py size "$TARGET_DIR/footprint-nrf91/thumbv7em-none-eabihf/release/footprint" \
    --baseline "$rel/baseline" --max-flash 32768 | sed -n '/^| section/,/^driver flash/p;/^formula/p'
  echo "-- embassy-time in the dependency graph (compiled, but see the symbol check above)"
  (cd footprint && cargo tree -e normal -i embassy-time 2>/dev/null | head -3) || true
  echo "-- worst stack depth (nightly, -Z emit-stack-sizes; upper bound, see footprint/measure.py)"
  local v
  for v in "" runtime-init; do
    local dir=$TARGET_DIR/footprint-stack${v:+-$v}
    (cd footprint && RUSTFLAGS="-Z emit-stack-sizes -Z unstable-options -C symbol-mangling-version=legacy" \
      CARGO_TARGET_DIR=$dir cargo +nightly build --release --quiet ${v:+--features $v})
    echo "-- stack, ${v:-compile-time static}"
    python3 footprint/measure.py stack "$dir/thumbv7em-none-eabihf/release/footprint" \
      footprint_poll footprint_connect footprint_send footprint_recv footprint_close footprint_app_step reset SysTick
  done
}

for p in $PARTS; do
  "$p" 2>&1 | tee "$OUT/$p.txt"
done
echo "results in $OUT/"
