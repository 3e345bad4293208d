#!/usr/bin/env bash
# The PyTorch binding as a regular package build: pip builds attnmeta_torch._C (no network), then
# the installed module loads the prebuilt extension and runs one call.
set -u
cd "$(dirname "$0")/.."
dest=${1:-/tmp/attnmeta_pip}
rm -rf "$dest"
# For $TORCH_CUDA_ARCH_LIST where it is set, else for the GPUs torch sees (setup.py).
MAX_JOBS=${MAX_JOBS:-8} \
  python3 -m pip install -q --no-build-isolation --no-deps --no-index --target "$dest" ./python || exit 1
cd /tmp && PYTHONPATH="$dest" python3 - <<'PY'
import torch, attnmeta_torch as am
ext = am.load()
print("prebuilt extension:", ext.__name__, "from", ext.__file__)
seq = torch.tensor([10, 4], dtype=torch.int32, device="cuda")
q = torch.tensor([3, 2], dtype=torch.int32, device="cuda")
md = am.draft_extend_metadata(seq, q, topk=8, max_tokens=5)
print("cu_topk_seqlens", md.cu_topk_seqlens.tolist())
assert md.cu_topk_seqlens.tolist() == [0, 8, 16, 24, 27, 31]
PY
