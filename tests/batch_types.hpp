// tests/batch_types.hpp: the batch types the tests compile the library for, as an X macro, for the
// GPU tests' launchers (launchers.cuh) and the strict build's host instances (strict/).
#pragma once

#include <cstdint>

/// X(SeqT, QT, IdxT) for every batch type the GPU tests launch: dev::with_device_types()'s index types,
/// where the modes of a constant q take QT = SeqT (decode_batch()).
#define ATTNMETA_TEST_BATCH_TYPES(X) \
  X(int32_t, int32_t, int32_t)       \
  X(int64_t, int64_t, int32_t)       \
  X(int64_t, int32_t, int32_t)       \
  X(int32_t, int32_t, int64_t)       \
  X(int32_t, int64_t, int64_t)       \
  X(int64_t, int64_t, int64_t)
