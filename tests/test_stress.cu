// GPU stress and size tests: a hundred thousand random batches against the reference, and the big
// sizes (bs 65536, N = 2^22 tokens, lengths at the edge of int32).
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
    c.page_table = c.block_table = true;
    c.opt.page_size = 16;
    c.cap.page_table_width = 64;
    c.cap.max_tokens = 65536 * 4;
    c.pt_stride = c.bt_stride = c.pt_offset = 0;
    c.s.pool_rows = 1024;
    c.s.r2t_stride = 64;
    c.r2t_offset = 0;
    c.r2t.resize(1024 * 64);
    for (size_t i = 0; i < c.r2t.size(); ++i) c.r2t[i] = int32_t(i * 31 % 65521);
    c.s.rpi.resize(c.s.bs);
    for (auto& r : c.s.rpi) r = int64_t(rng() % 1024);
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
