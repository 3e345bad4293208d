// The host backend for every batch type and clamp the GPU tests launch (tests/launchers.cuh), so
// that the strict build sees each template of the .hpp headers instantiated.
#include <attnmeta/host.hpp>

#define ATTNMETA_STRICT_HOST(SeqT, QT, IdxT, Clamp)                                                    \
  template cudaError_t attnmeta::host::compute_metadata<SeqT, QT, IdxT, Clamp>(                        \
      const attnmeta::capacity&, const attnmeta::ragged_batch<SeqT, QT, IdxT>&, const attnmeta::options&, \
      const Clamp&, const attnmeta::metadata_outputs&);
#define ATTNMETA_STRICT_BATCH(SeqT, QT, IdxT)                                 \
  ATTNMETA_STRICT_HOST(SeqT, QT, IdxT, attnmeta::topk_clamp)                 \
  ATTNMETA_STRICT_HOST(SeqT, QT, IdxT, attnmeta::pooled_topk_clamp)          \
  template cudaError_t attnmeta::host::compute_metadata<SeqT, QT, IdxT>(     \
      const attnmeta::capacity&, const attnmeta::ragged_batch<SeqT, QT, IdxT>&, const attnmeta::options&, \
      const attnmeta::metadata_outputs&);

ATTNMETA_STRICT_BATCH(int32_t, int32_t, int32_t)
ATTNMETA_STRICT_BATCH(int64_t, int64_t, int32_t)
ATTNMETA_STRICT_BATCH(int64_t, int32_t, int32_t)
ATTNMETA_STRICT_BATCH(int32_t, int32_t, int64_t)
ATTNMETA_STRICT_BATCH(int32_t, int64_t, int64_t)
ATTNMETA_STRICT_BATCH(int64_t, int64_t, int64_t)

/// The mode functions, for plain and strided lengths.
int strict_modes(const int32_t* seq, const int64_t* seq64, const int32_t* q, const attnmeta::metadata_outputs& out) {
  const attnmeta::capacity cap{4, 16, 0};
  const attnmeta::options opt;
  int failures = 0;
  failures += attnmeta::host::compute_metadata(cap, attnmeta::decode_batch(2, seq), opt, out) != cudaSuccess;
  failures += attnmeta::host::compute_metadata(cap, attnmeta::target_verify_batch(2, seq64, 4), opt, out) != cudaSuccess;
  failures += attnmeta::host::compute_metadata(cap, attnmeta::draft_extend_batch(2, seq, q), opt, out) != cudaSuccess;
  failures += attnmeta::host::compute_metadata(cap, attnmeta::draft_extend_batch(2, seq, 3), opt, out) != cudaSuccess;
  failures += attnmeta::host::compute_metadata(
                  cap, attnmeta::extend_batch(2, attnmeta::strided<int64_t>(seq64, 2), attnmeta::strided<int32_t>(q, 3)),
                  opt, out) != cudaSuccess;
  return failures;
}
