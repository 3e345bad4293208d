"""attnmeta against the peers an engine would otherwise use, measured from PyTorch.

The cases of bench/bench.cu (SPEC.md's modes, bs, kv' ranges, W = 163840, page_size = 64, topk = 2048,
with and without page tables; prefill with page tables as chunked prefill, extend_chunk: q_b 1-256 at
bs 8 and 32, whose page tables fit a GPU), each run through:

  attnmeta      the PyTorch binding (python/attnmeta_torch): one call, no host sync, every output
                including the tail past N, into buffers sized for the case's capacity.
  attnmeta_pdl  the same with enable_pdl=True: programmatic dependent launch, each call in the graph free
                to start while the one before it finishes (not counted among the peers).
  python        the engine's old eager path: .tolist() of the lengths (GPU->CPU syncs), torch.cat of
                one torch.arange per request for seqlens_expanded, clamp, cumsum, repeat_interleave for
                token_to_request and for the page-table rows gathered from req_to_token (as wide as
                the batch's longest row), then copy_ into the caller's buffers. It allocates on every
                call and cannot be captured in a CUDA graph.
  seed_triton   the seed's Triton kernel (the first attempt SPEC.md cites): one program per 256
                tokens, each token finds its request by a linear search over the offsets (O(bs) per
                token). The wrapper makes the offsets with torch.cumsum and reads N with one .item()
                to size the grid, so it runs eagerly only. It writes seqlens_expanded and topk_seqlens
                and nothing else, so it runs in the cases without page tables.
  fused_triton  the engine's current fused design: program 0 computes the 1-D outputs with tl.cumsum
                over the batch padded to a power of two; the other programs copy 128-column blocks
                of one page-table row, up to that row's kv length, with their block-table entries
                (grid 1 + bs * q_max rows by P column programs, program p taking blocks p, p + P, ...;
                P = 4, 16 and 64 are each timed and the fastest is reported). With a constant q the
                token's request is t // q. With per-request q it needs N from the host and searches
                all bs requests for every token (and every page program sums the q of the requests
                before it): here the host-known N is passed in so that the call can be captured; in an
                engine that N is a sync.
  fused_triton_pdl  the same kernel launched with launch_pdl=True, waiting for the previous grid
                (tl.extra.cuda.gdc_wait) and then letting the next one launch, first thing, as
                attnmeta's kernels do: its speedup is attnmeta_pdl's, PDL against PDL. Skipped where
                Triton or the GPU (compute capability below 9.0) lacks programmatic dependent launch.

Every implementation writes into the same buffers (the binding's Metadata, or plain torch buffers of
the same shapes when the binding does not load, in which case the peers still run). Before
anything is timed, the buffers are poisoned, each implementation runs once and what it writes is
compared with a plain reference (and so with attnmeta): the 1-D outputs over [0, N) (attnmeta also
over its tail up to max_tokens) and the page tables over each row's first min(kv', W) columns. A
mismatch is reported and that implementation is not timed for that case.

Timing: eager is a host timer around back-to-back calls with one synchronize at the end; graph is
--graph-calls calls (10 unless set) captured in one torch.cuda.CUDAGraph, replayed back to back
between two CUDA events, the time divided among the calls: one replay issued from Python takes 3-5 us
of host time, which would hide every call shorter than that. Each is the median over repetitions of
the mean time per call. The run also measures an empty Triton kernel
and the smallest torch op (a 1-element fill_), eager and as a graph node (the latency floor), and the
device-to-device copy bandwidth (a large copy_, bytes read + written). A case's floor_us is its
bandwidth floor (SPEC.md: each input read once, each output written once, the per-token outputs over
max_tokens rows, the page tables per request q * min(kv', W) and q * ceil(min(kv', W) / page_size)
entries, req_to_token kv' entries) over that bandwidth. "x floor" is an implementation's best time
(graph where it can be captured, eager otherwise) over the larger of floor_us and one graph node;
"attnmeta speedup" is the peer's best time over attnmeta's (over attnmeta_pdl's for
fused_triton_pdl).

Run from the repository root on a machine with a CUDA GPU, PyTorch and Triton, with the binding built:

    python3 bench/peers.py --out DIR            # the default grid, a few minutes
    python3 bench/peers.py --out DIR --quick    # a smoke run
    python3 bench/peers.py --out DIR --full     # every bs, both kv ranges, longer timing

DIR receives peers.jsonl (one object per case and implementation: mode, variant, bs, q and kv as
[lo, hi], W, page_size, pages, n_tokens, impl, eager_us, graph_us, floor_us, latency_floor_us, bytes,
status, speedups; the first line holds the reference points), peers.md (the table) and, when
matplotlib is installed, peers.png (time against bs for one configuration). The markdown table is
printed last. --variants, --bs, --kv, --pages, --impls and --max-gb narrow or widen the grid; cases
whose buffers need more than --max-gb (page_table alone is max_tokens * W * 4 bytes) are listed as
skipped.
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ONE_D = ["cache_seqlens", "cu_seqlens_k", "cu_seqlens_q", "token_to_request", "seqlens_expanded",
         "topk_seqlens", "cu_topk_seqlens", "key_start", "key_end"]
PAGE_OUTPUTS = ["page_table", "block_table"]
PER_REQUEST = {"cache_seqlens", "cu_seqlens_k", "cu_seqlens_q"}
POISON = -0x2A2A2A2A
IMPLS = ["attnmeta", "attnmeta_pdl", "python", "seed_triton", "fused_triton", "fused_triton_pdl"]
NOTES = {"seed_triton": "seqlens_expanded, topk_seqlens only",
         "attnmeta_pdl": "enable_pdl: each call may start while the one before it finishes",
         "fused_triton_pdl": "launch_pdl=True; speedup: attnmeta_pdl's"}
# Each launch with PDL is paired with the attnmeta launch of the same kind for its speedup.
PDL_PAIR = {"fused_triton_pdl": "attnmeta_pdl"}

# variant: (mode, q_lo, q_hi, q per request on the device)
VARIANTS = {
    "decode": ("decode", 1, 1, False),
    "target_verify": ("target_verify", 4, 4, False),
    "draft_extend": ("draft_extend", 1, 4, True),
    "draft_extend_d4": ("draft_extend", 4, 4, False),
    "extend": ("extend", 1, 8192, True),
    "extend_chunk": ("extend", 1, 256, True),  # chunked prefill: page tables within --max-gb
}
CHUNK_BS = [8, 32]  # extend_chunk's bs (bench/bench.cu's prefill cases with page tables)
KV_RANGES = {"1K-32K": (1024, 32768), "100K-131K": (102400, 131072)}
GRIDS = {  # variants, bs, extend's bs, kv ranges, seconds per measurement, repetitions
    "quick": (["decode", "draft_extend", "draft_extend_d4", "extend"], [1, 32, 1024], [8], ["1K-32K"], 0.03, 3),
    "default": (list(VARIANTS), [1, 32, 128, 1024, 4096], [8, 64], list(KV_RANGES), 0.1, 5),
    "full": (list(VARIANTS), [1, 8, 32, 128, 256, 512, 1024, 4096], [8, 16, 32, 64], list(KV_RANGES), 0.3, 7),
}


@dataclass(frozen=True)
class Case:
    variant: str
    bs: int
    kv: tuple  # kv'_b is drawn uniformly from [lo, hi] (and raised to q_b in extend)
    pages: bool
    W: int = 163840
    page_size: int = 64
    topk: int = 2048

    @property
    def mode(self): return VARIANTS[self.variant][0]
    @property
    def q_lo(self): return VARIANTS[self.variant][1]
    @property
    def q_hi(self): return VARIANTS[self.variant][2]
    @property
    def q_per_request(self): return VARIANTS[self.variant][3]
    @property
    def kv_extra(self): return self.q_lo if self.mode == "target_verify" else 0
    @property
    def max_tokens(self): return self.bs * self.q_hi
    @property
    def bt_width(self): return -(-self.W // self.page_size)

    @property
    def label(self):
        q = f"{self.q_lo}" if self.q_lo == self.q_hi else f"{self.q_lo}-{self.q_hi}"
        kv = next((k for k, v in KV_RANGES.items() if v == tuple(self.kv)), f"{self.kv[0]}-{self.kv[1]}")
        return f"{self.mode} q={q}{'' if self.q_per_request else ' (const)'} bs={self.bs} kv={kv}" \
               f"{' +pages' if self.pages else ''}"

    def bytes_allocated(self):
        """What the case's inputs and output buffers take on the device."""
        t = self.max_tokens
        total = 4 * (4 * self.bs + 3 + 6 * t)
        if self.pages:
            total += 4 * (self.bs * self.W + t * self.W + t * self.bt_width)
        return total

    def python_extra_bytes(self):
        """The old path's temporaries: the gathered rows, their repeat per token, the block slice."""
        return 4 * (self.bs + 2 * self.max_tokens) * self.kv[1] if self.pages else 0


@dataclass
class Lengths:
    """A case's host-side lengths (int64): q_b, kv'_b, the req_to_token row of each request, N."""
    q: torch.Tensor
    kv: torch.Tensor
    rpi: torch.Tensor
    n: int


@dataclass
class Inputs:
    """The device inputs an engine would hand over, plus the host lengths they were made from."""
    seq_lens: torch.Tensor      # int32 [bs]: kv'_b - kv_extra
    q: torch.Tensor             # int32 [bs]: q_b, also for the constant-q modes (the peers read it)
    rpi: torch.Tensor           # int32 [bs]: req_pool_indices
    req_to_token: torch.Tensor  # int32 [bs, W] or None
    lens: Lengths


def lengths(c, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(c.q_lo, c.q_hi + 1, (c.bs,), generator=g)
    kv = torch.maximum(torch.randint(c.kv[0], c.kv[1] + 1, (c.bs,), generator=g), q)
    return Lengths(q, kv, torch.randperm(c.bs, generator=g), int(q.sum()))


def device_inputs(c, lens, seed, device="cuda"):
    i32 = dict(dtype=torch.int32, device=device)
    r2t = None
    if c.pages:
        torch.manual_seed(seed)
        r2t = torch.randint(0, 1 << 30, (c.bs, c.W), **i32)
    return Inputs(torch.as_tensor(lens.kv - c.kv_extra, **i32), torch.as_tensor(lens.q, **i32),
                  torch.as_tensor(lens.rpi, **i32), r2t, lens)


def plain_outputs(c, device="cuda"):
    """Caller buffers for the case's capacity, when the binding does not provide them."""
    t = c.max_tokens
    e = lambda *shape: torch.empty(shape, dtype=torch.int32, device=device)  # noqa: E731
    out = dict(cache_seqlens=e(c.bs), cu_seqlens_k=e(c.bs + 1), cu_seqlens_q=e(c.bs + 1),
               token_to_request=e(t), seqlens_expanded=e(t), topk_seqlens=e(t), cu_topk_seqlens=e(t + 1),
               key_start=e(t), key_end=e(t), page_table=None, block_table=None)
    if c.pages:
        out.update(page_table=e(t, c.W), block_table=e(t, c.bt_width))
    return out


# ---- The binding: the one place it is called ----------------------------------------------------

def load_binding():
    """The installed module, else the one in python/ (its extension built now if it is not prebuilt,
    so that no build lands in a measurement); None and why leaves the peers to run alone."""
    if importlib.util.find_spec("attnmeta_torch") is None:
        sys.path.insert(0, os.path.join(ROOT, "python"))
    try:
        import attnmeta_torch
        attnmeta_torch.load()
        return attnmeta_torch, None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


def binding_allocate(am, c):
    """What an engine allocates once, before capture: the outputs for the case's capacity
    (max_bs = bs, max_tokens = bs * q_max, W columns) and a workspace."""
    width = c.W if c.pages else 0
    md = am.allocate_metadata(c.bs, c.max_tokens, page_table_width=width, page_size=c.page_size, device="cuda")
    md.workspace = am.allocate_workspace(c.bs, c.max_tokens, width, device="cuda")  # kept with the outputs
    return md


def binding_outputs(md):
    """The Metadata's output tensors by SPEC.md's names (None where it has none)."""
    return {name: getattr(md, name, None) for name in ONE_D + PAGE_OUTPUTS}


def binding_call(am, c, inp, md, enable_pdl=False):
    """One step's metadata into md, as an engine calls it (host ints, device tensors, no sync)."""
    kw = dict(topk=c.topk, out=md, page_size=c.page_size, workspace=md.workspace, enable_pdl=enable_pdl)
    if c.pages:
        kw.update(req_pool_indices=inp.rpi, req_to_token=inp.req_to_token)
    if c.mode == "decode":
        return am.decode(inp.seq_lens, **kw)
    if c.mode == "target_verify":
        return am.target_verify(inp.seq_lens, c.q_lo, **kw)
    q = inp.q if c.q_per_request else c.q_lo  # draft_extend takes the device q_b or the constant D
    return getattr(am, c.mode)(inp.seq_lens, q, **kw)


# ---- The plain reference --------------------------------------------------------------------------

def reference(c, lens):
    """SPEC.md's outputs on the host, tails included (per-token outputs have max_tokens rows)."""
    q, kv, n = lens.q, lens.kv, lens.n
    owner = torch.repeat_interleave(torch.arange(c.bs), q)
    cu_q, cu_kv = F.pad(q.cumsum(0), (1, 0)), F.pad(kv.cumsum(0), (1, 0))
    se = (kv[owner] - q[owner] + 1 + torch.arange(n) - cu_q[owner]).clamp(min=0)
    tk = se.clamp(max=c.topk)
    cu_tk = F.pad(tk.cumsum(0), (1, 0))
    tail = lambda x, fill: torch.cat([x, torch.full((c.max_tokens - n,), fill, dtype=x.dtype)])  # noqa: E731
    return dict(cache_seqlens=kv, cu_seqlens_k=cu_kv, cu_seqlens_q=cu_q, token_to_request=tail(owner, -1),
                seqlens_expanded=tail(se, 0), topk_seqlens=tail(tk, 0), cu_topk_seqlens=tail(cu_tk, int(cu_tk[-1])),
                key_start=tail(cu_kv[owner], 0), key_end=tail(cu_kv[owner] + se, 0))


def check(c, inp, ref, out, names, with_tail):
    """None if out holds the reference in `names`, else a line naming the first wrong element."""
    for name in (x for x in names if x not in PAGE_OUTPUTS):
        rows = c.bs if name in PER_REQUEST else (c.max_tokens if with_tail else inp.lens.n)
        length = rows + (1 if name.startswith("cu_") else 0)
        got, want = out[name][:length].to("cpu", torch.int64), ref[name][:length]
        bad = torch.nonzero(got != want).flatten()
        if bad.numel():
            i = int(bad[0])
            return f"{name}[{i}] = {int(got[i])}, expected {int(want[i])} ({bad.numel()} wrong)"
    return check_pages(c, inp, out) if "page_table" in names else None


def check_pages(c, inp, out):
    """Each token's row against its request's req_to_token row, over its first min(kv', W) columns."""
    dev, ps, lens = inp.req_to_token.device, c.page_size, inp.lens
    owner = torch.repeat_interleave(torch.arange(c.bs), lens.q)
    src = lens.rpi[owner].to(dev)
    ncols = lens.kv[owner].clamp(max=c.W).to(dev)
    cols = torch.arange(c.W, device=dev)
    chunk = max(1, (1 << 26) // c.W)
    for r0 in range(0, lens.n, chunk):
        r1 = min(lens.n, r0 + chunk)
        want = inp.req_to_token.index_select(0, src[r0:r1])
        live = cols[None, :] < ncols[r0:r1, None]
        for name, got, exp, m in (("page_table", out["page_table"][r0:r1, :c.W], want, live),
                                  ("block_table", out["block_table"][r0:r1, :c.bt_width],
                                   want[:, ::ps] // ps, live[:, ::ps])):
            bad = torch.nonzero((got != exp) & m)
            if bad.numel():
                r, col = bad[0].tolist()
                return f"{name}[{r0 + r}, {col}] = {int(got[r, col])}, expected {int(exp[r, col])}"
    return None


# ---- Peer: the engine's old eager Python path ----------------------------------------------------

def run_python(c, inp, out):
    dev = inp.seq_lens.device
    kv = inp.seq_lens + c.kv_extra if c.kv_extra else inp.seq_lens
    kv_list = kv.tolist()  # GPU -> CPU sync
    if c.q_lo == c.q_hi == 1:
        se = kv  # decode: one token per request, seqlens_expanded is the kv length
    else:
        q_list = inp.q.tolist() if c.q_per_request else [c.q_lo] * c.bs  # and another
        se = torch.cat([torch.arange(k - q + 1, k + 1, dtype=torch.int32, device=dev)
                        for q, k in zip(q_list, kv_list)])
    n = se.numel()
    tk = torch.clamp(se, max=c.topk)
    reqs = torch.arange(c.bs, dtype=torch.int32, device=dev)
    t2r = torch.repeat_interleave(reqs, inp.q) if c.q_per_request else reqs.repeat_interleave(c.q_lo)
    cu_k = F.pad(torch.cumsum(kv, 0, dtype=torch.int32), (1, 0))
    ks = cu_k.index_select(0, t2r)
    out["cache_seqlens"][:c.bs].copy_(kv)
    out["cu_seqlens_k"][:c.bs + 1].copy_(cu_k)
    out["cu_seqlens_q"][:c.bs + 1].copy_(F.pad(torch.cumsum(inp.q, 0, dtype=torch.int32), (1, 0)))
    out["token_to_request"][:n].copy_(t2r)
    out["seqlens_expanded"][:n].copy_(se)
    out["topk_seqlens"][:n].copy_(tk)
    out["cu_topk_seqlens"][:n + 1].copy_(F.pad(torch.cumsum(tk, 0, dtype=torch.int32), (1, 0)))
    out["key_start"][:n].copy_(ks)
    out["key_end"][:n].copy_(ks + se)
    if c.pages:
        width = min(max(kv_list), c.W)
        rows = inp.req_to_token[:, :width].index_select(0, inp.rpi)
        rows = (torch.repeat_interleave(rows, inp.q, dim=0, output_size=n) if c.q_per_request
                else rows.repeat_interleave(c.q_lo, dim=0))
        out["page_table"][:n, :width].copy_(rows)
        blocks = rows[:, ::c.page_size] // c.page_size
        out["block_table"][:n, :blocks.shape[1]].copy_(blocks)


# ---- Peer: the seed's Triton kernel ---------------------------------------------------------------

SEED_BLOCK = 256


@triton.jit(do_not_specialize=["bs", "n_tokens", "kv_extra", "topk"])
def _seed_kernel(q_ptr, seq_ptr, ends_ptr, se_ptr, tk_ptr, bs, n_tokens, kv_extra, topk,
                 BLOCK: tl.constexpr):
    t = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = t < n_tokens
    b = tl.zeros([BLOCK], dtype=tl.int32)
    for i in range(bs):  # linear search: the requests that end at or before t
        b += (tl.load(ends_ptr + i) <= t).to(tl.int32)
    q = tl.load(q_ptr + b, mask=live, other=0)
    kv = tl.load(seq_ptr + b, mask=live, other=0) + kv_extra
    j = t - (tl.load(ends_ptr + b, mask=live, other=0) - q)
    se = kv - q + 1 + j
    tl.store(se_ptr + t, se, mask=live)
    tl.store(tk_ptr + t, tl.minimum(se, topk), mask=live)


def run_seed(c, inp, out):
    ends = torch.cumsum(inp.q, 0, dtype=torch.int32)
    n = int(ends[-1].item())  # the host sync: the grid is sized from N
    _seed_kernel[(triton.cdiv(n, SEED_BLOCK),)](
        inp.q, inp.seq_lens, ends, out["seqlens_expanded"], out["topk_seqlens"],
        c.bs, n, c.kv_extra, c.topk, BLOCK=SEED_BLOCK)


# ---- Peer: the engine's current fused Triton design ----------------------------------------------

FUSED_BLOCK_W = 128


@triton.jit
def _fused_vectors(seq_ptr, q_ptr, cache_ptr, cu_k_ptr, cu_q_ptr, t2r_ptr, se_ptr, tk_ptr, cu_tk_ptr,
                   ks_ptr, ke_ptr, bs, n_tokens, kv_extra, topk,
                   Q_CONST: tl.constexpr, Q_PAD: tl.constexpr, BLOCK_BS: tl.constexpr,
                   BLOCK_N: tl.constexpr):
    b = tl.arange(0, BLOCK_BS)
    live = b < bs
    kv = tl.where(live, tl.load(seq_ptr + b, mask=live, other=0) + kv_extra, 0)
    if Q_CONST > 0:
        q = live.to(tl.int32) * Q_CONST
    else:
        q = tl.load(q_ptr + b, mask=live, other=0)
    cu_kv = tl.cumsum(kv, axis=0)
    cu_q = tl.cumsum(q, axis=0)
    zero = tl.zeros([BLOCK_BS], dtype=tl.int32)
    tl.store(cache_ptr + b, kv, mask=live)
    tl.store(cu_k_ptr + 1 + b, cu_kv, mask=live)
    tl.store(cu_q_ptr + 1 + b, cu_q, mask=live)
    tl.store(cu_k_ptr + b, zero, mask=b == 0)
    tl.store(cu_q_ptr + b, zero, mask=b == 0)
    tl.store(cu_tk_ptr + b, zero, mask=b == 0)
    if Q_CONST > 0:
        # Token t = b * Q + j: the whole batch as one [BLOCK_BS, Q_PAD] tile.
        j = tl.arange(0, Q_PAD)
        m = live[:, None] & (j < Q_CONST)[None, :]
        t = b[:, None] * Q_CONST + j[None, :]
        se = tl.maximum(kv[:, None] - Q_CONST + 1 + j[None, :], 0)
        tk = tl.where(m, tl.minimum(se, topk), 0)
        row = tl.sum(tk, axis=1)
        cu_tk = (tl.cumsum(row, axis=0) - row)[:, None] + tl.cumsum(tk, axis=1)
        ks = (cu_kv - kv)[:, None] + j[None, :] * 0
        tl.store(t2r_ptr + t, b[:, None] + j[None, :] * 0, mask=m)
        tl.store(se_ptr + t, se, mask=m)
        tl.store(tk_ptr + t, tk, mask=m)
        tl.store(cu_tk_ptr + 1 + t, cu_tk, mask=m)
        tl.store(ks_ptr + t, ks, mask=m)
        tl.store(ke_ptr + t, ks + se, mask=m)
    else:
        # Per-request q: tokens [0, N) with N from the host, each searching all bs requests.
        carry = tl.sum(zero, axis=0)
        for start in range(0, n_tokens, BLOCK_N):
            t = start + tl.arange(0, BLOCK_N)
            m = t < n_tokens
            before = (cu_q[None, :] <= t[:, None]) & live[None, :]
            owner = tl.sum(before.to(tl.int32), axis=1)
            q_start = tl.sum(tl.where(before, q[None, :], 0), axis=1)
            ks = tl.sum(tl.where(before, kv[None, :], 0), axis=1)
            qb = tl.load(q_ptr + owner, mask=m, other=0)
            kvb = tl.load(seq_ptr + owner, mask=m, other=0) + kv_extra
            se = tl.maximum(kvb - qb + 1 + (t - q_start), 0)
            tk = tl.where(m, tl.minimum(se, topk), 0)
            tl.store(t2r_ptr + t, owner, mask=m)
            tl.store(se_ptr + t, se, mask=m)
            tl.store(tk_ptr + t, tk, mask=m)
            tl.store(cu_tk_ptr + 1 + t, carry + tl.cumsum(tk, axis=0), mask=m)
            tl.store(ks_ptr + t, ks, mask=m)
            tl.store(ke_ptr + t, ks + se, mask=m)
            carry += tl.sum(tk, axis=0)


@triton.jit
def _await_previous_grid():
    """Launched with PDL: wait for the previous grid's writes, then let the next grid launch, first
    thing, as attnmeta's kernels do (Triton 3.6's gdc_wait / gdc_launch_dependents)."""
    tl.extra.cuda.gdc_wait()
    tl.extra.cuda.gdc_launch_dependents()


@triton.jit
def _fused_page_block(slot, col_program, col_programs, seq_ptr, q_ptr, rpi_ptr, r2t_ptr, r2t_stride, pt_ptr,
                      pt_stride, bt_ptr, bt_stride, kv_extra, width, page_size,
                      Q_CONST: tl.constexpr, Q_ROWS: tl.constexpr, BLOCK_BS: tl.constexpr,
                      BLOCK_W: tl.constexpr):
    b = slot // Q_ROWS
    i = slot % Q_ROWS
    ncols = tl.minimum(tl.load(seq_ptr + b) + kv_extra, width)
    if Q_CONST > 0:
        q = Q_CONST
    else:
        q = tl.load(q_ptr + b)
    if i < q:
        if Q_CONST > 0:
            row = b * Q_CONST + i
        else:  # the row's place needs the q of every request before it: O(bs) per program
            rb = tl.arange(0, BLOCK_BS)
            row = tl.sum(tl.load(q_ptr + rb, mask=rb < b, other=0), axis=0) + i
        row = row.to(tl.int64)
        src = r2t_ptr + tl.load(rpi_ptr + b).to(tl.int64) * r2t_stride
        # this program's 128-column blocks of the row, up to the row's kv length
        for start in range(col_program * BLOCK_W, ncols, col_programs * BLOCK_W):
            cols = start + tl.arange(0, BLOCK_W)
            m = cols < ncols
            slots = tl.load(src + cols, mask=m, other=0)
            tl.store(pt_ptr + row * pt_stride + cols, slots, mask=m)
            tl.store(bt_ptr + row * bt_stride + cols // page_size, slots // page_size,
                     mask=m & (cols % page_size == 0))


@triton.jit(do_not_specialize=["bs", "n_tokens", "kv_extra", "topk", "width", "page_size"])
def _fused_kernel(seq_ptr, q_ptr, rpi_ptr, r2t_ptr, r2t_stride,
                  cache_ptr, cu_k_ptr, cu_q_ptr, t2r_ptr, se_ptr, tk_ptr, cu_tk_ptr, ks_ptr, ke_ptr,
                  pt_ptr, pt_stride, bt_ptr, bt_stride,
                  bs, n_tokens, kv_extra, topk, width, page_size,
                  Q_CONST: tl.constexpr, Q_PAD: tl.constexpr, Q_ROWS: tl.constexpr,
                  BLOCK_BS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_W: tl.constexpr, USE_GDC: tl.constexpr):
    if USE_GDC:
        _await_previous_grid()
    pid = tl.program_id(0)
    if pid == 0:
        if tl.program_id(1) == 0:
            _fused_vectors(seq_ptr, q_ptr, cache_ptr, cu_k_ptr, cu_q_ptr, t2r_ptr, se_ptr, tk_ptr, cu_tk_ptr,
                           ks_ptr, ke_ptr, bs, n_tokens, kv_extra, topk, Q_CONST, Q_PAD, BLOCK_BS, BLOCK_N)
    else:
        _fused_page_block(pid - 1, tl.program_id(1), tl.num_programs(1), seq_ptr, q_ptr, rpi_ptr, r2t_ptr,
                          r2t_stride, pt_ptr, pt_stride, bt_ptr, bt_stride, kv_extra, width, page_size,
                          Q_CONST, Q_ROWS, BLOCK_BS, BLOCK_W)


# Column programs per page-table row tried for the fused design; the fastest in a graph is reported,
# so the peer gets its best setting for each case.
FUSED_COL_PROGRAMS = (4, 16, 64)


def pdl_supported():
    """Why Triton cannot launch with PDL here, or None when it can."""
    if torch.cuda.get_device_capability()[0] < 9:
        return "programmatic dependent launch needs compute capability 9.0"
    if not hasattr(getattr(getattr(tl, "extra", None), "cuda", None), "gdc_wait"):
        return f"triton {triton.__version__} has no tl.extra.cuda.gdc_wait"
    return None


def run_fused(c, inp, out, col_programs=16, pdl=False):
    block_bs = max(64, triton.next_power_of_2(c.bs))
    spare = inp.seq_lens  # stands in for the page pointers when there are no page tables
    pt, bt = (out["page_table"], out["block_table"]) if c.pages else (spare, spare)
    grid = (1 + c.bs * c.q_hi, col_programs) if c.pages else (1, 1)
    _fused_kernel[grid](
        inp.seq_lens, inp.q, inp.rpi, inp.req_to_token if c.pages else spare,
        inp.req_to_token.stride(0) if c.pages else 0,
        out["cache_seqlens"], out["cu_seqlens_k"], out["cu_seqlens_q"], out["token_to_request"],
        out["seqlens_expanded"], out["topk_seqlens"], out["cu_topk_seqlens"], out["key_start"], out["key_end"],
        pt, pt.stride(0) if c.pages else 0, bt, bt.stride(0) if c.pages else 0,
        c.bs, inp.lens.n, c.kv_extra, c.topk, c.W, c.page_size,  # N: known on the host here only
        Q_CONST=0 if c.q_per_request else c.q_lo, Q_PAD=max(2, triton.next_power_of_2(c.q_lo)),
        Q_ROWS=c.q_hi if c.pages else 1, BLOCK_BS=block_bs, BLOCK_N=max(2, min(1024, 8192 // block_bs)),
        BLOCK_W=FUSED_BLOCK_W, USE_GDC=pdl, num_warps=4, **({"launch_pdl": True} if pdl else {}))


# ---- Timing -------------------------------------------------------------------------------------

@triton.jit
def _empty_kernel(x_ptr):
    pass


@triton.jit
def _empty_pdl_kernel(x_ptr):
    _await_previous_grid()


def eager_us(fn, seconds, reps):
    """Median over reps of the mean host time per call, calls back to back, one sync at the end."""
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    iters = max(1, min(20000, int(seconds / reps / max(time.perf_counter() - t0, 1e-6))))
    samples = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t0) / iters)
    return statistics.median(samples) * 1e6


def graph_us(fn, seconds, reps, calls=1):
    """Median over reps of the mean time per call of a graph holding `calls` calls of fn, replayed
    back to back. With calls > 1 the host's time to issue a replay is spread over the calls (an
    engine's graph holds hundreds of kernels), so short calls read their device time."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
        fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    g.replay()
    torch.cuda.synchronize()
    start.record()
    g.replay()
    end.record()
    end.synchronize()
    iters = max(1, min(20000, int(seconds / reps / max(start.elapsed_time(end) * 1e-3, 1e-6))))
    samples = []
    for _ in range(reps):
        start.record()
        for _ in range(iters):
            g.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3 / iters / calls)
    del g
    return statistics.median(samples)


def reference_points(seconds, reps, calls):
    """The latency floor (an empty kernel, eager and as a graph node) and the copy bandwidth."""
    x = torch.zeros(1, dtype=torch.int32, device="cuda")
    empty = lambda: _empty_kernel[(1,)](x)  # noqa: E731
    fill = lambda: x.fill_(0)  # noqa: E731
    points = {}
    for name, fn in (("empty_triton", empty), ("torch_fill", fill)):
        points[f"{name}_eager_us"] = eager_us(fn, seconds, reps)
        points[f"{name}_graph_us"] = graph_us(fn, seconds, reps, calls)
    if pdl_supported() is None:  # the floor of fused_triton_pdl and attnmeta_pdl
        points["empty_triton_pdl_graph_us"] = graph_us(
            lambda: _empty_pdl_kernel[(1,)](x, launch_pdl=True), seconds, reps, calls)
    points["copy_bytes_per_s"] = copy_bandwidth()
    torch.cuda.empty_cache()
    points["latency_floor_us"] = min(points["empty_triton_graph_us"], points["torch_fill_graph_us"])
    points["graph_calls"] = calls
    return points


def copy_bandwidth(nbytes=1 << 30):
    """Bytes read + written per second by a device-to-device copy_ of nbytes: the faster of a graph
    replay and back-to-back launches timed by events on the stream (as the C++ benchmark does)."""
    src = torch.ones(nbytes // 4, dtype=torch.int32, device="cuda")
    dst = torch.empty_like(src)
    best = graph_us(lambda: dst.copy_(src), 0.2, 5)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(5):
        start.record()
        for _ in range(10):
            dst.copy_(src)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) * 1e3 / 10)
    return 2 * nbytes / (best * 1e-6)


def floor_bytes(c, lens):
    """SPEC.md's fewest bytes: each input read once, each output written once."""
    t, bs = c.max_tokens, c.bs
    read = 4 * bs * (2 if c.q_per_request else 1)
    write = 4 * (bs + 2 * (bs + 1) + 5 * t + (t + 1))
    if c.pages:
        cols = lens.kv.clamp(max=c.W)
        read += 4 * bs + 4 * int(cols.sum())
        write += 4 * int((lens.q * cols).sum()) + 4 * int((lens.q * -(-cols // c.page_size)).sum())
    return read + write


# ---- One case -------------------------------------------------------------------------------------

def impl_plan(name, c, am, md, out, max_bytes):
    """(call(inp), the outputs it writes, checked with the tail?, why no graph, why skipped)."""
    full = ONE_D + (PAGE_OUTPUTS if c.pages else [])
    if name in ("attnmeta", "attnmeta_pdl"):
        skip = None if md is not None else "binding not loaded" if am is None else "allocate_metadata failed"
        pdl = name == "attnmeta_pdl"
        return (lambda inp: binding_call(am, c, inp, md, pdl)), full, True, None, skip
    if name == "python":
        need = c.bytes_allocated() + c.python_extra_bytes()
        skip = f"needs {need / 1e9:.1f} GB with its temporaries" if need > max_bytes else None
        return (lambda inp: run_python(c, inp, out)), full, False, "syncs (.tolist())", skip
    if name == "seed_triton":
        skip = "writes no page tables" if c.pages else None
        return (lambda inp: run_seed(c, inp, out)), ["seqlens_expanded", "topk_seqlens"], False, \
            "syncs (.item())", skip
    if name in ("fused_triton", "fused_triton_pdl"):
        pdl = name == "fused_triton_pdl"
        return (lambda inp, cp=16: run_fused(c, inp, out, cp, pdl)), full, False, None, \
            pdl_supported() if pdl else None
    raise ValueError(f"unknown implementation {name}")


_told = set()


def failure(what, c, name, e):
    """One line for the table; the whole story on stderr, the first time it happens."""
    key = (what, name, type(e).__name__)
    story = traceback.format_exc() if key not in _told else "(as before)\n"
    _told.add(key)
    print(f"{name}, {c.label}: {what} failed: {story}", file=sys.stderr, flush=True)
    first = str(e).strip().splitlines()
    return f"{what} failed: {type(e).__name__}{': ' + first[0][:120] if first else ''}"


def measure(name, c, inp, ref, md, out, am, args):
    if name in ("fused_triton", "fused_triton_pdl") and c.pages:  # the peer's best column-program count for this case
        tried = {cp: measure_one(name, c, inp, ref, md, out, am, args, cp) for cp in FUSED_COL_PROGRAMS}
        ok = {cp: r for cp, r in tried.items() if r["status"] == "ok" and best(r) is not None}
        if not ok:
            return next(iter(tried.values()))
        cp = min(ok, key=lambda k: best(ok[k]))
        others = ", ".join(f"{k}: {fmt(best(r))}" for k, r in ok.items() if k != cp)
        note = f"{cp} column programs a row (others: {others} us)"
        return dict(ok[cp], graph_note="; ".join(x for x in (ok[cp].get("graph_note"), note) if x))
    return measure_one(name, c, inp, ref, md, out, am, args)


def measure_one(name, c, inp, ref, md, out, am, args, *extra):
    fn, names, with_tail, no_graph, skip = impl_plan(name, c, am, md, out, args.max_gb * 1e9)
    res = dict(eager_us=None, graph_us=None, status="ok", graph_note=no_graph)
    if skip:
        return dict(res, status=f"skipped: {skip}")
    call = lambda: fn(inp, *extra)  # noqa: E731
    try:
        for t in out.values():
            if t is not None:
                t.fill_(POISON)
        call()
        torch.cuda.synchronize()
        bad = check(c, inp, ref, out, names, with_tail)
        if bad:
            return dict(res, status=f"mismatch: {bad}")
        res["eager_us"] = eager_us(call, args.seconds, args.reps)
    except Exception as e:
        return dict(res, status=failure("run", c, name, e))
    if no_graph is None:
        try:
            res["graph_us"] = graph_us(call, args.seconds, args.reps, args.graph_calls)
        except Exception as e:
            res["graph_note"] = failure("capture", c, name, e)
    return res


def run_case(c, seed, am, points, args):
    lens = lengths(c, seed)
    nbytes = floor_bytes(c, lens)
    common = dict(kind="case", case=c.label, variant=c.variant, mode=c.mode, bs=c.bs, q=[c.q_lo, c.q_hi],
                  q_per_request=c.q_per_request, kv=list(c.kv), W=c.W, page_size=c.page_size, pages=c.pages,
                  n_tokens=lens.n, max_tokens=c.max_tokens, bytes=nbytes,
                  floor_us=nbytes / points["copy_bytes_per_s"] * 1e6, latency_floor_us=points["latency_floor_us"])
    need = c.bytes_allocated()
    if need > args.max_gb * 1e9:
        why = f"skipped: needs {need / 1e9:.1f} GB (--max-gb {args.max_gb:g})"
        return [dict(common, impl=name, eager_us=None, graph_us=None, status=why, case_skipped=True)
                for name in args.impls]
    inp = device_inputs(c, lens, seed)
    ref = reference(c, lens)
    md = None
    if am is not None:
        try:
            md = binding_allocate(am, c)
        except Exception as e:
            failure("allocate_metadata", c, "attnmeta", e)
    out = binding_outputs(md) if md is not None else plain_outputs(c)
    rows = [dict(common, impl=name, **measure(name, c, inp, ref, md, out, am, args)) for name in args.impls]
    del inp, md, out
    torch.cuda.empty_cache()
    return rows


# ---- Report -------------------------------------------------------------------------------------

def best(r):
    return r["graph_us"] if r.get("graph_us") is not None else r.get("eager_us")


def add_speedups(rows):
    """A peer's speedup is over attnmeta's, or over attnmeta_pdl's for a peer launched with PDL."""
    mine = {(r["case"], r["impl"]): r for r in rows
            if r["impl"] in ("attnmeta", "attnmeta_pdl") and r["status"] == "ok"}
    for r in rows:
        a = mine.get((r["case"], PDL_PAIR.get(r["impl"], "attnmeta")))
        if r["impl"] not in ("attnmeta", "attnmeta_pdl") and a and r.get("eager_us") is not None:
            r["speedup_best"] = best(r) / best(a)
            r["speedup_eager"] = r["eager_us"] / a["eager_us"]


def fmt(x, spec=".1f", none="n/a"):
    return none if x is None else format(x, spec)


def table(rows, points):
    lines = ["| case | impl | eager us | graph us | floor us | x floor | attnmeta speedup | note |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    shown = set()
    for r in rows:
        case = "" if r["case"] in shown else r["case"]
        shown.add(r["case"])
        if r.get("case_skipped"):
            if case:
                lines.append(f"| {case} | all | | | {fmt(r['floor_us'], '.2f')} | | | {r['status']} |")
            continue
        b = best(r)
        ratio = b / max(r["floor_us"], r["latency_floor_us"]) if b is not None else None
        note = r["status"] if r["status"] != "ok" else "; ".join(
            x for x in (r.get("graph_note"), NOTES.get(r["impl"]),
                        "N from the host" if r["impl"].startswith("fused_triton") and r["q_per_request"] else None)
            if x)
        speedup = f"{r['speedup_best']:.1f}x" if r.get("speedup_best") is not None else ""
        lines.append(f"| {case} | {r['impl']} | {fmt(r.get('eager_us'))} | {fmt(r.get('graph_us'))} | "
                     f"{fmt(r['floor_us'], '.2f')} | {fmt(ratio)} | {speedup} | {note} |")
    head = (f"Reference points: empty Triton kernel {points['empty_triton_eager_us']:.1f} us eager, "
            f"{points['empty_triton_graph_us']:.1f} us as a graph node; 1-element fill_ "
            f"{points['torch_fill_eager_us']:.1f} / {points['torch_fill_graph_us']:.1f} us; "
            + (f"empty Triton kernel with PDL {points['empty_triton_pdl_graph_us']:.2f} us a call in the graph; "
               if "empty_triton_pdl_graph_us" in points else "")
            + f"device copy {points['copy_bytes_per_s'] / 1e12:.2f} TB/s (read + write).\n"
            f"graph us: per call, {points['graph_calls']} calls captured in one graph. "
            "x floor: best time (graph if captured, else eager) over max(floor_us, one graph node). "
            "attnmeta speedup: the peer's best time over attnmeta's (over attnmeta_pdl's for a peer "
            "launched with PDL).\n")
    return head + "\n" + "\n".join(lines) + "\n"


def plot(rows, points, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written")
        return None
    groups = {}
    for r in rows:
        if r.get("eager_us") is not None:
            groups.setdefault((r["variant"], tuple(r["kv"]), r["pages"]), []).append(r)
    if not groups:
        return None
    key = ("draft_extend_d4", KV_RANGES["1K-32K"], True)
    if key not in groups:
        key = max(groups, key=lambda k: len({r["bs"] for r in groups[k]}))
    fig, ax = plt.subplots(figsize=(8, 5))
    for impl in IMPLS:
        pts = sorted((r["bs"], best(r), r.get("graph_us") is not None) for r in groups[key] if r["impl"] == impl)
        if pts:
            how = "graph" if all(p[2] for p in pts) else "eager" if not any(p[2] for p in pts) else "graph/eager"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{impl} ({how})")
    floors = sorted({(r["bs"], r["floor_us"]) for r in rows
                     if (r["variant"], tuple(r["kv"]), r["pages"]) == key})
    ax.plot([f[0] for f in floors], [f[1] for f in floors], "k--", label="bandwidth floor")
    ax.axhline(points["latency_floor_us"], color="gray", linestyle="--", label="one graph node")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("bs")
    ax.set_ylabel("us per call")
    sample = groups[key][0]
    ax.set_title(f"{sample['case'].split(' bs=')[0]} kv={key[1][0]}-{key[1][1]}"
                 f"{' +pages' if key[2] else ''}, W={sample['W']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---- Command line ---------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="directory for peers.jsonl, peers.md and peers.png")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a smoke run: few cases, short timing")
    size.add_argument("--full", action="store_true", help="every bs and kv range, longer timing")
    p.add_argument("--variants", help=f"comma list of {', '.join(VARIANTS)}")
    p.add_argument("--bs", help="comma list of bs (extend keeps its own unless --extend-bs; extend_chunk "
                                 f"always takes {', '.join(map(str, CHUNK_BS))})")
    p.add_argument("--extend-bs", help="comma list of bs for extend")
    p.add_argument("--kv", help=f"comma list of {', '.join(KV_RANGES)}")
    p.add_argument("--pages", choices=["both", "on", "off"], default="both")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"comma list of {', '.join(IMPLS)}")
    p.add_argument("--max-gb", type=float, default=8.0, help="skip cases whose buffers need more")
    p.add_argument("--seconds", type=float, help="time per measurement")
    p.add_argument("--reps", type=int, help="repetitions per measurement (the median is kept)")
    p.add_argument("--graph-calls", type=int, default=10,
                   help="calls captured in one graph, its replay time divided among them (1: one call a "
                        "replay, which for short calls reads the host's time to issue a replay from Python)")
    args = p.parse_args(argv)
    variants, bs, ebs, kv, seconds, reps = GRIDS["quick" if args.quick else "full" if args.full else "default"]
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    args.variants = args.variants.split(",") if args.variants else variants
    args.bs = ints(args.bs) if args.bs else bs
    args.extend_bs = ints(args.extend_bs) if args.extend_bs else ebs
    args.kv = args.kv.split(",") if args.kv else kv
    args.seconds = args.seconds or seconds
    args.reps = args.reps or reps
    args.impls = args.impls.split(",")
    for what, chosen, known in (("variant", args.variants, VARIANTS), ("impl", args.impls, IMPLS),
                                ("kv range", args.kv, KV_RANGES)):
        for x in chosen:
            if x not in known:
                p.error(f"unknown {what} {x!r}")
    return args


def cases(args):
    pages = {"both": [False, True], "on": [True], "off": [False]}[args.pages]
    return [Case(v, bs, KV_RANGES[kv], pg) for v in args.variants for kv in args.kv for pg in pages
            for bs in (args.extend_bs if v == "extend" else CHUNK_BS if v == "extend_chunk" else args.bs)]


def main():
    args = parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/peers.py needs a CUDA GPU")
    os.makedirs(args.out, exist_ok=True)
    am, why = load_binding()
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}, "
          f"attnmeta_torch: {'loaded' if am else why}", flush=True)
    points = reference_points(args.seconds, args.reps, args.graph_calls)
    print("# reference points: " + ", ".join(f"{k} {v:.4g}" for k, v in points.items()), flush=True)
    rows = []
    todo = cases(args)
    t0 = time.perf_counter()
    for i, c in enumerate(todo):
        got = run_case(c, 1000 + i, am, points, args)
        rows += got
        summary = "  ".join(f"{r['impl']} {fmt(r.get('eager_us'))}/{fmt(r.get('graph_us'))}"
                            if r["status"] == "ok" else f"{r['impl']} {r['status'][:60]}" for r in got)
        print(f"[{i + 1}/{len(todo)} {time.perf_counter() - t0:.0f}s] {c.label}: {summary}", flush=True)
    add_speedups(rows)
    jsonl = os.path.join(args.out, "peers.jsonl")
    with open(jsonl, "w") as f:
        f.write(json.dumps(dict(kind="reference_points", device=torch.cuda.get_device_name(),
                                torch=torch.__version__, triton=triton.__version__, **points)) + "\n")
        for r in rows:
            f.write(json.dumps(r) + "\n")
    md = table(rows, points)
    with open(os.path.join(args.out, "peers.md"), "w") as f:
        f.write(md)
    png = plot(rows, points, os.path.join(args.out, "peers.png"))
    print(f"# wrote {jsonl}, {os.path.join(args.out, 'peers.md')}" + (f", {png}" if png else ""))
    print()
    print(md)


if __name__ == "__main__":
    main()
