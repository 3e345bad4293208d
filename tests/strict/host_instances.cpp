// The host backend for every batch type the GPU tests launch (tests/batch_types.hpp), with both
// clamps, so that the strict build sees each template of the .hpp headers instantiated.
#include <attnmeta/host.hpp>

#include "../batch_types.hpp"

// compute_metadata with the clamp SPEC.md names, which instantiates it with both clamps.
#define ATTNMETA_STRICT_HOST(SeqT, QT, IdxT)                                                              \
  template cudaError_t attnmeta::host::compute_metadata<SeqT, QT, IdxT>(                                  \
      const attnmeta::capacity&, const attnmeta::ragged_batch<SeqT, QT, IdxT>&, const attnmeta::options&, \
      const attnmeta::metadata_outputs&);
ATTNMETA_TEST_BATCH_TYPES(ATTNMETA_STRICT_HOST)

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
