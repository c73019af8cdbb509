#!/usr/bin/env bash
# Start the action server and the Rasa server on loopback (make run), or chat in the terminal
# (make shell). Ports: RASA_PORT (5005), ACTIONS_PORT (5055).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--shell" ]; then
  exec .venv-actions/bin/python scripts/servers.py shell
fi
exec .venv-actions/bin/python scripts/servers.py run
