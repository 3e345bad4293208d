#!/usr/bin/env python3
"""Mutation testing: do the tests fail when the library's code is wrong?

Every one-operator mutant of the headers (`<` for `<=`, `==` for `!=`, `+` for `-`, `*` for `/`,
`|=` for `&=`, and the other way round; a `+ 1` or `- 1` dropped) is compiled into ONE test binary,
each behind a run-time switch (mutant schemata): the site `a OP b` becomes
`a OP attnmeta_mutant::S{id} OP b`, which has OP's precedence and computes `a OP b`, or the mutated
operator where the environment's ATTNMETA_MUTANT equals id (a device copy of the id is set from
the test's main). One build, then one run of the tests per mutant. `&&` and `||` are left alone (a
proxy would evaluate both sides), and sites the compiler rejects (constant expressions: template
arguments, static_assert, constexpr variables) are dropped, until the tests build.

  python3 scripts/mutants.py host [--files request.hpp,...]   # host tests, any machine (a minute or two a header)
  python3 scripts/mutants.py gpu  [--files detail/page_copy.cuh,...] [--divisor 8] [--jobs 2]
                                                               # GPU tests (built here, run where a GPU is)
  python3 scripts/mutants.py gpu --build-only                  # build here; then, on the GPU machine, with
  python3 scripts/mutants.py gpu --run-only [--binary PATH]   # build/mutants/gpu/build.json and the binary
                                                               # (--files: only those headers' mutants;
                                                               # --lines 880-1342,1400: only those lines' sites;
                                                               # --ids 12-40,55: only those of build.json)
                                                               # (--deadline S stops it; a second --run-only
                                                               # in the same --work runs the mutants left)
                                                               # (--caught-by a host sweep's results.json:
                                                               # the shared headers' mutants its tests
                                                               # killed are not run again on the GPU)

The GPU runs take the tests without [big] and [stress], ATTNMETA_TEST_DIVISOR=8 (--divisor), and
stop at a mutant's first failure, in two stages: the suite without the two constant-q page-table
tests first, then those two for the mutants it left alive (with no mutant on, the two stages took
22.7 s on an H200). Runs that share one GPU take turns on it: two at a time (the default for
`gpu`) decided 25 surviving mutants in 378 s on an H100, where fourteen at a time each ran past ten
times the suite's own 17 s. A mutant whose stage
runs past --timeout beside the others is run again alone once the others are done, and only a run
past three times the suite's own time (at least 30 s) counts as a hang, "killed (hang)" (at 60-80 s
with 14 runs on one GPU, 72 of 109 mutants timed out, an equivalent one among them). 163 mutants
(page_copy.cuh and short_pages.cuh) took 340 s with --timeout 100, and the whole sweep (about 955
mutants) asks for several calls of ten minutes (--files takes a part; --deadline stops starting
runs, and one run alone may still follow it).

A survivor (the tests pass with the mutant on) is a test gap or an equivalent mutant (one that
changes nothing observable, for example `x <= k ? x : k`); the report lists each one's line.
Work goes to build/mutants/<kind>/ (tree: the mutated sources; report.txt; results.json; and
progress.jsonl, each outcome as it comes, which a later --run-only reads too: a run killed from
outside, before its report, loses only the mutants it was running).
"""
import argparse, json, os, queue, re, subprocess, sys, threading, time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_FILES = ["config.hpp", "clamp.hpp", "request.hpp", "lookup.hpp", "host.hpp", "batch.hpp", "workspace.hpp",
              "detail/validate.hpp"]
# The kernels' own headers, the launchers' host-side sizes and device facts, then the shared ones.
GPU_FILES = ["detail/kernels.cuh", "detail/page_copy.cuh", "detail/short_pages.cuh", "detail/short_batch.cuh",
             "detail/lane_batch.cuh", "detail/cluster_batch.cuh", "detail/launch.cuh", "block_offsets.cuh",
             "device_offsets.cuh", "metadata.cuh", "workspace.hpp", "detail/device_info.hpp", "lookup.hpp",
             "request.hpp", "clamp.hpp", "config.hpp", "batch.hpp", "detail/validate.hpp"]
# (text, proxy, operator, mutated operator); longer operators first so " <= " is not read as " < ".
OPS = [(" <= ", "le_lt", "<=", "<"), (" >= ", "ge_gt", ">=", ">"), (" < ", "lt_le", "<", "<="),
       (" > ", "gt_ge", ">", ">="), (" == ", "eq_ne", "==", "!="), (" != ", "ne_eq", "!=", "=="),
       (" + ", "add_sub", "+", "-"), (" - ", "sub_add", "-", "+"), (" * ", "mul_div", "*", "/"),
       (" |= ", "or_and", "|=", "&=")]

HEADER = r'''// Written by scripts/mutants.py: the run-time switches of a mutant-schemata build.
#pragma once
#include <cstdlib>
#include <vector>
#ifdef __CUDACC__
#include <cuda_runtime.h>
#define ATTNMETA_MUTANT_HD __host__ __device__
#else
#define ATTNMETA_MUTANT_HD
#endif
namespace attnmeta_mutant {
inline int host_id = [] { const char* s = std::getenv("ATTNMETA_MUTANT"); return s ? std::atoi(s) : -1; }();
#ifdef __CUDACC__
static __device__ int device_id = -1;  // one a translation unit; apply() sets every one
inline std::vector<void (*)()>& setters() { static std::vector<void (*)()> v; return v; }
static void set_device_id() { cudaMemcpyToSymbol(device_id, &host_id, sizeof(int)); }
static const bool registered = (setters().push_back(&set_device_id), true);
inline void apply() { for (auto f : setters()) f(); cudaDeviceSynchronize(); }
#endif
ATTNMETA_MUTANT_HD inline bool on(int id) {
#ifdef __CUDA_ARCH__
  return device_id == id;
#else
  return host_id == id;
#endif
}
template <class T> ATTNMETA_MUTANT_HD inline T one(int id, T a, T b) { return on(id) ? b : a; }
#define ATTNMETA_MUTANT_OP(NAME, OP, MOP)                                                              \
  struct NAME { int id; };                                                                             \
  template <class A> struct NAME##_h { A a; int id; };                                                 \
  template <class A> ATTNMETA_MUTANT_HD inline NAME##_h<A> operator OP(A a, NAME p) { return {a, p.id}; } \
  template <class A, class B>                                                                          \
  ATTNMETA_MUTANT_HD inline auto operator OP(NAME##_h<A> h, B b) -> decltype(h.a OP b) {               \
    return on(h.id) ? (h.a MOP b) : (h.a OP b);                                                        \
  }
ATTNMETA_MUTANT_OP(le_lt, <=, <)
ATTNMETA_MUTANT_OP(ge_gt, >=, >)
ATTNMETA_MUTANT_OP(lt_le, <, <=)
ATTNMETA_MUTANT_OP(gt_ge, >, >=)
ATTNMETA_MUTANT_OP(eq_ne, ==, !=)
ATTNMETA_MUTANT_OP(ne_eq, !=, ==)
ATTNMETA_MUTANT_OP(add_sub, +, -)
ATTNMETA_MUTANT_OP(sub_add, -, +)
ATTNMETA_MUTANT_OP(mul_div, *, /)
// x |= or_and{id} |= y: assignment is right-associative, so the proxy takes y first.
struct or_and { int id; };
template <class B> struct or_and_h { B b; int id; };
template <class B> ATTNMETA_MUTANT_HD inline or_and_h<B> operator|=(or_and p, B b) { return {b, p.id}; }
template <class A, class B> ATTNMETA_MUTANT_HD inline A& operator|=(A& a, or_and_h<B> h) {
  if (on(h.id)) a &= h.b; else a |= h.b;
  return a;
}
}  // namespace attnmeta_mutant
'''


def code_end(line):
    """Where the code of a line ends (0 for comments and preprocessor lines)."""
    s = line.strip()
    if s.startswith(("//", "#", "*", "/*")):
        return 0
    i = line.find("//")
    return len(line) if i < 0 else i


def sites(files):
    """Every mutation site: dicts with id, file, line (1-based), col, op, kind, text."""
    out = []
    for f in files:
        for ln, line in enumerate(open(os.path.join(ROOT, "include/attnmeta", f)).read().split("\n")):
            if "__builtin_assume(" in line:
                continue  # a hint to the optimiser: a mutated one is undefined behaviour, not a fault a test must see
            end, taken = code_end(line), set()
            for text, proxy, op, mop in OPS:
                for m in re.finditer(re.escape(text), line[:end]):
                    span = range(m.start(), m.end())
                    if any(p in taken for p in span) or line[:m.start()].count('"') % 2:
                        continue  # part of a longer operator, or inside a string
                    taken.update(span)
                    out.append(dict(id=len(out), file=f, line=ln + 1, col=m.start(), op=op, mutated=mop,
                                    proxy=proxy, kind="op", text=line.strip()))
                    one = re.match(r"1([uUlL]*)(?![\w.])", line[m.end():]) if op in "+-" else None
                    if one:
                        out.append(dict(id=len(out), file=f, line=ln + 1, col=m.end(), op=f"{op} 1",
                                        mutated=f"{op} 0", suffix=one.group(1), kind="one", text=line.strip()))
    return out


def write_tree(tree, muts, dropped, kind):
    """The sources with every live site switched (files rewritten only where they change, so that a
    rebuild compiles only what a newly dropped site touches)."""
    files = {}
    for d in ["include", "tests", "cmake"]:
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            for n in names:
                rel = os.path.relpath(os.path.join(base, n), ROOT)
                files[rel] = open(os.path.join(ROOT, rel), "rb").read().decode("utf-8", "surrogateescape")
    files["CMakeLists.txt"] = open(os.path.join(ROOT, "CMakeLists.txt")).read()
    files["bench/CMakeLists.txt"] = files["examples/CMakeLists.txt"] = ""  # not needed here
    files["include/attnmeta_mutant.hpp"] = HEADER
    by_line = defaultdict(list)
    for m in muts:
        if m["id"] not in dropped:
            by_line[(m["file"], m["line"])].append(m)
    for f in sorted({m["file"] for m in muts}):
        lines = files["include/attnmeta/" + f].split("\n")
        for (ff, ln), ms in by_line.items():
            if ff != f:
                continue
            line, edits = lines[ln - 1], []
            for m in ms:
                if m["kind"] == "op":
                    n = len(m["op"]) + 2
                    edits.append((m["col"], m["col"] + n, f' {m["op"]} attnmeta_mutant::{m["proxy"]}{{{m["id"]}}} {m["op"]} '))
                else:
                    s = m["suffix"]
                    edits.append((m["col"], m["col"] + 1 + len(s), f'attnmeta_mutant::one({m["id"]}, 1{s}, 0{s})'))
            out, pos = [], 0
            for a, b, r in sorted(edits):
                out += [line[pos:a], r]
                pos = b
            lines[ln - 1] = "".join(out) + line[pos:]
        pragma = next(i for i, l in enumerate(lines) if l.startswith("#pragma once"))
        lines.insert(pragma + 1, "#include <attnmeta_mutant.hpp>")
        for m in muts:
            if m["file"] == f:
                m["tline"] = m["line"] + (1 if m["line"] > pragma + 1 else 0)
        files["include/attnmeta/" + f] = "\n".join(lines)
    if kind == "gpu":  # the test main sets the device copies of the id
        def edit(rel, old, new):
            if old not in files[rel]:
                sys.exit(f"mutants.py: {rel} no longer holds {old!r}; update write_tree()")
            files[rel] = files[rel].replace(old, new, 1)
        edit("tests/gpu_main.cpp", "int main(int argc, char** argv) {", "void attnmeta_mutant_apply();\nint main(int argc, char** argv) {")
        edit("tests/gpu_main.cpp", "  return Catch::Session().run", "  attnmeta_mutant_apply();\n  return Catch::Session().run")
        edit("tests/CMakeLists.txt", "add_library(attnmeta_gpu_test_cases OBJECT gpu_main.cpp",
             "add_library(attnmeta_gpu_test_cases OBJECT gpu_main.cpp mutant_apply.cu")
        files["tests/mutant_apply.cu"] = "#include <attnmeta_mutant.hpp>\nvoid attnmeta_mutant_apply() { attnmeta_mutant::apply(); }\n"
    for rel, text in files.items():
        path = os.path.join(tree, rel)
        data = text.encode("utf-8", "surrogateescape")
        if os.path.exists(path) and open(path, "rb").read() == data:
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").write(data)


def rejected(log, muts, dropped):
    """The live sites on the lines a compiler log rejects (GCC/Clang and nvcc formats)."""
    live = [m for m in muts if m["id"] not in dropped]
    def at(path, line, slack=0):
        rel = os.path.normpath(path).split("include/attnmeta/", 1)[-1]
        return {m["id"] for m in live if m["file"] == rel and line <= m["tline"] <= line + slack}
    bad = set()
    for m in re.finditer(r"^(\S+?):(\d+):\d+: error", log, re.M):  # GCC, Clang
        bad |= at(m.group(1), int(m.group(2)))
    for m in re.finditer(r"^(\S+?)\((\d+)\): (error|note)", log, re.M):  # nvcc: a statement may span lines
        bad |= at(m.group(1), int(m.group(2))) or (at(m.group(1), int(m.group(2)), slack=3) if m.group(3) == "error" else set())
    if not bad:  # reported inside a template: the first mutated line it was instantiated from
        for m in re.finditer(r"at line (\d+) of (\S+)|^(\S+?):(\d+):\d+:\s+required from", log, re.M):
            bad = at(m.group(2) or m.group(3), int(m.group(1) or m.group(4)))
            if bad:
                break
    return bad


def compile_until_accepted(cmd, muts, dropped, write, env):
    """Runs cmd after write() until it succeeds, dropping the sites its errors name each time."""
    for _ in range(80):
        write()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode == 0:
            return
        bad = rejected(r.stdout + r.stderr, muts, dropped)
        if not bad:
            sys.exit("mutants.py: the build failed on a line with no mutant:\n" + (r.stdout + r.stderr)[-4000:])
        dropped |= bad
        print(f"  dropped {len(bad)} site(s) the compiler rejects ({len(dropped)} in all)", flush=True)
    sys.exit("mutants.py: too many rebuilds")


def build(tree, build_dir, target, muts, dropped, kind, cuda_archs):
    """Generates and builds until the compiler accepts every live site; returns the binary."""
    env = dict(os.environ, PATH="/usr/local/cuda/bin:" + os.environ.get("PATH", ""))
    write = lambda: write_tree(tree, muts, dropped, kind)
    if kind == "gpu":  # one launcher file to PTX first: most rejections, in seconds each
        compile_until_accepted(["nvcc", "-std=c++17", "--expt-relaxed-constexpr", "-arch=sm_90", "-ptx", "-I" + tree + "/include",
                                "-o", os.devnull, os.path.join(tree, "tests/launch_i32_i32_i32.cu")], muts, dropped, write, env)
    write()
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        cfg = ["cmake", "-S", tree, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"]
        if kind == "gpu":
            cfg.append(f"-DCMAKE_CUDA_ARCHITECTURES={cuda_archs}")
        subprocess.run(cfg, check=True, env=env, stdout=subprocess.DEVNULL)
    compile_until_accepted(["cmake", "--build", build_dir, "-j", str(os.cpu_count()), "--target", target],
                           muts, dropped, write, env)
    return os.path.join(build_dir, "tests", target)


def run_all(binary, ids, args, kind, progress):
    """Runs the tests once per mutant, args.jobs at a time; returns {id: outcome}. Each outcome is
    appended to the file `progress` as it comes, so a run stopped from outside keeps what it ran."""
    # Stages run in turn, each stopping at its first failure; a mutant survives only if every stage
    # passes. A negated spec alone would take hidden tests in too, hence the explicit exclusions.
    stages = ([["-a", "~[big]~[stress]~constant-q*"], ["-a", "constant-q*"]] if kind == "gpu" else [["-a"]])
    env0 = dict(os.environ)
    if kind == "gpu":
        env0["ATTNMETA_TEST_DIVISOR"] = str(args.divisor)
    start = time.time()
    for extra in stages:
        base = subprocess.run([binary] + extra, env=dict(env0, ATTNMETA_MUTANT="-1"), capture_output=True, text=True)
        if base.returncode == 77:
            sys.exit("mutants.py: no CUDA device here; run the GPU tests' mutants where there is one (--run-only)")
        if base.returncode != 0:
            sys.exit("mutants.py: the tests fail with no mutant on (rc %d):\n%s" % (base.returncode, base.stdout[-3000:]))
    alone = time.time() - start  # every stage, no mutant on, nothing else running
    timeout = args.timeout or max(30.0, 10 * alone)  # past it, a shared-GPU run is set aside as "slow"
    alone_timeout = max(30.0, 3 * alone)  # past it, a run on its own counts as a hang
    print(f"the tests pass with no mutant on ({alone:.1f} s); {len(ids)} mutants, {args.jobs} at a time", flush=True)
    out, slow, lock, q = {}, [], threading.Lock(), queue.Queue()
    for i in ids:
        q.put(i)
    deadline = time.time() + args.deadline if args.deadline else None

    def run_stages(i, limit):
        """The stages for mutant i, each within `limit` seconds: "killed", "survived", "slow" (a stage
        ran past the limit) or "not run" (the deadline came first)."""
        for extra in stages:
            if deadline and time.time() > deadline:
                return "not run"  # a later --run-only starts it again from its first stage
            try:
                r = subprocess.run([binary] + extra, env=dict(env0, ATTNMETA_MUTANT=str(i)), timeout=limit,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if r.returncode != 0:
                    return "killed"
            except subprocess.TimeoutExpired:
                return "slow"
        return "survived"

    def record(i, res):
        with lock:
            out[i] = res
            if res != "not run":
                with open(progress, "a") as f:
                    f.write(json.dumps({"id": i, "outcome": res}) + "\n")

    def worker():
        while True:
            try:
                i = q.get_nowait()
            except queue.Empty:
                return
            res = run_stages(i, timeout)
            if res == "slow":  # runs sharing a GPU slow each other down: decided below, alone
                with lock:
                    slow.append(i)
            else:
                record(i, res)
    threads = [threading.Thread(target=worker) for _ in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A run past the timeout beside others is no proof of a hang (an equivalent mutant of a warp
    # scan's bound timed out at 60-80 s with 14 runs on one GPU, where the suite alone took 20 s): each
    # runs again on its own, and only a run past three times the suite's own time is a hang.
    if slow:
        print(f"{len(slow)} past the {timeout:.0f} s timeout beside others: each again alone, "
              f"{alone_timeout:.0f} s at most", flush=True)
    for i in slow:
        res = run_stages(i, alone_timeout)
        record(i, "killed (hang)" if res == "slow" else res)
    return out


def report(work, muts, dropped, results):
    by_file = defaultdict(Counter)
    for m in muts:
        by_file[m["file"]]["rejected" if m["id"] in dropped else results.get(m["id"], "not run")] += 1
    lines = [f"{f}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) for f, c in sorted(by_file.items())]
    total = Counter(results.values())
    lines.append("all: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + f", rejected by the compiler {len(dropped)}")
    lines.append("\nsurvivors (a test gap, or a mutant that changes nothing observable):")
    for m in sorted(muts, key=lambda m: (m["file"], m["line"], m["col"])):
        if results.get(m["id"]) == "survived":
            lines.append(f'  {m["file"]}:{m["line"]}  {m["op"]} -> {m["mutated"]}  | {m["text"][:100]}')
    text = "\n".join(lines)
    open(os.path.join(work, "report.txt"), "w").write(text + "\n")
    json.dump(dict(sites=muts, rejected=sorted(dropped), results={str(k): v for k, v in results.items()}),
              open(os.path.join(work, "results.json"), "w"), indent=0)
    print(text)


def int_range(text):
    """The integers of "LO-HI" (both included) or of "N"."""
    lo, _, hi = text.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["host", "gpu"])
    p.add_argument("--files", help="headers under include/attnmeta, comma-separated")
    p.add_argument("--work", help="work folder (default build/mutants/KIND)")
    p.add_argument("--jobs", type=int, default=0, help="runs at a time (default: the CPUs for host, 2 for gpu)")
    p.add_argument("--timeout", type=float, default=0, help="seconds a mutant's run of one stage may take beside the "
                   "others, past which it runs again alone (and counts as a hang past 3 times the run with no mutant "
                   "on, at least 30 s); default 10 times that run, at least 30")
    p.add_argument("--deadline", type=float, default=0, help="stop starting mutants after this many seconds")
    p.add_argument("--divisor", type=int, default=8, help="ATTNMETA_TEST_DIVISOR of the GPU runs")
    p.add_argument("--cuda-archs", default="90-real")
    p.add_argument("--build-only", action="store_true")
    p.add_argument("--run-only", action="store_true")
    p.add_argument("--binary", help="with --run-only: the binary built by --build-only")
    p.add_argument("--lines", help="with --files: build only the sites on these lines of the headers (LO-HI, "
                   "1-based, both included; comma-separated ranges): a part of a large header builds faster")
    p.add_argument("--ids", help="with --run-only: only these of the build's mutants (ids from its build.json, "
                   "comma-separated, ranges as 12-40)")
    p.add_argument("--caught-by", metavar="RESULTS", help="a host sweep's results.json: the mutants of the shared "
                   "headers that its tests killed count as killed here too (\"killed (host tests)\"), unrun")
    args = p.parse_args()
    if not args.jobs:
        args.jobs = os.cpu_count() if args.kind == "host" else 2
    work = os.path.abspath(args.work or os.path.join(ROOT, "build/mutants", args.kind))
    os.makedirs(work, exist_ok=True)
    target = "attnmeta_host_tests" if args.kind == "host" else "attnmeta_gpu_tests"
    state = os.path.join(work, "build.json")
    if args.run_only:
        st = json.load(open(state))
        muts, dropped, binary = st["sites"], set(st["rejected"]), args.binary or st["binary"]
    else:
        files = args.files.split(",") if args.files else (HOST_FILES if args.kind == "host" else GPU_FILES)
        muts, dropped = sites(files), set()
        if args.lines:
            lines = set().union(*(int_range(r) for r in args.lines.split(",")))
            muts = [m for m in muts if m["line"] in lines]
            for i, m in enumerate(muts):
                m["id"] = i
        print(f"{len(muts)} sites in {len(files)} header(s); building {target}", flush=True)
        binary = build(os.path.join(work, "tree"), os.path.join(work, "build"), target, muts, dropped, args.kind,
                       args.cuda_archs)
        json.dump(dict(sites=muts, rejected=sorted(dropped), binary=binary), open(state, "w"))
        print(f"built {binary}: {len(muts) - len(dropped)} live mutants", flush=True)
        if args.build_only:
            return
    part = set(args.files.split(",")) if args.run_only and args.files else None  # a part of the build's mutants
    chosen = None  # --ids: a part of the build's mutants by id
    if args.ids:
        chosen = set()
        for r in args.ids.split(","):
            chosen.update(int_range(r))
    ids = [m["id"] for m in muts if m["id"] not in dropped and (part is None or m["file"] in part)
           and (chosen is None or m["id"] in chosen)]
    done, progress = {}, os.path.join(work, "progress.jsonl")
    if args.run_only and os.path.exists(os.path.join(work, "results.json")):  # a sweep in parts: the rest
        done = {int(k): v for k, v in json.load(open(os.path.join(work, "results.json")))["results"].items() if v != "not run"}
    if args.run_only and os.path.exists(progress):  # and what a run stopped before its report got through
        for line in open(progress):
            if line.strip():
                r = json.loads(line)
                done[r["id"]] = r["outcome"]
    elif os.path.exists(progress):
        os.remove(progress)  # a new build: its ids are not the old ones
    if args.caught_by:  # the same site of the same source, killed by the host tests: a test catches it
        key = lambda m: (m["file"], m["line"], m["col"], m["op"], m["mutated"], m["text"])
        other = json.load(open(args.caught_by))
        caught = {key(m) for m in other["sites"] if other["results"].get(str(m["id"]), "").startswith("killed")}
        todo = set(ids) - set(done)
        done.update({m["id"]: "killed (host tests)" for m in muts if m["id"] in todo and key(m) in caught})
    ids = [i for i in ids if i not in done]
    results = dict(done)
    results.update(run_all(binary, ids, args, args.kind, progress))
    report(work, muts, dropped, results)


if __name__ == "__main__":
    main()
