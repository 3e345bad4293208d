// attnmeta/detail/short_pages.cuh: the page tables of a short batch (every q_b <= short_q_max),
// copied by blocks that scan only what the copy needs.
//
// In the general single launch every warp of every block runs its block's prologue, a scan of the
// 32-byte request_totals of the whole batch, before it copies (ncu, decode bs 128 with page tables:
// 4.3x the instructions of a bare copy of the same rows). A copying block of a short batch needs
// only each request's first page unit and first page-table row, which fit one 64-bit value, so its
// scan is one block scan of 8-byte values and its search runs over 4-byte prefixes (bs 128: 8-17%
// faster than the general kernel).
#pragma once

#include <cub/block/block_scan.cuh>

#include "../lookup.hpp"
#include "../request.hpp"
#include "page_copy.cuh"
#include "short_batch.cuh"

namespace attnmeta {
namespace detail {

static_assert(short_q_max <= page_unit_rows, "a short request's page rows are one row group");

/// Most requests one thread of a copying block reads.
constexpr int short_pages_requests = 4;

/// The copying blocks' scan of (page units << 32 | q_b): units in the high half, rows in the low.
template <int BlockThreads>
using short_pages_scan = cub::BlockScan<uint64_t, BlockThreads, cub::BLOCK_SCAN_WARP_SCANS>;

/// Whether a batch can take copy_short_units(): BlockThreads threads hold it, and its page units
/// fit 32 bits whatever its lengths (q_b <= short_q_max is checked on the device).
template <int BlockThreads, class Batch>
bool short_pages_fit(const Batch& batch, const step_shape& shape) {
  return shape.wants_pages() && batch.bs <= BlockThreads * short_pages_requests &&
         int64_t(batch.bs) * shape.column_chunks(int(shape.width)) < (int64_t(1) << 32);
}

/// The page tables of a short batch by copying block `block` of `blocks`: each thread reads up to
/// four consecutive requests (pool index and lengths), one block scan gives each request its first
/// unit and first row, and the blocks' warps take the units in turn, each finding its request by
/// binary search over the 4-byte unit prefixes in `smem` (at least 16 * bs + 8 bytes). When there
/// are fewer units than warps, consecutive units go to different blocks, so a small step spreads
/// over every SM. Returns false, having written nothing, when a request has more than short_q_max
/// tokens (every block reaches the same answer). Every thread of the block calls it; `flags` gets
/// the status bits of the requests the thread read. Cost: one block scan, a barrier, and a search
/// of log2(bs) steps a unit.
template <bool Vec, int BlockThreads, class Batch>
__device__ __forceinline__ bool copy_short_units(const Batch& batch, const step_shape& shape,
                                                 const metadata_outputs& out,
                                                 typename short_pages_scan<BlockThreads>::TempStorage& storage,
                                                 unsigned char* smem, int block, int blocks, uint32_t& flags) {
  const int bs = batch.bs;
  const int per = (bs + BlockThreads - 1) / BlockThreads;
  const int first = int(threadIdx.x) * per;
  uint32_t* const first_unit = reinterpret_cast<uint32_t*>(smem);  // [bs + 1]
  int32_t* const first_row = reinterpret_cast<int32_t*>(first_unit + bs + 1);  // [bs + 1]
  int32_t* const pool_row = first_row + bs + 1;  // [bs]
  int32_t* const columns = pool_row + bs;  // [bs]
  uint64_t adds[short_pages_requests];
  uint64_t mine = 0;
  bool fits = true;
#pragma unroll
  for (int k = 0; k < short_pages_requests; ++k) {
    const int b = first + k;
    adds[k] = 0;
    if (k < per && b < bs) {
      const int64_t pool_index = static_cast<int64_t>(batch.pages.req_pool_indices[b]);
      const request_lengths len = lengths_of(batch, b, flags);
      fits = fits && len.q <= short_q_max;
      // no branch on the lengths before the row: the pool index is read beside them (bs 128 with
      // page tables, a call in a graph of 10: -1% to -2%)
      const int32_t row = paged_request_row(batch, shape, pool_index, len, flags);
      const int32_t cols = int32_t(shape.columns(len.kv));
      pool_row[b] = row;
      columns[b] = cols;
      const uint64_t units = row >= 0 ? uint64_t(shape.column_chunks(cols)) : 0;
      adds[k] = units << 32 | uint32_t(len.q);  // short: the rows' sum stays far below 2^32
      mine += adds[k];
    }
  }
  // A thread with a request that is not short adds short_unfit_tokens rows instead, so the scan's
  // total tells every thread (no barrier of its own for the test; no carry into the units).
  static_assert(BlockThreads * short_pages_requests * short_q_max < short_unfit_tokens &&
                    int64_t(BlockThreads) * short_unfit_tokens < (int64_t(1) << 32),
                "rows: above a short batch's, and within the low half");
  if (!fits) mine = uint64_t(short_unfit_tokens);
  uint64_t at, total;
  short_pages_scan<BlockThreads>(storage).ExclusiveSum(mine, at, total);
  if (uint32_t(total) >= uint32_t(short_unfit_tokens)) {
    __syncthreads();  // the general path reuses the scan's storage and smem
    return false;
  }
#pragma unroll
  for (int k = 0; k < short_pages_requests; ++k) {
    const int b = first + k;
    if (k < per && b < bs) {
      first_unit[b] = uint32_t(at >> 32);
      first_row[b] = int32_t(uint32_t(at));
      at += adds[k];
    }
  }
  if (threadIdx.x == 0) {
    first_unit[bs] = uint32_t(total >> 32);
    first_row[bs] = int32_t(uint32_t(total));
  }
  __syncthreads();

  const int64_t units = int64_t(total >> 32);
  constexpr int block_warps = BlockThreads / 32;
  const int64_t warps = int64_t(blocks) * block_warps;
  const int64_t warp = units < warps ? int64_t(threadIdx.x / 32) * blocks + block
                                     : int64_t(block) * block_warps + threadIdx.x / 32;
  const page_divisor pd{int(shape.page_size), shape.page_shift};
#pragma unroll 1
  for (int64_t u = warp; u < units; u += warps) {
    const int b = warp_find_owner(first_unit, bs, u);
    page_unit unit;
    unit.row0 = first_row[b];
    const int64_t next = first_row[b + 1];
    const int64_t last = next < shape.max_tokens ? next : shape.max_tokens;
    if (last <= unit.row0) continue;  // past max_tokens (status bit from the totals)
    unit.rows = int(last - unit.row0);
    unit.cols = columns[b];
    unit.chunk = int(u - first_unit[b]);
    unit.src = batch.pages.req_to_token + int64_t(pool_row[b]) * batch.pages.row_stride;
    copy_unit<Vec>(out, shape, pd, unit);
  }
  return true;
}

}  // namespace detail
}  // namespace attnmeta
