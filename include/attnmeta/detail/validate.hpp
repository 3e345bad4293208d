// attnmeta/detail/validate.hpp: the host-side argument checks both backends run before any work.
#pragma once

#include "../batch.hpp"
#include "../request.hpp"
#include "../status.hpp"

namespace attnmeta {
namespace detail {

#define ATTNMETA_REQUIRE(cond, message) \
  do {                                  \
    if (!(cond)) return ::attnmeta::detail::invalid_argument("attnmeta: " message); \
  } while (0)

/// The shape the kernels see, with the caller's zero strides resolved.
inline metadata_outputs resolve_strides(metadata_outputs out, const capacity& cap, const options& opt) {
  if (out.page_table_row_stride == 0) out.page_table_row_stride = cap.page_table_width;
  if (out.block_table_row_stride == 0) out.block_table_row_stride = ceil_div(cap.page_table_width, opt.page_size);
  return out;
}

inline step_shape shape_of(const capacity& cap, const options& opt, const metadata_outputs& out) {
  step_shape s;
  s.max_tokens = cap.max_tokens;
  s.width = cap.page_table_width;
  s.page_size = opt.page_size;
  for (int k = 0; k < 31; ++k)
    if (opt.page_size == (1 << k)) s.page_shift = k;
  s.page_table = out.page_table != nullptr;
  s.block_table = out.block_table != nullptr;
  const auto aligned = [](const int32_t* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  s.tokens_aligned16 = aligned(out.token_to_request) && aligned(out.seqlens_expanded) && aligned(out.topk_seqlens) &&
                       aligned(out.key_start) && aligned(out.key_end);
  return s;
}

/// Every mistake that can be seen on the host, in the order a reader would check them.
/// Returns cudaSuccess or cudaErrorInvalidValue with last_error_message() naming the argument.
template <class SeqT, class QT, class IdxT>
cudaError_t validate(const ragged_batch<SeqT, QT, IdxT>& batch, const capacity& cap, const options& opt,
                     const metadata_outputs& out) {
  ATTNMETA_REQUIRE(cap.max_bs >= 0, "capacity.max_bs must be >= 0");
  ATTNMETA_REQUIRE(cap.max_tokens >= 0 && cap.max_tokens < int32_max, "capacity.max_tokens must be in [0, INT32_MAX)");
  ATTNMETA_REQUIRE(cap.page_table_width >= 0, "capacity.page_table_width must be >= 0");
  ATTNMETA_REQUIRE(batch.bs >= 0, "bs must be >= 0");
  ATTNMETA_REQUIRE(batch.bs <= cap.max_bs, "bs exceeds capacity.max_bs, the batch the workspace was sized for");
  ATTNMETA_REQUIRE(opt.topk > 0, "options.topk must be > 0");
  ATTNMETA_REQUIRE(opt.kpool >= 1, "options.kpool must be >= 1");
  ATTNMETA_REQUIRE(opt.page_size >= 1, "options.page_size must be >= 1");
  ATTNMETA_REQUIRE(batch.bs == 0 || batch.seq_lens.data != nullptr, "seq_lens is null");
  ATTNMETA_REQUIRE(batch.bs == 0 || !batch.q_per_request || batch.extend_lens.data != nullptr, "extend_lens is null");
  ATTNMETA_REQUIRE(batch.q_per_request || batch.q_constant >= 0, "the draft token count D must be >= 0");
  ATTNMETA_REQUIRE(batch.kv_extra >= 0, "kv_extra (D in target_verify) must be >= 0");
  if (out.wants_pages()) {
    const int64_t width = cap.page_table_width;
    ATTNMETA_REQUIRE(width > 0, "capacity.page_table_width must be > 0 when page_table or block_table is given");
    ATTNMETA_REQUIRE(batch.bs == 0 || batch.pages.req_pool_indices.data != nullptr,
                     "req_pool_indices is null but a page table was asked for");
    ATTNMETA_REQUIRE(batch.bs == 0 || batch.pages.req_to_token != nullptr,
                     "req_to_token is null but a page table was asked for");
    ATTNMETA_REQUIRE(batch.pages.row_stride >= width, "req_to_token row_stride must be >= capacity.page_table_width");
    ATTNMETA_REQUIRE(out.page_table == nullptr || out.page_table_row_stride == 0 || out.page_table_row_stride >= width,
                     "page_table_row_stride must be 0 (dense) or >= capacity.page_table_width");
    ATTNMETA_REQUIRE(out.block_table == nullptr || out.block_table_row_stride == 0 ||
                         out.block_table_row_stride >= ceil_div(width, opt.page_size),
                     "block_table_row_stride must be 0 (dense) or >= ceil(page_table_width / page_size)");
  }
  return cudaSuccess;
}

}  // namespace detail
}  // namespace attnmeta
