// CPU tests: the building blocks on their own, and the host backend against the reference.
// Compiled by the host C++ compiler (no nvcc): the host layers are plain C++.
#include <attnmeta/clamp.hpp>
#include <attnmeta/host.hpp>
#include <attnmeta/lookup.hpp>
#include <attnmeta/workspace.hpp>

#include <cstring>
#include <functional>
#include <memory>
#include <random>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cases.hpp"
#include "catch.hpp"

using namespace cases;

/// The host backend's outputs for c, required to equal `expected` (the reference's for c).
static void require_host_backend_equals(const step_case& c, const ref::buffers& expected) {
  cudaError_t err;
  const ref::buffers got = run_host_backend(c, err);
  INFO(attnmeta::last_error_message());
  REQUIRE(err == cudaSuccess);
  const std::string diff = compare(expected, got);
  INFO(diff);
  REQUIRE(diff.empty());
}

TEST_CASE("clamp policies: prefix_sum equals the plain loop", "[blocks]") {
  std::mt19937_64 rng(1);
  for (int it = 0; it < 300; ++it) {
    const int64_t topk = std::uniform_int_distribution<int64_t>(1, 300)(rng);
    const int64_t kpool = std::uniform_int_distribution<int64_t>(1, 17)(rng);
    const attnmeta::topk_clamp plain{topk};
    const attnmeta::pooled_topk_clamp pooled{topk, kpool};
    int64_t s_plain = 0, s_pooled = 0;
    for (int64_t n = 0; n < 700; ++n) {
      REQUIRE(plain.prefix_sum(n) == s_plain);
      REQUIRE(pooled.prefix_sum(n) == s_pooled);
      REQUIRE(plain(n) == std::min(n, topk));
      REQUIRE(pooled(n) == ref::clamp_len(n, topk, kpool));
      s_plain += plain(n);
      s_pooled += pooled(n);
    }
  }
  // kpool == 1 is the plain clamp
  const attnmeta::pooled_topk_clamp one{2048, 1};
  for (int64_t x : {0, 1, 2047, 2048, 2049, 100000}) REQUIRE(one(x) == std::min<int64_t>(x, 2048));
  // large n stays exact in int64
  REQUIRE(attnmeta::topk_clamp{2048}.prefix_sum(int64_t(1) << 31) == 2048 * 2047 / 2 + ((int64_t(1) << 31) - 2048) * 2048);
  // The plain clamp (branch-free, unsigned) over the lengths a kernel passes it, topk up to
  // INT32_MAX, on both sides of topk and of 2^31, against the sum split at topk.
  for (int it = 0; it < 3000; ++it) {
    const int64_t topk = std::uniform_int_distribution<int64_t>(1, it % 2 ? 5000 : INT32_MAX)(rng);
    const attnmeta::topk_clamp plain{topk};
    for (int64_t n : {int64_t(0), int64_t(1), topk - 1, topk, topk + 1, (int64_t(1) << 31) + 1,
                      std::uniform_int_distribution<int64_t>(0, (int64_t(1) << 31) + 1)(rng)}) {
      if (n < 0) continue;
      const int64_t want = n <= topk ? n * (n - 1) / 2 : topk * (topk - 1) / 2 + (n - topk) * topk;
      INFO("topk " << topk << " n " << n);
      REQUIRE(plain.prefix_sum(n) == want);
    }
  }
  // Its low 32 bits, as the int32 token paths add them up (prefix_sum_low32(), n up to 2^31; the
  // plain clamp's own 32-bit form, the pooled one's through prefix_sum()), topk past 2^32 too.
  for (int it = 0; it < 3000; ++it) {
    const int64_t most = it % 3 == 0 ? 5000 : it % 3 == 1 ? INT32_MAX : INT64_C(1) << 40;
    const int64_t topk = std::uniform_int_distribution<int64_t>(1, most)(rng);
    const attnmeta::topk_clamp plain{topk};
    const attnmeta::pooled_topk_clamp pooled{topk, 1 + it % 97};
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(2), topk - 1, topk, topk + 1, int64_t(1) << 31,
                      std::uniform_int_distribution<int64_t>(0, int64_t(1) << 31)(rng)}) {
      if (n < 0 || n > (int64_t(1) << 31)) continue;
      INFO("topk " << topk << " n " << n);
      REQUIRE(attnmeta::prefix_sum_low32(plain, uint32_t(n)) == uint32_t(uint64_t(plain.prefix_sum(n))));
      REQUIRE(attnmeta::prefix_sum_low32(pooled, uint32_t(n)) == uint32_t(uint64_t(pooled.prefix_sum(n))));
    }
  }
  // The pooled clamp over the lengths a kernel passes it (up to 2^31 + 1: kv' saturates at
  // INT32_MAX, prefix sums take one more), its int arguments up to INT32_MAX, on both sides of 2^31
  // (below it the clamp divides in 32 bits), against the sum as a difference of two sums of
  // x mod kpool.
  const auto mod_sum = [](int64_t n, int64_t k) { return (n / k) * (k * (k - 1) / 2) + (n % k) * (n % k - 1) / 2; };
  for (int it = 0; it < 3000; ++it) {
    const int64_t topk = std::uniform_int_distribution<int64_t>(1, it % 3 ? 5000 : INT32_MAX)(rng);
    const int64_t kpool = std::uniform_int_distribution<int64_t>(1, it % 5 ? 300 : INT32_MAX)(rng);
    const attnmeta::pooled_topk_clamp pooled{topk, kpool};
    const int64_t x0 = (topk / kpool + 1) * kpool;
    const int64_t around = it % 2 ? x0 : (int64_t(1) << 31);
    for (int64_t n : {around - 1, around, around + 1, std::uniform_int_distribution<int64_t>(0, (int64_t(1) << 31) + 1)(rng)}) {
      if (n < 0 || n > (int64_t(1) << 31) + 1) continue;
      const int64_t want = n <= x0 ? n * (n - 1) / 2
                                   : x0 * (x0 - 1) / 2 + (n - x0) * topk + mod_sum(n, kpool) - mod_sum(x0, kpool);
      INFO("topk " << topk << " kpool " << kpool << " n " << n);
      REQUIRE(pooled.prefix_sum(n) == want);
      REQUIRE(pooled(n) == std::min(n / kpool * kpool, topk) + n % kpool);
    }
  }
}

TEST_CASE("find_owner and locate_token against a linear scan, empty requests included", "[blocks]") {
  std::mt19937_64 rng(2);
  for (int it = 0; it < 2000; ++it) {
    const int n = std::uniform_int_distribution<int>(1, 70)(rng);
    std::vector<int64_t> off(n + 1, 0);
    for (int b = 0; b < n; ++b) off[b + 1] = off[b] + std::uniform_int_distribution<int>(0, it % 2 ? 1 : 9)(rng);
    for (int64_t t = 0; t < off[n]; ++t) {
      int want = -1;
      for (int b = 0; b < n; ++b)
        if (off[b] <= t && t < off[b + 1]) want = b;
      const attnmeta::token_position p = attnmeta::locate_token(off.data(), n, t);
      REQUIRE(p.request == want);
      REQUIRE(p.rank == t - off[want]);
      REQUIRE(attnmeta::find_owner(attnmeta::strided<int64_t>(off.data()), n, t) == want);
    }
  }
}

TEST_CASE("workspace_size: a table of max_bs + 1 request totals, then the scan's storage at a 256-byte boundary",
          "[blocks]") {
  // The device-scan path writes bs + 1 <= max_bs + 1 request_totals at the workspace's start and
  // gives cub::DeviceScan the bytes from table_bytes(max_bs) on (metadata.cuh); the GPU test
  // "workspace_size's bound covers cub::DeviceScan's own query" checks the second part's size.
  for (int max_bs = -2; max_bs <= 5000; ++max_bs) {
    const int bs = max_bs > 0 ? max_bs : 0;
    const size_t table = attnmeta::detail::table_bytes(bs);
    const size_t need = sizeof(attnmeta::request_totals) * size_t(bs + 1);
    INFO("max_bs " << max_bs << " table " << table);
    REQUIRE(table >= need);
    REQUIRE(table < need + 256);
    REQUIRE(table % 256 == 0);
    attnmeta::capacity cap;
    cap.max_bs = max_bs;
    const size_t scan = attnmeta::device_exclusive_sum_bytes_bound<attnmeta::request_totals>(bs);
    REQUIRE(attnmeta::workspace_size(cap) >= table + scan);
  }
}

TEST_CASE("step_shape: column_chunks in 32 bits equals the 64-bit ceilings, up to INT32_MAX columns", "[blocks]") {
  std::vector<int> cols;
  for (int c = 0; c <= 2100; ++c) cols.push_back(c);
  for (int c : {163839, 163840, 163841, (1 << 30) - 1, 1 << 30, INT32_MAX - 512, INT32_MAX - 511, INT32_MAX - 1,
                INT32_MAX})
    cols.push_back(c);
  int32_t table = 0;  // only its address: shape_of() reads which tables are asked for
  for (int page_size : {1, 2, 3, 16, 17, 48, 64, 1000, 1 << 20, INT32_MAX}) {
    attnmeta::options opt;
    opt.page_size = page_size;
    for (bool page_table : {true, false}) {
      attnmeta::metadata_outputs out;
      out.page_table = page_table ? &table : nullptr;
      out.block_table = &table;
      const attnmeta::step_shape shape = attnmeta::detail::shape_of(attnmeta::capacity{}, opt, out);
      for (int c : cols) {
        INFO("page_size " << page_size << ", page_table " << page_table << ", cols " << c);
        const int64_t columns = page_table ? c : attnmeta::ceil_div(int64_t(c), int64_t(page_size));
        REQUIRE(shape.column_chunks(c) == attnmeta::ceil_div(columns, attnmeta::page_unit_columns));
      }
    }
  }
}

TEST_CASE("load_request and token_values_at on SPEC's worked example", "[blocks]") {
  const int64_t seq[] = {10, 4}, q[] = {3, 2};
  const auto batch = attnmeta::extend_batch(2, seq, q);
  attnmeta::step_shape shape;
  shape.max_tokens = 5;
  uint32_t flags = 0;
  const attnmeta::topk_clamp clamp{8};
  const attnmeta::request_totals r0 = attnmeta::load_request(batch, shape, clamp, 0, flags);
  const attnmeta::request_totals r1 = attnmeta::load_request(batch, shape, clamp, 1, flags);
  REQUIRE(flags == 0);
  REQUIRE(r0.tokens == 3);
  REQUIRE(r0.kv == 10);
  REQUIRE(r0.topk == 24);
  REQUIRE(r1.topk == 7);
  const attnmeta::request_totals at1 = r0, at2 = r0 + r1;
  const attnmeta::token_values v = attnmeta::token_values_at(at1, at2, 1, 1, clamp);  // token 4
  REQUIRE(v.request == 1);
  REQUIRE(v.seqlen_expanded == 4);
  REQUIRE(v.topk_seqlen == 4);
  REQUIRE(v.cu_topk_through == 31);
  REQUIRE(v.key_start == 10);
  REQUIRE(v.key_end == 14);
  const attnmeta::token_values tail = attnmeta::tail_token_values(at2);
  REQUIRE(tail.request == -1);
  REQUIRE(tail.cu_topk_through == 31);
}

TEST_CASE("token_values_narrow equals token_values_at wherever the step's sums fit int32", "[blocks]") {
  std::mt19937_64 rng(0x7a11);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int it = 0; it < 20000; ++it) {
    attnmeta::request_totals at, next;
    const int64_t q = uni(1, it % 5 ? 40 : 9000);
    const int64_t kv = it % 7 == 0 ? int64_t(INT32_MAX) - uni(0, 3) : uni(0, it % 3 ? 5000 : 3000000);
    at.tokens = uni(0, 100000);
    at.kv = it % 7 == 0 ? 0 : uni(0, 1000000);
    at.topk = uni(0, 1000000);
    next.tokens = at.tokens + q;
    next.kv = at.kv + kv;
    const attnmeta::topk_clamp plain{uni(1, 4096)};
    const attnmeta::pooled_topk_clamp pooled{uni(1, 4096), uni(2, 64)};
    const int64_t j = uni(0, q - 1);
    const int b = int(uni(0, 5000));
    const auto check = [&](const auto& clamp) {
      const attnmeta::token_values w = attnmeta::token_values_at(at, next, b, j, clamp);
      // the sums this token reaches: the step's totals are at least these
      attnmeta::request_totals reach = next;
      reach.topk = int64_t(w.cu_topk_through);
      if (!attnmeta::narrow_totals(reach) || reach.topk >= int64_t(INT32_MAX)) return;
      const attnmeta::token_values v = attnmeta::token_values_narrow(at, next, b, int32_t(j), clamp);
      INFO("q " << q << " kv " << kv << " j " << j << " at.kv " << at.kv << " at.topk " << at.topk);
      REQUIRE(v.request == w.request);
      REQUIRE(v.seqlen_expanded == w.seqlen_expanded);
      REQUIRE(v.topk_seqlen == w.topk_seqlen);
      REQUIRE(v.cu_topk_through == w.cu_topk_through);
      REQUIRE(v.key_start == w.key_start);
      REQUIRE(v.key_end == w.key_end);
    };
    check(plain);
    check(pooled);
  }
}

TEST_CASE("host backend: SPEC's worked example, extend mode", "[host]") {
  const int32_t seq[] = {10, 4}, q[] = {3, 2};
  attnmeta::capacity cap{2, 5, 0};
  attnmeta::options opt;
  opt.topk = 8;
  std::vector<int32_t> cu_q(3), cu_k(3), t2r(5), exp(5), topk(5), cu_topk(6), ks(5), ke(5);
  attnmeta::metadata_outputs out;
  out.cu_seqlens_q = cu_q.data(), out.cu_seqlens_k = cu_k.data(), out.token_to_request = t2r.data();
  out.seqlens_expanded = exp.data(), out.topk_seqlens = topk.data(), out.cu_topk_seqlens = cu_topk.data();
  out.key_start = ks.data(), out.key_end = ke.data();
  REQUIRE(attnmeta::host::compute_metadata(cap, attnmeta::extend_batch(2, seq, q), opt, out) == cudaSuccess);
  CHECK(cu_q == std::vector<int32_t>{0, 3, 5});
  CHECK(cu_k == std::vector<int32_t>{0, 10, 14});
  CHECK(t2r == std::vector<int32_t>{0, 0, 0, 1, 1});
  CHECK(exp == std::vector<int32_t>{8, 9, 10, 3, 4});
  CHECK(topk == std::vector<int32_t>{8, 8, 8, 3, 4});
  CHECK(cu_topk == std::vector<int32_t>{0, 8, 16, 24, 27, 31});
  CHECK(ks == std::vector<int32_t>{0, 0, 0, 10, 10});
  CHECK(ke == std::vector<int32_t>{8, 9, 10, 13, 14});
}

TEST_CASE("host backend equals the reference on random batches, every mode", "[host]") {
  std::mt19937_64 rng(20261124);
  int count = 0;
  for (mode m : all_modes) {
    for (int it = 0; it < 1500; ++it) {
      shape_limits lim;
      lim.bad = it % 3 == 2;
      if (it % 50 == 0) lim.max_bs = 3000;  // thousands of requests
      const step_case c = random_case(rng, lim, m);
      INFO(c.describe());
      require_host_backend_equals(c, expected_outputs(c));
      ++count;
    }
  }
  REQUIRE(count == 7500);
}

TEST_CASE("host backend: capacity edges (exact, one past), q = 0, one huge request", "[host]") {
  std::mt19937_64 rng(7);
  for (int it = 0; it < 200; ++it) {
    step_case c = random_case(rng, shape_limits{}, mode::extend, it % 5);
    int64_t n = 0;
    if (it % 4 == 3 && c.s.bs > 0) c.s.q[0] = 5000;          // one huge request
    if (it % 4 == 2) std::fill(c.s.q.begin(), c.s.q.end(), 0);  // q = 0 everywhere
    for (auto q : c.s.q) n += q;
    c.cap.max_tokens = int(it % 2 ? n : std::max<int64_t>(n - 1, 0));  // exactly the capacity, or one short
    cudaError_t err;
    const ref::buffers got = run_host_backend(c, err);
    INFO(c.describe());
    REQUIRE(err == cudaSuccess);
    const ref::buffers want = expected_outputs(c);
    REQUIRE(compare(want, got).empty());
    const bool over = n > c.cap.max_tokens;
    REQUIRE(((got.status & attnmeta::status_tokens_over_capacity) != 0) == over);
  }
}

TEST_CASE("host-checkable mistakes return an error naming the argument, and write nothing", "[host][errors]") {
  int32_t seq[4] = {5, 6, 7, 8}, q[4] = {1, 2, 3, 4}, rpi[4] = {0, 1, 0, 1}, r2t[64] = {};
  std::vector<int32_t> cu(5, poison), pt(8 * 16, poison);
  attnmeta::metadata_outputs out;
  out.cu_seqlens_q = cu.data();
  const attnmeta::capacity cap{4, 16, 8};
  attnmeta::options opt;
  struct bad { const char* what; std::function<cudaError_t()> call; };
  auto run = [&](attnmeta::capacity cp, auto batch, attnmeta::options o, attnmeta::metadata_outputs m) {
    return attnmeta::host::compute_metadata(cp, batch, o, m);
  };
  auto with = [&](auto f) { attnmeta::options o = opt; f(o); return o; };
  const auto ext = attnmeta::extend_batch(4, seq, q);
  attnmeta::metadata_outputs pages = out;
  pages.page_table = pt.data();
  const std::vector<bad> cases_ = {
      {"capacity.max_bs", [&] { return run({-1, 16, 8}, ext, opt, out); }},
      {"capacity.max_tokens", [&] { return run({4, -1, 8}, ext, opt, out); }},
      {"capacity.max_tokens", [&] { return run({4, INT32_MAX, 8}, ext, opt, out); }},  // cu_topk_seqlens has one more
      {"capacity.page_table_width", [&] { return run({4, 16, -1}, ext, opt, out); }},
      {"bs must be", [&] { return run(cap, attnmeta::extend_batch(-1, seq, q), opt, out); }},
      {"capacity.max_bs, the batch", [&] { return run(cap, attnmeta::extend_batch(5, seq, q), opt, out); }},
      {"options.topk", [&] { return run(cap, ext, with([](auto& o) { o.topk = 0; }), out); }},
      {"options.kpool", [&] { return run(cap, ext, with([](auto& o) { o.kpool = 0; }), out); }},
      {"options.page_size", [&] { return run(cap, ext, with([](auto& o) { o.page_size = 0; }), out); }},
      {"seq_lens is null", [&] { return run(cap, attnmeta::extend_batch(4, (const int32_t*)nullptr, q), opt, out); }},
      {"extend_lens is null", [&] { return run(cap, attnmeta::extend_batch(4, seq, (const int32_t*)nullptr), opt, out); }},
      {"draft token count", [&] { return run(cap, attnmeta::draft_extend_batch(4, seq, -1), opt, out); }},
      {"draft token count", [&] { return run(cap, attnmeta::target_verify_batch(4, seq, -2), opt, out); }},
      {"kv_extra", [&] { auto b = attnmeta::decode_batch(4, seq); b.kv_extra = -1; return run(cap, b, opt, out); }},
      {"page_table_width must be > 0", [&] { return run({4, 16, 0}, ext.with_pages(rpi, r2t, 8), opt, pages); }},
      {"req_pool_indices is null", [&] { return run(cap, ext.with_pages((const int32_t*)nullptr, r2t, 8), opt, pages); }},
      {"req_to_token is null", [&] { return run(cap, ext.with_pages(rpi, nullptr, 8), opt, pages); }},
      {"req_to_token row_stride", [&] { return run(cap, ext.with_pages(rpi, r2t, 7), opt, pages); }},
      {"page_table_row_stride", [&] { auto p = pages; p.page_table_row_stride = 7; return run(cap, ext.with_pages(rpi, r2t, 8), opt, p); }},
      {"block_table_row_stride", [&] { auto p = out; p.block_table = pt.data(); p.block_table_row_stride = 1;
                                        return run(cap, ext.with_pages(rpi, r2t, 8), with([](auto& o) { o.page_size = 4; }), p); }},
  };
  for (const bad& b : cases_) {
    INFO(b.what);
    REQUIRE(b.call() == cudaErrorInvalidValue);
    REQUIRE(std::strstr(attnmeta::last_error_message(), b.what) != nullptr);
    REQUIRE(cu == std::vector<int32_t>(5, poison));
    REQUIRE(pt == std::vector<int32_t>(8 * 16, poison));
  }
  // and the well-formed call works
  REQUIRE(run(cap, ext.with_pages(rpi, r2t, 8), opt, pages) == cudaSuccess);
  REQUIRE(cu == std::vector<int32_t>{0, 1, 3, 6, 10});
}

TEST_CASE("int32 overflow saturates and is reported", "[host]") {
  const int64_t seq[] = {int64_t(3) << 30, int64_t(3) << 30, 5};
  const int64_t q[] = {1, 1, 1};
  std::vector<int32_t> cu_k(4, poison), exp(3, poison), ke(3, poison);
  attnmeta::metadata_outputs out;
  out.cu_seqlens_k = cu_k.data(), out.seqlens_expanded = exp.data(), out.key_end = ke.data();
  uint32_t status = 0;
  out.status = &status;
  REQUIRE(attnmeta::host::compute_metadata({3, 3, 0}, attnmeta::extend_batch(3, seq, q), attnmeta::options{}, out) ==
          cudaSuccess);
  INFO("status " << status);
  CHECK((status & attnmeta::status_int32_overflow) != 0);
  CHECK(cu_k == std::vector<int32_t>{0, INT32_MAX, INT32_MAX, INT32_MAX});
  CHECK(exp == std::vector<int32_t>{INT32_MAX, INT32_MAX, 5});
  CHECK(ke[2] == INT32_MAX);
}

TEST_CASE("host backend: 2,048 and 4,096 requests with every kv' at the wide limit, cu_seqlens_k's last entry at 2^31",
          "[host]") {
  // The cases of the GPU test of short batches at the wide limit (test_device.cu): the sum
  // saturates, and the status says so.
  for_each_wide_limit_case([](const step_case& c, int bs, int64_t wide) {
    INFO(c.describe());
    const ref::buffers expected = expected_outputs(c);
    CHECK(expected.cu_seqlens_k.at(guard + size_t(bs)) == INT32_MAX);  // after the buffer's guard
    CHECK(expected.cu_seqlens_k.at(guard + size_t(bs) - 1) == (bs - 1) * wide);
    CHECK((expected.status & attnmeta::status_int32_overflow) != 0);
    require_host_backend_equals(c, expected);
  });
}

/// A case of narrow_limit_case()'s variants (bs requests): its reference at the edge the variant is
/// for (narrow_limit_edge_holds()), and the host backend equal to it.
static void check_limit_edge_on_host_backend(const step_case& c, int bs, int variant) {
  INFO("bs " << bs << " variant " << variant << " " << c.describe());
  const ref::buffers expected = expected_outputs(c);
  CHECK(narrow_limit_edge_holds(c, expected, bs, variant));
  require_host_backend_equals(c, expected);
}

TEST_CASE("host backend: prefill of 128, 256 and 1,024 requests whose sums reach 2^31 at the int32 step's bound",
          "[host]") {
  // The cases of the GPU test of narrow_block_step()'s limit (test_device.cu).
  for_each_narrow_limit_case(check_limit_edge_on_host_backend);
}

TEST_CASE("host backend: 32-128 requests whose lanes' totals are at 2^26, the sums at 2^31", "[host]") {
  // The cases of the GPU test of lane_batch_step()'s int32 scan (test_device.cu).
  for_each_lane_scan_case(check_limit_edge_on_host_backend);
}

TEST_CASE("host backend: a constant q of 5, 33-254 requests, capacity far below N", "[host]") {
  // The cases of the GPU test of one-block grids (test_device.cu).
  for_each_one_block_case([](const step_case& c) {
    INFO(c.describe());
    const ref::buffers expected = expected_outputs(c);
    CHECK((expected.status & attnmeta::status_tokens_over_capacity) != 0);
    require_host_backend_equals(c, expected);
  });
}

TEST_CASE("host backend: 2,048 and 4,096 requests of four tokens whose clamp is at the wide limit's bound",
          "[host]") {
  // The cases of the GPU test of short batches at the wide limit's clamp bound (test_device.cu):
  // each variant's topk sum is where clamp_bound_case() says, saturated and reported past 2^31,
  // and the host backend agrees with the reference.
  for_each_clamp_bound_case([](const step_case& c, int bs, int variant) {
    INFO("variant " << variant << " " << c.describe());
    const int64_t limit = short_limit_of(bs);
    REQUIRE(int64_t(bs) * 4 * limit == int64_t(1) << 31);
    const ref::buffers expected = expected_outputs(c);
    const int64_t last = expected.cu_topk_seqlens.at(guard + size_t(4 * bs));  // after the buffer's guard
    if (variant % 2 == 1) {
      CHECK(last == INT32_MAX);
      CHECK(expected.status == attnmeta::status_int32_overflow);
    } else {
      CHECK(last == int64_t(bs) * (variant == 0 ? 4 * limit - 4 : 4 * limit - 10));
      CHECK(expected.status == 0);
    }
    if (variant == 1) CHECK(expected.cu_topk_seqlens.at(guard + size_t(4 * bs) - 1) == INT32_MAX - limit + 1);
    require_host_backend_equals(c, expected);
  });
}

TEST_CASE("the int32 bits at INT32_MAX and one past it: a request's lengths, and the totals alone", "[host]") {
  // The status word of one step (cu_seqlens_k asked for, checked too), max_tokens 4: the per-token
  // loop stays short whatever q_b is.
  const auto run = [](const auto& batch, int topk, std::vector<int32_t> want_cu_k) {
    std::vector<int32_t> cu_k(size_t(batch.bs) + 1, poison);
    attnmeta::metadata_outputs out;
    out.cu_seqlens_k = cu_k.data();
    uint32_t status = 0;
    out.status = &status;
    attnmeta::options opt;
    opt.topk = topk;
    REQUIRE(attnmeta::host::compute_metadata({batch.bs, 4, 0}, batch, opt, out) == cudaSuccess);
    CHECK(cu_k == want_cu_k);
    return status;
  };
  const uint32_t over = attnmeta::status_int32_overflow;
  const uint32_t long_q = attnmeta::status_query_longer_than_kv | attnmeta::status_tokens_over_capacity;
  constexpr int32_t M = INT32_MAX;
  constexpr int64_t M64 = INT32_MAX;
  SECTION("int32 lengths: kv' at INT32_MAX, and seq_len + D one past it") {
    const int32_t at[] = {M}, below[] = {M - 1};
    CHECK(run(attnmeta::decode_batch(1, at), 2048, {0, M}) == 0);
    CHECK(run(attnmeta::target_verify_batch(1, below, 1), 2048, {0, M}) == 0);
    CHECK(run(attnmeta::target_verify_batch(1, below, 2), 2048, {0, M}) == over);  // saturated
  }
  SECTION("int64 lengths: seq_len at INT32_MAX, one past it, far past it") {
    const int64_t at[] = {M64}, past[] = {M64 + 1}, far[] = {INT64_MAX};
    CHECK(run(attnmeta::decode_batch(1, at), 2048, {0, M}) == 0);
    CHECK(run(attnmeta::decode_batch(1, past), 2048, {0, M}) == over);
    CHECK(run(attnmeta::decode_batch(1, far), 2048, {0, M}) == over);
  }
  SECTION("q_b at INT32_MAX and one past it (kv' 1: every token but the last of length 0)") {
    const int64_t seq[] = {1}, at[] = {M64}, past[] = {M64 + 1};
    const int32_t seq32[] = {1}, at32[] = {M};
    CHECK(run(attnmeta::extend_batch(1, seq32, at32), 2048, {0, 1}) == long_q);
    CHECK(run(attnmeta::extend_batch(1, seq, at), 2048, {0, 1}) == long_q);
    CHECK(run(attnmeta::extend_batch(1, seq, past), 2048, {0, 1}) == (long_q | over));
  }
  SECTION("the sums alone: cu_seqlens_k, N and cu_topk_seqlens at INT32_MAX and one past it") {
    const int32_t kv_at[] = {M - 5, 5}, kv_past[] = {M - 5, 6};
    CHECK(run(attnmeta::decode_batch(2, kv_at), 2048, {0, M - 5, M}) == 0);
    CHECK(run(attnmeta::decode_batch(2, kv_past), 2048, {0, M - 5, M}) == over);
    const int32_t ones[] = {1, 1}, q_at[] = {M - 5, 5}, q_past[] = {M - 5, 6};
    CHECK(run(attnmeta::extend_batch(2, ones, q_at), 2048, {0, 1, 2}) == long_q);
    CHECK(run(attnmeta::extend_batch(2, ones, q_past), 2048, {0, 1, 2}) == (long_q | over));
    // No clamp (topk INT32_MAX): q = kv' = 65,535 adds 1 + ... + 65,535 = 2,147,450,880 to
    // cu_topk_seqlens, one token of kv' 32,767 the rest to INT32_MAX; kv' 32,768 is one past it.
    const int32_t q2[] = {65535, 1}, seq_at[] = {65535, 32767}, seq_past[] = {65535, 32768};
    REQUIRE(int64_t(65535) * 65536 / 2 + 32767 == M64);
    CHECK(run(attnmeta::extend_batch(2, seq_at, q2), M, {0, 65535, 65535 + 32767}) ==
          attnmeta::status_tokens_over_capacity);
    CHECK(run(attnmeta::extend_batch(2, seq_past, q2), M, {0, 65535, 65535 + 32768}) ==
          (attnmeta::status_tokens_over_capacity | over));
  }
}

TEST_CASE("req_pool_indices against pool_rows: an empty pool, one row short, an index past INT32_MAX", "[host]") {
  // Two decode requests of kv' 5 over a pool of rows of 8 slots; a page_table of 2 rows of 8.
  const int32_t seq[] = {5, 5};
  std::vector<int32_t> r2t(16);
  for (int i = 0; i < 16; ++i) r2t[size_t(i)] = 100 + i;
  std::vector<int32_t> pt;
  const auto run = [&](const int64_t* rpi, int64_t pool_rows) {
    pt.assign(16, poison);
    attnmeta::metadata_outputs out;
    out.page_table = pt.data();
    uint32_t status = 0;
    out.status = &status;
    const auto batch = attnmeta::decode_batch(2, seq).with_pages(rpi, r2t.data(), 8, pool_rows);
    REQUIRE(attnmeta::host::compute_metadata({2, 2, 8}, batch, attnmeta::options{}, out) == cudaSuccess);
    return status;
  };
  const auto row = [&](int pool_row) {  // a page_table row copied from pool row `pool_row`
    std::vector<int32_t> r(8, poison);
    for (int c = 0; c < 5; ++c) r[size_t(c)] = r2t[size_t(pool_row * 8 + c)];
    return r;
  };
  const auto rows = [](std::vector<int32_t> a, const std::vector<int32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<int32_t> untouched(8, poison);
  const uint32_t bad = attnmeta::status_bad_req_pool_index;
  const int64_t rpi[] = {1, 0};
  CHECK(run(rpi, 2) == 0);
  CHECK(pt == rows(row(1), row(0)));
  CHECK(run(rpi, -1) == 0);  // pool_rows unknown: not checked
  CHECK(pt == rows(row(1), row(0)));
  CHECK(run(rpi, 1) == bad);  // request 0's index 1 is one row past the pool
  CHECK(pt == rows(untouched, row(0)));
  CHECK(run(rpi, 0) == bad);  // an empty pool: every index is out of range
  CHECK(pt == rows(untouched, untouched));
  const int64_t past[] = {int64_t(INT32_MAX) + 1, 0};  // past any int32 row, pool_rows unknown
  CHECK(run(past, -1) == bad);
  CHECK(pt == rows(untouched, row(0)));
}

TEST_CASE("req_pool_indices: INT32_MAX is the last row an index may name, where pool_rows is unknown", "[host]") {
#if defined(__linux__)
  // A req_to_token of 2^31 rows of one slot: 8 GiB of address space, of which the first and the
  // last row's pages are touched (MAP_NORESERVE: no memory is set aside for the rest).
  const size_t bytes = (size_t(INT32_MAX) + 1) * sizeof(int32_t);
  void* pool = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (pool == MAP_FAILED) {
    WARN("8 GiB of address space refused (overcommit off?): not run");
    return;
  }
  const auto unmap = [bytes](void* p) { munmap(p, bytes); };
  const std::unique_ptr<void, decltype(unmap)> unmapped_at_exit(pool, unmap);  // a failed REQUIRE returns too
  int32_t* const r2t = static_cast<int32_t*>(pool);
  r2t[INT32_MAX] = 4242;
  r2t[0] = -7;
  const int32_t seq[] = {1, 1};
  const int64_t rpi[] = {INT32_MAX, 0};
  std::vector<int32_t> pt, bt;
  const auto run = [&](int64_t pool_rows) {
    pt.assign(2, poison);
    bt.assign(2, poison);
    attnmeta::metadata_outputs out;
    out.page_table = pt.data();
    out.block_table = bt.data();
    uint32_t status = 0;
    out.status = &status;
    const auto batch = attnmeta::decode_batch(2, seq).with_pages(rpi, r2t, 1, pool_rows);
    REQUIRE(attnmeta::host::compute_metadata({2, 2, 1}, batch, attnmeta::options{}, out) == cudaSuccess);
    return status;
  };
  CHECK(run(-1) == 0);  // row INT32_MAX is read
  CHECK(pt == std::vector<int32_t>{4242, -7});
  CHECK(bt == std::vector<int32_t>{4242, -7});  // page_size 1
  CHECK(run(INT32_MAX) == attnmeta::status_bad_req_pool_index);  // a pool of INT32_MAX rows ends one row before it
  CHECK(pt == std::vector<int32_t>{poison, -7});
  CHECK(bt == std::vector<int32_t>{poison, -7});
#else
  WARN("needs mmap's MAP_NORESERVE (Linux): not run");
#endif
}

TEST_CASE("narrow_totals: every sum at INT32_MAX, each one past it", "[blocks]") {
  const int64_t M = INT32_MAX;
  CHECK(attnmeta::narrow_totals({M, M, M, 0}));
  CHECK_FALSE(attnmeta::narrow_totals({M + 1, M, M, 0}));
  CHECK_FALSE(attnmeta::narrow_totals({M, M + 1, M, 0}));
  CHECK_FALSE(attnmeta::narrow_totals({M, M, M + 1, 0}));
}
