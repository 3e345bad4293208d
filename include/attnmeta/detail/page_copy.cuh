// attnmeta/detail/page_copy.cuh: one warp copies one unit of page-table work.
//
// A unit is (request b, row group of up to page_unit_rows tokens, chunk of page_unit_columns
// columns). The warp reads the chunk of req_to_token's row once and writes it to every row of the
// group from registers; block_table entries falling in the chunk come from the same registers.
#pragma once

#include "../request.hpp"

namespace attnmeta {
namespace detail {

/// Where one unit writes: rows [row0, row0 + rows) of the page tables, columns of chunk `chunk`.
struct page_unit {
  const int32_t* src;  ///< req_to_token row of the request
  int64_t row0;
  int64_t rows;
  int64_t chunk;
  int64_t cols;        ///< min(kv'_b, W): columns the rows get
};

/// Stores v to rows [row0, row0 + rows) at `col` of `out` (row stride `stride`), 16 bytes at once.
__device__ __forceinline__ void store_rows_vec(int32_t* out, int64_t stride, const page_unit& u, int64_t col, int4 v) {
  int32_t* dst = out + u.row0 * stride + col;
  for (int64_t r = 0; r < u.rows; ++r) *reinterpret_cast<int4*>(dst + r * stride) = v;
}

/// block_table entries of the columns [col, col + n) a lane holds in v (every page_size-th column).
__device__ __forceinline__ void store_blocks(const metadata_outputs& out, int64_t page_size, const page_unit& u,
                                             int64_t col, const int32_t* v, int n, int step) {
  for (int k = 0; k < n; ++k) {
    const int64_t c = col + int64_t(k) * step;
    if (c < u.cols && c % page_size == 0) {
      const int32_t block = static_cast<int32_t>(floor_div(v[k], page_size));
      int32_t* dst = out.block_table + u.row0 * out.block_table_row_stride + c / page_size;
      for (int64_t r = 0; r < u.rows; ++r) dst[r * out.block_table_row_stride] = block;
    }
  }
}

/// page_table (and block_table, if asked for) for one unit. Vec: req_to_token rows and page_table
/// rows are 16-byte aligned, so each lane moves 4 consecutive columns with one load and one store
/// per row; otherwise lane l moves columns l, l + 32, l + 64, l + 96 with 4-byte accesses.
template <bool Vec>
__device__ __forceinline__ void copy_page_rows(const metadata_outputs& out, int64_t page_size, const page_unit& u) {
  const int lane = threadIdx.x & 31;
  const int64_t base = u.chunk * page_unit_columns;
  int32_t v[4];
  if (Vec) {
    const int64_t col = base + lane * 4;
    if (col + 4 <= u.cols) {
      const int4 x = __ldg(reinterpret_cast<const int4*>(u.src + col));
      store_rows_vec(out.page_table, out.page_table_row_stride, u, col, x);
      v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
    } else {  // the row's last, partial vector
      for (int k = 0; k < 4; ++k) v[k] = col + k < u.cols ? __ldg(u.src + col + k) : 0;
      int32_t* dst = out.page_table + u.row0 * out.page_table_row_stride + col;
      for (int64_t r = 0; r < u.rows; ++r)
        for (int k = 0; k < 4; ++k)
          if (col + k < u.cols) dst[r * out.page_table_row_stride + k] = v[k];
    }
    if (out.block_table) store_blocks(out, page_size, u, col, v, 4, 1);
  } else {
    const int64_t col = base + lane;
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = col + 32 * k < u.cols ? __ldg(u.src + col + 32 * k) : 0;
    int32_t* dst = out.page_table + u.row0 * out.page_table_row_stride + col;
    for (int64_t r = 0; r < u.rows; ++r)
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (col + 32 * k < u.cols) dst[r * out.page_table_row_stride + 32 * k] = v[k];
    if (out.block_table) store_blocks(out, page_size, u, col, v, 4, 32);
  }
}

/// block_table alone for one unit: the chunk counts block columns, and each lane reads only the
/// page_size-th slots it needs.
__device__ __forceinline__ void copy_block_rows(const metadata_outputs& out, int64_t page_size, const page_unit& u) {
  const int lane = threadIdx.x & 31;
  const int64_t blocks = ceil_div(u.cols, page_size);
  const int64_t first = u.chunk * page_unit_columns + lane;
  int32_t v[4];
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int64_t c = first + 32 * k;
    v[k] = c < blocks ? static_cast<int32_t>(floor_div(__ldg(u.src + c * page_size), page_size)) : 0;
  }
  int32_t* dst = out.block_table + u.row0 * out.block_table_row_stride + first;
  for (int64_t r = 0; r < u.rows; ++r)
#pragma unroll
    for (int k = 0; k < 4; ++k)
      if (first + 32 * k < blocks) dst[r * out.block_table_row_stride + 32 * k] = v[k];
}

}  // namespace detail
}  // namespace attnmeta
