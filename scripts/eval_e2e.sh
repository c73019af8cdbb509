#!/usr/bin/env bash
# The number the README reports: the dev file sent through a freshly started bot's REST webhook
# (Rasa NLU + actions + search), each line from a fresh sender id.
set -euo pipefail
cd "$(dirname "$0")/.."
FILE="${1:-../shared/eval/dev.jsonl}"
mkdir -p var/logs
# Evaluation traffic is not citizens' traffic: keep it out of `make report`, and in its own tracker store.
export DVC_RECORD_INTERACTIONS=0 RASA_TRACKER_DB="${TMPDIR:-/tmp}/eval-e2e-rasa-tracker-$$.sqlite3"
export REST_OUTBOX_DB=":memory:"
# 160 lines from 127.0.0.1 in a minute or two, each from a new sender id: not a citizen's pace.
export DVC_RATE_LIMITS="${DVC_RATE_LIMITS:-off}"
RASA_PORT="${EVAL_RASA_PORT:-5305}"; ACTIONS_PORT="${EVAL_ACTIONS_PORT:-5355}"
launcher=
trap 'kill $launcher 2>/dev/null; wait $launcher 2>/dev/null || true; rm -f "$RASA_TRACKER_DB"' EXIT
. scripts/start_bot.sh
start_bot var/logs/eval-e2e-launcher.log
.venv-actions/bin/python -m evaluation.evaluate --file "$FILE" --url "http://127.0.0.1:$RASA_PORT" "${@:2}"
