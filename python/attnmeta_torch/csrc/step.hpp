// step.hpp: one checked call, as plain pointers and flags.
//
// The binding (attnmeta_torch.cu) checks the tensors and fills a `step`; the launch translation
// units (launch_*.cu) turn it into an attnmeta batch and launch. They include no torch header, so
// they compile quickly and in parallel, one per (seq_lens, extend_lens) integer type.
#pragma once

#include <cstddef>
#include <cstdint>

#include <attnmeta/batch.hpp>

namespace attnmeta_torch {

/// The step's mode; the numbers are the ones attnmeta_torch/__init__.py passes.
enum class mode : int { decode = 0, target_verify = 1, draft_extend = 2, extend = 3 };

/// A 1-D int32 or int64 device array with an element stride (a tensor's data_ptr and stride(0)).
struct index_array {
  const void* data = nullptr;
  int64_t stride = 1;
  bool is_int64 = false;
};

/// Everything one launch needs, checked by the binding.
struct step {
  mode kind = mode::decode;
  int bs = 0;
  int draft_tokens = 1;           ///< D: q_b when extend_lens is absent, and kv_extra in target_verify
  index_array seq_lens;
  index_array extend_lens;        ///< data == nullptr: q_b is the constant (1 in decode, else D)
  index_array req_pool_indices;   ///< read only when a page table is asked for
  const int32_t* req_to_token = nullptr;
  int64_t req_to_token_row_stride = 0;
  int64_t pool_rows = -1;
  attnmeta::capacity cap;
  attnmeta::options opt;
  attnmeta::metadata_outputs out;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  cudaStream_t stream = nullptr;
};

// One instantiation per (seq_lens, extend_lens) type, each in its own translation unit. The
// constant-q modes run in the one whose extend_lens type equals seq_lens's.
cudaError_t launch_i32_i32(const step& s);
cudaError_t launch_i32_i64(const step& s);
cudaError_t launch_i64_i32(const step& s);
cudaError_t launch_i64_i64(const step& s);

/// Runs `s` with the instantiation for its input types. Host only; never synchronises.
inline cudaError_t launch(const step& s) {
  const bool seq64 = s.seq_lens.is_int64;
  const bool q64 = s.extend_lens.data ? s.extend_lens.is_int64 : seq64;
  if (seq64) return q64 ? launch_i64_i64(s) : launch_i64_i32(s);
  return q64 ? launch_i32_i64(s) : launch_i32_i32(s);
}

}  // namespace attnmeta_torch
