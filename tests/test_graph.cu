// GPU tests: every launcher inside CUDA-graph capture (global mode), replayed with new lengths;
// launches on several streams at once; one graph replayed from two streams in turn.
#include <memory>

#include "device_harness.cuh"

using namespace cases;
using attnmeta::path;

namespace {

/// Captures c's launch on a fresh stream in global mode, then replays it `replays` times, each time
/// after writing new lengths into the same input buffers; every replay is checked.
template <class SeqT, class QT, class IdxT>
void capture_and_replay(std::mt19937_64& rng, const step_case& c, path p, int replays) {
  dev::step<SeqT, QT, IdxT> d(c);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaGraph_t graph;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  const cudaError_t launched = d.launch(p, stream);
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  REQUIRE(launched == cudaSuccess);  // a hidden sync or allocation would fail here, or invalidate the capture
  REQUIRE(ended == cudaSuccess);
  cudaGraphExec_t exec;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (int r = 0; r < replays; ++r) {
    const step_case next = with_new_lengths(rng, d.c, 400, 40);
    d.upload_inputs(next);
    CUDA_OK(cudaGraphLaunch(exec, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    INFO("replay " << r << " " << d.c.describe());
    const std::string diff = compare(expected_outputs(d.c), d.download());
    INFO(diff);
    REQUIRE(diff.empty());
  }
  CUDA_OK(cudaGraphExecDestroy(exec));
  CUDA_OK(cudaGraphDestroy(graph));
  CUDA_OK(cudaStreamDestroy(stream));
}

}  // namespace

TEST_CASE("every launcher captures in a CUDA graph (global mode) and replays with new lengths", "[gpu][graph]") {
  std::mt19937_64 rng(0x9a9);
  int graphs = 0;
  for (mode m : all_modes)
    for (path p : {path::single_launch, path::device_scan, path::automatic})
      for (int it = 0; it < 6; ++it) {
        shape_limits lim;
        lim.max_seq = 400;
        // it 2: page tables past 32 requests (short_pages_kernel for the short modes); it 3: 33 to
        // 128 requests without (vectors_kernel for the short modes); it 4: 129 to 1,024 without
        // (vectors_kernel, or cluster_vectors_kernel past 256 on compute capability 9.0); it 5:
        // 1,025 to 4,096 without (cluster_wide_kernel by path::automatic on compute capability
        // 9.0; 1,024 for path::single_launch, which takes no more)
        int bs = it == 4 ? 129 + int(rng() % 896)
                         : (it == 0 ? 1 : (it >= 2 ? 33 : 1) + int(rng() % (it == 3 ? 96 : 60)));
        if (it == 5) bs = p == path::single_launch ? attnmeta::single_launch_max_bs : 1025 + int(rng() % 3072);
        lim.pages = it < 4;
        step_case c = random_case(rng, lim, m, bs);
        if (it == 0 || it == 2) use_dense_pages(c, rng, true, it == 2, 512, 64, c.s.bs + 3);  // with page tables
        c.cap.max_tokens = c.s.bs * (m == mode::extend ? 40 : 4);  // room for any new lengths
        // with enable_pdl: the device-scan fill's programmatic edge from the scan (it 1, 2), and the
        // cluster launches with both attributes (it 4, 5)
        c.opt.enable_pdl = it == 1 || it == 2 || it >= 4;
        INFO(name(m) << " " << c.describe());
        dev::with_device_types(c.types, [&](auto s, auto q, auto i) {
          capture_and_replay<decltype(s), decltype(q), decltype(i)>(rng, c, p, 3);
        });
        ++graphs;
      }
  REQUIRE(graphs == 90);
}

TEST_CASE("concurrent launches on several streams over separate buffers", "[gpu][concurrency]") {
  std::mt19937_64 rng(0xc0c);
  constexpr int streams_n = 6;
  std::vector<step_case> cs;
  std::vector<std::unique_ptr<dev::step<int32_t, int32_t, int32_t>>> steps;
  cudaStream_t streams[streams_n];
  for (int k = 0; k < streams_n; ++k) {
    shape_limits lim;
    cs.push_back(random_case(rng, lim, all_modes[k % 5], 20 + k));
    cs.back().types = 0;
    steps.emplace_back(new dev::step<int32_t, int32_t, int32_t>(cs.back()));
    CUDA_OK(cudaStreamCreateWithFlags(&streams[k], cudaStreamNonBlocking));
  }
  for (int round = 0; round < 5; ++round) {
    for (int k = 0; k < streams_n; ++k) CUDA_OK(steps[k]->launch(k % 2 ? path::device_scan : path::single_launch, streams[k]));
    CUDA_OK(cudaDeviceSynchronize());
    for (int k = 0; k < streams_n; ++k) {
      INFO("round " << round << " stream " << k << " " << steps[k]->c.describe());
      REQUIRE(compare(expected_outputs(steps[k]->c), steps[k]->download()).empty());
      steps[k]->upload_inputs(with_new_lengths(rng, steps[k]->c, 300, 40));
    }
  }
  for (auto& s : streams) CUDA_OK(cudaStreamDestroy(s));
}

TEST_CASE("one graph replayed from two streams in turn", "[gpu][concurrency][graph]") {
  std::mt19937_64 rng(0x25);
  step_case c = random_case(rng, shape_limits{}, mode::draft_extend, 33);
  c.types = 0;
  c.cap.max_tokens = 33 * 4;
  dev::step<int32_t, int32_t, int32_t> d(c);
  cudaStream_t a, b;
  CUDA_OK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
  CUDA_OK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  cudaGraph_t graph;
  CUDA_OK(cudaStreamBeginCapture(a, cudaStreamCaptureModeGlobal));
  REQUIRE(d.launch(path::automatic, a) == cudaSuccess);
  CUDA_OK(cudaStreamEndCapture(a, &graph));
  cudaGraphExec_t exec;
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  for (int r = 0; r < 6; ++r) {
    d.upload_inputs(with_new_lengths(rng, d.c, 300, 4));
    cudaStream_t s = r % 2 ? b : a;
    CUDA_OK(cudaGraphLaunch(exec, s));
    CUDA_OK(cudaStreamSynchronize(s));
    INFO("replay " << r);
    REQUIRE(compare(expected_outputs(d.c), d.download()).empty());
  }
  CUDA_OK(cudaGraphExecDestroy(exec));
  CUDA_OK(cudaGraphDestroy(graph));
  CUDA_OK(cudaStreamDestroy(a));
  CUDA_OK(cudaStreamDestroy(b));
}
