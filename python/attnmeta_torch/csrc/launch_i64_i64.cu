// launch_i64_i64.cu: attnmeta_torch::launch for int64_t seq_lens and int64_t extend_lens.
#include "launch.cuh"

cudaError_t attnmeta_torch::launch_i64_i64(const step& s) { return launch<int64_t, int64_t>(s); }
