// attnmeta/detail/lane_batch.cuh: a batch of at most 32 requests held by one warp, request b in
// lane b (or up to 64 and 128, two and four a lane: lane L holds requests RL .. RL + R - 1), with
// its prefixes scanned in registers.
//
// Small steps are latency-bound: every barrier, shared-memory round trip and instruction the SM has
// not run before shows in the step's time. A warp that reads the whole batch itself (a few reads a
// lane) and scans it with shuffles needs none of the first two, so every warp of a small
// step can start its own share of the outputs at once, without waiting for another.
#pragma once

#include <cstddef>

#include "../request.hpp"
#include "short_batch.cuh"

namespace attnmeta {
namespace detail {

/// Largest batch a warp holds one request a lane; lane_batch_kernel() holds up to
/// lane_batch_max_requests requests a lane where the batch is not short (two up to 64 requests).
constexpr int lane_batch_max_bs = 32;
constexpr int lane_batch_max_requests = 4;

/// One request of a lane batch before the scan: its totals (units 0: a lane batch copies no
/// pages), its q_b and kv'_b (int32 after lengths_of()), and the clamp's prefix sum below its
/// token 0's length, which its token_base takes from its topk prefix. Past bs: zeros.
struct lane_request {
  request_totals own;
  int32_t q = 0;
  int32_t kv = 0;
  int64_t below = 0;
};

/// Lane `src`'s value of v (every lane of the warp calls it).
template <class T>
__device__ __forceinline__ T from_lane(T v, int src) {
  return __shfl_sync(0xffffffffu, v, src);
}

/// The lane_request of a request of lengths `len` (lengths_of()); {0, 0} past bs. O(1): two
/// prefix sums of the clamp.
template <class Clamp>
__device__ __forceinline__ lane_request lane_request_of(const request_lengths& len, const Clamp& clamp) {
  lane_request r;
  const int64_t first = len.kv - len.q + 1;
  r.below = clamp.prefix_sum(first > 0 ? first : 0);
  r.own = totals_of(len, r.below, clamp);
  r.q = int32_t(len.q);
  r.kv = int32_t(len.kv);
  return r;
}

/// Its token_base, once the scan has given its exclusive prefix `at`.
__device__ __forceinline__ token_base<int64_t> token_base_of(const lane_request& r, const request_totals& at) {
  return {at.tokens, at.kv, int64_t(r.kv) - r.q + 1, at.topk - r.below};
}

/// Inclusive prefix of a short batch (short_batch.cuh) at a lane, and the batch's totals.
struct short_lane_scan {
  short_totals through;
  short_totals total;
};

/// The sum of `own` over lanes 0 .. lane of the warp (inclusive): five shuffle steps of three
/// int32 each. Every lane of the warp calls it.
__device__ __forceinline__ short_totals inclusive_lane_sum(const short_totals& own) {
  const int lane = int(threadIdx.x & 31);
  short_totals sum = own;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const short_totals up{__shfl_up_sync(0xffffffffu, sum.tokens, d), __shfl_up_sync(0xffffffffu, sum.kv, d),
                          __shfl_up_sync(0xffffffffu, sum.topk, d)};
    if (lane >= d) sum = sum + up;
  }
  return sum;
}

/// Scans a short batch of bs <= 32 requests (request `lane` in lane `lane`) across the warp: five
/// shuffle steps in int32 and three broadcasts, or the broadcasts alone for one request. Every lane
/// of the warp calls it.
__device__ __forceinline__ short_lane_scan scan_short_lanes(const short_request& r, int bs) {
  const short_totals own = totals_of(r);
  if (bs <= 1) return {own, {from_lane(own.tokens, 0), from_lane(own.kv, 0), from_lane(own.topk, 0)}};
  const short_totals sum = inclusive_lane_sum(own);
  return {sum, {from_lane(sum.tokens, 31), from_lane(sum.kv, 31), from_lane(sum.topk, 31)}};
}

/// Scans the lanes' totals `own` across the warp in T (five shuffle steps over tokens, kv and topk;
/// units stay 0): `at` gets the lane's exclusive prefix; returns the batch's totals. Every lane of
/// the warp calls it.
template <class T>
__device__ __forceinline__ request_totals scan_lanes_as(const request_totals& own, request_totals& at) {
  const int lane = int(threadIdx.x & 31);
  const T tokens = T(own.tokens), kv = T(own.kv), topk = T(own.topk);
  T sum_tokens = tokens, sum_kv = kv, sum_topk = topk;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const T up_tokens = __shfl_up_sync(0xffffffffu, sum_tokens, d);
    const T up_kv = __shfl_up_sync(0xffffffffu, sum_kv, d);
    const T up_topk = __shfl_up_sync(0xffffffffu, sum_topk, d);
    if (lane >= d) sum_tokens += up_tokens, sum_kv += up_kv, sum_topk += up_topk;
  }
  at = {sum_tokens - tokens, sum_kv - kv, sum_topk - topk, 0};
  return {from_lane(sum_tokens, 31), from_lane(sum_kv, 31), from_lane(sum_topk, 31), 0};
}

/// The lanes' scan in int64.
__device__ __forceinline__ request_totals scan_lanes(const request_totals& own, request_totals& at) {
  return scan_lanes_as<int64_t>(own, at);
}

/// The same in 32 bits when every lane's totals are below 2^26, so that 32 of them sum below 2^31
/// (a request of 8192 tokens with topk 2048 sums below 2^25): fifteen 32-bit shuffles and adds
/// instead of fifteen of 64 bits; otherwise in int64. Every lane calls it.
__device__ __forceinline__ request_totals scan_lanes_small(const request_totals& own, request_totals& at) {
  constexpr uint64_t small = uint64_t(1) << 26;
  const bool fits = __all_sync(0xffffffffu, (uint64_t(own.tokens) | uint64_t(own.kv) | uint64_t(own.topk)) < small);
  return fits ? scan_lanes_as<int32_t>(own, at) : scan_lanes_as<int64_t>(own, at);
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

/// Request b's token_base, from lane b / R's k-th (k = b % R) of `bases`, R a lane, in T. With
/// `uniform` (b the same in every lane) the lane's register is picked before one shuffle a field;
/// else every register is shuffled and each lane picks its own. Every lane calls it.
template <int R, class T>
__device__ __forceinline__ token_base<T> from_request(const token_base<T> (&bases)[std::size_t(R)], int b,
                                                     bool uniform) {
  const int src = b / R, k = b % R;
  const auto shuffled = [src](const token_base<T>& v) {
    return token_base<T>{from_lane(v.first_token, src), from_lane(v.kv0, src), from_lane(v.first_len, src),
                         from_lane(v.topk_base, src)};
  };
  if (uniform || R == 1) {
    token_base<T> v = bases[0];
#pragma unroll
    for (int i = 1; i < R; ++i)
      if (k == i) v = bases[i];
    return shuffled(v);
  }
  token_base<T> v = shuffled(bases[0]);
#pragma unroll
  for (int i = 1; i < R; ++i) {
    const token_base<T> w = shuffled(bases[i]);
    if (k == i) v = w;
  }
  return v;
}

/// The owner of token t (lane's own t, t < the total) in a batch of bs requests held R a lane,
/// request R * L + k in lane L's k-th register, given each request's first token `first`: the
/// last request whose first token is <= t. lane_owner() over the lanes' first requests, then one
/// shuffle for each further request of the lane found. Every lane calls it.
template <int R, class T>
__device__ __forceinline__ int lane_batch_owner(const T (&first)[std::size_t(R)], int bs, T t) {
  const int l = lane_owner<T>(first[0], (bs + R - 1) / R, t);
  int b = R * l;
#pragma unroll
  for (int i = 1; i < R; ++i) {
    const T f = from_lane(first[i], l);
    if (R * l + i < bs && f <= t) b = R * l + i;
  }
  return b;
}

}  // namespace detail
}  // namespace attnmeta
