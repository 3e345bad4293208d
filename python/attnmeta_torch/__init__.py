"""attnmeta_torch: a step's attention metadata, computed on the GPU with no host synchronisation.

One call per step mode writes every output it is given into the caller's CUDA tensors (the static
buffers an engine keeps for its CUDA graphs), on the current stream. It allocates nothing and never
synchronises, so it can be captured in a CUDA graph once and replayed with new lengths:

    out = attnmeta_torch.allocate_metadata(max_bs, max_tokens, page_table_width=W, page_size=64)
    attnmeta_torch.draft_extend(seq_lens, extend_lens, topk=2048, out=out, page_size=64,
                                req_pool_indices=req_pool_indices, req_to_token=req_to_token)

Modes (SPEC.md): decode (q_b = 1), target_verify (q_b = D, kv'_b = seq_lens[b] + D), draft_extend
(q_b = extend_lens[b] or the constant D) and extend (q_b = extend_lens[b]); kv'_b = seq_lens[b] unless
said otherwise. Inputs are int32 or int64 CUDA tensors (1-D, any stride); outputs are int32.

The extension is the prebuilt attnmeta_torch._C (pip install) or, failing that, built on first use
with torch.utils.cpp_extension (a minute or two, once; cached by torch). Call load() at start-up to
pay that outside the first step.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import operator
import os
import threading
import warnings
from typing import Iterable, Optional, Union

import torch

__all__ = [
    "Metadata",
    "OUTPUTS",
    "default_outputs",
    "allocate_metadata",
    "allocate_workspace",
    "workspace_size",
    "decode",
    "target_verify",
    "draft_extend",
    "extend",
    "decode_metadata",
    "target_verify_metadata",
    "draft_extend_metadata",
    "extend_metadata",
    "load",
]

# Every output, in SPEC.md's order (the engine's name in brackets):
OUTPUTS = (
    "cache_seqlens",     # [bs]       kv'_b                                  (cache_seqlens_int32)
    "cu_seqlens_k",      # [bs+1]     0, inclusive scan of kv'_b             (cu_seqlens_k)
    "cu_seqlens_q",      # [bs+1]     0, inclusive scan of q_b               (cu_seqlens_q)
    "token_to_request",  # [T]        owning request b; -1 in the tail      (token_to_batch_idx)
    "seqlens_expanded",  # [T]        max(kv'_b - q_b + 1 + j, 0)           (nsa_seqlens_expanded)
    "topk_seqlens",      # [T]        clamp(seqlens_expanded)               (nsa_cache_seqlens_int32)
    "cu_topk_seqlens",   # [T+1]      0, inclusive scan of topk_seqlens     (nsa_cu_seqlens_k)
    "key_start",         # [T]        cu_seqlens_k[b]                       (indexer_k_start_end)
    "key_end",           # [T]        key_start + seqlens_expanded
    "page_table",        # [T, W]     req_to_token row, min(kv'_b, W) cols  (page_table_1)
    "block_table",       # [T, ceil(W / page_size)]  every page_size-th slot / page_size (real_page_table)
)
_PER_REQUEST = OUTPUTS[:3]
_TABLES = OUTPUTS[9:]

# Status bits (attnmeta/status.hpp), ORed into the optional `status` tensor (int32, 1 element).
# The word is sticky: zero it, read it whenever convenient (never on the step's critical path).
STATUS_NEGATIVE_LENGTH = 1 << 0        # a length was negative; read as 0
STATUS_TOKENS_OVER_CAPACITY = 1 << 1   # N > max_tokens; tokens past max_tokens not written
STATUS_KV_OVER_WIDTH = 1 << 2          # kv'_b > W for a request with page rows; W columns written
STATUS_BAD_REQ_POOL_INDEX = 1 << 3     # req_pool_indices[b] out of range; its page rows untouched
STATUS_INT32_OVERFLOW = 1 << 4         # a length or scan passed INT32_MAX; outputs saturate
STATUS_QUERY_LONGER_THAN_KV = 1 << 8   # notice: some q_b > kv'_b (padded graph rows)
STATUS_ERROR_MASK = 0xFF               # the bits that mean the input was wrong

_DECODE, _TARGET_VERIFY, _DRAFT_EXTEND, _EXTEND = range(4)  # mode numbers of csrc/step.hpp
_ALGORITHMS = {"automatic": 0, "single_launch": 1, "device_scan": 2}


@dataclasses.dataclass
class Metadata:
    """A step's output tensors (int32, CUDA); None skips that output. See OUTPUTS for the shapes.

    Per-request outputs need at least bs (cache_seqlens) or bs + 1 elements; the per-token ones
    share max_tokens rows (cu_topk_seqlens has max_tokens + 1). page_table's columns are W.
    """

    cache_seqlens: Optional[torch.Tensor] = None
    cu_seqlens_k: Optional[torch.Tensor] = None
    cu_seqlens_q: Optional[torch.Tensor] = None
    token_to_request: Optional[torch.Tensor] = None
    seqlens_expanded: Optional[torch.Tensor] = None
    topk_seqlens: Optional[torch.Tensor] = None
    cu_topk_seqlens: Optional[torch.Tensor] = None
    key_start: Optional[torch.Tensor] = None
    key_end: Optional[torch.Tensor] = None
    page_table: Optional[torch.Tensor] = None
    block_table: Optional[torch.Tensor] = None

    def tensors(self) -> dict:
        """The outputs that are set, by name."""
        return {name: t for name in OUTPUTS if (t := getattr(self, name)) is not None}


# --------------------------------------------------------------------------------------------------
# The extension: prebuilt, else built on first use.

_extension = None
_extension_lock = threading.Lock()


def load():
    """Loads the extension (building it on first use if no prebuilt one is installed) and returns it.

    The JIT build compiles for $TORCH_CUDA_ARCH_LIST if set, else for the current device only.
    """
    global _extension
    if _extension is None:
        with _extension_lock:
            if _extension is None:
                _extension = _import_or_build()
    return _extension


def _import_or_build():
    try:
        from . import _C

        return _C
    except ImportError as e:
        if importlib.util.find_spec(f"{__name__}._C") is not None:  # there, but it does not load
            warnings.warn(f"attnmeta_torch: the prebuilt extension does not load ({e}); building it instead")
    return _jit_build()


def _jit_build():
    from torch.utils import cpp_extension

    from . import _build as build

    set_arch = not os.environ.get("TORCH_CUDA_ARCH_LIST")
    if set_arch:
        if not torch.cuda.is_available():
            raise ImportError("attnmeta_torch: no CUDA device to build for; set TORCH_CUDA_ARCH_LIST")
        os.environ["TORCH_CUDA_ARCH_LIST"] = "%d.%d" % torch.cuda.get_device_capability()
    try:
        return cpp_extension.load(
            name="attnmeta_torch_ext",
            sources=[os.path.join(build.CSRC, s) for s in build.SOURCES],
            extra_include_paths=[build.include_dir()],
            extra_cuda_cflags=build.nvcc_flags(),
            verbose=os.environ.get("ATTNMETA_TORCH_VERBOSE", "") not in ("", "0"),
        )
    finally:
        if set_arch:
            del os.environ["TORCH_CUDA_ARCH_LIST"]


# --------------------------------------------------------------------------------------------------
# Buffers.


def workspace_size(max_bs: int, max_tokens: int = 0, page_table_width: int = 0) -> int:
    """Bytes of workspace a call with up to max_bs requests needs (host arithmetic; no CUDA call)."""
    return load().workspace_size(max_bs, max_tokens, page_table_width)


def allocate_workspace(max_bs: int, max_tokens: int = 0, page_table_width: int = 0, device=None) -> torch.Tensor:
    """A uint8 workspace tensor for calls with up to max_bs requests. Allocate it once, before capture."""
    return torch.empty(workspace_size(max_bs, max_tokens, page_table_width), dtype=torch.uint8,
                       device=_cuda_device(device))


# Workspaces made for callers that pass none, per (device index, bs rounded up to a power of two).
# Never freed: a captured graph keeps using the one it was captured with.
_workspaces: dict = {}


def _cached_workspace(seq_lens) -> Optional[torch.Tensor]:
    if not (isinstance(seq_lens, torch.Tensor) and seq_lens.is_cuda and seq_lens.dim() == 1):
        return None  # the extension names what is wrong with seq_lens
    max_bs = 1 << max(seq_lens.shape[0] - 1, 0).bit_length()
    key = (seq_lens.device.index, max_bs)
    ws = _workspaces.get(key)
    if ws is None:
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError(
                f"attnmeta_torch: no workspace for bs = {seq_lens.shape[0]} on {seq_lens.device} yet, and none "
                "can be allocated during CUDA-graph capture: pass workspace=allocate_workspace(max_bs), or make "
                "one eager call before capturing"
            )
        ws = _workspaces[key] = allocate_workspace(max_bs, device=seq_lens.device)
    return ws


def default_outputs(page_table_width: int = 0, page_size: int = 1) -> tuple:
    """The outputs allocate_metadata makes when `which` is None: every 1-D one, page_table when W > 0,
    and block_table too when page_size > 1."""
    names = OUTPUTS[:9]
    if page_table_width > 0:
        names += ("page_table", "block_table") if page_size > 1 else ("page_table",)
    return names


def allocate_metadata(max_bs: int, max_tokens: int, page_table_width: int = 0, page_size: int = 1, *,
                      device=None, which: Optional[Iterable[str]] = None, page_table_row_pad: int = 0) -> Metadata:
    """Zeroed int32 output buffers for batches of up to max_bs requests and max_tokens query tokens.

    which: the names to allocate (see OUTPUTS); default_outputs(page_table_width, page_size) if None.
    page_table_row_pad: page_table is then the [max_tokens, W] view of a [max_tokens, W + pad]
    buffer, its rows W + pad elements apart (not contiguous). On an H100, rows 163840 int32 apart
    cost the page-table copy 16-23% of its time from 256 requests up, and a pad of 256 wins nearly
    all of it back (bench/RESULTS.md); a multiple of 4 keeps the 16-byte copies. Pad req_to_token's
    rows too where you can. The consumers of page_table must take a row stride.
    An engine allocates these once and passes the same tensors to every call and graph capture.
    """
    names = tuple(which) if which is not None else default_outputs(page_table_width, page_size)
    unknown = sorted(set(names) - set(OUTPUTS))
    if unknown:
        raise ValueError(f"attnmeta_torch: unknown outputs {unknown}; the outputs are {list(OUTPUTS)}")
    if page_size < 1:
        raise ValueError(f"attnmeta_torch: page_size must be >= 1, got {page_size}")
    if any(n in _TABLES for n in names) and page_table_width <= 0:
        raise ValueError("attnmeta_torch: page_table and block_table need page_table_width > 0")
    pad = operator.index(page_table_row_pad)
    if pad < 0:
        raise ValueError(f"attnmeta_torch: page_table_row_pad must be >= 0, got {pad}")
    shapes = dict.fromkeys(OUTPUTS, (max_tokens,))
    shapes.update(cache_seqlens=(max_bs,), cu_seqlens_k=(max_bs + 1,), cu_seqlens_q=(max_bs + 1,),
                  cu_topk_seqlens=(max_tokens + 1,), page_table=(max_tokens, page_table_width + pad),
                  block_table=(max_tokens, math.ceil(page_table_width / page_size)))
    device = _cuda_device(device)
    out = Metadata(**{n: torch.zeros(shapes[n], dtype=torch.int32, device=device) for n in names})
    if pad and out.page_table is not None:
        out.page_table = out.page_table[:, :page_table_width]
    return out


def _cuda_device(device) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cuda", torch.cuda.current_device())


# --------------------------------------------------------------------------------------------------
# The four modes, into the caller's buffers.
#
# Shared keyword arguments:
#   topk             sparse-attention key budget (host int > 0), e.g. 2048 for DeepSeek-V3.2
#   out              Metadata (or any object with those attribute names) of int32 CUDA tensors
#   req_pool_indices int32/int64 [bs]: row of req_to_token per request (for page_table, block_table)
#   req_to_token     int32 [pool_rows, >= W]: token slot of each position; rows may be strided
#   page_size        block_table's page size; kpool: the pooled clamp's granule (1 = min(x, topk))
#   status           optional int32 CUDA tensor of 1 element; status bits are ORed in (STATUS_*)
#   workspace        uint8 CUDA tensor from allocate_workspace(max_bs). If None, a cached one per
#                    (device, bs) is used; it is made on the first call, which therefore must not be
#                    inside graph capture. Calls that run concurrently on several streams need their own.
#   algorithm        "automatic" (one launch up to bs = 1024, and up to 4096 for steps without
#                    page tables of at most 4 tokens a request on Hopper and later; else
#                    cub::DeviceScan + one fill), "single_launch" or "device_scan"
#   enable_pdl       programmatic dependent launch (Hopper and later, built for 9.0+; else ignored): the kernels
#                    may start while the stream's previous kernel finishes, wait for its memory
#                    before touching any buffer, and let the next kernel start early; a kernel that
#                    reads these outputs under the same launch attribute must wait the same way
# Each returns `out`. Errors in the arguments raise ValueError or TypeError naming the argument;
# errors in the data (negative lengths, N > max_tokens, kv'_b > W, bad pool rows) are made safe on the
# device and reported in `status`.


def decode(seq_lens, *, topk, out, req_pool_indices=None, req_to_token=None, page_size=1, kpool=1,
           status=None, workspace=None, algorithm="automatic", enable_pdl=False):
    """Decode: q_b = 1, kv'_b = seq_lens[b]."""
    return _compute(_DECODE, seq_lens, None, 1, topk, out, req_pool_indices, req_to_token, page_size, kpool,
                    status, workspace, algorithm, enable_pdl)


def target_verify(seq_lens, draft_tokens: int, *, topk, out, req_pool_indices=None, req_to_token=None,
                  page_size=1, kpool=1, status=None, workspace=None, algorithm="automatic", enable_pdl=False):
    """Target verify: q_b = D (draft_tokens), kv'_b = seq_lens[b] + D."""
    return _compute(_TARGET_VERIFY, seq_lens, None, operator.index(draft_tokens), topk, out, req_pool_indices,
                    req_to_token, page_size, kpool, status, workspace, algorithm, enable_pdl)


def draft_extend(seq_lens, extend_lens: Union[torch.Tensor, int], *, topk, out, req_pool_indices=None,
                 req_to_token=None, page_size=1, kpool=1, status=None, workspace=None, algorithm="automatic",
                 enable_pdl=False):
    """Draft extend: q_b = extend_lens[b] (a CUDA tensor), or the constant D (an int); kv'_b = seq_lens[b]."""
    lens, d = _lengths_or_constant(extend_lens)
    return _compute(_DRAFT_EXTEND, seq_lens, lens, d, topk, out, req_pool_indices, req_to_token, page_size,
                    kpool, status, workspace, algorithm, enable_pdl)


def extend(seq_lens, extend_lens, *, topk, out, req_pool_indices=None, req_to_token=None, page_size=1, kpool=1,
           status=None, workspace=None, algorithm="automatic", enable_pdl=False):
    """Extend (prefill, chunked prefill): q_b = extend_lens[b], kv'_b = seq_lens[b] (prefix included)."""
    if not isinstance(extend_lens, torch.Tensor):
        raise TypeError(f"attnmeta_torch: extend_lens must be a CUDA tensor, got {type(extend_lens).__name__}")
    return _compute(_EXTEND, seq_lens, extend_lens, 0, topk, out, req_pool_indices, req_to_token, page_size,
                    kpool, status, workspace, algorithm, enable_pdl)


def _lengths_or_constant(extend_lens):
    if isinstance(extend_lens, torch.Tensor):
        return extend_lens, 0
    return None, operator.index(extend_lens)


def _compute(mode, seq_lens, extend_lens, draft_tokens, topk, out, req_pool_indices, req_to_token, page_size,
             kpool, status, workspace, algorithm, enable_pdl):
    ext = load()
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"attnmeta_torch: algorithm must be one of {list(_ALGORITHMS)}, got {algorithm!r}")
    if workspace is None:
        workspace = _cached_workspace(seq_lens)
    outputs = [getattr(out, name, None) for name in OUTPUTS]
    ext.compute(mode, seq_lens, extend_lens, draft_tokens, req_pool_indices, req_to_token, outputs, status,
                workspace, operator.index(topk), operator.index(kpool), operator.index(page_size),
                _ALGORITHMS[algorithm], bool(enable_pdl))
    return out


# --------------------------------------------------------------------------------------------------
# Eager conveniences: allocate the outputs, compute, return them. Not for the hot path of a graph.
#
# They allocate max_tokens rows. It is a host bound, never read from the device: bs in decode, bs * D
# for a constant D, and the caller's max_tokens when the lengths are a tensor (N is only on the
# device). page_table_width defaults to req_to_token.shape[1]; which as in allocate_metadata.


def decode_metadata(seq_lens, *, topk, req_pool_indices=None, req_to_token=None, page_table_width=None,
                    page_size=1, kpool=1, which=None, status=None, workspace=None) -> Metadata:
    """decode() into freshly allocated outputs."""
    out = _allocate_for(seq_lens, _batch_size(seq_lens), req_to_token, page_table_width, page_size, which)
    return decode(seq_lens, topk=topk, out=out, req_pool_indices=req_pool_indices, req_to_token=req_to_token,
                  page_size=page_size, kpool=kpool, status=status, workspace=workspace)


def target_verify_metadata(seq_lens, draft_tokens: int, *, topk, req_pool_indices=None, req_to_token=None,
                           page_table_width=None, page_size=1, kpool=1, which=None, status=None,
                           workspace=None) -> Metadata:
    """target_verify() into freshly allocated outputs (max_tokens = bs * D)."""
    max_tokens = _batch_size(seq_lens) * operator.index(draft_tokens)
    out = _allocate_for(seq_lens, max_tokens, req_to_token, page_table_width, page_size, which)
    return target_verify(seq_lens, draft_tokens, topk=topk, out=out, req_pool_indices=req_pool_indices,
                         req_to_token=req_to_token, page_size=page_size, kpool=kpool, status=status,
                         workspace=workspace)


def draft_extend_metadata(seq_lens, extend_lens, *, topk, max_tokens=None, req_pool_indices=None,
                          req_to_token=None, page_table_width=None, page_size=1, kpool=1, which=None, status=None,
                          workspace=None) -> Metadata:
    """draft_extend() into freshly allocated outputs. max_tokens may be None only for a constant D."""
    lens, d = _lengths_or_constant(extend_lens)
    if max_tokens is None:
        if lens is not None:
            raise ValueError("attnmeta_torch: max_tokens is required when extend_lens is a tensor "
                             "(the token count N is known only on the device)")
        max_tokens = _batch_size(seq_lens) * d
    out = _allocate_for(seq_lens, max_tokens, req_to_token, page_table_width, page_size, which)
    return draft_extend(seq_lens, extend_lens, topk=topk, out=out, req_pool_indices=req_pool_indices,
                        req_to_token=req_to_token, page_size=page_size, kpool=kpool, status=status,
                        workspace=workspace)


def extend_metadata(seq_lens, extend_lens, *, topk, max_tokens, req_pool_indices=None, req_to_token=None,
                    page_table_width=None, page_size=1, kpool=1, which=None, status=None,
                    workspace=None) -> Metadata:
    """extend() into freshly allocated outputs of max_tokens rows (required: N is only on the device)."""
    out = _allocate_for(seq_lens, max_tokens, req_to_token, page_table_width, page_size, which)
    return extend(seq_lens, extend_lens, topk=topk, out=out, req_pool_indices=req_pool_indices,
                  req_to_token=req_to_token, page_size=page_size, kpool=kpool, status=status, workspace=workspace)


def _batch_size(seq_lens) -> int:
    if not isinstance(seq_lens, torch.Tensor) or seq_lens.dim() != 1:
        raise ValueError("attnmeta_torch: seq_lens must be a 1-D tensor")
    return seq_lens.shape[0]


def _allocate_for(seq_lens, max_tokens, req_to_token, page_table_width, page_size, which) -> Metadata:
    if page_table_width is None:
        has_rows = isinstance(req_to_token, torch.Tensor) and req_to_token.dim() == 2
        page_table_width = req_to_token.shape[1] if has_rows else 0
    return allocate_metadata(_batch_size(seq_lens), operator.index(max_tokens), page_table_width, page_size,
                             device=seq_lens.device, which=which)
