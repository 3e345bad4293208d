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

/// What the launchers know of the current device (current_launch_device() in launch_i32_i32_i32.cu,
/// where the kernels of that batch type are compiled), for the plain clamp and the pooled one.
cudaError_t launchers_device(attnmeta::detail::launch_device& plain, attnmeta::detail::launch_device& pooled);
/// __CUDA_ARCH__ of a kernel compiled beside those launchers, as the current device runs it: 900 for
/// an sm_90 build, 800 where it was built from compute_80 PTX. One launch and one copy (synchronises).
cudaError_t launchers_cuda_arch(int& arch);

#ifndef ATTNMETA_TEST_DEFINES_LAUNCHERS
ATTNMETA_TEST_BATCH_TYPES(ATTNMETA_TEST_EXTERN_LAUNCHER)
#endif
