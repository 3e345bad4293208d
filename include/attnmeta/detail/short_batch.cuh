// attnmeta/detail/short_batch.cuh: steps whose requests are all short, computed with the fewest
// instructions.
//
// A small step's time is the path of one thread through the kernel: every instruction on it costs
// a few cycles that nothing hides. Decode, target verify and draft extend steps have at most a few
// tokens a request and lengths far below int32's range, so a thread can take its request's tokens
// one by one (the running topk sum instead of closed-form prefix sums, no search for the owning
// request) and scan the batch in 32-bit.
#pragma once

#include "../request.hpp"

namespace attnmeta {
namespace detail {

/// A batch whose every request has at most short_q_max tokens is short. It is also small when
/// every kv' and clamped length is below small_len_limit: then a warp's sums fit int32 (128 tokens,
/// kv' and topk below 2^31) and lane_batch.cuh scans them in 32-bit.
constexpr int short_q_max = 4;
constexpr int32_t small_len_limit = int32_t(1) << 24;

/// Request b of a short batch: q_b and kv'_b in int32, and the sum of its tokens' clamped lengths.
struct short_request {
  int32_t q = 0;
  int32_t kv = 0;
  int64_t topk = 0;
  bool fits = true;   ///< q_b <= short_q_max (the caller votes)
  bool small = true;  ///< fits, and kv'_b and every clamped length below small_len_limit

  /// seqlens_expanded of token j: max(kv - q + 1 + j, 0) (no overflow: j < q).
  __device__ __forceinline__ int32_t length(int j) const { return kv - q + 1 + j > 0 ? kv - q + 1 + j : 0; }
};

/// The short_request of a request of lengths `len` (lengths_of(); {0, 0} past bs). Its topk is the
/// same sum that totals_of() gives, capped alike. At most short_q_max clamp calls.
template <class Clamp>
__device__ __forceinline__ short_request short_request_of(const request_lengths& len, const Clamp& clamp) {
  short_request s;
  s.fits = s.small = len.q <= short_q_max;
  if (!s.fits) return s;
  s.q = int32_t(len.q);
  s.kv = int32_t(len.kv);
  s.small = len.kv < small_len_limit;
#pragma unroll
  for (int j = 0; j < short_q_max; ++j) {
    const int64_t c = j < s.q ? clamp(int64_t(s.length(j))) : 0;
    s.small = s.small && c >= 0 && c < small_len_limit;
    s.topk += c;
  }
  constexpr int64_t topk_cap = int64_t(1) << 32;  // as in totals_of()
  s.topk = s.topk > topk_cap ? topk_cap : s.topk;
  return s;
}

/// Writes the outputs of the tokens of request b of a short batch from the exclusive prefix `at`
/// at b (tokens, kv', topk): at most short_q_max tokens, none at max_tokens or past it. The values
/// are token_values_at()'s, the topk sum running instead of in closed form.
template <class Clamp>
__device__ __forceinline__ void store_short_tokens(const metadata_outputs& out, int b, const short_request& s,
                                                   const request_totals& at, int64_t max_tokens, const Clamp& clamp) {
  int64_t cu = at.topk;
#pragma unroll
  for (int j = 0; j < short_q_max; ++j) {
    if (j >= s.q || at.tokens + j >= max_tokens) break;
    const int32_t len = s.length(j);
    const int64_t c = clamp(int64_t(len));
    cu += c;
    store_token(out, at.tokens + j,
                token_values{b, len, saturate_int32(c), saturate_int32(cu), saturate_int32(at.kv),
                             saturate_int32(at.kv + len)});
  }
}

/// Request b's next prefix: at + what it adds.
__device__ __forceinline__ request_totals after(const request_totals& at, const short_request& s) {
  return {at.tokens + s.q, at.kv + s.kv, at.topk + s.topk, 0};
}

}  // namespace detail
}  // namespace attnmeta
