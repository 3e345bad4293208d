// attnmeta/detail/launch.cuh: how a launcher starts a kernel, with or without programmatic
// dependent launch (PDL, compute capability 9.0 and later).
//
// With PDL a kernel may begin while the stream's previous kernel is still running: its blocks are
// resident and waiting when that kernel's memory becomes visible, instead of being launched then.
// Every kernel of the library begins with await_previous_grid(), which is what makes that safe,
// and costs nothing when the kernel was launched without the attribute.
#pragma once

#include <utility>

#include <cuda_runtime.h>

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

/// kernel<<<grid, threads, smem, stream>>>(args...), with the programmatic stream serialization
/// attribute when `pdl` (the caller checked current_device_has_pdl(), device_info.hpp). Returns
/// the launch's error.
template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), int grid, int threads, size_t smem, cudaStream_t stream, bool pdl,
                          Args&&... args) {
  if (!pdl) {
    kernel<<<grid, threads, smem, stream>>>(std::forward<Args>(args)...);
    return cudaGetLastError();
  }
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(unsigned(grid));
  config.blockDim = dim3(unsigned(threads));
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace detail
}  // namespace attnmeta
