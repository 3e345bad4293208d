// attnmeta/device_offsets.cuh: prefix-sum offsets of any length over the whole device (cub::DeviceScan).
#pragma once

#include <cub/device/device_scan.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <iterator>

#include "config.hpp"

namespace attnmeta {
namespace detail {
// in[i] for i < n, zero at i == n: lets one scan of n + 1 items leave the total at [n].
template <class InputIt>
struct zero_padded {
  InputIt in;
  int n;
  __host__ __device__ auto operator()(int i) const -> typename std::iterator_traits<InputIt>::value_type {
    using T = typename std::iterator_traits<InputIt>::value_type;
    return i < n ? T(in[i]) : T{};
  }
};
}  // namespace detail

/// Writes out[0..n] = 0, in[0], in[0] + in[1], ..., total: the offsets of n items, with the total
/// at [n], using cub::DeviceScan over the caller's workspace. CUB's two-phase contract: with
/// d_temp == nullptr it only sets temp_bytes (a host query, no launch); otherwise it enqueues the
/// scan on `stream` (two small kernels), allocating and synchronising nothing.
/// workspace.hpp's device_exclusive_sum_bytes_bound<T>(n) bounds temp_bytes without a device.
template <class InputIt, class OutputIt>
cudaError_t device_exclusive_sum(void* d_temp, size_t& temp_bytes, InputIt in, OutputIt out, int n,
                                 cudaStream_t stream = 0) {
  auto padded = thrust::make_transform_iterator(thrust::make_counting_iterator(0), detail::zero_padded<InputIt>{in, n});
  return cub::DeviceScan::ExclusiveSum(d_temp, temp_bytes, padded, out, n + 1, stream);
}

}  // namespace attnmeta
