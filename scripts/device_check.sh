#!/usr/bin/env bash
# One command on a GPU machine: build, run the GPU tests, the sanitizers, the examples and the
# benchmark (and the PyTorch binding's tests and the peers when torch is there), then print a short
# summary table last. Logs and JSON go to $OUT (or ./out).
#   bash scripts/device_check.sh [--quick] [--no-sanitizers] [--no-python]
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
QUICK=""; SAN=1; PY=1
for a in "$@"; do
  case $a in --quick) QUICK=--quick ;; --no-sanitizers) SAN=0 ;; --no-python) PY=0 ;; esac
done
declare -a SUMMARY
note() { SUMMARY+=("$1"); echo "== $1"; }

nvidia-smi -L 2>/dev/null | head -1
BUILD=${BUILD:-build}
if [ ! -x "$BUILD/tests/attnmeta_gpu_tests" ] || [ ! -x "$BUILD/bench/attnmeta_bench" ]; then
  BUILD=build-device
  cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >"$OUT/configure.log" 2>&1 &&
    cmake --build $BUILD -j"$(nproc)" >"$OUT/build.log" 2>&1 || { note "build: FAILED (see build.log)"; tail -30 "$OUT/build.log"; }
fi
T=$BUILD/tests/attnmeta_gpu_tests

"$T" >"$OUT/gpu_tests.log" 2>&1; rc=$?
note "gpu tests: rc=$rc, $(grep -E 'All tests passed|test cases:' "$OUT/gpu_tests.log" | tail -1)"
[ $rc -ne 0 ] && tail -40 "$OUT/gpu_tests.log"
"$BUILD/tests/attnmeta_host_tests" >"$OUT/host_tests.log" 2>&1
note "host tests: rc=$?, $(grep -E 'All tests passed|test cases:' "$OUT/host_tests.log" | tail -1)"

if [ $SAN = 1 ] && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck initcheck synccheck; do
    ATTNMETA_TEST_DIVISOR=${DIVISOR:-20} timeout ${SAN_TIMEOUT:-120} compute-sanitizer --tool $tool --error-exitcode 9 "$T" \
      >"$OUT/sanitizer_$tool.log" 2>&1; rc=$?
    note "compute-sanitizer $tool: rc=$rc, $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer_$tool.log" | tail -1), $(grep -E 'All tests passed|test cases:' "$OUT/sanitizer_$tool.log" | tail -1)"
    [ $rc -ne 0 ] && grep -m5 -A8 "=====" "$OUT/sanitizer_$tool.log" | head -40
  done
fi

for ex in "$BUILD"/examples/0*; do
  [ -x "$ex" ] || continue
  "$ex" >"$OUT/$(basename "$ex").log" 2>&1
  note "example $(basename "$ex"): rc=$?"
done
cat "$OUT/02_cuda_graph_replay.log" 2>/dev/null

if [ $PY = 1 ] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && [ -d python/tests ]; then
  (cd python && timeout 400 python3 -m pytest -q tests) >"$OUT/torch_tests.log" 2>&1
  note "torch binding tests: rc=$?, $(tail -1 "$OUT/torch_tests.log")"
  [ -f examples/03_torch_drop_in.py ] && { timeout 120 python3 examples/03_torch_drop_in.py >"$OUT/03_torch_drop_in.log" 2>&1; note "example 03_torch_drop_in: rc=$?"; }
fi

timeout 400 "$BUILD/bench/attnmeta_bench" $QUICK --json "$OUT/bench.jsonl" >"$OUT/bench.log" 2>&1
note "C++ benchmark: rc=$?"
if [ $PY = 1 ] && [ -f bench/peers.py ] && python3 -c "import torch, triton" 2>/dev/null; then
  timeout 400 python3 bench/peers.py --out "$OUT" ${QUICK:---quick} >"$OUT/peers.log" 2>&1
  note "peers benchmark: rc=$?"
  tail -40 "$OUT/peers.log"
fi

sed -n '/^## attnmeta/,$p' "$OUT/bench.log"
echo
echo "## summary"
for s in "${SUMMARY[@]}"; do echo "- $s"; done
