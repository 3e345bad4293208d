"""03: attnmeta_torch as a drop-in for an engine's draft-extend metadata path.

The engine's old path (SPEC.md) reads the lengths back to the host (.tolist(), twice), builds
seqlens_expanded from one torch.arange per request, clamps it and copies each result into the graph's
static buffers; it cannot be captured in a CUDA graph. Its replacement is one call that writes the same
buffers on the GPU with no sync, eagerly or as a graph node. This runs both on the same batch, checks
that they agree, and times each with CUDA events (median of --iters runs).

    python3 examples/03_torch_drop_in.py [--bs 32] [--draft-tokens 4] [--width 163840]

Needs a CUDA device (exits 77 without one). Uses the installed attnmeta_torch, else the one in python/.
"""

import argparse
import importlib.util
import math
import os
import statistics
import sys

import torch

if importlib.util.find_spec("attnmeta_torch") is None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import attnmeta_torch  # noqa: E402


def engine_draft_extend(seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, page_size, m):
    """The engine's eager path, writing the static buffers `m` (attnmeta_torch.Metadata names)."""
    bs, device = seq_lens.shape[0], seq_lens.device
    m.cache_seqlens.copy_(seq_lens)
    m.cu_seqlens_k[1:].copy_(torch.cumsum(seq_lens, dim=0, dtype=torch.int32))
    m.cu_seqlens_q[1:].copy_(torch.cumsum(extend_seq_lens, dim=0, dtype=torch.int32))
    extend_seq_lens_cpu = extend_seq_lens.tolist()  # GPU -> CPU sync
    seq_lens_cpu = seq_lens.tolist()                # GPU -> CPU sync
    seqlens_expanded = torch.cat([
        torch.arange(kv_len - qo_len + 1, kv_len + 1, dtype=torch.int32, device=device)
        for qo_len, kv_len in zip(extend_seq_lens_cpu, seq_lens_cpu)
    ])
    nsa_cache_seqlens = seqlens_expanded.clamp(max=topk)
    n = seqlens_expanded.shape[0]
    m.seqlens_expanded[:n].copy_(seqlens_expanded)
    m.topk_seqlens[:n].copy_(nsa_cache_seqlens)
    m.cu_topk_seqlens[1:n + 1].copy_(torch.cumsum(nsa_cache_seqlens, dim=0, dtype=torch.int32))
    m.token_to_request[:n].copy_(torch.repeat_interleave(
        torch.arange(bs, dtype=torch.int32, device=device), extend_seq_lens, output_size=n))
    key_start = torch.repeat_interleave(m.cu_seqlens_k[:-1], extend_seq_lens, output_size=n)
    m.key_start[:n].copy_(key_start)
    m.key_end[:n].copy_(key_start + seqlens_expanded)
    max_kv = max(seq_lens_cpu)
    page_rows = req_to_token[req_pool_indices, :max_kv]
    m.page_table[:n, :max_kv].copy_(torch.repeat_interleave(page_rows, extend_seq_lens, dim=0, output_size=n))
    m.block_table[:n, :math.ceil(max_kv / page_size)].copy_(m.page_table[:n, :max_kv:page_size] // page_size)
    return n


def median_us(fn, iters):
    """Median over `iters` runs of the GPU time from before fn() to after it, host stalls included."""
    for _ in range(10):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0)
    return statistics.median(times)


def same_metadata(old, new, n, seq_lens, extend_seq_lens, page_size):
    """The outputs a consumer reads: per-request ones, the first n token rows, each row's kv columns."""
    for name in ("cache_seqlens", "cu_seqlens_k", "cu_seqlens_q"):
        if not torch.equal(getattr(old, name), getattr(new, name)):
            return False
    for name in ("token_to_request", "seqlens_expanded", "topk_seqlens", "key_start", "key_end"):
        if not torch.equal(getattr(old, name)[:n], getattr(new, name)[:n]):
            return False
    if not torch.equal(old.cu_topk_seqlens[:n + 1], new.cu_topk_seqlens[:n + 1]):
        return False
    first = 0
    for q, kv in zip(extend_seq_lens.tolist(), seq_lens.tolist()):
        rows, blocks = slice(first, first + q), math.ceil(kv / page_size)
        if not (torch.equal(old.page_table[rows, :kv], new.page_table[rows, :kv])
                and torch.equal(old.block_table[rows, :blocks], new.block_table[rows, :blocks])):
            return False
        first += q
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bs", type=int, default=32)
    p.add_argument("--draft-tokens", type=int, default=4, help="D: extend lengths are drawn from 1..D")
    p.add_argument("--width", type=int, default=163840, help="W: page-table columns")
    p.add_argument("--page-size", type=int, default=64)
    p.add_argument("--topk", type=int, default=2048)
    p.add_argument("--iters", type=int, default=200)
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("03_torch_drop_in: needs a CUDA device; skipped")
        sys.exit(77)

    bs, d, width, page_size, topk = args.bs, args.draft_tokens, args.width, args.page_size, args.topk
    device = torch.device("cuda")
    gen = torch.Generator(device=device).manual_seed(0)
    max_tokens, pool_rows = bs * d, 2 * bs
    seq_lens = torch.randint(1024, min(32768, width) + 1, (bs,), device=device, generator=gen)
    extend_seq_lens = torch.randint(1, d + 1, (bs,), device=device, generator=gen)
    req_pool_indices = torch.randperm(pool_rows, device=device, generator=gen)[:bs]
    req_to_token = torch.randint(0, 1 << 30, (pool_rows, width), dtype=torch.int32, device=device, generator=gen)

    old = attnmeta_torch.allocate_metadata(bs, max_tokens, width, page_size)  # the engine's static buffers
    new = attnmeta_torch.allocate_metadata(bs, max_tokens, width, page_size)
    workspace = attnmeta_torch.allocate_workspace(bs)

    def old_path():
        return engine_draft_extend(seq_lens, extend_seq_lens, req_pool_indices, req_to_token, topk, page_size, old)

    def new_path():  # the one-line replacement
        attnmeta_torch.draft_extend(seq_lens, extend_seq_lens, topk=topk, out=new, req_pool_indices=req_pool_indices,
                                    req_to_token=req_to_token, page_size=page_size, workspace=workspace)

    n = old_path()
    new_path()
    equal = same_metadata(old, new, n, seq_lens, extend_seq_lens, page_size)

    t_old = median_us(old_path, args.iters)
    t_new = median_us(new_path, args.iters)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        new_path()
    t_graph = median_us(graph.replay, args.iters)

    print(f"draft extend: bs={bs}, D={d}, N={n} tokens, kv 1K-32K, W={width}, page_size={page_size}, topk={topk}")
    for name in ("seqlens_expanded", "topk_seqlens", "cu_topk_seqlens"):
        print(f"  {name:17s} engine  {getattr(old, name)[:8].tolist()}")
        print(f"  {'':17s} attnmeta {getattr(new, name)[:8].tolist()}")
    print(f"outputs equal: {'yes' if equal else 'NO'}")
    print()
    print(f"{'path':58s} {'median us':>10s}")
    print(f"{'engine eager path (.tolist() x2, cat of aranges, copies)':58s} {t_old:10.1f}")
    print(f"{'attnmeta_torch.draft_extend, eager':58s} {t_new:10.1f}")
    print(f"{'attnmeta_torch.draft_extend, CUDA-graph replay':58s} {t_graph:10.1f}")
    print(f"speed-up: {t_old / t_new:.1f}x eager, {t_old / t_graph:.1f}x in a graph "
          f"(the engine's path syncs, so it cannot be captured)")
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
