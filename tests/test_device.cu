// GPU tests: every mode, index type and path against the reference, with poisoned, guarded outputs;
// edges; bad input and the status word. Reported skipped (77) where there is no device.
#include <array>

#include "device_harness.cuh"

using namespace cases;
using attnmeta::path;

static const path paths[] = {path::single_launch, path::device_scan};
static const char* path_name(path p) {
  return p == path::single_launch ? "single_launch" : (p == path::device_scan ? "device_scan" : "automatic");
}

/// c on the device, by the single launch and by the device-scan path, equals the reference.
static void require_equal_on(const step_case& c, path p) {
  const std::string diff = dev::check_on_device(c, p);
  INFO(path_name(p));
  INFO(diff);
  REQUIRE(diff.empty());
}

static void require_equal_on_both_paths(const step_case& c) {
  for (path p : paths) require_equal_on(c, p);
}

TEST_CASE("every mode, type and path equals the reference on random batches", "[gpu]") {
  std::mt19937_64 rng(0x5eed);
  int checked = 0;
  for (mode m : all_modes)
    for (path p : paths)
      for (int it = 0; it < iterations(160); ++it) {
        shape_limits lim;
        lim.max_bs = it % 3 == 0 ? 700 : 64;  // the one-warp scan (bs <= 64) and the block scan
        lim.max_width = it % 4 == 0 ? 2000 : 300;
        lim.max_seq = it % 4 == 0 ? 2000 : 300;
        const step_case c = random_case(rng, lim, m);
        INFO(path_name(p) << " " << c.describe());
        const std::string diff = dev::check_on_device(c, p);
        INFO(diff);
        REQUIRE(diff.empty());
        ++checked;
      }
  REQUIRE(checked == 10 * iterations(160));
}

TEST_CASE("device-side bad input: clamped, reported, nothing written out of bounds", "[gpu][bad]") {
  std::mt19937_64 rng(0xbad);
  int flagged = 0;
  for (mode m : all_modes)
    for (path p : paths)
      for (int it = 0; it < iterations(80); ++it) {
        shape_limits lim;
        lim.bad = true;
        const step_case c = random_case(rng, lim, m);
        INFO(path_name(p) << " " << c.describe());
        const std::string diff = dev::check_on_device(c, p);  // guards and status included
        INFO(diff);
        REQUIRE(diff.empty());
        flagged += expected_outputs(c).status & attnmeta::status_error_mask ? 1 : 0;
      }
  REQUIRE(flagged > 10 * iterations(80) / 4);  // the generator really made bad batches
}

TEST_CASE("edges: bs 0 and 1, q = 0, exact capacity and one past, one huge request, big W", "[gpu][edges]") {
  std::mt19937_64 rng(11);
  for (path p : paths) {
    for (int it = 0; it < iterations(60); ++it) {
      step_case c = random_case(rng, shape_limits{}, it % 2 ? mode::extend : mode::draft_extend, it % 3);  // bs 0, 1, 2
      int64_t n = 0;
      if (it % 5 == 1) std::fill(c.s.q.begin(), c.s.q.end(), 0);
      for (auto q : c.s.q) n += q;
      c.cap.max_tokens = int(it % 4 < 2 ? n : std::max<int64_t>(n - 1, 0));
      INFO(path_name(p) << " " << c.describe());
      const std::string diff = dev::check_on_device(c, p);
      INFO(diff);
      REQUIRE(diff.empty());
    }
    // one huge request among small ones, with page tables
    shape_limits big;
    big.max_q = 3;
    step_case c = random_case(rng, big, mode::extend, 40);
    c.s.q[17] = 20000;
    c.cap.max_tokens = 20000 + 200;
    use_dense_pages(c, rng, true, true, 512, 64, 41);
    INFO(path_name(p) << " huge " << c.describe());
    std::string diff = dev::check_on_device(c, p);
    INFO(diff);
    REQUIRE(diff.empty());
    // realistic draft step: bs 32, D = 4, W = 8192, kv up to 8192, page 64, every output
    step_case d = random_case(rng, shape_limits{}, mode::draft_extend_const, 32);
    d.D = 4;
    std::fill(d.s.q.begin(), d.s.q.end(), 4);
    d.cap = {32, 128, 8192};
    d.which = all_1d;
    d.opt.topk = 2048;
    use_dense_pages(d, rng, true, true, 8192, 64, 64);
    for (int b = 0; b < 32; ++b) d.s.seq[b] = 1 + int64_t(rng() % 8192);
    INFO(path_name(p) << " draft " << d.describe());
    diff = dev::check_on_device(d, p);
    INFO(diff);
    REQUIRE(diff.empty());
  }
}

TEST_CASE("large batches: thousands of requests, automatic path on both sides of the limit", "[gpu][large]") {
  std::mt19937_64 rng(12);
  for (int bs : {attnmeta::single_launch_max_bs, attnmeta::single_launch_max_bs + 1, 5000, 20000}) {
    for (mode m : {mode::decode, mode::draft_extend, mode::extend}) {
      shape_limits lim;
      lim.max_width = 64;
      lim.max_seq = 100;
      lim.max_q = 8;
      const step_case c = random_case(rng, lim, m, bs);
      INFO("bs " << bs << " " << c.describe());
      const std::string diff = dev::check_on_device(c, path::automatic);
      INFO(diff);
      REQUIRE(diff.empty());
    }
  }
}

TEST_CASE("device-scan page copy: requests of several units, empty requests between them", "[gpu][pages]") {
  // Rows up to 2,600 columns (up to six page units of 512 columns a row group, more than one row
  // group where q_b passes 16) and about a third of the requests empty (no columns, or no rows): the
  // device-scan path's copy (copy_units() over the table in global memory) finds each unit's
  // request past empty ones; decode, whose warps take runs of units, is checked where a run stays
  // in one request, crosses into the next, or skips empty ones.
  std::mt19937_64 rng(0x2a11);
  for (mode m : all_modes)
    for (int bs : {1, 3, 37, 300})
      for (int page_size : {64, 48}) {
        shape_limits lim;
        lim.max_seq = 2600;
        lim.max_q = 24;  // past page_unit_rows: a request of two row groups
        step_case c = random_case(rng, lim, m, bs);
        for (int b = 0; b < bs; ++b)
          if (rng() % 3 == 0) {
            c.s.seq[b] = 0;
            if (m == mode::draft_extend || m == mode::extend) c.s.q[b] = rng() % 2;
          }
        use_dense_pages(c, rng, rng() % 4 != 0, rng() % 2 == 0, 2600, page_size, bs + 7);
        if (!c.page_table) c.block_table = true;
        INFO(name(m) << " " << c.describe());
        require_equal_on(c, path::device_scan);
      }
  // Decode with more units than the fill kernel has warps (up to 6,000 columns, about 4 units a
  // request with a third empty): each warp copies a run of consecutive units (copy_unit_runs()),
  // across request edges and past empty requests; with max_tokens 3 below N the last rows stay
  // unwritten.
  for (int bs : {2500, 5000})
    for (bool short_cap : {false, true}) {
      shape_limits lim;
      lim.max_seq = 6000;
      step_case c = random_case(rng, lim, mode::decode, bs);
      for (int b = 0; b < bs; ++b)
        if (rng() % 3 == 0) c.s.seq[b] = 0;
      use_dense_pages(c, rng, true, rng() % 2 == 0, 6000, 64, bs + 7);
      if (short_cap) c.cap.max_tokens = bs - 3;
      INFO("decode " << c.describe());
      require_equal_on(c, path::device_scan);
    }
}

// Sizes c for its own tokens (one row more when bs is odd), takes no clamp or topk 2048 at random,
// and checks it on both paths.
static void check_short_case(step_case& c, std::mt19937_64& rng, int variant) {
  int64_t n = 0;
  for (auto q : c.s.q) n += q;
  c.cap.max_bs = c.s.bs;
  c.cap.max_tokens = int(n + (c.s.bs % 2));
  c.opt.topk = rng() % 2 ? INT32_MAX : 2048;
  c.opt.kpool = 1;
  INFO("bs " << c.s.bs << " variant " << variant << " " << c.describe());
  require_equal_on_both_paths(c);
}

TEST_CASE("short batches at their bounds: lengths below 2^24, at it, near INT32_MAX; bs at each path's edge",
          "[gpu][short]") {
  // Steps whose requests all have q <= 4 take the short paths: 32-bit sums in a warp (bs <= 32,
  // every kv' below 2^24), one block scan (bs <= 256, or one token a request up to 1024). A
  // request at 2^24 sends a warp to its general path (and a block, whose limit is lower past 32
  // requests: the next test); lengths near INT32_MAX make the general path's sums saturate. With no clamp, bs 32 and q 4 the warp's cu_topk_seqlens ends 127 below INT32_MAX.
  // Variant 3 puts one seq_lens at INT64_MAX - 1 (int64 inputs): kv' = seq + D is checked without
  // overflowing, and the step goes to the general path, which saturates and reports it.
  std::mt19937_64 rng(0x5407);
  const int64_t limit = int64_t(1) << 24;
  for (int bs : {1, 32, 33, 256, 257, 1024})
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend})
      for (int variant = 0; variant < 4; ++variant) {
        step_case c = short_case(rng, m, bs, [](int b) { return 1 + b % 4; });
        c.page_table = c.block_table = false;
        for (int b = 0; b < bs; ++b)
          c.s.seq[b] = (variant == 2 ? int64_t(INT32_MAX) : limit - 1) - c.s.kv_extra - (b % 3);
        if (variant == 1) c.s.seq[bs / 2] = limit - c.s.kv_extra;
        if (variant == 3) c.types = 1, c.s.seq[bs / 2] = INT64_MAX - 1;
        check_short_case(c, rng, variant);
      }
}

TEST_CASE("short batches past 32 requests: int32 sums below short_len_limit(bs), the general path at it",
          "[gpu][short]") {
  // The block path holds requests in int32 while every kv' and clamped length is below
  // 2^24 >> ceil(log2(ceil(bs / 32))) (2^19 at bs 1024), so that its sums fit; one length at the
  // limit sends the step to the general path. With page tables (short_pages_kernel) the copying
  // blocks go on and block 0 writes the vectors by its scan. No clamp (topk = INT32_MAX) makes the
  // topk sums the largest. Requests of four tokens go out in 16-byte stores when the per-token
  // outputs are aligned; variant 4 misaligns them by one element (scalar stores; past 256 requests
  // target verify then takes the general path), variant 5 by two with a length at the limit (the
  // general path), and variant 6 takes constant draft extend, then cuts the last request's tokens
  // with the capacity. Variant 7 is target verify with D = 0 and one kv' at the limit: with no
  // token anywhere, the one unfit request is the whole of the scan's total (the block path's test
  // of it is `>=`, not `>`).
  std::mt19937_64 rng(0x540b);
  for (int bs : {33, 64, 65, 128, 129, 256, 257, 1024}) {
    const int64_t limit = short_limit_of(bs);
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend})
      for (int variant = 0; variant < 8; ++variant) {
        if (variant == 7 && m != mode::target_verify) continue;
        step_case c = short_case(rng, m, bs, [](int b) { return 1 + b % 4; });
        if (variant == 7) {  // D = 0: no tokens, kv' = seq_lens
          c.D = 0;
          c.s.kv_extra = 0;
          for (auto& q : c.s.q) q = 0;
        }
        for (int b = 0; b < bs; ++b) c.s.seq[b] = limit - 1 - c.s.kv_extra - (b % 3);
        if (variant % 2 == 1) c.s.seq[bs / 2] = limit - c.s.kv_extra;  // kv' at the limit
        if (variant == 2 || variant == 3)
          use_dense_pages(c, rng, true, variant == 3, 100, 64, bs + 3);
        else
          c.page_table = c.block_table = false;
        if (variant == 4 || variant == 5) c.token_offset = variant - 3;
        if (variant == 6 && m == mode::draft_extend) {
          c.m = mode::draft_extend_const;
          for (int b = 0; b < bs; ++b) c.s.q[b] = 4;
        }
        check_short_case(c, rng, variant);
        if (variant == 6) {  // the same with the last request's tokens past the capacity
          c.cap.max_tokens = 4 * bs - 2;
          INFO("capacity cut: max_tokens " << c.cap.max_tokens);
          require_equal_on_both_paths(c);
        }
      }
  }
}

TEST_CASE("short batches of 33-1,024 requests, one a thread: every cluster size, token outputs split, the tail "
          "over several blocks or clusters",
          "[gpu][short]") {
  // On compute capability 9.0, past 256 requests (512 for decode), these take
  // cluster_vectors_kernel: clusters of ceil(bs / 128) blocks, each holding the batch one request a
  // thread, at least three, and up to six of them (as many as the tail asks for) splitting the
  // tokens' outputs, every cluster writing its share of the tail; 33-256 take vectors_kernel
  // (short_split_step()), whose groups of warps each hold the batch: up to 128 requests groups of
  // four warps, 129-256 whole blocks (at least two). Group 0 writes the entries; the next writes
  // the tokens for a constant q up to 128 requests, and otherwise the groups past the first, one to
  // six as the grid has, split the tokens' outputs (16-byte stores for a constant q of 4 where
  // aligned, scalar ones where variant 3 misaligns them). bs at both sides of each block edge and
  // of the launcher's; q_b of 0-4 (empty requests, q above kv' for the status bit); variant 0 sizes
  // the capacity to N, 1 gives it 20,000 rows more (several clusters for the tail), 2 cuts it three
  // rows short of N (the over-capacity bit), 3 misaligns the per-token outputs and asks for a
  // random subset of them; variant 4 puts one length at short_len_limit(bs) (the general step in
  // every block); variant 5 holds at most 60 rows (a grid of one block, or the split step's least
  // of two). Constant draft extend takes a q of 2, 3 and 4 in variants 1, 3 and 5.
  std::mt19937_64 rng(0xc1a5);
  for (int bs : {33, 64, 65, 100, 128, 129, 200, 255, 256, 257, 384, 385, 512, 513, 640, 896, 897, 1023, 1024}) {
    const int64_t limit = short_limit_of(bs);
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend, mode::draft_extend_const})
      for (int variant = 0; variant < 6; ++variant) {
        step_case c = short_case(rng, m, bs, [&](int) { return int64_t(rng() % 5); });
        if (m == mode::draft_extend_const && variant % 2 == 1) {  // a constant q of 2, 3 and 4
          c.D = 1 + (variant + 1) / 2;
          for (auto& q : c.s.q) q = c.D;
        }
        int64_t n = 0;
        for (int b = 0; b < bs; ++b) {
          c.s.seq[b] = rng() % 8 == 0 ? int64_t(rng() % 3) : int64_t(rng() % 40000);
          n += c.s.q[b];
        }
        if (variant == 4) c.s.seq[int(rng() % bs)] = limit - c.s.kv_extra;
        c.page_table = c.block_table = false;
        c.opt.topk = rng() % 2 ? INT32_MAX : 2048;
        c.cap.max_bs = bs + int(rng() % 2);
        const int64_t rows[] = {n, n + 20000, std::max<int64_t>(n - 3, 0), n + 3, n, std::min<int64_t>(n, 60)};
        c.cap.max_tokens = int(rows[variant]);
        if (variant == 3) {
          c.token_offset = 1;
          c.which = unsigned(rng() % (all_1d + 1));
        }
        INFO("bs " << bs << " variant " << variant << " N " << n << " " << c.describe());
        require_equal_on_both_paths(c);
      }
  }
}

TEST_CASE("short batches of 1,025-4,096 requests without page tables: one cluster of 512-thread blocks holds the "
          "batch, its general step in one cluster, the device-scan path past its bounds",
          "[gpu][short]") {
  // path::automatic takes cluster_wide_kernel on compute capability 9.0 for these (clusters of
  // ceil(bs / 512) blocks of 512 threads, each holding the batch one request a thread) while the
  // buffers hold at most 16,384 tokens, and cub::DeviceScan past that, past 4,096 requests and
  // before compute capability 9.0; the device-scan path is checked beside it. bs at both sides of
  // each block edge and of the kernel's bounds; q_b of 0-4. Variant 0 sizes the capacity to N, 1
  // gives it up to 16,384 rows (several clusters for the tail), 2 cuts it three rows short of N
  // (the over-capacity bit), 3 misaligns the per-token outputs and asks for a random subset of
  // them; 4 puts every length just below the limit (short_len_limit(bs), four times it where every
  // clamped length lies below that: topk 2048, or the pooled clamp's topk + kpool - 1), and half
  // the time one at it, 5 one negative seq_lens (its status bit), 6 one q_b of 5 or -2 (draft
  // extend; any other mode every length from the limit to four times it, one past the wide limit):
  // the general step, in the first cluster alone; 7 sizes the capacity past 16,384 rows (the
  // device-scan path). Under ATTNMETA_TEST_DIVISOR each bs takes every k-th variant, in turn (the
  // sanitizers' runs).
  std::mt19937_64 rng(0xc1a6);
  int index = 0;
  for (int bs : {1025, 1100, 1536, 1537, 2048, 2049, 3000, 3584, 4095, 4096, 4097}) {
    const int64_t limit = short_limit_of(bs);
    ++index;
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend, mode::draft_extend_const})
      for (int variant = 0; variant < 8; ++variant) {
        if (!variant_in_turn(index, variant, 8)) continue;
        step_case c = short_case(rng, m, bs, [&](int) { return int64_t(rng() % 5); });
        int64_t n = 0;
        for (int b = 0; b < bs; ++b) {
          c.s.seq[b] = rng() % 8 == 0 ? int64_t(rng() % 3) : int64_t(rng() % 120000);
          n += c.s.q[b];
        }
        const int at = int(rng() % bs);
        // the plain clamp with topk 2048 or INT32_MAX; the pooled one with topk 2048 and kpool 64,
        // with topk + kpool - 1 just below the limit or at it, or with kpool 2^30 (lengths unclamped;
        // always so in variant 6, whose sums then pass int32)
        const int clamp_kind = int(rng() % 4);
        const int pooled[] = {int(limit) - 2048, int(limit) - 2047, 1 << 30};
        c.opt.topk = clamp_kind == 0 ? INT32_MAX : 2048;
        c.opt.kpool = clamp_kind == 2 ? 64 : clamp_kind == 3 ? pooled[variant == 6 ? 2 : rng() % 3] : 1;
        // clamped lengths all below the limit let kv' reach four times it (wide_len_limit())
        const int64_t wide = c.opt.topk + c.opt.kpool - 1 < limit ? 4 * limit : limit;
        if (variant == 4) {  // every length just below the limit (the int32 sums' largest), one at it half the time
          for (int b = 0; b < bs; ++b) c.s.seq[b] = wide - 1 - c.s.kv_extra - (b % 3);
          if (rng() % 2) c.s.seq[at] = wide - c.s.kv_extra;
        }
        if (variant == 5) c.s.seq[at] = -1 - int64_t(rng() % 100);
        if (variant == 6 && m == mode::draft_extend) {
          n -= c.s.q[at];
          c.s.q[at] = rng() % 2 ? 5 : -2;
          n += std::max<int64_t>(c.s.q[at], 0);
        } else if (variant == 6) {  // every kv' in [limit, 4 limit) (sums past int32 unless clamped), one past wide
          for (int b = 0; b < bs; ++b) c.s.seq[b] = limit + int64_t(rng() % (3 * limit)) - c.s.kv_extra;
          c.s.seq[at] = wide - c.s.kv_extra + int64_t(rng() % 1000);
        }
        c.page_table = c.block_table = false;
        c.cap.max_bs = bs + int(rng() % 2);
        const int64_t room = std::max<int64_t>(n, 16384);
        const int64_t rows[] = {n,     std::min<int64_t>(n + 3000 + int64_t(rng() % 8000), room),
                                std::max<int64_t>(n - 3, 0),
                                n + 3, n, n, n, std::max<int64_t>(n, 16384) + 1 + int64_t(rng() % 100)};
        c.cap.max_tokens = int(rows[variant]);
        if (variant == 3) {
          c.token_offset = 1;
          c.which = unsigned(rng() % (all_1d + 1));
        }
        INFO("bs " << bs << " variant " << variant << " N " << n << " " << c.describe());
        require_equal_on(c, path::automatic);
        require_equal_on(c, path::device_scan);
      }
  }
}

TEST_CASE("wide limit, every kv' at it: short batches of 2,048 and 4,096 requests whose sums reach 2^31",
          "[gpu][short]") {
  // With topk below short_len_limit(bs), cluster_wide_kernel takes kv' up to four times it
  // (wide_len_limit(): 2^20 at 2,048 requests, 2^19 at 4,096), so that bs * kv' stays below 2^31;
  // a kv' at the limit is not short. With every kv' exactly there, cu_seqlens_k's last entry is
  // 2^31: the general step saturates it and raises the status bit, where a short step that let
  // the limit in would wrap.
  for_each_wide_limit_case([](const step_case& c, int bs, int64_t wide) {
    INFO("bs " << bs << " kv' " << wide << " " << c.describe());
    const ref::buffers expected = expected_outputs(c);  // the edge this test is for
    REQUIRE(int64_t(bs) * wide == int64_t(1) << 31);
    REQUIRE(expected.cu_seqlens_k.at(guard + size_t(bs)) == INT32_MAX);  // after the guard
    REQUIRE((expected.status & attnmeta::status_int32_overflow) != 0);
    require_equal_on(c, path::automatic);
    require_equal_on(c, path::device_scan);
  });
}

TEST_CASE("wide limit's clamp bound, both sides: short batches of 2,048 and 4,096 requests, topk sums near 2^31",
          "[gpu][short]") {
  // cluster_wide_kernel takes kv' up to four times short_len_limit(bs) only where every clamped
  // length stays below short_len_limit(bs) (wide_len_limit()). Four tokens a request clamped near
  // it sum to just below 2^31, which the short step adds in int32; just past the bound, to 2^31 or
  // more, which the general step saturates and reports, where a short step would wrap. Both sides
  // of the bound, for the plain and the pooled clamp (clamp_bound_case(); the host tests check
  // that each variant's sums are where it says).
  for_each_clamp_bound_case([](const step_case& c, int, int variant) {
    INFO("variant " << variant << " " << c.describe());
    require_equal_on(c, path::automatic);
    require_equal_on(c, path::device_scan);
  });
}

TEST_CASE("every output or all but one: the kernels built for every output and their twins",
          "[gpu][short][outputs]") {
  // Where every output is asked for (the nine 1-D ones, and both page tables in a page-table step),
  // the launchers take kernels built without the outputs' null tests (assume_outputs()):
  // lane_batch_kernel up to 32 requests (64 for prefill), vectors_kernel up to 256 (and for decode
  // up to 512), cluster_vectors_kernel for per-request q up to 1,024, cluster_wide_kernel up to
  // 4,096, narrow_step_kernel for prefill past 64 requests, static_pages_kernel for per-request q
  // up to 32 with page tables. Prefill (extend, q_b up to 300) runs beside the short modes.
  // Variant 0 asks for every output (those kernels), 1 leaves one of the nine 1-D outputs out,
  // drawn at random (the same kernels built with their null tests, which must skip it), 2 one of
  // the two page tables (past 32 requests, and for prefill, another 1-D output). The status word
  // is there in all three.
  std::mt19937_64 rng(0xf011);
  for (int bs : {1, 8, 32, 50, 100, 200, 400, 700, 2000})
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend, mode::draft_extend_const, mode::extend})
      for (int variant = 0; variant < 3; ++variant) {
        // Page tables up to 32 requests: both in variant 0 and 1 half the time, one of them in 2.
        const bool pages = bs <= 32 && m != mode::extend && (variant == 2 || rng() % 2 == 0);
        step_case c = short_case(rng, m, bs, [&](int) { return int64_t(1 + rng() % 4); });
        if (m == mode::extend)
          for (auto& q : c.s.q) q = int64_t(1 + rng() % (bs <= 200 ? 300 : 40));
        int64_t n = 0;
        for (int b = 0; b < bs; ++b) {
          c.s.seq[b] = int64_t(rng() % (pages ? 3000 : 40000));
          n += c.s.q[b];
        }
        c.page_table = c.block_table = false;
        if (pages) use_dense_pages(c, rng, true, true, 3000, 64, bs + 5);
        if (variant == 1 || (variant == 2 && !pages)) c.which = all_1d & ~(1u << (rng() % 9));
        if (variant == 2 && pages) (rng() % 2 ? c.page_table : c.block_table) = false;
        c.opt.topk = rng() % 2 ? INT32_MAX : 2048;
        c.cap.max_bs = bs;
        c.cap.max_tokens = int(n);
        INFO("bs " << bs << " variant " << variant << " " << c.describe());
        require_equal_on(c, path::automatic);
      }
}

TEST_CASE("long steps: request edges, capacity at and around N, int64 sums, pooled clamp, empty requests",
          "[gpu][long]") {
  // Prefill-sized requests through the warp batch (one request a lane up to bs 32, two up to 64),
  // the block table (bs 65-1024: int32 sums, or int64 where a length passes the int32 scan's
  // limit) and the device-scan table, per-request q and a
  // constant q of 5 (not short). The capacity lands on N, one to five past it, at a multiple of 128
  // past it, and one to three short (entry max_tokens of cu_topk_seqlens then comes from a
  // request); lengths near INT32_MAX make the sums pass int32.
  // Variant 3 misaligns the per-token outputs, variant 4 takes the pooled clamp, variant 5 empty
  // requests (prefill), variant 6 runs of 40 empty requests between runs of 1-4 tokens a request,
  // so that a warp's 32 tokens span more than 32 requests; variant 7 (up to 256 requests) gives
  // every request 4,000-8,192 tokens, so that the kernels run fewer blocks than the tokens need
  // (rescan_blocks()) and every warp takes several turns. Under ATTNMETA_TEST_DIVISOR each bs takes
  // every k-th variant, in turn (the sanitizers' runs).
  std::mt19937_64 rng(0x9a4d);
  int index = 0;
  for (int bs : {1, 3, 32, 33, 64, 65, 128, 129, 255, 256, 257, 700}) {
    ++index;
    for (mode m : {mode::extend, mode::draft_extend_const})
      for (int variant = 0; variant < 8; ++variant)
        for (int64_t extra : {0, 1, 3, 4, 5, -1, -3, 128}) {
          if (!variant_in_turn(index, variant, 8)) continue;
          if (variant == 7 && (bs > 256 || m != mode::extend || extra % 2)) continue;
          step_case c = random_case(rng, shape_limits{}, m, bs);
          c.which = all_1d;
          c.page_table = c.block_table = false;
          c.token_offset = variant == 3 ? 1 : 0;
          c.opt.topk = rng() % 2 ? 2048 : 37;
          c.opt.kpool = variant == 4 ? 3 : 1;
          c.D = 5;
          int64_t n = 0;
          for (int b = 0; b < bs; ++b) {
            c.s.q[b] = m == mode::draft_extend_const ? 5 : int64_t(rng() % (b % 7 == 0 ? 3000 : 40));
            if (variant == 5 && b % 3 == 1 && m == mode::extend) c.s.q[b] = 0;  // a constant q has none
            if (variant == 6 && m == mode::extend) c.s.q[b] = (b / 40) % 2 ? 0 : int64_t(1 + rng() % 4);
            if (variant == 7) c.s.q[b] = int64_t(4000 + rng() % 4193);
            c.s.seq[b] = variant == 2 ? int64_t(INT32_MAX) - int64_t(rng() % 100) : c.s.q[b] + int64_t(rng() % 5000);
            n += c.s.q[b];
          }
          c.cap.max_bs = bs;
          c.cap.max_tokens = int(std::max<int64_t>(extra == 128 ? (n / 128 + 2) * 128 : n + extra, 0));
          INFO("bs " << bs << " variant " << variant << " N " << n << " " << c.describe());
          require_equal_on_both_paths(c);
        }
  }
}

TEST_CASE("long steps of 129-1,024 requests: int32 sums up to INT32_MAX, the int64 step past the per-request limit",
          "[gpu][long]") {
  // Past 64 requests a long step without page tables scans in int32 while every q_b, kv'_b and
  // topk sum lies below 2^31 over bs rounded up to a power of two (narrow_block_step()), else in
  // int64 (65-128 requests: the long-steps test above). Variant 0 puts every kv' one or two below
  // that limit (one token a request, no clamp: cu_seqlens_k and cu_topk_seqlens end within a few
  // thousand of INT32_MAX at bs 256 and 1,024), variant 1 one request at the limit, variant 2 one
  // request of two tokens whose topk sum passes it (the int64 step, whose sums may then pass
  // int32), variant 3 prefill lengths with the pooled clamp. The capacity is over 4 tokens a
  // request, so that no short path takes the step.
  std::mt19937_64 rng(0x7a11);
  for (int bs : {129, 256, 257, 1000, 1024})
    for (int variant = 0; variant < 4; ++variant) {
      step_case c = random_case(rng, shape_limits{}, mode::extend, bs);
      c.which = all_1d;
      c.page_table = c.block_table = false;
      const int64_t limit = narrow_limit_of(bs);
      c.opt.topk = variant == 3 ? 2048 : INT32_MAX;
      c.opt.kpool = variant == 3 ? 3 : 1;
      int64_t n = 0;
      for (int b = 0; b < bs; ++b) {
        c.s.q[b] = variant == 3 ? int64_t(1 + rng() % 3000) : 1;
        c.s.seq[b] = variant == 3 ? c.s.q[b] + int64_t(rng() % 5000) : limit - 1 - (b % 2);
        n += c.s.q[b];
      }
      if (variant == 1) c.s.seq[bs / 2] = limit;
      if (variant == 2) c.s.q[bs / 2] = 2, c.s.seq[bs / 2] = limit - 1, ++n;
      c.cap.max_bs = bs;
      c.cap.max_tokens = int(n + 4 * bs + 1);
      INFO("bs " << bs << " variant " << variant << " N " << n << " " << c.describe());
      require_equal_on_both_paths(c);
    }
}

/// A case of narrow_limit_case()'s variants (bs requests): its reference at the edge the variant is
/// for (narrow_limit_edge_holds()), and both paths equal to it.
static void require_limit_edge_on_both_paths(const step_case& c, int bs, int variant) {
  INFO("bs " << bs << " variant " << variant << " " << c.describe());
  REQUIRE(narrow_limit_edge_holds(c, expected_outputs(c), bs, variant));  // the edge the test is for
  require_equal_on_both_paths(c);
}

TEST_CASE("narrow limit, sums at 2^31: prefill of 128, 256 and 1,024 requests at the int32 step's bound",
          "[gpu][long]") {
  // narrow_block_step() scans in int32 only while every q_b, kv'_b and topk sum lies below
  // narrow_limit_of(bs); at a power of two bs that many values at the limit sum to exactly 2^31.
  // Every kv' at it, every topk sum at it, two requests past it in neighbouring threads (the scan
  // counts the requests that do not fit), every q_b at it: the general step saturates the sums and
  // reports them, where an int32 step that let them in would wrap.
  for_each_narrow_limit_case(require_limit_edge_on_both_paths);
}

TEST_CASE("lanes' int32 scan at 2^31: 32-128 requests, every lane's totals at 2^26 (the scan's bound)",
          "[gpu][long]") {
  // lane_batch_step() scans its 32 lanes in int32 while every lane's totals lie below 2^26; 32
  // lanes at it sum to exactly 2^31. Prefill of 32 and 64 requests (every kv', topk sum or q_b at
  // 2^31 / bs), 128 requests at 2^24 (four a lane) and a decode step with page tables: the general
  // step saturates the sums and reports them, where an int32 scan that let them in would wrap.
  for_each_lane_scan_case(require_limit_edge_on_both_paths);
}

TEST_CASE("capacity far below N: a constant q of 5, 33-254 requests, in a grid of one block", "[gpu][long]") {
  // A constant q past short_q_max is not short whatever the capacity, and where max_tokens + bs + 2
  // is at most 256 its step takes a grid of one block (lane_batch_kernel up to 64 requests,
  // narrow_step_kernel past them): that block writes every per-request output and the status,
  // however few of the tokens fit.
  for_each_one_block_case([](const step_case& c) {
    INFO(c.describe());
    REQUIRE((expected_outputs(c).status & attnmeta::status_tokens_over_capacity) != 0);
    require_equal_on_both_paths(c);
  });
}

TEST_CASE("small page-table steps: block 0's short path and its fallbacks (q above 4, kv' at 2^24)",
          "[gpu][short]") {
  // Constant q up to 16 with bs <= 32 copies page units without a scan; block 0 writes the vectors
  // by the warp path when q <= 4 and every kv' is below 2^24, else by its scan. W = 100 keeps the
  // page tables small while kv' passes it (the kv' > W bit).
  std::mt19937_64 rng(0x5408);
  const int64_t limit = int64_t(1) << 24;
  for (int bs : {1, 8, 32})
    for (int D : {1, 4, 8, 16})
      for (int variant = 0; variant < 3; ++variant) {
        step_case c = random_case(rng, shape_limits{}, mode::target_verify, bs);
        c.which = all_1d;
        c.D = D;
        c.s.kv_extra = D;
        for (int b = 0; b < bs; ++b) {
          c.s.q[b] = D;
          c.s.seq[b] = variant == 0 ? int64_t(1 + rng() % 300) : limit - 1 - D - (b % 3);
        }
        if (variant == 2) c.s.seq[bs / 2] = limit - D;
        use_dense_pages(c, rng, true, variant != 1, 100, variant == 1 ? 1 : 64, bs + 3);
        c.cap.max_bs = bs;
        c.cap.max_tokens = bs * D + (bs % 2);
        INFO("bs " << bs << " D " << D << " variant " << variant << " " << c.describe());
        require_equal_on_both_paths(c);
      }
  // W = 100000: more slots than the grid has warps, so lane b holds request b and the slots stop at
  // the batch's most chunks; kv' up to 110000 passes W. A bad pool index (-1, or one past the pool)
  // in that loop: its rows untouched, the bit set.
  for (int D : {1, 4})
    for (int variant = 0; variant < 2; ++variant) {
      step_case c = random_case(rng, shape_limits{}, mode::target_verify, 32);
      c.which = all_1d;
      c.D = D;
      c.s.kv_extra = D;
      for (int b = 0; b < 32; ++b) {
        c.s.q[b] = D;
        c.s.seq[b] = int64_t(1 + rng() % (variant == 0 ? 20000 : 110000));
      }
      use_dense_pages(c, rng, true, true, 100000, variant == 0 ? 64 : 1, 40);
      c.s.rpi[variant == 0 ? 5 : 20] = variant == 0 ? -1 : c.s.pool_rows;
      c.cap.max_bs = 32;
      c.cap.max_tokens = 32 * D;
      INFO("W 100000 D " << D << " variant " << variant << " " << c.describe());
      require_equal_on_both_paths(c);
    }
}

TEST_CASE("small page-table steps of per-request q: rows placed by a warp scan, long requests in row groups",
          "[gpu][short]") {
  // bs <= 32 and max_tokens <= 1024 with q_b from the device: the copying blocks scan q in a warp
  // and copy at once. Draft extend (q 0-4; block 0 by the warp path) and extend (q up to 200: up to
  // 13 row groups a request, block 0 by its scan); W = 100 and 20000 (40 chunks); a bad pool
  // index (its rows untouched, the bit set); max_tokens one short of N; block_table alone.
  std::mt19937_64 rng(0x540a);
  for (int bs : {1, 8, 32})
    for (mode m : {mode::draft_extend, mode::extend})
      for (int variant = 0; variant < 4; ++variant) {
        step_case c = random_case(rng, shape_limits{}, m, bs);
        c.which = all_1d;
        int64_t n = 0;
        for (int b = 0; b < bs; ++b) {
          const int q_hi = m == mode::draft_extend ? 5 : (variant == 1 ? 9 : (bs == 32 ? 30 : (bs == 8 ? 120 : 200)));
          c.s.q[b] = int64_t(rng() % q_hi);
          c.s.seq[b] = c.s.q[b] + int64_t(rng() % (variant == 1 ? 25000 : 900));
          n += c.s.q[b];
        }
        const int64_t W = variant == 1 ? 20000 : 100;
        use_dense_pages(c, rng, variant != 3, variant != 0, W, variant == 2 ? 48 : (variant == 1 ? 1 : 64), bs + 3);
        if (variant == 2) c.s.rpi[bs / 2] = c.s.pool_rows;  // out of range
        c.cap.max_bs = bs;
        c.cap.max_tokens = int(std::max<int64_t>(variant == 3 ? n - 1 : n, 1));
        INFO("bs " << bs << " variant " << variant << " " << c.describe());
        require_equal_on_both_paths(c);
      }
}

TEST_CASE("one-request page-table steps: a copying warp a chunk and a row pair", "[gpu][short]") {
  // bs 1 with page tables (static units) and per-request q copies by copy_single_request(): slot s
  // writes row group s % 2^k of chunk s >> k, a group two rows up to q = 4 and 16 past it; constant
  // q (copy_static_units(), one slot a chunk) beside it. Constant q of 1-5 and 16 (target verify),
  // per-request q of 0-4 (draft extend) and up to 40 (extend: groups of 16, the last one short;
  // several slots a warp): odd q (a pair of one row), capacity one row short of q (a pair cut by
  // it), W = 163,840 (320 chunks, kv' at W exactly in variant 0) and 5,000 with kv' past it,
  // misaligned rows (16-byte copies off), page sizes 64, 48 and 1, block_table alone, a bad pool
  // index (nothing copied, the bit set) and a negative length.
  std::mt19937_64 rng(0x5411);
  for (mode m : {mode::target_verify, mode::draft_extend, mode::extend})
    for (int variant = 0; variant < 6; ++variant) {
      step_case c = random_case(rng, shape_limits{}, m, 1);
      c.which = all_1d;
      const int64_t W = variant % 2 == 0 ? 163840 : 5000;
      int64_t q = 0;
      if (m == mode::target_verify) q = std::array<int64_t, 6>{4, 3, 1, 16, 2, 5}[size_t(variant)];
      if (m == mode::draft_extend) q = std::array<int64_t, 6>{4, 3, 0, 1, 2, 3}[size_t(variant)];
      if (m == mode::extend) q = std::array<int64_t, 6>{7, 40, 1, 33, 16, 3}[size_t(variant)];
      c.D = m == mode::target_verify ? int(q) : 4;
      c.s.kv_extra = m == mode::target_verify ? q : 0;
      c.s.q[0] = q;
      c.s.seq[0] = variant == 0 ? W - c.s.kv_extra
                                : (variant % 2 ? int64_t(W + rng() % 4000) : q + int64_t(rng() % 20000));
      use_dense_pages(c, rng, variant != 3, variant != 0, W, variant == 1 ? 48 : (variant == 3 ? 1 : 64), 3);
      if (variant == 2) {  // rows of both tables and of req_to_token off 16 bytes
        c.pt_stride = W + 1;
        c.bt_stride = attnmeta::ceil_div(W, c.opt.page_size) + 2;
        c.pt_offset = 1;
        c.s.r2t_stride = W + 3;
        c.r2t_offset = 1;
        c.r2t.resize(size_t(c.r2t_offset + c.s.pool_rows * c.s.r2t_stride));
        for (size_t i = 0; i < c.r2t.size(); ++i) c.r2t[i] = int32_t((i * 2654435761u) % 1000003);
      }
      if (variant == 4) c.s.rpi[0] = c.s.pool_rows;  // out of range
      if (variant == 5) c.s.seq[0] = -1;
      c.cap.max_bs = 1;
      c.cap.max_tokens = int(variant == 1 && q > 1 ? q - 1 : std::max<int64_t>(q, 1));
      INFO(name(m) << " variant " << variant << " q " << q << " " << c.describe());
      require_equal_on_both_paths(c);
    }
}

TEST_CASE("small page-table steps of constant q: block 0's general step beside the copying blocks",
          "[gpu][short]") {
  // bs <= 32 and q of 1 to 16 (static units): q up to 4 with every kv' below 2^24 takes block 0's
  // short path; q of 5 or 16, or one kv' at 2^24 (W = 300 keeps the copy small; the kv' > W bit),
  // its general step (lane_batch_step(), whose warp 0 reports the page rows' bits) while the other
  // blocks copy. Variant 2 takes the general step by a negative length (request 0) beside a bad
  // pool index (the last request: its rows untouched, the bit set). Page sizes 64 and 48. bs 3 and
  // 13 leave slots of the copy's power-of-two slot groups without a request (static_slots()).
  std::mt19937_64 rng(0x540d);
  for (int bs : {1, 3, 8, 13, 32})
    for (int D : {1, 4, 5, 16})
      for (int variant = 0; variant < 3; ++variant) {
        step_case c = short_case(rng, mode::draft_extend_const, bs, [](int) { return 4; });
        c.D = D;
        for (int b = 0; b < bs; ++b) c.s.q[b] = D, c.s.seq[b] = int64_t(D + rng() % 900);
        if (variant == 1) c.s.seq[bs / 2] = int64_t(1) << 24;
        use_dense_pages(c, rng, true, true, 300, variant == 1 ? 48 : 64, bs + 2);
        if (variant == 2) {
          if (bs > 1) c.s.seq[0] = -1;
          c.s.rpi[bs - 1] = c.s.pool_rows;  // out of range
        }
        check_short_case(c, rng, variant);
      }
}

TEST_CASE("short page-table batches past the static path: the copying blocks' scan and its fallback",
          "[gpu][short]") {
  // Every q_b <= 4 and more than 32 requests (bs 8 for contrast: static units or the general
  // kernel): block 0 writes the vectors by its block scan while the other blocks scan (units, rows)
  // and copy. A request of 5 tokens sends every block to the general step; max_tokens one short of
  // N leaves the last row unwritten. Page sizes 64, 1 and 48; W below kv' (the kv' > W bit); rows
  // not 16-byte aligned; block_table alone.
  std::mt19937_64 rng(0x5409);
  for (int bs : {8, 33, 100, 257, 1024})
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend, mode::draft_extend_const})
      for (int variant = 0; variant < 4; ++variant) {
        step_case c = short_case(rng, m, bs, [](int b) { return b % 5; });
        int64_t n = 0;
        for (int b = 0; b < bs; ++b) c.s.seq[b] = int64_t(1 + rng() % 900);
        if (variant == 3 && m == mode::draft_extend) c.s.q[bs / 2] = 5;
        for (auto q : c.s.q) n += q;
        const int64_t W = variant == 1 ? 300 : 1000;
        use_dense_pages(c, rng, variant != 3, variant != 0, W, variant == 0 ? 64 : (variant == 1 ? 1 : 48), bs + 5);
        if (variant == 2) c.pt_stride = W + 1;
        c.cap.max_bs = bs;
        c.cap.max_tokens = int(variant == 3 ? n - 1 : n);
        INFO("bs " << bs << " variant " << variant << " " << c.describe());
        require_equal_on_both_paths(c);
      }
}

TEST_CASE("constant-q page tables of 33 to 128 requests: long rows beside short ones, several units a warp",
          "[gpu][short]") {
  // Decode, target verify and constant draft extend past 32 requests (short_pages_kernel: block 0
  // writes the vectors by its scan while the other blocks scan (units, rows) and copy). W = 40000
  // and every seventh request up to 45,000 long: requests of up to 79 units beside requests of
  // one or two, more units than the grid has warps at bs 64-128. A bad pool index and max_tokens
  // one short of N; page sizes 64, 48 and 1; page_table alone, block_table alone; rows not 16-byte
  // aligned. Under ATTNMETA_TEST_DIVISOR each (bs, mode) takes every k-th variant, in turn (the
  // sanitizers' and the mutation sweep's runs).
  std::mt19937_64 rng(0x540c);
  int index = 0;
  for (int bs : {33, 64, 100, 128})
    for (mode m : {mode::decode, mode::target_verify, mode::draft_extend_const}) {
      ++index;
      for (int variant = 0; variant < 4; ++variant) {
        if (!variant_in_turn(index, variant, 4)) continue;
        step_case c = short_case(rng, m, bs, [](int) { return 4; });
        int64_t n = 0;
        for (int b = 0; b < bs; ++b) c.s.seq[b] = int64_t(1 + rng() % (b % 7 == 3 ? 45000 : 900));
        for (auto q : c.s.q) n += q;
        const int64_t W = 40000;
        use_dense_pages(c, rng, variant != 2, variant != 1, W, variant == 1 ? 48 : (variant == 2 ? 1 : 64), bs + 5);
        if (variant == 1) c.s.rpi[bs / 2] = c.s.pool_rows;  // out of range: its rows untouched, the bit set
        if (variant == 3) c.pt_stride = W + 1;
        c.cap.max_bs = bs;
        c.cap.max_tokens = int(variant == 1 ? n - 1 : n);
        INFO("bs " << bs << " variant " << variant << " " << c.describe());
        require_equal_on_both_paths(c);
      }
    }
}

TEST_CASE("constant-q page tables of 600 and 1,024 requests: a few rows of over 100 units among rows of one",
          "[gpu][short][pages]") {
  // Decode past 512 requests (short_pages_kernel) with W = 70,000 (137 chunks of 512 columns) and
  // every 97th request 60,000-70,000 long, the first of them one past W (W columns and the bit), the
  // rest 1-900. Page sizes 64 and 48; a bad pool index; max_tokens one short of N; rows not 16-byte
  // aligned. Under ATTNMETA_TEST_DIVISOR each bs takes one variant, in turn.
  std::mt19937_64 rng(0x5410);
  int index = 0;
  for (int bs : {600, 1024}) {
    ++index;
    for (int variant = 0; variant < 2; ++variant) {
      if (!variant_in_turn(index, variant, 2)) continue;
      step_case c = short_case(rng, mode::decode, bs, [](int) { return 1; });
      const int64_t W = 70000;
      for (int b = 0; b < bs; ++b)
        c.s.seq[b] = b % 97 == 5 ? 60000 + int64_t(rng() % 10001) : int64_t(1 + rng() % 900);
      use_dense_pages(c, rng, true, variant == 0, W, variant == 0 ? 64 : 48, bs + 5);
      c.s.seq[5] = W + 1;
      if (variant == 1) {
        c.s.rpi[bs / 3] = c.s.pool_rows;
        c.pt_stride = W + 1;
      }
      c.cap.max_bs = bs;
      c.cap.max_tokens = variant == 1 ? bs - 1 : bs;
      INFO("bs " << bs << " variant " << variant << " " << c.describe());
      require_equal_on_both_paths(c);
    }
  }
}

TEST_CASE("host-checkable mistakes return before any launch", "[gpu][errors]") {
  std::mt19937_64 rng(13);
  step_case c = random_case(rng, shape_limits{}, mode::extend, 8);
  c.which = all_1d;
  dev::step<int32_t, int32_t, int32_t> d(c);
  const ref::buffers before = d.download();
  const attnmeta::metadata_outputs o = d.outputs();
  const attnmeta::options opt = c.opt;
  const attnmeta::strided<int32_t> sv(d.seq.ptr), qv(d.q.ptr);
  void* ws = d.workspace.ptr;
  const size_t bytes = d.workspace.n;
  struct bad { const char* what; cudaError_t got; };
  attnmeta::options single = opt;
  single.algorithm = path::single_launch;
  const attnmeta::capacity big{attnmeta::single_launch_max_bs + 1, c.cap.max_tokens, 0};
  const bad all[] = {
      {"workspace_bytes", attnmeta::extend(ws, bytes - 1, c.cap, 8, sv, qv, opt, o)},
      {"workspace is null", attnmeta::extend(nullptr, bytes, c.cap, 8, sv, qv, opt, o)},
      {"bs exceeds capacity.max_bs", attnmeta::extend(ws, bytes, c.cap, c.cap.max_bs + 1, sv, qv, opt, o)},
      {"single_launch_max_bs",
       attnmeta::extend(ws, attnmeta::workspace_size(big), big, attnmeta::single_launch_max_bs + 1, sv, qv, single, o)},
      {"options.topk", attnmeta::decode(ws, bytes, c.cap, 8, sv, [&] { auto x = opt; x.topk = -3; return x; }(), o)},
      {"seq_lens is null", attnmeta::decode(ws, bytes, c.cap, 8, (const int32_t*)nullptr, opt, o)},
  };
  CUDA_OK(cudaDeviceSynchronize());
  for (const bad& b : all) {
    INFO(b.what);
    REQUIRE(b.got == cudaErrorInvalidValue);
  }
  REQUIRE(cudaGetLastError() == cudaSuccess);  // nothing was launched, nothing failed
  REQUIRE(compare(before, d.download()).empty());
  // the message names the argument
  REQUIRE(attnmeta::decode(ws, bytes, c.cap, 8, (const int32_t*)nullptr, opt, o) == cudaErrorInvalidValue);
  REQUIRE(std::string(attnmeta::last_error_message()).find("seq_lens") != std::string::npos);
}

TEST_CASE("workspace_size's bound covers cub::DeviceScan's own query", "[gpu][workspace]") {
  for (int n : {0, 1, 2, 31, 32, 33, 1000, 1024, 1025, 4096, 65536, 1 << 20, (1 << 22) + 3}) {
    size_t cub_bytes = 0;
    const attnmeta::request_totals* in = nullptr;
    attnmeta::request_totals* out = nullptr;
    CUDA_OK(attnmeta::device_exclusive_sum(nullptr, cub_bytes, in, out, n));
    INFO("n " << n << " cub " << cub_bytes);
    REQUIRE(cub_bytes <= attnmeta::device_exclusive_sum_bytes_bound<attnmeta::request_totals>(n));
  }
}

/// For each n: n random values, their [n + 1] offsets computed by run(in, out, n) on the device,
/// checked against the plain loop.
template <class Run>
void check_offsets(uint64_t seed, std::initializer_list<int> sizes, Run run) {
  std::mt19937_64 rng(seed);
  for (int n : sizes) {
    std::vector<int64_t> in(n);
    for (auto& x : in) x = int64_t(rng() % 100000);
    std::vector<int64_t> want(n + 1, 0);
    for (int i = 0; i < n; ++i) want[i + 1] = want[i] + in[i];
    dev::buffer<int64_t> d_in(in.empty() ? std::vector<int64_t>(1) : in), d_out(std::vector<int64_t>(n + 1, -1));
    run(d_in.ptr, d_out.ptr, n);
    CUDA_OK(cudaGetLastError());
    std::vector<int64_t> got;
    d_out.download(got);
    INFO("n " << n);
    REQUIRE(got == want);
  }
}

TEST_CASE("device_exclusive_sum produces [n+1] offsets with the total at [n]", "[gpu][blocks]") {
  check_offsets(14, {0, 1, 5, 1023, 1024, 1025, 3000, 100000}, [](const int64_t* in, int64_t* out, int n) {
    size_t bytes = 0;
    CUDA_OK(attnmeta::device_exclusive_sum(nullptr, bytes, in, out, n));
    dev::buffer<char> temp(std::vector<char>(bytes + 1));
    CUDA_OK(attnmeta::device_exclusive_sum(temp.ptr, bytes, in, out, n));
  });
}

// One block scans n items of global memory with block_offsets.
__global__ void block_offsets_kernel(const int64_t* in, int64_t* out, int n) {
  using scan = attnmeta::block_offsets<int64_t, 128, 3>;
  __shared__ scan::temp_storage storage;
  scan::exclusive_sum(storage, n, [&](int i) { return in[i]; }, [&](int i, int64_t v) { out[i] = v; });
}

TEST_CASE("block_offsets: any length, tile by tile with the carried prefix", "[gpu][blocks]") {
  check_offsets(15, {0, 1, 2, 383, 384, 385, 769, 5000},  // tile = 128 * 3 = 384
                [](const int64_t* in, int64_t* out, int n) { block_offsets_kernel<<<1, 128>>>(in, out, n); });
}

// One warp scans n items of global memory with warp_offsets.
__global__ void warp_offsets_kernel(const int64_t* in, int64_t* out, int n) {
  using scan = attnmeta::warp_offsets<int64_t, 3>;
  __shared__ scan::temp_storage storage;
  if (threadIdx.x < 32) scan::exclusive_sum(storage, n, [&](int i) { return in[i]; }, [&](int i, int64_t v) { out[i] = v; });
}

TEST_CASE("warp_offsets: any length, tile by tile with the carried prefix", "[gpu][blocks]") {
  check_offsets(16, {0, 1, 2, 95, 96, 97, 200, 5000},  // tile = 32 * 3 = 96
                [](const int64_t* in, int64_t* out, int n) { warp_offsets_kernel<<<1, 64>>>(in, out, n); });
}

// Warp w finds the owner of targets[w] with warp_find_owner (every lane writes its answer).
__global__ void warp_find_owner_kernel(const int64_t* offsets, int n, const int64_t* targets, int count, int* out) {
  const int w = int((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  if (w >= count) return;  // whole warps leave together
  out[int64_t(w) * 32 + (threadIdx.x & 31)] = attnmeta::warp_find_owner(offsets, n, targets[w]);
}

TEST_CASE("warp_find_owner equals find_owner: empty requests, every level count, request edges", "[gpu][blocks]") {
  // 1, 2 and 3 levels of the 32-way search (n up to 32, 1024, 32768, and past); runs of empty
  // requests (equal offsets) make the owner the last of them; targets at each request's first and
  // last token and at random.
  std::mt19937_64 rng(17);
  int checked = 0;
  for (int n : {1, 2, 31, 32, 33, 63, 64, 1000, 1024, 1025, 5000, 32768, 32769, 70000}) {
    std::vector<int64_t> offsets(n + 1, 0);
    for (int b = 0; b < n; ++b) offsets[b + 1] = offsets[b] + (rng() % 3 == 0 ? 0 : int64_t(1 + rng() % 50));
    if (offsets[n] == 0) offsets[n] = 1;  // at least one token, owned by the last request
    std::vector<int64_t> targets;
    for (int b = 0; b < n && targets.size() < 20000; b += 1 + int(rng() % 7)) {
      if (offsets[b + 1] > offsets[b]) targets.push_back(offsets[b]), targets.push_back(offsets[b + 1] - 1);
    }
    for (int i = 0; i < 2000; ++i) targets.push_back(offsets[0] + int64_t(rng() % uint64_t(offsets[n] - offsets[0])));
    const int count = int(targets.size());
    dev::buffer<int64_t> d_offsets(offsets), d_targets(targets);
    dev::buffer<int> d_out(std::vector<int>(size_t(count) * 32, -7));
    warp_find_owner_kernel<<<(count + 7) / 8, 256>>>(d_offsets.ptr, n, d_targets.ptr, count, d_out.ptr);
    CUDA_OK(cudaGetLastError());
    std::vector<int> got;
    d_out.download(got);
    for (int w = 0; w < count; ++w) {
      const int want = attnmeta::find_owner(offsets.data(), n, targets[w]);
      for (int lane = 0; lane < 32; ++lane) {
        if (got[size_t(w) * 32 + lane] == want) continue;
        INFO("n " << n << " t " << targets[w] << " lane " << lane << " want " << want);
        REQUIRE(got[size_t(w) * 32 + lane] == want);
      }
      ++checked;
    }
  }
  REQUIRE(checked > 20000);
}
