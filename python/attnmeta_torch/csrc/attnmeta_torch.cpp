// attnmeta_torch.cpp: the PyTorch binding of attnmeta (host compiler; the kernels are in launch_*.cu).
//
// compute() checks every tensor (dtype, device, shape, strides) with an error that names it, then
// runs attnmeta::compute_metadata on the current CUDA stream of the tensors' device. It allocates
// nothing and never synchronises, so it is safe inside CUDA-graph capture. attnmeta_torch/__init__.py
// is the Python face of it; call that, not this module.
#include <torch/extension.h>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <attnmeta/batch.hpp>
#include <attnmeta/status.hpp>
#include <attnmeta/workspace.hpp>

#include "step.hpp"

namespace py = pybind11;

namespace {

using attnmeta_torch::index_array;
using attnmeta_torch::mode;
using attnmeta_torch::step;

constexpr int64_t int32_max = attnmeta::int32_max;

// The outputs, in the order attnmeta_torch.OUTPUTS passes them.
enum output : int {
  cache_seqlens, cu_seqlens_k, cu_seqlens_q,                                             // per request
  token_to_request, seqlens_expanded, topk_seqlens, cu_topk_seqlens, key_start, key_end,  // per token
  page_table, block_table,                                                               // per token, 2-D
  output_count
};
constexpr const char* output_names[output_count] = {
    "cache_seqlens", "cu_seqlens_k", "cu_seqlens_q", "token_to_request", "seqlens_expanded", "topk_seqlens",
    "cu_topk_seqlens", "key_start", "key_end", "page_table", "block_table"};

// Messages are built with std::string alone, never with iostreams (c10::str): some toolchains link
// the extension against a static libstdc++ whose streams are not set up inside a Python process.
inline std::string text(const char* s) { return s; }
inline std::string text(const std::string& s) { return s; }
template <class T, class = std::enable_if_t<std::is_integral<T>::value>>
std::string text(T v) {
  return std::to_string(v);
}
inline std::string text(const at::Device& d) {
  return d.is_cuda() ? "cuda:" + std::to_string(d.index()) : (d.is_cpu() ? std::string("cpu") : std::string("a non-CUDA device"));
}
inline std::string text(at::IntArrayRef sizes) {
  std::string r = "[";
  for (size_t i = 0; i < sizes.size(); ++i) r += (i ? ", " : "") + std::to_string(sizes[i]);
  return r + "]";
}
template <class... Args>
std::string cat(const Args&... args) {
  std::string r;
  (void)std::initializer_list<int>{(r += text(args), 0)...};
  return r;
}

// Argument errors surface in Python as ValueError / TypeError with the argument's name.
template <class... Args>
[[noreturn]] void value_error(const Args&... args) {
  throw py::value_error(cat("attnmeta_torch: ", args...));
}
template <class... Args>
[[noreturn]] void type_error(const Args&... args) {
  throw py::type_error(cat("attnmeta_torch: ", args...));
}
#define ATTNMETA_TORCH_CHECK_VALUE(cond, ...) \
  do {                                        \
    if (!(cond)) value_error(__VA_ARGS__);    \
  } while (0)
#define ATTNMETA_TORCH_CHECK_TYPE(cond, ...) \
  do {                                       \
    if (!(cond)) type_error(__VA_ARGS__);    \
  } while (0)

std::string dtype_name(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kInt: return "torch.int32";
    case at::kLong: return "torch.int64";
    case at::kByte: return "torch.uint8";
    default: return std::string("torch.") + c10::toString(t.scalar_type());
  }
}

// Every tensor lives on the CUDA device of seq_lens.
void check_device(const at::Tensor& t, const char* name, const at::Device& device) {
  ATTNMETA_TORCH_CHECK_VALUE(t.is_cuda(), name, " must be a CUDA tensor, got one on ", t.device());
  ATTNMETA_TORCH_CHECK_VALUE(t.device() == device, name, " is on ", t.device(), " but seq_lens is on ", device);
}

// A 1-D int32/int64 input with at least `count` elements; any element stride.
index_array index_input(const at::Tensor& t, const char* name, const at::Device& device, int64_t count) {
  check_device(t, name, device);
  ATTNMETA_TORCH_CHECK_TYPE(t.scalar_type() == at::kInt || t.scalar_type() == at::kLong, name,
                            " must be torch.int32 or torch.int64, got ", dtype_name(t));
  ATTNMETA_TORCH_CHECK_VALUE(t.dim() == 1, name, " must be 1-D, got shape ", t.sizes());
  ATTNMETA_TORCH_CHECK_VALUE(t.size(0) >= count, name, " has ", t.size(0), " elements, fewer than the batch's ",
                             count, " requests (seq_lens.shape[0])");
  index_array a;
  a.data = t.data_ptr();
  a.stride = t.stride(0);
  a.is_int64 = t.scalar_type() == at::kLong;
  return a;
}

// An int32 tensor of `dims` dimensions whose last dimension is contiguous.
void check_int32(const at::Tensor& t, const char* name, const at::Device& device, int64_t dims) {
  check_device(t, name, device);
  ATTNMETA_TORCH_CHECK_TYPE(t.scalar_type() == at::kInt, name, " must be torch.int32, got ", dtype_name(t));
  ATTNMETA_TORCH_CHECK_VALUE(t.dim() == dims, name, " must be ", dims, "-D, got shape ", t.sizes());
  ATTNMETA_TORCH_CHECK_VALUE(t.size(-1) <= 1 || t.stride(-1) == 1, name,
                             " must be contiguous in its last dimension, got strides ", t.strides());
}

// Elements between the rows of a 2-D tensor; a single row may report any stride, so it gets `dense`.
int64_t row_stride(const at::Tensor& t, int64_t dense) { return t.size(0) > 1 ? t.stride(0) : dense; }

/// Computes one step's metadata into the given outputs. See attnmeta_torch/__init__.py.
void compute(int64_t mode_number, const at::Tensor& seq_lens, const std::optional<at::Tensor>& extend_lens,
             int64_t draft_tokens, const std::optional<at::Tensor>& req_pool_indices,
             const std::optional<at::Tensor>& req_to_token, const std::vector<std::optional<at::Tensor>>& outputs,
             const std::optional<at::Tensor>& status, const std::optional<at::Tensor>& workspace, int64_t topk,
             int64_t kpool, int64_t page_size, int64_t algorithm, bool enable_pdl) {
  // Host integers: nothing else is looked at until they are right.
  ATTNMETA_TORCH_CHECK_VALUE(mode_number >= 0 && mode_number <= 3, "unknown mode ", mode_number);
  ATTNMETA_TORCH_CHECK_VALUE(outputs.size() == output_count, "expected ", int(output_count), " outputs, got ",
                             outputs.size());
  ATTNMETA_TORCH_CHECK_VALUE(topk >= 1 && topk <= int32_max, "topk must be in [1, 2^31 - 1], got ", topk);
  ATTNMETA_TORCH_CHECK_VALUE(kpool >= 1 && kpool <= int32_max, "kpool must be in [1, 2^31 - 1], got ", kpool);
  ATTNMETA_TORCH_CHECK_VALUE(page_size >= 1 && page_size <= int32_max, "page_size must be in [1, 2^31 - 1], got ",
                             page_size);
  ATTNMETA_TORCH_CHECK_VALUE(algorithm >= 0 && algorithm <= 2, "unknown algorithm ", algorithm);

  step s;
  s.kind = static_cast<mode>(mode_number);
  s.opt.topk = static_cast<int>(topk);
  s.opt.kpool = static_cast<int>(kpool);
  s.opt.page_size = static_cast<int>(page_size);
  s.opt.algorithm = static_cast<attnmeta::path>(algorithm);
  s.opt.enable_pdl = enable_pdl;

  // seq_lens fixes the device and the batch size.
  ATTNMETA_TORCH_CHECK_VALUE(seq_lens.is_cuda(), "seq_lens must be a CUDA tensor, got one on ", seq_lens.device());
  const at::Device device = seq_lens.device();
  s.seq_lens = index_input(seq_lens, "seq_lens", device, 0);
  const int64_t bs = seq_lens.size(0);
  ATTNMETA_TORCH_CHECK_VALUE(bs <= int32_max, "seq_lens has ", bs, " elements, more than 2^31 - 1");
  s.bs = static_cast<int>(bs);

  // q_b: per request from extend_lens, or the constant (1 in decode, D elsewhere).
  const bool constant_q = s.kind == mode::decode || s.kind == mode::target_verify;
  ATTNMETA_TORCH_CHECK_VALUE(!(constant_q && extend_lens), "extend_lens is not taken in this mode");
  ATTNMETA_TORCH_CHECK_VALUE(s.kind != mode::extend || extend_lens, "extend needs extend_lens (a tensor)");
  if (extend_lens) s.extend_lens = index_input(*extend_lens, "extend_lens", device, bs);
  if (s.kind != mode::decode && !extend_lens)
    ATTNMETA_TORCH_CHECK_VALUE(draft_tokens >= 0 && draft_tokens <= int32_max,
                               "the draft token count D must be in [0, 2^31 - 1], got ", draft_tokens);
  s.draft_tokens = s.kind == mode::decode ? 1 : static_cast<int>(std::min(draft_tokens, int32_max));

  // The outputs: int32, on the device, contiguous rows.
  std::array<const at::Tensor*, output_count> given{};
  std::array<int32_t*, output_count> ptr{};
  for (int i = 0; i < output_count; ++i) {
    if (!outputs[i]) continue;
    given[i] = &*outputs[i];
    check_int32(*given[i], output_names[i], device, i >= page_table ? 2 : 1);
    ptr[i] = given[i]->data_ptr<int32_t>();
  }
  for (int i : {cache_seqlens, cu_seqlens_k, cu_seqlens_q}) {
    const int64_t need = i == cache_seqlens ? bs : bs + 1;
    ATTNMETA_TORCH_CHECK_VALUE(!given[i] || given[i]->size(0) >= need, output_names[i], " has ",
                               given[i] ? given[i]->size(0) : 0, " elements; bs = ", bs, " needs ", need);
  }

  // max_tokens: the rows of the per-token outputs, which must all agree.
  int64_t max_tokens = -1;
  const char* max_tokens_from = nullptr;
  for (int i = token_to_request; i < output_count; ++i) {
    if (!given[i]) continue;
    const int64_t rows = given[i]->size(0) - (i == cu_topk_seqlens ? 1 : 0);
    ATTNMETA_TORCH_CHECK_VALUE(rows >= 0, "cu_topk_seqlens must have max_tokens + 1 >= 1 elements");
    if (max_tokens < 0) {
      max_tokens = rows;
      max_tokens_from = output_names[i];
    }
    ATTNMETA_TORCH_CHECK_VALUE(rows == max_tokens, output_names[i], " gives max_tokens = ", rows, " but ",
                               max_tokens_from, " gives ", max_tokens,
                               ": every per-token output has max_tokens rows (cu_topk_seqlens max_tokens + 1)");
  }
  if (max_tokens < 0) {
    // No per-token output: nothing can overflow, so N is checked against the tightest bound known.
    max_tokens = extend_lens ? int32_max - 1 : std::min<int64_t>(bs * s.draft_tokens, int32_max - 1);
  }
  ATTNMETA_TORCH_CHECK_VALUE(max_tokens < int32_max, "max_tokens (rows of the per-token outputs) must be < 2^31 - 1");

  // The page source, and W: page_table's columns, or the most block_table and req_to_token hold.
  if (req_to_token) {
    const at::Tensor& r = *req_to_token;
    check_int32(r, "req_to_token", device, 2);
    s.req_to_token = r.data_ptr<int32_t>();
    s.req_to_token_row_stride = row_stride(r, r.size(1));
    s.pool_rows = r.size(0);  // req_pool_indices are checked against it on the device
  }
  if (req_pool_indices) s.req_pool_indices = index_input(*req_pool_indices, "req_pool_indices", device, bs);
  const at::Tensor* pt = given[page_table];
  const at::Tensor* bt = given[block_table];
  int64_t width = 0;
  if (pt || bt) {
    const char* table = pt ? "page_table" : "block_table";
    ATTNMETA_TORCH_CHECK_VALUE(req_to_token.has_value(), "req_to_token is required when ", table, " is given");
    ATTNMETA_TORCH_CHECK_VALUE(req_pool_indices.has_value(), "req_pool_indices is required when ", table,
                               " is given");
    const int64_t pool_columns = req_to_token->size(1);
    if (pt) {
      width = pt->size(1);
    } else {  // min(pool_columns, block columns * page_size), without overflowing
      width = bt->size(1) >= attnmeta::ceil_div(pool_columns, page_size) ? pool_columns : bt->size(1) * page_size;
    }
    ATTNMETA_TORCH_CHECK_VALUE(width > 0 && width <= int32_max, table, " gives page_table_width W = ", width,
                               "; it must be in [1, 2^31 - 1]");
    ATTNMETA_TORCH_CHECK_VALUE(pool_columns >= width, "req_to_token has ", pool_columns,
                               " columns, fewer than page_table's W = ", width);
    const int64_t blocks = attnmeta::ceil_div(width, page_size);
    ATTNMETA_TORCH_CHECK_VALUE(!bt || bt->size(1) >= blocks, "block_table has ", bt ? bt->size(1) : 0,
                               " columns; W = ", width, " with page_size = ", page_size, " needs ceil(W / page_size) = ",
                               blocks);
    if (pt) s.out.page_table_row_stride = row_stride(*pt, width);
    if (bt) s.out.block_table_row_stride = row_stride(*bt, blocks);
  }

  s.out.cache_seqlens = ptr[cache_seqlens];
  s.out.cu_seqlens_k = ptr[cu_seqlens_k];
  s.out.cu_seqlens_q = ptr[cu_seqlens_q];
  s.out.token_to_request = ptr[token_to_request];
  s.out.seqlens_expanded = ptr[seqlens_expanded];
  s.out.topk_seqlens = ptr[topk_seqlens];
  s.out.cu_topk_seqlens = ptr[cu_topk_seqlens];
  s.out.key_start = ptr[key_start];
  s.out.key_end = ptr[key_end];
  s.out.page_table = ptr[page_table];
  s.out.block_table = ptr[block_table];

  if (status) {
    check_device(*status, "status", device);
    ATTNMETA_TORCH_CHECK_TYPE(status->scalar_type() == at::kInt, "status must be torch.int32, got ",
                              dtype_name(*status));
    ATTNMETA_TORCH_CHECK_VALUE(status->numel() == 1, "status must have exactly 1 element, got shape ",
                               status->sizes());
    s.out.status = reinterpret_cast<uint32_t*>(status->data_ptr<int32_t>());  // the bits, as uint32
  }

  // The workspace: sized for this batch (it depends on bs only), on the device, 256-byte aligned.
  s.cap.max_bs = s.bs;
  s.cap.max_tokens = static_cast<int>(max_tokens);
  s.cap.page_table_width = static_cast<int>(width);
  ATTNMETA_TORCH_CHECK_VALUE(workspace.has_value(), "workspace is required");
  check_device(*workspace, "workspace", device);
  ATTNMETA_TORCH_CHECK_TYPE(workspace->scalar_type() == at::kByte, "workspace must be torch.uint8, got ",
                            dtype_name(*workspace));
  ATTNMETA_TORCH_CHECK_VALUE(workspace->is_contiguous(), "workspace must be contiguous");
  const size_t need = attnmeta::workspace_size(s.cap);
  ATTNMETA_TORCH_CHECK_VALUE(static_cast<size_t>(workspace->numel()) >= need, "workspace has ", workspace->numel(),
                             " bytes, fewer than workspace_size(", bs, ") = ", need);
  s.workspace = workspace->data_ptr();
  s.workspace_bytes = static_cast<size_t>(workspace->numel());
  ATTNMETA_TORCH_CHECK_VALUE(reinterpret_cast<uintptr_t>(s.workspace) % 256 == 0,
                             "workspace must start 256-byte aligned (allocate it as a tensor of its own)");

  const c10::cuda::CUDAGuard guard(device);
  s.stream = at::cuda::getCurrentCUDAStream(device.index()).stream();
  const cudaError_t e = attnmeta_torch::launch(s);
  if (e == cudaErrorInvalidValue && *attnmeta::last_error_message() != '\0')
    throw py::value_error(attnmeta::last_error_message());
  if (e != cudaSuccess)
    throw std::runtime_error(cat("attnmeta_torch: compute_metadata failed: ", cudaGetErrorString(e)));
}

/// Bytes of workspace a call with batches up to max_bs needs (host arithmetic, no CUDA call).
int64_t workspace_size(int64_t max_bs, int64_t max_tokens, int64_t page_table_width) {
  ATTNMETA_TORCH_CHECK_VALUE(max_bs >= 0 && max_bs <= int32_max, "max_bs must be in [0, 2^31 - 1], got ", max_bs);
  attnmeta::capacity cap;
  cap.max_bs = static_cast<int>(max_bs);
  cap.max_tokens = static_cast<int>(std::min(std::max<int64_t>(max_tokens, 0), int32_max - 1));
  cap.page_table_width = static_cast<int>(std::min(std::max<int64_t>(page_table_width, 0), int32_max));
  return static_cast<int64_t>(attnmeta::workspace_size(cap));
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "attnmeta: attention metadata for LLM inference steps on the GPU, with no host synchronisation";
  m.def("compute", &compute, "Computes one step's metadata into the given outputs (see attnmeta_torch)",
        py::arg("mode"), py::arg("seq_lens"), py::arg("extend_lens"), py::arg("draft_tokens"),
        py::arg("req_pool_indices"), py::arg("req_to_token"), py::arg("outputs"), py::arg("status"),
        py::arg("workspace"), py::arg("topk"), py::arg("kpool"), py::arg("page_size"), py::arg("algorithm"),
        py::arg("enable_pdl") = false);
  m.def("workspace_size", &workspace_size, "Bytes of workspace for batches up to max_bs", py::arg("max_bs"),
        py::arg("max_tokens") = 0, py::arg("page_table_width") = 0);

  py::dict bits;
  bits["negative_length"] = static_cast<uint32_t>(attnmeta::status_negative_length);
  bits["tokens_over_capacity"] = static_cast<uint32_t>(attnmeta::status_tokens_over_capacity);
  bits["kv_over_width"] = static_cast<uint32_t>(attnmeta::status_kv_over_width);
  bits["bad_req_pool_index"] = static_cast<uint32_t>(attnmeta::status_bad_req_pool_index);
  bits["int32_overflow"] = static_cast<uint32_t>(attnmeta::status_int32_overflow);
  bits["query_longer_than_kv"] = static_cast<uint32_t>(attnmeta::status_query_longer_than_kv);
  bits["error_mask"] = attnmeta::status_error_mask;
  m.attr("status_bits") = bits;
  m.attr("single_launch_max_bs") = attnmeta::single_launch_max_bs;
  m.attr("version") = cat(ATTNMETA_VERSION_MAJOR, ".", ATTNMETA_VERSION_MINOR, ".", ATTNMETA_VERSION_PATCH);
}
