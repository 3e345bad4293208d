// attnmeta/detail/kernels.cuh: the kernels behind the launchers in attnmeta/metadata.cuh.
//
// Both paths end in fill_outputs() and copy_pages() over a table of per-request prefixes
// (request_totals at 0..bs): in shared memory for the single launch, where blocks scan the batch
// themselves; in the workspace for the device-scan path, where cub::DeviceScan built it. With a
// constant q the page tables need no table at all (copy_pages_static).
#pragma once

#include "../block_offsets.cuh"
#include "../lookup.hpp"
#include "../request.hpp"
#include "page_copy.cuh"

namespace attnmeta {
namespace detail {

constexpr int block_threads = 256;
constexpr int min_blocks_per_sm = 3;  // __launch_bounds__: the register budget
constexpr int scan_items_per_thread = 2;
using request_scan = block_offsets<request_totals, block_threads, scan_items_per_thread>;
using request_warp_scan = warp_offsets<request_totals, scan_items_per_thread>;
/// Batches up to this size are scanned by one warp (no block-wide scan).
constexpr int warp_scan_max_bs = request_warp_scan::tile_items;

/// Everything a kernel needs, passed by value.
template <class Batch, class Clamp>
struct step_params {
  Batch batch;
  Clamp clamp;
  step_shape shape;
  metadata_outputs out;  // strides resolved
  int table_blocks;      // blocks that scan the batch and write the 1-D outputs (the single launch)
};

/// Per-request and per-token outputs (tail included), spread over `threads` threads from `thread`
/// by grid-stride loops. `table` holds the exclusive prefixes at 0..bs.
template <class Batch, class Clamp>
__device__ __forceinline__ void fill_outputs(const step_params<Batch, Clamp>& p, const request_totals* table,
                                             int64_t thread, int64_t threads) {
  const int bs = p.batch.bs;
  const request_totals total = table[bs];
  const metadata_outputs& out = p.out;

  for (int64_t i = thread; i <= bs; i += threads)
    store_request(out, int(i), bs, table[i], table[i < bs ? i + 1 : i]);

  if (out.cu_topk_seqlens && thread == 0) out.cu_topk_seqlens[0] = 0;
  if (!(out.token_to_request || out.seqlens_expanded || out.topk_seqlens || out.cu_topk_seqlens || out.key_start ||
        out.key_end))
    return;
  const int64_t n = total.tokens < p.shape.max_tokens ? total.tokens : p.shape.max_tokens;
  const field_view<request_totals, &request_totals::tokens> starts{table};
  for (int64_t t = thread; t < p.shape.max_tokens; t += threads) {
    // A warp's 32 consecutive tokens mostly share a request: the lowest lane searches, the others
    // reuse its answer when their token falls in the same request, and search only if not.
    const unsigned lanes = __activemask();
    const int leader = __ffs(lanes) - 1;
    const int64_t t_lead = __shfl_sync(lanes, t, leader);
    int b = t_lead < n && int(threadIdx.x & 31) == leader ? find_owner(starts, bs, t_lead) : 0;
    b = __shfl_sync(lanes, b, leader);
    if (t < n) {
      if (t >= table[b + 1].tokens) b = find_owner(starts, bs, t);
      store_token(out, t, token_values_at(table[b], table[b + 1], b, t - table[b].tokens, p.clamp));
    } else {
      store_token(out, t, tail_token_values(total));
    }
  }
}

/// 32-bit a / b when both fit, else 64-bit (a >= 0, b > 0).
__device__ __forceinline__ int64_t quotient(int64_t a, int64_t b) {
  return (a | b) >> 31 ? a / b : int64_t(uint32_t(a) / uint32_t(b));
}

template <bool Vec>
__device__ __forceinline__ void copy_unit(const step_shape& shape, const metadata_outputs& out, const page_unit& u) {
  const page_divisor pd{int(shape.page_size), shape.page_shift};
  if (shape.page_table)
    copy_page_rows<Vec>(out, pd, u);
  else
    copy_block_rows(out, pd, u);
}

/// Page-table units of a batch with per-request q: the unit prefixes in `table` place each unit,
/// so no warp is spent on columns past kv'. One unit a warp, from `warp` by `warps`.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_pages_by_table(const step_params<Batch, Clamp>& p, const request_totals* table,
                                                    int64_t warp, int64_t warps) {
  const int bs = p.batch.bs;
  const field_view<request_totals, &request_totals::units> first_unit{table};
  const auto& pages = p.batch.pages;
  for (int64_t u = warp; u < table[bs].units; u += warps) {
    const int b = find_owner(first_unit, bs, u);
    const request_totals at = table[b];
    const request_totals next = table[b + 1];
    page_unit unit;
    unit.cols = int(p.shape.columns(next.kv - at.kv));
    const int64_t chunks = p.shape.column_chunks(unit.cols);
    const int64_t local = u - at.units;
    const int64_t group = quotient(local, chunks);
    unit.chunk = int(local - group * chunks);
    unit.row0 = at.tokens + group * page_unit_rows;
    const int64_t end = next.tokens < p.shape.max_tokens ? next.tokens : p.shape.max_tokens;
    unit.rows = int(end - unit.row0 < page_unit_rows ? end - unit.row0 : page_unit_rows);
    unit.src = pages.req_to_token + pages.req_pool_indices[b] * pages.row_stride;
    copy_unit<Vec>(p.shape, p.out, unit);
  }
}

/// Page-table units of a batch with a constant q (decode, target verify, draft extend with D):
/// request b's rows start at b * q, so units are placed statically, (b, row group, chunk of W),
/// and need no scan; a unit past the request's kv' costs one cached read and is skipped.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_pages_static(const step_params<Batch, Clamp>& p, int64_t warp, int64_t warps) {
  const int64_t q = p.batch.q_constant;
  const int64_t chunks = p.shape.column_chunks(p.shape.width);
  const int64_t per_request = p.shape.row_groups(q) * chunks;
  const int64_t units = per_request * p.batch.bs;
  const auto& pages = p.batch.pages;
  for (int64_t u = warp; u < units; u += warps) {
    const int b = int(quotient(u, per_request));
    const int64_t local = u - b * per_request;
    const int64_t group = quotient(local, chunks);
    page_unit unit;
    unit.chunk = int(local - group * chunks);
    unit.row0 = b * q + group * page_unit_rows;
    const int64_t end = b * q + q < p.shape.max_tokens ? b * q + q : p.shape.max_tokens;
    if (unit.row0 >= end) continue;
    uint32_t ignored = 0;  // block 0 reports these
    const request_lengths len = lengths_of(p.batch, b, ignored);
    unit.cols = int(p.shape.columns(len.kv));
    if (unit.chunk >= p.shape.column_chunks(unit.cols)) continue;
    const int64_t row = page_row_of(p.batch, b, ignored);
    if (row < 0) continue;
    unit.rows = int(end - unit.row0 < page_unit_rows ? end - unit.row0 : page_unit_rows);
    unit.src = pages.req_to_token + row * pages.row_stride;
    copy_unit<Vec>(p.shape, p.out, unit);
  }
}

template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_pages(const step_params<Batch, Clamp>& p, const request_totals* table) {
  const int64_t warp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  if (p.batch.q_per_request)
    copy_pages_by_table<Vec>(p, table, warp, warps);
  else
    copy_pages_static<Vec>(p, warp, warps);
}

/// ORs `flags` into the caller's status word, if there is one.
__device__ __forceinline__ void publish(uint32_t* status, uint32_t flags) {
  if (status && flags) atomicOr(status, flags);
}

/// The whole step in one launch. The first p.table_blocks blocks scan the batch into shared
/// memory (bs + 1 prefixes; one warp does it for small batches) and write the 1-D outputs; with a
/// per-request q every block needs the scan to place its page units, with a constant q the other
/// blocks go straight to the page tables. Block 0 reports the status bits.
template <bool Vec, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) single_launch_kernel(step_params<Batch, Clamp> p) {
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ union {
    typename request_scan::temp_storage block;
    typename request_warp_scan::temp_storage warp;
  } scan_storage;
  request_totals* table = reinterpret_cast<request_totals*>(dynamic_smem);

  if (int(blockIdx.x) < p.table_blocks || p.batch.q_per_request) {
    uint32_t flags = 0;
    const auto load = [&](int b) { return load_request(p.batch, p.shape, p.clamp, b, flags); };
    const auto store = [&](int i, const request_totals& v) { table[i] = v; };
    if (p.batch.bs <= warp_scan_max_bs) {
      if (threadIdx.x < 32) request_warp_scan::exclusive_sum(scan_storage.warp, p.batch.bs, load, store);
    } else {
      request_scan::exclusive_sum(scan_storage.block, p.batch.bs, load, store);
    }
    __syncthreads();
    if (blockIdx.x == 0)
      publish(p.out.status, flags | (threadIdx.x == 0 ? totals_flags(table[p.batch.bs], p.shape.max_tokens) : 0u));
    if (int(blockIdx.x) < p.table_blocks)
      fill_outputs(p, table, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, int64_t(p.table_blocks) * blockDim.x);
  }
  if (p.shape.wants_pages()) copy_pages<Vec>(p, table);
}

/// cub::DeviceScan's input for the device-scan path: request b's totals (zero past bs), with its
/// status bits published as it is read.
template <class Batch, class Clamp>
struct request_loader {
  step_params<Batch, Clamp> p;
  using value_type = request_totals;
  __device__ request_totals operator()(int b) const {
    uint32_t flags = 0;
    const request_totals r = load_request(p.batch, p.shape, p.clamp, b, flags);
    publish(p.out.status, flags);
    return r;
  }
};

/// The device-scan path's fill: `table` was written by cub::DeviceScan into the workspace.
template <bool Vec, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm)
    table_fill_kernel(step_params<Batch, Clamp> p, const request_totals* table) {
  if (blockIdx.x == 0 && threadIdx.x == 0) publish(p.out.status, totals_flags(table[p.batch.bs], p.shape.max_tokens));
  fill_outputs(p, table, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
  if (p.shape.wants_pages()) copy_pages<Vec>(p, table);
}

}  // namespace detail
}  // namespace attnmeta
