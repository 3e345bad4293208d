// One of the GPU tests' launchers (launchers.cuh): compute_metadata for seq_lens int32, extend_lens int32,
// req_pool_indices int32, with every kernel it launches; and what those launchers know of the device.
#define ATTNMETA_TEST_DEFINES_LAUNCHERS
#include "launchers.cuh"

ATTNMETA_TEST_LAUNCHER(int32_t, int32_t, int32_t)

namespace {
__global__ void cuda_arch_kernel(int* arch) {
#ifdef __CUDA_ARCH__
  *arch = __CUDA_ARCH__;
#endif
}
}  // namespace

cudaError_t launchers_device(attnmeta::detail::launch_device& plain, attnmeta::detail::launch_device& pooled) {
  using batch = attnmeta::ragged_batch<int32_t, int32_t, int32_t>;
  if (cudaError_t e = attnmeta::detail::current_launch_device<batch, attnmeta::topk_clamp>(plain)) return e;
  return attnmeta::detail::current_launch_device<batch, attnmeta::pooled_topk_clamp>(pooled);
}

cudaError_t launchers_cuda_arch(int& arch) {
  int* d = nullptr;
  if (cudaError_t e = cudaMalloc(&d, sizeof(int))) return e;
  arch = 0;
  cuda_arch_kernel<<<1, 1>>>(d);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaMemcpy(&arch, d, sizeof(int), cudaMemcpyDeviceToHost);
  const cudaError_t f = cudaFree(d);
  return e != cudaSuccess ? e : f;
}
