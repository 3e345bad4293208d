// attnmeta/host.hpp: the host (CPU) backend. Same contract, same building blocks, host memory.
//
// For CPU-only engines, for running the examples without a GPU, and as a second implementation the
// tests hold the kernels against. Plain C++17: it compiles without nvcc (the CUDA runtime headers
// are needed for cudaError_t only).
#pragma once

#include <vector>

#include "batch.hpp"
#include "clamp.hpp"
#include "detail/validate.hpp"
#include "lookup.hpp"
#include "request.hpp"

namespace attnmeta {
namespace host {

/// Computes every requested output of SPEC's table for `batch`, in host memory, with the clamp
/// policy `clamp`. Same validation, tail and status bits as the device launchers. O(bs + N + page
/// bytes); allocates one vector of bs + 1 prefixes.
template <class SeqT, class QT, class IdxT, class Clamp>
cudaError_t compute_metadata(const capacity& cap, const ragged_batch<SeqT, QT, IdxT>& batch, const options& opt,
                             const Clamp& clamp, const metadata_outputs& outputs) {
  if (cudaError_t e = detail::validate(batch, cap, opt, outputs)) return e;
  const metadata_outputs out = detail::resolve_strides(outputs, cap, opt);
  const step_shape shape = detail::shape_of(cap, opt, out);
  const int bs = batch.bs;

  uint32_t flags = 0;
  std::vector<request_totals> prefixes(static_cast<size_t>(bs) + 1);
  request_totals* const table = prefixes.data();  // indexed by int without sign conversions
  for (int b = 0; b < bs; ++b) table[b + 1] = table[b] + load_request(batch, shape, clamp, b, flags);
  const request_totals total = table[bs];
  flags |= totals_flags(total, shape.max_tokens);

  for (int i = 0; i <= bs; ++i) store_request(out, i, bs, table[i], table[i < bs ? i + 1 : i]);

  if (out.cu_topk_seqlens) out.cu_topk_seqlens[0] = 0;
  const int64_t n = total.tokens < shape.max_tokens ? total.tokens : shape.max_tokens;
  const field_view<request_totals, &request_totals::tokens> starts{table};
  for (int64_t t = 0; t < shape.max_tokens; ++t) {
    if (t < n) {
      const token_position pos = locate_token(starts, bs, t);
      store_token(out, t, token_values_at(table[pos.request], table[pos.request + 1], pos.request, pos.rank, clamp));
    } else {
      store_token(out, t, tail_token_values(total));
    }
  }

  for (int b = 0; b < bs && shape.wants_pages(); ++b) {
    if (table[b + 1].units == table[b].units) continue;  // no rows, or a bad req_pool_index
    const int64_t first = table[b].tokens;
    const int64_t last = table[b + 1].tokens < shape.max_tokens ? table[b + 1].tokens : shape.max_tokens;
    const int64_t cols = shape.columns(table[b + 1].kv - table[b].kv);
    const int32_t* src = batch.pages.req_to_token + batch.pages.req_pool_indices[b] * batch.pages.row_stride;
    for (int64_t t = first; t < last; ++t) {
      for (int64_t c = 0; out.page_table && c < cols; ++c) out.page_table[t * out.page_table_row_stride + c] = src[c];
      for (int64_t c = 0; out.block_table && c * opt.page_size < cols; ++c)
        out.block_table[t * out.block_table_row_stride + c] = static_cast<int32_t>(floor_div(src[c * opt.page_size], opt.page_size));
    }
  }
  // Through the caller's struct, not the local copy: GCC 12 at -O1/-O2 (IPA mod-ref) was seen to drop
  // this store when it went through `out`.
  if (outputs.status) *outputs.status |= flags;
  return cudaSuccess;
}

/// The same, with the clamp SPEC.md names: min(x, topk) for kpool == 1, the pooled clamp otherwise.
template <class SeqT, class QT, class IdxT>
cudaError_t compute_metadata(const capacity& cap, const ragged_batch<SeqT, QT, IdxT>& batch, const options& opt,
                             const metadata_outputs& out) {
  if (opt.kpool == 1) return compute_metadata(cap, batch, opt, topk_clamp{opt.topk}, out);
  return compute_metadata(cap, batch, opt, pooled_topk_clamp{opt.topk, opt.kpool}, out);
}

}  // namespace host
}  // namespace attnmeta
