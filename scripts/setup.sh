#!/usr/bin/env bash
# Set up everything the project needs, idempotently; a second run does (almost) nothing.
#
#   * .venv-rasa    -> Python 3.10 venv with rasa==3.6.21 + underthesea (requirements/rasa.lock)
#   * .venv-actions -> Python 3.11 venv with rasa-sdk + torch CPU + sentence-transformers + faiss
#                      (requirements/actions.lock)
#   * .venv-load    -> Python 3.11 venv with Locust + kubernetes-validate + jsonschema (requirements/load.lock)
#   * the embedding model, verified by SHA-256 (scripts/provision_model.py)
#
# The venvs and the model live in a cache outside the clone ($XDG_CACHE_HOME or ~/.cache,
# folder tro-ly-dvc), keyed by the hash of their lock file, and the clone gets symlinks to them:
# a fresh clone (CI) reuses them instead of downloading 2 GB again.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tro-ly-dvc"
mkdir -p "$CACHE/venvs"
# One set-up at a time per cache (a CI clone and a developer's checkout share it).
exec 9>"$CACHE/setup.lock"
flock 9

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# find_python 3.10 -> path of a python3.10 interpreter (PATH first, then pyenv), or nothing.
find_python() {
  local version="$1" candidate root
  for candidate in "python$version" "python3"; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$version' else 1)" 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  for candidate in "$root"/versions/"$version".*/bin/python"$version"; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

# make_venv NAME PYTHON LOCKFILE [extra pip args...]
make_venv() {
  local name="$1" python="$2" lock="$3"; shift 3
  local hash target
  hash="$( (cat "$lock"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)"
  target="$CACHE/venvs/$name-$hash"
  if [ ! -f "$target/.complete" ]; then
    say "creating $name venv in $target (first time: several minutes)"
    rm -rf "$target"
    # venvs are not relocatable, so it is built in place; .complete marks a finished one.
    "$python" -m venv "$target"
    "$target/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip<25" "wheel==0.42.0"
    "$target/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$lock" "$@" ||
      die "installing $lock into $target failed (see above)"
    "$target/bin/python" -m pip check || die "$name venv has broken dependencies (see above)"
    touch "$target/.complete"
  else
    say "$name venv up to date ($target)"
  fi
  ln -sfn "$target" ".venv-$name"
}

PY310="$(find_python 3.10)" || die "Python 3.10 is required for Rasa 3.6 and was not found.
Install it, e.g. 'pyenv install 3.10.13' (or apt/deadsnakes 'python3.10 python3.10-venv'), then run again."
PY311="$(find_python 3.11)" || die "Python 3.11 is required for the action server and was not found.
Install it, e.g. 'pyenv install 3.11.7', then run again."

make_venv rasa "$PY310" requirements/rasa.lock
make_venv actions "$PY311" requirements/actions.lock
# Locust (make load) and the offline validators of deploy/ (make lint): small, kept apart from the bot.
make_venv load "$PY311" requirements/load.lock

# Debian's headless Chromium (browser tests of the web widget and the agent console) and nginx
# (the shipped reverse-proxy config is tested for real: deploy/nginx). Installed only where we are
# root and they are missing; elsewhere those tests fail or skip with a message saying what to install.
missing_debs=()
[ -x /usr/bin/chromium ] || missing_debs+=(chromium fonts-noto-color-emoji)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing_debs+=(nginx)
if [ "${#missing_debs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's ${missing_debs[*]} for the browser and proxy tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debs[@]}" >/dev/null
  else
    printf '\033[1;33m[setup] WARNING: missing %s: browser/proxy tests will fail or skip (apt-get install them).\033[0m\n' "${missing_debs[*]}" >&2
  fi
fi

if [ "${DVC_EMBEDDING_MODEL:-default}" = "default" ] || [ -z "${DVC_EMBEDDING_MODEL:-}" ]; then
  if ! "$PY311" scripts/provision_model.py; then
    printf '\033[1;33m[setup] WARNING: embedding model unavailable: the bot will answer with LEXICAL SEARCH ONLY.\033[0m\n' >&2
  fi
else
  say "DVC_EMBEDDING_MODEL=$DVC_EMBEDDING_MODEL: not provisioning the default model"
fi
mkdir -p var models
say "done"
