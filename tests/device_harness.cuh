// tests/device_harness.cuh: runs a test case through the device launchers, with guarded, poisoned
// device buffers, and brings the outputs back for comparison with the reference.
#pragma once

#include "launchers.cuh"  // the library, its launchers compiled once (launch_*.cu)

#include <cstdio>
#include <cstdlib>

#include "cases.hpp"
#include "catch.hpp"

#define CUDA_OK(call)                                                                                  \
  do {                                                                                                 \
    const cudaError_t e_ = (call);                                                                     \
    if (e_ != cudaSuccess) FAIL(#call << ": " << cudaGetErrorString(e_) << " " << attnmeta::last_error_message()); \
  } while (0)

namespace dev {

/// A device copy of a host vector, freed on destruction.
template <class T>
struct buffer {
  T* ptr = nullptr;
  size_t n = 0;
  buffer() = default;
  explicit buffer(const std::vector<T>& h) { upload(h); }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  // Stream-ordered allocations from the device's pool: the stress test makes a hundred thousand.
  ~buffer() { cudaFreeAsync(ptr, 0); }
  void upload(const std::vector<T>& h) {
    if (h.size() != n) {
      if (ptr) cudaFreeAsync(ptr, 0);
      ptr = nullptr;
      n = h.size();
      if (n) CUDA_OK(cudaMallocAsync(reinterpret_cast<void**>(&ptr), n * sizeof(T), 0));
    }
    if (n) CUDA_OK(cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(std::vector<T>& h) const {
    h.resize(n);
    if (n) CUDA_OK(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
  }
};

/// Calls f(SeqT{}, QT{}, IdxT{}) with the index types the GPU tests cover, picked by `types & 3`:
/// all int32; int64 seq_lens; int64 extend_lens and req_pool_indices; all int64. Only these four are
/// instantiated, so the tests compile the launchers of launchers.cuh's batch types and no others.
template <class F>
void with_device_types(int types, F&& f) {
  switch (types & 3) {
    case 0: return f(int32_t{}, int32_t{}, int32_t{});
    case 1: return f(int64_t{}, int32_t{}, int32_t{});
    case 2: return f(int32_t{}, int64_t{}, int64_t{});
    default: return f(int64_t{}, int64_t{}, int64_t{});
  }
}

/// One case on the device: typed inputs, guarded outputs, status word and workspace.
template <class SeqT, class QT, class IdxT>
struct step {
  cases::step_case c;
  buffer<SeqT> seq;
  buffer<QT> q;
  buffer<IdxT> rpi;
  buffer<int32_t> r2t;
  buffer<int32_t> out[11];
  buffer<uint32_t> status;
  buffer<char> workspace;
  ref::buffers host;  // the poisoned layout, for sizes

  explicit step(const cases::step_case& c_) : c(c_) {
    upload_inputs(c);
    r2t.upload(c.r2t.empty() ? std::vector<int32_t>(1, 0) : c.r2t);
    workspace.upload(std::vector<char>(attnmeta::workspace_size(c.cap), 0));
  }

  /// New lengths (and indices) of the same shape, outputs poisoned again, status cleared.
  void upload_inputs(const cases::step_case& next) {
    c.s = next.s;
    const cases::typed_inputs<SeqT, QT, IdxT> in(c);
    seq.upload(in.seq);
    q.upload(in.q);
    rpi.upload(in.rpi);
    host = cases::poisoned_outputs(c);
    for (int i = 0; i < 11; ++i) out[i].upload(host.*ref::all_fields[i].member);
    status.upload(std::vector<uint32_t>(1, 0));
  }

  attnmeta::metadata_outputs outputs() {
    int i = 0;
    ref::buffers& b = host;
    return cases::outputs_over(c, b, [&](std::vector<int32_t>& v) {
      for (i = 0; i < 11; ++i)
        if (&v == &(b.*ref::all_fields[i].member)) return out[i].ptr;
      return static_cast<int32_t*>(nullptr);
    }, status.ptr);
  }

  /// The mode's own launcher. Asynchronous on `stream`.
  cudaError_t launch(attnmeta::path algorithm, cudaStream_t stream = 0) {
    attnmeta::options opt = c.opt;
    opt.algorithm = algorithm;
    const attnmeta::strided<SeqT> sv(seq.ptr, c.seq_stride);
    const attnmeta::strided<QT> qv(q.ptr, c.q_stride);
    const auto pages = cases::pages_of(c, rpi.ptr, r2t.ptr + c.r2t_offset);
    const attnmeta::metadata_outputs o = outputs();
    void* ws = workspace.ptr;
    const size_t bytes = workspace.n;
    switch (c.m) {
      case cases::mode::decode: return attnmeta::decode(ws, bytes, c.cap, c.s.bs, sv, opt, o, stream, pages);
      case cases::mode::target_verify:
        return attnmeta::target_verify(ws, bytes, c.cap, c.s.bs, sv, c.D, opt, o, stream, pages);
      case cases::mode::draft_extend:
        return attnmeta::draft_extend(ws, bytes, c.cap, c.s.bs, sv, qv, opt, o, stream, pages);
      case cases::mode::draft_extend_const:
        return attnmeta::draft_extend(ws, bytes, c.cap, c.s.bs, sv, c.D, opt, o, stream, pages);
      case cases::mode::extend: return attnmeta::extend(ws, bytes, c.cap, c.s.bs, sv, qv, opt, o, stream, pages);
    }
    return cudaErrorInvalidValue;
  }

  ref::buffers download() {
    ref::buffers got;
    for (int i = 0; i < 11; ++i) out[i].download(got.*ref::all_fields[i].member);
    std::vector<uint32_t> st;
    status.download(st);
    got.status = st[0];
    return got;
  }
};

/// Runs c on the device with `algorithm` and returns "" if it equals the reference, else the diff.
inline std::string check_on_device(const cases::step_case& c, attnmeta::path algorithm) {
  std::string diff;
  with_device_types(c.types, [&](auto s, auto q, auto i) {
    step<decltype(s), decltype(q), decltype(i)> d(c);
    const cudaError_t e = d.launch(algorithm);
    if (e != cudaSuccess) {
      diff = std::string("launch failed: ") + cudaGetErrorString(e) + " " + attnmeta::last_error_message();
      return;
    }
    CUDA_OK(cudaDeviceSynchronize());
    diff = cases::compare(cases::expected_outputs(d.c), d.download());
  });
  return diff;
}

/// 0 when a CUDA device is present; the GPU tests' main returns 77 (CTest's skip code) otherwise.
inline bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace dev
