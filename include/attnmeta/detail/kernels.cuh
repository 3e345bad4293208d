// attnmeta/detail/kernels.cuh: the kernels behind the launchers in attnmeta/metadata.cuh.
//
// Batches of up to 32 requests take lane_batch_kernel: every warp holds the batch's prefixes in its
// registers. Larger ones end in fill_vectors() and copy_units(), which the blocks run over a table
// of per-request prefixes (request_totals at 0..bs): in shared memory for the single launch, where
// each block scans the batch itself; in the workspace for the device-scan path, where
// cub::DeviceScan built it. Every path copies a page unit with copy_unit().
#pragma once

#include "../block_offsets.cuh"
#include "../lookup.hpp"
#include "../request.hpp"
#include "lane_batch.cuh"
#include "page_copy.cuh"

namespace attnmeta {
namespace detail {

constexpr int block_threads = 256;
constexpr int min_blocks_per_sm = 4;  // __launch_bounds__: the register budget
/// lane_batch_kernel holds the batch beside a page copy: 80 registers a thread, three blocks an SM.
constexpr int lane_blocks_per_sm = 3;
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
};

/// Per-request and per-token outputs (tail included), threads [thread, thread + threads) of the
/// caller's choosing taking them in turn. `table` holds the exclusive prefixes at 0..bs.
template <class Batch, class Clamp>
__device__ __forceinline__ void fill_vectors(const step_params<Batch, Clamp>& p, const request_totals* table,
                                             int64_t thread, int64_t threads) {
  const int bs = p.batch.bs;
  const request_totals total = table[bs];
  const metadata_outputs& out = p.out;

  for (int64_t i = thread; i <= bs; i += threads)
    store_request(out, int(i), bs, table[i], table[i < bs ? i + 1 : i]);

  if (out.cu_topk_seqlens && thread == 0) out.cu_topk_seqlens[0] = 0;
  if (out.token_to_request || out.seqlens_expanded || out.topk_seqlens || out.cu_topk_seqlens || out.key_start ||
      out.key_end) {
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
}

/// This warp's place in an order of the grid's warps that puts consecutive places in different
/// blocks, block 0 last: a few units of work spread over every SM instead of queueing on a few,
/// and block 0, which also writes the per-request outputs, gets its share last.
__device__ __forceinline__ int64_t spread_warp(int64_t warps) {
  return warps - 1 - (int64_t(threadIdx.x >> 5) * gridDim.x + blockIdx.x);
}

/// The first page unit warp `warp` of `warps` takes; it then takes every warps-th. Fewer units
/// than warps are spread (spread_warp()); more go in the grid's order.
__device__ __forceinline__ int64_t first_unit(int64_t units, int64_t warp, int64_t warps) {
  return units < warps ? spread_warp(warps) : warp;
}

/// Page unit u of a request whose prefixes are `at` and `next` (tokens, kv and units are read) and
/// whose req_to_token row is `row`: where the unit writes, then its copy. One warp.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_unit(const step_params<Batch, Clamp>& p, int64_t u, const request_totals& at,
                                          const request_totals& next, int64_t row) {
  page_unit unit;
  unit.cols = int(p.shape.columns(next.kv - at.kv));
  const int64_t chunks = p.shape.column_chunks(unit.cols);
  const int64_t local = u - at.units;
  const int64_t group = (local | chunks) >> 31 ? local / chunks : int64_t(uint32_t(local) / uint32_t(chunks));
  unit.chunk = int(local - group * chunks);
  unit.row0 = at.tokens + group * page_unit_rows;
  const int64_t last = next.tokens < p.shape.max_tokens ? next.tokens : p.shape.max_tokens;
  unit.rows = int(last - unit.row0 < page_unit_rows ? last - unit.row0 : page_unit_rows);
  unit.src = p.batch.pages.req_to_token + row * p.batch.pages.row_stride;
  const page_divisor pd{int(p.shape.page_size), p.shape.page_shift};
  if (p.shape.page_table)
    copy_page_rows<Vec>(p.out, pd, unit);
  else
    copy_block_rows(p.out, pd, unit);
}

/// Page-table units placed by the scanned table (units at 0..bs), one a warp over the grid.
/// `rows`, if not null, holds each request's req_to_token row (else it is read from
/// req_pool_indices).
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_units(const step_params<Batch, Clamp>& p, const request_totals* table,
                                           const int32_t* rows) {
  const int bs = p.batch.bs;
  const int64_t units = table[bs].units;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  const field_view<request_totals, &request_totals::units> first{table};
  for (int64_t u = first_unit(units, (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5, warps); u < units;
       u += warps) {
    const int b = find_owner(first, bs, u);
    copy_unit<Vec>(p, u, table[b], table[b + 1], rows ? rows[b] : int64_t(p.batch.pages.req_pool_indices[b]));
  }
}

/// ORs `flags` into the caller's status word, if there is one.
__device__ __forceinline__ void publish(uint32_t* status, uint32_t flags) {
  if (status && flags) atomicOr(status, flags);
}

/// The whole step of a batch of at most lane_batch_max_bs requests, with no shared memory and no
/// barrier: every warp reads and scans the batch in its registers (lane_batch.cuh), then copies its
/// page units and writes its share of the per-token outputs; warp 0 of block 0 writes the
/// per-request outputs and reports the status bits. Cost per warp before its own work: one read a
/// lane and 40 shuffles. With a constant q up to one row group the page units need no scan
/// (request b's rows start at b * q): slot s is request s % bs, column chunk s / bs, and the copying
/// starts as soon as the lengths are in.
template <bool Vec, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, lane_blocks_per_sm) lane_batch_kernel(step_params<Batch, Clamp> p) {
  const int bs = p.batch.bs;
  const int lane = int(threadIdx.x & 31);
  const int64_t warp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  lane_request l = read_lane(p.batch, p.shape, p.clamp);
  const bool fixed_rows = !p.batch.q_per_request && p.batch.q_constant <= page_unit_rows;
  if (p.shape.wants_pages() && fixed_rows && bs > 0) {
    const int q = p.batch.q_constant;
    const int slots = bs * int(p.shape.column_chunks(p.shape.width));  // < 32 * 2^22
    for (int s = int(spread_warp(warps)); s < slots; s += int(warps)) {  // most slots past the real chunks
      const int b = s % bs;
      const int64_t chunk = s / bs;
      const int32_t kv = from_lane(l.kv, b);
      const int32_t row = from_lane(l.row, b);
      if (row < 0 || int64_t(b) * q >= p.shape.max_tokens || chunk >= p.shape.column_chunks(p.shape.columns(kv)))
        continue;
      copy_unit<Vec>(p, chunk, request_totals{int64_t(b) * q, 0, 0, 0}, request_totals{int64_t(b) * q + q, kv, 0, 0},
                     row);
    }
  }
  const request_totals total = scan_lanes(l);
  if (!fixed_rows) {  // page units first: their reads take longest
    for (int64_t u = first_unit(total.units, warp, warps); u < total.units; u += warps) {
      const int b = unit_owner(l, bs, u);
      const request_totals at{from_lane(l.at.tokens, b), from_lane(l.at.kv, b), 0, from_lane(l.at.units, b)};
      const request_totals next{at.tokens + from_lane(l.q, b), at.kv + from_lane(l.kv, b), 0, 0};
      copy_unit<Vec>(p, u, at, next, from_lane(l.row, b));
    }
  }
  const metadata_outputs& out = p.out;
  if (warp == 0) {
    if (lane < bs) store_request(out, lane, bs, l.at, request_totals{l.next_tokens(), l.next_kv(), 0, 0});
    uint32_t flags = l.flags;
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) flags |= __shfl_xor_sync(0xffffffffu, flags, d);
    if (lane == 0) {
      store_request(out, bs, bs, total, total);
      if (out.cu_topk_seqlens) out.cu_topk_seqlens[0] = 0;
      publish(out.status, flags | totals_flags(total, p.shape.max_tokens));
    }
  }
  if (!(out.token_to_request || out.seqlens_expanded || out.topk_seqlens || out.cu_topk_seqlens || out.key_start ||
        out.key_end))
    return;
  const int64_t n = total.tokens < p.shape.max_tokens ? total.tokens : p.shape.max_tokens;
  for (int64_t base = warp * 32; base < p.shape.max_tokens; base += warps * 32) {
    const int64_t t = base + lane;
    const int b = lane_owner(l, bs, t);
    const request_totals at{from_lane(l.at.tokens, b), from_lane(l.at.kv, b), from_lane(l.at.topk, b), 0};
    const request_totals next{at.tokens + from_lane(l.q, b), at.kv + from_lane(l.kv, b), 0, 0};
    if (t < n)
      store_token(out, t, token_values_at(at, next, b, t - at.tokens, p.clamp));
    else if (t < p.shape.max_tokens)
      store_token(out, t, tail_token_values(total));
  }
}

/// Dynamic shared memory of the single launch: bs + 1 prefixes, then bs req_to_token rows when a
/// page table is asked for.
inline size_t single_launch_smem(int bs, bool pages) {
  return sizeof(request_totals) * (size_t(bs) + 1) + (pages ? sizeof(int32_t) * size_t(bs) : 0);
}

/// The whole step in one launch, for batches larger than a warp holds: every block scans the batch
/// into shared memory (one warp does it for batches up to warp_scan_max_bs), then takes its share
/// of the outputs. Block 0 reports the status bits.
template <bool Vec, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) single_launch_kernel(step_params<Batch, Clamp> p) {
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ union {
    typename request_scan::temp_storage block;
    typename request_warp_scan::temp_storage warp;
  } scan_storage;
  request_totals* table = reinterpret_cast<request_totals*>(dynamic_smem);
  int32_t* rows = p.shape.wants_pages() ? reinterpret_cast<int32_t*>(table + p.batch.bs + 1) : nullptr;

  uint32_t flags = 0;
  const auto load = [&](int b) {
    int32_t row;
    const request_totals r = load_request(p.batch, p.shape, p.clamp, b, flags, row);
    if (rows) rows[b] = row;
    return r;
  };
  const auto store = [&](int i, const request_totals& v) { table[i] = v; };
  if (p.batch.bs <= warp_scan_max_bs) {
    if (threadIdx.x < 32) request_warp_scan::exclusive_sum(scan_storage.warp, p.batch.bs, load, store);
  } else {
    request_scan::exclusive_sum(scan_storage.block, p.batch.bs, load, store);
  }
  __syncthreads();
  if (blockIdx.x == 0)
    publish(p.out.status, flags | (threadIdx.x == 0 ? totals_flags(table[p.batch.bs], p.shape.max_tokens) : 0u));
  fill_vectors(p, table, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
  if (p.shape.wants_pages()) copy_units<Vec>(p, table, rows);
}

/// cub::DeviceScan's input for the device-scan path: request b's totals, with its status bits
/// published as it is read (device_exclusive_sum supplies the zero at bs).
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
  fill_vectors(p, table, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
  if (p.shape.wants_pages()) copy_units<Vec>(p, table, nullptr);
}

}  // namespace detail
}  // namespace attnmeta
