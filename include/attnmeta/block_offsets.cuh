// attnmeta/block_offsets.cuh: prefix-sum offsets of any length computed by one thread block.
#pragma once

#include <cub/block/block_scan.cuh>
#include <cub/warp/warp_scan.cuh>

#include "config.hpp"

namespace attnmeta {

/// Exclusive prefix sums over n items, computed by one block of BLOCK_THREADS threads with
/// cub::BlockScan, tile by tile (BLOCK_THREADS * ITEMS_PER_THREAD items a tile) with the running
/// total carried from tile to tile: the offsets array [n + 1] with the total at [n].
/// T needs T{} == zero and operator+. Cost: ceil(n / tile) block scans, each two barriers; no
/// device memory of its own. Every thread of the block must call it.
template <class T, int BLOCK_THREADS, int ITEMS_PER_THREAD = 4>
struct block_offsets {
  using block_scan = cub::BlockScan<T, BLOCK_THREADS, cub::BLOCK_SCAN_WARP_SCANS>;
  using temp_storage = typename block_scan::TempStorage;
  static constexpr int tile_items = BLOCK_THREADS * ITEMS_PER_THREAD;

  /// Calls load(i) for i in [0, n) (each once, blocked order within a tile) and store(i, offset)
  /// for i in [0, n], where offset = load(0) + ... + load(i - 1). Returns the total to every thread.
  template <class Load, class Store>
  __device__ static T exclusive_sum(temp_storage& storage, int n, Load&& load, Store&& store) {
    T carry{};
    for (int base = 0; base < n; base += tile_items) {
      T items[ITEMS_PER_THREAD];
#pragma unroll
      for (int k = 0; k < ITEMS_PER_THREAD; ++k) {
        const int i = base + threadIdx.x * ITEMS_PER_THREAD + k;
        items[k] = i < n ? load(i) : T{};
      }
      T tile_total;
      block_scan(storage).ExclusiveSum(items, items, tile_total);
#pragma unroll
      for (int k = 0; k < ITEMS_PER_THREAD; ++k) {
        const int i = base + threadIdx.x * ITEMS_PER_THREAD + k;
        if (i < n) store(i, carry + items[k]);
      }
      carry = carry + tile_total;
      __syncthreads();  // the next tile reuses storage
    }
    if (threadIdx.x == 0) store(n, carry);
    return carry;
  }
};

/// The same offsets computed by one warp (cub::WarpScan), tile by tile (32 * ITEMS_PER_THREAD
/// items) with the carried total: no block barrier, so the other warps of the block are free. The
/// right tool for short arrays (a decode batch of 64 requests is one tile). Every lane of the warp
/// must call it; the total comes back to every lane.
template <class T, int ITEMS_PER_THREAD = 2>
struct warp_offsets {
  using warp_scan = cub::WarpScan<T>;
  using temp_storage = typename warp_scan::TempStorage;
  static constexpr int tile_items = 32 * ITEMS_PER_THREAD;

  template <class Load, class Store>
  __device__ static T exclusive_sum(temp_storage& storage, int n, Load&& load, Store&& store) {
    const int lane = threadIdx.x & 31;
    T carry{};
    for (int base = 0; base < n; base += tile_items) {
      T items[ITEMS_PER_THREAD];
      T mine{};
#pragma unroll
      for (int k = 0; k < ITEMS_PER_THREAD; ++k) {
        const int i = base + lane * ITEMS_PER_THREAD + k;
        items[k] = i < n ? load(i) : T{};
        mine = mine + items[k];
      }
      T before, tile_total;
      warp_scan(storage).ExclusiveSum(mine, before, tile_total);
      T running = carry + before;
#pragma unroll
      for (int k = 0; k < ITEMS_PER_THREAD; ++k) {
        const int i = base + lane * ITEMS_PER_THREAD + k;
        if (i < n) store(i, running);
        running = running + items[k];
      }
      carry = carry + tile_total;
    }
    if (lane == 0) store(n, carry);
    return carry;
  }
};

}  // namespace attnmeta
