#!/usr/bin/env bash
# ncu on one benchmark case (bench --only MODE:BS:pages:short, say): a full report and a SASS
# listing with stall samples per instruction, in $OUT. Needs build/bench/attnmeta_bench.
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
case=${1:-draft_extend_const:1:pages:short}
timeout 240 ncu --set full --import-source no --page source --print-source sass --kernel-name regex:"single_launch|static_pages|short_pages" \
  --launch-skip 3 --launch-count 1 build/bench/attnmeta_bench --only "$case" > "$OUT/ncu_source.log" 2>&1
echo "ncu rc=$?"
timeout 240 ncu --set full --kernel-name regex:"single_launch|static_pages|short_pages" --launch-skip 3 --launch-count 1 \
  build/bench/attnmeta_bench --only "$case" > "$OUT/ncu_full.log" 2>&1
echo "ncu full rc=$?"
grep -E "Duration|Elapsed Cycles|SM Active|Issued Warp Per|Achieved Occ|Stall|Warp Cycles Per Issued" "$OUT/ncu_full.log" | head -20
