// GPU stress and size tests: a hundred thousand random batches against the reference, and the big
// sizes (bs 65536, N = 2^22 tokens, lengths at the edge of int32).
#include <algorithm>
#include <memory>

#include "device_harness.cuh"

using namespace cases;
using attnmeta::path;

// Hidden from a plain run (it takes a minute); scripts/device_check.sh runs it: "[stress]".
TEST_CASE("stress: 100000 random batches across modes and paths against the reference", "[.][stress]") {
  std::mt19937_64 rng(0x57e55);
  const int total = iterations(100000);
  int checked = 0, bad = 0;
  for (int it = 0; it < total; ++it) {
    shape_limits lim;
    lim.max_bs = it % 50 == 0 ? 1500 : 48;
    lim.max_seq = it % 7 == 0 ? 3000 : 200;
    lim.max_width = it % 7 == 0 ? 3000 : 200;
    lim.max_q = 24;
    lim.bad = it % 4 == 3;
    const step_case c = random_case(rng, lim, all_modes[it % 5]);
    const path p = it % 3 == 0 ? path::device_scan : (it % 3 == 1 ? path::single_launch : path::automatic);
    const path run = p == path::single_launch && c.s.bs > attnmeta::single_launch_max_bs ? path::automatic : p;
    const std::string diff = dev::check_on_device(c, run);
    if (!diff.empty()) {
      INFO("case " << it << " " << c.describe() << "\n" << diff);
      REQUIRE(diff.empty());
    }
    ++checked;
    bad += lim.bad;
  }
  std::printf("stress: %d random batches checked (%d with device-side mistakes)\n", checked, bad);
  REQUIRE(checked == total);
}

TEST_CASE("big: bs 65536 with page tables, through the device-scan path", "[gpu][big]") {
  std::mt19937_64 rng(0xb16);
  for (mode m : {mode::decode, mode::draft_extend, mode::target_verify}) {
    shape_limits lim;
    lim.max_seq = 60;
    lim.max_width = 64;
    lim.pages = false;
    step_case c = random_case(rng, lim, m, 65536);
    c.which = all_1d;
    c.cap.max_tokens = 65536 * 4;
    use_dense_pages(c, rng, true, true, 64, 16, 1024);
    INFO(c.describe());
    const std::string diff = dev::check_on_device(c, path::automatic);
    INFO(diff);
    REQUIRE(diff.empty());
  }
}

TEST_CASE("big: N = 2^22 tokens in one extend step, both paths", "[gpu][big]") {
  std::mt19937_64 rng(0xb17);
  step_case c = random_case(rng, shape_limits{}, mode::extend, 64);
  c.which = all_1d;
  c.page_table = c.block_table = false;
  std::fill(c.s.q.begin(), c.s.q.end(), int64_t(1) << 16);  // 64 x 65536 = 2^22
  for (auto& s : c.s.seq) s = (int64_t(1) << 16) + int64_t(rng() % 100000);
  c.cap.max_tokens = 1 << 22;
  c.opt.topk = 2048;
  c.opt.kpool = 1;
  for (path p : {path::single_launch, path::device_scan}) {
    INFO(c.describe());
    const std::string diff = dev::check_on_device(c, p);
    INFO(diff);
    REQUIRE(diff.empty());
  }
}

TEST_CASE("big: lengths and scans at the edge of int32 saturate and are reported", "[gpu][big]") {
  std::mt19937_64 rng(0xb18);
  for (int variant = 0; variant < 3; ++variant) {
    step_case c = random_case(rng, shape_limits{}, variant == 2 ? mode::target_verify : mode::extend, 3);
    c.which = all_1d;
    c.page_table = c.block_table = false;
    c.D = 4;
    c.s.kv_extra = variant == 2 ? 4 : 0;
    if (variant == 0) c.s.seq = {INT32_MAX - 5, INT32_MAX - 5, 7};           // cu_seqlens_k past int32
    if (variant == 1) c.s.seq = {int64_t(1) << 40, 3, int64_t(1) << 31};    // lengths past int32 (int64 input)
    if (variant == 2) c.s.seq = {INT32_MAX - 2, 10, 1};                      // seq + D past int32
    c.s.q = {variant == 2 ? 4 : 3, variant == 2 ? 4 : 2, variant == 2 ? 4 : 1};
    c.types = variant == 1 ? 7 : c.types;
    c.cap.max_tokens = 16;
    c.opt.topk = INT32_MAX;  // no clamp: cu_topk_seqlens passes int32 too
    c.opt.kpool = 1;
    const ref::buffers want = expected_outputs(c);
    REQUIRE((want.status & attnmeta::status_int32_overflow) != 0);
    for (path p : {path::single_launch, path::device_scan}) {
      INFO(c.describe());
      const std::string diff = dev::check_on_device(c, p);
      INFO(diff);
      REQUIRE(diff.empty());
    }
  }
}

TEST_CASE("device-side mistakes, one at a time: each sets its bit, touches nothing outside the buffers, "
          "and leaves the well-formed requests right", "[gpu][bad]") {
  std::mt19937_64 rng(0x7ab1e);
  shape_limits lim;
  lim.pages = false;
  step_case base = random_case(rng, lim, mode::draft_extend, 8);
  base.which = all_1d;
  base.types = 7;  // int64 inputs, so any value can be planted
  base.opt.topk = 50;
  base.cap = {8, 8 * 4, 64};
  use_dense_pages(base, rng, true, true, 64, 4, 8);
  for (int b = 0; b < 8; ++b) base.s.seq[b] = 10 + 5 * b, base.s.q[b] = 1 + b % 4;
  REQUIRE(expected_outputs(base).status == 0);

  struct mistake {
    const char* what;
    uint32_t bit;
    void (*plant)(step_case&);
  };
  const mistake table[] = {
      {"negative seq_lens", attnmeta::status_negative_length, [](step_case& c) { c.s.seq[3] = -5; }},
      {"negative extend_lens", attnmeta::status_negative_length, [](step_case& c) { c.s.q[2] = -1; }},
      {"q > kv' (notice)", attnmeta::status_query_longer_than_kv, [](step_case& c) { c.s.seq[1] = 1, c.s.q[1] = 4; }},
      {"N > max_tokens", attnmeta::status_tokens_over_capacity, [](step_case& c) { c.cap.max_tokens = 9; }},
      {"kv' > W", attnmeta::status_kv_over_width, [](step_case& c) { c.s.seq[5] = 500; }},
      {"req_pool_indices < 0", attnmeta::status_bad_req_pool_index, [](step_case& c) { c.s.rpi[0] = -3; }},
      {"req_pool_indices >= pool_rows", attnmeta::status_bad_req_pool_index, [](step_case& c) { c.s.rpi[6] = 8; }},
      {"req_pool_indices past int32", attnmeta::status_bad_req_pool_index,
       [](step_case& c) { c.s.rpi[4] = int64_t(1) << 33, c.s.pool_rows = -1; }},
      {"seq_lens past int32", attnmeta::status_int32_overflow, [](step_case& c) { c.s.seq[7] = int64_t(1) << 35; }},
      {"cu_seqlens_k past int32", attnmeta::status_int32_overflow,
       [](step_case& c) { c.s.seq[0] = INT32_MAX - 3, c.s.seq[1] = INT32_MAX - 3; }},
  };
  for (const mistake& m : table) {
    step_case c = base;
    m.plant(c);
    const ref::buffers want = expected_outputs(c);
    INFO(m.what << ": " << c.describe());
    REQUIRE((want.status & m.bit) != 0);  // the reference agrees the bit belongs here
    for (path p : {path::single_launch, path::device_scan}) {
      const std::string diff = dev::check_on_device(c, p);  // every buffer, guards and status included
      INFO(diff);
      REQUIRE(diff.empty());
    }
  }
}

TEST_CASE("big: the int32 bits at INT32_MAX and one past it, every path, among empty requests", "[gpu][big]") {
  // The host test of the same name's steps (tests/test_host.cpp), each alone and among 38, 298 and
  // 1,498 empty requests (kv' 0; q 0, or 1 in decode), so each path scans them: the warp's, the
  // block's, the cluster's and the device scan. The reference must agree on the bit, the kernels
  // with the reference on every output and the status word.
  std::mt19937_64 rng(0xb19);
  constexpr int64_t M = INT32_MAX;
  struct bound {
    const char* what;
    mode m;
    int types;  // with_device_types: 0 int32, 1 int64 seq_lens, 2 int64 extend_lens, 3 both
    int D;
    std::vector<int64_t> seq, q;
    int topk;
    bool over;
  };
  const bound table[] = {
      {"int32 kv' at INT32_MAX", mode::decode, 0, 1, {M}, {1}, 2048, false},
      {"int32 seq_len + D at INT32_MAX", mode::target_verify, 0, 1, {M - 1}, {1}, 2048, false},
      {"int32 seq_len + D one past", mode::target_verify, 0, 2, {M - 1}, {2}, 2048, true},
      {"int64 seq_len at INT32_MAX", mode::decode, 1, 1, {M}, {1}, 2048, false},
      {"int64 seq_len one past", mode::decode, 1, 1, {M + 1}, {1}, 2048, true},
      {"int64 q at INT32_MAX", mode::extend, 2, 1, {1}, {M}, 2048, false},
      {"int64 q one past", mode::extend, 2, 1, {1}, {M + 1}, 2048, true},
      {"cu_seqlens_k at INT32_MAX", mode::decode, 0, 1, {M - 5, 5}, {1, 1}, 2048, false},
      {"cu_seqlens_k one past", mode::decode, 0, 1, {M - 5, 6}, {1, 1}, 2048, true},
      {"N at INT32_MAX", mode::extend, 0, 1, {1, 1}, {M - 5, 5}, 2048, false},
      {"N one past", mode::extend, 0, 1, {1, 1}, {M - 5, 6}, 2048, true},
      {"cu_topk_seqlens at INT32_MAX", mode::extend, 0, 1, {65535, 32767}, {65535, 1}, INT32_MAX, false},
      {"cu_topk_seqlens one past", mode::extend, 0, 1, {65535, 32768}, {65535, 1}, INT32_MAX, true},
  };
  for (const bound& b : table) {
    // target verify adds D to every request's kv', so its bounds hold alone only
    for (int pad : b.m == mode::target_verify ? std::vector<int>{0} : std::vector<int>{0, 38, 298, 1498}) {
      step_case c;
      c.m = b.m;
      c.D = b.D;
      c.types = b.types;
      c.s.kv_extra = b.m == mode::target_verify ? b.D : 0;
      c.s.bs = int(b.seq.size()) + pad;
      c.s.seq.assign(size_t(c.s.bs), 0);
      c.s.q.assign(size_t(c.s.bs), b.m == mode::decode ? 1 : 0);
      c.s.rpi.assign(size_t(c.s.bs), 0);
      // the step's requests at random places among the empty ones, in their order
      std::vector<int> at(size_t(c.s.bs));
      for (int i = 0; i < c.s.bs; ++i) at[size_t(i)] = i;
      std::shuffle(at.begin(), at.end(), rng);
      at.resize(b.seq.size());
      std::sort(at.begin(), at.end());
      for (size_t k = 0; k < at.size(); ++k) c.s.seq[size_t(at[k])] = b.seq[k], c.s.q[size_t(at[k])] = b.q[k];
      c.cap = {c.s.bs, 16 + pad, 0};
      c.opt.topk = b.topk;
      c.which = all_1d;
      const ref::buffers want = expected_outputs(c);
      INFO(b.what << " among " << pad << " empty requests: " << c.describe());
      REQUIRE(((want.status & attnmeta::status_int32_overflow) != 0) == b.over);
      for (path p : {path::single_launch, path::device_scan, path::automatic}) {
        const path run = p == path::single_launch && c.s.bs > attnmeta::single_launch_max_bs ? path::automatic : p;
        INFO("path " << int(run));
        const std::string diff = dev::check_on_device(c, run);
        INFO(diff);
        REQUIRE(diff.empty());
      }
    }
  }
}

TEST_CASE("big: a req_pool_index of INT32_MAX is a row where pool_rows is unknown, and one past a pool of INT32_MAX rows",
          "[gpu][big]") {
  // The host test of the same bound (tests/test_host.cpp) on every path: a req_to_token of 2^31
  // one-slot rows (8 GiB), rows 0 and INT32_MAX set; decode of two requests of kv' 1, W = 1.
  int32_t* r2t = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&r2t), (size_t(INT32_MAX) + 1) * sizeof(int32_t)) != cudaSuccess) {
    cudaGetLastError();
    WARN("8 GiB of device memory refused: not run");
    return;
  }
  // Freed however the test returns: a failed CUDA_OK below ends it by throwing.
  const std::unique_ptr<int32_t, cudaError_t (*)(void*)> r2t_guard(r2t, cudaFree);
  const int32_t last = 4242, first = -7;
  CUDA_OK(cudaMemcpy(r2t + INT32_MAX, &last, sizeof last, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(r2t, &first, sizeof first, cudaMemcpyHostToDevice));
  const attnmeta::capacity cap{2, 2, 1};
  dev::buffer<int32_t> seq(std::vector<int32_t>{1, 1});
  dev::buffer<int64_t> rpi(std::vector<int64_t>{INT32_MAX, 0});
  dev::buffer<char> ws(std::vector<char>(attnmeta::workspace_size(cap), 0));
  dev::buffer<int32_t> pt, bt;
  dev::buffer<uint32_t> status;
  for (int64_t pool_rows : {int64_t(-1), int64_t(INT32_MAX)}) {
    for (path p : {path::single_launch, path::device_scan, path::automatic}) {
      INFO("pool_rows " << pool_rows << ", path " << int(p));
      pt.upload({poison, poison});
      bt.upload({poison, poison});
      status.upload({0u});
      attnmeta::metadata_outputs out;
      out.page_table = pt.ptr;
      out.block_table = bt.ptr;
      out.status = status.ptr;
      attnmeta::options opt;  // page_size 1
      opt.algorithm = p;
      const attnmeta::page_source<int64_t> pages{rpi.ptr, r2t, 1, pool_rows};
      CUDA_OK(attnmeta::decode(ws.ptr, ws.n, cap, 2, seq.ptr, opt, out, 0, pages));
      CUDA_OK(cudaDeviceSynchronize());
      std::vector<int32_t> got_pt, got_bt;
      std::vector<uint32_t> got_status;
      pt.download(got_pt);
      bt.download(got_bt);
      status.download(got_status);
      const bool known = pool_rows >= 0;  // then index INT32_MAX is one past the pool
      CHECK(got_status[0] == (known ? attnmeta::status_bad_req_pool_index : 0u));
      CHECK(got_pt == std::vector<int32_t>{known ? poison : 4242, -7});
      CHECK(got_bt == std::vector<int32_t>{known ? poison : 4242, -7});
    }
  }
}
