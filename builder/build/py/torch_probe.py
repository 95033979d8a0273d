"""Describe a torch environment for the local backend: torch and Python
versions, the C++ ABI of torch, and what compiling against it needs (header
and library directories). Prints one JSON object; kernel-builder
caches it per environment and passes the values to CMake, which then never
imports torch."""

import json
import os
import sys
import sysconfig

import torch
import torch.utils.cpp_extension as ext

print(
    json.dumps(
        {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "abi": bool(torch.compiled_with_cxx11_abi()),
            "include_dirs": list(ext.include_paths()),
            "lib_dir": os.path.join(os.path.dirname(torch.__file__), "lib"),
            "python_include_dir": sysconfig.get_path("include"),
        }
    )
)
