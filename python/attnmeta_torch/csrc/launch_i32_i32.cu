// launch_i32_i32.cu: attnmeta_torch::launch for int32_t seq_lens and int32_t extend_lens.
#include "launch.cuh"

cudaError_t attnmeta_torch::launch_i32_i32(const step& s) { return launch<int32_t, int32_t>(s); }
