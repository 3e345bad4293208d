"""What building the extension takes: shared by the JIT build (__init__.py) and setup.py."""

import os
import re

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "csrc")

# The binding (host compiler: pybind11 and torch's headers stay out of nvcc), and one launch
# translation unit per (seq_lens, extend_lens) integer type, so that a parallel build (ninja)
# compiles the kernels four at a time.
SOURCES = (
    "attnmeta_torch.cpp",
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


def nvcc_flags():
    """-O3. The C++ standard is left to torch's build helpers, which pick the one torch itself was
    built with (attnmeta needs C++17 or later): forcing another one breaks the ABI of torch's types."""
    return ["-O3"]


def version(include):
    """The library's version, from `include`/attnmeta/config.hpp."""
    with open(os.path.join(include, "attnmeta", "config.hpp")) as f:
        text = f.read()
    parts = [re.search(rf"#define ATTNMETA_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)
