// attnmeta/config.hpp: version, the host/device qualifier and the integer helpers every layer uses.
#pragma once

#include <cstdint>
#include <limits>

#include <cuda_runtime_api.h>  // cudaError_t, cudaStream_t: the only CUDA names the host layers need

#define ATTNMETA_VERSION_MAJOR 0
#define ATTNMETA_VERSION_MINOR 1
#define ATTNMETA_VERSION_PATCH 0

// Functions marked ATTNMETA_HD compile for the host and, under nvcc, for the device too, so the
// host backend and the CPU tests run the very code the kernels run.
#if defined(__CUDACC__)
#define ATTNMETA_HD __host__ __device__ __forceinline__
#else
#define ATTNMETA_HD inline
#endif

namespace attnmeta {

/// Largest value an int32 output can hold.
constexpr int64_t int32_max = std::numeric_limits<int32_t>::max();

/// min(max(x, 0), int32_max) as int32: how every int64 quantity is written to an int32 output.
ATTNMETA_HD int32_t saturate_int32(int64_t x) {
  return static_cast<int32_t>(x < 0 ? 0 : (x > int32_max ? int32_max : x));
}

/// ceil(a / b) for a >= 0, b > 0.
ATTNMETA_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// floor(a / b) for b > 0, as Python's // (what engines write for slot // page_size).
ATTNMETA_HD int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (q * b != a && a < 0) ? q - 1 : q;
}

}  // namespace attnmeta
