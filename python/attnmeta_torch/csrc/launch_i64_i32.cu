// launch_i64_i32.cu: attnmeta_torch::launch for int64_t seq_lens and int32_t extend_lens.
#include "launch.cuh"

cudaError_t attnmeta_torch::launch_i64_i32(const step& s) { return launch<int64_t, int32_t>(s); }
