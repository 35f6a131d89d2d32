#!/usr/bin/env bash
# Install everything the tests need, then run them. pytest's "no tests collected" (exit 5) is a failure here.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet -r requirements.txt
python -m pip install --quiet --no-deps -e .
set +e
python -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
