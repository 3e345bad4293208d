// attnmeta/detail/kernels.cuh: the kernels behind the launchers in attnmeta/metadata.cuh.
//
// Steps without page tables: up to 32 requests (64 when not short) take lane_batch_kernel, where
// every warp holds the batch's prefixes in its registers; larger short batches (short_batch.cuh)
// take vectors_kernel, one scan of the batch in every block (short_split_step(): up to 128 requests
// two warps for each 32 requests, 129-256 whole blocks, the tokens' outputs split between them), or
// past 256 requests on compute capability 9.0 and later cluster_vectors_kernel, one thread-block
// cluster holding the batch one request a thread (cluster_batch.cuh), and cluster_wide_kernel the
// same past 1,024 requests, up to 4,096 (path::automatic). Longer steps without page tables past 64
// requests (prefill) take narrow_step_kernel, whose blocks scan the batch in int32 where its
// lengths allow.
// The others end in fill_vectors() and copy_units(), which the blocks run over a table of
// per-request prefixes (request_totals at 0..bs): in shared memory for the single launch, where
// each block scans the batch itself; in the workspace for the device-scan path, where
// cub::DeviceScan built it. Steps of up to 32 requests with page tables take static_pages_kernel,
// which places their units without the table (copy_static_units(): a warp scans q_b when it is per
// request; copy_single_request() for one request of per-request q, a warp a chunk and a row
// pair), so that the copying does not wait for block 0's scan; short batches past 32 requests
// with page tables take short_pages_kernel, whose copying blocks scan only what the copy needs
// (short_pages.cuh). Most kernels of steps without page tables, and static_pages_kernel for
// per-request q, come built twice: with their outputs' null tests, and without them (Full,
// assume_outputs()) for a caller that asks for every output.
#pragma once

// The kernels use the warp reductions of compute capability 8.0 (__reduce_max_sync, __reduce_or_sync).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "attnmeta's kernels need compute capability 8.0 or later: compile metadata.cuh for sm_80 and newer only"
#endif

#include "../block_offsets.cuh"
#include "../lookup.hpp"
#include "../request.hpp"
#include "cluster_batch.cuh"
#include "lane_batch.cuh"
#include "short_batch.cuh"
#include "short_pages.cuh"
#include "launch.cuh"
#include "page_copy.cuh"

namespace attnmeta {
namespace detail {

constexpr int block_threads = 256;
constexpr int min_blocks_per_sm = 4;  // __launch_bounds__: the register budget
constexpr int vectors_blocks_per_sm = 3;  // vectors_kernel's
constexpr int scan_items_per_thread = 2;
/// The general step's block scan, for blocks of Threads threads.
template <int Threads>
using request_block_scan = block_offsets<request_totals, Threads, scan_items_per_thread>;
using request_scan = request_block_scan<block_threads>;
using request_warp_scan = warp_offsets<request_totals, scan_items_per_thread>;
using request_lane_scan = warp_offsets<request_totals, 1>;  // one request a lane: the least code
/// Batches up to this size are scanned by one warp (no block-wide scan).
constexpr int warp_scan_max_bs = request_warp_scan::tile_items;

/// Everything a kernel needs, passed by value.
template <class Batch, class Clamp>
struct step_params {
  Batch batch;
  Clamp clamp;
  step_shape shape;
  metadata_outputs out;  // strides resolved
};

/// The batch type whose fields a Batch (or a per_request_q<Batch>) holds.
template <class Batch>
struct batch_fields {
  using type = Batch;
};

/// The parameters of a step without page tables, in the order its kernels first read them: the
/// kernels of those steps (lane_batch_kernel, vectors_kernel, narrow_step_kernel and the cluster
/// kernels) take these instead of step_params and rebuild the step from them (step()), its page
/// source and page shape left at their defaults, which such a step never reads. A small step
/// waits for every 32-byte sector of parameters it touches, and step_params spreads what these
/// steps read over seven of its eight, between the page source, the page shape and the page
/// outputs (H200, a call in a graph of 10, five rounds: decode bs 1 1.60 -> 1.49 us, bs 128 1.89
/// -> 1.80, target verify bs 32 1.69 -> 1.65, draft extend bs 1024 3.03 -> 2.93; prefill of 16 and
/// 64 requests 1% slower, 2.35 -> 2.37 and 3.89 -> 3.93). The same for the small page-table
/// steps (the page fields after the lengths) made bs 1-8 up to 3% slower.
template <class Batch, class Clamp>
struct vector_params {
  decltype(Batch::seq_lens) seq_lens;
  int bs;
  int q_constant;
  int kv_extra;
  int max_tokens;  // capacity::max_tokens is an int
  Clamp clamp;
  decltype(Batch::extend_lens) extend_lens;
  bool q_per_request;
  bool tokens_aligned16;
  int32_t* cache_seqlens;
  int32_t* cu_seqlens_k;
  int32_t* cu_seqlens_q;
  int32_t* token_to_request;
  int32_t* seqlens_expanded;
  int32_t* topk_seqlens;
  int32_t* cu_topk_seqlens;
  int32_t* key_start;
  int32_t* key_end;
  uint32_t* status;

  /// The step of these parameters.
  __device__ __forceinline__ step_params<Batch, Clamp> step() const {
    typename batch_fields<Batch>::type b;
    b.bs = bs, b.seq_lens = seq_lens, b.extend_lens = extend_lens;
    b.q_per_request = q_per_request, b.q_constant = q_constant, b.kv_extra = kv_extra;
    step_shape shape;
    shape.max_tokens = max_tokens;
    shape.tokens_aligned16 = tokens_aligned16;
    metadata_outputs o;
    o.cache_seqlens = cache_seqlens, o.cu_seqlens_k = cu_seqlens_k, o.cu_seqlens_q = cu_seqlens_q;
    o.token_to_request = token_to_request, o.seqlens_expanded = seqlens_expanded, o.topk_seqlens = topk_seqlens;
    o.cu_topk_seqlens = cu_topk_seqlens, o.key_start = key_start, o.key_end = key_end, o.status = status;
    return {Batch(b), clamp, shape, o};
  }
};

/// The vector_params of a step without page tables.
template <class Batch, class Clamp>
vector_params<Batch, Clamp> vector_params_of(const step_params<Batch, Clamp>& p) {
  const metadata_outputs& o = p.out;
  return {p.batch.seq_lens,      p.batch.bs,
          p.batch.q_constant,    p.batch.kv_extra,
          int(p.shape.max_tokens), p.clamp,
          p.batch.extend_lens,   p.batch.q_per_request,
          p.shape.tokens_aligned16, o.cache_seqlens,
          o.cu_seqlens_k,        o.cu_seqlens_q,
          o.token_to_request,    o.seqlens_expanded,
          o.topk_seqlens,        o.cu_topk_seqlens,
          o.key_start,           o.key_end,
          o.status};
}

/// Whether any per-token output is asked for.
__device__ __forceinline__ bool wants_tokens(const metadata_outputs& out) {
  return out.token_to_request || out.seqlens_expanded || out.topk_seqlens || out.cu_topk_seqlens || out.key_start ||
         out.key_end;
}

/// Whether the caller passed every output a step can write: the nine 1-D outputs, and with `pages`
/// both page tables (the status word stays optional). The launchers of small steps then take a
/// kernel built with Full (assume_outputs()).
inline bool every_output(const metadata_outputs& out, bool pages) {
  return out.cache_seqlens && out.cu_seqlens_k && out.cu_seqlens_q && out.token_to_request && out.seqlens_expanded &&
         out.topk_seqlens && out.cu_topk_seqlens && out.key_start && out.key_end &&
         (!pages || (out.page_table && out.block_table));
}

/// With Full, tells the compiler that every output of every_output(out, Pages) is there, so that
/// the stores of a kernel built so go without their null tests (`if (out.x)`: a compare and a
/// branch an output on a small step's one path). Writers that are handed a part of the outputs
/// (token_share()) still test theirs. Without Full, nothing.
template <bool Full, bool Pages = false>
__device__ __forceinline__ void assume_outputs(const metadata_outputs& out) {
  if constexpr (Full) {
    __builtin_assume(out.cache_seqlens != nullptr);
    __builtin_assume(out.cu_seqlens_k != nullptr);
    __builtin_assume(out.cu_seqlens_q != nullptr);
    __builtin_assume(out.token_to_request != nullptr);
    __builtin_assume(out.seqlens_expanded != nullptr);
    __builtin_assume(out.topk_seqlens != nullptr);
    __builtin_assume(out.cu_topk_seqlens != nullptr);
    __builtin_assume(out.key_start != nullptr);
    __builtin_assume(out.key_end != nullptr);
    if constexpr (Pages) {
      __builtin_assume(out.page_table != nullptr);
      __builtin_assume(out.block_table != nullptr);
    }
  }
}

/// offsets[first + i] as a view of its own: a field view moves its pointer (one address computation
/// fewer a read). Every table of starts the kernels search is a field view.
template <class Struct, auto Member>
__device__ __forceinline__ field_view<Struct, Member> shift(const field_view<Struct, Member>& offsets, int64_t first) {
  return {offsets.rows + first};
}

/// Per-token outputs of a step of per-request q, tail included, from `starts` (indexable: the
/// first token of request b at b in [0, bs], non-decreasing, starts[bs] >= n): tokens [0, n) get
/// values(b, t), tokens [n, max_tokens) `tail`. Threads [thread, thread + threads) of the caller's
/// choosing, whole warps (thread - lane and threads multiples of 32, every lane calling), take 32
/// consecutive tokens at a time and find the owner of the warp's first token (warp_find_owner()).
/// When the warp's last token lies in the same request, as in most warps of a prefill, that is
/// every lane's; else the warp bounds the requests between by one ballot over the next 32 first
/// tokens (the whole search again only past 32 empty requests) and each lane searches only those.
/// Starts is a field_view (shift() narrows the search to the warp's requests).
template <class Starts, class Values>
__device__ __forceinline__ void fill_request_tokens(const metadata_outputs& out, const Starts& starts, int bs,
                                                    int64_t n, int64_t max_tokens, int64_t thread, int64_t threads,
                                                    const Values& values, const token_values& tail) {
  const int lane = int(threadIdx.x & 31);
#pragma unroll 1
  for (int64_t base = thread - lane; base < max_tokens; base += threads) {
    const int64_t t = base + lane;
    int b = 0;
    if (base < n) {
      const int64_t last = base + 31 < n ? base + 31 : n - 1;
      b = warp_find_owner(starts, bs, base);
      if (last >= starts[b + 1]) {
        // Requests b .. b + span - 1 hold the warp's tokens: at most 32 unless some are empty, so
        // one ballot over the next 32 first tokens, and the whole search only past them.
        const auto after = shift(starts, b);
        const bool le = b + lane + 1 < bs && after[lane + 1] <= last;
        const int next = __popc(__ballot_sync(0xffffffffu, le));
        const int span = 1 + (next < 32 ? next : warp_find_owner(after, bs - b, last));
        if (t < n) b += find_owner(after, span, t);
      }
    }
    if (t < n)
      store_token(out, t, values(b, t));
    else if (t < max_tokens)
      store_token(out, t, tail);
  }
}

/// Per-request and per-token outputs (tail included), threads [thread, thread + threads) of the
/// caller's choosing taking them in turn, whole warps (thread - lane and threads multiples of 32,
/// every lane calling). `table` holds the exclusive prefixes at 0..bs. With Narrow, a step whose
/// sums fit int32 takes its tokens' values in int32 (the kernels of short steps, which come here
/// only when a step is not short, leave that code out).
template <bool Narrow, class Batch, class Clamp>
__device__ __forceinline__ void fill_vectors(const step_params<Batch, Clamp>& p, const request_totals* table,
                                             int64_t thread, int64_t threads) {
  const int bs = p.batch.bs;
  const request_totals total = table[bs];
  const metadata_outputs& out = p.out;

#pragma unroll 1
  for (int64_t i = thread; i <= bs; i += threads)
    store_request(out, int(i), bs, table[i], table[i < bs ? i + 1 : i]);

  if (out.cu_topk_seqlens && thread == 0) out.cu_topk_seqlens[0] = 0;
  if (!wants_tokens(out)) return;
  const int64_t n = total.tokens < p.shape.max_tokens ? total.tokens : p.shape.max_tokens;
  const field_view<request_totals, &request_totals::tokens> starts{table};
  // The token loops, over token t of request b's values: in int32 when the step's sums allow
  // (token_values_narrow(): prefill bs 64 12% faster), else token_values_at().
  const auto tokens = [&](const auto& values) {
    if (!p.batch.q_per_request) {  // request b's tokens start at b * q: no search
      const int q = p.batch.q_constant;  // > 0 when n > 0; t < max_tokens <= INT32_MAX
#pragma unroll 1
      for (int64_t t = thread; t < p.shape.max_tokens; t += threads) {
        if (t < n)
          store_token(out, t, values(int(t) / q, t));
        else
          store_token(out, t, tail_token_values(total));
      }
      return;
    }
    fill_request_tokens(out, starts, bs, n, p.shape.max_tokens, thread, threads, values, tail_token_values(total));
  };
  if (Narrow && narrow_totals(total))
    tokens([&](int b, int64_t t) {
      return token_values_narrow(table[b], table[b + 1], b, int32_t(t - table[b].tokens), p.clamp);
    });
  else
    tokens([&](int b, int64_t t) { return token_values_at(table[b], table[b + 1], b, t - table[b].tokens, p.clamp); });
}

/// Page-table units placed by the scanned table (units at 0..bs), one a warp over the grid.
/// `rows`, if not null, holds each request's req_to_token row (else it is read from
/// req_pool_indices). A table in shared memory (SharedTable) is searched by warp_find_owner(); one in
/// global memory by find_owner(), whose first reads every warp shares in L1 (a warp's 32 reads a
/// level cost the copies of 4,096 requests up to 6%).
template <bool Vec, bool SharedTable, class Batch, class Clamp>
__device__ __forceinline__ void copy_units(const step_params<Batch, Clamp>& p, const request_totals* table,
                                           const int32_t* rows) {
  const int bs = p.batch.bs;
  const request_totals total = table[bs];
  const int64_t thread = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t threads = int64_t(gridDim.x) * blockDim.x;
  const metadata_outputs& out = p.out;
  const field_view<request_totals, &request_totals::units> first_unit{table};
  const auto& pages = p.batch.pages;
  const page_divisor pd{int(p.shape.page_size), p.shape.page_shift};
  // One unit a warp. When there are fewer units than warps, consecutive units go to different
  // blocks, so a small step's copying spreads over every SM instead of queueing on a few, and the
  // order is reversed so that block 0, which also writes the per-request outputs, gets units last.
  const int64_t warps = threads >> 5;
  const int64_t warp =
      total.units < warps ? warps - 1 - (int64_t(threadIdx.x >> 5) * gridDim.x + blockIdx.x) : thread >> 5;
#pragma unroll 1
  for (int64_t u = warp; u < total.units; u += warps) {
    const int b = SharedTable ? warp_find_owner(first_unit, bs, u) : find_owner(first_unit, bs, u);
    const request_totals at = table[b];
    const request_totals next = table[b + 1];
    page_unit unit;
    unit.cols = int(p.shape.columns(next.kv - at.kv));
    const int64_t chunks = p.shape.column_chunks(unit.cols);
    const int64_t last = next.tokens < p.shape.max_tokens ? next.tokens : p.shape.max_tokens;
    place_unit(unit, u - at.units, chunks, at.tokens, last);
    const int64_t row = rows ? rows[b] : int64_t(pages.req_pool_indices[b]);
    unit.src = pages.req_to_token + row * pages.row_stride;
    copy_unit<Vec>(out, p.shape, pd, unit);
  }
}

/// The page-table units of the device-scan path for decode (one token a request), each warp taking
/// a run of ceil(units / warps) consecutive units: one search of the table in global memory a run,
/// and a request's entries and row read once, where the run passes into it. A decode unit writes
/// one row, so a search of log2(bs) dependent reads before each unit (copy_units()) costs about as
/// much as its copy (H200, decode bs 4096, kv 1K-32K: 204 us with the search, 166 with runs, 155
/// for a bare copy of the same rows); runs cost the steps whose units write several rows more than
/// they save (runs of 4 and 8 units: target verify 3-8% slower), so only decode takes them.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_unit_runs(const step_params<Batch, Clamp>& p, const request_totals* table) {
  const int bs = p.batch.bs;
  const int64_t units = table[bs].units;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  const int64_t run = (units + warps - 1) / warps;
  int64_t u = ((int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5) * run;
  const int64_t end = u + run < units ? u + run : units;
  if (u >= end) return;
  const field_view<request_totals, &request_totals::units> first_unit{table};
  const page_divisor pd{int(p.shape.page_size), p.shape.page_shift};
  int b = find_owner(first_unit, bs, u);
  request_totals at = table[b], next = table[b + 1];
  // Request b's columns, chunks, last row and req_to_token row, worked out once a request.
  page_unit unit;
  int64_t last = 0;
  int chunks = 1;  // < 2^22
  const auto enter = [&] {
    unit.cols = int(p.shape.columns(next.kv - at.kv));
    chunks = p.shape.column_chunks(unit.cols);
    last = next.tokens < p.shape.max_tokens ? next.tokens : p.shape.max_tokens;
    unit.src = p.batch.pages.req_to_token + int64_t(p.batch.pages.req_pool_indices[b]) * p.batch.pages.row_stride;
  };
  enter();
#pragma unroll 1
  for (; u < end; ++u) {
    if (u >= next.units) {
      do at = next, next = table[++b + 1];  // past requests of no units
      while (u >= next.units);
      enter();
    }
    place_unit(unit, u - at.units, chunks, at.tokens, last);
    copy_unit<Vec>(p.out, p.shape, pd, unit);
  }
}

/// A batch whose q_b come from the device, known as such when the kernel is compiled: small steps
/// of per-request q with page tables take a static_pages_kernel built for it, so that the kernels
/// of the other steps carry none of its code (with it, constant-q steps spilled registers and ran
/// up to 19% slower).
template <class Batch>
struct per_request_q : Batch {
  static constexpr bool q_per_request = true;
  ATTNMETA_HD explicit per_request_q(const Batch& batch) : Batch(batch) {}
};
template <class Batch>
struct batch_fields<per_request_q<Batch>> {
  using type = Batch;
};
template <class Batch>
constexpr bool is_per_request_q = false;
template <class Batch>
constexpr bool is_per_request_q<per_request_q<Batch>> = true;

/// Small batches whose page rows a warp can place from the batch alone: request b's rows start at
/// b * q (constant q up to one row group), or at the sum of the q_a before it, which a warp scans
/// in its registers (per_request_q batches). The units need no table, so the blocks other than
/// block 0 copy them at once instead of waiting for its scan.
constexpr int static_units_max_bs = 32;
constexpr int64_t static_units_max_tokens = 4 * block_threads;  // block 0 alone writes the vectors
template <class Batch>
ATTNMETA_HD bool static_units(const Batch& batch, const step_shape& shape) {
  return shape.wants_pages() && batch.bs <= static_units_max_bs && shape.max_tokens <= static_units_max_tokens &&
         (is_per_request_q<Batch> ||
          (!batch.q_per_request && batch.q_constant >= 1 && batch.q_constant <= page_unit_rows));
}

/// ceil(log2(n)) for n >= 1 (0 for n <= 1).
ATTNMETA_HD int ceil_log2(int n) {
#ifdef __CUDA_ARCH__
  return n > 1 ? 32 - __clz(n - 1) : 0;
#else
  int l = 0;
  while ((int64_t(1) << l) < n) ++l;
  return l;
#endif
}

/// (chunk, request) slots of a constant-q static_units() step when each warp takes one: every
/// chunk of W holds bs requests rounded up to a power of two, so that a slot splits by a shift and
/// a mask. copy_static_units() takes them so when the copying warps are at least as many; the
/// launcher sizes the grid for it. Against a division by bs before the warp's first read (H200, a
/// call in a graph of 10): decode bs 1 2.12 -> 2.07 us, target verify bs 1 2.35 -> 2.27, constant
/// draft extend bs 1 2.29 -> 2.24, bs 8 2.71 -> 2.62.
ATTNMETA_HD int static_slots(int bs, const step_shape& shape) {
  return shape.column_chunks(int(shape.width)) << ceil_log2(bs);  // chunks < 2^22, bs <= 32
}

/// s / d, with s % d in `rem`, for s >= 0 and d > 0: unsigned, the shortest division.
__device__ __forceinline__ int divide_slot(int s, int d, int& rem) {
  const int q = int(unsigned(s) / unsigned(d));
  rem = s - q * d;
  return q;
}

/// The page-table units of a static_units() step, one a warp, warps [warp, warp + warps) of the
/// caller's choosing taking them in turn. Constant q, when every (chunk, request) slot that can be
/// real has a warp of its own: each warp reads its slot's request itself (the fewest instructions
/// before the first copy). Otherwise lane b reads request b once (per-request q: a warp scan gives
/// its first row), the slots s = (group * chunks + chunk) * bs + b stop at the batch's most chunks
/// and row groups, and each slot takes its request's row, columns and rows from lane b by shuffles:
/// no warp spends an iteration reading lengths for a slot past every request's end. Block 0
/// reports the status bits.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_static_units(const step_params<Batch, Clamp>& p, int warp, int warps) {
  const int bs = p.batch.bs;  // <= 32
  const int max_tokens = int(p.shape.max_tokens);  // <= static_units_max_tokens
  const page_divisor pd{int(p.shape.page_size), p.shape.page_shift};
  // Rows [row0, row0 + rows) of request row `row`, chunk `chunk`, none at max_tokens or past it.
  const auto copy = [&](int chunk, int cols, int64_t row, int64_t row0, int rows) {
    const int64_t left = p.shape.max_tokens - row0;
    if (left <= 0) return;
    page_unit unit;
    unit.cols = cols;
    unit.row0 = row0;
    unit.rows = left < rows ? int(left) : rows;
    unit.chunk = chunk;
    unit.src = p.batch.pages.req_to_token + row * p.batch.pages.row_stride;
    copy_unit<Vec>(p.out, p.shape, pd, unit);
  };
  // Request b's req_to_token row (-1 when its pool index is bad), its columns min(kv'_b, W) and its
  // q_b, at most max_tokens.
  const auto read = [&](int b, int64_t& row, int& cols, int& q) {
    uint32_t ignored = 0;  // block 0 reports the bits
    const int64_t pool_index = p.batch.pages.req_pool_indices[b];
    const request_lengths len = lengths_of(p.batch, b, ignored);
    cols = int(p.shape.columns(len.kv));
    q = int(len.q < max_tokens ? len.q : max_tokens);
    row = page_row(p.batch, pool_index, ignored);
  };
  const int lane = int(threadIdx.x & 31);
  if constexpr (!is_per_request_q<Batch>) {
    const int q = p.batch.q_constant;
    const int log2_bs = ceil_log2(bs);
    const int all_slots = static_slots(bs, p.shape);
    if (all_slots <= warps) {
      const int b = warp & ((1 << log2_bs) - 1);  // slots of 2^log2_bs requests: no division
      const int chunk = warp >> log2_bs;
      if (warp >= all_slots || b >= bs) return;
      int64_t row;
      int cols, ignored;
      read(b, row, cols, ignored);
      if (row >= 0 && chunk < p.shape.column_chunks(cols)) copy(chunk, cols, row, int64_t(b) * q, q);
      return;
    }
    int64_t row = -1;
    int lane_cols = 0, ignored;
    if (lane < bs) read(lane, row, lane_cols, ignored);
    const int lane_chunks = row >= 0 ? p.shape.column_chunks(lane_cols) : 0;
    const int slots = bs * int(__reduce_max_sync(0xffffffffu, unsigned(lane_chunks)));
#pragma unroll 1
    for (int s = warp; s < slots; s += warps) {
      int b;
      const int chunk = divide_slot(s, bs, b);
      const int cols = __shfl_sync(0xffffffffu, lane_cols, b);
      const int chunks = __shfl_sync(0xffffffffu, lane_chunks, b);
      const int64_t src_row = __shfl_sync(0xffffffffu, row, b);
      if (chunk < chunks) copy(chunk, cols, src_row, int64_t(b) * q, q);
    }
  } else {
    int64_t lane_row = -1;
    int lane_cols = 0, lane_q = 0;
    if (lane < bs) read(lane, lane_row, lane_cols, lane_q);
    int inclusive = lane_q;  // sums of at most 32 q_b <= max_tokens: int
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      const int up = __shfl_up_sync(0xffffffffu, inclusive, d);
      if (lane >= d) inclusive += up;
    }
    const int lane_rows = (inclusive - lane_q) << 16 | lane_q;  // first row and q_b, both <= 1024
    const int lane_chunks = lane_row >= 0 ? p.shape.column_chunks(lane_cols) : 0;
    const int chunks = int(__reduce_max_sync(0xffffffffu, unsigned(lane_chunks)));
    const int groups = int(__reduce_max_sync(0xffffffffu, unsigned(ceil_div(lane_q, int(page_unit_rows)))));
    // slots * 512 <= 32 * (table columns + 511) * max_tokens / 16: int, unless the table that is
    // written (max_tokens rows of its columns, 4 bytes each) took terabytes.
    const int slots = bs * chunks * groups;
#pragma unroll 1
    for (int s = warp; s < slots; s += warps) {
      int b;
      const int unit = divide_slot(s, bs, b);  // group * chunks + chunk
      int chunk = unit, row0 = 0;
      if (groups > 1) row0 = divide_slot(unit, chunks, chunk) * int(page_unit_rows);
      const int b_chunks = __shfl_sync(0xffffffffu, lane_chunks, b);
      const int cols = __shfl_sync(0xffffffffu, lane_cols, b);
      const int rows = __shfl_sync(0xffffffffu, lane_rows, b);
      const int32_t src_row = __shfl_sync(0xffffffffu, int32_t(lane_row), b);
      const int b_q = rows & 0xffff;
      if (chunk < b_chunks && row0 < b_q)
        copy(chunk, cols, src_row, (rows >> 16) + row0,
             b_q - row0 < int(page_unit_rows) ? b_q - row0 : int(page_unit_rows));
    }
  }
}

/// Page-table rows a copying warp of a one-request static_units() step writes when the request has
/// at most short_q_max tokens: two, so that a request of four leaves each chunk from two SMs
/// (single_slots()). A longer request takes row groups of page_unit_rows, as copy_static_units()
/// does, so that each chunk of its row is read once a group.
constexpr int single_request_rows = 2;

/// Slots of a one-request static_units() step whose q is at most `q` (<= short_q_max) when each
/// copying warp takes one: every chunk of W holds ceil(q / 2) row pairs rounded up to a power of
/// two, so that a slot splits by a shift and a mask (copy_single_request()). The launcher sizes the
/// grid for it.
ATTNMETA_HD int single_slots(int64_t q, const step_shape& shape) {
  const int64_t pairs = ceil_div(q < shape.max_tokens ? q : shape.max_tokens, single_request_rows);
  return shape.column_chunks(int(shape.width)) << ceil_log2(int(pairs > 1 ? pairs : 1));
}

/// The page-table units of a static_units() step of one request (static_pages_kernel takes it for
/// per-request q at bs 1), warps [warp, warp + warps) of the caller's choosing taking them in turn:
/// every warp reads the request itself (no lane holds it for the others, no scan, no shuffle), and
/// slot s writes row group s % 2^k of chunk s >> k, 2^k the row groups rounded up to a power of
/// two; a group is a row pair (single_request_rows) when the request is short, else page_unit_rows
/// rows. Block 0 reports the status bits. Cost: the request's two or three reads, then one unit a
/// slot.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void copy_single_request(const step_params<Batch, Clamp>& p, int warp, int warps) {
  static_assert(single_request_rows == 2 && page_unit_rows == 16, "the group shifts below");
  uint32_t ignored = 0;  // block 0 reports the bits
  const int64_t pool_index = p.batch.pages.req_pool_indices[0];
  const request_lengths len = lengths_of(p.batch, 0, ignored);
  const int64_t row = page_row(p.batch, pool_index, ignored);
  if (row < 0) return;
  const int cols = int(p.shape.columns(len.kv));
  const int q = int(len.q < p.shape.max_tokens ? len.q : p.shape.max_tokens);  // <= static_units_max_tokens
  const int group_shift = q <= short_q_max ? 1 : 4;  // log2 of single_request_rows or page_unit_rows
  const int group_rows = 1 << group_shift;
  const int groups = (q + group_rows - 1) >> group_shift;
  const int log2_groups = ceil_log2(groups > 1 ? groups : 1);
  // slots: below 2^22 chunks (cols < 2^31) times 64 groups (q <= 1,024): an int
  const int slots = p.shape.column_chunks(cols) << log2_groups;
  const page_divisor pd{int(p.shape.page_size), p.shape.page_shift};
#pragma unroll 1
  for (int s = warp; s < slots; s += warps) {
    const int group = s & ((1 << log2_groups) - 1);
    if (group >= groups) continue;
    page_unit unit;
    unit.src = p.batch.pages.req_to_token + row * p.batch.pages.row_stride;
    unit.row0 = int64_t(group) << group_shift;
    unit.rows = q - int(unit.row0) < group_rows ? q - int(unit.row0) : group_rows;
    unit.chunk = s >> log2_groups;
    unit.cols = cols;
    copy_unit<Vec>(p.out, p.shape, pd, unit);
  }
}

/// ORs `flags` into the caller's status word, if there is one.
__device__ __forceinline__ void publish(uint32_t* status, uint32_t flags) {
  if (status && flags) atomicOr(status, flags);
}

/// Warp 0's share of a batch held one request a lane, past the per-request entries: entry bs and
/// cu_topk_seqlens[0] from the totals, and the status bits of every lane with the totals' own.
/// Every lane of the warp calls it.
__device__ __forceinline__ void store_lane_totals(const metadata_outputs& out, int bs, const request_totals& total,
                                                  uint32_t flags, int64_t max_tokens) {
  flags = __reduce_or_sync(0xffffffffu, flags);
  if ((threadIdx.x & 31) == 0) {
    store_request(out, bs, bs, total, total);
    if (out.cu_topk_seqlens) out.cu_topk_seqlens[0] = 0;
    publish(out.status, flags | totals_flags(total, max_tokens));
  }
}

/// A short batch of at most 32 requests (short_batch.cuh) held by every warp, request b in lane b:
/// warp 0 writes the per-request outputs and publishes `flags` (the lane's request's bits and any
/// the caller adds), warp 1 (warp 0 in a one-warp grid) each request's tokens from its own lane,
/// and every warp its share of the tail. All in int32: 15 shuffles and a few instructions a store
/// beyond reading the batch.
template <class Batch, class Clamp>
__device__ __forceinline__ void short_lane_step(const step_params<Batch, Clamp>& p, const short_request& r,
                                                uint32_t flags, int warp, int warps) {
  const int bs = p.batch.bs;
  const int lane = int(threadIdx.x & 31);
  const short_lane_scan s = scan_short_lanes(r, bs);
  const short_totals at = s.through - totals_of(r);
  const metadata_outputs& out = p.out;
  const int32_t max_tokens = int32_t(p.shape.max_tokens);  // capacity::max_tokens is an int
  if (warp == 0) {
    if (lane < bs) store_short_entries(out, lane, r, s.through);
    if (lane == 0) {
      store_short_first(out);
      if (s.total.tokens > max_tokens) flags |= status_tokens_over_capacity;
    }
    publish(out.status, flags);
  }
  if (!wants_tokens(out)) return;
  if (warp == (warps > 1 ? 1 : 0) && lane < bs)
    store_short_tokens(out, lane, r, at, max_tokens, false);
  store_short_tail(out, s.total.tokens < max_tokens ? s.total.tokens : max_tokens, max_tokens, s.total.topk, warp,
                   warps);
}

/// The whole step of a batch of at most R * lane_batch_max_bs requests with no page table, by
/// `warps` warps (the grid's, or one block's), the calling one numbered `warp`, with no shared
/// memory and no barrier: every warp reads and scans the batch in its registers
/// (lane_batch.cuh), lane L holding requests R * L .. R * L + R - 1. With TryShort (R = 1), a small
/// short batch (short_batch.cuh) takes short_lane_step(); any other batch scans in int64 (in int32
/// when its lanes' totals are small and not TryShort), warp 0 writes the per-request outputs and
/// the status, and every warp takes 32 tokens at a time, finding their request by a ballot a
/// register for the first and the last, by binary lifting only where they differ; each request's
/// token_base is worked out once, in its lane (in int32 when the step's sums fit). Four requests a
/// lane take up to 96 registers: two blocks an SM, as many as rescan_blocks() launches (with four
/// an SM they spilled, and prefill bs 128 took 3.47 us a call where it takes 3.32).
template <bool TryShort, int R, class Batch, class Clamp>
__device__ __forceinline__ void lane_batch_step(const step_params<Batch, Clamp>& p, int64_t warp, int64_t warps) {
  static_assert(!TryShort || R == 1, "the short path holds one request a lane");
  const int bs = p.batch.bs;
  const int lane = int(threadIdx.x & 31);
  if (TryShort) {
    bool fits;
    const short_request r = short_request_of(p.batch, p.clamp, lane, short_len_limit_lanes, fits);
    if (__all_sync(0xffffffffu, fits)) {
      short_lane_step(p, r, r.flags, int(warp), int(warps));
      return;
    }
  }
  uint32_t flags = 0;
  lane_request r[R];
  request_totals own;
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const int b = R * lane + k;
    r[k] = lane_request_of(b < bs ? lengths_of(p.batch, b, flags) : request_lengths{0, 0}, p.clamp);
    own = own + r[k].own;
  }
  request_totals at;  // of the lane's first request
  const request_totals total = TryShort ? scan_lanes(own, at) : scan_lanes_small(own, at);
  const metadata_outputs& out = p.out;
  const int64_t max_tokens = p.shape.max_tokens;
  token_base<int64_t> bases[R];
#pragma unroll
  for (int k = 0; k < R; ++k) {
    const request_totals next = at + r[k].own;
    if (warp == 0 && R * lane + k < bs) store_request(out, R * lane + k, bs, at, next);
    bases[k] = token_base_of(r[k], at);
    at = next;
  }
  if (warp == 0) store_lane_totals(out, bs, total, flags, max_tokens);
  if (!wants_tokens(out)) return;
  const int64_t n = total.tokens < max_tokens ? total.tokens : max_tokens;
  // Every warp takes 32 tokens at a time, the bases in T: int32 when the step's sums fit (not
  // TryShort: a short step with a long length).
  const auto tokens = [&](const auto (&base)[R]) {
    using T = decltype(base[0].first_token);
    for (int64_t from = warp * 32; from < max_tokens; from += warps * 32) {
      const int64_t t = from + lane;
      // The owners of the warp's first and last live tokens by a ballot a register (requests
      // past bs hold the total); binary lifting only when they differ. Past n (unused): any request.
      const T last_live = T(from + 31 < n ? from + 31 : n - 1);
      int b_first = -1, b_last = -1;
#pragma unroll
      for (int k = 0; k < R; ++k) {
        const bool real = R * lane + k < bs;
        b_first += __popc(__ballot_sync(0xffffffffu, real && base[k].first_token <= T(from)));
        b_last += __popc(__ballot_sync(0xffffffffu, real && base[k].first_token <= last_live));
      }
      const bool one = b_first == b_last;
      T first[R];
#pragma unroll
      for (int k = 0; k < R; ++k) first[k] = base[k].first_token;
      const int b = one ? (b_first > 0 ? b_first : 0) : lane_batch_owner<R, T>(first, bs, T(t));
      const token_base<T> v = from_request<R, T>(base, b, one);
      if (t < n)
        store_token(out, t, token_values_from(v, b, T(t) - v.first_token, p.clamp));
      else if (t < max_tokens)
        store_token(out, t, tail_token_values(total));
    }
  };
  if (!TryShort && narrow_totals(total)) {
    token_base<int32_t> narrow[R];
#pragma unroll
    for (int k = 0; k < R; ++k) narrow[k] = narrow_base(bases[k]);
    tokens(narrow);
  } else {
    tokens(bases);
  }
}

/// lane_batch_step() by every warp of the grid.
template <bool TryShort, int R, class Batch, class Clamp>
__device__ __forceinline__ void lane_batch_grid_step(const step_params<Batch, Clamp>& p) {
  lane_batch_step<TryShort, R>(p, (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5,
                               (int64_t(gridDim.x) * blockDim.x) >> 5);
}

/// lane_batch_grid_step() as a kernel.
template <bool TryShort, int R, class Batch, class Clamp, bool Full = false>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) lane_batch_kernel(vector_params<Batch, Clamp> v) {
  const step_params<Batch, Clamp> p = v.step();
  assume_outputs<Full>(p.out);
  static_assert(R <= 2, "one or two requests a lane (four needed launch bounds of their own)");
  await_previous_grid();
  lane_batch_grid_step<TryShort, R>(p);
}

/// Block 0 of a static_units() step whose q is at most short_q_max: when the batch is small
/// (short_batch.cuh), warps 0 and 1 write the vectors by short_lane_step() (no scan into shared
/// memory, no barrier), then, when block 0 is the whole grid, every warp copies units. Returns
/// false, having written nothing, when the batch is not small; every warp of block 0 reads the
/// batch and reaches the same answer.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ bool short_first_block(const step_params<Batch, Clamp>& p) {
  const int bs = p.batch.bs;
  const int lane = int(threadIdx.x & 31);
  const int warp = int(threadIdx.x >> 5);
  bool fits;
  // The pool index is read in short_request_of(), in the same branch as the lengths: read apart
  // from them, its read or its widening to 64 bits was placed between the lengths' reads and so
  // waited a round trip of its own (H200, a call in a graph of 10: decode bs 1 with page tables
  // 2.06 -> 2.01 us, with enable_pdl 1.56 -> 1.49).
  int64_t pool_index = -1;
  const short_request r = short_request_of(p.batch, p.clamp, lane, short_len_limit_lanes, fits, &pool_index);
  if (!__all_sync(0xffffffffu, fits)) return false;
  uint32_t flags = r.flags;
  paged_request_row(p.batch, p.shape, pool_index, request_lengths{r.q, r.kv}, flags);  // its status bits
  if (warp < 2) short_lane_step(p, r, flags, warp, 2);
  if (gridDim.x == 1) copy_static_units<Vec>(p, warp, block_threads / 32);
  return true;
}

/// Most requests a thread holds in short_block_step(): a block's threads hold single_launch_max_bs.
constexpr int short_block_requests = 4;
static_assert(block_threads * short_block_requests >= single_launch_max_bs, "a block holds the whole batch");
static_assert(short_q_max * single_launch_max_bs < short_unfit_tokens &&
                  int64_t(block_threads) * short_unfit_tokens <= INT32_MAX,
              "short_unfit_tokens: above a short block's tokens, and a block of them fits int32");

/// The first tokens of a table of short_totals, indexable like the offsets of lookup.hpp.
using short_starts = field_view<short_totals, &short_totals::tokens>;

/// The block scan of short_block_step(): one short_totals a thread.
using short_block_scan = cub::BlockScan<short_totals, block_threads, cub::BLOCK_SCAN_WARP_SCANS>;

/// A short batch (short_batch.cuh) held by every block, in int32: each thread reads
/// `per` = ceil(bs / 256) consecutive requests (at most Per, known when compiled) and one
/// block scan gives their prefixes; of the `grid` blocks taking part, block k writes the outputs of
/// each thread's k-th request (blocks k, k + G, ... when G < per), every warp its share of the
/// tail, block 0 entry 0 and the status. (The launcher sends batches of one request a thread to
/// short_split_step(), and this step gets Per = 4, past 256 requests.) Returns false, having
/// written nothing, when the batch is not short or a length passes short_len_limit(bs) (or is
/// negative). Every thread of the block calls it. Cost: one block scan, `per` reads and up to
/// 4 * per tokens a thread. Threads write requests `per` apart, so it pays for per > 1 only with
/// one token a request (decode) or four in 16-byte stores (constant q of 4); with Table and per > 1
/// (per-request q past 256 requests) the prefixes go to a table in dynamic shared memory (bs + 1
/// short_totals) instead and the tokens are taken 32 at a time from it (fill_request_tokens()): a
/// third barrier and a search a warp.
template <bool Table, int Per, class Batch, class Clamp>
__device__ __forceinline__ bool short_block_step(const step_params<Batch, Clamp>& p,
                                                 typename short_block_scan::TempStorage& storage, int block, int grid) {
  static_assert(Per > 1 && Per <= short_block_requests, "requests a thread (one a thread: short_split_step())");
  const int bs = p.batch.bs;  // <= Per * block_threads
  const int per = (bs + block_threads - 1) / block_threads;
  const int first = int(threadIdx.x) * per;
  const int32_t limit = short_len_limit(bs);
  short_request r[Per];
  bool fits = true;
  uint32_t flags = 0;
  short_totals mine;
#pragma unroll
  for (int k = 0; k < Per; ++k) {
    bool f = true;
    if (k < per) r[k] = short_request_of(p.batch, p.clamp, first + k, limit, f);
    fits = fits && f;
    flags |= r[k].flags;
    mine = mine + totals_of(r[k]);
  }
  // A thread whose requests do not all fit counts short_unfit_tokens tokens, so the scan's total
  // tells every thread (no barrier of its own for the test).
  if (!fits) mine = short_totals{short_unfit_tokens, 0, 0};
  short_totals at, total;
  short_block_scan(storage).ExclusiveSum(mine, at, total);
  if (total.tokens >= short_unfit_tokens) {
    __syncthreads();  // the general path reuses the scan's storage
    return false;
  }

  const metadata_outputs& out = p.out;
  const int32_t max_tokens = int32_t(p.shape.max_tokens);  // capacity::max_tokens is an int
  const bool tokens = wants_tokens(out);
  // With Table, past 256 requests: a thread would write requests `per` apart, each of a few tokens,
  // so the prefixes go to shared memory instead and every warp takes 32 consecutive tokens at a
  // time, as in fill_vectors() (draft extend at bs 1024 5.34 -> 3.91 us a call in a graph of 10;
  // at bs 128, one request a thread, 2.64 -> 2.91: there each thread writes its own).
  const bool from_table = Table && per > 1;
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  short_totals* table = reinterpret_cast<short_totals*>(dynamic_smem);
  // 16-byte stores for constant q only: with q_b per request, a warp's lanes would split between
  // them and the scalar stores.
  const bool quads = p.shape.tokens_aligned16 && !p.batch.q_per_request;
#pragma unroll
  for (int k = 0; k < Per; ++k) {
    const short_totals through = at + totals_of(r[k]);
    if (k < per && first + k < bs) {
      if (from_table) table[first + k] = at;
      if (grid >= per ? k == block : k % grid == block) {
        store_short_entries(out, first + k, r[k], through);
        if (tokens && !from_table) store_short_tokens(out, first + k, r[k], at, max_tokens, quads);
      }
    }
    at = through;
  }
  if (from_table && threadIdx.x == 0) table[bs] = total;
  if (block == 0) {
    if (threadIdx.x == 0) {
      store_short_first(out);
      if (total.tokens > max_tokens) flags |= status_tokens_over_capacity;
    }
    publish(out.status, flags);
  }
  if (!tokens) return true;
  const int32_t n = total.tokens < max_tokens ? total.tokens : max_tokens;
  if (from_table) {
    __syncthreads();
    const auto widen = [](const short_totals& v) { return request_totals{v.tokens, v.kv, v.topk, 0}; };
    fill_request_tokens(
        out, short_starts{table}, bs, n, max_tokens, int64_t(block) * blockDim.x + threadIdx.x,
        int64_t(grid) * blockDim.x,
        [&](int b, int64_t t) {
          return token_values_narrow(widen(table[b]), widen(table[b + 1]), b, int32_t(t - table[b].tokens), p.clamp);
        },
        tail_token_values(request_totals{0, 0, total.topk, 0}));
  } else {
    store_short_tail(out, n, max_tokens, total.topk, int((block * blockDim.x + threadIdx.x) >> 5),
                     int((grid * blockDim.x) >> 5));
  }
  return true;
}

/// A short batch of at most 32 * Chunks requests (Chunks 4 or 8) held by every block, request
/// 32 * (w % Chunks) + L in lane L of warp w, in int32: each warp scans its 32 requests with
/// shuffles, the first Chunks publish their sums in shared memory, and one barrier gives every warp
/// its prefix and the totals. The grid's warps form groups of Chunks, group g being warps
/// Chunks * (g % G) .. Chunks * (g % G) + Chunks - 1 of block g / G (G = 8 / Chunks groups a block:
/// two of four warps up to 128 requests, one block of eight up to 256), each group holding the
/// whole batch. Group 0 writes the requests' entries, entry 0 and the status. For a constant q of
/// at most 128 requests group 1 writes the tokens, so that no warp issues more than six of the nine
/// outputs' stores. Otherwise (per-request q, and any q of 129-256 requests) the groups after the
/// first, up to six of them, as many as the grid has, split the tokens' outputs between them
/// (token_share()); a constant q goes out in 16-byte stores of four tokens where the outputs are
/// aligned. (Target verify of 256 requests, each of its tokens' outputs from its own block against
/// short_block_step() with block 0 writing every output, H200, a call in a graph of 10, six rounds:
/// 2.139 -> 1.928 us, constant draft extend 2.160 -> 1.938; with enable_pdl 1.625 -> 1.425 and
/// 1.630 -> 1.437.) Every warp of the grid takes its share of the
/// tail. Returns false, having written nothing, when a request does not fit (short_request_of()),
/// or (Chunks = 8) when the grid has one block. Every thread of the block calls it. Against
/// short_block_step(), whose block scan left warps 4-7 idle and had each thread of warps 0-3 issue
/// all nine outputs' stores: constant-q steps of 128 requests 3-6% faster; draft extend bs 128
/// (three blocks: five groups writing tokens) 5% faster, 7% with enable_pdl, where three groups
/// were as fast as the first three blocks.
template <int Chunks, class Batch, class Clamp>
__device__ __forceinline__ bool short_split_step(const step_params<Batch, Clamp>& p) {
  static_assert(block_threads == 256 && (Chunks == 4 || Chunks == 8), "groups of four or eight warps");
  constexpr int groups_per_block = block_threads / 32 / Chunks;
  __shared__ int4 chunk_sums[Chunks];  // tokens, kv, topk of each chunk; w: 1 if a request of it does not fit
  if (groups_per_block == 1 && gridDim.x < 2) return false;  // no group for the tokens: the general step
  const int bs = p.batch.bs;  // <= 32 * Chunks
  const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5), chunk = warp & (Chunks - 1);
  const int b = 32 * chunk + lane;
  bool fits;
  const short_request r = short_request_of(p.batch, p.clamp, b, short_len_limit(bs), fits);
  const short_totals own = totals_of(r);
  short_totals through = inclusive_lane_sum(own);
  const bool warp_fits = __all_sync(0xffffffffu, fits);
  if (warp < Chunks && lane == 31)
    chunk_sums[warp] = make_int4(through.tokens, through.kv, through.topk, warp_fits ? 0 : 1);
  __syncthreads();
  short_totals total;
  int unfit = 0;
#pragma unroll
  for (int k = 0; k < Chunks; ++k) {
    const int4 c = chunk_sums[k];
    const short_totals v{c.x, c.y, c.z};
    if (k < chunk) through = through + v;
    total = total + v;
    unfit |= c.w;
  }
  if (unfit) return false;  // the same in every thread; the general step's shared memory is not chunk_sums
  const metadata_outputs& out = p.out;
  const int32_t max_tokens = int32_t(p.shape.max_tokens);  // capacity::max_tokens is an int
  const bool tokens = wants_tokens(out);
  if constexpr (Chunks == 4 && !is_per_request_q<Batch>) {
    // Up to 128 requests of a constant q: warps 0-3 write the entries, warps 4-7 of block 0 the
    // tokens (the tokens' outputs split between the groups past the first instead, as below: H200,
    // a call in a graph of 10, bs 128, decode 1.643 -> 1.757 us, target verify 1.722 -> 1.783).
    if (blockIdx.x == 0 && b < bs) {
      if (warp < 4)
        store_short_entries(out, b, r, through);
      else if (tokens)
        store_short_tokens(out, b, r, through - own, max_tokens, p.shape.tokens_aligned16);
    }
  } else {
    // Group 0 writes the entries, the next (up to token_outputs) split the tokens' outputs.
    const int group = groups_per_block * int(blockIdx.x) + (warp >> (Chunks == 4 ? 2 : 3));
    const int writers = groups_per_block * int(gridDim.x) - 1;
    const int parts = writers < token_outputs ? writers : token_outputs;
    if (b < bs) {
      if (group == 0)
        store_short_entries(out, b, r, through);
      else if (tokens && group <= parts)  // 16-byte stores for constant q only (store_short_tokens())
        store_short_tokens(token_share(out, group - 1, parts), b, r, through - own, max_tokens,
                           !is_per_request_q<Batch> && p.shape.tokens_aligned16);
    }
  }
  if (blockIdx.x == 0 && warp < Chunks) {
    uint32_t flags = r.flags;
    if (warp == 0 && lane == 0) {
      store_short_first(out);
      if (total.tokens > max_tokens) flags |= status_tokens_over_capacity;
    }
    publish(out.status, flags);
  }
  if (tokens)
    store_short_tail(out, total.tokens < max_tokens ? total.tokens : max_tokens, max_tokens, total.topk,
                     int((blockIdx.x * blockDim.x + threadIdx.x) >> 5), int((gridDim.x * blockDim.x) >> 5));
  return true;
}

/// Dynamic shared memory of the single launch: bs + 1 prefixes, then bs req_to_token rows when a
/// page table is asked for (36 bytes a request; copy_short_units() needs 16 and 8 more).
inline size_t single_launch_smem(int bs, bool pages) {
  return sizeof(request_totals) * (size_t(bs) + 1) + (pages ? sizeof(int32_t) * size_t(bs) : 0);
}
static_assert(sizeof(request_totals) + sizeof(int32_t) >= 16 && sizeof(request_totals) >= 8,
              "single_launch_smem(bs, true) holds copy_short_units()'s 16 * bs + 8 bytes");

/// Shared memory of single_launch_step() besides the dynamic table.
union single_launch_storage {
  request_scan::temp_storage block;
  short_block_scan::TempStorage short_block;
  request_warp_scan::temp_storage warp;
  short_pages_scan<block_threads>::TempStorage pages;
};

/// The whole step in one launch: every block scans the batch into shared memory (one warp does it
/// for small batches), then takes its share of the outputs. With vectors_only (block 0 of
/// short_pages_kernel or static_pages_kernel, whose other blocks copy) the block writes the vectors
/// alone and copies nothing. Block 0 reports the status bits. Blocks of Threads threads;
/// scan_storage has the `block` (request_block_scan<Threads>) and `warp` scans' storage.
template <bool Vec, bool Narrow = true, int Threads = block_threads, class Batch, class Clamp, class Storage>
__device__ __forceinline__ void single_launch_step(const step_params<Batch, Clamp>& p, Storage& scan_storage,
                                                   bool vectors_only = false) {
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  request_totals* table = reinterpret_cast<request_totals*>(dynamic_smem);
  int32_t* rows = p.shape.wants_pages() ? reinterpret_cast<int32_t*>(table + p.batch.bs + 1) : nullptr;

  uint32_t flags = 0;
  const auto load = [&](int b) {
    int32_t row;
    const request_totals r = load_request(p.batch, p.shape, p.clamp, b, flags, row);
    if (rows) rows[b] = row;
    return r;
  };
  const auto store = [&](int i, const request_totals& v) { table[i] = v; };
  // Small steps are latency-bound, and much of the latency is fetching code the SM has not run yet:
  // the smallest batches take the scan with the fewest instructions.
  if (p.batch.bs <= request_lane_scan::tile_items) {
    if (threadIdx.x < 32) request_lane_scan::exclusive_sum(scan_storage.warp, p.batch.bs, load, store);
  } else if (p.batch.bs <= warp_scan_max_bs) {
    if (threadIdx.x < 32) request_warp_scan::exclusive_sum(scan_storage.warp, p.batch.bs, load, store);
  } else {
    request_block_scan<Threads>::exclusive_sum(scan_storage.block, p.batch.bs, load, store);
  }
  __syncthreads();
  if (blockIdx.x == 0)
    publish(p.out.status, flags | (threadIdx.x == 0 ? totals_flags(table[p.batch.bs], p.shape.max_tokens) : 0u));
  if (vectors_only) {
    fill_vectors<Narrow>(p, table, threadIdx.x, Threads);
    return;
  }
  fill_vectors<Narrow>(p, table, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
  if (p.shape.wants_pages()) copy_units<Vec, true>(p, table, rows);
}

/// The single launch of a step with page tables that static_pages_kernel and short_pages_kernel do
/// not take, or of one without that is not short (prefill).
template <bool Vec, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) single_launch_kernel(step_params<Batch, Clamp> p) {
  __shared__ single_launch_storage storage;
  await_previous_grid();
  single_launch_step<Vec>(p, storage);
}

/// Block 0 of static_pages_kernel when short_first_block() declined, for a constant q: the vectors
/// by lane_batch_step()'s general path (warps scanning the batch in their registers: no shared
/// memory, no stack), warp 0 the page rows' status bits, then the units too when block 0 is the
/// whole grid. Against single_launch_step() out of line (H200, a call in a graph of 10, five
/// rounds): decode bs 1 with page tables 1.970 -> 1.847 us, target verify bs 1 2.140 -> 2.055,
/// constant draft extend bs 1 2.041 -> 1.956, bs 8 -2% to -4%, bs 32 -2% to +0.5%; with enable_pdl
/// -1% to -6%. Per-request q keeps single_launch_step(), out of line (static_pages_general()):
/// this way it was +1% to +4% with enable_pdl, bs 1-32.
template <bool Vec, class Batch, class Clamp>
__device__ __forceinline__ void static_pages_lane_general(const step_params<Batch, Clamp>& p) {
  lane_batch_step<false, 1>(p, threadIdx.x / 32, block_threads / 32);
  if (threadIdx.x < 32) {
    uint32_t flags = 0;
    if (int(threadIdx.x) < p.batch.bs) {
      uint32_t ignored = 0;
      const int64_t pool_index = static_cast<int64_t>(p.batch.pages.req_pool_indices[threadIdx.x]);
      paged_request_row(p.batch, p.shape, pool_index, lengths_of(p.batch, int(threadIdx.x), ignored), flags);
    }
    publish(p.out.status, flags);
  }
  if (gridDim.x == 1) copy_static_units<Vec>(p, int(threadIdx.x / 32), block_threads / 32);
}

/// Block 0 of static_pages_kernel when short_first_block() declined, for per-request q: the
/// vectors by the general step, then the units too when block 0 is the whole grid; out of line, so
/// that the kernel's code on the paths small steps take stays short. Against those steps in
/// single_launch_kernel (H200, bs 1-8 with page tables, a call in a graph of 10): -4% to +2%
/// (decode bs 8 2.38 -> 2.28 us), with enable_pdl -6% to 0% (target verify bs 1 2.00 -> 1.91).
template <bool Vec, class Batch, class Clamp>
__device__ __noinline__ void static_pages_general(const step_params<Batch, Clamp> p) {
  __shared__ single_launch_storage storage;
  single_launch_step<Vec>(p, storage, true);
  if (gridDim.x == 1) copy_static_units<Vec>(p, int(threadIdx.x / 32), block_threads / 32);
}

/// The single launch of a static_units() step with page tables: the blocks past 0 copy by
/// copy_static_units(), block 0 writes the vectors (short_first_block(), else a general step).
/// Dynamic shared memory: single_launch_smem() for per-request q, none for a constant q.
template <bool Vec, class Batch, class Clamp, bool Full = false>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) static_pages_kernel(step_params<Batch, Clamp> p) {
  assume_outputs<Full, true>(p.out);
  if constexpr (Full) __builtin_assume(p.shape.page_table);
  await_previous_grid();
  if (blockIdx.x > 0) {  // consecutive slots to different blocks: spread over the SMs
    const int warp = int(threadIdx.x / 32) * (gridDim.x - 1) + (blockIdx.x - 1);
    const int warps = (block_threads / 32) * (gridDim.x - 1);
    // One request of per-request q: every warp reads it itself, without the lanes' scan (H100,
    // draft extend bs 1, a call in a graph of 10: 2.226 -> 2.091 us at kv 1K-32K, 2.503 -> 2.402
    // at 100K-131K). Constant q keeps copy_static_units(): the same one-request copy made its bs 1
    // steps 5-9% slower (decode bs 1 1.893 -> 2.054, target verify 2.071 -> 2.178).
    if constexpr (is_per_request_q<Batch>) {
      if (p.batch.bs == 1) {
        copy_single_request<Vec>(p, warp, warps);
        return;
      }
    }
    copy_static_units<Vec>(p, warp, warps);
    return;
  }
  if ((p.batch.q_per_request || p.batch.q_constant <= short_q_max) && short_first_block<Vec>(p)) return;
  if constexpr (is_per_request_q<Batch>)
    static_pages_general<Vec>(p);
  else
    static_pages_lane_general<Vec>(p);
}

/// Whether every q_b of the batch is at most short_q_max (copy_short_units()'s test: a negative
/// q_b counts). Every thread of the block calls it; per-request q costs a read of up to
/// ceil(bs / 256) lengths a thread and a barrier.
template <class Batch>
__device__ __forceinline__ bool short_q_batch(const Batch& batch) {
  if (!batch.q_per_request) return batch.q_constant <= short_q_max;
  bool ok = true;
  for (int b = int(threadIdx.x); b < batch.bs; b += block_threads) ok = ok && batch.extend_lens[b] <= short_q_max;
  return __syncthreads_and(ok);
}

/// The single launch of a likely short batch with page tables past lane_batch_max_bs requests
/// (short_pages_fit()): block 0 writes the vectors alone by its scan, the other blocks copy by
/// copy_short_units(). When a request is not short, every block takes the general step. (Block 0
/// by short_block_step() was faster alone but made the step 1-3% slower, bs 128-1024.)
template <bool Vec, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) short_pages_kernel(step_params<Batch, Clamp> p) {
  __shared__ single_launch_storage storage;
  await_previous_grid();
  bool vectors_only = false;  // the other blocks copy: block 0 writes the vectors alone
  if (gridDim.x > 1) {
    if (blockIdx.x == 0) {
      vectors_only = short_q_batch(p.batch);
    } else {
      extern __shared__ __align__(16) unsigned char dynamic_smem[];
      uint32_t flags = 0;
      if (copy_short_units<Vec, block_threads>(p.batch, p.shape, p.out, storage.pages, dynamic_smem,
                                               int(blockIdx.x) - 1, int(gridDim.x) - 1, flags)) {
        if (blockIdx.x == 1) publish(p.out.status, flags);
        return;
      }
    }
  }
  single_launch_step<Vec, false>(p, storage, vectors_only);
}

/// vectors_kernel's step when short_block_step() or short_split_step<8>() declined, for batches of
/// one request a thread: single_launch_step(), out of line, so that the short path's code stays its
/// own. With the short path built for one request a thread, bs 128 without page tables (H200, a
/// call in a graph of 10): decode 1.94 -> 1.85 us, target verify 2.03 -> 1.90, draft extend 2.53 ->
/// 2.44, with enable_pdl 1.55 -> 1.41, 1.58 -> 1.44, 2.05 -> 1.95. Past 256 requests (four a
/// thread) the general step out of line cost 1-4% (decode bs 512 2.24 -> 2.32), so it stays inline
/// there. narrow_step_kernel's too, with Narrow (int32 token values where the step's totals allow).
template <bool Narrow = false, class Batch, class Clamp>
__device__ __noinline__ void vectors_general(const step_params<Batch, Clamp> p) {
  __shared__ single_launch_storage storage;
  single_launch_step<false, Narrow>(p, storage);
}

/// The single launch of a step without page tables: short_block_step() for a short batch of at
/// most Per * 256 requests, Per > 1 (with Table, past 256 requests, through a table), else the
/// general step; one request a thread (Per = 1) takes a split step (Split, below), and
/// vectors_general() when it declines. Three blocks an SM: the two paths together need 80
/// registers.
/// With Split = 4 (Per = 1, at most 128 requests) the general step is lane_batch_grid_step(), four
/// requests a lane: the kernel has no stack and needs no shared-memory table (H200, bs 128, a call
/// in a graph of 10, five rounds: decode 1.901 -> 1.856 us, target verify 1.900 -> 1.871, draft
/// extend 2.412 -> 2.290, constant draft extend 1.908 -> 1.896; with enable_pdl -4.7% to +0.8%);
/// and the short step is short_split_step<4>() where short_block_step() was: for a constant q
/// (H200, bs 128, a call in a graph of 10, five rounds: decode 1.748 -> 1.645 us, target verify
/// 1.826 -> 1.778, constant draft extend 1.838 -> 1.783; with enable_pdl 1.346 -> 1.251, 1.370 ->
/// 1.303, 1.375 -> 1.308), and for per-request q (eight rounds: draft extend bs 128 2.032 -> 1.922
/// us, with enable_pdl 1.615 -> 1.494). With Split = 8 (Per = 1, 129-256 requests, at least two
/// blocks) the short step is short_split_step<8>(), the general step vectors_general().
template <bool Table, int Per, class Batch, class Clamp, int Split = 0, bool Full = false>
__global__ void __launch_bounds__(block_threads, vectors_blocks_per_sm) vectors_kernel(vector_params<Batch, Clamp> v) {
  static_assert(Split == 0 ? Per > 1 : Per == 1 && !Table && (Split == 4 || Split == 8),
                "split steps hold one request a thread, short_block_step() more");
  const step_params<Batch, Clamp> p = v.step();
  assume_outputs<Full>(p.out);
  __shared__ single_launch_storage storage;
  await_previous_grid();
  if constexpr (Split > 0) {
    if (short_split_step<Split>(p)) return;
  } else {
    if (short_block_step<Table, Per>(p, storage.short_block, int(blockIdx.x), int(gridDim.x))) return;
  }
  if constexpr (Split == 4)
    lane_batch_grid_step<false, lane_batch_max_requests>(p);
  else if constexpr (Per == 1)
    vectors_general(p);
  else
    single_launch_step<false, false>(p, storage);
}

/// Most requests a thread holds in narrow_block_step(): a block's threads hold single_launch_max_bs.
constexpr int narrow_block_requests = 4;

/// What a thread adds to narrow_block_step()'s scan: tokens, kv' and topk sums in int32 (wrapping,
/// never read when some request does not fit), and how many of its requests do not fit.
struct narrow_sums {
  int32_t tokens = 0;
  int32_t kv = 0;
  int32_t topk = 0;
  int32_t unfit = 0;
  __device__ __forceinline__ friend narrow_sums operator+(const narrow_sums& a, const narrow_sums& b) {
    return {short_totals::add(a.tokens, b.tokens), short_totals::add(a.kv, b.kv), short_totals::add(a.topk, b.topk),
            a.unfit + b.unfit};
  }
};
using narrow_block_scan = cub::BlockScan<narrow_sums, block_threads, cub::BLOCK_SCAN_WARP_SCANS>;

/// Request b's token_base<int32_t> in narrow_block_step()'s table, one 16-byte read a token.
struct alignas(16) narrow_row {
  int32_t first_token;  ///< cu_seqlens_q[b] (at b = bs: the step's tokens)
  int32_t kv0;          ///< cu_seqlens_k[b]
  int32_t first_len;    ///< kv'_b - q_b + 1
  int32_t topk_base;    ///< cu_topk_seqlens before token 0 less the clamp's prefix sum below it, mod 2^32
};
/// The first tokens of a table of narrow_row, indexable like the offsets of lookup.hpp.
using narrow_starts = field_view<narrow_row, &narrow_row::first_token>;

/// The general step of a batch of up to Per * 256 requests in int32, where its sums allow: every
/// block reads the batch (ceil(bs / 256) consecutive requests a thread, at most Per), scans 16-byte
/// sums, puts each request's token_base<int32_t> in a table in dynamic shared memory (16 bytes a
/// request) and takes its share of the tokens 32 at a time (fill_request_tokens()): one 16-byte
/// read and one prefix sum in 32 bits a token. Block 0 writes the per-request outputs and the status.
/// Returns false, having written nothing, when a request's q_b, kv'_b or topk sum reaches 2^31 over
/// bs rounded up to a power of two (then the sums might not fit int32: single_launch_step() takes
/// the step, in int64). Every thread of the block calls it. Against single_launch_step(), whose
/// scan of 32-byte request_totals was 40% of a prefill's instructions (ncu, prefill of 256
/// requests: about 1,000 a warp, 690 this way).
template <int Per, class Batch, class Clamp>
__device__ __forceinline__ bool narrow_block_step(const step_params<Batch, Clamp>& p,
                                                  typename narrow_block_scan::TempStorage& storage) {
  static_assert(Per >= 1 && Per <= narrow_block_requests, "requests a thread");
  const int bs = p.batch.bs;  // <= Per * block_threads
  const int per = Per == 1 ? 1 : (bs + block_threads - 1) / block_threads;
  const int first = int(threadIdx.x) * per;
  const int64_t limit = (int64_t(1) << 31) >> ceil_log2(bs);  // bs values below it sum below 2^31
  uint32_t flags = 0;
  int32_t q[Per], kv[Per], topk[Per];
  uint32_t below[Per];  // the clamp's prefix sum below token 0's length, mod 2^32
  narrow_sums mine;
#pragma unroll
  for (int k = 0; k < Per; ++k) {
    q[k] = kv[k] = topk[k] = 0;
    below[k] = 0;
    if (k < per && first + k < bs) {
      const request_lengths len = lengths_of(p.batch, first + k, flags);
      const int64_t first_len = len.kv - len.q + 1;
      const int64_t under = p.clamp.prefix_sum(first_len > 0 ? first_len : 0);
      const request_totals r = totals_of(len, under, p.clamp);
      q[k] = int32_t(r.tokens);
      kv[k] = int32_t(r.kv);
      topk[k] = int32_t(r.topk);
      below[k] = uint32_t(uint64_t(under));
      if (r.tokens >= limit || r.kv >= limit || r.topk >= limit) mine.unfit = 1;
      mine = mine + narrow_sums{q[k], kv[k], topk[k], 0};
    }
  }
  narrow_sums at, total;
  narrow_block_scan(storage).ExclusiveSum(mine, at, total);
  if (total.unfit) {
    __syncthreads();  // the general path reuses the storage
    return false;
  }

  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  narrow_row* table = reinterpret_cast<narrow_row*>(dynamic_smem);
  const metadata_outputs& out = p.out;
  const int32_t max_tokens = int32_t(p.shape.max_tokens);  // capacity::max_tokens is an int
#pragma unroll
  for (int k = 0; k < Per; ++k) {
    if (k < per && first + k < bs) {
      const int b = first + k;
      table[b] = narrow_row{at.tokens, at.kv, kv[k] - q[k] + 1, int32_t(uint32_t(at.topk) - below[k])};
      at = at + narrow_sums{q[k], kv[k], topk[k], 0};
      if (blockIdx.x == 0) {
        if (out.cache_seqlens) out.cache_seqlens[b] = kv[k];
        store_prefixes(out, b + 1, at.tokens, at.kv);
      }
    }
  }
  if (threadIdx.x == 0) table[bs] = narrow_row{total.tokens, total.kv, 0, total.topk};
  if (blockIdx.x == 0) {
    if (threadIdx.x == 0) {
      store_short_first(out);
      if (total.tokens > max_tokens) flags |= status_tokens_over_capacity;
    }
    publish(out.status, flags);
  }
  if (!wants_tokens(out)) return true;
  __syncthreads();
  const int32_t n = total.tokens < max_tokens ? total.tokens : max_tokens;
  fill_request_tokens(
      out, narrow_starts{table}, bs, n, max_tokens, int64_t(blockIdx.x) * blockDim.x + threadIdx.x,
      int64_t(gridDim.x) * blockDim.x,
      [&](int b, int64_t t) {
        const narrow_row r = table[b];
        return token_values_from(token_base<int32_t>{r.first_token, r.kv0, r.first_len, r.topk_base}, b,
                                 int32_t(t) - r.first_token, p.clamp);
      },
      tail_token_values(request_totals{0, 0, total.topk, 0}));
  return true;
}

/// The single launch of a step without page tables that the short kernels do not take (prefill
/// past 64 requests): narrow_block_step(), else single_launch_step() out of line (inline, the
/// kernel spilled registers). Dynamic shared memory:
/// single_launch_smem(bs, false), which holds narrow_block_step()'s table too.
template <int Per, class Batch, class Clamp, bool Full = false>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm) narrow_step_kernel(vector_params<Batch, Clamp> v) {
  const step_params<Batch, Clamp> p = v.step();
  assume_outputs<Full>(p.out);
  __shared__ narrow_block_scan::TempStorage storage;
  await_previous_grid();
  if (narrow_block_step<Per>(p, storage)) return;
  vectors_general<true>(p);
}
static_assert(sizeof(narrow_row) <= sizeof(request_totals) && block_threads * narrow_block_requests >= single_launch_max_bs,
              "single_launch_smem() holds narrow_block_step()'s table, and a block the whole batch");

/// Shared memory of cluster_vectors_kernel's general step besides the dynamic table.
union cluster_storage {
  request_block_scan<cluster_threads>::temp_storage block;
  request_warp_scan::temp_storage warp;
};

/// cluster_vectors_kernel's step when short_cluster_step() declined: single_launch_step() in blocks
/// of cluster_threads, out of line, so that the short path's code stays its own (H200, a call in a
/// graph of 10, three rounds: draft extend bs 512 3.11 -> 3.05 us, bs 1024 3.40 -> 3.36; the
/// other cluster steps within 0.03).
template <class Batch, class Clamp>
__device__ __noinline__ void cluster_general(const step_params<Batch, Clamp> p) {
  __shared__ cluster_storage storage;
  single_launch_step<false, false, cluster_threads>(p, storage);
}

/// The single launch of a short step of 257-1,024 requests without page tables (decode:
/// 513-1,024), on compute capability 9.0 and later: clusters of cluster_blocks(bs) blocks of 128
/// threads, the first of which holds the batch one request a thread (short_cluster_step()); the
/// other clusters write their share of the tail. When a request is not short, every block takes
/// the general step (cluster_general()).
template <class Batch, class Clamp, bool Full = false>
__global__ void __launch_bounds__(cluster_threads) cluster_vectors_kernel(vector_params<Batch, Clamp> v) {
  const step_params<Batch, Clamp> p = v.step();
  assume_outputs<Full>(p.out);
  __shared__ short_cluster_scan<cluster_threads>::TempStorage storage;
  __shared__ short_totals block_total;
  await_previous_grid();
  uint32_t flags = 0;
  if (short_cluster_step<cluster_threads>(p.batch, p.clamp, p.shape, p.out, wants_tokens(p.out),
                                          short_len_limit(p.batch.bs), storage, block_total, flags)) {
    publish(p.out.status, flags);
    return;
  }
  cluster_general(p);
}

/// cluster_wide_kernel's step when short_cluster_step() declined, by the grid's first cluster alone
/// (the others return): its threads read one request each in int64 (load_request()), each block
/// scans its own and adds the totals of the blocks before it from distributed shared memory, and
/// the prefixes go to `table` (bs + 1 entries in the workspace, as the device-scan path's); after a
/// cluster barrier, which makes them visible to every block of the cluster, its threads take the
/// outputs from the table as table_fill_kernel's do. Out of line: the short path's code stays its
/// own. Cost: one read and one block scan a thread, two cluster barriers, and fill_vectors() over
/// one cluster's threads (the launcher bounds the tokens at short_q_max a thread).
template <class Batch, class Clamp>
__device__ __noinline__ void cluster_wide_general(const step_params<Batch, Clamp> p, request_totals* table) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  using scan = cub::BlockScan<request_totals, wide_cluster_threads, cub::BLOCK_SCAN_WARP_SCANS>;
  __shared__ typename scan::TempStorage storage;
  __shared__ request_totals block_total;
  const cg::cluster_group cluster = cg::this_cluster();
  const int blocks = int(cluster.num_blocks());
  if (int(blockIdx.x) >= blocks) return;  // clusters are consecutive blocks: not the first
  const int rank = int(cluster.block_rank());
  const int bs = p.batch.bs;
  const int b = rank * wide_cluster_threads + int(threadIdx.x);
  uint32_t flags = 0;
  const request_totals mine = b < bs ? load_request(p.batch, p.shape, p.clamp, b, flags) : request_totals{};
  request_totals at, total;
  scan(storage).ExclusiveSum(mine, at, total);
  if (threadIdx.x == 0) block_total = total;
  cluster.sync();
  request_totals before{}, all{};
#pragma unroll 1
  for (int k = 0; k < blocks; ++k) {
    const request_totals theirs = *cluster.map_shared_rank(&block_total, k);
    if (k < rank) before = before + theirs;
    all = all + theirs;
  }
  if (b < bs) table[b] = before + at;
  if (b == 0) table[bs] = all;
  cluster.sync();  // release and acquire at cluster scope: the table is the cluster's; block_total is read
  publish(p.out.status, flags | (b == 0 ? totals_flags(all, p.shape.max_tokens) : 0u));
  fill_vectors<true>(p, table, int64_t(rank) * wide_cluster_threads + threadIdx.x,
                     int64_t(blocks) * wide_cluster_threads);
#else
  (void)p, (void)table;
#endif
}

/// The single launch of a short step of 1,025-4,096 requests without page tables, on compute
/// capability 9.0 and later, where the device-scan path would take three kernels: clusters of
/// cluster_blocks<wide_cluster_threads>(bs) blocks of 512 threads, each holding the batch one
/// request a thread (short_cluster_step()), the first writing the entries, the first
/// short_store_parts splitting the tokens' outputs, all of them the tail. When a request is not
/// short (wide_len_limit()), the first cluster alone scans the batch into `table` (the workspace)
/// and writes every output from it (cluster_wide_general(): 13.5 us at 4,096 requests, where the
/// device-scan path takes 7.5).
template <class Batch, class Clamp, bool Full = false>
__global__ void __launch_bounds__(wide_cluster_threads) cluster_wide_kernel(vector_params<Batch, Clamp> v,
                                                                           request_totals* table) {
  const step_params<Batch, Clamp> p = v.step();
  assume_outputs<Full>(p.out);
  __shared__ short_cluster_scan<wide_cluster_threads>::TempStorage storage;
  __shared__ short_totals block_total;
  await_previous_grid();
  uint32_t flags = 0;
  if (short_cluster_step<wide_cluster_threads>(p.batch, p.clamp, p.shape, p.out, wants_tokens(p.out),
                                               wide_len_limit(p.batch.bs, p.clamp), storage, block_total, flags)) {
    publish(p.out.status, flags);
    return;
  }
  cluster_wide_general(p, table);
}

/// cub::DeviceScan's input for the device-scan path: request b's totals, with its status bits
/// published as it is read (device_exclusive_sum supplies the zero at bs).
template <class Batch, class Clamp>
struct request_loader {
  step_params<Batch, Clamp> p;
  using value_type = request_totals;
  __device__ request_totals operator()(int b) const {
    uint32_t flags = 0;
    const request_totals r = load_request(p.batch, p.shape, p.clamp, b, flags);
    publish(p.out.status, flags);
    return r;
  }
};

/// The device-scan path's fill: `table` was written by cub::DeviceScan into the workspace. With
/// Runs (decode), each warp copies a run of consecutive page units (copy_unit_runs()).
template <bool Vec, bool Runs, class Batch, class Clamp>
__global__ void __launch_bounds__(block_threads, min_blocks_per_sm)
    table_fill_kernel(step_params<Batch, Clamp> p, const request_totals* table) {
  await_previous_grid();
  if (blockIdx.x == 0 && threadIdx.x == 0) publish(p.out.status, totals_flags(table[p.batch.bs], p.shape.max_tokens));
  fill_vectors<true>(p, table, int64_t(blockIdx.x) * blockDim.x + threadIdx.x, int64_t(gridDim.x) * blockDim.x);
  if (!p.shape.wants_pages()) return;
  if (Runs)
    copy_unit_runs<Vec>(p, table);
  else
    copy_units<Vec, false>(p, table, nullptr);
}

}  // namespace detail
}  // namespace attnmeta
