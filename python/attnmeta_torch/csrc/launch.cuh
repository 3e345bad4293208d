// launch.cuh: a checked `step` turned into an attnmeta batch and launched.
//
// launch<SeqT, QT> covers the per-request modes with extend_lens of type QT and, where QT == SeqT,
// the constant-q modes; each instantiation dispatches req_pool_indices over int32/int64 itself.
#pragma once

#include <type_traits>

#include <attnmeta/metadata.cuh>

#include "step.hpp"

namespace attnmeta_torch {
namespace detail {

template <class T>
attnmeta::strided<T> view(const index_array& a) {
  return attnmeta::strided<T>(static_cast<const T*>(a.data), a.stride);
}

// Attaches the page source when a page table or block table is asked for, then launches.
template <class Batch>
cudaError_t run(const step& s, const Batch& batch) {
  const auto go = [&](const auto& b) {
    return attnmeta::compute_metadata(s.workspace, s.workspace_bytes, s.cap, b, s.opt, s.out, s.stream);
  };
  if (!s.out.wants_pages()) return go(batch);
  if (s.req_pool_indices.is_int64)
    return go(batch.with_pages(view<int64_t>(s.req_pool_indices), s.req_to_token, s.req_to_token_row_stride,
                               s.pool_rows));
  return go(batch.with_pages(view<int32_t>(s.req_pool_indices), s.req_to_token, s.req_to_token_row_stride,
                             s.pool_rows));
}

}  // namespace detail

template <class SeqT, class QT>
cudaError_t launch(const step& s) {
  const auto seq = detail::view<SeqT>(s.seq_lens);
  if (s.extend_lens.data != nullptr) {
    const auto q = detail::view<QT>(s.extend_lens);
    return detail::run(s, s.kind == mode::extend ? attnmeta::extend_batch(s.bs, seq, q)
                                                 : attnmeta::draft_extend_batch(s.bs, seq, q));
  }
  if constexpr (std::is_same<SeqT, QT>::value) {
    switch (s.kind) {
      case mode::decode: return detail::run(s, attnmeta::decode_batch(s.bs, seq));
      case mode::target_verify: return detail::run(s, attnmeta::target_verify_batch(s.bs, seq, s.draft_tokens));
      case mode::draft_extend: return detail::run(s, attnmeta::draft_extend_batch(s.bs, seq, s.draft_tokens));
      case mode::extend: break;  // extend always has extend_lens (the binding checks it)
    }
  }
  return cudaErrorInvalidValue;  // unreachable: launch() routes constant-q steps to QT == SeqT
}

}  // namespace attnmeta_torch
