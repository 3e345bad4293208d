#!/usr/bin/env python3
"""bench/targets.py counts the issues' targets as RESULTS.md states them.

Synthetic runs put cases on each target's edge (exactly at the bound, and just past it), and the
recorded H100 and H200 runs under bench/results/ must give the counts RESULTS.md reports for them.
Standard library only.
"""
import contextlib
import io
import os
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import targets  # noqa: E402


def counts(table):
    """{target name: (within, of)} from targets' rows."""
    out = {}
    for name, within, _, _ in table:
        n, _, m = within.partition(" of ")
        out[name] = (int(n), int(m)) if m else (0, 0)  # "no cases in this run"
    return out


def case(mode, bs, pages, kv="1024-32768", **times):
    r = dict(mode=mode, bs=bs, pages=pages, kv=kv, q="1", impl="attnmeta", floor_us=0.0, empty_eager_us=4.0,
             empty_graph_us=2.0, eager_us=4.0, graph_us=2.0)
    r.update(times)
    return r


class Synthetic(unittest.TestCase):
    def table(self, rows):
        return counts(targets.bench_rows(rows))

    def test_edges_of_the_latency_targets(self):
        rows = [case("decode", 1, False, eager_us=5.0, graph_us=2.5),          # 1.25x both: within
                case("decode", 8, False, eager_us=5.0001, graph_us=2.5001),    # just past both
                case("decode", 4096, False, eager_us=50.0, graph_us=50.0),     # past the graph-sized batches
                case("target_verify", 1, True, graph_us=2.6),                  # 1.3x: within
                case("target_verify", 8, True, graph_us=2.6001),
                case("extend", 8, False, kv="0-32768", graph_us=3.0),          # 1.5x: within
                case("extend", 64, False, kv="0-32768", graph_us=2.0, floor_us=1.9999)]  # the node bounds it
        got = self.table(rows)
        self.assertEqual(got["1-D, bs <= 1024, eager within 1.25x of an empty launch"], (1, 2))
        self.assertEqual(got["1-D, bs <= 1024, a graph of one call within 1.25x of an empty node"], (1, 2))
        self.assertEqual(got["page tables, bs 1-8: within 1.3x of max(floor, node)"], (1, 2))
        self.assertEqual(got["prefill: within 1.5x of max(floor, node)"], (2, 2))

    def test_the_launch_beside_the_case_is_the_floor_where_the_run_has_it(self):
        rows = [case("decode", 1, False, eager_us=6.0, empty_eager_us=4.0, empty_eager_pair_us=5.0),  # 1.2x of 5
                case("decode", 8, False, eager_us=6.0, empty_eager_us=4.0, empty_eager_pair_us=4.0)]  # 1.5x of 4
        got = self.table(rows)
        self.assertEqual(got["1-D, bs <= 1024, eager within 1.25x of an empty launch"], (1, 2))

    def test_edges_of_the_bandwidth_targets(self):
        rows = [case("decode", 32, True, floor_us=9.0, graph_us=10.0),        # 90%: within
                case("decode", 128, True, floor_us=8.999, graph_us=10.0),
                case("decode", 1024, True, kv="100000-131072", floor_us=9.5, graph_us=10.0),
                case("decode", 8, True, kv="100000-131072", floor_us=9.5, graph_us=10.0)]  # bs 1-8, not here
        got = self.table(rows)
        self.assertEqual(got["page tables, bs >= 32, kv 1K-32K: >= 90% of the floor"], (1, 2))
        self.assertEqual(got["page tables, bs >= 32, kv 100K-131K: >= 90% of the floor"], (1, 1))
        self.assertEqual(got["page tables, bs 1-8: within 1.3x of max(floor, node)"], (1, 1))

    def test_the_bare_copies(self):
        # Each copy judged by its own graph time against the same floor and node as attnmeta's.
        rows = [case("decode", 32, True, floor_us=9.0, graph_us=10.0001, layout_copy_us=10.0, padded_copy_us=10.0001,
                     packed_copy_us=9.0),                                  # the layout copy at 90%: within
                case("decode", 128, True, floor_us=9.0, graph_us=9.0, layout_copy_us=11.0, padded_copy_us=9.5,
                     packed_copy_us=9.5),
                case("decode", 1024, True, kv="100000-131072", floor_us=9.0, graph_us=20.0, layout_copy_us=20.0,
                     padded_copy_us=0.0, packed_copy_us=10.0),             # rows +256 not timed here
                case("decode", 1, True, graph_us=2.7, layout_copy_us=2.6, padded_copy_us=2.6001, packed_copy_us=1.0),
                case("decode", 1, False, graph_us=2.0)]                    # no page tables: not counted
        table, gaps = targets.copy_rows(rows)
        got = {name: cells for name, *cells in table}
        self.assertEqual(got["page tables, bs >= 32, kv 1K-32K: >= 90% of the floor"],
                         ["1 of 2", "1 of 2", "1 of 2", "2 of 2"])
        self.assertEqual(got["page tables, bs >= 32, kv 100K-131K: >= 90% of the floor"],
                         ["0 of 1", "0 of 1", "not timed", "1 of 1"])
        self.assertEqual(got["page tables, bs 1-8: within 1.3x of max(floor, node)"],
                         ["0 of 1", "1 of 1", "0 of 1", "1 of 1"])
        self.assertEqual(gaps, [("decode bs 32 1K-32K +pages", "90%", "90%"),
                                ("decode bs 1 1K-32K +pages", "1.35x", "1.30x")])
        self.assertEqual(targets.copy_rows([case("decode", 32, True, floor_us=9.0, graph_us=10.0)]), ([], []))

    def test_peers(self):
        def peer(case_label, bs, impl, graph_us, eager_us=30.0):
            r = dict(kind="case", case=case_label, bs=bs, impl=impl, graph_us=graph_us, eager_us=eager_us, status="ok")
            if not impl.startswith("attnmeta"):  # as peers.py's add_speedups: over attnmeta's 2.0 us
                r["speedup_best"] = (graph_us if graph_us is not None else eager_us) / 2.0
            return r
        rows = [dict(kind="reference_points"),
                peer("a", 1, "attnmeta", 2.0), peer("a", 1, "fused_triton", 3.0), peer("a", 1, "python", None, 300.0),
                peer("b", 32, "attnmeta", 2.0), peer("b", 32, "fused_triton", 2.0),     # a tie is not faster
                peer("c", 1024, "attnmeta", 2.0), peer("c", 1024, "fused_triton", 1.9),
                peer("d", 8, "attnmeta", 2.0), peer("d", 8, "seed_triton", None, 1.5),  # an eager peer that wins
                dict(peer("e", 8, "fused_triton", 1.0), status="mismatch: cu_seqlens_k")]  # not timed: not counted
        del rows[-1]["speedup_best"]  # peers.py writes none for a peer it did not time
        got = counts(targets.peers_rows(rows))
        self.assertEqual(got["peers: faster than every peer (the nearest peer's time over attnmeta's)"], (1, 4))
        self.assertEqual(got["peers: >= 1.5x faster than the fused-Triton model in graph replay, bs <= 32"], (1, 2))

    def test_graph_replay_needs_both_graphs(self):
        rows = [dict(kind="case", case="a", bs=8, impl="attnmeta", graph_us=None, eager_us=20.0, status="ok"),
                dict(kind="case", case="a", bs=8, impl="fused_triton", graph_us=40.0, eager_us=50.0, status="ok",
                     speedup_best=2.0),  # over attnmeta's eager time: not a graph replay
                dict(kind="case", case="b", bs=8, impl="attnmeta", graph_us=2.0, eager_us=20.0, status="ok"),
                dict(kind="case", case="b", bs=8, impl="fused_triton", graph_us=4.0, eager_us=50.0, status="ok",
                     speedup_best=2.0)]
        got = counts(targets.peers_rows(rows))
        self.assertEqual(got["peers: >= 1.5x faster than the fused-Triton model in graph replay, bs <= 32"], (1, 1))


class RecordedRuns(unittest.TestCase):
    """RESULTS.md's counts, from the raw data it cites."""

    def recorded(self, name):
        return counts(targets.bench_rows(targets.read_jsonl(os.path.join(ROOT, "bench", "results", name))))

    def test_h100_2026_12_05(self):
        got = self.recorded("bench_h100.jsonl")
        self.assertEqual(list(got.values()), [(25, 28), (0, 28), (1, 24), (1, 24), (3, 16), (2, 7)])

    def test_h200_2026_12_04(self):
        got = self.recorded("bench.jsonl")
        self.assertEqual(list(got.values()), [(24, 28), (0, 28), (1, 24), (2, 24), (0, 16), (2, 7)])

    def test_h100_2026_12_06_with_its_peers(self):
        results = os.path.join(ROOT, "bench", "results")
        got = self.recorded("bench_h100_2026-12-06.jsonl")
        self.assertEqual(list(got.values()), [(28, 28), (15, 28), (1, 24), (1, 24), (3, 16), (4, 7)])
        peers = counts(targets.peers_rows(targets.read_jsonl(os.path.join(results, "peers_h100_2026-12-06.jsonl"))))
        self.assertEqual(list(peers.values()), [(80, 86), (81, 86), (26, 42)])

    def test_h100_2026_12_06_second_run(self):
        got = self.recorded("bench_h100_2026-12-06b.jsonl")
        self.assertEqual(list(got.values()), [(19, 28), (0, 28), (1, 24), (1, 24), (3, 16), (2, 7)])

    def test_the_bare_copies_of_the_second_run(self):
        path = os.path.join(ROOT, "bench", "results", "bench_h100_2026-12-06b.jsonl")
        table, gaps = targets.copy_rows(targets.read_jsonl(path))
        self.assertEqual([cells for _, *cells in table],
                         [["1 of 24", "4 of 24", "5 of 24", "7 of 24"], ["1 of 24", "1 of 24", "3 of 24", "6 of 24"],
                          ["3 of 16", "3 of 16", "3 of 16", "3 of 16"]])
        self.assertEqual([c for c, _, _ in gaps], ["decode bs 128 1K-32K +pages", "draft_extend bs 128 1K-32K +pages",
                                                   "draft_extend_const bs 128 1K-32K +pages"])

    def test_h100_2026_12_06_third_run_of_the_peers(self):
        path = os.path.join(ROOT, "bench", "results", "peers_h100_2026-12-06b.jsonl")
        peers = counts(targets.peers_rows(targets.read_jsonl(path)))
        self.assertEqual(list(peers.values()), [(80, 86), (81, 86), (26, 42)])

    def test_the_command_line(self):
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            rc = targets.main([os.path.join(ROOT, "bench", "results", "bench_h100.jsonl")])
        self.assertEqual(rc, 0)
        self.assertIn("| 1-D, bs <= 1024, eager within 1.25x of an empty launch | 25 of 28 | **no** |", text.getvalue())
        self.assertIn("| page tables, bs >= 32, kv 1K-32K: >= 90% of the floor | 1 of 24 | 3 of 24 | not timed | 7 of 24 |",
                      text.getvalue())
        self.assertIn("Met by the layout copy, not by attnmeta: decode bs 128 1K-32K +pages (80% against 98%); ",
                      text.getvalue())


if __name__ == "__main__":
    unittest.main()
