// attnmeta/detail/device_info.hpp: facts about the current device the launchers need (its
// multiprocessor count, whether it takes programmatic dependent launch and clusters), cached per
// device.
#pragma once

#include <atomic>

#include <cuda_runtime_api.h>

namespace attnmeta {
namespace detail {

/// Attribute `A` of the current device (one that is positive on every device). Two runtime
/// queries the first time per device, one after (cudaGetDevice); no synchronisation, safe during
/// stream capture and from several threads.
template <cudaDeviceAttr A>
cudaError_t current_device_attribute(int& value) {
  constexpr int cached_devices = 64;
  static std::atomic<int> cache[cached_devices] = {};  // 0: not read yet
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device)) return e;
  if (device < cached_devices && (value = cache[device].load(std::memory_order_relaxed)) > 0) return cudaSuccess;
  if (cudaError_t e = cudaDeviceGetAttribute(&value, A, device)) return e;
  if (device < cached_devices) cache[device].store(value, std::memory_order_relaxed);
  return cudaSuccess;
}

/// Multiprocessors of the current device.
inline cudaError_t current_sm_count(int& count) {
  return current_device_attribute<cudaDevAttrMultiProcessorCount>(count);
}

/// Whether the current device takes programmatic dependent launch (compute capability >= 9.0).
inline cudaError_t current_device_has_pdl(bool& has) {
  int major = 0;
  if (cudaError_t e = current_device_attribute<cudaDevAttrComputeCapabilityMajor>(major)) return e;
  has = major >= 9;
  return cudaSuccess;
}

/// Whether the current device launches thread-block clusters (compute capability >= 9.0).
inline cudaError_t current_device_has_clusters(bool& has) { return current_device_has_pdl(has); }

}  // namespace detail
}  // namespace attnmeta
