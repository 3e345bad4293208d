// libFuzzer target: the host backend on fuzzer-made batches and arguments.
//
// Each input becomes one step (mode, lengths, capacity, options, strides, page tables), in range or
// not. A well-formed step must equal the reference exactly, guards untouched; an ill-formed one must
// be refused with a message, writing nothing. Build and run: tests/fuzz/run_fuzz.sh SECONDS.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../cases.hpp"

using namespace cases;

namespace {

int64_t length(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 9)) {
    case 0: return in.ConsumeIntegral<int64_t>();                    // anything at all
    case 1: return -in.ConsumeIntegralInRange<int64_t>(1, 1000);     // negative
    case 2: return in.ConsumeIntegralInRange<int64_t>(0, int64_t(1) << 40);
    default: return in.ConsumeIntegralInRange<int64_t>(0, 300);
  }
}

step_case make_case(FuzzedDataProvider& in) {
  step_case c;
  c.m = all_modes[in.ConsumeIntegralInRange<int>(0, 4)];
  const int bs = in.ConsumeIntegralInRange<int>(0, 48);
  c.s.bs = bs;
  c.D = in.ConsumeIntegralInRange<int>(0, 6);
  c.s.kv_extra = c.m == mode::target_verify ? c.D : 0;
  c.s.seq.resize(bs);
  c.s.q.resize(bs);
  for (int b = 0; b < bs; ++b) {
    c.s.seq[b] = length(in);
    const bool per_request = c.m == mode::draft_extend || c.m == mode::extend;
    c.s.q[b] = per_request ? (in.ConsumeBool() ? length(in) : in.ConsumeIntegralInRange<int64_t>(0, 8))
                           : (c.m == mode::decode ? 1 : c.D);
  }
  c.cap.max_bs = bs + in.ConsumeIntegralInRange<int>(0, 4);
  c.cap.max_tokens = in.ConsumeIntegralInRange<int>(0, 600);
  c.cap.page_table_width = in.ConsumeIntegralInRange<int>(0, 200);
  c.opt.topk = in.ConsumeIntegralInRange<int>(-2, 400);
  c.opt.kpool = in.ConsumeIntegralInRange<int>(0, 9);
  c.opt.page_size = in.ConsumeIntegralInRange<int>(0, 70);
  c.which = in.ConsumeIntegralInRange<unsigned>(0, all_1d);
  c.seq_stride = in.ConsumeIntegralInRange<int>(1, 3);
  c.q_stride = in.ConsumeIntegralInRange<int>(1, 3);
  c.rpi_stride = in.ConsumeIntegralInRange<int>(1, 3);
  c.types = in.ConsumeIntegralInRange<int>(0, 7);
  c.page_table = in.ConsumeBool();
  c.block_table = in.ConsumeBool();
  const int64_t W = c.cap.page_table_width;
  const int64_t blocks = c.opt.page_size > 0 ? attnmeta::ceil_div(W, c.opt.page_size) : 0;
  c.pt_stride = in.ConsumeBool() ? 0 : W + in.ConsumeIntegralInRange<int>(-2, 5);
  c.bt_stride = in.ConsumeBool() ? 0 : blocks + in.ConsumeIntegralInRange<int>(-2, 3);
  if (c.pt_stride < 0) c.pt_stride = 0;
  if (c.bt_stride < 0) c.bt_stride = 0;
  c.pt_offset = in.ConsumeIntegralInRange<int>(0, 3);
  c.s.pool_rows = in.ConsumeIntegralInRange<int64_t>(1, 8);
  c.s.r2t_stride = W + in.ConsumeIntegralInRange<int>(-1, 4);
  if (c.s.r2t_stride < 1) c.s.r2t_stride = 1;
  c.r2t_offset = in.ConsumeIntegralInRange<int>(0, 3);
  c.r2t.resize(size_t(c.r2t_offset + c.s.pool_rows * c.s.r2t_stride));
  for (auto& x : c.r2t) x = in.ConsumeIntegralInRange<int32_t>(-100, 1 << 20);
  c.s.rpi.resize(bs);
  for (auto& r : c.s.rpi) r = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(0, c.s.pool_rows - 1) : length(in);
  return c;
}

/// The rules of attnmeta/detail/validate.hpp, restated independently (arrays are never null here).
bool well_formed(const step_case& c) {
  const bool pages = c.page_table || c.block_table;
  const int64_t W = c.cap.page_table_width;
  return c.opt.topk > 0 && c.opt.kpool >= 1 && c.opt.page_size >= 1 && c.s.bs <= c.cap.max_bs &&
         (c.D >= 0 || c.m == mode::draft_extend || c.m == mode::extend) &&
         (!pages || (W > 0 && c.s.r2t_stride >= W && (!c.page_table || c.pt_stride == 0 || c.pt_stride >= W) &&
                     (!c.block_table || c.bt_stride == 0 || c.bt_stride >= attnmeta::ceil_div(W, c.opt.page_size))));
}

/// The case as the narrow arrays actually hold it (int32 arrays truncate, as an engine's would).
step_case as_stored(step_case c) {
  auto narrow = [](int64_t v) { return int64_t(int32_t(uint32_t(uint64_t(v)))); };
  for (int b = 0; b < c.s.bs; ++b) {
    if (!(c.types & 1)) c.s.seq[b] = narrow(c.s.seq[b]);
    if (!(c.types & 2)) c.s.q[b] = narrow(c.s.q[b]);
    if (!(c.types & 4)) c.s.rpi[b] = narrow(c.s.rpi[b]);
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const step_case c = as_stored(make_case(in));
  cudaError_t err = cudaSuccess;
  ref::buffers got = run_host_backend(c, err);
  if (well_formed(c) != (err == cudaSuccess)) {
    std::fprintf(stderr, "accepted %d, want %d: %s | %s\n", err == cudaSuccess, well_formed(c),
                 attnmeta::last_error_message(), c.describe().c_str());
    std::abort();
  }
  if (err != cudaSuccess) {
    if (std::strncmp(attnmeta::last_error_message(), "attnmeta: ", 10) != 0) std::abort();
    got.status = 0;
    if (!compare(poisoned_outputs(c), got).empty()) std::abort();  // refused: nothing written
    return 0;
  }
  const std::string diff = compare(expected_outputs(c), got);
  if (!diff.empty()) {
    std::fprintf(stderr, "%s\n%s\n", c.describe().c_str(), diff.c_str());
    std::abort();
  }
  return 0;
}
