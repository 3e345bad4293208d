// attnmeta/detail/cluster_batch.cuh: a short batch of up to 4,096 requests held by one thread-block
// cluster, one request a thread (compute capability 9.0 and later).
//
// A short batch's time is the path of one thread. Held by a single block, a batch past 256
// requests gives each thread two to four of them to read, clamp and scan (vectors_kernel); held by
// a cluster of up to eight blocks of 128 threads, a thread reads one, each block scans its own 128,
// and the blocks' totals pass through distributed shared memory: one cluster barrier instead of
// one to three more requests a thread. A bare probe of target verify's outputs at bs 1024 (H200, a
// call in a graph of 10): 2.31 us for a cluster of 8 x 128, 2.70 for 4 x 256, 5.05 for one block
// of 1,024.
// The launcher takes it past 256 requests (512 for decode), where a block's threads would hold
// more than one request each, in blocks of 128 threads up to 1,024 requests and of 512 past them
// (cluster_wide_kernel, where the single launch would otherwise give way to three kernels).
#pragma once

#include <cooperative_groups.h>
#include <cub/block/block_scan.cuh>

#include "../batch.hpp"
#include "../request.hpp"
#include "../status.hpp"
#include "short_batch.cuh"

namespace attnmeta {
namespace detail {

/// Threads of a block of the cluster kernel up to single_launch_max_bs requests, and past them (the
/// wide kernel); the most blocks a cluster (the portable size).
constexpr int cluster_threads = 128;
constexpr int wide_cluster_threads = 512;
constexpr int cluster_max_blocks = 8;
/// The most requests a cluster holds, one a thread.
constexpr int cluster_max_bs = wide_cluster_threads * cluster_max_blocks;
static_assert(cluster_threads * cluster_max_blocks >= single_launch_max_bs, "a cluster holds the whole batch");
static_assert((cluster_max_blocks & (cluster_max_blocks - 1)) == 0,
              "lanes of a warp in groups of the cluster's blocks");
static_assert(int64_t(cluster_max_bs) * short_unfit_tokens <= INT32_MAX &&
                  int64_t(short_q_max) * cluster_max_bs < short_unfit_tokens,
              "a cluster of threads that do not fit still counts in int32, past a short batch's tokens");

/// Blocks of the cluster of Threads-thread blocks that holds bs requests, one a thread.
template <int Threads = cluster_threads>
constexpr int cluster_blocks(int bs) {
  return (bs + Threads - 1) / Threads;
}

/// The block scan of short_cluster_step(): one short_totals a thread.
template <int Threads>
using short_cluster_scan = cub::BlockScan<short_totals, Threads, cub::BLOCK_SCAN_WARP_SCANS>;

/// The length limit of a short step of bs requests in cluster_wide_kernel: four times
/// short_len_limit(bs) where every clamped length lies below short_len_limit(bs) whatever kv' (the
/// plain clamp with a topk below it, the pooled one with topk + kpool - 1 below it), which keeps the
/// topk sums in int32 while kv' reaches 2^31 over bs rounded up to a power of two (2^19 at 4,096
/// requests, where short_len_limit() gives 2^17: steps with 131K contexts stay short); else
/// short_len_limit(bs).
template <class Clamp>
__device__ __forceinline__ int32_t wide_len_limit(int bs, const Clamp& clamp) {
  const int32_t limit = short_len_limit(bs);
  if constexpr (std::is_same<Clamp, topk_clamp>::value) return clamp.topk < limit ? limit << 2 : limit;
  if constexpr (std::is_same<Clamp, pooled_topk_clamp>::value)
    return clamp.topk < limit && clamp.kpool <= limit - clamp.topk ? limit << 2 : limit;
  return limit;
}

/// A short batch (short_batch.cuh) held by the calling block's cluster of Threads-thread blocks, one
/// request a thread: block k of the cluster reads requests [Threads k, Threads (k + 1)) and scans
/// them; after one cluster barrier every warp reads the blocks' totals (`block_total`, in each
/// block's shared memory) and adds those of the blocks before its own. The first cluster of the grid
/// writes every request's entries, the first short_store_parts clusters split its tokens' outputs
/// (token_share()), every warp of the grid takes its share of the tail, and block 0 writes entry 0.
/// `flags` gets the status bits of the calling thread's request (and the over-capacity bit in thread
/// 0 of block 0), for the caller to publish. Returns false, having written nothing, when the batch
/// is not short or a length reaches `limit` (short_len_limit(bs), or wide_len_limit()), every block
/// of the cluster reaching the same answer, and always where clusters are not compiled (below
/// compute capability 9.0). Every thread of every block of the cluster calls it; a block leaves it
/// only when no other block will read its shared memory. Cost: one read and one block scan a
/// thread, two cluster barriers, eight reads of distributed shared memory a warp, up to short_q_max
/// tokens a thread.
template <int Threads, class Batch, class Clamp>
__device__ __forceinline__ bool short_cluster_step(const Batch& batch, const Clamp& clamp, const step_shape& shape,
                                                   const metadata_outputs& out, bool tokens, int32_t limit,
                                                   typename short_cluster_scan<Threads>::TempStorage& storage,
                                                   short_totals& block_total, uint32_t& flags) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  const int rank = int(cluster.block_rank());
  const int blocks = int(cluster.num_blocks());
  const int bs = batch.bs;
  const int b = rank * Threads + int(threadIdx.x);
  bool fits;
  const short_request r = short_request_of(batch, clamp, b, limit, fits);
  // A thread whose request does not fit counts short_unfit_tokens tokens, so the cluster's total
  // tells every thread.
  short_totals at, total;
  short_cluster_scan<Threads>(storage).ExclusiveSum(fits ? totals_of(r) : short_totals{short_unfit_tokens, 0, 0}, at,
                                                    total);
  if (threadIdx.x == 0) block_total = total;
  cluster.sync();
  // Lane l reads block l % 8's total, so each group of eight lanes holds every block's; a
  // butterfly within the group sums those before this block and all of them, in every lane.
  const int k = int(threadIdx.x) & (cluster_max_blocks - 1);
  const short_totals theirs = k < blocks ? *cluster.map_shared_rank(&block_total, k) : short_totals{};
  short_totals before = k < rank ? theirs : short_totals{}, all = theirs;
#pragma unroll
  for (int d = cluster_max_blocks / 2; d >= 1; d /= 2) {
    const auto from = [d](const short_totals& v) {
      return short_totals{__shfl_xor_sync(0xffffffffu, v.tokens, d), __shfl_xor_sync(0xffffffffu, v.kv, d),
                          __shfl_xor_sync(0xffffffffu, v.topk, d)};
    };
    before = before + from(before);
    all = all + from(all);
  }
  // Done with the other blocks' shared memory: the values read are in registers and used above,
  // so the arrive needs no memory ordering (with cluster.barrier_arrive()'s release, a fence at
  // GPU scope, every step was 0.13-0.15 us slower: H200, a call in a graph of 10, bs 512-1024).
  asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
  if (all.tokens >= short_unfit_tokens) {
    cluster.barrier_wait();
    return false;
  }
  const int32_t max_tokens = int32_t(shape.max_tokens);  // capacity::max_tokens is an int
  // Clusters are consecutive blocks of a one-dimensional grid: the first is blocks [0, blocks).
  // Every cluster holds the whole batch, so the first short_store_parts split the tokens'
  // outputs, one output each where the grid has six clusters (the launcher's cluster_grid() has
  // the measurements); the first writes the entries.
  const int cluster_index = int(blockIdx.x) / blocks, clusters = int(gridDim.x) / blocks;
  const int parts = clusters < short_store_parts ? clusters : short_store_parts;
  at = before + at;
  if (b < bs && cluster_index == 0) store_short_entries(out, b, r, at + totals_of(r));
  if (b < bs && tokens && cluster_index < parts)  // 16-byte stores for constant q only (store_short_tokens())
    store_short_tokens(token_share(out, cluster_index, parts), b, r, at, max_tokens,
                       shape.tokens_aligned16 && !batch.q_per_request);
  if (cluster_index == 0) {
    flags = r.flags;
    if (blockIdx.x == 0 && threadIdx.x == 0) {
      store_short_first(out);
      if (all.tokens > max_tokens) flags |= status_tokens_over_capacity;
    }
  }
  if (tokens) {
    constexpr int block_warps = Threads / 32;
    store_short_tail(out, all.tokens < max_tokens ? all.tokens : max_tokens, max_tokens, all.topk,
                     int(blockIdx.x) * block_warps + int(threadIdx.x >> 5), int(gridDim.x) * block_warps);
  }
  cluster.barrier_wait();  // the other blocks have read this one's total
  return true;
#else
  (void)batch, (void)clamp, (void)shape, (void)out, (void)tokens, (void)limit, (void)storage, (void)block_total,
      (void)flags;
  return false;
#endif
}

}  // namespace detail
}  // namespace attnmeta
