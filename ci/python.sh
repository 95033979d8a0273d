#!/usr/bin/env bash
# The Python programs kernel-builder embeds (builder/*/py): linted with ruff
# and tested with pytest in the shared torch environment (ci/env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/env.sh
"$KB_PYTHON" -m pip install -q --disable-pip-version-check ruff pytest
"$KB_PYTHON" -m ruff check builder/checks/py builder/build/py
"$KB_PYTHON" -m pytest -q -p no:cacheprovider builder/checks/py/tests builder/build/py/tests
