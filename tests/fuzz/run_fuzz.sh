#!/usr/bin/env bash
# Builds the libFuzzer target (Debian's clang) and runs it for SECONDS (default 60) over the corpus
# in tests/fuzz/corpus; every crash it finds is written there too, to become a regression input.
# Exits 77 (CTest's skip) where clang with libFuzzer is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
cxx=$(command -v clang++-14 || command -v clang++ || true)
[ -n "$cxx" ] || { echo "no clang++: fuzzing skipped"; exit 77; }
work=${FUZZ_WORK:-$(mktemp -d)}
mkdir -p "$work"
cuda_inc=${CUDA_INCLUDE:-/usr/local/cuda/include}
"$cxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$here/../../include" -I"$cuda_inc" "$here/fuzz_host.cpp" -o "$work/fuzz_host" 2>"$work/build.log" ||
  { grep -q "fuzzer" "$work/build.log" && { echo "clang has no libFuzzer runtime: fuzzing skipped"; exit 77; }; cat "$work/build.log"; exit 1; }
mkdir -p "$work/corpus"
# the checked-in regression inputs run first, then the fuzzer explores for the time given
if ls "$here"/corpus/* >/dev/null 2>&1; then "$work/fuzz_host" "$here"/corpus/* || exit 1; fi
"$work/fuzz_host" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$work/" "$work/corpus" 2>&1 | tail -5
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] || { echo "crash inputs: $work"; ls "$work"/crash-* 2>/dev/null; }
exit $rc
