// tests/reference.hpp: a deliberately plain, independent reference for every output.
//
// One loop over requests and their tokens, written from SPEC.md's table with int64 arithmetic and
// its own clamp; it shares no code with the library beyond the option and capacity structs. It also
// models the bad-input rules (negative lengths read as 0, rows past capacity not written, W columns
// for kv' > W, nothing for a bad req_pool_index, int32 saturation) and the status bits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include <attnmeta/batch.hpp>
#include <attnmeta/status.hpp>

namespace ref {

/// One step's inputs as plain int64 values (already typed arrays are made from these).
struct step {
  int bs = 0;
  std::vector<int64_t> seq;  // [bs]
  std::vector<int64_t> q;    // [bs] the q_b the mode gives (constant modes fill it with D or 1)
  int64_t kv_extra = 0;
  std::vector<int64_t> rpi;     // [bs]
  const int32_t* r2t = nullptr; // req_to_token, row stride r2t_stride
  int64_t r2t_stride = 0;
  int64_t pool_rows = -1;
};

/// Output buffers, laid out as the caller allocates them (row strides included).
struct buffers {
  std::vector<int32_t> cache_seqlens, cu_seqlens_k, cu_seqlens_q, token_to_request, seqlens_expanded, topk_seqlens,
      cu_topk_seqlens, key_start, key_end, page_table, block_table;
  uint32_t status = 0;
};

/// Every array of `buffers`, in SPEC's order, with its name: lets code walk them all.
struct field {
  const char* name;
  std::vector<int32_t> buffers::*member;
};
constexpr field all_fields[] = {
    {"cache_seqlens", &buffers::cache_seqlens},       {"cu_seqlens_k", &buffers::cu_seqlens_k},
    {"cu_seqlens_q", &buffers::cu_seqlens_q},         {"token_to_request", &buffers::token_to_request},
    {"seqlens_expanded", &buffers::seqlens_expanded}, {"topk_seqlens", &buffers::topk_seqlens},
    {"cu_topk_seqlens", &buffers::cu_topk_seqlens},   {"key_start", &buffers::key_start},
    {"key_end", &buffers::key_end},                   {"page_table", &buffers::page_table},
    {"block_table", &buffers::block_table}};

inline int64_t clamp_len(int64_t x, int64_t topk, int64_t kpool) {
  return std::min(x / kpool * kpool, topk) + x % kpool;
}
inline int32_t sat(int64_t x) { return int32_t(std::min<int64_t>(std::max<int64_t>(x, 0), INT32_MAX)); }
inline int64_t floordiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// Writes the reference values into `out` (pre-filled with poison by the caller; buffers that are
/// empty were not asked for). pt_stride / bt_stride: row strides of the page and block tables.
/// want_pages: a page or block table was asked for (its buffer may still be empty at max_tokens 0).
inline void compute(const step& s, const attnmeta::capacity& cap, const attnmeta::options& opt, int64_t pt_stride,
                    int64_t bt_stride, bool want_pages, buffers& out) {
  const int64_t T = cap.max_tokens, W = cap.page_table_width, ps = opt.page_size;
  uint32_t st = 0;
  std::vector<int64_t> q(s.bs), kv(s.bs);
  for (int b = 0; b < s.bs; ++b) {
    if (s.seq[b] < 0 || s.q[b] < 0) st |= attnmeta::status_negative_length;
    q[b] = std::max<int64_t>(s.q[b], 0);
    kv[b] = std::min<int64_t>(std::max<int64_t>(s.seq[b], 0), INT64_MAX / 2) + s.kv_extra;
    if (q[b] > INT32_MAX || kv[b] > INT32_MAX) st |= attnmeta::status_int32_overflow;
    q[b] = std::min<int64_t>(q[b], INT32_MAX);
    kv[b] = std::min<int64_t>(kv[b], INT32_MAX);
    if (q[b] > kv[b]) st |= attnmeta::status_query_longer_than_kv;
  }
  int64_t cq = 0, ck = 0, ctopk = 0;
  auto put = [](std::vector<int32_t>& v, int64_t i, int64_t x) { if (!v.empty()) v[i] = sat(x); };
  put(out.cu_seqlens_q, 0, 0);
  put(out.cu_seqlens_k, 0, 0);
  put(out.cu_topk_seqlens, 0, 0);
  const bool pages = want_pages;
  for (int b = 0; b < s.bs; ++b) {
    put(out.cache_seqlens, b, kv[b]);
    bool row_ok = true;
    if (pages && q[b] > 0 && kv[b] > 0) {
      const int64_t r = s.rpi[b];
      row_ok = r >= 0 && r <= INT32_MAX && (s.pool_rows < 0 || r < s.pool_rows);
      if (!row_ok) st |= attnmeta::status_bad_req_pool_index;
      else if (kv[b] > W) st |= attnmeta::status_kv_over_width;
    }
    for (int64_t j = 0; j < q[b]; ++j) {
      const int64_t t = cq + j;
      const int64_t len = std::max<int64_t>(kv[b] - q[b] + 1 + j, 0);
      // Past the capacity a token only adds to the topk sum, which then only decides the int32
      // overflow bit: tokens of length 0 add nothing where topk >= 0 (skipped), and once the sum is
      // past INT32_MAX the rest cannot matter (q_b of up to 2^31 would otherwise take 2^31 turns).
      if (t >= T && len == 0 && opt.topk >= 0) {
        j = q[b] - kv[b] - 1;  // the request's last token of length 0
        continue;
      }
      const int64_t c = clamp_len(len, opt.topk, opt.kpool);
      ctopk += c;
      if (t >= T) {
        if (ctopk > INT32_MAX) break;
        continue;
      }
      put(out.token_to_request, t, b);
      put(out.seqlens_expanded, t, len);
      put(out.topk_seqlens, t, c);
      put(out.cu_topk_seqlens, t + 1, ctopk);
      put(out.key_start, t, ck);
      put(out.key_end, t, ck + len);
      const int64_t cols = std::min(kv[b], W);
      if (!pages || !row_ok || cols == 0) continue;
      const int32_t* row = s.r2t + s.rpi[b] * s.r2t_stride;
      for (int64_t col = 0; col < cols && !out.page_table.empty(); ++col) out.page_table[t * pt_stride + col] = row[col];
      for (int64_t blk = 0; blk * ps < cols && !out.block_table.empty(); ++blk)
        out.block_table[t * bt_stride + blk] = int32_t(floordiv(row[blk * ps], ps));
    }
    cq += q[b];
    ck += kv[b];
    put(out.cu_seqlens_q, b + 1, cq);
    put(out.cu_seqlens_k, b + 1, ck);
  }
  for (int64_t t = cq; t < T; ++t) {
    if (!out.token_to_request.empty()) out.token_to_request[t] = -1;
    put(out.seqlens_expanded, t, 0);
    put(out.topk_seqlens, t, 0);
    put(out.cu_topk_seqlens, t + 1, ctopk);
    put(out.key_start, t, 0);
    put(out.key_end, t, 0);
  }
  if (cq > T) st |= attnmeta::status_tokens_over_capacity;
  if (cq > INT32_MAX || ck > INT32_MAX || ctopk > INT32_MAX) st |= attnmeta::status_int32_overflow;
  out.status = st;
}

}  // namespace ref
