// attnmeta/detail/device_info.hpp: the current device's multiprocessor count, cached per device.
#pragma once

#include <atomic>

#include <cuda_runtime_api.h>

namespace attnmeta {
namespace detail {

/// Multiprocessors of the current device. Two runtime queries the first time per device, none
/// after; no synchronisation, safe during stream capture and from several threads.
inline cudaError_t current_sm_count(int& count) {
  constexpr int cached_devices = 64;
  static std::atomic<int> cache[cached_devices] = {};
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device)) return e;
  if (device < cached_devices && (count = cache[device].load(std::memory_order_relaxed)) > 0) return cudaSuccess;
  if (cudaError_t e = cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device)) return e;
  if (device < cached_devices) cache[device].store(count, std::memory_order_relaxed);
  return cudaSuccess;
}

}  // namespace detail
}  // namespace attnmeta
