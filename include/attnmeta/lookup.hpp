// attnmeta/lookup.hpp: which request owns token t, by binary search over the offsets.
#pragma once

#include "config.hpp"

namespace attnmeta {

/// The request b in [0, n) whose range [offsets[b], offsets[b+1]) holds t.
/// `offsets` is anything indexable by [i] for i in [0, n] (a pointer, a strided view, a field view),
/// non-decreasing, with offsets[0] <= t < offsets[n]. Empty requests are skipped: the answer is the
/// last b with offsets[b] <= t. O(log n) reads, no branches that diverge on data beyond the loop.
template <class Offsets>
ATTNMETA_HD int find_owner(const Offsets& offsets, int n, int64_t t) {
  int lo = 0;  // invariant: offsets[lo] <= t
  int count = n;
  while (count > 1) {
    const int half = count / 2;
    const int mid = lo + half;
    if (static_cast<int64_t>(offsets[mid]) <= t) {
      lo = mid;
      count -= half;
    } else {
      count = half;
    }
  }
  return lo;
}

#ifdef __CUDACC__
/// find_owner() of a token t that all 32 lanes of a warp pass alike: a 32-way search, each level
/// one read a lane and a ballot, ceil(log32(n)) levels (two up to 1024 requests) where find_owner()
/// takes log2(n) dependent reads. Every lane of the warp calls it. A level reads 32 entries spread
/// over the table where find_owner() reads one; where thousands of searches of a table in global
/// memory sit beside a copy (the page units of large steps), find_owner()'s first levels, which
/// stay in L1, cost the copy less.
template <class Offsets>
__device__ __forceinline__ int warp_find_owner(const Offsets& offsets, int n, int64_t t) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  int span = 1;  // 32^k, the least with 32 * span >= n (n >= 1)
  while (span <= (n - 1) / 32) span *= 32;
  int b = 0;  // invariant: offsets[b] <= t, and t's owner lies in [b, b + 32 * span)
  for (; span > 0; span >>= 5) {
    const int64_t i = b + static_cast<int64_t>(lane) * span;
    const bool le = i < n && static_cast<int64_t>(offsets[i]) <= t;
    b += (__popc(__ballot_sync(0xffffffffu, le)) - 1) * span;
  }
  return b;
}
#endif

/// Token t located in its request: t = offsets[request] + rank.
struct token_position {
  int64_t token;
  int request;
  int64_t rank;
};

/// find_owner, plus the rank of t within its request: the (token, request, rank) contract of a
/// load-balancing search. Same preconditions and cost as find_owner.
template <class Offsets>
ATTNMETA_HD token_position locate_token(const Offsets& offsets, int n, int64_t t) {
  const int b = find_owner(offsets, n, t);
  return {t, b, t - static_cast<int64_t>(offsets[b])};
}

/// A view of one integral member (int32 or int64) of an array of structs, indexable like the
/// offsets above: field_view<request_totals, &request_totals::tokens>{table}[i] == table[i].tokens.
template <class Struct, auto Member>
struct field_view {
  const Struct* rows;
  ATTNMETA_HD int64_t operator[](int64_t i) const { return static_cast<int64_t>(rows[i].*Member); }
};

}  // namespace attnmeta
