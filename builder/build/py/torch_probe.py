"""Describe a torch environment for the local backend: torch and Python
versions and the C++ ABI of torch. Prints one JSON object."""

import json
import sys

import torch

print(
    json.dumps(
        {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "abi": bool(torch.compiled_with_cxx11_abi()),
        }
    )
)
