// attnmeta/status.hpp: the device status word's bits and the host error messages.
#pragma once

#include "config.hpp"

namespace attnmeta {

/// Bits the kernels OR into the caller's optional device status word (`metadata_outputs::status`).
/// The word is sticky: zero it once, read it whenever convenient (it never stalls the step), and
/// reset it after reading. Every condition below is handled safely; the bit only reports it.
enum status_bits : uint32_t {
  /// A seq_lens or extend_lens entry was negative; it was read as 0.
  status_negative_length = 1u << 0,
  /// N = sum q_b exceeded max_tokens; tokens at and past max_tokens were not written.
  status_tokens_over_capacity = 1u << 1,
  /// kv'_b exceeded page_table_width W for a request whose page rows were asked for; W columns written.
  status_kv_over_width = 1u << 2,
  /// req_pool_indices[b] was negative, past int32, or (when pool_rows is given) >= pool_rows;
  /// that request's page-table and block-table rows were left untouched.
  status_bad_req_pool_index = 1u << 3,
  /// A length or a scan total passed INT32_MAX; the int32 outputs saturate at INT32_MAX.
  status_int32_overflow = 1u << 4,
  /// Notice, not an error: some q_b > kv'_b (padded graph rows do this); seqlens_expanded clamps at 0.
  status_query_longer_than_kv = 1u << 8,
};

/// The bits that mean the input was wrong (everything but the notices).
constexpr uint32_t status_error_mask = 0xffu;

namespace detail {
inline thread_local const char* last_error = "";

/// Records `message` as this thread's last error and returns cudaErrorInvalidValue.
inline cudaError_t invalid_argument(const char* message) {
  last_error = message;
  return cudaErrorInvalidValue;
}
}  // namespace detail

/// The message of the last argument error a launcher returned on this thread ("" if none).
/// It names the argument, e.g. "attnmeta: options.topk must be > 0". Static storage; never freed.
inline const char* last_error_message() noexcept { return detail::last_error; }

}  // namespace attnmeta
