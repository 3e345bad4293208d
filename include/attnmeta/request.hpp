// attnmeta/request.hpp: what one request contributes, and every per-token value computed from it.
//
// These are the building blocks both backends share: the kernels and the host backend call the
// same functions, so the CPU tests exercise the arithmetic the GPU runs.
#pragma once

#include "batch.hpp"
#include "clamp.hpp"
#include "status.hpp"

namespace attnmeta {

/// Columns of page_table (or block columns of block_table, when it is the only table) that one
/// warp copies as one unit of work: 32 lanes x 4 vectors of 4 consecutive int32, so each lane has
/// four independent 16-byte loads in flight.
constexpr int64_t page_unit_vectors = 4;
constexpr int64_t page_unit_columns = 32 * 4 * page_unit_vectors;
/// Page-table rows (tokens of one request) a unit writes from the registers it loaded once.
constexpr int64_t page_unit_rows = 16;

/// What one request adds to the step. The exclusive prefix sum of these at request b holds
/// cu_seqlens_q[b] (tokens), cu_seqlens_k[b] (kv), cu_topk_seqlens at the request's first token
/// (topk), and the request's first page unit (units); at b = bs, the totals.
struct request_totals {
  int64_t tokens = 0;  ///< q_b
  int64_t kv = 0;      ///< kv'_b
  int64_t topk = 0;    ///< sum of topk_seqlens over the request's tokens
  int64_t units = 0;   ///< page-copy units (0 when no page table is asked for)

  ATTNMETA_HD friend request_totals operator+(const request_totals& a, const request_totals& b) {
    return {a.tokens + b.tokens, a.kv + b.kv, a.topk + b.topk, a.units + b.units};
  }
};

/// The fixed shape of the step's outputs, as the per-request and per-token functions need it.
struct step_shape {
  int64_t max_tokens = 0;
  int64_t width = 0;       ///< W
  int64_t page_size = 1;
  int page_shift = -1;     ///< log2(page_size) when it is a power of two, else -1
  bool page_table = false;
  bool block_table = false;
  bool tokens_aligned16 = false;  ///< every per-token output but cu_topk_seqlens 16-byte aligned or absent

  ATTNMETA_HD bool wants_pages() const { return page_table || block_table; }
  /// Columns of request b's page rows that are written: min(kv'_b, W).
  ATTNMETA_HD int64_t columns(int64_t kv) const { return kv < width ? kv : width; }
  /// Column chunks of one row group of `cols` columns (0 <= cols <= INT32_MAX: W is an int): over
  /// page-table columns, or over block columns if only blocks. In 32 bits, no 64-bit division on
  /// the device, where a small step waits out every instruction of its copying warps
  /// (copy_static_units(), against the same in 64 bits, H200, a call in a graph of 10: bs 1-32
  /// with page tables -2.2% to +1.5%, 19 of 24 cases faster or level; with enable_pdl -0.1% to
  /// -2.9%, all 24).
  ATTNMETA_HD int column_chunks(int cols) const {
    unsigned c = unsigned(cols);
    if (!page_table && cols > 0)
      c = (page_shift >= 0 ? unsigned(cols - 1) >> page_shift : unsigned(cols - 1) / unsigned(page_size)) + 1;
    return int((c + unsigned(page_unit_columns) - 1) / unsigned(page_unit_columns));
  }
  /// Row groups of a request of q tokens (rows past max_tokens are never written).
  ATTNMETA_HD int64_t row_groups(int64_t q) const {
    return ceil_div(q < max_tokens ? q : max_tokens, page_unit_rows);
  }
};

/// A request's q_b and kv'_b as the outputs use them: negative lengths read as 0 (status bit),
/// lengths past INT32_MAX saturate (status bit). O(1), one or two reads of device memory.
struct request_lengths {
  int64_t q;
  int64_t kv;
};
template <class Batch>
ATTNMETA_HD request_lengths lengths_of(const Batch& batch, int b, uint32_t& flags) {
  if constexpr (std::is_same<typename decltype(batch.seq_lens)::value_type, int32_t>::value &&
                std::is_same<typename decltype(batch.extend_lens)::value_type, int32_t>::value) {
    // int32 inputs: the same in 32 bits (half the instructions on every path's first steps)
    const int32_t seq = static_cast<int32_t>(batch.seq_lens[b]);
    const int32_t q = batch.q_per_request ? static_cast<int32_t>(batch.extend_lens[b]) : batch.q_constant;
    if ((seq | q) < 0) flags |= status_negative_length;
    const uint32_t q0 = q < 0 ? 0u : static_cast<uint32_t>(q);
    // kv_extra >= 0: the sum of two values below 2^31 does not wrap
    uint32_t kv = (seq < 0 ? 0u : static_cast<uint32_t>(seq)) + static_cast<uint32_t>(batch.kv_extra);
    if (kv > static_cast<uint32_t>(int32_max)) {
      flags |= status_int32_overflow;
      kv = static_cast<uint32_t>(int32_max);
    }
    if (q0 > kv) flags |= status_query_longer_than_kv;
    return {static_cast<int64_t>(q0), static_cast<int64_t>(kv)};
  } else {
    int64_t seq = batch.seq_lens[b];
    int64_t q = batch.q_per_request ? batch.extend_lens[b] : static_cast<int64_t>(batch.q_constant);
    if (seq < 0 || q < 0) flags |= status_negative_length;
    seq = seq < 0 ? 0 : (seq > int32_max ? int32_max + 1 : seq);  // keeps seq + kv_extra inside int64
    q = q < 0 ? 0 : q;
    int64_t kv = seq + batch.kv_extra;
    if (q > int32_max || kv > int32_max) flags |= status_int32_overflow;
    q = q > int32_max ? int32_max : q;
    kv = kv > int32_max ? int32_max : kv;
    if (q > kv) flags |= status_query_longer_than_kv;
    return {q, kv};
  }
}

/// The req_to_token row that pool index `index` names, or -1 when it is out of range (status bit).
template <class Batch>
ATTNMETA_HD int64_t page_row(const Batch& batch, int64_t index, uint32_t& flags) {
  if (index < 0 || index > int32_max || (batch.pages.pool_rows >= 0 && index >= batch.pages.pool_rows)) {
    flags |= status_bad_req_pool_index;
    return -1;
  }
  return index;
}

/// What a request of lengths `len` adds to the step, page units aside (0), given `below`, the
/// clamp's prefix sum below its token 0's length max(kv' - q + 1, 0). O(1).
template <class Clamp>
ATTNMETA_HD request_totals totals_of(const request_lengths& len, int64_t below, const Clamp& clamp) {
  request_totals r;
  r.tokens = len.q;
  r.kv = len.kv;
  // sum over j in [0, q) of clamp(max(kv - q + 1 + j, 0))
  r.topk = clamp.prefix_sum(len.kv + 1) - below;
  constexpr int64_t topk_cap = int64_t(1) << 32;  // already past int32; keeps bs * cap inside int64
  r.topk = r.topk > topk_cap ? topk_cap : r.topk;
  return r;
}

/// The same, working out `below`. O(1): two prefix sums.
template <class Clamp>
ATTNMETA_HD request_totals totals_of(const request_lengths& len, const Clamp& clamp) {
  const int64_t first = len.kv - len.q + 1;
  return totals_of(len, clamp.prefix_sum(first > 0 ? first : 0), clamp);
}

/// The req_to_token row of a request of lengths `len` and pool index `pool_index`, in a step that
/// asks for a page table, or -1 when it has no page rows to copy: q or kv' zero, or a bad index
/// (status bit). Sets the kv' > W bit too. O(1), no reads, and no branch on the lengths, so that a
/// caller's read of the pool index is issued beside its reads of the lengths: a read that only one
/// branch uses is moved into that branch, after the lengths are back (two round trips, not one).
template <class Batch>
ATTNMETA_HD int32_t paged_request_row(const Batch& batch, const step_shape& shape, int64_t pool_index,
                                      const request_lengths& len, uint32_t& flags) {
  uint32_t row_flags = 0;
  const int32_t row = static_cast<int32_t>(page_row(batch, pool_index, row_flags));
  if (row >= 0 && len.kv > shape.width) row_flags |= status_kv_over_width;
  const bool has_rows = len.q > 0 && len.kv > 0;
  flags |= has_rows ? row_flags : 0u;
  return has_rows ? row : -1;
}

/// The same in any step: -1 when no page table is asked for.
template <class Batch>
ATTNMETA_HD int32_t request_row(const Batch& batch, const step_shape& shape, int64_t pool_index,
                                const request_lengths& len, uint32_t& flags) {
  return shape.wants_pages() ? paged_request_row(batch, shape, pool_index, len, flags) : -1;
}

/// Reads request b of `batch` and returns what it adds, ORing into `flags` any status bit its
/// inputs raise; `row` gets the request's req_to_token row, or -1 when it has no page rows to copy
/// (no table asked for, q or kv' zero, or a bad req_pool_index). O(1): two to three reads of device
/// memory, all issued before any of them is used.
template <class Batch, class Clamp>
ATTNMETA_HD request_totals load_request(const Batch& batch, const step_shape& shape, const Clamp& clamp,
                                        int b, uint32_t& flags, int32_t& row) {
  const int64_t pool_index = shape.wants_pages() ? static_cast<int64_t>(batch.pages.req_pool_indices[b]) : -1;
  const request_lengths len = lengths_of(batch, b, flags);
  request_totals r = totals_of(len, clamp);
  row = request_row(batch, shape, pool_index, len, flags);
  if (row >= 0) r.units = shape.column_chunks(int(shape.columns(len.kv))) * shape.row_groups(len.q);
  return r;
}

/// The same, for a caller that does not keep the row.
template <class Batch, class Clamp>
ATTNMETA_HD request_totals load_request(const Batch& batch, const step_shape& shape, const Clamp& clamp,
                                        int b, uint32_t& flags) {
  int32_t row;
  return load_request(batch, shape, clamp, b, flags, row);
}

/// Status bits that only the totals reveal: N past max_tokens, scans past INT32_MAX.
ATTNMETA_HD uint32_t totals_flags(const request_totals& total, int64_t max_tokens) {
  uint32_t flags = 0;
  if (total.tokens > max_tokens) flags |= status_tokens_over_capacity;
  if (total.tokens > int32_max || total.kv > int32_max || total.topk > int32_max) flags |= status_int32_overflow;
  return flags;
}

/// Every per-token output of one token, as int32.
struct token_values {
  int32_t request;           ///< token_to_request
  int32_t seqlen_expanded;   ///< seqlens_expanded
  int32_t topk_seqlen;       ///< topk_seqlens
  int32_t cu_topk_through;   ///< cu_topk_seqlens[t + 1]
  int32_t key_start;
  int32_t key_end;
};

/// What every token of a request needs once the request is placed, computed once per request:
/// its first token (cu_seqlens_q[b]), key_start (cu_seqlens_k[b]), seqlens_expanded of its token 0
/// before max(., 0) (kv'_b - q_b + 1), and cu_topk_seqlens before its first token less the clamp's
/// prefix sum below that length, so that token j's entry is
/// topk_base + prefix_sum(max(first_len + j + 1, 0)). T = int64_t, or int32_t for a step whose
/// sums fit int32 (narrow_totals()), where topk_base is kept modulo 2^32 and the sum undoes it.
template <class T>
struct token_base {
  T first_token;
  T kv0;
  T first_len;
  T topk_base;
};

/// Request b's token_base from its exclusive prefixes at b and b + 1. O(1): one prefix sum.
template <class Clamp>
ATTNMETA_HD token_base<int64_t> token_base_of(const request_totals& at, const request_totals& next,
                                              const Clamp& clamp) {
  const int64_t first = (next.kv - at.kv) - (next.tokens - at.tokens) + 1;
  return {at.tokens, at.kv, first, at.topk - clamp.prefix_sum(first > 0 ? first : 0)};
}

/// The same in int32, for a step whose sums fit int32 (narrow_totals()): topk_base modulo 2^32.
ATTNMETA_HD token_base<int32_t> narrow_base(const token_base<int64_t>& r) {
  return {static_cast<int32_t>(r.first_token), static_cast<int32_t>(r.kv0), static_cast<int32_t>(r.first_len),
          static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(r.topk_base)))};
}

/// The values of token j of request b from the request's token_base. O(1): one prefix sum.
template <class Clamp>
ATTNMETA_HD token_values token_values_from(const token_base<int64_t>& r, int b, int64_t j, const Clamp& clamp) {
  const int64_t len = r.first_len + j > 0 ? r.first_len + j : 0;
  const int64_t through = r.first_len + j + 1 > 0 ? r.first_len + j + 1 : 0;
  return {b, saturate_int32(len), saturate_int32(clamp(len)), saturate_int32(r.topk_base + clamp.prefix_sum(through)),
          saturate_int32(r.kv0), saturate_int32(r.kv0 + len)};
}

/// The same in int32 for a step whose sums fit int32: nothing to saturate, cu_topk_seqlens by
/// unsigned arithmetic modulo 2^32 (its value fits, so the wrapped sum is exact).
template <class Clamp>
ATTNMETA_HD token_values token_values_from(const token_base<int32_t>& r, int b, int32_t j, const Clamp& clamp) {
  const int32_t len = r.first_len + j > 0 ? r.first_len + j : 0;  // first_len + j <= kv'_b: no overflow
  const uint32_t through = r.first_len + j >= 0 ? uint32_t(r.first_len + j) + 1u : 0u;  // up to kv'_b + 1
  const uint32_t cu = static_cast<uint32_t>(r.topk_base) + prefix_sum_low32(clamp, through);
  return {b, len, static_cast<int32_t>(clamp(len)), static_cast<int32_t>(cu), r.kv0, r.kv0 + len};
}

/// The values of token j of request b, from the exclusive prefix at b and at b + 1. O(1).
template <class Clamp>
ATTNMETA_HD token_values token_values_at(const request_totals& at, const request_totals& next, int b, int64_t j,
                                         const Clamp& clamp) {
  return token_values_from(token_base_of(at, next, clamp), b, j, clamp);
}

/// Whether every per-token value of a step with these totals fits int32 unsaturated: token, kv'
/// and topk sums at most INT32_MAX. Then token_values_narrow() may stand in for token_values_at().
ATTNMETA_HD bool narrow_totals(const request_totals& total) {
  return total.tokens <= int32_max && total.kv <= int32_max && total.topk <= int32_max;
}
/// token_values_at() of a step whose totals are narrow_totals(), in int32. O(1).
template <class Clamp>
ATTNMETA_HD token_values token_values_narrow(const request_totals& at, const request_totals& next, int b, int32_t j,
                                             const Clamp& clamp) {
  return token_values_from(narrow_base(token_base_of(at, next, clamp)), b, j, clamp);
}
/// The values a token t in [N, max_tokens) gets, so a fixed-shape consumer can run over the tail.
ATTNMETA_HD token_values tail_token_values(const request_totals& total) {
  return {-1, 0, 0, saturate_int32(total.topk), 0, 0};
}

/// Writes token t's values to every output that was asked for.
ATTNMETA_HD void store_token(const metadata_outputs& out, int64_t t, const token_values& v) {
  if (out.token_to_request) out.token_to_request[t] = v.request;
  if (out.seqlens_expanded) out.seqlens_expanded[t] = v.seqlen_expanded;
  if (out.topk_seqlens) out.topk_seqlens[t] = v.topk_seqlen;
  if (out.cu_topk_seqlens) out.cu_topk_seqlens[t + 1] = v.cu_topk_through;
  if (out.key_start) out.key_start[t] = v.key_start;
  if (out.key_end) out.key_end[t] = v.key_end;
}

/// Writes entry i of cu_seqlens_q and cu_seqlens_k.
ATTNMETA_HD void store_prefixes(const metadata_outputs& out, int i, int32_t tokens, int32_t kv) {
  if (out.cu_seqlens_q) out.cu_seqlens_q[i] = tokens;
  if (out.cu_seqlens_k) out.cu_seqlens_k[i] = kv;
}

/// Writes entry i in [0, bs] of the per-request outputs from the exclusive prefix at i and i + 1
/// (`next` is ignored for i == bs).
ATTNMETA_HD void store_request(const metadata_outputs& out, int i, int bs, const request_totals& at,
                               const request_totals& next) {
  store_prefixes(out, i, saturate_int32(at.tokens), saturate_int32(at.kv));
  if (out.cache_seqlens && i < bs) out.cache_seqlens[i] = saturate_int32(next.kv - at.kv);
}

}  // namespace attnmeta
