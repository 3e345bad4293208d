// launch_i32_i64.cu: attnmeta_torch::launch for int32_t seq_lens and int64_t extend_lens.
#include "launch.cuh"

cudaError_t attnmeta_torch::launch_i32_i64(const step& s) { return launch<int32_t, int64_t>(s); }
