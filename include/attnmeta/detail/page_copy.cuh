// attnmeta/detail/page_copy.cuh: one warp copies one unit of page-table work.
//
// A unit is (request b, row group of up to page_unit_rows tokens, chunk of page_unit_columns
// columns). The warp reads the chunk of req_to_token's row once, four 16-byte loads a lane in
// flight, and writes it to every row of the group from registers; block_table entries falling in
// the chunk come from the same registers. Index arithmetic is 32-bit: columns are below W <= 2^31.
#pragma once

#include "../request.hpp"

namespace attnmeta {
namespace detail {

/// Where one unit writes: rows [row0, row0 + rows) of the page tables, columns of chunk `chunk`.
struct page_unit {
  const int32_t* src;  ///< req_to_token row of the request
  int64_t row0;
  int rows;
  int chunk;
  int cols;            ///< min(kv'_b, W): columns the rows get
};

/// Places unit `local` (< chunks * row groups) of a request whose rows start at `first_row` and end
/// at `last` (its last token + 1, or max_tokens if less): chunk local % chunks of row group
/// local / chunks, its rows cut at `last` (none when the group starts there or past it).
__device__ __forceinline__ void place_unit(page_unit& unit, int64_t local, int64_t chunks, int64_t first_row,
                                          int64_t last) {
  const int64_t group = (local | chunks) >> 31 ? local / chunks : int64_t(uint32_t(local) / uint32_t(chunks));
  unit.chunk = int(local - group * chunks);
  unit.row0 = first_row + group * page_unit_rows;
  unit.rows = int(last - unit.row0 < page_unit_rows ? last - unit.row0 : page_unit_rows);
}

/// Division by page_size, by shifts for powers of two (1, 64, ...). copy_page_rows() takes the
/// shifts inline, ahead of these calls: the same through a branch-free ceil_of() and a slot
/// helper here changed the code around the copy and made the per-request-q steps 1-3% slower
/// (H200, a call in a graph of 10: draft extend bs 8, kv 100K-131K, 3.95 -> 4.10 us).
struct page_divisor {
  int size;
  int shift;  // -1: not a power of two
  /// c / page_size for a column c >= 0.
  __device__ __forceinline__ int quotient(int c) const { return shift >= 0 ? c >> shift : c / size; }
  /// ceil(c / page_size) for a column count c >= 0, without overflow near INT_MAX.
  __device__ __forceinline__ int ceil_of(int c) const { return c > 0 ? quotient(c - 1) + 1 : 0; }
  /// floor(v / page_size), as Python's //: an arithmetic shift floors negative slots too.
  __device__ __forceinline__ int32_t floor_of(int32_t v) const {
    if (shift >= 0) return v >> shift;
    const int32_t q = v / size;
    return (q * size != v && v < 0) ? q - 1 : q;
  }
};

/// Block column j of the unit's block_table rows: `block` in each row.
__device__ __forceinline__ void store_block_column(const metadata_outputs& out, const page_unit& u, int j, int32_t block) {
  const int64_t stride = out.block_table_row_stride;
  int32_t* dst = out.block_table + u.row0 * stride + j;
#pragma unroll 1
  for (int r = 0; r < u.rows; ++r) dst[r * stride] = block;
}

/// block_table for block columns [j0, j1) of the unit's rows: block column j takes slot
/// j * page_size of the request's row, divided by page_size. The lanes take the block columns in
/// turn; a loop, not unrolled, so the code stays small (a small step runs it once, cold).
__device__ __forceinline__ void store_block_columns(const metadata_outputs& out, const page_divisor& pd,
                                                    const page_unit& u, int j0, int j1) {
#pragma unroll 1
  for (int j = j0 + int(threadIdx.x & 31); j < j1; j += 32)
    store_block_column(out, u, j, pd.floor_of(__ldg(u.src + int64_t(j) * pd.size)));
}

/// Up to 4 slots [col, cols) of a row, element by element (zeros past cols).
__device__ __forceinline__ int4 load_partial(const int32_t* src, int col, int cols) {
  int4 v{0, 0, 0, 0};
  if (col < cols) v.x = __ldg(src + col);
  if (col + 1 < cols) v.y = __ldg(src + col + 1);
  if (col + 2 < cols) v.z = __ldg(src + col + 2);
  if (col + 3 < cols) v.w = __ldg(src + col + 3);
  return v;
}

/// Columns [col, cols) of v (at most 4) to dst, element by element.
__device__ __forceinline__ void store_partial(int32_t* dst, int col, int cols, const int4& v) {
  if (col < cols) dst[col] = v.x;
  if (col + 1 < cols) dst[col + 1] = v.y;
  if (col + 2 < cols) dst[col + 2] = v.z;
  if (col + 3 < cols) dst[col + 3] = v.w;
}

/// page_table (and block_table, if asked for) for one unit. Lane l holds columns
/// page_unit_columns * chunk + 128 k + 4 l + [0, 4) for k < page_unit_vectors. Vec: req_to_token
/// and page_table rows are 16-byte aligned, so full vectors move with one load and one store per
/// row, and the row's one partial vector (if any) is stored element by element after the rows;
/// without Vec every vector moves element by element.
template <bool Vec>
__device__ __forceinline__ void copy_page_rows(const metadata_outputs& out, const page_divisor& pd, const page_unit& u) {
  const int lane = threadIdx.x & 31;
  const int c0 = u.chunk * int(page_unit_columns);
  const int base = c0 + 4 * lane;
  // The row's loads first: they need only the unit, and the rest (the partial vector, the block
  // columns, whose bounds take a division for page sizes that are not powers of two) is worked out
  // while they are in flight (H200, a call in a graph of 10, against the bounds first: decode bs
  // 4096 164.2 -> 161.7 us, draft extend bs 4096 291.8 -> 285.1, decode bs 128 5.71 -> 5.36, decode
  // bs 8 2.31 -> 2.22; draft extend bs 1 2.36 -> 2.41). The lane's vectors sit at fixed offsets
  // from one address in the row (and in each page_table row): one 64-bit address a row, the
  // vectors' offsets in the instructions.
  const int32_t* const src = u.src + base;
  int4 v[page_unit_vectors];
#pragma unroll
  for (int k = 0; k < page_unit_vectors; ++k) {
    if (!Vec) v[k] = load_partial(src + 128 * k, 0, u.cols - (base + 128 * k));
    else v[k] = base + 128 * k + 4 <= u.cols ? __ldg(reinterpret_cast<const int4*>(src + 128 * k)) : int4{0, 0, 0, 0};
  }
  const int tail = u.cols & ~3;  // Vec: the row's partial vector starts here, when cols % 4 != 0
  const bool has_tail = Vec && tail != u.cols && tail >= base && ((tail - base) & 127) == 0 &&
                        tail - base < 128 * int(page_unit_vectors);
  int4 t{0, 0, 0, 0};  // the partial vector, loaded once (not once per k: the code stays small)
  if (has_tail) t = load_partial(u.src, tail, u.cols);
  // Block columns whose slot lies in this unit's columns [c0, c1). For page_size >= 16 there are at
  // most 32, one a lane, and each lane reads its slot now, before the stores, rather than after
  // them (one more dependent read per unit shows at scale). Page sizes that are powers of two take
  // shifts alone, without the branches around the divisions, and the rows' addresses step by the
  // stride: a small step waits out its copying warps' instructions (block_table cost the bs 1 page
  // steps 0.33-0.37 us where a bare copy of the same step spends 0.07 on it; this form, against
  // ceil_of() / floor_of() and an address a row, H200, a call in a graph of 10: target verify bs 1
  // 2.31 -> 2.16 us, draft extend bs 1 2.26 -> 2.17, bs 8 -3% to +2%, bs 128-512 within 1%).
  const int c1 = u.cols - c0 < int(page_unit_columns) ? u.cols : c0 + int(page_unit_columns);
  const bool one_a_lane = out.block_table && pd.size >= int(page_unit_columns) / 32;
  const bool shifts = pd.shift >= 0;
  // ceil(c / 2^shift) = ((c - 1) >> shift) + 1 for c >= 0 (an arithmetic shift of -1 is -1)
  const int j0 = shifts ? ((c0 - 1) >> pd.shift) + 1 : pd.ceil_of(c0);
  const int j1 = shifts ? ((c1 - 1) >> pd.shift) + 1 : pd.ceil_of(c1);
  const int j = j0 + lane;
  const bool own_block = one_a_lane && j < j1;
  const int32_t* const slot_at = u.src + (shifts ? int64_t(j) << pd.shift : int64_t(j) * pd.size);
  const int32_t slot = own_block ? __ldg(slot_at) : 0;
  const int64_t stride = out.page_table_row_stride;
  int32_t* const first = out.page_table + u.row0 * stride;
  int32_t* dst = first + base;
#pragma unroll 1
  for (int r = 0; r < u.rows; ++r, dst += stride) {
#pragma unroll
    for (int k = 0; k < page_unit_vectors; ++k) {
      if (!Vec)
        store_partial(dst + 128 * k, 0, u.cols - (base + 128 * k), v[k]);
      else if (base + 128 * k + 4 <= u.cols)
        __stcs(reinterpret_cast<int4*>(dst + 128 * k), v[k]);  // streaming: this kernel never reads it back
    }
  }
  if (has_tail) {
    dst = first;
#pragma unroll 1
    for (int r = 0; r < u.rows; ++r, dst += stride) store_partial(dst, tail, u.cols, t);
  }
  if (own_block) {
    const int32_t block = shifts ? slot >> pd.shift : pd.floor_of(slot);
    const int64_t block_stride = out.block_table_row_stride;
    int32_t* block_dst = out.block_table + u.row0 * block_stride + j;
#pragma unroll 1
    for (int r = 0; r < u.rows; ++r, block_dst += block_stride) *block_dst = block;
  } else if (out.block_table && !one_a_lane) {
    store_block_columns(out, pd, u, j0, j1);  // small pages: the slots were just read, L1 hits
  }
}

/// block_table alone for one unit: the chunk counts block columns, and each lane reads only the
/// page_size-th slots it needs (block column j reads slot j * page_size).
__device__ __forceinline__ void copy_block_rows(const metadata_outputs& out, const page_divisor& pd, const page_unit& u) {
  const int blocks = pd.ceil_of(u.cols);
  const int j0 = u.chunk * int(page_unit_columns);
  store_block_columns(out, pd, u, j0, blocks - j0 < int(page_unit_columns) ? blocks : j0 + int(page_unit_columns));
}

/// One unit: page_table rows (and block_table, if asked for), or block_table alone when it is the
/// only table.
template <bool Vec>
__device__ __forceinline__ void copy_unit(const metadata_outputs& out, const step_shape& shape, const page_divisor& pd,
                                          const page_unit& u) {
  if (shape.page_table)
    copy_page_rows<Vec>(out, pd, u);
  else
    copy_block_rows(out, pd, u);
}

}  // namespace detail
}  // namespace attnmeta
