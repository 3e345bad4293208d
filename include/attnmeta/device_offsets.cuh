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
template <class InputIt, class OutputIt>
cudaError_t device_exclusive_sum(void* d_temp, size_t& temp_bytes, InputIt in, OutputIt out, int n,
                                 cudaStream_t stream = 0) {
  auto padded = thrust::make_transform_iterator(thrust::make_counting_iterator(0), detail::zero_padded<InputIt>{in, n});
  return cub::DeviceScan::ExclusiveSum(d_temp, temp_bytes, padded, out, n + 1, stream);
}

/// An upper bound on device_exclusive_sum's temp_bytes for n items of sizeof(T) bytes, from host
/// arithmetic alone (CUB's own query needs a device). CUB keeps a status word and two partial sums
/// per tile of at least 32 items, plus a warp of padding and alignment.
template <class T>
constexpr size_t device_exclusive_sum_bytes_bound(int64_t n) {
  return static_cast<size_t>((n + 1) / 32 + 1 + 32 + 32) * (2 * sizeof(T) + 16) + 4096;
}

}  // namespace attnmeta
