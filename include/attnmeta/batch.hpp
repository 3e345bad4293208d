// attnmeta/batch.hpp: how a caller describes one step's batch, its buffers and its capacity.
#pragma once

#include <type_traits>
#include <utility>

#include "config.hpp"

namespace attnmeta {

/// A read-only 1-D device (or, for the host backend, host) array with an element stride, as an
/// engine's tensor slice is. A bare pointer converts to stride 1. Element i is data[i * stride].
template <class T>
struct strided {
  using value_type = T;
  const T* data = nullptr;
  int64_t stride = 1;

  strided() = default;
  ATTNMETA_HD strided(const T* d, int64_t s = 1) : data(d), stride(s) {}  // NOLINT: implicit on purpose
  ATTNMETA_HD int64_t operator[](int64_t i) const { return static_cast<int64_t>(data[i * stride]); }
};

/// A strided view of a bare pointer (stride 1) or of a strided view: lets every function below take
/// either.
template <class T>
ATTNMETA_HD strided<T> as_strided(const T* p) { return strided<T>(p); }
template <class T>
ATTNMETA_HD strided<T> as_strided(strided<T> s) { return s; }
template <class P>
using strided_of = decltype(as_strided(std::declval<P>()));
template <class P>
using element_of = typename std::remove_const<typename std::remove_pointer<decltype(strided_of<P>::data)>::type>::type;

/// Where the page-table rows come from: row req_pool_indices[b] of req_to_token. Needed only when
/// a page table or a block table is asked for.
template <class IdxT = int32_t>
struct page_source {
  strided<IdxT> req_pool_indices;         ///< row of req_to_token that belongs to request b
  const int32_t* req_to_token = nullptr;  ///< [pool_rows, row_stride] token slots, page size 1
  int64_t row_stride = 0;                 ///< elements between req_to_token rows; >= page_table_width
  int64_t pool_rows = -1;                 ///< >= 0: req_pool_indices are checked against it
};

/// One step's batch of `bs` requests: where q_b, kv'_b and the page rows come from.
/// Build it with the mode functions below rather than by hand.
///   q_b   = extend_lens[b] if q_per_request, else q_constant
///   kv'_b = seq_lens[b] + kv_extra
/// SeqT, QT, IdxT: int32_t or int64_t, independently.
template <class SeqT, class QT = SeqT, class IdxT = int32_t>
struct ragged_batch {
  int bs = 0;
  strided<SeqT> seq_lens;
  strided<QT> extend_lens;     ///< per-request query tokens, read when q_per_request
  bool q_per_request = false;
  int q_constant = 1;          ///< q_b for every request when !q_per_request
  int kv_extra = 0;            ///< added to seq_lens[b]: D in target_verify, 0 elsewhere
  page_source<IdxT> pages;

  /// The same batch with its page source set (the page-table outputs need one).
  template <class I>
  ragged_batch<SeqT, QT, element_of<I>> with_pages(I req_pool_indices, const int32_t* req_to_token,
                                       int64_t row_stride, int64_t pool_rows = -1) const {
    ragged_batch<SeqT, QT, element_of<I>> b;
    b.bs = bs;
    b.seq_lens = seq_lens;
    b.extend_lens = extend_lens;
    b.q_per_request = q_per_request;
    b.q_constant = q_constant;
    b.kv_extra = kv_extra;
    b.pages = {as_strided(req_pool_indices), req_to_token, row_stride, pool_rows};
    return b;
  }
  template <class I>
  ragged_batch<SeqT, QT, I> with_pages(const page_source<I>& source) const {
    return with_pages(source.req_pool_indices, source.req_to_token, source.row_stride, source.pool_rows);
  }
};

/// Decode: one query token per request, kv'_b = seq_lens[b].
/// seq_lens, extend_lens: a `const T*` or a strided<T>, T = int32_t or int64_t.
template <class Seq>
ragged_batch<element_of<Seq>> decode_batch(int bs, Seq seq_lens) {
  ragged_batch<element_of<Seq>> b;
  b.bs = bs;
  b.seq_lens = as_strided(seq_lens);
  b.q_constant = 1;
  return b;
}

/// Speculative verify: D draft tokens per request, kv'_b = seq_lens[b] + D.
template <class Seq>
ragged_batch<element_of<Seq>> target_verify_batch(int bs, Seq seq_lens, int draft_tokens) {
  auto b = decode_batch(bs, seq_lens);
  b.q_constant = draft_tokens;
  b.kv_extra = draft_tokens;
  return b;
}

/// Draft extend with per-request lengths on the device: q_b = extend_lens[b], kv'_b = seq_lens[b].
template <class Seq, class Q, class = decltype(as_strided(std::declval<Q>()))>
ragged_batch<element_of<Seq>, element_of<Q>> draft_extend_batch(int bs, Seq seq_lens, Q extend_lens) {
  ragged_batch<element_of<Seq>, element_of<Q>> b;
  b.bs = bs;
  b.seq_lens = as_strided(seq_lens);
  b.extend_lens = as_strided(extend_lens);
  b.q_per_request = true;
  return b;
}

/// Draft extend with the constant D: q_b = D, kv'_b = seq_lens[b].
template <class Seq>
ragged_batch<element_of<Seq>> draft_extend_batch(int bs, Seq seq_lens, int draft_tokens) {
  auto b = decode_batch(bs, seq_lens);
  b.q_constant = draft_tokens;
  return b;
}

/// Extend (prefill, chunked prefill): q_b = extend_lens[b], kv'_b = seq_lens[b] (prefix included).
template <class Seq, class Q>
ragged_batch<element_of<Seq>, element_of<Q>> extend_batch(int bs, Seq seq_lens, Q extend_lens) {
  return draft_extend_batch(bs, seq_lens, extend_lens);
}

/// What the caller's buffers were sized for. Fixed for the life of a captured graph.
struct capacity {
  int max_bs = 0;             ///< largest bs the workspace serves
  int max_tokens = 0;         ///< rows of every per-token output (N may not exceed it)
  int page_table_width = 0;   ///< W: columns of page_table; block_table has ceil(W / page_size)
};

/// How the launcher splits the work. automatic picks single_launch for bs <= single_launch_max_bs;
/// past it, one kernel for a short step without page tables of up to 4,096 requests on compute
/// capability 9.0 and later (compute_metadata()), else device_scan.
enum class path { automatic, single_launch, device_scan };

/// Largest bs that path::automatic computes in a single launch (each block scans the batch itself).
constexpr int single_launch_max_bs = 1024;

/// The step's parameters that are not buffers.
struct options {
  int topk = 2048;     ///< sparse-attention key budget, > 0
  int kpool = 1;       ///< pooled clamp granule, >= 1; 1 is the plain min(x, topk)
  int page_size = 1;   ///< block_table's page size, >= 1
  path algorithm = path::automatic;
  /// Programmatic dependent launch (compute capability 9.0 and later, for kernels built for 9.0
  /// or later; ignored otherwise, e.g. for a build from 8.0 PTX on an H100): attnmeta's
  /// kernels are launched with cudaLaunchAttributeProgrammaticStreamSerialization, so each can
  /// start while the stream's previous kernel finishes (cub::DeviceScan's, on the device-scan path,
  /// keep their usual launch). Each waits for the previous kernel's memory (griddepcontrol.wait)
  /// before it reads or writes any buffer, then lets the stream's next kernel start
  /// (griddepcontrol.launch_dependents): a kernel launched after it with the same attribute must
  /// wait the same way before it reads these outputs. Changes no output; saves part of each
  /// launch's latency in a CUDA graph or on a stream (bench/RESULTS.md: about 0.4 us a call).
  bool enable_pdl = false;
};

/// The caller's output buffers (int32, device memory for the device launchers). Every pointer is
/// optional: null skips that output. Shapes are from `capacity` (T = max_tokens, W = width).
struct metadata_outputs {
  int32_t* cache_seqlens = nullptr;     ///< [bs]    kv'_b
  int32_t* cu_seqlens_k = nullptr;      ///< [bs+1]  0, inclusive scan of kv'_b
  int32_t* cu_seqlens_q = nullptr;      ///< [bs+1]  0, inclusive scan of q_b
  int32_t* token_to_request = nullptr;  ///< [T]     owning request; -1 in the tail
  int32_t* seqlens_expanded = nullptr;  ///< [T]     max(kv'_b - q_b + 1 + j, 0); 0 in the tail
  int32_t* topk_seqlens = nullptr;      ///< [T]     clamp(seqlens_expanded); 0 in the tail
  int32_t* cu_topk_seqlens = nullptr;   ///< [T+1]   0, inclusive scan of topk_seqlens
  int32_t* key_start = nullptr;         ///< [T]     cu_seqlens_k[b]; 0 in the tail
  int32_t* key_end = nullptr;           ///< [T]     key_start + seqlens_expanded; 0 in the tail
  int32_t* page_table = nullptr;        ///< [T, page_table_row_stride] row t: req_to_token row, min(kv', W) columns
  int64_t page_table_row_stride = 0;    ///< 0 means W; on an H100 rows 163840 apart copy slower than W + 256 (README)
  int32_t* block_table = nullptr;       ///< [T, block_table_row_stride] every page_size-th slot / page_size
  int64_t block_table_row_stride = 0;   ///< 0 means ceil(W / page_size)
  uint32_t* status = nullptr;           ///< optional sticky status word (status.hpp); bits are ORed in

  bool wants_pages() const { return page_table != nullptr || block_table != nullptr; }
};

}  // namespace attnmeta
