# Sourced by the evaluation scripts (eval_e2e.sh, eval_dialogue.sh): start a fresh bot, without the
# console, on $RASA_PORT / $ACTIONS_PORT and wait until it is ready (at most 300 s). Sets $launcher;
# the caller's EXIT trap stops it. A launcher that dies prints its log and ends the script.
start_bot() {
  local log="$1"
  .venv-actions/bin/python scripts/servers.py run --no-console --rasa-port "$RASA_PORT" \
    --actions-port "$ACTIONS_PORT" > "$log" 2>&1 &
  launcher=$!
  for _ in $(seq 1 300); do
    grep -q "^ready in" "$log" 2>/dev/null && return 0
    kill -0 "$launcher" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 1
  done
}
