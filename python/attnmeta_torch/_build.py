"""What building the extension takes: shared by the JIT build (__init__.py) and setup.py."""

import os
import re

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")

# The binding, and one launch translation unit per (seq_lens, extend_lens) integer type, so that a
# parallel build (ninja) compiles the kernels four at a time.
SOURCES = (
    "attnmeta_torch.cu",
    "launch_i32_i32.cu",
    "launch_i32_i64.cu",
    "launch_i64_i32.cu",
    "launch_i64_i64.cu",
)


def include_dir():
    """The attnmeta headers: $ATTNMETA_INCLUDE_DIR, else the repository's include/ folder."""
    path = os.environ.get("ATTNMETA_INCLUDE_DIR") or os.path.normpath(os.path.join(HERE, "..", "..", "include"))
    if not os.path.isfile(os.path.join(path, "attnmeta", "attnmeta.cuh")):
        raise ImportError(
            f"attnmeta_torch: the attnmeta headers are not in {path}; set ATTNMETA_INCLUDE_DIR to the "
            "folder that holds attnmeta/attnmeta.cuh"
        )
    return path


def cxx_standard():
    """-std=c++17 (what attnmeta needs), or c++20 where torch's own headers require it (torch >= 2.13).
    $ATTNMETA_TORCH_CXX_STD (e.g. c++20) overrides it."""
    if os.environ.get("ATTNMETA_TORCH_CXX_STD"):
        return "-std=" + os.environ["ATTNMETA_TORCH_CXX_STD"]
    major, minor = (int(re.match(r"\d+", part).group()) for part in torch.__version__.split(".")[:2])
    return "-std=c++20" if (major, minor) >= (2, 13) else "-std=c++17"


def nvcc_flags():
    return ["-O3", cxx_standard()]


def version(include):
    """The library's version, from `include`/attnmeta/config.hpp."""
    with open(os.path.join(include, "attnmeta", "config.hpp")) as f:
        text = f.read()
    parts = [re.search(rf"#define ATTNMETA_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)
