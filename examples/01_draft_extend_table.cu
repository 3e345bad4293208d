// 01: draft-extend metadata for a small batch, printed as a table.
//
// Four requests with 1..4 draft tokens each (extend_lens, on the device), their KV lengths, and a
// top-k budget of 8 so the clamp shows. Runs on the GPU when there is one, on the host backend
// otherwise, and says which.
#include <attnmeta/attnmeta.cuh>

#include <cstdio>
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
  const std::vector<int32_t> seq_lens = {10, 4, 1, 7};
  const std::vector<int32_t> extend_lens = {3, 2, 4, 1};  // q_b: request 2 is a padded row (q > kv')
  const int bs = 4;
  const attnmeta::capacity cap{/*max_bs=*/8, /*max_tokens=*/12, /*page_table_width=*/0};
  attnmeta::options opt;
  opt.topk = 8;

  // Host-side result buffers, sized for the capacity.
  std::vector<int32_t> cu_q(cap.max_bs + 1), cu_k(cap.max_bs + 1), t2r(cap.max_tokens), expanded(cap.max_tokens),
      topk(cap.max_tokens), cu_topk(cap.max_tokens + 1), k_start(cap.max_tokens), k_end(cap.max_tokens);
  std::vector<int32_t*> host = {cu_q.data(), cu_k.data(), t2r.data(), expanded.data(),
                                topk.data(), cu_topk.data(), k_start.data(), k_end.data()};
  const std::vector<size_t> sizes = {cu_q.size(), cu_k.size(), t2r.size(), expanded.size(),
                                     topk.size(), cu_topk.size(), k_start.size(), k_end.size()};
  auto outputs_at = [](const std::vector<int32_t*>& p) {
    attnmeta::metadata_outputs o;
    o.cu_seqlens_q = p[0], o.cu_seqlens_k = p[1], o.token_to_request = p[2], o.seqlens_expanded = p[3];
    o.topk_seqlens = p[4], o.cu_topk_seqlens = p[5], o.key_start = p[6], o.key_end = p[7];
    return o;
  };

  int devices = 0;
  const bool gpu = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
  if (gpu) {
    int32_t *d_seq, *d_q;
    std::vector<int32_t*> dev(host.size());
    void* workspace;
    CHECK(cudaMalloc(&d_seq, bs * sizeof(int32_t)));
    CHECK(cudaMalloc(&d_q, bs * sizeof(int32_t)));
    for (size_t i = 0; i < dev.size(); ++i) CHECK(cudaMalloc(&dev[i], sizes[i] * sizeof(int32_t)));
    const size_t ws_bytes = attnmeta::workspace_size(cap);
    CHECK(cudaMalloc(&workspace, ws_bytes));
    CHECK(cudaMemcpy(d_seq, seq_lens.data(), bs * sizeof(int32_t), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d_q, extend_lens.data(), bs * sizeof(int32_t), cudaMemcpyHostToDevice));
    // The one call: no host sync inside; N = sum(extend_lens) is found on the device.
    CHECK(attnmeta::draft_extend(workspace, ws_bytes, cap, bs, d_seq, d_q, opt, outputs_at(dev)));
    for (size_t i = 0; i < dev.size(); ++i)
      CHECK(cudaMemcpy(host[i], dev[i], sizes[i] * sizeof(int32_t), cudaMemcpyDeviceToHost));
    for (int32_t* p : dev) cudaFree(p);
    cudaFree(d_seq), cudaFree(d_q), cudaFree(workspace);
  } else {
    CHECK(attnmeta::host::compute_metadata(cap, attnmeta::draft_extend_batch(bs, seq_lens.data(), extend_lens.data()), opt,
                                           outputs_at(host)));
  }

  std::printf("attnmeta %d.%d.%d, draft_extend, bs=%d, topk=%d, computed on the %s\n", ATTNMETA_VERSION_MAJOR,
              ATTNMETA_VERSION_MINOR, ATTNMETA_VERSION_PATCH, bs, opt.topk,
              gpu ? "GPU" : "host backend (no CUDA device found)");
  std::printf("\n request | seq_len | q | cu_seqlens_q | cu_seqlens_k\n");
  for (int b = 0; b <= bs; ++b) {
    if (b < bs)
      std::printf(" %7d | %7d | %d | %12d | %12d\n", b, seq_lens[b], extend_lens[b], cu_q[b], cu_k[b]);
    else
      std::printf("   (end) |         |   | %12d | %12d\n", cu_q[b], cu_k[b]);
  }
  std::printf("\n token | request | seqlens_expanded | topk_seqlens | cu_topk_seqlens | key_start | key_end\n");
  for (int t = 0; t < cap.max_tokens; ++t)
    std::printf(" %5d | %7d | %16d | %12d | %15d | %9d | %7d%s\n", t, t2r[t], expanded[t], topk[t], cu_topk[t + 1],
                k_start[t], k_end[t], t >= cu_q[bs] ? "   (tail)" : "");
  return 0;
}
