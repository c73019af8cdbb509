#!/usr/bin/env bash
# Multi-turn conversations (eval/dialogues.yml + dialogues-tune2.yml, and the held-back eval/dialogues-holdout2.yml by default)
# through a freshly started bot's REST webhook; pass rates per category and every failing turn.
# Usage: scripts/eval_dialogue.sh [file.yml ...] [-- extra args for python -m dialogue.evaluate]
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do FILES+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#FILES[@]} -eq 0 ] && FILES=(eval/dialogues.yml eval/dialogues-tune2.yml eval/dialogues-holdout2.yml)
.venv-actions/bin/python -m dialogue.evaluate --check "${FILES[@]}" >/dev/null
mkdir -p var/logs
# Evaluation traffic is not citizens' traffic: no recording, its own tracker store and handoff database.
tmp="${TMPDIR:-/tmp}/eval-dialogue-$$"
mkdir -p "$tmp"
export DVC_RECORD_INTERACTIONS=0 RASA_TRACKER_DB="$tmp/rasa-tracker.sqlite3" REST_OUTBOX_DB=":memory:"
export HANDOFF_DATABASE_URL="sqlite:///$tmp/handoff.sqlite3"
RASA_PORT="${EVAL_RASA_PORT:-5505}"; ACTIONS_PORT="${EVAL_ACTIONS_PORT:-5555}"  # not the e2e ports (54xx)
launcher=
trap 'kill $launcher 2>/dev/null; wait $launcher 2>/dev/null || true; rm -rf "$tmp"' EXIT
. scripts/start_bot.sh
start_bot var/logs/eval-dialogue-launcher.log
.venv-actions/bin/python -m dialogue.evaluate --url "http://127.0.0.1:$RASA_PORT" "${FILES[@]}" "$@"
