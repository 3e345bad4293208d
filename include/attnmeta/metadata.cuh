// attnmeta/metadata.cuh: the launchers. One call computes a step's attention metadata on the GPU.
//
// CUB's contract: size the workspace once from the capacity (host arithmetic), then launch into
// the caller's buffers on the caller's stream. A launch allocates nothing, never synchronises, and
// reads the real token count N on the device, so it can be captured in a CUDA graph once and
// replayed with new lengths every step.
#pragma once

#include <cuda_runtime_api.h>

#include "batch.hpp"
#include "clamp.hpp"
#include "detail/device_info.hpp"
#include "detail/kernels.cuh"
#include "detail/validate.hpp"
#include "device_offsets.cuh"
#include "status.hpp"
#include "workspace.hpp"

namespace attnmeta {
namespace detail {
// Blocks for the fill: enough for the capacity's work (and at least `at_least`), never more than
// the GPU keeps resident (blocks_per_sm of the kernel's __launch_bounds__).
inline int grid_blocks(int sm_count, const capacity& cap, int bs, const step_shape& shape,
                       int blocks_per_sm = min_blocks_per_sm, int64_t at_least = 0) {
  const int64_t warps = block_threads / 32;
  int64_t need = ceil_div(int64_t(cap.max_tokens) + bs + 2, block_threads);
  if (shape.wants_pages()) {
    const int64_t max_units = shape.column_chunks(cap.page_table_width) * (ceil_div(cap.max_tokens, page_unit_rows) + bs);
    need = need > ceil_div(max_units, warps) ? need : ceil_div(max_units, warps);
  }
  need = need > at_least ? need : at_least;
  const int64_t resident = int64_t(sm_count) * blocks_per_sm;
  return static_cast<int>(need < resident ? (need > 0 ? need : 1) : resident);
}

// Blocks for a step that is not short, of the `grid` its tokens need, where every warp
// (lane_batch_kernel()) or every block (the single launch) reads and scans the whole batch before
// its first token: past one block an SM every warp takes two turns of 32 tokens or more, and two
// blocks an SM at most (H100, a call in a graph of 10: prefill bs 16 2.81 -> 2.69 us, bs 32 3.31
// -> 3.02, bs 64 4.93 -> 4.28; with q_b of 1-1,024, bs 256 6.31 -> 4.87, bs 512 8.27 -> 6.77; bs 8,
// 158 -> 132 blocks, 2.30 -> 2.33; half its blocks, 79, was slower: 2.41).
inline int rescan_blocks(int sm_count, int grid) {
  const int half = (grid + 1) / 2;
  const int blocks = half > sm_count ? half : (grid < sm_count ? grid : sm_count);
  return blocks < 2 * sm_count ? blocks : 2 * sm_count;
}

template <bool Vec, class Batch, class Clamp>
cudaError_t launch_step(void* workspace, const capacity& cap, const step_params<Batch, Clamp>& p, path algorithm,
                        const launch_device& device, bool pdl, cudaStream_t stream) {
  const int sm_count = device.sm_count;
  const int bs = p.batch.bs;
  const int grid = grid_blocks(sm_count, cap, bs, p.shape);
  // Whether the step is likely short (short_batch.cuh): a constant q of at most short_q_max, or
  // per-request q in buffers sized for that many tokens a request (draft extend, not prefill).
  // The kernels check it on the device either way; this spares a prefill the check.
  const bool short_step = p.batch.q_per_request ? int64_t(cap.max_tokens) <= int64_t(short_q_max) * cap.max_bs
                                                : p.batch.q_constant <= short_q_max;
  // Where the caller asks for every output, the kernels of steps without page tables, and of
  // small per-request-q steps with them, are the ones built without the outputs' null tests
  // (Full: assume_outputs()). H200, a call in a graph of 10, medians of six and eight rounds:
  // decode bs 1 1.486 -> 1.459 us, bs 32 1.560 -> 1.522, bs 128 1.622 -> 1.594, bs 256 1.869
  // -> 1.829, bs 512 2.248 -> 2.188, bs 4096 3.916 -> 3.859; target verify bs 1 1.601 -> 1.525,
  // bs 32 1.685 -> 1.613 (with enable_pdl 1.212 -> 1.261, slower), bs 128 1.722 -> 1.674, bs
  // 256 1.913 -> 1.857; draft extend bs 32 1.772 -> 1.708, bs 128 1.939 -> 1.851, bs 256 2.242
  // -> 2.136, bs 4096 4.348 -> 4.232, with page tables bs 1 2.319 -> 2.244.
  // The same for prefill (lane_batch_kernel<false, ..>, narrow_step_kernel): bs 8 2.336 -> 2.210,
  // bs 32 2.919 -> 2.827, bs 64 4.195 -> 4.096, 256 requests of 1-1,024 tokens 4.085 -> 3.990.
  // Not taken, measured slower: the cluster step of a constant q (target verify bs 512 2.542 ->
  // 2.577, constant draft extend bs 1024 2.595 -> 2.644) and the constant-q page steps of
  // static_pages_kernel (target verify bs 1 2.010 -> 2.090, decode bs 1 1.804 -> 1.833), and
  // short_pages_kernel (decode bs 128 4.965 -> 5.045, bs 512 20.086 -> 20.266).
  const bool full = every_output(p.out, p.shape.wants_pages());
  // The clusters of a short step of cluster_blocks<Threads>(bs) blocks, each holding the batch one
  // request a thread: enough for the tail at short_q_max tokens a thread, and at least three (128-
  // thread blocks, up to 1,024 requests) or short_store_parts (512-thread blocks, past them), whose
  // clusters split the tokens' outputs. H200, a call in a graph of 10: draft extend bs 512 3.12 ->
  // 2.86 us, bs 1024 3.42 -> 3.06 with three clusters against one. A constant q gains little from
  // three up to 1,024 requests (two runs of five rounds, against one: target verify bs 512 -2.7%
  // and +1.3%, bs 1024 -2.9% and +1.5%, constant draft extend bs 512 -2.2% and -1.6%, decode bs
  // 1024 -1.9% and -0.1%; six measured the same, and draft extend bs 512 0-1.3% slower with six);
  // past 1,024 requests six gain (target verify bs 4096 4.281 -> 3.958 against one, draft extend
  // 4.548 -> 4.344 against three). Decode past 1,024 requests keeps one: there the extra clusters'
  // scans cost more than they take off its tokens' stores (bs 4096 3.853 -> 3.905 with three).
  const auto cluster_grid = [&](int cluster, int threads) {
    const int64_t tail_clusters = ceil_div(int64_t(cap.max_tokens), int64_t(cluster) * threads * short_q_max);
    const bool decode = !p.batch.q_per_request && p.batch.q_constant <= 1;
    const int64_t least = threads == cluster_threads ? 3 : decode ? 1 : short_store_parts;
    const int64_t want = tail_clusters > least ? tail_clusters : least;
    const int64_t most = sm_count / cluster > 1 ? sm_count / cluster : 1;
    return cluster * int(want < most ? want : most);
  };
  if (algorithm == path::automatic) {
    // Past single_launch_max_bs, a likely short step without page tables of up to cluster_max_bs
    // requests, in buffers of at most short_q_max tokens a request of that, takes one launch of
    // cluster_wide_kernel where the device-scan path takes three; a step that is not short after
    // all takes the kernel's general step in one cluster, the tokens at most short_q_max a thread.
    if (device.sm90 && bs > single_launch_max_bs && bs <= cluster_max_bs && !p.shape.wants_pages() && short_step &&
        int64_t(cap.max_tokens) <= int64_t(short_q_max) * cluster_max_bs) {
      const int cluster = cluster_blocks<wide_cluster_threads>(bs);
      return launch_kernel_in_clusters(full ? cluster_wide_kernel<Batch, Clamp, true>
                                            : cluster_wide_kernel<Batch, Clamp>,
                                       cluster_grid(cluster, wide_cluster_threads), cluster, wide_cluster_threads, 0,
                                       stream, pdl, vector_params_of(p), static_cast<request_totals*>(workspace));
    }
    algorithm = bs <= single_launch_max_bs ? path::single_launch : path::device_scan;
  }
  if (algorithm == path::single_launch) {
    const size_t smem = single_launch_smem(bs, p.shape.wants_pages());
    // Past 256 requests a thread of vectors_kernel holds up to 4 consecutive requests, which pays
    // for one token a request (decode) and for four in 16-byte stores (constant q of 4, aligned
    // outputs: target verify at bs 1024 5.21 -> 4.72 us a call in a graph of 10); per-request q
    // takes its tokens from a table in shared memory there (vectors_kernel<true>: draft extend at
    // bs 1024 5.34 -> 3.91 us), and other constant q the general path.
    const bool short_block =
        short_step && (bs <= block_threads ||
                       (!p.batch.q_per_request && (p.batch.q_constant <= 1 ||
                                                   (p.batch.q_constant == short_q_max && p.shape.tokens_aligned16))));
    // The grids of the kernels that rescan the batch in every warp or block, and of vectors_kernel.
    const int rescan_grid = rescan_blocks(sm_count, grid);
    const int vectors_grid = grid_blocks(sm_count, cap, bs, p.shape, vectors_blocks_per_sm);
    const auto launch_with = [&](auto kernel, int blocks, size_t bytes, const auto& params) {
      return launch_kernel(kernel, blocks, block_threads, bytes, stream, pdl, params);
    };
    const auto launch = [&](auto kernel, int blocks, size_t bytes) { return launch_with(kernel, blocks, bytes, p); };
    // The kernels of steps without page tables take vector_params.
    const auto launch_vectors = [&](auto kernel, int blocks, size_t bytes) {
      return launch_with(kernel, blocks, bytes, vector_params_of(p));
    };
    if (p.shape.wants_pages() && short_step && bs > lane_batch_max_bs && short_pages_fit<block_threads>(p.batch, p.shape))
      return launch(short_pages_kernel<Vec, Batch, Clamp>, grid, smem);
    if (p.shape.wants_pages() && p.batch.q_per_request && static_units(per_request_q<Batch>(p.batch), p.shape)) {
      const step_params<per_request_q<Batch>, Clamp> q{per_request_q<Batch>(p.batch), p.clamp, p.shape, p.out};
      // One request: a warp a slot of copy_single_request() at q_b up to short_q_max (single_slots())
      // where the GPU holds them, past block 0; worked out for that step alone.
      const int static_grid =
          bs == 1 ? grid_blocks(sm_count, cap, bs, p.shape, min_blocks_per_sm,
                                1 + ceil_div(int64_t(single_slots(short_q_max, p.shape)), int64_t(block_threads / 32)))
                  : grid;
      // The Full build for 16-byte-aligned rows only: the misaligned build (Vec false) stays one.
      if constexpr (Vec) {
        if (full) return launch_with(static_pages_kernel<Vec, per_request_q<Batch>, Clamp, true>, static_grid, smem, q);
      }
      return launch_with(static_pages_kernel<Vec, per_request_q<Batch>, Clamp>, static_grid, smem, q);
    }
    if (p.shape.wants_pages() && !p.batch.q_per_request && static_units(p.batch, p.shape)) {
      // A warp a slot where the GPU holds them (static_slots()), past block 0.
      const int64_t slot_blocks = 1 + ceil_div(int64_t(static_slots(bs, p.shape)), int64_t(block_threads / 32));
      return launch(static_pages_kernel<Vec, Batch, Clamp>,
                    grid_blocks(sm_count, cap, bs, p.shape, min_blocks_per_sm, slot_blocks), 0);
    }
    if (p.shape.wants_pages()) return launch(single_launch_kernel<Vec, Batch, Clamp>, grid, smem);
    if (bs <= lane_batch_max_bs && short_step)
      return launch_vectors(full ? lane_batch_kernel<true, 1, Batch, Clamp, true>
                                 : lane_batch_kernel<true, 1, Batch, Clamp>,
                            grid, 0);
    if (bs <= lane_batch_max_bs)
      return launch_vectors(full ? lane_batch_kernel<false, 1, Batch, Clamp, true>
                                 : lane_batch_kernel<false, 1, Batch, Clamp>,
                            rescan_grid, 0);
    if (bs <= 2 * lane_batch_max_bs && !short_step)
      return launch_vectors(full ? lane_batch_kernel<false, 2, Batch, Clamp, true>
                                 : lane_batch_kernel<false, 2, Batch, Clamp>,
                            rescan_grid, 0);
    // Prefill of 65-128 requests: the int32 block scan (narrow_block_step()) where four requests a
    // lane of the warp batch were (H200, a call in a graph of 10, five rounds: prefill bs 96 4.67
    // -> 4.46 us, bs 128 3.33 -> 3.26, with enable_pdl 4.34 -> 4.03 and 3.04 -> 2.79); up to 64 the
    // warp batch stays (bs 48 3.62 against 4.09, bs 64 4.10 against 5.02).
    if (bs <= lane_batch_max_requests * lane_batch_max_bs && !short_step)
      return launch_vectors(full ? narrow_step_kernel<1, Batch, Clamp, true> : narrow_step_kernel<1, Batch, Clamp>,
                            rescan_grid, smem);
    // One request a thread; up to 128 requests the general step is lane_batch_step(), with no
    // shared-memory table and no stack (vectors_kernel<.., Split = 4>), and the short step is
    // short_split_step(), two warps for each 32 requests. Per-request q takes the kernel built for
    // it (H200, a call in a graph of 10: draft extend bs 128 2.28 -> 2.04 us; the same code built
    // into the shared kernel behind a test of q_per_request gave 2.17, and cost the constant-q
    // steps of 128 requests 0.06-0.09 us), where groups of four warps split the tokens' outputs
    // (2.03 -> 1.92 us against the first three blocks). From 129 to 256 requests short steps take
    // groups of whole blocks (short_split_step<8>(), at least two blocks, the blocks past the first
    // splitting the tokens' outputs; the general step vectors_general()); against
    // short_block_step() (H200, bs 256, a call in a graph of 10, with enable_pdl in brackets):
    // decode 1.950 -> 1.863 us (1.480 -> 1.386), draft extend 2.361 -> 2.315 (1.884 -> 1.837),
    // target verify 2.139 -> 1.928 (1.625 -> 1.425), constant draft extend 2.160 -> 1.938 (1.630
    // -> 1.437).
    const int split_grid = vectors_grid > 2 ? vectors_grid : 2;
    if (short_block && bs <= block_threads && p.batch.q_per_request) {
      const step_params<per_request_q<Batch>, Clamp> q{per_request_q<Batch>(p.batch), p.clamp, p.shape, p.out};
      if (bs <= lane_batch_max_requests * lane_batch_max_bs)
        return launch_with(full ? vectors_kernel<false, 1, per_request_q<Batch>, Clamp, 4, true>
                                : vectors_kernel<false, 1, per_request_q<Batch>, Clamp, 4>,
                           vectors_grid, 0, vector_params_of(q));
      return launch_with(full ? vectors_kernel<false, 1, per_request_q<Batch>, Clamp, 8, true>
                              : vectors_kernel<false, 1, per_request_q<Batch>, Clamp, 8>,
                         split_grid, smem, vector_params_of(q));
    }
    if (short_block && bs <= lane_batch_max_requests * lane_batch_max_bs)
      return launch_vectors(full ? vectors_kernel<false, 1, Batch, Clamp, 4, true>
                                 : vectors_kernel<false, 1, Batch, Clamp, 4>,
                            vectors_grid, 0);
    if (short_block && bs <= block_threads)
      return launch_vectors(full ? vectors_kernel<false, 1, Batch, Clamp, 8, true>
                                 : vectors_kernel<false, 1, Batch, Clamp, 8>,
                            split_grid, smem);
    // Past 256 requests (512 for decode), where the GPU launches clusters: one cluster holds the
    // batch one request a thread (cluster_batch.cuh), and enough clusters for the tail at
    // short_q_max tokens a thread. H200, a call in a graph of 10, against vectors_kernel: target
    // verify bs 512 3.45 -> 2.65 us, bs 1024 4.47 -> 2.84; draft extend bs 512 3.22 -> 3.13, bs
    // 1024 3.70 -> 3.38; decode bs 1024 3.00 -> 2.74, but bs 512 2.20 -> 2.70 (one token a
    // request: two requests a thread cost less there than the cluster's barriers), in clusters
    // of cluster_grid().
    if (device.sm90 && short_step && bs > block_threads && bs <= cluster_threads * cluster_max_blocks &&
        (p.batch.q_per_request || p.batch.q_constant > 1 || bs > 2 * block_threads)) {
      const int cluster = cluster_blocks(bs);
      return launch_kernel_in_clusters(full && p.batch.q_per_request ? cluster_vectors_kernel<Batch, Clamp, true>
                                                                      : cluster_vectors_kernel<Batch, Clamp>,
                                       cluster_grid(cluster, cluster_threads),
                                       cluster, cluster_threads, single_launch_smem(bs, false), stream, pdl,
                                       vector_params_of(p));
    }
    if (short_block)
      return launch_vectors(full ? vectors_kernel<false, short_block_requests, Batch, Clamp, 0, true>
                                 : vectors_kernel<false, short_block_requests, Batch, Clamp>,
                            vectors_grid, smem);
    if (short_step && p.batch.q_per_request)  // past 256 requests: through a table (short_block_step())
      return launch_vectors(vectors_kernel<true, short_block_requests, Batch, Clamp>, vectors_grid, smem);
    // The rest (prefill past 128 requests, and any step no kernel above takes): the same (against
    // the int64 single launch, prefill of 256 requests 4.78 -> 3.78 us).
    if (bs <= block_threads)
      return launch_vectors(full ? narrow_step_kernel<1, Batch, Clamp, true> : narrow_step_kernel<1, Batch, Clamp>,
                            rescan_grid, smem);
    return launch_vectors(full ? narrow_step_kernel<narrow_block_requests, Batch, Clamp, true>
                               : narrow_step_kernel<narrow_block_requests, Batch, Clamp>,
                          rescan_grid, smem);
  }
  auto* table = static_cast<request_totals*>(workspace);
  void* scan_temp = static_cast<char*>(workspace) + table_bytes(cap.max_bs);
  size_t scan_bytes = 0;
  auto requests = thrust::make_transform_iterator(thrust::make_counting_iterator(0), request_loader<Batch, Clamp>{p});
  if (cudaError_t e = device_exclusive_sum(nullptr, scan_bytes, requests, table, bs, stream)) return e;
  if (scan_bytes > device_exclusive_sum_bytes_bound<request_totals>(cap.max_bs))
    return invalid_argument("attnmeta: internal: cub::DeviceScan needs more workspace than workspace_size() reserved");
  if (cudaError_t e = device_exclusive_sum(scan_temp, scan_bytes, requests, table, bs, stream)) return e;
  const bool runs = p.shape.wants_pages() && !p.batch.q_per_request && p.batch.q_constant == 1;  // decode: copy_unit_runs()
  return launch_kernel(runs ? table_fill_kernel<Vec, true, Batch, Clamp> : table_fill_kernel<Vec, false, Batch, Clamp>,
                       grid, block_threads, 0, stream, pdl, p, static_cast<const request_totals*>(table));
}

inline bool aligned16(const void* p, int64_t row_stride) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && row_stride % 4 == 0;
}
}  // namespace detail

/// Computes every requested output of one step (SPEC.md's table) on `stream`, with the clamp
/// policy `clamp` (clamp.hpp). Host-checkable mistakes return cudaErrorInvalidValue before anything
/// is launched, with last_error_message() naming the argument; device-side ones are clamped and
/// reported in out.status. path::automatic: one kernel for bs <= single_launch_max_bs, and for a
/// step without page tables of up to 4,096 requests of at most 4 tokens each (compute capability 9.0
/// and later, buffers of at most 16,384 tokens); otherwise cub::DeviceScan (two kernels) and one
/// fill kernel. Allocates nothing, never synchronises.
template <class SeqT, class QT, class IdxT, class Clamp>
cudaError_t compute_metadata(void* workspace, size_t workspace_bytes, const capacity& cap,
                             const ragged_batch<SeqT, QT, IdxT>& batch, const options& opt, const Clamp& clamp,
                             const metadata_outputs& outputs, cudaStream_t stream = 0) {
  if (cudaError_t e = detail::validate(batch, cap, opt, outputs)) return e;
  ATTNMETA_REQUIRE(workspace_bytes >= workspace_size(cap), "workspace_bytes is smaller than workspace_size(capacity)");
  ATTNMETA_REQUIRE(workspace != nullptr, "workspace is null");
  ATTNMETA_REQUIRE(opt.algorithm != path::single_launch || batch.bs <= single_launch_max_bs,
                   "options.algorithm = single_launch takes bs <= single_launch_max_bs");
  const metadata_outputs out = detail::resolve_strides(outputs, cap, opt);
  const detail::step_params<ragged_batch<SeqT, QT, IdxT>, Clamp> p{batch, clamp, detail::shape_of(cap, opt, out), out};
  const bool vec = out.page_table && detail::aligned16(out.page_table, out.page_table_row_stride) &&
                   detail::aligned16(batch.pages.req_to_token, batch.pages.row_stride);
  detail::launch_device device;
  if (cudaError_t e = detail::current_launch_device<ragged_batch<SeqT, QT, IdxT>, Clamp>(device)) return e;
  const bool pdl = opt.enable_pdl && device.sm90;
  return vec ? detail::launch_step<true>(workspace, cap, p, opt.algorithm, device, pdl, stream)
             : detail::launch_step<false>(workspace, cap, p, opt.algorithm, device, pdl, stream);
}

/// The same, with the clamp SPEC.md names: min(x, topk) for kpool == 1, the pooled clamp otherwise.
template <class SeqT, class QT, class IdxT>
cudaError_t compute_metadata(void* workspace, size_t workspace_bytes, const capacity& cap,
                             const ragged_batch<SeqT, QT, IdxT>& batch, const options& opt,
                             const metadata_outputs& out, cudaStream_t stream = 0) {
  if (opt.kpool == 1) return compute_metadata(workspace, workspace_bytes, cap, batch, opt, topk_clamp{opt.topk}, out, stream);
  return compute_metadata(workspace, workspace_bytes, cap, batch, opt, pooled_topk_clamp{opt.topk, opt.kpool}, out,
                          stream);
}

// The four modes. seq_lens, extend_lens: a `const T*` or a strided<T>, T = int32_t or int64_t.
// `pages` is needed only when out asks for page_table or block_table.

/// Decode: q_b = 1, kv'_b = seq_lens[b].
template <class Seq, class IdxT = int32_t>
cudaError_t decode(void* workspace, size_t workspace_bytes, const capacity& cap, int bs, Seq seq_lens,
                   const options& opt, const metadata_outputs& out, cudaStream_t stream = 0,
                   const page_source<IdxT>& pages = {}) {
  return compute_metadata(workspace, workspace_bytes, cap, decode_batch(bs, seq_lens).with_pages(pages), opt, out,
                          stream);
}

/// Target verify: q_b = D, kv'_b = seq_lens[b] + D.
template <class Seq, class IdxT = int32_t>
cudaError_t target_verify(void* workspace, size_t workspace_bytes, const capacity& cap, int bs, Seq seq_lens,
                          int draft_tokens, const options& opt, const metadata_outputs& out, cudaStream_t stream = 0,
                          const page_source<IdxT>& pages = {}) {
  return compute_metadata(workspace, workspace_bytes, cap,
                          target_verify_batch(bs, seq_lens, draft_tokens).with_pages(pages), opt, out, stream);
}

/// Draft extend: q_b = extend_lens[b] (a device array) or the constant D (an int), kv'_b = seq_lens[b].
template <class Seq, class Q, class IdxT = int32_t>
cudaError_t draft_extend(void* workspace, size_t workspace_bytes, const capacity& cap, int bs, Seq seq_lens,
                         Q extend_lens_or_d, const options& opt, const metadata_outputs& out, cudaStream_t stream = 0,
                         const page_source<IdxT>& pages = {}) {
  return compute_metadata(workspace, workspace_bytes, cap,
                          draft_extend_batch(bs, seq_lens, extend_lens_or_d).with_pages(pages), opt, out, stream);
}

/// Extend (prefill, chunked prefill): q_b = extend_lens[b], kv'_b = seq_lens[b].
template <class Seq, class Q, class IdxT = int32_t>
cudaError_t extend(void* workspace, size_t workspace_bytes, const capacity& cap, int bs, Seq seq_lens, Q extend_lens,
                   const options& opt, const metadata_outputs& out, cudaStream_t stream = 0,
                   const page_source<IdxT>& pages = {}) {
  return compute_metadata(workspace, workspace_bytes, cap, extend_batch(bs, seq_lens, extend_lens).with_pages(pages),
                          opt, out, stream);
}

}  // namespace attnmeta
