// One of the GPU tests' launchers (launchers.cuh): compute_metadata for seq_lens int64, extend_lens int64,
// req_pool_indices int32, with every kernel it launches.
#define ATTNMETA_TEST_DEFINES_LAUNCHERS
#include "launchers.cuh"

ATTNMETA_TEST_LAUNCHER(int64_t, int64_t, int32_t)
