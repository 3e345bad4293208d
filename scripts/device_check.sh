#!/usr/bin/env bash
# One command on a GPU machine: build, run the GPU tests, the sanitizers, the examples, the
# benchmark, the PyTorch binding's tests and the peers, then print a short summary table last.
# Logs and JSON go to $OUT (or ./out). BUILD=DIR takes the programs from a build folder that already
# holds them (built on another machine and carried along) instead of building.
#   bash scripts/device_check.sh [--quick] [stage ...]
# stages: tests sanitize examples bench python peers profile (default: all but profile)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
QUICK=""
STAGES=""
for a in "$@"; do
  case $a in --quick) QUICK=--quick ;; *) STAGES="$STAGES $a" ;; esac
done
[ -z "$STAGES" ] && STAGES="tests sanitize examples bench python peers"
want() { [[ " $STAGES " == *" $1 "* ]]; }
declare -a SUMMARY
note() { SUMMARY+=("$1"); echo "== $1"; }
catch_line() { grep -E 'All tests passed|test cases:' "$1" | tail -1; }

nvidia-smi -L 2>/dev/null | head -1
BUILD=${BUILD:-build}
# Build unless the stages asked for find their programs in $BUILD already. PACK=1 leaves one file in
# $OUT, results.tgz, holding everything written there (for a runner that returns few files).
missing=""
{ want tests || want sanitize; } && [ ! -x "$BUILD/tests/attnmeta_gpu_tests" ] && missing=1
want examples && ! ls "$BUILD"/examples/0* >/dev/null 2>&1 && missing=1
{ want bench || want profile; } && [ ! -x "$BUILD/bench/attnmeta_bench" ] && missing=1
if [ -n "$missing" ]; then
  BUILD=build-device
  cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >"$OUT/configure.log" 2>&1 &&
    cmake --build $BUILD -j"$(nproc)" >"$OUT/build.log" 2>&1 || { note "build: FAILED (see build.log)"; tail -30 "$OUT/build.log"; }
fi
T=$BUILD/tests/attnmeta_gpu_tests

if want tests; then
  # The graph tests first in a process of their own: the launchers' first queries of the device
  # (and of the kernels' build) then happen inside stream capture.
  "$T" "[graph]" >"$OUT/gpu_graph_first.log" 2>&1; rc=$?
  note "gpu graph tests in a fresh process: rc=$rc, $(catch_line "$OUT/gpu_graph_first.log")"
  [ $rc -ne 0 ] && tail -30 "$OUT/gpu_graph_first.log"
  "$T" >"$OUT/gpu_tests.log" 2>&1; rc=$?
  note "gpu tests: rc=$rc, $(catch_line "$OUT/gpu_tests.log")"
  [ $rc -ne 0 ] && tail -40 "$OUT/gpu_tests.log"
  facts=$(grep -m1 '^launch facts' "$OUT/gpu_tests.log")  # the GPU and the code its kernels run as
  note "${facts:-launch facts: not printed (gpu_tests.log)}"
  # The launchers built from compute_80 PTX (no clusters, no PDL on this GPU either).
  "${T}_ptx80" "~[big]~[stress]" >"$OUT/gpu_tests_ptx80.log" 2>&1; rc=$?
  note "gpu tests, launchers from compute_80 PTX: rc=$rc, $(catch_line "$OUT/gpu_tests_ptx80.log")"
  [ $rc -ne 0 ] && tail -40 "$OUT/gpu_tests_ptx80.log"
  timeout 400 "$T" "[stress]" >"$OUT/gpu_stress.log" 2>&1; rc=$?
  note "gpu stress: rc=$rc, $(grep -E '^stress:' "$OUT/gpu_stress.log"), $(catch_line "$OUT/gpu_stress.log")"
  [ $rc -ne 0 ] && tail -30 "$OUT/gpu_stress.log"
  "$BUILD/tests/attnmeta_host_tests" >"$OUT/host_tests.log" 2>&1
  note "host tests: rc=$?, $(catch_line "$OUT/host_tests.log")"
fi

if want sanitize; then
  for tool in memcheck racecheck initcheck synccheck; do
    ATTNMETA_TEST_DIVISOR=${DIVISOR:-1} timeout "${SAN_TIMEOUT:-120}" compute-sanitizer --tool $tool --error-exitcode 9 "$T" \
      >"$OUT/sanitizer_$tool.log" 2>&1; rc=$?
    note "compute-sanitizer $tool: rc=$rc, $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer_$tool.log" | tail -1 | sed 's/=* *//'), $(catch_line "$OUT/sanitizer_$tool.log")"
    [ $rc -ne 0 ] && grep -m5 -A8 "=====" "$OUT/sanitizer_$tool.log" | head -40
  done
  for tool in memcheck racecheck; do  # the launchers built from compute_80 PTX
    ATTNMETA_TEST_DIVISOR=${DIVISOR:-1} timeout "${SAN_TIMEOUT:-120}" compute-sanitizer --tool $tool --error-exitcode 9 \
      "${T}_ptx80" "~[big]~[stress]" >"$OUT/sanitizer_${tool}_ptx80.log" 2>&1; rc=$?
    note "compute-sanitizer $tool, ptx80: rc=$rc, $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer_${tool}_ptx80.log" | tail -1 | sed 's/=* *//'), $(catch_line "$OUT/sanitizer_${tool}_ptx80.log")"
  done
fi

if want examples; then
  for ex in "$BUILD"/examples/0*; do
    [ -x "$ex" ] || continue
    "$ex" >"$OUT/$(basename "$ex").log" 2>&1
    note "example $(basename "$ex"): rc=$?"
  done
fi

if want bench; then
  timeout 400 "$BUILD/bench/attnmeta_bench" $QUICK --json "$OUT/bench.jsonl" >"$OUT/bench.log" 2>&1
  note "C++ benchmark: rc=$?"
fi

if want profile; then
  for only in ${PROFILE_CASES:-decode:32:nopages draft_extend:32:pages:short draft_extend:128:pages:short extend:64}; do
    timeout 200 ncu --kernel-name regex:"single_launch|static_pages|short_pages|table_fill" --launch-count 1 --launch-skip 3 \
      --section SpeedOfLight --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
      --section MemoryWorkloadAnalysis --section SourceCounters \
      "$BUILD/bench/attnmeta_bench" --only "$only" >"$OUT/ncu_${only//:/_}.log" 2>&1
    note "ncu $only: rc=$?"
    grep -E "Duration|Elapsed Cycles|DRAM Throughput|Compute \(SM\) Throughput|Registers Per|Achieved Occupancy|Grid Size|Warp Cycles Per Issued|No Eligible|Local Memory" "$OUT/ncu_${only//:/_}.log" | head -14
  done
fi

if want python && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  timeout 500 python3 -m pytest -q python/tests >"$OUT/torch_tests.log" 2>&1
  note "torch binding tests: rc=$?, $(tail -1 "$OUT/torch_tests.log")"
  [ "${PIPESTATUS[0]}" ] && grep -E "FAILED|Error" "$OUT/torch_tests.log" | head -20
  timeout 120 python3 examples/03_torch_drop_in.py >"$OUT/03_torch_drop_in.log" 2>&1
  note "example 03_torch_drop_in: rc=$?"
  tail -15 "$OUT/03_torch_drop_in.log"
fi

if want peers && python3 -c "import torch, triton" 2>/dev/null; then
  timeout 500 python3 bench/peers.py --out "$OUT" $QUICK >"$OUT/peers.log" 2>&1
  note "peers benchmark: rc=$?"
fi

[ -f "$OUT/peers.log" ] && tail -60 "$OUT/peers.log"
[ -f "$OUT/bench.log" ] && sed -n '/^## attnmeta/,$p' "$OUT/bench.log"
if [ -f "$OUT/bench.jsonl" ]; then  # the issues' targets, counted from this run's JSON lines
  echo
  echo "## against the targets (bench/targets.py)"
  python3 bench/targets.py "$OUT/bench.jsonl" $([ -f "$OUT/peers.jsonl" ] && echo --peers "$OUT/peers.jsonl")
fi
echo
echo "## summary"
for s in "${SUMMARY[@]}"; do echo "- $s"; done
if [ -n "${PACK:-}" ]; then
  pack=$(mktemp -d)
  tar czf "$pack/results.tgz" -C "$OUT" . && rm -rf "${OUT:?}"/* && mv "$pack/results.tgz" "$OUT/" && rmdir "$pack"
  echo "packed: $OUT/results.tgz"
fi
