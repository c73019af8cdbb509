#!/usr/bin/env bash
# Rasa's own conversation tests (tests/conversations) against a real action server, failing on
# any prediction error. The action server runs on a side port so a dev `make run` can stay up.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${RASA_TEST_ACTIONS_PORT:-5155}"
.venv-actions/bin/python scripts/servers.py actions --actions-port "$PORT" &
launcher=$!
trap 'kill $launcher 2>/dev/null; wait $launcher 2>/dev/null || true' EXIT
for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && [ -f "var/endpoints-$PORT.yml" ]; then break; fi
  kill -0 $launcher 2>/dev/null || { echo "action server failed to start; see var/logs" >&2; exit 1; }
  sleep 1
done
.venv-rasa/bin/rasa test core --stories tests/conversations --model models/dvc.tar.gz \
  --endpoints "var/endpoints-$PORT.yml" --fail-on-prediction-errors --out results/core --quiet
echo "rasa test: all conversation stories passed"
