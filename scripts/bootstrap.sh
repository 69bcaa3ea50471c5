#!/usr/bin/env bash
# Create the virtualenv and install provider (with its first-party plugins) into it.
# Works on a new Debian machine that has only python3: installs python3-venv if it is missing.
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
extras="${1:-}"

if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    echo "python3 -m venv failed; installing Debian's python3-venv" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else
      echo "error: need root (or sudo) to apt-get install python3-venv" >&2; exit 1; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  fi
fi

# Re-install only when the project description changed since the last install.
stamp="$VENV/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
