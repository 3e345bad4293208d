// attnmeta/detail/lane_batch.cuh: a batch of at most 32 requests held by one warp, request b in
// lane b, with its prefixes scanned in registers.
//
// Small steps are latency-bound: every barrier, shared-memory round trip and instruction the SM has
// not run before shows in the step's time. A warp that reads the whole batch itself (one read a
// lane) and scans it with shuffles needs none of the first two, so every warp of a small step can
// start its own share of the outputs at once, without waiting for another.
#pragma once

#include "../request.hpp"

namespace attnmeta {
namespace detail {

/// Largest batch a warp holds.
constexpr int lane_batch_max_bs = 32;

/// Lane b's view of request b (b < bs), kept small: its own
/// q_b and kv'_b (int32 after lengths_of()), its req_to_token row (-1: nothing to copy), the status
/// bits its inputs raised, and `at`: read_lane() leaves the request's own totals there, scan_lanes()
/// turns them into its exclusive prefix. Lanes b >= bs hold zeros, then the batch's totals.
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

/// Reads request `lane` if lane < bs: two or three reads, issued together.
template <class Batch, class Shape, class Clamp>
__device__ __forceinline__ lane_request read_lane(const Batch& batch, const Shape& shape, const Clamp& clamp) {
  const int lane = int(threadIdx.x & 31);
  lane_request l;
  l.flags = 0;
  l.row = -1;
  l.at = lane < batch.bs ? load_request(batch, shape, clamp, lane, l.flags, l.row) : request_totals{};
  l.q = int32_t(l.at.tokens);
  l.kv = int32_t(l.at.kv);
  return l;
}

/// Scans the lanes' totals across the warp (five shuffle steps) and returns the batch's totals.
/// Every lane of the warp calls it.
__device__ __forceinline__ request_totals scan_lanes(lane_request& l) {
  const int lane = int(threadIdx.x & 31);
  const request_totals mine = l.at;
  request_totals sum = mine;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const request_totals up{__shfl_up_sync(0xffffffffu, sum.tokens, d), __shfl_up_sync(0xffffffffu, sum.kv, d),
                            __shfl_up_sync(0xffffffffu, sum.topk, d), __shfl_up_sync(0xffffffffu, sum.units, d)};
    if (lane >= d) sum = sum + up;
  }
  l.at = {sum.tokens - mine.tokens, sum.kv - mine.kv, sum.topk - mine.topk, sum.units - mine.units};
  return {from_lane(sum.tokens, 31), from_lane(sum.kv, 31), from_lane(sum.topk, 31), from_lane(sum.units, 31)};
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
