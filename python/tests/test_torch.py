"""attnmeta_torch against the engine's eager path (SPEC.md), on fresh random batches.

The reference below is the engine's Python written plainly (arange per request, repeat_interleave,
clamp, cumsum) on host tensors. Every output is poisoned before each call, so an element the
extension failed to write fails the comparison. Run from the repository root:

    python3 -m pytest -q python/tests

The first test builds the extension if no prebuilt one is installed (a minute or two, once).
"""

import dataclasses
import importlib.util
import os
import sys
import zlib

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("attnmeta_torch needs a CUDA device", allow_module_level=True)

if importlib.util.find_spec("attnmeta_torch") is None:  # not installed: use the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import attnmeta_torch as am  # noqa: E402

DEV = torch.device("cuda")
POISON = -7
ONE_D = am.OUTPUTS[:9]


def generator(*key):
    return torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))


# ------------------------------------------------------------------------------------------------
# The reference: SPEC.md's table, as the engine's eager path computes it.


def clamp_topk(x, topk, kpool):
    if kpool == 1:
        return x.clamp(max=topk)
    return (torch.div(x, kpool, rounding_mode="floor") * kpool).clamp(max=topk) + x % kpool


def reference(seq_lens, q, kv_extra, topk, kpool, max_tokens):
    """Every 1-D output over its full shape (tail included), as int64 host tensors."""
    seq, q = seq_lens.cpu().long().clamp(min=0), q.cpu().long()
    kv = seq + kv_extra
    bs, zero = len(seq), torch.zeros(1, dtype=torch.long)
    cu_q = torch.cat([zero, q.cumsum(0)])
    cu_k = torch.cat([zero, kv.cumsum(0)])
    seqlens_expanded = torch.cat([torch.arange(k - n + 1, k + 1) for n, k in zip(q.tolist(), kv.tolist())])
    seqlens_expanded = seqlens_expanded.clamp(min=0)
    topk_seqlens = clamp_topk(seqlens_expanded, topk, kpool)
    key_start = torch.repeat_interleave(cu_k[:-1], q)
    per_token = {
        "token_to_request": torch.repeat_interleave(torch.arange(bs), q),
        "seqlens_expanded": seqlens_expanded,
        "topk_seqlens": topk_seqlens,
        "key_start": key_start,
        "key_end": key_start + seqlens_expanded,
    }
    n = min(int(cu_q[-1]), max_tokens)  # rows written; past max_tokens nothing is
    want = {"cache_seqlens": kv, "cu_seqlens_k": cu_k, "cu_seqlens_q": cu_q}
    for name, values in per_token.items():  # the tail: -1 for token_to_request, 0 elsewhere
        want[name] = torch.full((max_tokens,), -1 if name == "token_to_request" else 0, dtype=torch.long)
        want[name][:n] = values[:n]
    cu_topk = torch.cat([zero, topk_seqlens.cumsum(0)])
    want["cu_topk_seqlens"] = torch.full((max_tokens + 1,), int(cu_topk[-1]), dtype=torch.long)
    want["cu_topk_seqlens"][: n + 1] = cu_topk[: n + 1]
    return want


def table_width(out, req_to_token, page_size):
    """W as the binding takes it: page_table's columns, or what block_table and req_to_token hold."""
    if out.page_table is not None:
        return out.page_table.shape[1]
    return min(req_to_token.shape[1], out.block_table.shape[1] * page_size)


def expected_status(seq_lens, q, kv_extra, max_tokens, width=None):
    seq, q = seq_lens.cpu().long(), q.cpu().long()
    kv = seq.clamp(min=0) + kv_extra
    bits = am.STATUS_NEGATIVE_LENGTH if (seq < 0).any() else 0
    if (q > kv).any():
        bits |= am.STATUS_QUERY_LONGER_THAN_KV
    if q.sum() > max_tokens:
        bits |= am.STATUS_TOKENS_OVER_CAPACITY
    if width is not None and ((kv > width) & (q > 0)).any():
        bits |= am.STATUS_KV_OVER_WIDTH
    return bits


def check(out, want):
    for name in ONE_D:
        t = getattr(out, name)
        if t is None:
            continue
        got, exp = t.cpu().long()[: len(want[name])], want[name]
        if not torch.equal(got, exp):
            i = int((got != exp).nonzero()[0])
            raise AssertionError(f"{name}[{i}] = {int(got[i])}, expected {int(exp[i])}")


def check_pages(out, seq_lens, q, kv_extra, rpi, req_to_token, page_size, max_tokens, bad=()):
    """Row t of each table against req_to_token's row for its request, over min(kv'_b, W) columns."""
    width = table_width(out, req_to_token, page_size)
    kv = (seq_lens.cpu().long().clamp(min=0) + kv_extra).tolist()
    pool, rows_of = req_to_token.cpu(), rpi.cpu().long().tolist()
    pt = out.page_table.cpu() if out.page_table is not None else None
    bt = out.block_table.cpu() if out.block_table is not None else None
    first = 0
    for b, n in enumerate(q.cpu().long().tolist()):
        last = min(first + n, max_tokens)
        if last > first and b in bad:  # a bad req_pool_index leaves its rows untouched
            for t in (pt, bt):
                assert t is None or bool((t[first:last] == POISON).all()), f"rows of request {b} were written"
        elif last > first:
            cols = min(kv[b], width)
            row = pool[rows_of[b], :cols]
            if pt is not None:
                assert torch.equal(pt[first:last, :cols], row.expand(last - first, cols)), f"page_table, request {b}"
            if bt is not None:
                blocks = torch.div(row[::page_size], page_size, rounding_mode="floor")
                got = bt[first:last, : blocks.numel()]
                assert torch.equal(got, blocks.expand(last - first, -1)), f"block_table, request {b}"
        first += n


def poison(out):
    for t in out.tensors().values():
        t.fill_(POISON)


# ------------------------------------------------------------------------------------------------
# Every mode, every input type, with and without page tables.

MODES = ("decode", "target_verify", "draft_extend", "draft_extend_constant", "extend")

# name: seq_lens dtype, extend_lens dtype, req_pool_indices dtype, tables, page_size, kpool, algorithm,
# inputs as strided slices
CASES = {
    "plain": (torch.int32, torch.int32, None, (), 1, 1, "automatic", False),
    "page_table": (torch.int64, torch.int64, torch.int32, ("page_table",), 1, 1, "automatic", True),
    "tables_64_pooled": (torch.int64, torch.int32, torch.int64, ("page_table", "block_table"), 64, 4,
                         "single_launch", False),
    "blocks_48_scan": (torch.int32, torch.int64, torch.int64, ("block_table",), 48, 1, "device_scan", True),
}
D, TOPK, W = 4, 256, 1500


def random_batch(mode, gen, bs, max_kv):
    """(seq_lens, q, kv_extra) as int64 host tensors, as the engine would see them."""
    def draw(lo, hi):
        return torch.randint(lo, hi + 1, (bs,), generator=gen)

    if mode == "decode":
        q, seq = torch.ones(bs, dtype=torch.long), draw(0, max_kv)
    elif mode == "target_verify":
        q, seq = torch.full((bs,), D), draw(1, max_kv - D)
    elif mode == "draft_extend":
        q, seq = draw(1, D), draw(1, max_kv)
    elif mode == "draft_extend_constant":
        q, seq = torch.full((bs,), D), draw(1, max_kv)
    else:  # extend: the prefix is part of seq_lens
        q = draw(0, 64)
        seq = q + draw(0, max_kv - 64)
    if mode.startswith("draft_extend"):
        seq[0] = 1  # a padded graph row: seq_len 1, q_b > 1, seqlens_expanded clamps at 0
    return seq, q, D if mode == "target_verify" else 0


def on_device(x, dtype, strided):
    """x on the GPU; when strided, every other element of a wider buffer, as an engine's slice is."""
    if not strided:
        return x.to(DEV, dtype)
    wide = torch.full((len(x), 2), 12345, dtype=dtype, device=DEV)
    wide[:, 0] = x.to(DEV, dtype)
    return wide[:, 0]


def call(mode, seq_lens, lens, **kw):
    if mode == "decode":
        return am.decode(seq_lens, **kw)
    if mode == "target_verify":
        return am.target_verify(seq_lens, D, **kw)
    if mode == "draft_extend_constant":
        return am.draft_extend(seq_lens, D, **kw)
    return getattr(am, mode)(seq_lens, lens, **kw)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_matches_the_engine(mode, case):
    seq_t, q_t, idx_t, tables, page_size, kpool, algorithm, strided = CASES[case]
    gen = generator(mode, case)
    for bs in (1, 37):
        seq, q, kv_extra = random_batch(mode, gen, bs, W)
        if tables and bs > 1:
            seq[-1] = W + 50  # kv'_b > W: min(kv'_b, W) columns, and a status bit
        max_tokens = int(q.sum()) + 5  # a tail of 5 rows
        out = am.allocate_metadata(bs, max_tokens, W, page_size, which=ONE_D + tables)
        kw = dict(topk=TOPK, out=out, page_size=page_size, kpool=kpool, algorithm=algorithm,
                  status=torch.zeros(1, dtype=torch.int32, device=DEV))
        width = None
        if tables:
            pool_rows = bs + 11
            wide = torch.randint(0, 1 << 20, (pool_rows, W + 40), generator=gen, dtype=torch.int32)
            req_to_token = wide.to(DEV)[:, : W + 16] if strided else wide[:, : W + 16].to(DEV)
            rpi = torch.randperm(pool_rows, generator=gen)[:bs]
            kw.update(req_pool_indices=on_device(rpi, idx_t, strided), req_to_token=req_to_token)
            width = table_width(out, req_to_token, page_size)
        poison(out)

        call(mode, on_device(seq, seq_t, strided), on_device(q, q_t, strided), **kw)

        check(out, reference(seq, q, kv_extra, TOPK, kpool, max_tokens))
        if tables:
            check_pages(out, seq, q, kv_extra, rpi, req_to_token, page_size, max_tokens)
        assert int(kw["status"]) == expected_status(seq, q, kv_extra, max_tokens, width)


def test_worked_example():
    """SPEC.md's worked example, extend mode: q = [3, 2], seq_lens = [10, 4], topk = 8; 3 tail rows."""
    out = am.allocate_metadata(2, 8)
    poison(out)
    am.extend(torch.tensor([10, 4], device=DEV), torch.tensor([3, 2], device=DEV), topk=8, out=out)
    got = {name: t.tolist() for name, t in out.tensors().items()}
    assert got == {
        "cache_seqlens": [10, 4],
        "cu_seqlens_k": [0, 10, 14],
        "cu_seqlens_q": [0, 3, 5],
        "token_to_request": [0, 0, 0, 1, 1, -1, -1, -1],
        "seqlens_expanded": [8, 9, 10, 3, 4, 0, 0, 0],
        "topk_seqlens": [8, 8, 8, 3, 4, 0, 0, 0],
        "cu_topk_seqlens": [0, 8, 16, 24, 27, 31, 31, 31, 31],
        "key_start": [0, 0, 0, 10, 10, 0, 0, 0],
        "key_end": [8, 9, 10, 13, 14, 0, 0, 0],
    }


def test_large_batch_takes_the_device_scan_path():
    gen = generator("large")
    bs = am.load().single_launch_max_bs + 476
    seq, q, _ = random_batch("draft_extend", gen, bs, 20000)
    max_tokens = int(q.sum()) + 3
    out = am.allocate_metadata(bs, max_tokens)
    poison(out)
    am.draft_extend(seq.to(DEV), q.to(DEV, torch.int32), topk=2048, out=out)
    check(out, reference(seq, q, 0, 2048, 1, max_tokens))


def test_bad_data_is_reported_not_written_out_of_bounds():
    """Negative lengths read as 0, N > max_tokens truncates, a bad pool row leaves its rows alone."""
    seq = torch.tensor([30, -5, 40, 25])
    q = torch.tensor([4, 4, 4, 4])
    max_tokens, width = 10, 64
    req_to_token = torch.randint(0, 1000, (6, width), generator=generator("bad"), dtype=torch.int32).to(DEV)
    rpi = torch.tensor([0, 1, 9, 2])  # 9 is past the 6 pool rows
    out = am.allocate_metadata(4, max_tokens, width)
    status = torch.zeros(1, dtype=torch.int32, device=DEV)
    poison(out)
    am.draft_extend(seq.to(DEV), q.to(DEV), topk=16, out=out, req_pool_indices=rpi.to(DEV),
                    req_to_token=req_to_token, status=status)
    check(out, reference(seq, q, 0, 16, 1, max_tokens))
    check_pages(out, seq, q, 0, rpi, req_to_token, 1, max_tokens, bad={2})
    want = (am.STATUS_NEGATIVE_LENGTH | am.STATUS_TOKENS_OVER_CAPACITY | am.STATUS_BAD_REQ_POOL_INDEX
            | am.STATUS_QUERY_LONGER_THAN_KV)
    assert int(status) == want


@pytest.mark.parametrize("pad", (4, 13))
def test_padded_page_table_rows(pad):
    """page_table_row_pad: rows W + pad apart (a multiple of 4, and not), the pad never written."""
    gen = generator("padded rows", pad)
    bs, width, page_size, pool_rows = 37, 1500, 64, 50
    seq, q, _ = random_batch("draft_extend_constant", gen, bs, width)
    seq[-1] = width + 50  # kv'_b > W: W columns, none of the pad
    max_tokens = bs * D + 3
    out = am.allocate_metadata(bs, max_tokens, width, page_size, page_table_row_pad=pad)
    assert out.page_table.shape == (max_tokens, width) and out.page_table.stride() == (width + pad, 1)
    whole = out.page_table.as_strided((max_tokens, width + pad), (width + pad, 1))
    req_to_token = torch.randint(0, 1 << 20, (pool_rows, width), generator=gen, dtype=torch.int32).to(DEV)
    rpi = torch.randperm(pool_rows, generator=gen)[:bs]
    poison(out)
    whole.fill_(POISON)
    am.draft_extend(seq.to(DEV), D, topk=TOPK, out=out, page_size=page_size, req_pool_indices=rpi.to(DEV),
                    req_to_token=req_to_token)
    constant = torch.full((bs,), D)
    check(out, reference(seq, constant, 0, TOPK, 1, max_tokens))
    check_pages(out, seq, constant, 0, rpi, req_to_token, page_size, max_tokens)
    assert bool((whole[:, width:] == POISON).all()), "a pad column was written"
    with pytest.raises(ValueError, match="page_table_row_pad"):
        am.allocate_metadata(bs, max_tokens, width, page_size, page_table_row_pad=-1)


# ------------------------------------------------------------------------------------------------
# CUDA graphs: captured once, replayed with new lengths in the same static tensors.


@pytest.mark.parametrize("mode,algorithm,own_workspace,enable_pdl", [("draft_extend", "automatic", True, False),
                                                                     ("extend", "device_scan", False, False),
                                                                     ("draft_extend", "single_launch", True, True),
                                                                     ("extend", "device_scan", True, True)])
def test_cuda_graph_replay(mode, algorithm, own_workspace, enable_pdl):
    gen = generator("graph", mode)
    bs, width, page_size, topk, pool_rows = 16, 1024, 64, 128, 40
    max_tokens = bs * D if mode == "draft_extend" else 600
    static_seq = torch.zeros(bs, dtype=torch.int64, device=DEV)
    static_lens = torch.zeros(bs, dtype=torch.int32, device=DEV)
    static_rpi = torch.zeros(bs, dtype=torch.int64, device=DEV)
    req_to_token = torch.randint(0, 1 << 20, (pool_rows, width), generator=gen, dtype=torch.int32).to(DEV)
    out = am.allocate_metadata(bs, max_tokens, width, page_size)
    status = torch.zeros(1, dtype=torch.int32, device=DEV)
    workspace = am.allocate_workspace(bs) if own_workspace else None  # else the module's cached one

    def new_batch():
        if mode == "draft_extend":
            q = torch.randint(1, D + 1, (bs,), generator=gen)
            seq = torch.randint(1, width + 1, (bs,), generator=gen)
        else:
            q = torch.randint(0, 33, (bs,), generator=gen)
            seq = q + torch.randint(0, width - 32, (bs,), generator=gen)
        rpi = torch.randperm(pool_rows, generator=gen)[:bs]
        static_seq.copy_(seq)
        static_lens.copy_(q)
        static_rpi.copy_(rpi)
        poison(out)
        status.zero_()
        return seq, q, rpi

    def step():
        getattr(am, mode)(static_seq, static_lens, topk=topk, out=out, req_pool_indices=static_rpi,
                          req_to_token=req_to_token, page_size=page_size, status=status, workspace=workspace,
                          algorithm=algorithm, enable_pdl=enable_pdl)

    def verify(seq, q, rpi):
        check(out, reference(seq, q, 0, topk, 1, max_tokens))
        check_pages(out, seq, q, 0, rpi, req_to_token, page_size, max_tokens)
        assert int(status) == expected_status(seq, q, 0, max_tokens, width)

    batch = new_batch()
    step()  # eager first: builds the extension, makes any cached workspace, and is checked too
    verify(*batch)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    for _ in range(3):
        batch = new_batch()
        graph.replay()
        verify(*batch)


# ------------------------------------------------------------------------------------------------
# Conveniences and argument errors.


def test_eager_conveniences():
    gen = generator("convenience")
    seq, q, _ = random_batch("draft_extend", gen, 9, 500)
    req_to_token = torch.randint(0, 1 << 20, (12, 512), generator=gen, dtype=torch.int32).to(DEV)
    rpi = torch.randperm(12, generator=gen)[:9]
    out = am.draft_extend_metadata(seq.to(DEV), D, topk=64, req_pool_indices=rpi.to(DEV), req_to_token=req_to_token,
                                   page_size=64)
    assert out.page_table.shape == (9 * D, 512) and out.block_table.shape == (9 * D, 8)
    constant = torch.full((9,), D)
    check(out, reference(seq, constant, 0, 64, 1, 9 * D))
    check_pages(out, seq, constant, 0, rpi, req_to_token, 64, 9 * D)

    out = am.extend_metadata(seq.to(DEV), q.to(DEV), topk=64, max_tokens=50)
    check(out, reference(seq, q, 0, 64, 1, 50))
    out = am.target_verify_metadata(seq.to(DEV), 3, topk=64, which=["seqlens_expanded", "cu_seqlens_q"])
    assert set(out.tensors()) == {"seqlens_expanded", "cu_seqlens_q"}
    check(out, reference(seq, torch.full((9,), 3), 3, 64, 1, 27))


def test_status_bits_match_the_library():
    bits = am.load().status_bits
    assert (bits["negative_length"], bits["tokens_over_capacity"], bits["kv_over_width"], bits["bad_req_pool_index"],
            bits["int32_overflow"], bits["query_longer_than_kv"], bits["error_mask"]) == (
        am.STATUS_NEGATIVE_LENGTH, am.STATUS_TOKENS_OVER_CAPACITY, am.STATUS_KV_OVER_WIDTH,
        am.STATUS_BAD_REQ_POOL_INDEX, am.STATUS_INT32_OVERFLOW, am.STATUS_QUERY_LONGER_THAN_KV,
        am.STATUS_ERROR_MASK)


def _with(out, **changes):
    return dataclasses.replace(out, **changes)


def _i32(*shape):
    return torch.zeros(shape, dtype=torch.int32, device=DEV)


# name: (call on good seq_lens s, extend_lens l and outputs o (max_tokens 8), error, text it names)
BAD_CALLS = {
    "float seq_lens": (lambda s, l, o: am.draft_extend(s.float(), l, topk=8, out=o), TypeError, "seq_lens"),
    "seq_lens on the CPU": (lambda s, l, o: am.draft_extend(s.cpu(), l, topk=8, out=o), ValueError, "seq_lens"),
    "2-D seq_lens": (lambda s, l, o: am.draft_extend(s[None], l, topk=8, out=o), ValueError, "seq_lens"),
    "short extend_lens": (lambda s, l, o: am.draft_extend(s, l[:2], topk=8, out=o), ValueError, "extend_lens"),
    "topk 0": (lambda s, l, o: am.draft_extend(s, l, topk=0, out=o), ValueError, "topk"),
    "negative topk": (lambda s, l, o: am.decode(s, topk=-1, out=o), ValueError, "topk"),
    "int64 output": (lambda s, l, o: am.draft_extend(s, l, topk=8, out=_with(o, key_end=o.key_end.long())),
                     TypeError, "key_end"),
    "strided output": (lambda s, l, o: am.draft_extend(s, l, topk=8, out=_with(o, key_end=_i32(8, 2)[:, 0])),
                       ValueError, "key_end"),
    "rows disagree": (lambda s, l, o: am.draft_extend(s, l, topk=8, out=_with(o, key_start=o.key_start[:7])),
                      ValueError, "max_tokens"),
    "short cu_seqlens_q": (lambda s, l, o: am.extend(s, l, topk=8, out=_with(o, cu_seqlens_q=o.cu_seqlens_q[:3])),
                           ValueError, "cu_seqlens_q"),
    "page_table without req_to_token": (lambda s, l, o: am.extend(s, l, topk=8, out=_with(o, page_table=_i32(8, 16))),
                                        ValueError, "req_to_token"),
    "narrow req_to_token": (lambda s, l, o: am.extend(s, l, topk=8, out=_with(o, page_table=_i32(8, 16)),
                                                      req_pool_indices=l, req_to_token=_i32(4, 15)),
                            ValueError, "req_to_token"),
    "status of 2 elements": (lambda s, l, o: am.extend(s, l, topk=8, out=o, status=_i32(2)), ValueError, "status"),
    "small workspace": (lambda s, l, o: am.extend(s, l, topk=8, out=o,
                                                  workspace=torch.empty(16, dtype=torch.uint8, device=DEV)),
                        ValueError, "workspace"),
    "unknown algorithm": (lambda s, l, o: am.extend(s, l, topk=8, out=o, algorithm="fast"), ValueError, "algorithm"),
    "no max_tokens for tensor lengths": (lambda s, l, o: am.draft_extend_metadata(s, l, topk=8), ValueError,
                                         "max_tokens"),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_bad_arguments_raise_naming_the_argument(name):
    fn, error, names = BAD_CALLS[name]
    seq = torch.tensor([5, 9, 2], dtype=torch.int32, device=DEV)
    lens = torch.tensor([1, 2, 3], dtype=torch.int32, device=DEV)
    with pytest.raises(error, match=names):
        fn(seq, lens, am.allocate_metadata(3, 8))
