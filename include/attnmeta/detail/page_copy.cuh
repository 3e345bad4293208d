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

/// x / page_size and x % page_size == 0, by shift and mask for powers of two (1, 64, ...).
struct page_divisor {
  int size;
  int shift;  // -1: not a power of two
  __device__ __forceinline__ bool divides(int c) const {
    return shift >= 0 ? (c & (size - 1)) == 0 : c % size == 0;
  }
  /// c / page_size for a column c >= 0.
  __device__ __forceinline__ int quotient(int c) const { return shift >= 0 ? c >> shift : c / size; }
  /// floor(v / page_size), as Python's //: an arithmetic shift floors negative slots too.
  __device__ __forceinline__ int32_t floor_of(int32_t v) const {
    if (shift >= 0) return v >> shift;
    const int32_t q = v / size;
    return (q * size != v && v < 0) ? q - 1 : q;
  }
};

/// block_table entries among the 4 columns [col, col + 4) that a lane holds in v.
__device__ __forceinline__ void store_blocks(const metadata_outputs& out, const page_divisor& pd, const page_unit& u,
                                             int col, const int32_t* v) {
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int c = col + k;
    if (c < u.cols && pd.divides(c)) {
      const int32_t block = pd.floor_of(v[k]);
      int32_t* dst = out.block_table + u.row0 * out.block_table_row_stride + pd.quotient(c);
      for (int r = 0; r < u.rows; ++r) dst[r * out.block_table_row_stride] = block;
    }
  }
}

/// page_table (and block_table, if asked for) for one unit. Lane l holds columns
/// base + 128 k + 4 l + [0, 4) for k < page_unit_vectors. Vec: req_to_token and page_table rows are
/// 16-byte aligned, so full vectors move with one load and one store per row; the row's last,
/// partial vector (and every vector without Vec) moves element by element.
template <bool Vec>
__device__ __forceinline__ void copy_page_rows(const metadata_outputs& out, const page_divisor& pd, const page_unit& u) {
  const int lane = threadIdx.x & 31;
  const int base = u.chunk * int(page_unit_columns) + 4 * lane;
  int4 v[page_unit_vectors];
#pragma unroll
  for (int k = 0; k < page_unit_vectors; ++k) {
    const int col = base + 128 * k;
    if (Vec && col + 4 <= u.cols) {
      v[k] = __ldg(reinterpret_cast<const int4*>(u.src + col));
    } else {
      v[k].x = col + 0 < u.cols ? __ldg(u.src + col + 0) : 0;
      v[k].y = col + 1 < u.cols ? __ldg(u.src + col + 1) : 0;
      v[k].z = col + 2 < u.cols ? __ldg(u.src + col + 2) : 0;
      v[k].w = col + 3 < u.cols ? __ldg(u.src + col + 3) : 0;
    }
  }
  const int64_t stride = out.page_table_row_stride;
  for (int r = 0; r < u.rows; ++r) {
    int32_t* dst = out.page_table + (u.row0 + r) * stride;
#pragma unroll
    for (int k = 0; k < page_unit_vectors; ++k) {
      const int col = base + 128 * k;
      if (Vec && col + 4 <= u.cols) {
        *reinterpret_cast<int4*>(dst + col) = v[k];
      } else if (col < u.cols) {
        dst[col] = v[k].x;
        if (col + 1 < u.cols) dst[col + 1] = v[k].y;
        if (col + 2 < u.cols) dst[col + 2] = v[k].z;
        if (col + 3 < u.cols) dst[col + 3] = v[k].w;
      }
    }
  }
  if (out.block_table) {
#pragma unroll
    for (int k = 0; k < page_unit_vectors; ++k) {
      const int32_t e[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
      store_blocks(out, pd, u, base + 128 * k, e);
    }
  }
}

/// block_table alone for one unit: the chunk counts block columns, and each lane reads only the
/// page_size-th slots it needs (block column c reads slot c * page_size).
__device__ __forceinline__ void copy_block_rows(const metadata_outputs& out, const page_divisor& pd, const page_unit& u) {
  const int lane = threadIdx.x & 31;
  const int blocks = u.cols > 0 ? pd.quotient(u.cols - 1) + 1 : 0;  // ceil(cols / page_size), no overflow
  const int first = u.chunk * int(page_unit_columns) + lane;
  constexpr int per_lane = int(page_unit_columns) / 32;
  int32_t v[per_lane];
#pragma unroll
  for (int k = 0; k < per_lane; ++k) {
    const int c = first + 32 * k;
    v[k] = c < blocks ? pd.floor_of(__ldg(u.src + int64_t(c) * pd.size)) : 0;
  }
  for (int r = 0; r < u.rows; ++r) {
    int32_t* dst = out.block_table + (u.row0 + r) * out.block_table_row_stride + first;
#pragma unroll
    for (int k = 0; k < per_lane; ++k)
      if (first + 32 * k < blocks) dst[32 * k] = v[k];
  }
}

}  // namespace detail
}  // namespace attnmeta
