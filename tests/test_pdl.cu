// GPU tests: programmatic dependent launch (options::enable_pdl). The kernel before each launch
// lets the next one start at once and writes the lengths only after a delay, so a launch that read
// them before waiting would read the old ones: every output must come from the new lengths, on a
// stream and in a replayed graph, on both paths, with and without page tables.
#include "device_harness.cuh"

using namespace cases;
using attnmeta::path;

namespace {

/// Lets the stream's next kernel launch now (griddepcontrol.launch_dependents), spins for `cycles`,
/// then copies the staged inputs over the ones the next kernel reads. One block.
template <class SeqT, class QT, class IdxT>
__global__ void late_inputs(const SeqT* seq_from, SeqT* seq, int n_seq, const QT* q_from, QT* q, int n_q,
                            const IdxT* rpi_from, IdxT* rpi, int n_rpi, long long cycles) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
  for (int i = threadIdx.x; i < n_seq; i += blockDim.x) seq[i] = seq_from[i];
  for (int i = threadIdx.x; i < n_q; i += blockDim.x) q[i] = q_from[i];
  for (int i = threadIdx.x; i < n_rpi; i += blockDim.x) rpi[i] = rpi_from[i];
}

/// Reads seq[0] without waiting for the grid before it (a launch under PDL that skips the wait):
/// `seen` gets the value it found.
template <class SeqT>
__global__ void early_reader(const SeqT* seq, long long* seen) {
  *seen = static_cast<long long>(*seq);
}

/// How many of the checked launches ran where a kernel under PDL does start early (early_reader
/// saw the old length), so that the launch's wait was what gave it the new lengths.
int early_starts = 0, checks = 0;
/// Whether the device takes PDL (compute capability 9.0 and later); the library ignores
/// enable_pdl where it does not.
bool has_pdl = false;

/// One step with enable_pdl behind late_inputs(): the device buffers hold the old lengths, the new
/// ones are staged and written late; `graph` captures both kernels (global mode) and replays them.
template <class SeqT, class QT, class IdxT>
void check_behind_late_writer(std::mt19937_64& rng, step_case c, path p, bool graph) {
  c.opt.enable_pdl = true;
  dev::step<SeqT, QT, IdxT> d(c);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const long long spin = 200000;  // about 0.1 ms
  dev::buffer<long long> seen(std::vector<long long>(1, -1));
  for (int round = 0; round < 3; ++round) {
    const typed_inputs<SeqT, QT, IdxT> old(d.c);
    const step_case next = with_new_lengths(rng, d.c, 300, 6);
    const typed_inputs<SeqT, QT, IdxT> fresh(next);
    dev::buffer<SeqT> seq_from(fresh.seq);
    dev::buffer<QT> q_from(fresh.q);
    dev::buffer<IdxT> rpi_from(fresh.rpi);
    d.upload_inputs(next);  // outputs poisoned, status cleared, the new lengths in d.c for the reference
    d.seq.upload(old.seq);  // but the buffers hold the old lengths until late_inputs writes them
    d.q.upload(old.q);
    d.rpi.upload(old.rpi);
    CUDA_OK(cudaDeviceSynchronize());
    const auto write_late = [&](cudaStream_t s) {
      late_inputs<<<1, 128, 0, s>>>(seq_from.ptr, d.seq.ptr, int(d.seq.n), q_from.ptr, d.q.ptr, int(d.q.n),
                                    rpi_from.ptr, d.rpi.ptr, int(d.rpi.n), spin);
    };
    const auto enqueue = [&](cudaStream_t s) {
      write_late(s);
      return d.launch(p, s);
    };
    if (graph) {
      cudaGraph_t g;
      CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
      const cudaError_t launched = enqueue(stream);
      const cudaError_t ended = cudaStreamEndCapture(stream, &g);
      REQUIRE(launched == cudaSuccess);
      REQUIRE(ended == cudaSuccess);
      cudaGraphExec_t exec;
      CUDA_OK(cudaGraphInstantiate(&exec, g, 0));
      CUDA_OK(cudaGraphLaunch(exec, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      CUDA_OK(cudaGraphExecDestroy(exec));
      CUDA_OK(cudaGraphDestroy(g));
    } else {
      REQUIRE(enqueue(stream) == cudaSuccess);
      CUDA_OK(cudaStreamSynchronize(stream));
    }
    INFO("round " << round << (graph ? " graph " : " stream ") << d.c.describe());
    const std::string diff = compare(expected_outputs(d.c), d.download());
    INFO(diff);
    REQUIRE(diff.empty());
    ++checks;

    // The control: a kernel launched the same way that does not wait reads the old length.
    if (has_pdl && d.c.s.bs > 0 && old.seq[0] != fresh.seq[0]) {
      d.seq.upload(old.seq);
      CUDA_OK(cudaDeviceSynchronize());
      write_late(stream);
      CUDA_OK(attnmeta::detail::launch_kernel(early_reader<SeqT>, 1, 1, 0, stream, true, d.seq.ptr, seen.ptr));
      CUDA_OK(cudaStreamSynchronize(stream));
      std::vector<long long> got;
      seen.download(got);
      if (got[0] == static_cast<long long>(old.seq[0])) ++early_starts;
    }
  }
  CUDA_OK(cudaStreamDestroy(stream));
}

}  // namespace

TEST_CASE("enable_pdl: every launch waits for the kernel before it, on a stream and in a graph", "[gpu][pdl]") {
  CUDA_OK(attnmeta::detail::current_device_has_pdl(has_pdl));
  std::mt19937_64 rng(0x9d1);
  int steps = 0;
  for (mode m : all_modes)
    for (path p : {path::single_launch, path::device_scan})
      for (int it = 0; it < 6; ++it) {
        shape_limits lim;
        lim.max_seq = 300;
        // bs 1, a few, 33 to 128, 129 to 1,024 and 1,025 to 4,096: the warp batch, the block
        // kernels, short_pages_kernel and (without page tables, past 256) cluster_vectors_kernel,
        // and past 1,024 (path::automatic) cluster_wide_kernel
        int bs = it == 4 ? 129 + int(rng() % 896)
                         : (it == 0 ? 1 : (it == 1 ? 2 + int(rng() % 30) : 33 + int(rng() % 96)));
        if (it == 5) bs = 1025 + int(rng() % 3072);
        lim.pages = it < 4;
        step_case c = random_case(rng, lim, m, bs);
        if (it == 2 || it == 3) use_dense_pages(c, rng, true, it == 3, 400, 64, c.s.bs + 5);  // with page tables
        c.cap.max_tokens = c.s.bs * (m == mode::extend ? 8 : 4);  // room for any new lengths
        c.cap.max_bs = c.s.bs;
        INFO(name(m) << " " << c.describe());
        dev::with_device_types(c.types, [&](auto s, auto q, auto i) {
          // past 1,024 requests the single launch is path::automatic's (single_launch takes no more)
          const path run = it == 5 && p == path::single_launch ? path::automatic : p;
          check_behind_late_writer<decltype(s), decltype(q), decltype(i)>(rng, c, run, it % 2 == 1);
        });
        ++steps;
      }
  REQUIRE(steps == 60);
  std::printf("pdl: %s; %d of %d checked launches had a kernel under PDL start before the one before it ended\n",
              has_pdl ? "the device takes it" : "not on this device (the attribute is not set)", early_starts, checks);
  // Where PDL is taken and the kernels run concurrently (not under compute-sanitizer, which
  // serializes them), most launches start early: the outputs above then depended on the wait.
}

TEST_CASE("launch facts: PDL and clusters exactly where the kernels were built for them", "[gpu][pdl]") {
  // The launchers take PDL and clusters where current_launch_device() says the kernels run as code
  // for compute capability 9.0 or later. Its answer, against the device's attributes and the
  // __CUDA_ARCH__ a kernel compiled beside the launchers runs as: a wrong "no" costs every step
  // its early start and its cluster paths without changing an output, so only this test sees it.
  int device = 0, major = 0, sm_count = 0, arch = 0;
  CUDA_OK(cudaGetDevice(&device));
  CUDA_OK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_OK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
  CUDA_OK(launchers_cuda_arch(arch));
  REQUIRE(arch >= 800);
  const bool sm90 = major >= 9 && arch >= 900;
  for (int round = 0; round < 2; ++round) {  // the answer asked for (or cached by earlier tests), then cached
    attnmeta::detail::launch_device plain, pooled;
    CUDA_OK(launchers_device(plain, pooled));
    CHECK(plain.sm_count == sm_count);
    CHECK(pooled.sm_count == sm_count);
    CHECK(plain.sm90 == sm90);
    CHECK(pooled.sm90 == sm90);
    bool has_pdl_here = false;  // the PDL test's and the benchmark's question: may a kernel start early?
    CUDA_OK(attnmeta::detail::current_device_has_pdl(has_pdl_here));
    CHECK(has_pdl_here == (major >= 9));
  }
  std::printf("launch facts: compute capability %d.x, %d SMs, kernels running as __CUDA_ARCH__ %d: PDL and "
              "clusters %s\n", major, sm_count, arch, sm90 ? "taken" : "not taken");
}
