// attnmeta/detail/lane_batch.cuh: a batch of at most 32 requests held by one warp, request b in
// lane b, with its prefixes scanned in registers.
//
// Small steps are latency-bound: every barrier, shared-memory round trip and instruction the SM has
// not run before shows in the step's time. A warp that reads the whole batch itself (one read a
// lane) and scans it with shuffles needs none of the first two, so every warp of a small step can
// start its own share of the outputs at once, without waiting for another.
#pragma once

#include "../request.hpp"
#include "short_batch.cuh"

namespace attnmeta {
namespace detail {

/// Largest batch a warp holds.
constexpr int lane_batch_max_bs = 32;

/// Lane b's view of request b (b < bs), kept small: its own q_b and kv'_b (int32 after
/// lengths_of()), its req_to_token row (-1: nothing to copy), the status bits its inputs raised,
/// and `at`: lane_request_of() leaves the request's own totals there, scan_lanes() turns them into
/// its exclusive prefix. Lanes b >= bs hold zeros, then the batch's totals.
struct lane_request {
  request_totals at;
  int32_t q;
  int32_t kv;
  int32_t row;
  uint32_t flags;
  __device__ __forceinline__ int64_t next_tokens() const { return at.tokens + q; }
  __device__ __forceinline__ int64_t next_kv() const { return at.kv + kv; }
};

/// Lane `src`'s value of v (every lane of the warp calls it).
template <class T>
__device__ __forceinline__ T from_lane(T v, int src) {
  return __shfl_sync(0xffffffffu, v, src);
}

/// Lane `lane`'s lane_request of a batch without page tables, from its lengths (lengths_of()) and
/// the status bits they raised; lanes past bs pass {0, 0} and no bits.
template <class Clamp>
__device__ __forceinline__ lane_request lane_request_of(const request_lengths& len, uint32_t flags,
                                                        const Clamp& clamp) {
  lane_request l;
  l.at = totals_of(len, clamp);
  l.q = int32_t(len.q);
  l.kv = int32_t(len.kv);
  l.row = -1;
  l.flags = flags;
  return l;
}

/// Request `lane` of a small short batch (short_batch.cuh) in int32, the form that writes its
/// outputs with the fewest instructions: q_b, kv'_b, its tokens' clamped lengths and their sum, and
/// the status bits it raises. Lanes past bs hold zeros.
struct tiny_request {
  int32_t q = 0;
  int32_t kv = 0;
  int32_t topk = 0;                ///< c[0] + ... + c[q - 1]
  int32_t c[short_q_max] = {};     ///< topk_seqlens of its tokens (0 past q)
  uint32_t flags = 0;              ///< status_query_longer_than_kv, the only bit a small request raises
  /// seqlens_expanded of token j: max(kv - q + 1 + j, 0).
  __device__ __forceinline__ int32_t length(int j) const { return kv - q + 1 + j > 0 ? kv - q + 1 + j : 0; }
};

/// Lane `lane`'s tiny_request; `small` is false (and the request unusable) unless q_b <= short_q_max,
/// 0 <= kv'_b < small_len_limit and every clamped length lies in [0, small_len_limit): a negative
/// length or one past int32 leaves the request to the general path and its status bits. One or two
/// reads, at most short_q_max clamp calls.
template <class Batch, class Clamp>
__device__ __forceinline__ tiny_request tiny_request_of(const Batch& batch, const Clamp& clamp, int lane,
                                                        bool& small) {
  tiny_request r;
  small = true;
  if (lane >= batch.bs) return r;
  const int64_t seq = batch.seq_lens[lane];
  const int64_t q = batch.q_per_request ? batch.extend_lens[lane] : int64_t(batch.q_constant);
  const int64_t kv = seq + batch.kv_extra;  // kv_extra >= 0
  small = uint64_t(seq) < uint64_t(small_len_limit) && uint64_t(kv) < uint64_t(small_len_limit) &&
          uint64_t(q) <= uint64_t(short_q_max);
  r.q = int32_t(q);
  r.kv = int32_t(kv);
  r.flags = r.q > r.kv ? status_query_longer_than_kv : 0u;
#pragma unroll
  for (int j = 0; j < short_q_max; ++j) {
    const int64_t c = j < r.q ? clamp(int64_t(r.length(j))) : 0;
    small = small && uint64_t(c) < uint64_t(small_len_limit);
    r.c[j] = int32_t(c);
    r.topk += r.c[j];  // < short_q_max * 2^24: no overflow
  }
  return r;
}

/// Inclusive prefixes of a small short batch at a lane, and the batch's totals (all below 2^31:
/// 32 requests of at most short_q_max tokens, kv' and clamped lengths below 2^24).
struct tiny_scan {
  int32_t tokens;
  int32_t kv;
  int32_t topk;
  int32_t total_tokens;
  int32_t total_topk;
};

/// Scans the batch's tokens, kv' and topk across the warp: five shuffle steps in int32 and two
/// broadcasts. Every lane of the warp calls it.
__device__ __forceinline__ tiny_scan scan_tiny(const tiny_request& r) {
  const int lane = int(threadIdx.x & 31);
  int32_t tokens = r.q, kv = r.kv, topk = r.topk;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int32_t t_up = __shfl_up_sync(0xffffffffu, tokens, d);
    const int32_t kv_up = __shfl_up_sync(0xffffffffu, kv, d);
    const int32_t topk_up = __shfl_up_sync(0xffffffffu, topk, d);
    if (lane >= d) tokens += t_up, kv += kv_up, topk += topk_up;
  }
  return {tokens, kv, topk, from_lane(tokens, 31), from_lane(topk, 31)};
}

/// Scans the lanes' totals across the warp (five shuffle steps over tokens, kv and topk; units
/// stay 0, a lane batch copies no pages) and returns the batch's totals. Every lane of the warp
/// calls it.
__device__ __forceinline__ request_totals scan_lanes(lane_request& l) {
  const int lane = int(threadIdx.x & 31);
  const request_totals mine = l.at;
  request_totals sum = mine;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int64_t tokens = __shfl_up_sync(0xffffffffu, sum.tokens, d);
    const int64_t kv = __shfl_up_sync(0xffffffffu, sum.kv, d);
    const int64_t topk = __shfl_up_sync(0xffffffffu, sum.topk, d);
    if (lane >= d) sum.tokens += tokens, sum.kv += kv, sum.topk += topk;
  }
  l.at = {sum.tokens - mine.tokens, sum.kv - mine.kv, sum.topk - mine.topk, 0};
  return {from_lane(sum.tokens, 31), from_lane(sum.kv, 31), from_lane(sum.topk, 31), 0};
}

/// The request that owns token t (lane's own t, t < the total): the last b < bs whose first token
/// is <= t. Binary lifting over the lanes' prefixes, five shuffles; every lane calls it.
__device__ __forceinline__ int lane_owner(const lane_request& l, int bs, int64_t t) {
  int b = 0;
#pragma unroll
  for (int step = 16; step > 0; step >>= 1) {
    const int64_t start = from_lane(l.at.tokens, (b + step) & 31);
    if (b + step < bs && start <= t) b += step;
  }
  return b;
}

}  // namespace detail
}  // namespace attnmeta
