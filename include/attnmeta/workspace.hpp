// attnmeta/workspace.hpp: how much device workspace a launch needs. Host arithmetic only.
#pragma once

#include <cstddef>

#include "batch.hpp"
#include "request.hpp"

namespace attnmeta {

/// An upper bound on cub::DeviceScan's temporary storage for an exclusive scan of n items of
/// sizeof(T) bytes, from host arithmetic alone (CUB's own query needs a device): a status word and
/// two partial sums per tile of at least 32 items, a warp of padding, and alignment. The GPU tests
/// hold it against CUB's query.
template <class T>
constexpr size_t device_exclusive_sum_bytes_bound(int64_t n) {
  return static_cast<size_t>((n + 1) / 32 + 1 + 32 + 32) * (2 * sizeof(T) + 16) + 4096;
}

namespace detail {
constexpr size_t workspace_alignment = 256;
/// Bytes of the per-request prefix table (max_bs + 1 entries), rounded up to the alignment.
inline size_t table_bytes(int max_bs) {
  const int64_t raw = int64_t(sizeof(request_totals)) * (int64_t(max_bs) + 1);
  return size_t(ceil_div(raw, workspace_alignment)) * workspace_alignment;
}
}  // namespace detail

/// Bytes of device workspace a launch needs for batches up to cap.max_bs: host arithmetic only,
/// no CUDA call. (max_bs + 1) * 32 bytes of prefixes plus cub::DeviceScan's tile state: about
/// 10 KB at max_bs = 32, 200 KB at max_bs = 4096.
inline size_t workspace_size(const capacity& cap) {
  const int max_bs = cap.max_bs > 0 ? cap.max_bs : 0;
  return detail::table_bytes(max_bs) + device_exclusive_sum_bytes_bound<request_totals>(max_bs);
}

}  // namespace attnmeta
