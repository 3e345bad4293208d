// attnmeta/detail/short_batch.cuh: steps whose requests are all short, computed with the fewest
// instructions.
//
// A small step's time is the path of one thread through the kernel: every instruction on it costs
// a few cycles that nothing hides (a kernel padded with straight-line instructions: about 0.5 ns
// each, 2 ns when each waits for the last). Decode, target verify and draft extend steps have at
// most a few tokens a request and lengths far below int32's range, so a thread holds its request
// in int32, takes its tokens one by one (the running topk sum instead of closed-form prefix sums,
// no search for the owning request), and the batch is scanned in int32 with nothing to saturate.
#pragma once

#include "../request.hpp"

namespace attnmeta {
namespace detail {

/// A batch whose every request has at most short_q_max tokens is short.
constexpr int short_q_max = 4;
/// Lengths below which the int32 sums of a short batch of bs requests cannot overflow: every kv'
/// and clamped length below 2^31 / (short_q_max * max(bs, 32)), so 2^24 up to 32 requests and 2^19
/// at 1024. A power of two, without a division.
__device__ __forceinline__ int32_t short_len_limit(int bs) {
  const int groups = (bs + 31) >> 5;  // of 32 requests, >= 1
  return (int32_t(1) << 24) >> (groups > 1 ? 32 - __clz(groups - 1) : 0);
}

/// short_len_limit() of a batch of at most 32 requests.
constexpr int32_t short_len_limit_lanes = int32_t(1) << 24;

/// Request b of a short batch in int32: q_b, kv'_b, its tokens' clamped lengths and their sum, and
/// the status bit it raises. Past bs: zeros.
struct short_request {
  int32_t q = 0;
  int32_t kv = 0;
  int32_t topk = 0;             ///< c[0] + ... + c[q - 1]
  int32_t c[short_q_max] = {};  ///< topk_seqlens of its tokens (0 past q)
  uint32_t flags = 0;           ///< status_query_longer_than_kv, the only bit a short request raises
  /// seqlens_expanded of token j: max(kv - q + 1 + j, 0).
  __device__ __forceinline__ int32_t length(int j) const { return kv - q + 1 + j > 0 ? kv - q + 1 + j : 0; }
};

/// Request b's short_request; `fits` is false (and the request unusable) unless q_b <= short_q_max,
/// 0 <= kv'_b < limit and every clamped length lies in [0, limit): a negative length, or one at the
/// limit or past it, leaves the step to the general path, which raises its status bits. With
/// `pool_index`, request b's req_pool_indices entry goes there, read beside the lengths (left as it
/// was for b >= bs). One to three reads, issued together, at most short_q_max clamp calls.
template <class Batch, class Clamp>
__device__ __forceinline__ short_request short_request_of(const Batch& batch, const Clamp& clamp, int b,
                                                          int32_t limit, bool& fits, int64_t* pool_index = nullptr) {
  short_request r;
  fits = true;
  if (b >= batch.bs) return r;
  const int64_t seq = batch.seq_lens[b];
  const int64_t q = batch.q_per_request ? batch.extend_lens[b] : int64_t(batch.q_constant);
  if (pool_index) *pool_index = static_cast<int64_t>(batch.pages.req_pool_indices[b]);
  const uint64_t kv = uint64_t(seq) + uint64_t(int64_t(batch.kv_extra));  // kv_extra >= 0; unsigned: no overflow
  fits = uint64_t(seq) < uint64_t(limit) && kv < uint64_t(limit) && uint64_t(q) <= uint64_t(short_q_max);
  r.q = int32_t(q);
  r.kv = int32_t(kv);
  r.flags = r.q > r.kv ? status_query_longer_than_kv : 0u;
  // Decode takes one clamp and no predicated code for tokens it does not have (a test that is the
  // same in every lane: a branch over them, not predicates on each).
  const int n = !batch.q_per_request && batch.q_constant == 1 ? 1 : short_q_max;
  if constexpr (std::is_same<Clamp, topk_clamp>::value) {
    // The plain clamp in 32 bits, unchecked: min(length, topk) lies in [0, length], below the
    // limit whenever kv' is (the lengths of a request that does not fit are never used).
    const int32_t topk = clamp.topk < limit ? int32_t(clamp.topk) : limit;
#pragma unroll
    for (int j = 0; j < short_q_max; ++j) {
      if (j >= n) break;
      const int32_t len = r.length(j);
      r.c[j] = j < r.q ? (len < topk ? len : topk) : 0;
      r.topk += r.c[j];
    }
  } else {
#pragma unroll
    for (int j = 0; j < short_q_max; ++j) {
      if (j >= n) break;
      const int64_t c = j < r.q ? clamp(int64_t(r.length(j))) : 0;
      fits = fits && uint64_t(c) < uint64_t(limit);
      r.c[j] = int32_t(c);
      r.topk += r.c[j];  // < short_q_max * 2^24: no overflow
    }
  }
  return r;
}

/// What short requests add up to: tokens, kv' and topk, in int32.
struct short_totals {
  int32_t tokens = 0;
  int32_t kv = 0;
  int32_t topk = 0;
  __device__ __forceinline__ friend short_totals operator+(const short_totals& a, const short_totals& b) {
    return {add(a.tokens, b.tokens), add(a.kv, b.kv), add(a.topk, b.topk)};
  }
  /// a - b, for a request's exclusive prefix from its inclusive one and its own totals: taken
  /// once the batch fits, whose prefixes all lie below 2^31.
  __device__ __forceinline__ friend short_totals operator-(const short_totals& a, const short_totals& b) {
    return {a.tokens - b.tokens, a.kv - b.kv, a.topk - b.topk};
  }
  /// Wraps around (the sums of a request that does not fit are never used): no signed overflow.
  __device__ __forceinline__ static int32_t add(int32_t a, int32_t b) { return int32_t(uint32_t(a) + uint32_t(b)); }
};

/// What a thread of short_block_step() or short_cluster_step() whose requests do not all fit adds to
/// the tokens of the scan: past the most tokens of a short batch a block or a cluster holds (4 *
/// 4,096), and 4,096 of them still fit int32.
constexpr int32_t short_unfit_tokens = int32_t(1) << 18;

/// Request r's own totals.
__device__ __forceinline__ short_totals totals_of(const short_request& r) { return {r.q, r.kv, r.topk}; }

/// Writes request b's entries from `through`, the totals of the requests up to it: cache_seqlens[b]
/// and entry b + 1 of cu_seqlens_q and cu_seqlens_k.
__device__ __forceinline__ void store_short_entries(const metadata_outputs& out, int b, const short_request& r,
                                                    const short_totals& through) {
  if (out.cache_seqlens) out.cache_seqlens[b] = r.kv;
  store_prefixes(out, b + 1, through.tokens, through.kv);
}

/// The per-token outputs that token_share() splits: the most writers it has work for.
constexpr int token_outputs = 6;

/// Most clusters, each holding a short batch one request a thread, that split its tokens' outputs
/// between them (token_share()): one output each.
constexpr int short_store_parts = token_outputs;

/// The per-token outputs that writer `part` of `parts` (1 to token_outputs) writes when a short
/// step's token stores are split by output between blocks or clusters, each holding the whole batch
/// (the others null): token_to_request, seqlens_expanded, topk_seqlens, cu_topk_seqlens, key_start
/// and key_end, output i to writer i * parts / token_outputs (with three: two outputs each).
__device__ __forceinline__ metadata_outputs token_share(metadata_outputs out, int part, int parts) {
  const auto mine = [part, parts](int i) { return i * parts / token_outputs == part; };
  if (!mine(0)) out.token_to_request = nullptr;
  if (!mine(1)) out.seqlens_expanded = nullptr;
  if (!mine(2)) out.topk_seqlens = nullptr;
  if (!mine(3)) out.cu_topk_seqlens = nullptr;
  if (!mine(4)) out.key_start = nullptr;
  if (!mine(5)) out.key_end = nullptr;
  return out;
}

/// Writes request b's tokens from `at`, the totals of the requests before it (none at max_tokens or
/// past it). A thread writes its request's tokens, so a warp's stores of token j lie q_b apart; a
/// request of short_q_max tokens starting at a multiple of 4 goes out in 16-byte stores where the
/// outputs are aligned (`aligned16`: step_shape::tokens_aligned16), a quarter of the sectors (four
/// scalar stores a token cost target verify at bs 128 0.4 us more). The other requests keep the
/// fewest instructions. The warp path of bs <= 32, where one warp writes at most 128 tokens, keeps
/// its scalar stores: it passes aligned16 = false, and the 16-byte path folds away there.
__device__ __forceinline__ void store_short_tokens(const metadata_outputs& out, int b, const short_request& r,
                                                   const short_totals& at, int32_t max_tokens, bool aligned16) {
  int32_t cu = at.topk;
  if (aligned16 && r.q == short_q_max && (at.tokens & 3) == 0 && at.tokens + short_q_max <= max_tokens) {
    int32_t len[short_q_max], through[short_q_max];
#pragma unroll
    for (int j = 0; j < short_q_max; ++j) {
      len[j] = r.length(j);
      cu += r.c[j];
      through[j] = cu;
    }
    const int64_t t = at.tokens;
    const auto put = [t](int32_t* p, int32_t v0, int32_t v1, int32_t v2, int32_t v3) {
      if (p) *reinterpret_cast<int4*>(p + t) = make_int4(v0, v1, v2, v3);
    };
    put(out.token_to_request, b, b, b, b);
    put(out.seqlens_expanded, len[0], len[1], len[2], len[3]);
    put(out.topk_seqlens, r.c[0], r.c[1], r.c[2], r.c[3]);
    put(out.key_start, at.kv, at.kv, at.kv, at.kv);
    put(out.key_end, at.kv + len[0], at.kv + len[1], at.kv + len[2], at.kv + len[3]);
    if (out.cu_topk_seqlens) {
#pragma unroll
      for (int j = 0; j < short_q_max; ++j) out.cu_topk_seqlens[t + 1 + j] = through[j];
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < short_q_max; ++j) {
    if (j >= r.q || at.tokens + j >= max_tokens) break;
    const int32_t len = r.length(j);
    cu += r.c[j];
    store_token(out, at.tokens + j, token_values{b, len, r.c[j], cu, at.kv, at.kv + len});
  }
}

/// Entry 0 of cu_seqlens_q, cu_seqlens_k and cu_topk_seqlens.
__device__ __forceinline__ void store_short_first(const metadata_outputs& out) {
  store_prefixes(out, 0, 0, 0);
  if (out.cu_topk_seqlens) out.cu_topk_seqlens[0] = 0;
}

/// Tokens [from, max_tokens) get the tail values (total_topk: the step's topk sum), warps
/// [warp, warp + warps) of the caller's choosing taking 32 at a time.
__device__ __forceinline__ void store_short_tail(const metadata_outputs& out, int32_t from, int32_t max_tokens,
                                                 int32_t total_topk, int warp, int warps) {
  const token_values tail = tail_token_values(request_totals{0, 0, total_topk, 0});
#pragma unroll 1
  for (int64_t t = from + warp * 32 + int(threadIdx.x & 31); t < max_tokens; t += warps * 32) store_token(out, t, tail);
}

}  // namespace detail
}  // namespace attnmeta
