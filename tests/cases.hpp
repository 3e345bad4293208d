// tests/cases.hpp: random and edge-case steps, typed input arrays, poisoned outputs, comparison.
// Plain C++: used by the CPU tests (host backend) and the GPU tests alike.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <attnmeta/batch.hpp>
#include <attnmeta/host.hpp>
#include <attnmeta/request.hpp>

#include "reference.hpp"

namespace cases {

enum class mode { decode, target_verify, draft_extend, draft_extend_const, extend };
inline const char* name(mode m) {
  const char* n[] = {"decode", "target_verify", "draft_extend", "draft_extend_const", "extend"};
  return n[int(m)];
}
constexpr mode all_modes[] = {mode::decode, mode::target_verify, mode::draft_extend, mode::draft_extend_const,
                              mode::extend};

constexpr int32_t poison = -0x5a5a5a5;  // an unwritten element shows up as this
constexpr size_t guard = 16;            // poisoned elements before and after every output buffer

// Which 1-D outputs a case asks for (bit i = i-th of the nine); pages are separate.
enum outputs_bits : unsigned { all_1d = 0x1ff };

/// One step: the inputs as int64 values plus every layout choice (strides, alignment, types).
struct step_case {
  mode m = mode::decode;
  int D = 1;
  ref::step s;
  std::vector<int32_t> r2t;  // req_to_token storage (rows of r2t_stride, after r2t_offset elements)
  int64_t r2t_offset = 0;
  attnmeta::capacity cap;
  attnmeta::options opt;
  unsigned which = all_1d;
  bool page_table = false, block_table = false;
  int64_t pt_stride = 0, bt_stride = 0, pt_offset = 0;  // row strides as passed (0 = dense) and misalignment
  int64_t token_offset = 0;  // misalignment of the six per-token outputs (elements)
  int64_t seq_stride = 1, q_stride = 1, rpi_stride = 1;
  int types = 0;  // bit 0: seq int64, bit 1: extend_lens int64, bit 2: req_pool_indices int64

  std::string describe() const {
    std::ostringstream o;
    o << name(m) << " bs=" << s.bs << " D=" << D << " max_bs=" << cap.max_bs << " max_tokens=" << cap.max_tokens
      << " W=" << cap.page_table_width << " topk=" << opt.topk << " kpool=" << opt.kpool << " ps=" << opt.page_size
      << " pt=" << page_table << " bt=" << block_table << " which=" << which << " types=" << types
      << " strides=" << seq_stride << "," << q_stride << "," << rpi_stride << " pt_stride=" << pt_stride
      << " pt_offset=" << pt_offset << " token_offset=" << token_offset << " r2t_stride=" << s.r2t_stride
      << " r2t_offset=" << r2t_offset << (opt.enable_pdl ? " pdl" : "");
    return o.str();
  }
  int64_t pt_row() const { return pt_stride ? pt_stride : cap.page_table_width; }
  int64_t bt_row() const {
    return bt_stride ? bt_stride : (opt.page_size > 0 ? attnmeta::ceil_div(cap.page_table_width, opt.page_size) : 0);
  }
};

/// Output buffers sized as the caller would (capacity + strides), each with `guard` poisoned
/// elements before and after it (and the case's misalignment before the page tables), poisoned.
/// A buffer that was not asked for is empty.
inline ref::buffers poisoned_outputs(const step_case& c) {
  ref::buffers b;
  const size_t T = c.cap.max_tokens, B = c.cap.max_bs;
  auto make = [&](std::vector<int32_t>& v, size_t n, bool want) { if (want) v.assign(n + 2 * guard, poison); };
  make(b.cache_seqlens, B, c.which & 1);
  make(b.cu_seqlens_k, B + 1, c.which & 2);
  make(b.cu_seqlens_q, B + 1, c.which & 4);
  const size_t to = size_t(c.token_offset);
  make(b.token_to_request, to + T, c.which & 8);
  make(b.seqlens_expanded, to + T, c.which & 16);
  make(b.topk_seqlens, to + T, c.which & 32);
  make(b.cu_topk_seqlens, to + T + 1, c.which & 64);
  make(b.key_start, to + T, c.which & 128);
  make(b.key_end, to + T, c.which & 256);
  make(b.page_table, size_t(c.pt_offset + T * c.pt_row()), c.page_table);
  make(b.block_table, size_t(c.pt_offset + T * c.bt_row()), c.block_table);
  return b;
}

/// Elements before the caller's array inside a guarded buffer (the guard, and the page tables' or
/// the per-token outputs' misalignment).
inline size_t lead_of(const step_case& c, const ref::field& f) {
  const bool table = f.member == &ref::buffers::page_table || f.member == &ref::buffers::block_table;
  const bool token = f.member == &ref::buffers::token_to_request || f.member == &ref::buffers::seqlens_expanded ||
                     f.member == &ref::buffers::topk_seqlens || f.member == &ref::buffers::cu_topk_seqlens ||
                     f.member == &ref::buffers::key_start || f.member == &ref::buffers::key_end;
  return guard + (table ? size_t(c.pt_offset) : 0) + (token ? size_t(c.token_offset) : 0);
}

/// poisoned_outputs with the reference's values written in: what a correct run leaves.
inline ref::buffers expected_outputs(const step_case& c) {
  ref::buffers want = poisoned_outputs(c);
  ref::buffers plain;  // the reference writes unguarded, unshifted arrays
  for (const ref::field& f : ref::all_fields) {
    const std::vector<int32_t>& src = want.*f.member;
    if (!src.empty()) (plain.*f.member).assign(src.begin() + lead_of(c, f), src.end() - guard);
  }
  ref::step s = c.s;
  s.r2t = c.r2t.data() + c.r2t_offset;
  ref::compute(s, c.cap, c.opt, c.pt_row(), c.bt_row(), c.page_table || c.block_table, plain);
  for (const ref::field& f : ref::all_fields) {
    const std::vector<int32_t>& src = plain.*f.member;
    if (!src.empty()) std::copy(src.begin(), src.end(), (want.*f.member).begin() + lead_of(c, f));
  }
  want.status = plain.status;
  return want;
}

/// values[i] at [i * stride] of a typed array; the gaps hold junk so a wrong stride shows.
template <class T>
std::vector<T> strided_array(const std::vector<int64_t>& values, int64_t stride) {
  std::vector<T> a(values.empty() ? 1 : size_t((values.size() - 1) * stride + 1), T(0x3c3c3c3));
  for (size_t i = 0; i < values.size(); ++i) a[i * stride] = T(values[i]);
  return a;
}

/// The typed input arrays of a case, in host memory (the GPU tests copy them).
template <class SeqT, class QT, class IdxT>
struct typed_inputs {
  std::vector<SeqT> seq;
  std::vector<QT> q;
  std::vector<IdxT> rpi;
  explicit typed_inputs(const step_case& c)
      : seq(strided_array<SeqT>(c.s.seq, c.seq_stride)),
        q(strided_array<QT>(c.s.q, c.q_stride)),
        rpi(strided_array<IdxT>(c.s.rpi, c.rpi_stride)) {}
};

/// The case's page source over the given arrays.
template <class IdxT>
attnmeta::page_source<IdxT> pages_of(const step_case& c, const IdxT* rpi, const int32_t* r2t) {
  return {attnmeta::strided<IdxT>(rpi, c.rpi_stride), r2t, c.s.r2t_stride, c.s.pool_rows};
}

/// Calls f(batch) with the batch built by the case's mode function over the given arrays.
template <class SeqT, class QT, class IdxT, class F>
void with_batch(const step_case& c, const SeqT* seq, const QT* q, const IdxT* rpi, const int32_t* r2t, F&& f) {
  const attnmeta::strided<SeqT> sv(seq, c.seq_stride);
  const attnmeta::strided<QT> qv(q, c.q_stride);
  const auto pages = pages_of(c, rpi, r2t);
  switch (c.m) {
    case mode::decode: return f(attnmeta::decode_batch(c.s.bs, sv).with_pages(pages));
    case mode::target_verify: return f(attnmeta::target_verify_batch(c.s.bs, sv, c.D).with_pages(pages));
    case mode::draft_extend: return f(attnmeta::draft_extend_batch(c.s.bs, sv, qv).with_pages(pages));
    case mode::draft_extend_const: return f(attnmeta::draft_extend_batch(c.s.bs, sv, c.D).with_pages(pages));
    case mode::extend: return f(attnmeta::extend_batch(c.s.bs, sv, qv).with_pages(pages));
  }
}

/// Calls f(SeqT{}, QT{}, IdxT{}) with the case's index types.
template <class F>
void with_types(int types, F&& f) {
  switch (types & 7) {
    case 0: return f(int32_t{}, int32_t{}, int32_t{});
    case 1: return f(int64_t{}, int32_t{}, int32_t{});
    case 2: return f(int32_t{}, int64_t{}, int32_t{});
    case 3: return f(int64_t{}, int64_t{}, int32_t{});
    case 4: return f(int32_t{}, int32_t{}, int64_t{});
    case 5: return f(int64_t{}, int32_t{}, int64_t{});
    case 6: return f(int32_t{}, int64_t{}, int64_t{});
    default: return f(int64_t{}, int64_t{}, int64_t{});
  }
}

/// The metadata_outputs over a set of guarded buffers (host or device pointers alike: `base(v)`
/// gives the start of v's storage).
template <class Base>
attnmeta::metadata_outputs outputs_over(const step_case& c, ref::buffers& b, Base base, uint32_t* status) {
  int32_t* p[11];
  for (int i = 0; i < 11; ++i) {
    std::vector<int32_t>& v = b.*ref::all_fields[i].member;
    p[i] = v.empty() ? nullptr : base(v) + lead_of(c, ref::all_fields[i]);
  }
  attnmeta::metadata_outputs o;
  o.cache_seqlens = p[0], o.cu_seqlens_k = p[1], o.cu_seqlens_q = p[2], o.token_to_request = p[3];
  o.seqlens_expanded = p[4], o.topk_seqlens = p[5], o.cu_topk_seqlens = p[6], o.key_start = p[7], o.key_end = p[8];
  o.page_table = p[9], o.page_table_row_stride = c.pt_stride;
  o.block_table = p[10], o.block_table_row_stride = c.bt_stride;
  o.status = status;
  return o;
}

/// "" if equal, else where the first differences are (guards included).
inline std::string compare(const ref::buffers& want, const ref::buffers& got) {
  std::ostringstream o;
  for (const ref::field& f : ref::all_fields) {
    const std::vector<int32_t>& a = want.*f.member;
    const std::vector<int32_t>& b = got.*f.member;
    if (a.size() != b.size()) { o << f.name << ": size " << b.size() << " != " << a.size() << "\n"; continue; }
    int shown = 0;
    for (size_t i = 0; i < a.size() && shown < 4; ++i)
      if (a[i] != b[i] && shown++ < 4)
        o << f.name << "[" << i << " incl. guard] = " << b[i] << ", want " << a[i] << (b[i] == poison ? " (unwritten)" : "")
          << "\n";
  }
  if (want.status != got.status) o << "status = 0x" << std::hex << got.status << ", want 0x" << want.status << "\n";
  return o.str();
}

/// n, divided by ATTNMETA_TEST_DIVISOR when set (the sanitizer runs use fewer random cases).
inline int iterations(int n) {
  const char* d = std::getenv("ATTNMETA_TEST_DIVISOR");
  const int k = d ? std::atoi(d) : 1;
  return k > 1 ? (n + k - 1) / k : n;
}

/// Whether variant `variant` of group `group` (each group n variants) runs under
/// ATTNMETA_TEST_DIVISOR: every (n / iterations(n))-th, shifted by the group, so that the groups
/// between them still take every variant. All of them without the divisor.
inline bool variant_in_turn(int group, int variant, int n) { return (group + variant) % (n / iterations(n)) == 0; }

/// Knobs for the random generator.
struct shape_limits {
  int max_bs = 64;
  int64_t max_seq = 300;
  int64_t max_q = 40;       // extend q per request
  int64_t max_width = 300;  // W
  bool pages = true;
  bool bad = false;         // negative lengths, bad indices, over-capacity
};

/// A fresh random case: mode, bs (edge values often), lengths, capacity (exact, roomy, one short),
/// options, strides, alignment, types and which outputs.
inline step_case random_case(std::mt19937_64& rng, const shape_limits& lim, mode m, int bs = -1) {
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  step_case c;
  c.m = m;
  if (bs < 0) {
    // 32 and 64: where the single launch changes its scan (one lane a request, two, a block)
    const int edges[] = {0, 1, 2, 3, 31, 32, 33, 63, 64, 65};
    bs = chance(0.3) ? edges[uni(0, 9)] : int(uni(0, lim.max_bs));
  }
  c.s.bs = bs;
  c.D = int(uni(chance(0.1) ? 0 : 1, 4));
  c.s.seq.resize(bs);
  c.s.q.resize(bs);
  const int64_t seq_hi = chance(0.2) ? 3 : lim.max_seq;
  for (int b = 0; b < bs; ++b) {
    c.s.seq[b] = uni(chance(0.1) ? 0 : 1, seq_hi);
    switch (m) {
      case mode::decode: c.s.q[b] = 1; break;
      case mode::target_verify: case mode::draft_extend_const: c.s.q[b] = c.D; break;
      case mode::draft_extend: c.s.q[b] = uni(chance(0.1) ? 0 : 1, 4); break;
      case mode::extend: c.s.q[b] = uni(0, chance(0.5) ? lim.max_q : 3); break;
    }
  }
  if (m == mode::extend && bs > 0 && chance(0.2)) c.s.q[uni(0, bs - 1)] = uni(lim.max_q, lim.max_q * 8);  // one huge request
  if (lim.bad && bs > 0) {
    for (int k = 0; k < 2; ++k) {
      if (chance(0.3)) c.s.seq[uni(0, bs - 1)] = -uni(1, 100);
      if (chance(0.3) && (m == mode::draft_extend || m == mode::extend)) c.s.q[uni(0, bs - 1)] = -uni(1, 5);
    }
  }
  c.s.kv_extra = m == mode::target_verify ? c.D : 0;
  int64_t n = 0;
  for (int b = 0; b < bs; ++b) n += std::max<int64_t>(c.s.q[b], 0);
  c.cap.max_bs = bs + int(chance(0.5) ? 0 : uni(0, 40));
  const int64_t slack = chance(0.3) ? 0 : uni(1, 50);
  c.cap.max_tokens = int(lim.bad && chance(0.4) ? std::max<int64_t>(n - uni(1, 5), 0) : n + slack);
  c.opt.topk = int(chance(0.5) ? uni(1, lim.max_seq) : 2048);
  c.opt.kpool = chance(0.7) ? 1 : int(uni(2, 9));
  c.which = chance(0.6) ? unsigned(all_1d) : unsigned(uni(0, all_1d));
  c.seq_stride = chance(0.7) ? 1 : uni(2, 3);
  c.q_stride = chance(0.7) ? 1 : uni(2, 3);
  c.rpi_stride = chance(0.7) ? 1 : uni(2, 3);
  c.types = int(uni(0, 7));

  if (lim.pages && chance(0.6)) {
    c.page_table = chance(0.8);
    c.block_table = !c.page_table || chance(0.6);
    const int64_t sizes[] = {1, 64, 48};
    c.opt.page_size = int(chance(0.8) ? sizes[uni(0, 2)] : uni(2, 17));
    int64_t max_kv = 0;
    for (int b = 0; b < bs; ++b) max_kv = std::max(max_kv, std::max<int64_t>(c.s.seq[b], 0) + c.s.kv_extra);
    // W below and above kv'
    c.cap.page_table_width = int(chance(0.5) ? std::max<int64_t>(max_kv + uni(0, 20), 1)
                                             : uni(1, std::min(lim.max_width, std::max<int64_t>(max_kv, 1))));
    const int64_t W = c.cap.page_table_width;
    c.pt_stride = chance(0.6) ? 0 : W + uni(0, 5);  // 0 = dense; W + k misaligns rows unless k % 4 == 0
    c.bt_stride = chance(0.6) ? 0 : attnmeta::ceil_div(W, c.opt.page_size) + uni(0, 3);
    c.pt_offset = chance(0.7) ? 0 : uni(1, 3);
    c.s.pool_rows = uni(1, 2 * bs + 2);
    c.s.r2t_stride = W + (chance(0.5) ? 0 : uni(0, 9));
    c.r2t_offset = chance(0.7) ? 0 : uni(1, 3);
    c.r2t.resize(size_t(c.r2t_offset + c.s.pool_rows * c.s.r2t_stride));
    // An eighth of the slots negative (-1, an engine's padding, among them): block_table floors
    // them as Python's // does (floor(-1 / 64) = -1, where C's / would give 0).
    for (auto& x : c.r2t) {
      x = int32_t(uni(0, 1 << 20));
      if (x % 8 == 0) x = -(x >> 3) - 1;
    }
    c.s.rpi.resize(bs);
    for (int b = 0; b < bs; ++b) c.s.rpi[b] = uni(0, c.s.pool_rows - 1);
    if (lim.bad && bs > 0 && chance(0.5)) c.s.rpi[uni(0, bs - 1)] = chance(0.5) ? -1 : c.s.pool_rows + uni(0, 3);
  } else {
    c.s.rpi.assign(bs, 0);
  }
  return c;
}

/// A random case of bs requests of mode m asking for every 1-D output, with D = 4 and q_b = 1
/// (decode), 4 (target verify, constant draft extend) or draft_q(b) (draft extend).
template <class DraftQ>
step_case short_case(std::mt19937_64& rng, mode m, int bs, DraftQ draft_q) {
  step_case c = random_case(rng, shape_limits{}, m, bs);
  c.which = all_1d;
  c.D = 4;
  c.s.kv_extra = m == mode::target_verify ? 4 : 0;
  for (int b = 0; b < bs; ++b) c.s.q[b] = m == mode::decode ? 1 : (m == mode::draft_extend ? draft_q(b) : 4);
  return c;
}

/// ceil(log2(n)), 0 for n <= 1, worked out here (not the library's ceil_log2()).
inline int ceil_log2_of(int64_t n) {
  int shift = 0;
  while ((int64_t(1) << shift) < n) ++shift;
  return shift;
}

/// The GPU's short_len_limit(bs), worked out here: 2^24 >> ceil(log2(ceil(bs / 32))).
inline int64_t short_limit_of(int bs) { return (int64_t(1) << 24) >> ceil_log2_of((bs + 31) / 32); }

/// f(c, bs, wide) for every case of the tests of kv' at cluster_wide_kernel's limit: 2,048 and 4,096
/// requests of decode and target verify (short_case(), each from its own seed), every kv' at
/// wide = 4 short_limit_of(bs), topk 2048, no page tables, in buffers of exactly the step's size:
/// bs wide is 2^31.
template <class F>
void for_each_wide_limit_case(F&& f) {
  for (int bs : {2048, 4096})
    for (mode m : {mode::decode, mode::target_verify}) {
      const int64_t wide = 4 * short_limit_of(bs);
      std::mt19937_64 rng(0x31de + uint64_t(bs) + uint64_t(m));
      step_case c = short_case(rng, m, bs, [](int) { return int64_t(1); });
      for (int b = 0; b < bs; ++b) c.s.seq[b] = wide - c.s.kv_extra;
      c.page_table = c.block_table = false;
      c.opt.topk = 2048;
      c.opt.kpool = 1;
      int64_t n = 0;
      for (auto q : c.s.q) n += q;
      c.cap.max_bs = bs;
      c.cap.max_tokens = int(n);
      f(c, bs, wide);
    }
}

/// A short_case() of target verify or draft extend (four tokens a request) without page tables, in
/// buffers of exactly its size, whose clamp sits at one side of the bound under which
/// cluster_wide_kernel takes kv' up to four times limit = short_limit_of(bs): every clamped length
/// below the limit. At 2,048 and 4,096 requests bs * 4 * limit is 2^31. `variant`:
///   0: topk = limit - 1, every kv' 2 limit: each token clamped to topk (topk sum 2^31 - 4 bs);
///   1: topk = limit, the same kv': each token clamped to the limit (2^31);
///   2: pooled, topk = kpool = limit / 2 (topk + kpool - 1 = limit - 1), every kv' one below a
///      multiple of kpool: the tokens clamped to limit - 4 .. limit - 1 (2^31 - 10 bs);
///   3: pooled, topk = limit - 1 and kpool = limit (topk + kpool - 1 = 2 limit - 2), kv' in
///      [2 limit + 3, 4 limit): each token clamped to topk + its length mod kpool (about 1.5 times
///      2^31).
inline step_case clamp_bound_case(std::mt19937_64& rng, mode m, int bs, int variant) {
  step_case c = short_case(rng, m, bs, [](int) { return int64_t(4); });
  const int64_t limit = short_limit_of(bs), half = limit / 2;
  const bool pooled = variant >= 2, past = variant % 2 == 1;
  for (int b = 0; b < bs; ++b) {
    const int64_t kv = !pooled ? 2 * limit
                       : past  ? 2 * limit + 3 + int64_t(rng() % uint64_t(2 * limit - 3))
                               : half * int64_t(2 + rng() % 6) - 1;
    c.s.seq[b] = kv - c.s.kv_extra;
  }
  c.page_table = c.block_table = false;
  c.opt.topk = int(!pooled ? limit - 1 + past : past ? limit - 1 : half);
  c.opt.kpool = int(!pooled ? 1 : past ? limit : half);
  c.cap.max_bs = bs;
  c.cap.max_tokens = 4 * bs;
  return c;
}

/// f(c, bs, variant) for every clamp_bound_case() the tests take: 2,048 and 4,096 requests, target
/// verify and draft extend, the four variants, each from its own seed.
template <class F>
void for_each_clamp_bound_case(F&& f) {
  for (int bs : {2048, 4096})
    for (mode m : {mode::target_verify, mode::draft_extend})
      for (int variant = 0; variant < 4; ++variant) {
        std::mt19937_64 rng(0x7095 + uint64_t(bs) + 4 * uint64_t(m) + uint64_t(variant));
        f(clamp_bound_case(rng, m, bs, variant), bs, variant);
      }
}

/// narrow_block_step()'s limit (prefill past 64 requests, in int32): 2^31 over bs rounded up to a
/// power of two, so that bs values below it sum below 2^31.
inline int64_t narrow_limit_of(int bs) { return (int64_t(1) << 31) >> ceil_log2_of(bs); }

/// A prefill (extend) step of bs requests without page tables, in buffers over four tokens a
/// request (so that no short path takes it), whose sums reach 2^31 with limit = narrow_limit_of(bs)
/// and bs a power of two. `variant`:
///   0: one token a request, every kv' at the limit, topk 2048 (so that only kv' is at the limit):
///      cu_seqlens_k reaches bs limit = 2^31;
///   1: two tokens a request, kv' one below the limit, topk half of it: every request's topk sum at
///      the limit and its kv' below it, so cu_topk_seqlens reaches 2^31 and cu_seqlens_k does not;
///   2: two requests past the limit in neighbouring threads of narrow_block_step() (requests p and
///      p + ceil(bs / 256)), kv' 2^30 + 1 each, the rest short: their sum passes 2^31;
///   3: every q_b at the limit and every kv' 0 (queries longer than their kv, which the status
///      reports): cu_seqlens_q reaches 2^31 while the kv' and topk sums stay 0.
inline step_case narrow_limit_case(std::mt19937_64& rng, int bs, int variant) {
  step_case c = random_case(rng, shape_limits{}, mode::extend, bs);
  const int64_t limit = narrow_limit_of(bs);
  const int per = (bs + 255) / 256, first = bs / 2 / per * per;
  int64_t n = 0;
  for (int b = 0; b < bs; ++b) {
    c.s.q[b] = variant == 1 ? 2 : variant == 3 ? limit : 1;
    c.s.seq[b] = variant == 0 ? limit : variant == 1 ? limit - 1 : variant == 2 ? int64_t(1 + rng() % 5000) : 0;
    n += c.s.q[b];
  }
  if (variant == 2) c.s.seq[first] = c.s.seq[first + per] = (int64_t(1) << 30) + 1;
  c.s.kv_extra = 0;
  c.which = all_1d;
  c.page_table = c.block_table = false;
  c.token_offset = 0;
  c.opt.topk = variant == 0 ? 2048 : variant == 1 ? int(limit / 2) : INT32_MAX;
  c.opt.kpool = 1;
  c.cap.max_bs = bs;
  c.cap.max_tokens = int(variant == 3 ? 4 * bs + 1 : n + 4 * bs + 1);
  return c;
}

/// f(c, bs, variant) for every narrow_limit_case() the tests take: 128, 256 and 1,024 requests
/// (narrow_step_kernel one request a thread, and four), the four variants, each from its own seed.
template <class F>
void for_each_narrow_limit_case(F&& f) {
  for (int bs : {128, 256, 1024})
    for (int variant = 0; variant < 4; ++variant) {
      std::mt19937_64 rng(0x2a77 + uint64_t(bs) + uint64_t(variant));
      f(narrow_limit_case(rng, bs, variant), bs, variant);
    }
}

/// Whether the reference outputs of narrow_limit_case(c, bs, variant) are at the edge it is for:
/// the sums it names saturate at INT32_MAX and the status says so.
inline bool narrow_limit_edge_holds(const step_case& c, const ref::buffers& e, int bs, int variant) {
  int64_t n = 0;
  for (auto q : c.s.q) n += q;
  const bool overflow = (e.status & attnmeta::status_int32_overflow) != 0;
  const int32_t last_q = e.cu_seqlens_q.at(guard + size_t(bs)), last_k = e.cu_seqlens_k.at(guard + size_t(bs));
  if (variant == 3) return overflow && last_q == INT32_MAX && last_k == 0;
  const int32_t last_topk = e.cu_topk_seqlens.at(guard + size_t(n));
  if (variant == 1) return overflow && last_topk == INT32_MAX && last_k == int64_t(bs) * (narrow_limit_of(bs) - 1);
  return overflow && last_k == INT32_MAX;
}

/// f(c) for every case of the tests of one-block grids past the short steps: target verify and
/// constant draft extend with q = D = 5 (never short), 33-254 requests, no page tables, max_tokens
/// 0, 1, 7 and min(254 - bs, 5 bs - 1), so that max_tokens + bs + 2 is at most 256 (one block's
/// threads) and the step's grid is one block; every case over capacity.
template <class F>
void for_each_one_block_case(F&& f) {
  std::mt19937_64 rng(0x0b1c);
  for (int bs : {33, 64, 65, 128, 129, 200, 254})
    for (mode m : {mode::target_verify, mode::draft_extend_const})
      for (int cap : {0, 1, 7, std::min(254 - bs, 5 * bs - 1)}) {
        step_case c = random_case(rng, shape_limits{}, m, bs);
        c.D = 5;
        c.s.kv_extra = m == mode::target_verify ? 5 : 0;
        for (int b = 0; b < bs; ++b) {
          c.s.q[b] = 5;
          c.s.seq[b] = int64_t(rng() % 5000);
        }
        c.which = all_1d;
        c.page_table = c.block_table = false;
        c.cap.max_bs = bs;
        c.cap.max_tokens = cap;
        f(c);
      }
}

/// Gives c dense page tables (each as asked) of width W and page_size, over a pool of pool_rows
/// rows of distinct slots, with req_pool_indices drawn from the pool.
inline void use_dense_pages(step_case& c, std::mt19937_64& rng, bool page_table, bool block_table, int64_t W,
                            int page_size, int64_t pool_rows) {
  c.page_table = page_table;
  c.block_table = block_table;
  c.opt.page_size = page_size;
  c.cap.page_table_width = int(W);
  c.pt_stride = c.bt_stride = c.pt_offset = 0;
  c.s.pool_rows = pool_rows;
  c.s.r2t_stride = W;
  c.r2t_offset = 0;
  c.r2t.resize(size_t(pool_rows * W));
  for (size_t i = 0; i < c.r2t.size(); ++i) c.r2t[i] = int32_t((i * 2654435761u) % 1000003);
  c.s.rpi.resize(c.s.bs);
  for (auto& r : c.s.rpi) r = int64_t(rng() % uint64_t(pool_rows));
}

/// f(c, bs, variant) for steps whose lanes' totals are exactly 2^26, the bound below which
/// lane_batch_step() scans its 32 lanes in int32 (scan_lanes_small()): 32 lanes at it sum to
/// exactly 2^31, which the step saturates and reports. `variant` is narrow_limit_case()'s (every
/// kv' at 2^31 / bs: 0; every topk sum: 1; every q_b: 3), whose edge narrow_limit_edge_holds()
/// checks; the steps:
///   - prefill of 32 and 64 requests (lane_batch_kernel, one and two requests a lane), variants 0,
///     1 and 3;
///   - prefill of 128 requests in buffers of four tokens a request, and decode of 128 requests,
///     every kv' at 2^24 (vectors_kernel, four requests a lane once the short step declines), 0;
///   - decode of 32 requests with page tables (W = 100), every kv' at 2^26 (static_pages_kernel's
///     block 0, lane_batch_step() once its short path declines), 0.
template <class F>
void for_each_lane_scan_case(F&& f) {
  for (int bs : {32, 64})
    for (int variant : {0, 1, 3}) {
      std::mt19937_64 rng(0x1a5e + uint64_t(bs) + uint64_t(variant));
      f(narrow_limit_case(rng, bs, variant), bs, variant);
    }
  for (mode m : {mode::extend, mode::decode}) {
    std::mt19937_64 rng(0x1a5e + 128 + uint64_t(m));
    step_case c = narrow_limit_case(rng, 128, 0);
    c.m = m;
    c.cap.max_tokens = 4 * 128;
    f(c, 128, 0);
  }
  std::mt19937_64 rng(0x1a5e + 32 * 5);
  step_case c = narrow_limit_case(rng, 32, 0);
  c.m = mode::decode;
  c.cap.max_tokens = 32;
  use_dense_pages(c, rng, true, true, 100, 64, 35);
  f(c, 32, 0);
}

/// Runs the host backend on c (typed arrays, guarded poisoned outputs); returns what it wrote.
inline ref::buffers run_host_backend(const step_case& c, cudaError_t& err) {
  ref::buffers got = poisoned_outputs(c);
  uint32_t status = 0;
  with_types(c.types, [&](auto s, auto q, auto i) {
    typed_inputs<decltype(s), decltype(q), decltype(i)> in(c);
    const attnmeta::metadata_outputs out =
        outputs_over(c, got, [](std::vector<int32_t>& v) { return v.data(); }, &status);
    with_batch(c, in.seq.data(), in.q.data(), in.rpi.data(), c.r2t.data() + c.r2t_offset,
               [&](const auto& batch) { err = attnmeta::host::compute_metadata(c.cap, batch, c.opt, out); });
  });
  got.status = status;
  return got;
}

/// The same case with fresh lengths and req_pool_indices (bs, D, capacity, layout unchanged): what
/// the engine writes into its static input buffers before replaying a graph.
inline step_case with_new_lengths(std::mt19937_64& rng, step_case c, int64_t max_seq, int64_t max_q) {
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int b = 0; b < c.s.bs; ++b) {
    c.s.seq[b] = uni(1, max_seq);
    if (c.m == mode::draft_extend) c.s.q[b] = uni(1, 4);
    if (c.m == mode::extend) c.s.q[b] = uni(0, max_q);
    if (c.s.pool_rows > 0) c.s.rpi[b] = uni(0, c.s.pool_rows - 1);
  }
  return c;
}

}  // namespace cases
