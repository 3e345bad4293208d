// tests/launchers.cuh: the GPU tests compile the library's kernels once. Every launch of the tests
// ends in attnmeta::compute_metadata for one of the batch types below; each test file sees these
// specializations as `extern`, and launch_<types>.cu defines one of them (its kernels with it), so
// a parallel build compiles them side by side and the test binary holds each kernel once.
#pragma once

#include <attnmeta/attnmeta.cuh>

#include "batch_types.hpp"  // ATTNMETA_TEST_BATCH_TYPES

/// compute_metadata with the clamp SPEC.md names, for the batch type (SeqT, QT, IdxT).
#define ATTNMETA_TEST_LAUNCHER(SeqT, QT, IdxT)                                                             \
  template cudaError_t attnmeta::compute_metadata<SeqT, QT, IdxT>(                                         \
      void*, size_t, const attnmeta::capacity&, const attnmeta::ragged_batch<SeqT, QT, IdxT>&,             \
      const attnmeta::options&, const attnmeta::metadata_outputs&, cudaStream_t);
#define ATTNMETA_TEST_EXTERN_LAUNCHER(SeqT, QT, IdxT) extern ATTNMETA_TEST_LAUNCHER(SeqT, QT, IdxT)

#ifndef ATTNMETA_TEST_DEFINES_LAUNCHERS
ATTNMETA_TEST_BATCH_TYPES(ATTNMETA_TEST_EXTERN_LAUNCHER)
#endif
