// The four mode launchers of metadata.cuh for plain and strided int32 and int64 lengths, with and
// without page tables, so that the strict build sees them instantiated. The compute_metadata they
// call is declared extern for each of the GPU tests' batch types (tests/launchers.cuh), so this
// file compiles the wrappers alone; it is compiled, never linked.
#include "../launchers.cuh"

cudaError_t strict_modes(void* ws, size_t ws_bytes, const int32_t* seq, const int64_t* seq64, const int32_t* q,
                         const int64_t* q64, const int32_t* pool, const int64_t* pool64, const int32_t* table,
                         const attnmeta::metadata_outputs& out, cudaStream_t stream) {
  const attnmeta::capacity cap{64, 256, 1024};
  attnmeta::options opt;
  opt.page_size = 64;
  const attnmeta::page_source<int32_t> pages{pool, table, 1024};
  const attnmeta::page_source<int64_t> pages64{pool64, table, 1024};
  cudaError_t e = attnmeta::decode(ws, ws_bytes, cap, 4, seq, opt, out, stream, pages);
  if (!e) e = attnmeta::decode(ws, ws_bytes, cap, 4, seq64, opt, out, stream, pages64);
  if (!e) e = attnmeta::target_verify(ws, ws_bytes, cap, 4, attnmeta::strided<int32_t>(seq, 2), 3, opt, out, stream);
  if (!e) e = attnmeta::target_verify(ws, ws_bytes, cap, 4, seq64, 3, opt, out, stream, pages64);
  if (!e) e = attnmeta::draft_extend(ws, ws_bytes, cap, 4, seq, q, opt, out, stream, pages);
  if (!e) e = attnmeta::draft_extend(ws, ws_bytes, cap, 4, seq, q64, opt, out, stream, pages64);
  if (!e) e = attnmeta::draft_extend(ws, ws_bytes, cap, 4, seq64, 4, opt, out, stream);
  if (!e) e = attnmeta::extend(ws, ws_bytes, cap, 4, seq64, attnmeta::strided<int32_t>(q, 2), opt, out, stream, pages);
  if (!e) e = attnmeta::extend(ws, ws_bytes, cap, 4, seq64, q64, opt, out, stream, pages64);
  return e;
}
