// A consumer of the package: the host backend on SPEC's worked example (host compiler only).
#include <attnmeta/host.hpp>

#include <cstdio>

int main() {
  const int seq[] = {10, 4}, q[] = {3, 2};
  int cu_topk[6] = {};
  attnmeta::metadata_outputs out;
  out.cu_topk_seqlens = cu_topk;
  attnmeta::options opt;
  opt.topk = 8;
  if (attnmeta::host::compute_metadata({2, 5, 0}, attnmeta::extend_batch(2, seq, q), opt, out) != cudaSuccess) return 1;
  std::printf("cu_topk_seqlens[5] = %d\n", cu_topk[5]);
  return cu_topk[5] == 31 ? 0 : 1;
}
