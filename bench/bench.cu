// attnmeta's benchmark: every mode over a grid of sizes, eager and in a CUDA graph, next to the
// floors measured in the same process (an empty kernel launched eagerly, at the start and in turn
// with each case's eager launches, as a graph node and as one call of a graph of 10, the
// device-to-device copy bandwidth, and each case's bandwidth floor; beside them the rate of a copy
// that reads once and writes four times, a page table's mix), and for the page-table cases a bare
// copy of the same page tables in the same layout (what the caller's layout allows), with the rows
// a little further apart (what padding them would give) and packed end to end (what a copy of those
// bytes costs at that size). "graph" is the time of a replay of one call; "graph x10" the time per
// call of a graph of 10 calls (what a call costs inside an engine's graph, as bench/peers.py
// measures its peers); "x10 PDL" the same with options::enable_pdl, each call free to start while
// the one before it finishes, beside an empty kernel launched the same way. The SM clock is read
// (clock64 against the global timer) before the floors and after each case's graph timings: the
// small steps' times follow it.
//
//   attnmeta_bench [--quick] [--json FILE] [--only PATTERN[,PATTERN...]]
//
// Environment: ATTNMETA_BENCH_WIDTH sets W; ATTNMETA_BENCH_POOL_PAD and ATTNMETA_BENCH_TABLE_PAD add
// columns to the row stride of req_to_token and of page_table (rows W + pad elements apart, the
// width still W); ATTNMETA_BENCH_KPOOL sets the clamp's pool granule (the pooled clamp past 1);
// ATTNMETA_BENCH_INT64=1 passes seq_lens and extend_lens as int64.
//
// Prints a markdown table last; --json writes one object per case (JSON lines).
#include <attnmeta/attnmeta.cuh>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#define CHECK(call)                                                                                           \
  do {                                                                                                        \
    cudaError_t e_ = (call);                                                                                  \
    if (e_ != cudaSuccess) {                                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_),           \
                   attnmeta::last_error_message());                                                           \
      std::exit(1);                                                                                           \
    }                                                                                                         \
  } while (0)

namespace {

int W = 163840;  // page_table width: DeepSeek-V3.2's context (ATTNMETA_BENCH_WIDTH overrides it)
int pool_pad = 0;   // req_to_token rows are W + pool_pad elements apart (ATTNMETA_BENCH_POOL_PAD)
int table_pad = 0;  // page_table rows are W + table_pad elements apart (ATTNMETA_BENCH_TABLE_PAD)
int kpool = 1;   // the clamp's pool granule: 1 is min(x, topk), more the pooled clamp (ATTNMETA_BENCH_KPOOL)
bool int64_lengths = false;  // seq_lens and extend_lens as int64 (ATTNMETA_BENCH_INT64=1)
constexpr int page_size = 64;
/// The padded layout copy's rows lie this many columns further apart than the caller's (H100, W =
/// 163840: 16-23% less time from 256 requests up; bench/RESULTS.md, "Rows 163,840 int32 apart").
constexpr int padded_rows = 256;
constexpr int max_bs = 4096;
constexpr int max_draft_tokens = max_bs * 4;
constexpr int prefill_max_tokens = 64 * 8192;

__global__ void empty_kernel() {}

/// An empty kernel as the library's kernels begin under programmatic dependent launch: it waits
/// for the previous grid, then lets the next one start.
__global__ void empty_pdl_kernel() { attnmeta::detail::await_previous_grid(); }

/// empty_pdl_kernel on `s`, launched with programmatic stream serialization.
void launch_empty_pdl(cudaStream_t s) {
  CHECK(attnmeta::detail::launch_kernel(empty_pdl_kernel, 1, 1, 0, s, true));
}

// The least a metadata kernel does: read a few lengths, write a few results (one warp).
__global__ void load_store_kernel(const int32_t* in, int32_t* out) { out[threadIdx.x] = in[threadIdx.x] + 1; }
/// The same, waiting and triggering as the library's kernels do under programmatic dependent launch.
__global__ void load_store_pdl_kernel(const int32_t* in, int32_t* out) {
  attnmeta::detail::await_previous_grid();
  out[threadIdx.x] = in[threadIdx.x] + 1;
}

__global__ void copy_kernel(const int4* in, int4* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = in[i];
}

/// Reads n 16-byte values once and writes each to four places n apart, the mix of a page table of
/// four rows a request (one byte read for four written), contiguous: what DRAM gives that mix.
template <bool Streaming>
__global__ void copy4_kernel(const int4* in, int4* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const int4 v = in[i];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      if (Streaming) __stcs(out + r * n + i, v);
      else out[r * n + i] = v;
    }
  }
}

/// One item of a bare copy: columns [chunk * 512, +512) of a request's req_to_token row, to up to
/// 16 of its q page_table rows and the matching block_table entries. Offsets and row strides are
/// worked out on the host, in ints from the buffers' starts.
struct copy_item {
  int64_t src, dst, block;  // the row read, the first page_table row and block_table row written
  int64_t stride, block_stride;
  int32_t rows, cols, chunk;
};

/// A bare copy of the page tables, with every request's rows and lengths worked out on the host:
/// the most a kernel can expect from the items' layout, metadata work aside. One warp an item,
/// 16-byte loads and streaming stores, as attnmeta's own copy.
__global__ void layout_copy_kernel(const copy_item* items, int n, const int32_t* req_to_token, int32_t* page_table,
                                   int32_t* block_table) {
  const int lane = threadIdx.x & 31;
  const int warps = int(gridDim.x * blockDim.x / 32);
  for (int i = int((blockIdx.x * blockDim.x + threadIdx.x) / 32); i < n; i += warps) {
    const copy_item it = items[i];
    const int32_t* src = req_to_token + it.src;
    const int base = it.chunk * 512 + 4 * lane;
    int4 v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int c = base + 128 * k;
      v[k] = c + 4 <= it.cols ? __ldg(reinterpret_cast<const int4*>(src + c)) : int4{0, 0, 0, 0};
      if (c < it.cols && c + 4 > it.cols)
        v[k] = int4{src[c], c + 1 < it.cols ? src[c + 1] : 0, c + 2 < it.cols ? src[c + 2] : 0, 0};
    }
    const int j = it.chunk * (512 / page_size) + lane;  // block column j, slot j * page_size
    const int32_t block = lane < 512 / page_size && j * page_size < it.cols ? src[j * page_size] / page_size : 0;
    for (int r = 0; r < it.rows; ++r) {
      int32_t* dst = page_table + it.dst + r * it.stride;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int c = base + 128 * k;
        if (c + 4 <= it.cols) {
          __stcs(reinterpret_cast<int4*>(dst + c), v[k]);
        } else if (c < it.cols) {
          dst[c] = v[k].x;
          if (c + 1 < it.cols) dst[c + 1] = v[k].y;
          if (c + 2 < it.cols) dst[c + 2] = v[k].z;
        }
      }
      if (lane < 512 / page_size && j * page_size < it.cols) block_table[it.block + r * it.block_stride + j] = block;
    }
  }
}

/// The SM clock, in MHz: one thread counts its SM's cycles (clock64) against the global timer
/// (nanoseconds) for `ns` nanoseconds or a little more.
__global__ void sm_clock_kernel(uint64_t ns, double* mhz) {
  uint64_t t0, t1;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  const long long c0 = clock64();
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
  } while (t1 - t0 < ns);
  const long long c1 = clock64();
  *mhz = 1e3 * double(c1 - c0) / double(t1 - t0);
}

__global__ void fill_slots(int32_t* p, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = int32_t((i * 2654435761ull) & 0x3fffffff);
}

/// The seed of a case's lengths: FNV-1a of its key, so that a case draws the same batch in the full
/// run and under --only, and adding a case changes no other case's batch.
uint32_t case_seed(const char* key) {
  uint32_t h = 2166136261u;
  for (; *key; ++key) h = (h ^ uint8_t(*key)) * 16777619u;
  return h;
}

/// Whether `key` contains one of the comma-separated patterns of `list`.
bool matches_any(const char* key, const char* list) {
  const std::string all(list);
  for (size_t a = 0, b; a <= all.size(); a = b + 1) {
    b = all.find(',', a);
    if (b == std::string::npos) b = all.size();
    if (b > a && std::strstr(key, all.substr(a, b - a).c_str())) return true;
  }
  return false;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Microseconds per call of `f` launched back to back `n` times, timed on the host from an idle GPU
/// to the last call's end.
template <class F>
double host_us_per_call(F&& f, int n) {
  CHECK(cudaDeviceSynchronize());
  const auto a = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  CHECK(cudaDeviceSynchronize());
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count() / n;
}

/// host_us_per_call(f, n), median of reps.
template <class F>
double eager_us(F&& f, int n, int reps = 7) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) t.push_back(host_us_per_call(f, n));
  return median(t);
}

/// host_us_per_call() of `f` and of `g`, their reps taken in turn (f, g, f, g, ...) so that both
/// meet the same host: the medians of `reps`, in `f_us` and `g_us`. Each case's eager time is taken
/// beside an empty kernel's on the same stream this way, and its ratio is over that launch: the
/// host's time per launch drifts over a run, and a floor measured minutes earlier would carry the
/// drift into the ratio.
template <class F, class G>
void eager_pair_us(F&& f, G&& g, int n, double& f_us, double& g_us, int reps = 9) {
  std::vector<double> tf, tg;
  for (int r = 0; r < reps; ++r) {
    tf.push_back(host_us_per_call(f, n));
    tg.push_back(host_us_per_call(g, n));
  }
  f_us = median(tf);
  g_us = median(tg);
}

/// The SM clock in MHz, averaged over 1 ms after the work `s` holds (sm_clock_kernel, through `at`,
/// one double of device memory; waits for `s`). Read after each case's graph timings: a small
/// step's time follows the clock, so runs whose clocks differ are not compared as one machine.
double sm_clock_mhz(cudaStream_t s, double* at) {
  sm_clock_kernel<<<1, 1, 0, s>>>(1000000, at);
  double mhz = 0;
  CHECK(cudaMemcpyAsync(&mhz, at, sizeof mhz, cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  return mhz;
}

/// Microseconds per call of `one` (which enqueues one call on `s`), called `n` times back to back
/// between two events (median of reps).
template <class F>
double events_us(F&& one, cudaStream_t s, int n, int reps) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CHECK(cudaEventRecord(a, s));
    for (int i = 0; i < n; ++i) one();
    CHECK(cudaEventRecord(b, s));
    CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(1000.0 * ms / n);
  }
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  return median(t);
}

/// Microseconds per call of a graph holding `calls` calls of what `f` enqueues on `s`, replayed `n`
/// times between two events (median of reps), the replay's time divided by `calls`. With one call,
/// the time of a replay; with several, what each call costs inside an engine's graph, where calls
/// follow each other without the replay's own start.
template <class F>
double graph_us(F&& f, cudaStream_t s, int n, int reps = 7, int calls = 1) {
  cudaGraph_t g;
  cudaGraphExec_t e;
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < calls; ++i) f(s);
  CHECK(cudaStreamEndCapture(s, &g));
  CHECK(cudaGraphInstantiate(&e, g, 0));
  for (int i = 0; i < 3; ++i) CHECK(cudaGraphLaunch(e, s));
  const double us = events_us([&] { CHECK(cudaGraphLaunch(e, s)); }, s, n, reps) / calls;
  CHECK(cudaGraphExecDestroy(e));
  CHECK(cudaGraphDestroy(g));
  return us;
}

/// Calls in the graph of the "graph x10" column (bench/peers.py times its graphs the same way).
constexpr int graph_calls = 10;

/// Microseconds per call of what `f` enqueues on `s`, called back to back `n` times between two
/// events (device time without a graph; median of reps).
template <class F>
double stream_us(F&& f, cudaStream_t s, int n, int reps = 7) {
  f(s);
  return events_us([&] { f(s); }, s, n, reps);
}

struct bench_case {
  const char* mode;  // decode, target_verify, draft_extend (q random 1..4), draft_extend_const, extend
  int bs;
  int kv_lo, kv_hi;
  bool pages;
  int q_max = 8192;  // extend: q_b random in 1..q_max
};

struct device_buffers {
  int32_t *seq, *q, *rpi, *req_to_token;
  int64_t *seq64, *q64;  // the same lengths as int64
  int32_t *cache_seqlens, *cu_k, *cu_q, *t2r, *expanded, *topk, *cu_topk, *ks, *ke, *page_table, *block_table;
  uint32_t* status;
  void* workspace;
  size_t workspace_bytes;
};

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  const char* json_path = nullptr;
  const char* only = nullptr;  // run the cases whose "mode:bs:pages:kv" contains one of these (comma-separated)
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
  }
  if (const char* w = std::getenv("ATTNMETA_BENCH_WIDTH")) W = std::atoi(w);
  if (const char* r = std::getenv("ATTNMETA_BENCH_POOL_PAD")) pool_pad = std::max(0, std::atoi(r));
  if (const char* r = std::getenv("ATTNMETA_BENCH_TABLE_PAD")) table_pad = std::max(0, std::atoi(r));
  const int64_t pool_stride = int64_t(W) + pool_pad, table_stride = int64_t(W) + table_pad;
  if (const char* k = std::getenv("ATTNMETA_BENCH_KPOOL")) kpool = std::max(1, std::atoi(k));
  if (const char* i = std::getenv("ATTNMETA_BENCH_INT64")) int64_lengths = std::atoi(i) != 0;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: nothing to benchmark\n");
    return 0;
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

  double* clock_at;  // sm_clock_mhz()'s reading
  CHECK(cudaMalloc(&clock_at, sizeof(double)));
  const double start_mhz = sm_clock_mhz(s, clock_at);

  // Floors, measured here.
  const double empty_eager = eager_us([] { empty_kernel<<<1, 1>>>(); }, 5000);
  const double empty_graph = graph_us([](cudaStream_t st) { empty_kernel<<<1, 1, 0, st>>>(); }, s, 5000);
  const double empty_graph10 =
      graph_us([](cudaStream_t st) { empty_kernel<<<1, 1, 0, st>>>(); }, s, 1000, 7, graph_calls);
  bool has_pdl = false;  // programmatic dependent launch (compute capability 9.0 and later)
  CHECK(attnmeta::detail::current_device_has_pdl(has_pdl));
  const double empty_graph10_pdl = has_pdl ? graph_us(launch_empty_pdl, s, 1000, 7, graph_calls) : 0;
  double copy_bw = 0;  // bytes read + written per second
  double copy4_bw = 0;  // the same, reading once and writing four times
  {
    // The best of cudaMemcpyAsync and a 16-byte-per-thread copy kernel, each in a graph and
    // launched on a stream, over 1 GB and 2 GB copies (both far past the L2): the copy floor is the
    // fastest copy measured, however it was done.
    const size_t most = size_t(1) << 31;
    void *a, *b;
    CHECK(cudaMalloc(&a, most));
    CHECK(cudaMalloc(&b, most));
    CHECK(cudaMemset(a, 1, most));
    // a copy's best time, in a graph or on a stream
    const auto fastest = [&](const auto& copy) { return std::min(graph_us(copy, s, 10, 5), stream_us(copy, s, 10, 5)); };
    for (size_t bytes : {most / 2, most}) {
      const auto memcpy = [&](cudaStream_t st) { CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, st)); };
      const auto kernel = [&](cudaStream_t st) {
        copy_kernel<<<prop.multiProcessorCount * 8, 256, 0, st>>>(static_cast<const int4*>(a), static_cast<int4*>(b), bytes / 16);
      };
      const double us = std::min(fastest(memcpy), fastest(kernel));
      copy_bw = std::max(copy_bw, 2.0 * bytes / (us * 1e-6));
    }
    // The same for one read and four writes (256 and 512 MB read, each written four times, up to
    // all of the 2 GB), with plain and with streaming stores: not a floor, the ceiling a page table
    // of q_b = 4 meets.
    for (size_t bytes : {most / 8, most / 4}) {
      const size_t n = bytes / 16;
      const int blocks = prop.multiProcessorCount * 8;
      const auto plain = [&](cudaStream_t st) {
        copy4_kernel<false><<<blocks, 256, 0, st>>>(static_cast<const int4*>(a), static_cast<int4*>(b), n);
      };
      const auto streaming = [&](cudaStream_t st) {
        copy4_kernel<true><<<blocks, 256, 0, st>>>(static_cast<const int4*>(a), static_cast<int4*>(b), n);
      };
      const double us = std::min(fastest(plain), fastest(streaming));
      copy4_bw = std::max(copy4_bw, 5.0 * bytes / (us * 1e-6));
    }
    CHECK(cudaFree(a));
    CHECK(cudaFree(b));
  }

  // A kernel whose stores wait on one load: what a call of the smallest step cannot go below.
  double load_store_eager = 0, load_store_graph = 0, load_store_graph10 = 0, load_store_graph10_pdl = 0;
  {
    int32_t* io;
    CHECK(cudaMalloc(&io, 64 * 4));
    CHECK(cudaMemset(io, 0, 64 * 4));
    const auto load_store = [&](cudaStream_t st) { load_store_kernel<<<1, 32, 0, st>>>(io, io + 32); };
    load_store_eager = eager_us([&] { load_store(0); }, 5000);
    load_store_graph = graph_us(load_store, s, 5000);
    load_store_graph10 = graph_us(load_store, s, 1000, 7, graph_calls);
    if (has_pdl)
      load_store_graph10_pdl = graph_us(
          [&](cudaStream_t st) {
            CHECK(attnmeta::detail::launch_kernel(load_store_pdl_kernel, 1, 32, 0, st, true, io, io + 32));
          },
          s, 1000, 7, graph_calls);
    CHECK(cudaFree(io));
  }

  device_buffers d{};
  const size_t t_alloc = prefill_max_tokens;
  CHECK(cudaMalloc(&d.seq, max_bs * 4));
  CHECK(cudaMalloc(&d.q, max_bs * 4));
  CHECK(cudaMalloc(&d.seq64, max_bs * 8));
  CHECK(cudaMalloc(&d.q64, max_bs * 8));
  CHECK(cudaMalloc(&d.rpi, max_bs * 4));
  // Room for the padded layout copy's rows, and 32 more ints a row for the packed copy's 128-byte
  // aligned rows whatever W is.
  const int64_t pool_room = pool_stride + padded_rows + 32, table_room = table_stride + padded_rows + 32;
  CHECK(cudaMalloc(&d.req_to_token, size_t(max_bs) * pool_room * 4));
  fill_slots<<<4096, 256>>>(d.req_to_token, size_t(max_bs) * pool_room);
  for (int32_t** p : {&d.cache_seqlens, &d.cu_k, &d.cu_q}) CHECK(cudaMalloc(p, (max_bs + 1) * 4));
  for (int32_t** p : {&d.t2r, &d.expanded, &d.topk, &d.cu_topk, &d.ks, &d.ke}) CHECK(cudaMalloc(p, (t_alloc + 1) * 4));
  CHECK(cudaMalloc(&d.page_table, size_t(max_draft_tokens) * table_room * 4));
  CHECK(cudaMalloc(&d.block_table, size_t(max_draft_tokens) * (W / page_size + 64) * 4));
  CHECK(cudaMalloc(&d.status, 4));
  CHECK(cudaMemset(d.status, 0, 4));
  d.workspace_bytes = attnmeta::workspace_size({max_bs, int(t_alloc), W});
  CHECK(cudaMalloc(&d.workspace, d.workspace_bytes));
  copy_item* d_items;
  const size_t max_items = size_t(max_bs) * ((W + 511) / 512);
  CHECK(cudaMalloc(&d_items, sizeof(copy_item) * max_items));

  std::vector<bench_case> cases;
  const int all_bs[] = {1, 8, 32, 128, 256, 512, 1024, 4096};
  const char* modes[] = {"decode", "target_verify", "draft_extend", "draft_extend_const"};
  for (const char* m : modes)
    for (int bs : all_bs) {
      if (quick && bs != 1 && bs != 32 && bs != 128) continue;
      cases.push_back({m, bs, 1024, 32768, false});
      // past 1,024 requests the 1-D step's path depends on the lengths too (wide_len_limit())
      if (bs == 4096 && !quick) cases.push_back({m, bs, 102400, 131072, false});
      if (!std::strcmp(m, "draft_extend") || !std::strcmp(m, "draft_extend_const") || !quick) {
        cases.push_back({m, bs, 1024, 32768, true});
        cases.push_back({m, bs, 102400, 131072, true});
      }
    }
  for (int bs : {8, 16, 32, 64}) cases.push_back({"extend", bs, 0, 32768, false});
  cases.push_back({"extend", 256, 0, 32768, false, 1024});  // chunked prefill of many requests
  // Chunked prefill with page tables (bench/peers.py's extend_chunk): 8 and 32 requests of up to
  // 256 tokens, in the page-table buffers of the draft steps.
  static_assert(32 * 256 <= max_draft_tokens, "prefill page rows fit");
  for (int bs : {8, 32}) cases.push_back({"extend", bs, 0, 32768, true, 256});

  std::FILE* json = json_path ? std::fopen(json_path, "w") : nullptr;
  std::printf("device: %s, %d SMs | empty kernel: %.2f us eager, %.2f us graph node | one-warp load+store kernel: "
              "%.2f us eager, %.2f us graph node | copy: %.2f TB/s (read + write); one read, four writes: %.2f TB/s\n",
              prop.name, prop.multiProcessorCount, empty_eager, empty_graph, load_store_eager, load_store_graph,
              copy_bw / 1e12, copy4_bw / 1e12);
  std::vector<std::string> rows;
  std::vector<double> clocks;  // the SM clock after each case's graph timings, MHz
  for (const bench_case& c : cases) {
    const int D = 4;
    char key[128];
    std::snprintf(key, sizeof key, "%s:%d:%s:%s", c.mode, c.bs, c.pages ? "pages" : "nopages",
                  c.kv_lo >= 100000 ? "long" : "short");
    if (only && !matches_any(key, only)) continue;
    std::mt19937 rng(case_seed(key));
    const bool prefill = !std::strcmp(c.mode, "extend");
    std::vector<int32_t> seq(c.bs), q(c.bs), rpi(c.bs);
    int64_t n = 0;
    double bytes = 0;
    for (int b = 0; b < c.bs; ++b) {
      q[b] = prefill ? 1 + int(rng() % c.q_max) : !std::strcmp(c.mode, "draft_extend") ? 1 + int(rng() % D)
                                               : !std::strcmp(c.mode, "decode") ? 1 : D;
      seq[b] = c.kv_lo + int(rng() % (c.kv_hi - c.kv_lo + 1)) + (prefill ? q[b] : 0);
      rpi[b] = (b * 7919) % max_bs;
      n += q[b];
      const int64_t kv = seq[b] + (!std::strcmp(c.mode, "target_verify") ? D : 0);
      if (c.pages) {
        const int64_t cols = std::min<int64_t>(kv, W);
        bytes += 4.0 * cols + 4.0 * q[b] * cols + 4.0 * q[b] * ((cols + page_size - 1) / page_size);
      }
    }
    const int max_tokens = prefill ? int(std::max<int64_t>(n, 1)) : c.bs * (!std::strcmp(c.mode, "decode") ? 1 : D);
    bytes += 4.0 * c.bs * (c.pages ? 3 : 2) + 4.0 * 3 * (c.bs + 1) + 4.0 * 7 * max_tokens;  // inputs, per-request, per-token
    CHECK(cudaMemcpy(d.seq, seq.data(), c.bs * 4, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d.q, q.data(), c.bs * 4, cudaMemcpyHostToDevice));
    const std::vector<int64_t> seq64(seq.begin(), seq.end()), q64(q.begin(), q.end());
    CHECK(cudaMemcpy(d.seq64, seq64.data(), c.bs * 8, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d.q64, q64.data(), c.bs * 8, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d.rpi, rpi.data(), c.bs * 4, cudaMemcpyHostToDevice));

    const attnmeta::capacity cap{c.bs, max_tokens, c.pages ? W : 0};
    attnmeta::options opt;  // topk 2048
    opt.page_size = page_size;
    opt.kpool = kpool;
    attnmeta::metadata_outputs out;
    out.cache_seqlens = d.cache_seqlens, out.cu_seqlens_k = d.cu_k, out.cu_seqlens_q = d.cu_q;
    out.token_to_request = d.t2r, out.seqlens_expanded = d.expanded, out.topk_seqlens = d.topk;
    out.cu_topk_seqlens = d.cu_topk, out.key_start = d.ks, out.key_end = d.ke;
    if (c.pages) out.page_table = d.page_table, out.page_table_row_stride = table_stride, out.block_table = d.block_table;
    out.status = d.status;
    const attnmeta::page_source<int32_t> pages{d.rpi, d.req_to_token, pool_stride, max_bs};
    bool pdl = false;  // options::enable_pdl for the calls of `launch`
    const auto call = [&](cudaStream_t st, auto seq_lens, auto extend_lens) {
      opt.enable_pdl = pdl;
      cudaError_t e;
      if (!std::strcmp(c.mode, "decode")) e = attnmeta::decode(d.workspace, d.workspace_bytes, cap, c.bs, seq_lens, opt, out, st, pages);
      else if (!std::strcmp(c.mode, "target_verify")) e = attnmeta::target_verify(d.workspace, d.workspace_bytes, cap, c.bs, seq_lens, D, opt, out, st, pages);
      else if (!std::strcmp(c.mode, "draft_extend_const")) e = attnmeta::draft_extend(d.workspace, d.workspace_bytes, cap, c.bs, seq_lens, D, opt, out, st, pages);
      else e = attnmeta::draft_extend(d.workspace, d.workspace_bytes, cap, c.bs, seq_lens, extend_lens, opt, out, st, pages);  // extend too
      CHECK(e);
    };
    auto launch = [&](cudaStream_t st) {
      if (int64_lengths) call(st, d.seq64, d.q64);
      else call(st, d.seq, d.q);
    };
    // one call first: correctness of N, and a time estimate to size the repetitions
    launch(s);
    CHECK(cudaStreamSynchronize(s));
    int32_t got_n = 0;
    CHECK(cudaMemcpy(&got_n, d.cu_q + c.bs, 4, cudaMemcpyDeviceToHost));
    if (got_n != n) {
      std::fprintf(stderr, "%s bs=%d: N = %d, want %lld\n", c.mode, c.bs, got_n, (long long)n);
      return 1;
    }
    const double est = graph_us(launch, s, 3, 1);
    const int reps_n = int(std::min(2000.0, std::max(10.0, 20000.0 / est)));
    const double g = graph_us(launch, s, reps_n);
    const double g10 = graph_us(launch, s, std::max(10, reps_n / graph_calls), 7, graph_calls);
    // The same graph of 10 calls with programmatic dependent launch: each call may start while the
    // one before finishes.
    double g10_pdl = 0;
    if (has_pdl) {
      pdl = true;
      g10_pdl = graph_us(launch, s, std::max(10, reps_n / graph_calls), 7, graph_calls);
      pdl = false;
    }
    const double mhz = sm_clock_mhz(s, clock_at);  // the clock the graph timings ran at, or close
    clocks.push_back(mhz);
    double e = 0, e_empty = 0;  // eager: the case and an empty kernel on the same stream, in turn
    eager_pair_us([&] { launch(s); }, [&] { empty_kernel<<<1, 1, 0, s>>>(); }, reps_n, e, e_empty);
    const double floor_us = bytes / copy_bw * 1e6;
    const double bound = std::max(floor_us, empty_graph);
    // The same page tables by a bare copy (no metadata work, rows and lengths from the host), timed
    // the same way: in the caller's layout (rows pool_stride and table_stride apart); with both
    // tables' rows padded_rows columns further apart, what a caller's padding would give; and
    // packed (each request's row and its q page_table and block_table rows laid end to end,
    // 128-byte aligned), the same bytes in the closest layout there is: what the copy costs at this
    // size, the layout aside.
    double layout_us = 0, padded_us = 0, packed_us = 0;
    if (c.pages) {
      const int block_width = W / page_size;
      const auto padded = [](int64_t x) { return (x + 31) / 32 * 32; };
      for (double* copy_us : {&layout_us, &padded_us, &packed_us}) {
        const bool dense = copy_us == &packed_us;
        const int64_t pad = copy_us == &padded_us ? padded_rows : 0;
        std::vector<copy_item> items;
        int64_t src = 0, dst = 0, block = 0;  // the packed layout's running offsets
        for (int b = 0, row0 = 0; b < c.bs; row0 += q[b], ++b) {
          const int cols = int(std::min<int64_t>(seq[b] + (!std::strcmp(c.mode, "target_verify") ? D : 0), W));
          const int64_t stride = dense ? padded(cols) : table_stride + pad;
          const int64_t block_stride = dense ? padded((cols + page_size - 1) / page_size) : block_width;
          const int64_t at = dense ? src : int64_t(rpi[b]) * (pool_stride + pad);
          const int64_t dst0 = dense ? dst : int64_t(row0) * (table_stride + pad);
          const int64_t block0 = dense ? block : int64_t(row0) * block_width;
          // rows in groups of 16, as attnmeta's units (a prefill's thousands of rows over many warps)
          for (int g = 0; g < q[b]; g += 16)
            for (int chunk = 0; chunk * 512 < cols; ++chunk)
              items.push_back({at, dst0 + g * stride, block0 + g * block_stride, stride, block_stride,
                               std::min(16, q[b] - g), cols, chunk});
          src += padded(cols);
          dst += q[b] * stride;
          block += q[b] * block_stride;
        }
        if (dense && (src > int64_t(max_bs) * pool_room || dst > int64_t(max_draft_tokens) * table_room ||
                      block > int64_t(max_draft_tokens) * (block_width + 64))) {
          std::fprintf(stderr, "%s bs=%d: the packed copy does not fit the buffers\n", c.mode, c.bs);
          return 1;
        }
        if (items.size() > max_items) {
          std::fprintf(stderr, "%s bs=%d: %zu bare-copy items, room for %zu\n", c.mode, c.bs, items.size(), max_items);
          return 1;
        }
        CHECK(cudaMemcpy(d_items, items.data(), sizeof(copy_item) * items.size(), cudaMemcpyHostToDevice));
        const int grid = prop.multiProcessorCount * 4;
        *copy_us = graph_us([&](cudaStream_t st) {
          layout_copy_kernel<<<grid, 256, 0, st>>>(d_items, int(items.size()), d.req_to_token, d.page_table,
                                                   d.block_table);
        }, s, reps_n);
      }
    }
    char layout[32] = "-", padded_copy[32] = "-", packed[32] = "-";
    if (c.pages) {
      std::snprintf(layout, sizeof layout, "%.2f, %.0f%%", layout_us, 100.0 * floor_us / layout_us);
      std::snprintf(padded_copy, sizeof padded_copy, "%.2f, %.0f%%", padded_us, 100.0 * floor_us / padded_us);
      std::snprintf(packed, sizeof packed, "%.2f, %.0f%%", packed_us, 100.0 * floor_us / packed_us);
    }
    char q_label[16], q_range[16];
    std::snprintf(q_label, sizeof q_label, "q<=%d", c.q_max);
    std::snprintf(q_range, sizeof q_range, "1..%d", c.q_max);
    char row[704];
    std::snprintf(row, sizeof row, "| %-18s | %5d | %-13s | %5s | %8.2f | %8.2f | %8.2f | %10.0f | %5.2fx | %5.2fx | %4.0f%% | %14s | %14s | %14s | %8.2f | %5.2fx | %8.2f | %5.2fx |",
                  c.mode, c.bs, c.kv_lo >= 100000 ? "100K-131K" : (prefill ? q_label : "1K-32K"), c.pages ? "yes" : "no",
                  e, g, floor_us, bytes, g / bound, e / std::max(floor_us, e_empty), 100.0 * floor_us / g, layout, padded_copy, packed, g10,
                  g10 / std::max(floor_us, empty_graph10), g10_pdl, g10_pdl / std::max(floor_us, empty_graph10_pdl));
    rows.push_back(row);
    std::printf("%s\n", row);
    std::fflush(stdout);
    if (json)
      std::fprintf(json,
                   "{\"mode\":\"%s\",\"bs\":%d,\"q\":\"%s\",\"kv\":\"%d-%d\",\"W\":%d,\"pool_stride\":%lld,\"table_stride\":%lld,\"pages\":%s,\"impl\":\"attnmeta\","
                   "\"eager_us\":%.3f,\"graph_us\":%.3f,\"floor_us\":%.3f,\"bytes\":%.0f,\"tokens\":%lld,"
                   "\"empty_eager_us\":%.3f,\"empty_eager_pair_us\":%.3f,\"empty_graph_us\":%.3f,\"load_store_graph_us\":%.3f,\"copy_tbps\":%.3f,\"copy4_tbps\":%.3f,"
                   "\"layout_copy_us\":%.3f,\"padded_copy_us\":%.3f,\"packed_copy_us\":%.3f,\"graph10_us\":%.3f,\"empty_graph10_us\":%.3f,\"graph10_pdl_us\":%.3f,"
                   "\"empty_graph10_pdl_us\":%.3f,\"load_store_graph10_us\":%.3f,\"load_store_graph10_pdl_us\":%.3f,\"sm_mhz\":%.0f}\n",
                   c.mode, c.bs, prefill ? q_range : (!std::strcmp(c.mode, "draft_extend") ? "1..4" : (!std::strcmp(c.mode, "decode") ? "1" : "4")),
                   c.kv_lo, c.kv_hi, c.pages ? W : 0, (long long)(c.pages ? pool_stride : 0), (long long)(c.pages ? table_stride : 0), c.pages ? "true" : "false", e, g, floor_us, bytes, (long long)n,
                   empty_eager, e_empty, empty_graph, load_store_graph, copy_bw / 1e12, copy4_bw / 1e12, layout_us, padded_us, packed_us, g10, empty_graph10, g10_pdl,
                   empty_graph10_pdl, load_store_graph10, load_store_graph10_pdl, mhz);
  }
  if (json) std::fclose(json);
  uint32_t status = 0;
  CHECK(cudaMemcpy(&status, d.status, 4, cudaMemcpyDeviceToHost));
  char stride_note[96] = "";
  if (pool_pad || table_pad)
    std::snprintf(stride_note, sizeof stride_note, "; row strides: req_to_token %lld, page_table %lld",
                  (long long)pool_stride, (long long)table_stride);
  std::printf("\n## attnmeta on %s (W = %d%s, page %d, topk 2048%s%s; times in us, medians)\n", prop.name, W, stride_note,
              page_size, kpool > 1 ? ", pooled clamp" : "", int64_lengths ? ", int64 lengths" : "");
  std::printf("floors: empty kernel %.2f us eager, %.2f us as a graph node, %.2f us a call in a graph of %d (%.2f "
              "with programmatic dependent launch); one-warp load+store kernel %.2f us eager, %.2f us graph, %.2f us a call "
              "in a graph of %d (%.2f with programmatic dependent launch); copy %.2f TB/s (one read and four writes: "
              "%.2f TB/s); status word 0x%x\n",
              empty_eager, empty_graph, empty_graph10, graph_calls, empty_graph10_pdl, load_store_eager,
              load_store_graph, load_store_graph10, graph_calls, load_store_graph10_pdl, copy_bw / 1e12,
              copy4_bw / 1e12, status);
  std::sort(clocks.begin(), clocks.end());
  if (clocks.empty()) clocks.push_back(0);
  std::printf("SM clock: %.0f MHz before the floors; after each case's graph timings %.0f-%.0f MHz (median %.0f)\n\n",
              start_mhz, clocks.front(), clocks.back(), clocks[clocks.size() / 2]);
  std::printf("| mode               |    bs | kv'           | pages |  eager   |  graph   |  floor   |   bytes    | graph/max(floor,node) | eager/max(floor,launch beside it) | %%floor | layout copy: graph, %%floor | rows +%d copy: graph, %%floor | packed copy: graph, %%floor | graph x%d | x%d/max(floor,node x%d) | x%d PDL | x%d PDL/max(floor,node x%d PDL) |\n",
              padded_rows, graph_calls, graph_calls, graph_calls, graph_calls, graph_calls, graph_calls);
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& r : rows) std::printf("%s\n", r.c_str());
  return 0;
}
