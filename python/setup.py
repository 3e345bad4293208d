"""attnmeta_torch with its prebuilt extension, attnmeta_torch._C.

    pip install --no-build-isolation ./python     # from the repository root; torch must be installed

The extension is compiled for $TORCH_CUDA_ARCH_LIST (e.g. "9.0" for H100 only), else for the
visible GPUs, else for torch's default list. The attnmeta headers are read from ../include.
"""

import os
import runpy

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

here = os.path.dirname(os.path.abspath(__file__))
build = runpy.run_path(os.path.join(here, "attnmeta_torch", "_build.py"))
flags = build["nvcc_flags"]()  # -O3; torch picks the C++ standard

setup(
    name="attnmeta_torch",
    version=build["version"](os.path.join(here, "..", "include")),
    description="PyTorch binding of attnmeta: sync-free attention metadata for LLM inference on the GPU",
    packages=["attnmeta_torch"],
    ext_modules=[
        CUDAExtension(
            name="attnmeta_torch._C",
            sources=[os.path.relpath(os.path.join(build["CSRC"], s)) for s in build["SOURCES"]],
            include_dirs=[os.path.join(here, "..", "include")],
            extra_compile_args={"cxx": flags, "nvcc": flags},
        )
    ],
    cmdclass={"build_ext": BuildExtension},
    python_requires=">=3.9",
    zip_safe=False,
)
