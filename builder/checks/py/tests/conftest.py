import sys
from pathlib import Path

# The scripts are plain files embedded by kernel-builder, not a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
