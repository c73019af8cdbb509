#!/usr/bin/env bash
# pytest with one venv's interpreter. "No tests collected" (exit 5) is a failure here: a test
# folder that silently collects nothing would otherwise pass CI.
set -uo pipefail
cd "$(dirname "$0")/.."
python="$1"; shift
"$python" -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "ERROR: pytest collected no tests in: $*" >&2
  exit 1
fi
exit "$rc"
