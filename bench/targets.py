#!/usr/bin/env python3
"""Issues 3 and 5's targets, counted from a run's JSON lines: how many cases meet each, and the worst.

    python3 bench/targets.py BENCH_JSONL [--peers PEERS_JSONL]

BENCH_JSONL is what `attnmeta_bench --json` writes, PEERS_JSONL what `bench/peers.py --out DIR`
writes (DIR/peers.jsonl). Every ratio is over floors measured in the same run, as the benchmark's
tables give them:

  1-D eager        steps without page tables of up to 1,024 requests (prefill aside): eager time
                   within 1.25x of max(bandwidth floor, an empty kernel's eager launch; the one timed
                   beside the case where the run has it, empty_eager_pair_us)
  1-D graph        the same steps as a graph of one call within 1.25x of max(floor, an empty graph node)
  pages, kv 1K-32K / 100K-131K   steps with page tables of 32 requests and more: at least 90% of the
                   bandwidth floor, as a graph of one call
  pages, bs 1-8    within 1.3x of max(floor, an empty graph node)
  prefill          within 1.5x of max(floor, an empty graph node)
  peers            each peer's best time (graph where captured) over attnmeta's, case by case, as
                   peers.py writes it (speedup_best):
                   faster than every peer (the eager Python path, the seed's Triton kernel, the
                   fused-Triton model); and at least 1.5x faster than the model in graph replay at
                   bs <= 32. The PDL pair (attnmeta_pdl against fused_triton_pdl) is counted apart.

Where the run timed the benchmark's bare copies of each page-table case (the layout copy: the same
page tables in the caller's layout, rows and columns worked out on the host; the rows +256 copy: that
with both tables' rows 256 columns further apart; the packed copy: the same bytes end to end), a
second table counts the three page-table targets over them as well: what a copy of the same bytes
meets on that GPU, its rows and columns known beforehand. The cases the layout copy meets and
attnmeta misses are named under it.

Prints markdown tables. Standard library only; no GPU needed.
"""
import argparse
import json
import sys


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def kv_lo(r):
    kv = r["kv"]
    return int(kv.split("-")[0]) if isinstance(kv, str) else int(kv[0])


def case_name(r):
    kv = "100K-131K" if kv_lo(r) >= 100000 else ("q<=" + r["q"].split("..")[-1] if r["mode"] == "extend" else "1K-32K")
    return f"{r['mode']} bs {r['bs']} {kv}{' +pages' if r['pages'] else ''}"


def tally(name, cases, value, met, worst, fmt, label=case_name):
    """A row: how many of `cases` meet `met(value(r))`, and the case furthest from it by `worst`
    (named by `label`)."""
    if not cases:
        return [name, "no cases in this run", "", ""]
    values = [(value(r), r) for r in cases]
    good = sum(1 for v, _ in values if met(v))
    v, r = worst(values, key=lambda x: x[0])
    return [name, f"{good} of {len(values)}", "yes" if good == len(values) else "**no**", f"{fmt(v)} ({label(r)})"]


def node(r):
    """max(the case's bandwidth floor, an empty graph node), in us."""
    return max(r["floor_us"], r["empty_graph_us"])


def x(v):
    return f"{v:.2f}x"


def pct(v):
    return f"{100 * v:.0f}%"


def page_targets(rows):
    """The three page-table targets: (name, cases, the value a case is judged by given its time,
    the test of that value, the worst of a list, its format)."""
    pages = [r for r in rows if r["pages"] and r["mode"] != "extend"]
    return [
        ("page tables, bs >= 32, kv 1K-32K: >= 90% of the floor", [r for r in pages if r["bs"] >= 32 and kv_lo(r) < 100000],
         lambda r, us: r["floor_us"] / us, lambda v: v >= 0.9, min, pct),
        ("page tables, bs >= 32, kv 100K-131K: >= 90% of the floor", [r for r in pages if r["bs"] >= 32 and kv_lo(r) >= 100000],
         lambda r, us: r["floor_us"] / us, lambda v: v >= 0.9, min, pct),
        ("page tables, bs 1-8: within 1.3x of max(floor, node)", [r for r in pages if r["bs"] <= 8],
         lambda r, us: us / node(r), lambda v: v <= 1.3, max, x),
    ]


def bench_rows(rows):
    rows = [r for r in rows if r.get("impl", "attnmeta") == "attnmeta"]
    one_d = [r for r in rows if not r["pages"] and r["mode"] != "extend" and r["bs"] <= 1024]
    prefill = [r for r in rows if r["mode"] == "extend"]
    launch = lambda r: r.get("empty_eager_pair_us", r["empty_eager_us"])  # noqa: E731
    return [
        tally("1-D, bs <= 1024, eager within 1.25x of an empty launch", one_d,
              lambda r: r["eager_us"] / max(r["floor_us"], launch(r)), lambda v: v <= 1.25, max, x),
        tally("1-D, bs <= 1024, a graph of one call within 1.25x of an empty node", one_d,
              lambda r: r["graph_us"] / node(r), lambda v: v <= 1.25, max, x),
    ] + [
        tally(name, cases, lambda r, value=value: value(r, r["graph_us"]), met, worst, fmt)
        for name, cases, value, met, worst, fmt in page_targets(rows)
    ] + [
        tally("prefill: within 1.5x of max(floor, node)", prefill,
              lambda r: r["graph_us"] / node(r), lambda v: v <= 1.5, max, x),
    ]


# The benchmark's bare copies of each page-table case, by their JSON field (0 or absent: not timed).
COPIES = (("layout copy", "layout_copy_us"), ("rows +256 copy", "padded_copy_us"), ("packed copy", "packed_copy_us"))


def copy_rows(rows):
    """The page-table targets over attnmeta's graph time and each bare copy's (a graph of one call
    too): [target, attnmeta's count, each copy's count or "not timed"], and the cases the layout
    copy meets and attnmeta misses, each as (case, attnmeta's value, the layout copy's). Empty
    when the run timed no copy."""
    rows = [r for r in rows if r.get("impl", "attnmeta") == "attnmeta"]
    if not any(r["pages"] and r.get(field, 0) > 0 for r in rows for _, field in COPIES):
        return [], []
    table, gaps = [], []
    for name, cases, value, met, _, fmt in page_targets(rows):
        line = [name]
        for field in ("graph_us",) + tuple(field for _, field in COPIES):
            timed = [r for r in cases if r.get(field, 0) > 0]
            line.append(f"{sum(met(value(r, r[field])) for r in timed)} of {len(cases)}" if len(timed) == len(cases)
                        else "not timed")
        table.append(line)
        gaps += [(case_name(r), fmt(value(r, r["graph_us"])), fmt(value(r, r["layout_copy_us"]))) for r in cases
                 if r.get("layout_copy_us", 0) > 0 and met(value(r, r["layout_copy_us"]))
                 and not met(value(r, r["graph_us"]))]
    return table, gaps


def peer_label(r):
    """A peers.py case by its own label, and the peer that came nearest where there are several."""
    return r["case"] + (f", {r['impl']}" if r["impl"] in ("python", "seed_triton") else "")


def peers_rows(rows):
    """The peers' targets from the speedups peers.py wrote (speedup_best: the peer's best time over
    attnmeta's, or over attnmeta_pdl's for a peer launched with PDL)."""
    rows = [r for r in rows if r.get("kind") == "case" and r.get("status") == "ok"]
    captured = {r["case"] for r in rows if r["impl"] == "attnmeta" and r.get("graph_us") is not None}
    rows = [r for r in rows if "speedup_best" in r]  # the peers' rows, where attnmeta ran too
    out = []
    for label, peers in (("faster than every peer", ("python", "seed_triton", "fused_triton")),
                         ("with PDL: faster than the model with PDL", ("fused_triton_pdl",))):
        nearest = {}  # case -> the peer nearest attnmeta
        for r in rows:
            if r["impl"] in peers and (r["case"] not in nearest or r["speedup_best"] < nearest[r["case"]]["speedup_best"]):
                nearest[r["case"]] = r
        out.append(tally(f"peers: {label} (the nearest peer's time over attnmeta's)", list(nearest.values()),
                         lambda r: r["speedup_best"], lambda v: v > 1.0, min, lambda v: f"{v:.2f}x", peer_label))
    model = [r for r in rows if r["impl"] == "fused_triton" and r["bs"] <= 32 and r.get("graph_us") is not None
             and r["case"] in captured]
    out.append(tally("peers: >= 1.5x faster than the fused-Triton model in graph replay, bs <= 32", model,
                     lambda r: r["speedup_best"], lambda v: v >= 1.5, min, lambda v: f"{v:.2f}x", peer_label))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bench_jsonl", help="attnmeta_bench --json's file")
    p.add_argument("--peers", help="bench/peers.py's peers.jsonl")
    args = p.parse_args(argv)
    bench = read_jsonl(args.bench_jsonl)
    table = bench_rows(bench)
    if args.peers:
        table += peers_rows(read_jsonl(args.peers))
    print("| target (issues 3 and 5) | cases within | met? | furthest case |")
    print("|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    copies, gaps = copy_rows(bench)
    if copies:
        print()
        print("| page-table target, over attnmeta and the bare copies of the same bytes | attnmeta | "
              + " | ".join(name for name, _ in COPIES) + " |")
        print("|---|---|" + "---|" * len(COPIES))
        for row in copies:
            print("| " + " | ".join(row) + " |")
        print()
        print("Met by the layout copy, not by attnmeta: "
              + ("; ".join(f"{c} ({a} against {b})" for c, a, b in gaps) if gaps else "none") + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
