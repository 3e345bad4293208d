// 02: capture the metadata step once in a CUDA graph, replay it with new lengths.
//
// This is how an engine uses attnmeta: static buffers sized for the maximum batch, one capture per
// batch size, and every step only writes the new lengths into the static inputs and replays.
#include <attnmeta/attnmeta.cuh>

#include <cstdio>
#include <random>
#include <vector>

#define CHECK(call)                                                                                            \
  do {                                                                                                         \
    cudaError_t e_ = (call);                                                                                   \
    if (e_ != cudaSuccess) {                                                                                   \
      std::fprintf(stderr, "%s failed: %s %s\n", #call, cudaGetErrorString(e_), attnmeta::last_error_message()); \
      return 1;                                                                                                \
    }                                                                                                          \
  } while (0)

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: this example captures a CUDA graph and needs a GPU\n");
    return 0;
  }
  constexpr int bs = 32, D = 4, max_tokens = bs * D, W = 4096;
  const attnmeta::capacity cap{bs, max_tokens, W};
  attnmeta::options opt;  // topk 2048
  opt.page_size = 64;
  // Programmatic dependent launch (Hopper and later, ignored before): in the engine's graph the
  // step may start while the kernel before it finishes; it waits for that kernel's writes first.
  opt.enable_pdl = true;

  // Static buffers, allocated once.
  int32_t *seq, *q, *rpi, *req_to_token, *cu_q, *topk_lens, *page_table, *block_table;
  uint32_t* status;
  void* workspace;
  const size_t ws_bytes = attnmeta::workspace_size(cap);
  CHECK(cudaMalloc(&seq, bs * 4));
  CHECK(cudaMalloc(&q, bs * 4));
  CHECK(cudaMalloc(&rpi, bs * 4));
  CHECK(cudaMalloc(&req_to_token, size_t(bs) * W * 4));
  CHECK(cudaMalloc(&cu_q, (bs + 1) * 4));
  CHECK(cudaMalloc(&topk_lens, max_tokens * 4));
  CHECK(cudaMalloc(&page_table, size_t(max_tokens) * W * 4));
  CHECK(cudaMalloc(&block_table, size_t(max_tokens) * (W / 64) * 4));
  CHECK(cudaMalloc(&status, 4));
  CHECK(cudaMalloc(&workspace, ws_bytes));
  CHECK(cudaMemset(status, 0, 4));
  std::vector<int32_t> slots(size_t(bs) * W), rows(bs);
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = int32_t(i);
  for (int b = 0; b < bs; ++b) rows[b] = b;
  CHECK(cudaMemcpy(req_to_token, slots.data(), slots.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(rpi, rows.data(), bs * 4, cudaMemcpyHostToDevice));

  attnmeta::metadata_outputs out;
  out.cu_seqlens_q = cu_q, out.topk_seqlens = topk_lens, out.page_table = page_table, out.block_table = block_table;
  out.status = status;
  const attnmeta::page_source<int32_t> pages{rpi, req_to_token, W, bs};

  // Capture once.
  cudaStream_t stream;
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  CHECK(attnmeta::draft_extend(workspace, ws_bytes, cap, bs, seq, q, opt, out, stream, pages));
  CHECK(cudaStreamEndCapture(stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));

  // Replay with new lengths every step.
  std::mt19937 rng(42);
  std::vector<int32_t> h_seq(bs), h_q(bs), h_cu(bs + 1);
  for (int step = 0; step < 3; ++step) {
    int n = 0;
    for (int b = 0; b < bs; ++b) h_seq[b] = 1 + int(rng() % W), h_q[b] = 1 + int(rng() % D), n += h_q[b];
    CHECK(cudaMemcpyAsync(seq, h_seq.data(), bs * 4, cudaMemcpyHostToDevice, stream));
    CHECK(cudaMemcpyAsync(q, h_q.data(), bs * 4, cudaMemcpyHostToDevice, stream));
    CHECK(cudaGraphLaunch(exec, stream));
    CHECK(cudaMemcpyAsync(h_cu.data(), cu_q, (bs + 1) * 4, cudaMemcpyDeviceToHost, stream));
    CHECK(cudaStreamSynchronize(stream));  // only to print; an engine would not wait here
    std::printf("replay %d: N = %d tokens (host sum %d), cu_seqlens_q[1..3] = %d %d %d\n", step, h_cu[bs], n, h_cu[1],
                h_cu[2], h_cu[3]);
    if (h_cu[bs] != n) return 1;
  }
  uint32_t bits = 0;
  CHECK(cudaMemcpy(&bits, status, 4, cudaMemcpyDeviceToHost));
  std::printf("status word: 0x%x (0 = every input was well formed)\n", bits);
  return 0;
}
