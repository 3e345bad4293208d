// attnmeta/clamp.hpp: the top-k clamp policies that turn seqlens_expanded into topk_seqlens.
//
// A clamp policy is any copyable type with two members, callable on host and device:
//   int64_t operator()(int64_t x) const;   // the clamped length of a token whose length is x >= 0
//   int64_t prefix_sum(int64_t n) const;   // sum of operator()(x) for x in [0, n), n >= 0, in O(1)
// with operator()(0) == 0. prefix_sum is what lets every token's cu_topk_seqlens entry be computed
// on its own, without a scan over tokens: write it in closed form for your own policy, and check it
// against the plain loop (tests/test_host.cpp does so for these two).
#pragma once

#include "config.hpp"

namespace attnmeta {

/// min(x, topk): DeepSeek-V3.2 sparse attention reads at most topk keys per query token.
/// O(1) per call; topk > 0.
struct topk_clamp {
  int64_t topk;

  ATTNMETA_HD int64_t operator()(int64_t x) const { return x < topk ? x : topk; }

  /// Without a branch (lanes of a warp on both sides of topk would take both): m = min(n, topk)
  /// contributes m (m - 1) / 2, each x past it topk; unsigned, so the halving is a shift.
  ATTNMETA_HD int64_t prefix_sum(int64_t n) const {
    const uint64_t m = static_cast<uint64_t>(n < topk ? n : topk);
    return static_cast<int64_t>(m * (m - 1) / 2 + (static_cast<uint64_t>(n) - m) * static_cast<uint64_t>(topk));
  }
};

/// min(floor(x / kpool) * kpool, topk) + x mod kpool: the pooled variant (kpool >= 1; kpool == 1 is
/// topk_clamp). Equals x below X0 = (floor(topk / kpool) + 1) * kpool and topk + x mod kpool from
/// there on. O(1) per call.
struct pooled_topk_clamp {
  int64_t topk;
  int64_t kpool;

  // Not through quotient(): on the short paths, which call it for every token, that was 2-5%
  // slower (kpool 64, H100).
  ATTNMETA_HD int64_t operator()(int64_t x) const {
    const int64_t pooled = (x / kpool) * kpool;
    return (pooled < topk ? pooled : topk) + x % kpool;
  }
  /// One division (two with topk / kpool, the same for every call, which a loop computes once).
  ATTNMETA_HD int64_t prefix_sum(int64_t n) const {
    const int64_t pools = topk / kpool + 1;  // X0 = pools * kpool
    const int64_t x0 = pools * kpool;
    if (n <= x0) return n * (n - 1) / 2;
    // Past X0 every x adds topk + x mod kpool: whole pools of kpool (kpool - 1) / 2, then the rest.
    const int64_t q = quotient(n);
    const int64_t r = n - q * kpool;
    return x0 * (x0 - 1) / 2 + (n - x0) * topk + (q - pools) * (kpool * (kpool - 1) / 2) + r * (r - 1) / 2;
  }

 private:
  // x / kpool for x >= 0, in 32 bits when both fit (a 64-bit division costs several times more).
  ATTNMETA_HD int64_t quotient(int64_t x) const {
    if (((x | kpool) >> 31) == 0) return static_cast<int64_t>(static_cast<uint32_t>(x) / static_cast<uint32_t>(kpool));
    return x / kpool;
  }
};

/// clamp.prefix_sum(n) modulo 2^32, n in [0, 2^31]: what the int32 token paths add to a topk_base
/// kept modulo 2^32. Any policy through prefix_sum(); the plain clamp in 32-bit arithmetic and one
/// wide multiply (a third of the 64-bit form's instructions, once a token).
template <class Clamp>
ATTNMETA_HD uint32_t prefix_sum_low32(const Clamp& clamp, uint32_t n) {
  return static_cast<uint32_t>(static_cast<uint64_t>(clamp.prefix_sum(n)));
}
ATTNMETA_HD uint32_t prefix_sum_low32(const topk_clamp& clamp, uint32_t n) {
  const uint32_t m = uint64_t(n) < uint64_t(clamp.topk) ? n : static_cast<uint32_t>(clamp.topk);
  return static_cast<uint32_t>((uint64_t(m) * (m - 1)) >> 1) + (n - m) * static_cast<uint32_t>(clamp.topk);
}

}  // namespace attnmeta
