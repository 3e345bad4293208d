// attnmeta/attnmeta.cuh: everything, for code compiled by nvcc.
//
// attnmeta computes attention metadata for LLM inference steps (decode, target verify, draft
// extend, extend) on the GPU with no host synchronisation, into caller buffers sized for the
// maximum batch, so the whole step can be captured in a CUDA graph once and replayed.
#pragma once

#include "batch.hpp"           // ragged_batch, the mode functions, capacity, options, metadata_outputs
#include "block_offsets.cuh"   // block-level prefix-sum offsets (cub::BlockScan)
#include "clamp.hpp"           // topk_clamp, pooled_topk_clamp
#include "config.hpp"
#include "device_offsets.cuh"  // device-wide prefix-sum offsets (cub::DeviceScan)
#include "host.hpp"            // attnmeta::host::compute_metadata, the CPU backend
#include "lookup.hpp"          // find_owner, locate_token, warp_find_owner: which request owns token t
#include "metadata.cuh"        // compute_metadata, decode, target_verify, draft_extend, extend
#include "request.hpp"         // per-request totals and per-token values
#include "status.hpp"          // status bits, last_error_message
#include "workspace.hpp"       // workspace_size: host arithmetic
