// attnmeta/detail/device_info.hpp: facts about the current device, cached per device: a device
// attribute, whether the device takes programmatic dependent launch and clusters. The launchers'
// own facts (launch.cuh's current_launch_device()) are built on cached_for_current_device().
#pragma once

#include <atomic>

#include <cuda_runtime_api.h>

namespace attnmeta {
namespace detail {

/// Devices whose facts are cached (those numbered past it are asked every time).
constexpr int cached_devices = 64;

/// `value` for the current device: cache[device] where it is set (positive), otherwise what
/// compute(device, value) gives, then stored there. compute must give a positive value. One
/// runtime query (cudaGetDevice) once cached; no synchronisation, safe during stream capture and
/// from several threads (two threads may both compute it the first time).
template <class Compute>
cudaError_t cached_for_current_device(std::atomic<int> (&cache)[cached_devices], int& value, Compute&& compute) {
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device)) return e;
  if (device < cached_devices && (value = cache[device].load(std::memory_order_relaxed)) > 0) return cudaSuccess;
  if (cudaError_t e = compute(device, value)) return e;
  if (device < cached_devices) cache[device].store(value, std::memory_order_relaxed);
  return cudaSuccess;
}

/// Attribute `A` of the current device (one that is positive on every device). Two runtime
/// queries the first time per device, one after (cached_for_current_device()).
template <cudaDeviceAttr A>
cudaError_t current_device_attribute(int& value) {
  static std::atomic<int> cache[cached_devices] = {};  // 0: not read yet
  return cached_for_current_device(cache, value,
                                   [](int device, int& v) { return cudaDeviceGetAttribute(&v, A, device); });
}

/// Whether the current device takes programmatic dependent launch and thread-block clusters
/// (compute capability >= 9.0). Whether the library's kernels use them there depends also on the
/// code they were built as: current_launch_device() (launch.cuh) decides.
inline cudaError_t current_device_has_pdl(bool& has) {
  int major = 0;
  if (cudaError_t e = current_device_attribute<cudaDevAttrComputeCapabilityMajor>(major)) return e;
  has = major >= 9;
  return cudaSuccess;
}

}  // namespace detail
}  // namespace attnmeta
