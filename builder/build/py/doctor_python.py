"""For `kernel-builder doctor`: the Python version, then the versions of
torch and kernels ("-" when not installed), one per line."""

import sys
from importlib import metadata

print("{}.{}.{}".format(*sys.version_info[:3]))
for dist in ("torch", "kernels"):
    try:
        print(metadata.version(dist))
    except metadata.PackageNotFoundError:
        print("-")
