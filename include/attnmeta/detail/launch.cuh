// attnmeta/detail/launch.cuh: how a launcher starts a kernel, with or without programmatic
// dependent launch (PDL, compute capability 9.0 and later), alone or in thread-block clusters.
//
// With PDL a kernel may begin while the stream's previous kernel is still running: its blocks are
// resident and waiting when that kernel's memory becomes visible, instead of being launched then.
// Every kernel of the library begins with await_previous_grid(), which is what makes that safe,
// and costs nothing when the kernel was launched without the attribute. The wait and the cluster
// code exist only in kernels built for compute capability 9.0 or later: a build from 8.x PTX that
// the driver compiles for a Hopper GPU has neither, so the launchers ask
// current_launch_device() before they use either.
#pragma once

#include <utility>

#include <cuda_runtime.h>

#include "device_info.hpp"

namespace attnmeta {
namespace detail {

/// Waits until the grids this one depends on programmatically have finished and their writes are
/// visible (a no-op without PDL), then lets the stream's next kernel launch early: it too waits
/// for this grid's completion before it may read what this grid writes. Every thread of every
/// kernel calls it first, before any global read or write.
__device__ __forceinline__ void await_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/// An empty kernel, never launched: its ptxVersion (cudaFuncGetAttributes) is that of the kernels
/// instantiated with the same `Tag` types, which are compiled in the same translation units.
template <class... Tag>
__global__ void build_probe_kernel() {}

/// What a launcher needs to know of the current device: its multiprocessors, and whether the
/// kernels instantiated with `Tag` run there as code built for compute capability 9.0 or later
/// (`sm90`): the device is (>= 9.0), and they were compiled from PTX 9.0 or later, so they wait
/// under PDL (await_previous_grid()) and have their cluster steps. `sm90` is false for a build from
/// 8.x PTX (CMAKE_CUDA_ARCHITECTURES 80, TORCH_CUDA_ARCH_LIST "8.0+PTX") running on an H100, which
/// then takes neither PDL nor clusters.
struct launch_device {
  int sm_count = 0;
  bool sm90 = false;
};

/// launch_device of the current device for the kernels of `Tag`. Cost: two device attributes and
/// cudaFuncGetAttributes the first time per device, one cudaGetDevice after
/// (cached_for_current_device()); no synchronisation, safe during stream capture.
template <class... Tag>
cudaError_t current_launch_device(launch_device& device) {
  static std::atomic<int> cache[cached_devices] = {};  // 0: not asked yet, else 2 * sm_count + sm90
  const auto ask = [](int d, int& value) {
    int sm_count = 0, major = 0;
    cudaError_t e = cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, d);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d);
    cudaFuncAttributes built = {};
    if (e == cudaSuccess && major >= 9) e = cudaFuncGetAttributes(&built, build_probe_kernel<Tag...>);
    value = 2 * sm_count + (major >= 9 && built.ptxVersion >= 90 ? 1 : 0);
    return e;
  };
  int value = 0;
  if (cudaError_t e = cached_for_current_device(cache, value, ask)) return e;
  device.sm_count = value / 2;
  device.sm90 = (value & 1) != 0;
  return cudaSuccess;
}

/// cudaLaunchKernelEx of kernel with the launch attributes attribute[0, count).
template <class... Params, class... Args>
cudaError_t launch_kernel_with(void (*kernel)(Params...), int grid, int threads, size_t smem, cudaStream_t stream,
                               cudaLaunchAttribute* attribute, unsigned count, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(unsigned(grid));
  config.blockDim = dim3(unsigned(threads));
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attribute;
  config.numAttrs = count;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

/// The attribute that lets a kernel start while the stream's previous one finishes.
inline cudaLaunchAttribute pdl_attribute() {
  cudaLaunchAttribute a;
  a.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  a.val.programmaticStreamSerializationAllowed = 1;
  return a;
}

/// kernel<<<grid, threads, smem, stream>>>(args...), with the programmatic stream serialization
/// attribute when `pdl` (the caller checked current_launch_device()). Returns the
/// launch's error.
template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), int grid, int threads, size_t smem, cudaStream_t stream, bool pdl,
                          Args&&... args) {
  if (!pdl) {
    kernel<<<unsigned(grid), unsigned(threads), smem, stream>>>(std::forward<Args>(args)...);
    return cudaGetLastError();
  }
  cudaLaunchAttribute attribute[1] = {pdl_attribute()};
  return launch_kernel_with(kernel, grid, threads, smem, stream, attribute, 1, std::forward<Args>(args)...);
}

/// The same in clusters of `cluster` blocks (`grid` a multiple of it; compute capability 9.0 and
/// later: the caller checked current_launch_device()).
template <class... Params, class... Args>
cudaError_t launch_kernel_in_clusters(void (*kernel)(Params...), int grid, int cluster, int threads, size_t smem,
                                      cudaStream_t stream, bool pdl, Args&&... args) {
  cudaLaunchAttribute attribute[2] = {{}, pdl_attribute()};
  attribute[0].id = cudaLaunchAttributeClusterDimension;
  attribute[0].val.clusterDim.x = unsigned(cluster);
  attribute[0].val.clusterDim.y = 1;
  attribute[0].val.clusterDim.z = 1;
  return launch_kernel_with(kernel, grid, threads, smem, stream, attribute, pdl ? 2 : 1, std::forward<Args>(args)...);
}

}  // namespace detail
}  // namespace attnmeta
