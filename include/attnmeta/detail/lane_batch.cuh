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

/// Inclusive prefix of a short batch (short_batch.cuh) at a lane, and the batch's totals.
struct short_lane_scan {
  short_totals through;
  short_totals total;
};

/// Scans a short batch of bs <= 32 requests (request `lane` in lane `lane`) across the warp: five
/// shuffle steps in int32 and three broadcasts, or the broadcasts alone for one request. Every lane
/// of the warp calls it.
__device__ __forceinline__ short_lane_scan scan_short_lanes(const short_request& r, int bs) {
  const int lane = int(threadIdx.x & 31);
  short_totals sum = totals_of(r);
  if (bs <= 1) return {sum, {from_lane(sum.tokens, 0), from_lane(sum.kv, 0), from_lane(sum.topk, 0)}};
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const short_totals up{__shfl_up_sync(0xffffffffu, sum.tokens, d), __shfl_up_sync(0xffffffffu, sum.kv, d),
                          __shfl_up_sync(0xffffffffu, sum.topk, d)};
    if (lane >= d) sum = sum + up;
  }
  return {sum, {from_lane(sum.tokens, 31), from_lane(sum.kv, 31), from_lane(sum.topk, 31)}};
}

/// Scans the lanes' totals across the warp in T (five shuffle steps over tokens, kv and topk; units
/// stay 0, a lane batch copies no pages) and returns the batch's totals. Every lane of the warp
/// calls it.
template <class T>
__device__ __forceinline__ request_totals scan_lanes_as(lane_request& l) {
  const int lane = int(threadIdx.x & 31);
  const T tokens = T(l.at.tokens), kv = T(l.at.kv), topk = T(l.at.topk);
  T sum_tokens = tokens, sum_kv = kv, sum_topk = topk;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const T up_tokens = __shfl_up_sync(0xffffffffu, sum_tokens, d);
    const T up_kv = __shfl_up_sync(0xffffffffu, sum_kv, d);
    const T up_topk = __shfl_up_sync(0xffffffffu, sum_topk, d);
    if (lane >= d) sum_tokens += up_tokens, sum_kv += up_kv, sum_topk += up_topk;
  }
  l.at = {sum_tokens - tokens, sum_kv - kv, sum_topk - topk, 0};
  return {from_lane(sum_tokens, 31), from_lane(sum_kv, 31), from_lane(sum_topk, 31), 0};
}

/// The lanes' scan in int64.
__device__ __forceinline__ request_totals scan_lanes(lane_request& l) { return scan_lanes_as<int64_t>(l); }

/// The same in 32 bits when every lane's totals are below 2^26, so that 32 of them sum below 2^31
/// (a request of 8192 tokens with topk 2048 sums below 2^25): fifteen 32-bit shuffles and adds
/// instead of fifteen of 64 bits; otherwise in int64. Every lane calls it.
__device__ __forceinline__ request_totals scan_lanes_small(lane_request& l) {
  constexpr uint64_t small = uint64_t(1) << 26;
  const bool fits = __all_sync(0xffffffffu, (uint64_t(l.at.tokens) | uint64_t(l.at.kv) | uint64_t(l.at.topk)) < small);
  return fits ? scan_lanes_as<int32_t>(l) : scan_lanes_as<int64_t>(l);
}

/// The request that owns token t (lane's own t, t < the total), given each lane's first token
/// `first`: the last b < bs whose first token is <= t. Binary lifting over the lanes, five shuffles
/// (of 32 bits for int32_t first tokens); every lane calls it.
template <class T>
__device__ __forceinline__ int lane_owner(T first, int bs, T t) {
  int b = 0;
#pragma unroll
  for (int step = 16; step > 0; step >>= 1) {
    const T start = from_lane(first, (b + step) & 31);
    if (b + step < bs && start <= t) b += step;
  }
  return b;
}

}  // namespace detail
}  // namespace attnmeta
